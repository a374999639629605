"""The sandbox checker's choice between two outlines of one class at one place (issue #22/#23, shapes):
a neighbour's pixels can make the wrong outline score higher; the foreground where the two differ decides.
Reproduced from a painted picture of the checker's acceptance sample (`scripts/checker_regression.py
record --scenes 100 --seed 0`, picture 163), SIMULATED world."""

from __future__ import annotations

import dataclasses

from limner.tools.sandbox.checker import check_image
from limner.tools.sandbox.detect import Detector, DetectorConfig
from limner.tools.sandbox.render import Layout, PlacedObject, render_layout
from limner.types import Element, Relation, Scene


def _picture(sandwich_shape: str | None, bowl_x: float = 172):
    """A black rectangular bowl touching a sandwich's top-right corner, drawn before it (behind), as
    painter alder drew them in picture 163 (sizes 56 and 71, the same offsets); `bowl_x` moves the bowl."""
    layout = Layout(objects=[
        PlacedObject(element_id="e1", cls="bowl", color="black", shape="rectangular", cx=bowl_x, cy=196, size=56, z=0),
        PlacedObject(element_id="e0", cls="sandwich", shape=sandwich_shape, cx=133, cy=209, size=71, z=1),
    ])
    return render_layout(layout, 320, 320)


def _scene() -> Scene:
    return Scene(prompt="a rectangular black bowl behind a square sandwich", elements=[
        Element(id="e0", noun="sandwich", cls="sandwich", shape="square"),
        Element(id="e1", noun="bowl", cls="bowl", color="black", shape="rectangular"),
    ], relations=[Relation(subject="e1", predicate="behind", object="e0")])


def _check(image, kind: str, target: str, detector: Detector | None = None):
    verdict = check_image(image, _scene(), ocr=False, detector=detector)
    (c,) = [c for c in verdict.checks if c.kind == kind and c.target == target]
    return c


def test_a_plain_object_beside_a_neighbour_is_not_read_in_a_filled_outline() -> None:
    image, truth = _picture(None)
    assert truth.objects[1].shape is None
    shape = _check(image, "shape", "e0")
    assert not shape.passed, shape.evidence          # the sandwich drawn is plain: "square" is not met
    assert "its own" in shape.evidence
    # without the rule the square outline (its corner on the bowl) wins the match: the test shows the rule
    off = Detector(dataclasses.replace(DetectorConfig(), outline_fg_agree=2.0))
    assert _check(image, "shape", "e0", off).passed


def test_the_shaped_object_drawn_is_read_in_its_outline_beside_the_neighbour_too() -> None:
    """A drawn square sandwich is read square, apart from the bowl and touching it. Touching, the bowl in the
    square template's margin kept that template from being proposed at the sandwich's size at all, so the
    plain glyph was the only match (with the rule off too): the rule also matches each other asked outline
    at the detection's own size and place."""
    for bowl_x in (250, 172):
        image, truth = _picture("square", bowl_x=bowl_x)
        assert truth.objects[1].shape == "square"
        shape = _check(image, "shape", "e0")
        assert shape.passed, (bowl_x, shape.evidence)
    bowl = _check(_picture("square", bowl_x=250)[0], "shape", "e1")
    assert bowl.passed, bowl.evidence
    off = Detector(dataclasses.replace(DetectorConfig(), outline_fg_agree=2.0))
    assert not _check(image, "shape", "e0", off).passed
