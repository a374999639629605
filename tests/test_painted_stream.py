"""One painted-then-edited generator (`limner.eval.painted`) for the benchmark and the diagnostics.

`benchmarks/sandbox.py`'s `checker_painted` numbers must be what its own loop gave before the loop moved
into the library: the loop as it was written there is kept below, verbatim but for names and for one change
made since (the repair choices draw from their own random stream, `[seed, 22, 1]`), as the reference.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from limner.config import load_config
from limner.eval import painted
from limner.eval.painted import PAINTED_DIM, RELATION_DIM, PaintedStream, png_roundtrip
from limner.imaging import box_mask
from limner.llm.rule_brain import repair_subtask
from limner.tools.base import ToolError
from limner.tools.registry import ToolRegistry
from limner.tools.sandbox.checker import check_image
from limner.tools.sandbox.world import WORLD_PREDICATES, WorldTruth, grade_truth, random_scene
from limner.types import ToolCall

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sandbox() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_sandbox_stream", REPO / "benchmarks" / "sandbox.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# -- the benchmark's loop before the refactor (commit 951e583), the reference ---------------------------


def _old_judge_pair(image: Any, scene: Any, truth: WorldTruth) -> tuple[list[tuple[str, bool, bool, str]], Any]:
    verdict = check_image(png_roundtrip(image), scene, ocr=True)
    want = {(c.target, c.kind): c.passed for c in grade_truth(scene, truth)}
    kinds = {r.id: r.kind for r in scene.relations}
    out = []
    for c in verdict.checks:
        dim = RELATION_DIM.get(kinds.get(c.target) or "") or PAINTED_DIM.get(c.kind)
        if dim is not None and (c.target, c.kind) in want:
            out.append((dim, c.passed, want[(c.target, c.kind)], c.evidence))
    return out, verdict


def _old_edit_call(tools: list[Any], scene: Any, verdict: Any, truth: WorldTruth, k: int,
                   rng: np.random.Generator) -> tuple[Any, ToolCall, Any] | None:
    checks = [c for c in verdict.checks if not c.passed] or list(verdict.checks)
    if not checks:
        return None
    check = checks[0] if not checks[0].passed else checks[int(rng.integers(0, len(checks)))]
    sub = repair_subtask(check, scene, "bench", can_inpaint=True)
    if sub is None:
        return None
    of_kind = [t for t in tools if t.kind == sub.kind]
    if not of_kind:
        return None
    tool = of_kind[k % len(of_kind)]
    call = ToolCall(tool=tool.name, prompt=sub.instruction, seed=k, width=truth.width, height=truth.height,
                    params={"_truth_in": truth.model_dump(mode="json")})
    mask = box_mask((truth.width, truth.height), sub.region) if sub.kind == "inpaint" and sub.region else None
    return tool, call, mask


def _old_measure(sandbox: ModuleType, n_scenes: int, seed: int, size: int) -> dict[str, Any]:
    registry = ToolRegistry.from_config(load_config("sandbox"))
    painters = registry.tools(kind="generate")
    editors = registry.tools(kind="edit") + registry.tools(kind="inpaint")
    rng = np.random.default_rng([seed, 22])
    choices = np.random.default_rng([seed, 22, 1])
    judged: dict[str, dict[str, list[tuple[bool, bool]]]] = {"painters": {}, "editors": {}}
    errors: list[dict[str, Any]] = []
    edits = edit_failures = 0
    k = 0
    for i in range(n_scenes):
        scene = random_scene(rng, predicates=WORLD_PREDICATES, p_relation=0.7, p_shape=0.25)
        for p in painters:
            res = p(ToolCall(tool=p.name, prompt=scene.prompt, seed=seed * 1000 + i, width=size, height=size))
            truth = WorldTruth.model_validate(res.ground_truth)
            rows, verdict = _old_judge_pair(res.image, scene, truth)
            sandbox._collect(judged["painters"], rows, errors, {"scene": i, "tool": p.name})
            job = _old_edit_call(editors, scene, verdict, truth, k, choices)
            k += 1
            if job is None:
                continue
            tool, call, mask = job
            try:
                out = tool(call, image=res.image, mask=mask)
            except ToolError:
                edit_failures += 1
                continue
            if out.image is None or out.ground_truth is None:
                edit_failures += 1
                continue
            edits += 1
            rows, _ = _old_judge_pair(out.image, scene, WorldTruth.model_validate(out.ground_truth))
            sandbox._collect(judged["editors"], rows, errors, {"scene": i, "tool": tool.name, "instruction": call.prompt})
    dims = list(dict.fromkeys([*PAINTED_DIM.values(), *RELATION_DIM.values()]))
    both = {d: judged["painters"].get(d, []) + judged["editors"].get(d, []) for d in dims}
    return {
        "checker_painted": {d: sandbox.rates(both[d]) for d in dims},
        "checker_painted_by_source": {src: {d: sandbox.rates(v.get(d, [])) for d in dims}
                                      for src, v in judged.items()},
        "checker_painted_images": {"painted": n_scenes * len(painters), "edited": edits,
                                   "edit_tool_errors": edit_failures},
        "checker_painted_errors_sample": errors,
    }


# -- tests ----------------------------------------------------------------------------------------------


def test_the_benchmark_numbers_are_those_of_its_loop_before_the_refactor(sandbox: ModuleType) -> None:
    new = sandbox.measure_checker_painted(1, seed=4, size=192)
    old = _old_measure(sandbox, 1, seed=4, size=192)
    # the counts of unchecked parts were added after the refactor, beside the rates (which must not move)
    extra = ("unjudged", "unjudged_share", "unjudged_truth_pass")
    assert all(set(extra) <= set(row) for row in new["checker_painted"].values())
    rates_only = {d: {k: v for k, v in row.items() if k not in extra} for d, row in new["checker_painted"].items()}
    assert {**new, "checker_painted": rates_only} == old
    images = new["checker_painted_images"]
    assert images["painted"] == 5 and images["edited"] > 0 and new["checker_painted"]["presence"]["n"] > 0


def test_the_stream_yields_each_painting_then_its_repair_and_filters_scenes() -> None:
    stream = PaintedStream(1, seed=2, size=160, edits=False, accept=lambda s: len(s.elements) >= 2,
                           first_index=7)
    pics = list(stream)
    assert [p.source for p in pics] == ["painter"] * len(stream.painters)
    assert {p.scene_index for p in pics} == {7} and all(len(p.scene.elements) >= 2 for p in pics)
    assert [p.tool for p in pics] == [t.name for t in stream.painters] == [p.painted_by for p in pics]
    assert stream.edits == stream.edit_failures == 0
    with pytest.raises(ValueError, match="n_scenes"):
        PaintedStream(-1, seed=0)


def test_the_scenes_do_not_depend_on_the_verdicts_or_the_repairs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A checker change that alters one verdict alters the repair asked for (and what it draws from the random
    stream); the scenes after it must stay the same, so two versions of the checker are measured on the same
    painters' pictures. Here every repair choice draws, and none is made."""
    def choose_nothing(tools: Any, scene: Any, verdict: Any, truth: Any, k: int, rng: np.random.Generator) -> None:
        rng.integers(0, 1000)

    monkeypatch.setattr(painted, "repair_call", choose_nothing)
    with_choices = [p.scene.prompt for p in PaintedStream(2, seed=3, size=96)]
    without = [p.scene.prompt for p in PaintedStream(2, seed=3, size=96, edits=False)]
    assert with_choices == without and len(set(without)) == 2
