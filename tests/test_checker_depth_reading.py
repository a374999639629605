"""The sandbox checker's depth reading and the weak matches it no longer counts (issue #22, "Honest
verdicts"): configurations where the checker and the world's truth disagreed on painted images of
`benchmarks/sandbox.py` (seed 1, and a depth-only development sample), reproduced from the painter, prompt
and seed that drew them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from limner.tools.sandbox import checker as ck
from limner.tools.sandbox.checker import check_image
from limner.tools.sandbox.detect import Detector, DetectorConfig, get_detector
from limner.tools.sandbox.painters import Painter, read_prompt
from limner.tools.sandbox.render import render_scene
from limner.tools.sandbox.segment import Background, estimate_background, load_rgb
from limner.tools.sandbox.world import WorldTruth, grade_truth
from limner.types import Check, Element, Relation, Scene, ToolCall, Verdict


def _painted(painter: str, prompt: str, seed: int) -> tuple[Image.Image, WorldTruth]:
    out = Painter(painter, profile=f"p-{painter}")(ToolCall(tool=painter, prompt=prompt, seed=seed, width=512, height=512))
    assert out.image is not None and out.ground_truth is not None
    return out.image, WorldTruth.model_validate(out.ground_truth)


def _rendered(scene: Scene, seed: int) -> tuple[WorldTruth, np.ndarray, Detector, Background, ck._Fits]:
    """A faithful render of `scene` and what the checker's fits need: (truth, pixels, detector, background,
    the shared artwork fits)."""
    image, truth = render_scene(scene, seed=seed)
    rgb = load_rgb(image)
    detector = get_detector()
    bg = estimate_background(rgb)
    return truth, rgb, detector, bg, ck._Fits(detector, rgb, bg.fill)


def _one(verdict: Verdict, kind: str, cls: str | None = None, scene: Scene | None = None) -> Check:
    found = [c for c in verdict.checks if c.kind == kind
             and (cls is None or scene is None or scene.element(c.target).cls == cls)]
    assert len(found) == 1, verdict.checks
    return found[0]


def _truth(scene: Scene, truth: WorldTruth, kind: str, target: str) -> bool:
    (c,) = [c for c in grade_truth(scene, truth) if c.kind == kind and c.target == target]
    return c.passed


def test_a_match_made_of_other_objects_strokes_is_neither_counted_nor_read_behind() -> None:
    """Six broccoli and two toothbrushes: a small beige 'broccoli' fitted weakly onto a toothbrush and a
    neighbour's edge was counted as a seventh and read as behind the toothbrush, so "toothbrushes behind
    broccoli" failed although every true pair shows it (seed 1, scene 12, painter dogwood)."""
    prompt = ("a photo of two white toothbrushes behind six brown soft broccoli, an orange book and a pink "
              "refrigerator on a park background")
    scene = read_prompt(prompt)
    image, truth = _painted("dogwood", prompt, 1012)
    verdict = check_image(image, scene, ocr=False)
    depth = _one(verdict, "depth")
    assert _truth(scene, truth, "depth", depth.target)
    assert depth.passed, depth.evidence
    count = _one(verdict, "count", "broccoli", scene)
    assert count.passed == _truth(scene, truth, "count", count.target), count.evidence
    assert "found 6 broccoli" in count.evidence


def test_a_weak_phantom_does_not_make_a_short_count_pass() -> None:
    """Five ties asked, five drawn, one exactly under another (0 % in view, so the truth counts four): a weak
    yellow 'tie' fitted on a white tie's knot made the checker count five and pass (seed 1, scene 10)."""
    prompt = "a photo of five round orange ceramic ties in front of three couches on a kitchen background"
    scene = read_prompt(prompt)
    image, truth = _painted("elm", prompt, 1010)
    verdict = check_image(image, scene, ocr=False)
    count = _one(verdict, "count", "tie", scene)
    assert not _truth(scene, truth, "count", count.target)
    assert not count.passed, count.evidence


def test_a_weak_true_object_is_still_counted() -> None:
    """The self-explanation rule (`SELF_SHOWN`) drops phantoms, not partly hidden true objects whose match is
    weak: every weak detection of a faithful render of overlapping objects is kept. (The neighbour re-scoring
    now lifts these horses over `CONFIDENT_SCORE`; it is switched off here so that they stay weak.)"""
    scene = Scene(prompt="three horses behind three clocks",
                  elements=[Element(id="a", noun="horses", cls="horse", count=3),
                            Element(id="b", noun="clocks", cls="clock", count=3)],
                  relations=[Relation(subject="a", predicate="behind", object="b")])
    truth, rgb, _, bg, _ = _rendered(scene, seed=4)
    detector = Detector(dataclasses.replace(DetectorConfig(), neighbour_mask_max=-1.0))
    fits = ck._Fits(detector, rgb, bg.fill)
    dets = detector.detect(rgb, ["clock", "horse"], background=bg)
    sils = ck._silhouettes(dets, detector, rgb.shape)
    weak = [d for d in dets if d.score < ck.CONFIDENT_SCORE]
    assert weak  # partly hidden horses match weakly
    for i, d in enumerate(dets):
        assert any(d.box.iou(o.box) > 0.5 for o in truth.objects if o.cls == d.cls)  # all true objects
        assert ck._shown_by_itself(i, dets, sils, fits) >= ck.SELF_SHOWN, d
    kept = ck._in_view(dets, detector, fits)
    assert all(any(k is d for k in kept) for d in weak)


@pytest.mark.parametrize("hide", ["part", "all"])
def test_an_overlap_under_a_third_thing_is_read_on_what_shows_or_left_out(hide: str) -> None:
    """A grey patch (a third object, a blemish) over part of the overlap: the order is read on the pixels
    either drawing explains. Over all of it: neither object is seen hiding the other there, as the truth's
    `covers` counts only what is seen, so the pair shows no occlusion (and alone it cannot pass)."""
    scene = Scene(prompt="a bus in front of a person",
                  elements=[Element(id="a", noun="bus", cls="bus"), Element(id="b", noun="person", cls="person")],
                  relations=[Relation(subject="a", predicate="in front of", object="b")])
    _, rgb, detector, bg, fits = _rendered(scene, seed=0)
    bus, person = (next(d for d in detector.detect(rgb, ["bus", "person"], background=bg) if d.cls == c)
                   for c in ("bus", "person"))
    both = fits(bus)[0] & fits(person)[0]
    ys, xs = np.nonzero(both)
    assert len(ys) >= 2 * ck.MIN_OCCLUSION_PX
    covered = rgb.copy()
    if hide == "part":  # the left half of the overlap
        covered[ys.min() : ys.max() + 1, xs.min() : (xs.min() + xs.max()) // 2] = (128, 128, 128)
    else:
        covered[both] = (128, 128, 128)
    order = ck._depth_pair(fits(bus), fits(person), covered)
    if hide == "part":
        assert order.occludes and order.front is True, order.how
        assert ck.MIN_OCCLUSION_PX <= order.shown < int(both.sum())
    else:
        assert not order.occludes and order.front is None, order.how
        assert ck._depth_pair(fits(person), fits(bus), covered).occludes is False
