"""Preservation of an edit: pure functions over the images, verdicts and the target region."""

from __future__ import annotations

import numpy as np
from PIL import Image

from limner.agent.preservation import (
    TOLERANCE,
    Targets,
    element_checks,
    in_context,
    judge,
    outside_difference,
    pixel_check,
    preserved,
    read_targets,
    target_boxes,
    untargeted_scene,
    with_preservation,
)
from limner.reading.prompt import parse_prompt
from limner.tools.sandbox.artwork import get_artwork
from limner.tools.sandbox.checker import CheckTimings, _perceive, check_image
from limner.tools.sandbox.detect import CONFIDENT_SCORE, get_detector
from limner.tools.sandbox.segment import estimate_background
from limner.types import Box, Check, Element, Scene, Verdict


def _check(target: str, passed: bool, kind: str = "presence", box: Box | None = None) -> Check:
    return Check(target=target, kind=kind, passed=passed, score=float(passed), evidence="test", box=box)


def _painted(box: Box | None = None, value: int = 200) -> Image.Image:
    im = Image.new("RGB", (100, 100), (10, 10, 10))
    if box is not None:
        im.paste((value, 0, 0), (box.x0, box.y0, box.x1, box.y1))
    return im


def test_targets_of_each_instruction_kind() -> None:
    assert read_targets("make the dog blue") == Targets(classes=frozenset({"dog"}))
    assert read_targets("replace the cat with a dog") == Targets(classes=frozenset({"cat", "dog"}))
    assert read_targets("move the cup left of the apple") == Targets(classes=frozenset({"cup"}))  # not the anchor
    assert read_targets('change the text to "OPEN"') == Targets(text=True)
    assert read_targets("change the background to beach") == Targets(whole=True)
    assert read_targets("do something nice") is None


def test_untargeted_scene_keeps_other_elements_and_their_relations() -> None:
    scene = parse_prompt("a dog left of a red car and a cat above a vase")
    kept = untargeted_scene(scene, Targets(classes=frozenset({"dog"})))
    assert kept is not None and sorted(e.cls for e in kept.elements) == ["car", "cat", "vase"]
    assert [(kept.element(r.subject).cls, kept.element(r.object).cls) for r in kept.relations] == [("cat", "vase")]
    assert untargeted_scene(parse_prompt("a dog"), Targets(classes=frozenset({"dog"}))) is None


def test_only_checks_that_passed_before_must_still_pass() -> None:
    before = Verdict.combine(1.0, [_check("e1", True), _check("e2", False), _check("e3", True, "color")])
    after = Verdict.combine(1.0, [_check("e1", True), _check("e2", False), _check("e3", False, "color")])
    found = element_checks(before, after)
    assert [(c.target, c.passed) for c in found] == [("source:e1", True), ("source:e3", False)]
    assert all(c.kind == "preservation" for c in found)


def test_pixels_outside_the_dilated_target_box() -> None:
    target = Box(x0=40, y0=40, x1=60, y1=60)
    edited = _painted(target)
    assert outside_difference(_painted(), edited, [target], margin=4) == 0.0
    assert outside_difference(_painted(), edited, [], margin=4) > TOLERANCE  # no region: everything counts
    damaged = _painted(Box(x0=0, y0=0, x1=30, y1=30))
    check = pixel_check(edited, damaged, [target])
    assert check is not None and not check.passed and "tolerance" in check.evidence
    resized = pixel_check(_painted(), Image.new("RGB", (50, 50)), [target])
    assert resized is not None and not resized.passed and "size" in resized.evidence
    assert pixel_check(_painted(), edited, [Box(x0=0, y0=0, x1=100, y1=100)]) is None  # nothing outside


def test_target_boxes_come_from_targeted_elements_only() -> None:
    scene = parse_prompt("a red dog left of a car")  # the car is the anchor, not a target
    dog, car = Box(x0=1, y0=1, x1=5, y1=5), Box(x0=50, y0=50, x1=60, y1=60)
    v = Verdict.combine(1.0, [_check("e0", True, box=dog), _check("e1", True, box=car)])
    assert target_boxes([v, v], scene, Targets(classes=frozenset({"dog"}))) == [dog]


def test_judge_and_merge_into_the_verdict() -> None:
    scene = parse_prompt("a red dog")
    box = Box(x0=40, y0=40, x1=60, y1=60)
    target_v = Verdict.combine(1.0, [_check("e0", True, box=box)])
    damaged = _painted(Box(x0=0, y0=0, x1=30, y1=30))
    found = judge(_painted(), damaged, Targets(classes=frozenset({"dog"})), scene, (target_v, target_v), None)
    assert [c.passed for c in found.checks] == [False] and "not described" in found.skipped[0]
    merged = with_preservation(target_v, found.checks)
    assert not merged.passed and not preserved(merged) and merged.score < target_v.score
    whole = judge(_painted(), damaged, Targets(whole=True), scene, (target_v, target_v), None)
    assert whole.checks == [] and len(whole.skipped) == 2  # never reported as passed


def test_in_context_adds_the_other_known_classes_and_nothing_is_judged_about_them():
    target = parse_prompt("a brown horse and no car")
    source = parse_prompt("a blue bird and a brown car")
    seen = in_context(target, source)
    assert seen.context == ["bird"]  # car and horse are named by the target scene already
    assert in_context(seen, parse_prompt("a bird and a dog")).context == ["bird", "dog"]
    assert in_context(target, None) is target


def test_the_checker_searches_the_context_and_judges_nothing_about_it():
    """After a correct "replace the car with a brown horse", the bird's head and feet matched a small car
    weakly when the checker searched only horse and car, and "no car" failed (the weak-match rule,
    `checker.SELF_SHOWN`, now drops those fragments too). Knowing the bird is there, the checker searches it
    and explains the fragments as the bird's; no check is made about the bird."""
    art = get_artwork()
    img = Image.new("RGB", (512, 512), (245, 244, 240))
    for cls, size, colour, xy in (("horse", 164, "brown", (57, 9)), ("bird", 164, "blue", (165, 139))):
        sprite = art.render(cls, size, color=colour).convert("RGBA")
        img.paste(sprite, xy, sprite)
    scene = Scene(prompt="a brown horse and no car", elements=[
        Element(id="e0", noun="horse", cls="horse", color="brown"),
        Element(id="e1", noun="car", cls="car", count=0, negated=True)])
    rgb = np.asarray(img)
    detector = get_detector()

    def seen(context: list[str]) -> list[str]:
        dets = _perceive(detector, rgb, estimate_background(rgb), scene.elements, False, CheckTimings(), context)
        return sorted(d.cls for d in dets if d.score >= CONFIDENT_SCORE)

    assert seen([]) == ["horse"] and seen(["bird"]) == ["bird", "horse"]
    told = check_image(img, scene.model_copy(update={"context": ["bird"]}))
    assert told.passed and {c.kind for c in told.checks} == {"presence", "color", "absence"}
    assert all(c.target in ("e0", "e1") for c in told.checks)
