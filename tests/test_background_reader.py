"""The sandbox judges backgrounds from pixels: which backdrop a picture shows, and only what it can tell."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from limner.reading.prompt import parse_prompt
from limner.tools.sandbox.backdrops import BACKGROUNDS, background_key, judged_background
from limner.tools.sandbox.background_reader import read_backdrop
from limner.tools.sandbox.checker import BACKDROP_PASS_SHARE, check_image
from limner.tools.sandbox.editors import PARTLY_REPAINTED, _update_truth, parse_instruction
from limner.tools.sandbox.render import apply_style, paint_background, render_scene
from limner.tools.sandbox.world import WorldTruth, grade_truth


@pytest.mark.parametrize("key", list(BACKGROUNDS))
def test_every_backdrop_is_read_as_itself_and_as_nothing_else(key: str) -> None:
    rgb = np.asarray(paint_background(key, 160, 120))
    shares = read_backdrop(rgb, np.ones(rgb.shape[:2], bool)).shares
    assert shares[key] == 1.0
    assert max(v for k, v in shares.items() if k != key) < BACKDROP_PASS_SHARE


@pytest.mark.parametrize(("phrase", "key", "unjudged"), [
    ("park", "park", ()), ("the sea", "ocean", ()), ("a blue sky", "sky", ()), ("a quiet room", "room", ("quiet",)),
    ("living room", "room", ()), ("red", "red", ()), ("narrow bathroom", "bathroom", ("narrow",)),
])
def test_a_phrase_is_judged_as_its_own_backdrop(phrase: str, key: str, unjudged: tuple[str, ...]) -> None:
    judged = judged_background(phrase)
    assert judged is not None and (judged.key, judged.unjudged_words) == (key, unjudged)
    assert background_key(phrase) == key  # the world paints what it judges


@pytest.mark.parametrize("phrase", ["mountain", "office", "a pink sky", "winding road and dusty desert", "mid-air",
                                    "kitchen counter", ""])
def test_stand_ins_odd_colours_and_two_places_are_not_judged(phrase: str) -> None:
    assert judged_background(phrase) is None


def _background_check(verdict):  # type: ignore[no-untyped-def]
    found = [c for c in verdict.checks if c.kind == "background"]
    return found[0] if found else None


def test_the_asked_backdrop_passes_and_a_missing_one_fails() -> None:
    scene = parse_prompt("a red car on a stage")
    image, truth = render_scene(scene, seed=1)
    check = _background_check(check_image(image, scene, ocr=False))
    assert check is not None and check.passed and check.dimension == "background"
    assert [c.passed for c in grade_truth(scene, truth) if c.kind == "background"] == [True]

    plain, plain_truth = render_scene(parse_prompt("a red car"), seed=1)  # the painter left the stage out
    check = _background_check(check_image(plain, scene, ocr=False))
    assert check is not None and not check.passed and "'plain'" in check.evidence
    assert [c.passed for c in grade_truth(scene, plain_truth) if c.kind == "background"] == [False]


def test_a_half_repainted_background_fails_on_pixels_and_in_the_truth() -> None:
    scene = parse_prompt("a red car on a stage")
    image, truth = render_scene(scene, seed=1)
    old = np.asarray(paint_background("plain", *image.size))
    half = np.asarray(image).copy()
    bottom = slice(image.size[1] // 2, None)
    keep = np.all(half[bottom] == np.asarray(paint_background("stage", *image.size))[bottom], axis=-1)
    half[bottom][keep] = old[bottom][keep]  # the lower half of the backdrop back to plain, the car untouched
    check = _background_check(check_image(Image.fromarray(half), scene, ocr=False))
    assert check is not None and not check.passed and "'plain'" in check.evidence
    partly = truth.model_copy(update={"background_left": "plain"})
    assert [c.passed for c in grade_truth(scene, partly)] [-1] is False
    assert WorldTruth.model_validate_json(partly.model_dump_json()).background_left == "plain"


def test_backdrops_a_style_makes_alike_are_named_unchecked_not_passed() -> None:
    scene = parse_prompt("a red car on a white background in sepia style")
    assert judged_background(scene.background) is not None
    image, _ = render_scene(parse_prompt("a red car in sepia style"), seed=1)  # plain, not white
    verdict = check_image(image, scene, ocr=False)
    assert _background_check(verdict) is None
    assert any(u.startswith("background 'white' not judged") and "'plain'" in u for u in verdict.unsupported)


def test_what_no_backdrop_explains_is_not_judged() -> None:
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(60, 255, (96, 96, 3), dtype=np.uint8))
    verdict = check_image(noise, parse_prompt("a dog in the park"), ocr=False)
    assert _background_check(verdict) is None
    assert any(u.startswith("background 'park' not judged") for u in verdict.unsupported)


def test_a_style_filtered_backdrop_is_read_through_the_asked_style() -> None:
    rgb = np.asarray(apply_style(paint_background("forest", 128, 128), "watercolor"))
    reading = read_backdrop(rgb, np.ones(rgb.shape[:2], bool), "watercolor")
    assert reading.best() == ("forest", 1.0)
    assert read_backdrop(rgb, np.ones(rgb.shape[:2], bool)).shares["forest"] < 1.0  # unfiltered it reads worse


def test_the_truth_changes_the_background_only_as_far_as_the_edit_went() -> None:
    scene = parse_prompt("a red car")
    image, truth = render_scene(scene, seed=1)
    op = parse_instruction("change the background to snow")
    same = _update_truth(truth, op, image, image, None, "ed", ["outcome none"], "none")  # not carried out
    assert same.background == "plain" and same.background_left is None
    whole = _update_truth(truth, op, image, image, None, "ed", ["outcome full"], "full")
    assert (whole.background, whole.background_left) == ("snow", None)
    half = _update_truth(truth, op, image, image, None, "ed", ["outcome partial", PARTLY_REPAINTED], "partial")
    assert (half.background, half.background_left) == ("snow", "plain")
    night = parse_instruction("change the background to night")
    again = _update_truth(half, night, image, image, None, "ed", ["outcome partial", PARTLY_REPAINTED], "partial")
    assert (again.background, again.background_left) == ("night", "plain")  # the lower half is still plain
    snow = parse_prompt("a red car on a snow background")
    assert [c.passed for c in grade_truth(snow, half) if c.kind == "background"] == [False]
    assert [c.passed for c in grade_truth(snow, whole) if c.kind == "background"] == [True]


def test_the_truth_says_a_style_was_half_applied() -> None:
    image, truth = render_scene(parse_prompt("a red car"), seed=1)
    op = parse_instruction("make it a watercolor")
    assert op.kind == "style"
    assert _update_truth(truth, op, image, image, None, "ed", ["outcome none"], "none").style is None
    whole = _update_truth(truth, op, image, image, None, "ed", ["outcome full"], "full")
    assert (whole.style, whole.style_half) == ("watercolor", False)
    notes = ["outcome partial", "style half applied"]
    half = _update_truth(truth, op, image, image, None, "ed", notes, "partial")
    assert (half.style, half.style_half) == ("watercolor", True)
    assert WorldTruth.model_validate_json(half.model_dump_json()).style_half
