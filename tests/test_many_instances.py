"""Many instances of one class in one picture are each proposed (`DetectorConfig.peaks_per_template`).

The matcher keeps a few coarse peaks per (class, size) template map. With 8, a picture of ten keyboards
lost one to a look-alike: a knife fitted on one keyboard's bottom row took the place no proposal reached,
and a keyboard was counted where there was none in another. 12 peaks were measured on the recorded painted
pictures (`scripts/checker_regression.py accuracy --set peaks_per_template=...`, docs/checker.md). On this
scene's renders with seeds 12-39, 12 peaks counted right where 8 did not in five (15, 27, 30, 32, 33: an
eleventh or a missing keyboard) and wrong where 8 did not in one (19); two of the five are pinned here.
"""

from __future__ import annotations

import dataclasses

import pytest

from limner.tools.sandbox import world
from limner.tools.sandbox.checker import check_image
from limner.tools.sandbox.detect import Detector, DetectorConfig
from limner.tools.sandbox.render import render_scene
from limner.types import Element, Scene

TEN_KEYBOARDS = Scene(prompt="ten brown paper computer keyboards and a knife on a night background", elements=[
    Element(id="e0", noun="keyboard", cls="computer keyboard", count=10, color="brown", texture="paper"),
    Element(id="e1", noun="knife", cls="knife", count=1)], background="night")


def _counts(seed: int, detector: Detector | None = None) -> tuple[dict[str, bool], dict[str, bool]]:
    image, truth = render_scene(TEN_KEYBOARDS, seed=seed)
    want = {c.target: c.passed for c in world.grade_truth(TEN_KEYBOARDS, truth) if c.kind == "count"}
    got = {c.target: c.passed for c in check_image(image, TEN_KEYBOARDS, ocr=False, detector=detector).checks
           if c.kind == "count"}
    return want, got


@pytest.mark.parametrize("seed", [15, 30])
def test_ten_keyboards_are_counted_as_ten(seed: int) -> None:
    want, got = _counts(seed)
    assert want == {"e0": True} and got == want


@pytest.mark.parametrize("seed", [15, 30])
def test_with_eight_peaks_the_count_was_wrong(seed: int) -> None:
    """The same pictures with the old setting: the test above can fail."""
    want, got = _counts(seed, Detector(dataclasses.replace(DetectorConfig(), peaks_per_template=8)))
    assert got != want
