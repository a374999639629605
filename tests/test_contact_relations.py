"""Contact relations on painted images (issue #23): support, containment, wearing, riding, attachment.

Each relation goes the whole way: the prompt is read into its `Relation` kind, the sandbox draws it, the
world's truth grades it (`world.grade_truth`) and the pixel-only checker judges it by the same box rule
(`geometry.relation_holds_boxes`). A picture that ignores the relation (the objects drawn free, as a
painter that dropped it does) must fail both. "facing" has no drawable geometry: named, never passed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from limner.reading import parse_prompt
from limner.tools.sandbox import world
from limner.tools.sandbox.checker import check_image, unjudged_parts
from limner.tools.sandbox.render import render_scene
from limner.types import RELATION_KINDS, Scene, relation_kind

#: prompt -> (relation kind, predicate the reader gives). "filled with" names the container first and is
#: read as the contents `in` it.
CASES = {
    "a cat sitting on a chair": ("support", "on"),
    "an apple in a bowl": ("containment", "in"),
    "a bowl filled with apples": ("containment", "in"),
    "a man wearing a hat": ("wearing", "wearing"),
    # the toilet lies on the elephant's silhouette: found only as an object drawn in front of it
    # (`detect.Detector._drawn_in_front`), not as a part of the elephant
    "an elephant wearing a toilet": ("wearing", "wearing"),
    "a man riding a horse": ("riding", "riding"),
    "a girl holding an umbrella": ("attachment", "holding"),
}


def _relation_verdicts(scene: Scene, seed: int) -> tuple[bool, bool, list[str]]:
    """(truth passed, checker passed, checker's unsupported) of the scene's one relation drawn at `seed`."""
    image, truth = render_scene(scene, seed=seed)
    rid = scene.relations[0].id
    truth_ok = [c.passed for c in world.grade_truth(scene, truth) if c.target == rid]
    verdict = check_image(image, scene, ocr=False)
    said = [c.passed for c in verdict.checks if c.target == rid]
    assert len(truth_ok) == 1 and len(said) == 1, "the relation must be graded by the truth and judged"
    return truth_ok[0], said[0], verdict.unsupported


@pytest.mark.parametrize("prompt", sorted(CASES))
def test_contact_relation_is_read_drawn_graded_and_judged(prompt: str) -> None:
    kind, predicate = CASES[prompt]
    scene = parse_prompt(prompt)
    assert [(r.predicate, r.kind) for r in scene.relations] == [(predicate, kind)]
    assert unjudged_parts(scene) == []  # the sandbox draws and judges all of it
    truth_ok, said, unsupported = _relation_verdicts(scene, seed=0)
    assert truth_ok and said and not unsupported


@pytest.mark.parametrize("prompt", ["a cat sitting on a chair", "an apple in a bowl", "a man wearing a hat",
                                    "a man riding a horse"])
def test_an_ignored_contact_relation_fails_in_truth_and_checker(prompt: str) -> None:
    scene = parse_prompt(prompt)
    dropped = scene.model_copy(update={"relations": []})  # a painter that ignored it draws the objects free
    image, truth = render_scene(dropped, seed=0)
    rid = scene.relations[0].id
    assert [c.passed for c in world.grade_truth(scene, truth) if c.target == rid] == [False]
    assert [c.passed for c in check_image(image, scene, ocr=False).checks if c.target == rid] == [False]


def test_facing_is_named_unsupported_and_never_passed_by_the_truth() -> None:
    scene = parse_prompt("a cat facing a dog")
    assert [r.predicate for r in scene.relations] == ["facing"]
    assert any("'facing'" in u for u in unjudged_parts(scene))
    image, truth = render_scene(scene, seed=0)
    verdict = check_image(image, scene, ocr=False)
    assert any("'facing'" in u for u in verdict.unsupported) and not verdict.passed
    rid = scene.relations[0].id
    assert [c.passed for c in world.grade_truth(scene, truth) if c.target == rid] == [False]


def test_the_benchmark_measures_every_contact_kind() -> None:
    """`checker_painted`'s random scenes may ask for every contact kind, and a probe measures each alone."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "sandbox.py"
    spec = importlib.util.spec_from_file_location("bench_sandbox_contact", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    contact = {"support", "containment", "attachment", "wearing", "riding"}
    assert contact <= set(RELATION_KINDS.values())
    assert contact <= {relation_kind(p) for p in world.WORLD_PREDICATES}
    assert contact <= {relation_kind(p) for p in bench.RELATION_PROBES if p != "size"}
