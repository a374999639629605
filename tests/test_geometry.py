"""The shared geometry: relation reading over boxes (one rule for the world's truth and the checker),
overlap of float rectangles, clipped windows and pasted masks."""

from __future__ import annotations

import numpy as np
import pytest

from limner.geometry import (
    GENEVAL_THRESHOLDS,
    RelationThresholds,
    centroid,
    clip_window,
    nearest_gap,
    overlap_of_smaller,
    paste_mask,
    relation_holds_boxes,
)
from limner.tools.sandbox import checker, world
from limner.types import Box


def _box(x0: int, y0: int, x1: int, y1: int) -> Box:
    return Box(x0=x0, y0=y0, x1=x1, y1=y1)


def test_centroid_is_the_mean_of_box_centres() -> None:
    assert centroid([_box(0, 0, 10, 10), _box(20, 40, 40, 60)]) == (17.5, 27.5)


def test_nearest_gap_is_the_smallest_pairwise_box_gap() -> None:
    a = [_box(0, 0, 10, 10), _box(100, 0, 110, 10)]
    assert nearest_gap(a, [_box(30, 0, 40, 10)]) == 20
    assert nearest_gap(a, [_box(5, 5, 20, 20)]) < 0  # overlapping


@pytest.mark.parametrize(
    ("pred", "a", "b", "holds"),
    [
        ("left of", [_box(0, 200, 50, 250)], [_box(100, 200, 150, 250)], True),
        ("left of", [_box(0, 200, 50, 250)], [_box(20, 0, 70, 50)], False),  # inside the 5 % dead zone
        ("right of", [_box(100, 200, 150, 250)], [_box(0, 200, 50, 250)], True),
        ("above", [_box(0, 0, 50, 50)], [_box(0, 200, 50, 250)], True),
        ("below", [_box(0, 0, 50, 50)], [_box(0, 200, 50, 250)], False),
        ("on", [_box(0, 0, 50, 50)], [_box(0, 55, 50, 105)], True),  # bottom within 2 % (10 px) of the top
        ("on", [_box(0, 0, 50, 60)], [_box(0, 55, 50, 105)], True),  # resting on it, overlapping its top
        ("on", [_box(0, 0, 50, 50)], [_box(0, 65, 50, 115)], False),  # floating 15 px above it
        ("on", [_box(0, 0, 50, 50)], [_box(0, 200, 50, 250)], False),
        ("on", [_box(0, 30, 50, 90)], [_box(0, 55, 50, 105)], True),  # its bottom inside the object, centre higher
        ("on", [_box(0, 50, 50, 110)], [_box(0, 55, 50, 105)], False),  # its bottom below the object's
        ("on", [_box(0, 60, 50, 100)], [_box(0, 55, 50, 105)], False),  # its centre as low as the object's
        ("on", [_box(60, 40, 110, 60)], [_box(0, 55, 50, 105)], False),  # touching it, but beside it
        # one pair judged as a pair: another subject standing higher does not lift a bus beside a knife onto it
        ("on", [_box(60, 40, 110, 60), _box(300, 0, 350, 20)], [_box(0, 55, 50, 70)], False),
        ("on", [_box(10, 40, 40, 58), _box(300, 300, 350, 320)], [_box(0, 55, 50, 70)], True),
        ("next to", [_box(0, 0, 50, 50)], [_box(140, 0, 190, 50)], True),  # gap 90 < 0.2 × 512
        ("next to", [_box(0, 0, 50, 50)], [_box(160, 0, 210, 50)], False),
    ],
)
def test_relation_geometry(pred: str, a: list[Box], b: list[Box], holds: bool) -> None:
    assert relation_holds_boxes(pred, a, b, 512, 512) is holds


def test_relation_thresholds_are_named_parameters() -> None:
    a, b = [_box(0, 0, 50, 50)], [_box(160, 0, 210, 50)]
    assert not relation_holds_boxes("next to", a, b, 512, 512, GENEVAL_THRESHOLDS)
    assert relation_holds_boxes("next to", a, b, 512, 512, RelationThresholds(next_to_gap=0.25))


def test_empty_groups_never_hold_and_other_predicates_are_errors() -> None:
    assert not relation_holds_boxes("left of", [], [_box(0, 0, 5, 5)], 64, 64)
    with pytest.raises(ValueError, match="not a 2D relation"):
        relation_holds_boxes("behind", [_box(0, 0, 5, 5)], [_box(0, 0, 5, 5)], 64, 64)


def test_the_truth_and_the_checker_read_2d_relations_by_one_rule() -> None:
    assert checker.relation_holds_boxes is relation_holds_boxes
    rng = np.random.default_rng(0)
    for _ in range(200):
        boxes = []
        for _ in range(int(rng.integers(2, 5))):
            x0, y0 = (int(v) for v in rng.integers(0, 400, 2))
            boxes.append(_box(x0, y0, x0 + int(rng.integers(10, 110)), y0 + int(rng.integers(10, 110))))
        objs = [world.WorldObject(element_id=None, cls="cup", color="red", box=b, z=i, scale=1.0)
                for i, b in enumerate(boxes)]
        k = len(boxes) // 2
        for pred in ("left of", "right of", "above", "below", "on", "next to"):
            expected = relation_holds_boxes(pred, boxes[:k], boxes[k:], 512, 512)
            assert world.relation_holds(pred, objs[:k], objs[k:], 512, 512) is expected
        # contact relations by the same rule; actions through their proxy ("playing" is drawn as "holding")
        for pred, rule in (("holding", "holding"), ("in", "in"), ("riding", "riding"), ("playing", "holding"),
                           ("chasing", "next to")):
            assert world.relation_holds(pred, objs[:k], objs[k:], 512, 512) is relation_holds_boxes(
                rule, boxes[:k], boxes[k:], 512, 512)


def test_overlap_of_smaller_is_one_for_a_box_inside_another() -> None:
    assert overlap_of_smaller((0.0, 0.0, 100.0, 100.0), (10.0, 10.0, 20.0, 20.0)) == 1.0
    assert overlap_of_smaller((0.0, 0.0, 10.0, 10.0), (5.0, 0.0, 25.0, 10.0)) == 0.5
    assert overlap_of_smaller((0.0, 0.0, 10.0, 10.0), (10.0, 0.0, 20.0, 10.0)) == 0.0  # touching
    # the floor keeps degenerate boxes finite
    assert overlap_of_smaller((0.0, 0.0, 0.5, 0.5), (0.0, 0.0, 0.5, 0.5), floor=1.0) == 0.25


@pytest.mark.parametrize(("x0", "y0"), [(2, 3), (-2, -1), (4, 5), (9, 0), (-5, 2), (20, 20)])
def test_paste_mask_clips_at_every_edge(x0: int, y0: int) -> None:
    mask = np.arange(12).reshape(3, 4) % 3 == 0
    out = paste_mask(mask, x0, y0, (6, 8))
    ref = np.zeros((6 + 40, 8 + 40), dtype=bool)  # a canvas big enough for every case, then cut
    ref[y0 + 10 : y0 + 13, x0 + 10 : x0 + 14] = mask
    assert out.shape == (6, 8)
    assert (out == ref[10:16, 10:18]).all()
    src, dst = clip_window(x0, y0, 4, 3, 8, 6)
    assert mask[src].shape == out[dst].shape
