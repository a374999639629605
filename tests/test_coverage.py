"""Coverage: nothing the prompt asks is dropped in silence, and a verdict never passes on parts it did not check.

The free-form corpus (tests/data/freeform_prompts.txt) holds prompts the offline reader and the sandbox
cannot fully read or check: other languages, unknown nouns and relations, unquoted text, actions, very long
prompts. Each is read, painted by a sandbox painter (simulated) and judged on the painting and on a blank
canvas: none may be reported as passed, and each must name what it did not check.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from limner.agent.evaluator import Evaluator, unchecked_parts
from limner.llm.rule_brain import RuleBrain
from limner.reading import parse_prompt
from limner.tools.sandbox.checker import SandboxChecker, unjudged_parts
from limner.tools.sandbox.painters import Painter
from limner.types import Check, Element, Scene, ToolCall, Verdict

FREEFORM = Path(__file__).parent / "data" / "freeform_prompts.txt"


def _prompts() -> list[str]:
    return [line.strip() for line in FREEFORM.read_text(encoding="utf-8").splitlines() if line.strip()]


def _check(target: str, passed: bool = True) -> Check:
    return Check(target=target, kind="presence", passed=passed, score=float(passed), evidence="test")


# -- Verdict ---------------------------------------------------------------------------------------


def test_passed_needs_complete_coverage_and_every_check() -> None:
    full = Verdict.combine(1.0, [_check("e0"), _check("e1")])
    assert full.passed and full.coverage == 1.0 and full.parts == 2
    partial = Verdict.combine(1.0, [_check("e0")], unsupported=["e0:riding:e1: 'riding' is not checked"])
    assert partial.checks_passed and not partial.passed
    assert partial.coverage == 0.5 and partial.score == full.score  # the score is the checks' as before
    assert "on 1 of 2 parts; not checked: e0:riding:e1" in partial.summary()
    failing = Verdict.combine(0.0, [_check("e0", passed=False)])
    assert not failing.passed and not failing.checks_passed and failing.coverage == 1.0


def test_an_empty_scene_never_passes() -> None:
    empty = Verdict.combine(1.0, [])
    assert empty.score == 1.0 and empty.checks_passed and not empty.passed and empty.coverage == 0.0
    assert "nothing to check" in empty.summary()


def test_old_verdicts_and_scenes_with_string_unsupported_still_load() -> None:
    old = '{"score": 1.0, "global_score": 1.0, "checks": [], "lam": 0.5, "unsupported": ["in the rain"]}'
    v = Verdict.model_validate_json(old)
    assert v.unsupported == ["in the rain"] and not v.passed
    assert Scene.model_validate_json('{"prompt": "x", "unsupported": ["words \'x\'"]}').unsupported == ["words 'x'"]


def test_the_rule_brain_stops_when_only_unsupported_parts_are_left() -> None:
    scene = Scene(prompt="a dog", elements=[Element(id="e0", noun="dog", cls="dog")], unsupported=["words 'x'"])
    verdict = Verdict.combine(1.0, [_check("e0")], unsupported=["words 'x'"])
    r = RuleBrain().reflect(scene, verdict, 0, 3)
    assert r.next_action == "stop" and "not checkable" in r.reasoning


def test_the_evaluator_names_parts_the_checker_skipped() -> None:
    scene = parse_prompt("a dog in the park in watercolor style")
    assert scene.background == "park" and scene.style == "watercolor"
    verdict = Verdict.combine(1.0, [_check("e0")], evaluator="x")
    missing = unchecked_parts(scene, verdict)
    assert any(m.startswith("background 'park'") for m in missing)
    assert any(m.startswith("style 'watercolor'") for m in missing)
    judged = Evaluator(SandboxChecker("checker"))(Image.new("RGB", (128, 128), "white"), scene).verdict
    # the sandbox checker judges the park backdrop itself (a white picture fails it) and names the style
    (backdrop,) = [c for c in judged.checks if c.kind == "background"]
    assert not judged.passed and not backdrop.passed and "'white'" in backdrop.evidence
    assert any(u.startswith("style 'watercolor'") for u in judged.unsupported)


# -- The reader on the examples ---------------------------------------------------------------


def test_another_language_is_named_not_misread() -> None:
    s = parse_prompt("un chat rouge à gauche d'un chien bleu")
    assert s.elements == [] and len(s.unsupported) == 1 and "language not supported" in s.unsupported[0]
    assert "French" in s.unsupported[0]
    assert "language" in parse_prompt("赤い猫と青い犬").unsupported[0]
    assert not any("language" in u for u in parse_prompt("a cat named Félix on a sofa").unsupported)


def test_unquoted_text_in_capitals_is_read_and_other_unquoted_text_is_named() -> None:
    s = parse_prompt("a sign that says OPEN")
    assert [(e.cls, e.text) for e in s.elements] == [("sign", "OPEN")] and s.unsupported == []
    lower = parse_prompt("a sign that says open")
    assert all(e.text is None for e in lower.elements) and len(lower.elements) == 1
    assert any("'open'" in u and "without quotes" in u for u in lower.unsupported)
    assert parse_prompt('a sign that says "open"').elements[0].text == "open"


@pytest.mark.parametrize("prompt, word", [
    ("a wooden table with a striped cat under it", "under"),
    ("a shadow of a dog on a wall", "of"),
    ("a cat on the left of and next to a dog", "on the left of"),
    ("a boy reading a book", "reading"),
])
def test_relations_the_reader_does_not_represent_are_named(prompt: str, word: str) -> None:
    assert any(f"'{word}'" in u for u in parse_prompt(prompt).unsupported), parse_prompt(prompt).unsupported


def test_an_action_is_read_and_the_sandbox_checker_names_it_unchecked() -> None:
    """An action without a drawable proxy (`types.ACTION_PROXIES`) is named; one with a proxy is checked."""
    scene = parse_prompt("a zebra admiring a unicorn")
    assert [r.predicate for r in scene.relations] == ["admiring"]
    verdict = Evaluator(SandboxChecker("checker"))(Image.new("RGB", (128, 128), "white"), scene).verdict
    assert any("admiring" in u for u in verdict.unsupported) and not verdict.passed
    scene = parse_prompt("a zebra riding a unicorn")
    verdict = Evaluator(SandboxChecker("checker"))(Image.new("RGB", (128, 128), "white"), scene).verdict
    assert [c.kind for c in verdict.checks if c.target == scene.relations[0].id] == ["action"]
    assert not verdict.unsupported and not verdict.passed


def test_fully_read_geneval_prompts_name_nothing_unsupported() -> None:
    for prompt in ("a photo of a red apple and two dogs", "a photo of a cat left of a blue cup",
                   "a photo of three clocks", "a photo of a bench"):
        assert parse_prompt(prompt).unsupported == [], prompt


# -- The free-form corpus ---------------------------------------------------------------------------


def test_the_corpus_is_large_enough() -> None:
    assert len(_prompts()) >= 60 and len(set(_prompts())) == len(_prompts())


def test_no_freeform_prompt_passes_on_a_blank_or_a_painted_image() -> None:
    """Every corpus prompt names what it did not check; none is reported passed on either image."""
    evaluator = Evaluator(SandboxChecker("checker"))
    painter = Painter("alder", profile="p-alder")
    blank = Image.new("RGB", (256, 256), "white")
    problems: list[str] = []
    for k, prompt in enumerate(_prompts()):
        scene = parse_prompt(prompt)
        painted = painter(ToolCall(tool="alder", prompt=prompt, seed=k, width=256, height=256)).image
        if not unjudged_parts(scene):  # the world draws and judges all of it ("a zebra riding a unicorn")
            if evaluator(blank, scene).verdict.passed:
                problems.append(f"blank: {prompt!r} passed")
            continue
        for name, image in (("blank", blank), ("painted", painted)):
            v = evaluator(image, scene).verdict
            if v.passed:
                problems.append(f"{name}: {prompt!r} passed")
            if not v.unsupported:
                problems.append(f"{name}: {prompt!r} names nothing unsupported")
            if v.passed and (v.unsupported or not v.checks):  # the definition itself
                problems.append(f"{name}: {prompt!r} passed with unchecked parts")
    assert problems == []
