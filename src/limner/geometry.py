"""Geometry every layer shares: how 2D relations read over boxes, overlap of float rectangles, clipped
windows and pasted masks.

Why one module: the sandbox world's truth grader (`tools/sandbox/world.py`) and the pixel-only checker
(`tools/sandbox/checker.py`) must read "left of", "on" and "next to" by the same rule, or the checker's
accuracy would measure a difference of conventions instead of a difference of perception. Both call
`relation_holds_boxes` here; only the thresholds they pass could differ (they do not today: see
`GENEVAL_THRESHOLDS`). The box primitives (centre, overlap, gap, union) are methods of `types.Box`.

It sits at the bottom of the import graph, next to `types` (which it alone imports).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from limner.types import CONTACT, SPATIAL_2D, Box

__all__ = [
    "GENEVAL_THRESHOLDS",
    "MIN_OCCLUSION_PX",
    "MIN_VISIBLE_SHARE",
    "SIZE_RATIO",
    "Rect",
    "RelationThresholds",
    "centroid",
    "clip_window",
    "nearest_gap",
    "overlap_of_smaller",
    "paste_mask",
    "relation_holds_boxes",
    "size_holds",
]

#: A float rectangle (x0, y0, x1, y1): a box before it is rounded to pixels (layout, template matching).
Rect = tuple[float, float, float, float]


@dataclass(frozen=True)
class RelationThresholds:
    """Tolerances of the geometric reading of 2D relations, as shares of the image's sides.

    `dead_zone`: left/right/above/below need the group centroids this far apart (of the width or the
    height), so two objects side by side on a diagonal are not called "above" each other.
    `on_gap`: "on" accepts the subject's bottom this far above the object's top (of the height): touching,
    with room for a detector's box being a few pixels off. It was 0.1 (51 px) while the world drew "on"
    from the anchor's longer side and left a bus floating 79 px above a knife; the world now draws the
    subject on the anchor's drawn top (`render.ON_OVERLAP`). `next_to_gap`: "next to" needs the nearest
    pair this close (of the short side).
    """

    dead_zone: float = 0.05
    on_gap: float = 0.02
    next_to_gap: float = 0.2
    touch_overlap: float = 0.01
    inside_share: float = 0.5


#: GenEval's tolerances. The world's truth (`world.relation_holds`) and the checker's judgement
#: (`checker.relation_holds_boxes`) both use them: were the judge more lenient than the truth, its
#: measured accuracy would hide its own misreadings. A judge that needs its own tolerances gets a second
#: named `RelationThresholds` here, with the reason beside it.
GENEVAL_THRESHOLDS = RelationThresholds()

#: Fewest pixels of one silhouette another must hide before the pair shows a depth order. Depth in a flat
#: picture is seen through occlusion; boxes that overlap at a corner, or silhouettes touching along a few
#: pixels, show none. The world's truth (`world.relation_holds`, from what was drawn) and the checker
#: (from the silhouettes it perceives) use this one number.
MIN_OCCLUSION_PX = 80

#: An object with less of its silhouette in view than this is not counted as there: the world's truth
#: (`world.grade_truth`) leaves it out, and the checker drops a detection it reads as hidden that much (a
#: detector-based judge such as GenEval's misses such objects, and a viewer barely sees them).
MIN_VISIBLE_SHARE = 0.3


def centroid(boxes: Sequence[Box]) -> tuple[float, float]:
    """Mean of the boxes' centres (GenEval-style comparison of groups of instances)."""
    return (
        float(np.mean([b.center[0] for b in boxes])),
        float(np.mean([b.center[1] for b in boxes])),
    )


def nearest_gap(a: Sequence[Box], b: Sequence[Box]) -> int:
    """The smallest `Box.gap` between a box of `a` and a box of `b` (0 or less: some pair touches)."""
    return min(x.gap(y) for x in a for y in b)


def relation_holds_boxes(
    pred: str,
    a: Sequence[Box],
    b: Sequence[Box],
    width: int,
    height: int,
    thresholds: RelationThresholds = GENEVAL_THRESHOLDS,
) -> bool:
    """Does the 2D relation `a pred b` hold between two groups of boxes (subject `a`, object `b`)?

    left/right/above/below: centroid offset beyond the dead zone; `on`: some subject resting on some object
    (its bottom from `on_gap` above the object's top down to its bottom, its centre higher than the
    object's and over its span: touching, above); `next to`: the nearest pair's gap
    under `next_to_gap` of the short side. Contact relations (`types.CONTACT`) hold when some pair does:
    `in`: the subject's centre and `inside_share` of its box lie inside a larger object box; `holding`: the boxes
    overlap (by `touch_overlap` of the short side: in contact, not merely near; free placement keeps
    objects apart) and the object's centre is level with the subject (within its height);
    `wearing`: the object's centre lies inside the upper half of the subject's box; `riding`: the boxes
    overlap, the subject's centre is higher than the object's and above the object's span. An empty group
    never holds; other predicates are errors (an action is first mapped to its proxy,
    `types.relation_geometry`).
    """
    if not a or not b:
        return False
    if pred in CONTACT:
        return any(_contact_holds(pred, x, y, width, height, thresholds) for x in a for y in b)
    if pred not in SPATIAL_2D:
        raise ValueError(f"not a 2D relation: {pred!r}")
    if pred == "next to":
        return nearest_gap(a, b) < thresholds.next_to_gap * min(width, height)
    (ax, ay), (bx, by) = centroid(a), centroid(b)
    dx, dy = ax - bx, ay - by
    tx, ty = thresholds.dead_zone * width, thresholds.dead_zone * height
    if pred == "on":
        return any(_rests_on(x, y, thresholds.on_gap * height) for x in a for y in b)
    return {"left of": dx < -tx, "right of": dx > tx, "above": dy < -ty, "below": dy > ty}[pred]


def _rests_on(x: Box, y: Box, gap: float) -> bool:
    """Box `x` rests on box `y`: its bottom lies between `gap` above `y`'s top and `y`'s bottom (touching it),
    its centre higher than `y`'s (above it) and over `y`'s span. One pair judged as a pair: a bus beside a
    knife is not on it because other buses stand higher, and one floating a fifth of the picture above it is
    not on it. The bottom may reach into `y`'s box: a thing drawn on another hides its top edge, and a
    detector's box for it is often a little too large."""
    return y.x0 <= x.center[0] <= y.x1 and y.y0 - gap <= x.y1 <= y.y1 and x.center[1] < y.center[1]


def _contact_holds(pred: str, x: Box, y: Box, width: int, height: int, t: RelationThresholds) -> bool:
    """One (subject box `x`, object box `y`) pair of a contact relation (see `relation_holds_boxes`)."""
    (xc, xm), (yc, ym) = x.center, y.center
    if pred == "in":
        inter = x.intersection(y)
        return (inter is not None and x.area < y.area and inter.area >= t.inside_share * max(1, x.area)
                and y.x0 <= xc <= y.x1 and y.y0 <= xm <= y.y1)
    if pred == "holding":
        return x.gap(y) <= -t.touch_overlap * min(width, height) and x.y0 <= ym <= x.y1
    if pred == "wearing":
        return x.x0 <= yc <= x.x1 and x.y0 <= ym <= (x.y0 + x.y1) / 2
    # riding
    return x.overlaps(y) and xm < ym and y.x0 <= xc <= y.x1


#: How much larger (or smaller) than the picture's other objects an object with a size word must be drawn:
#: the world scales "big" by 1.3 and "short" by 0.85 (`render.SIZE_SCALE`), free placement may shrink a
#: sprite by 12 % to make room, so 1.1 separates asked sizes from ordinary ones. Truth and checker share it.
SIZE_RATIO = 1.1


def size_holds(direction: int, own: Sequence[float], others: Sequence[float], ratio: float = SIZE_RATIO) -> bool:
    """Is a group of objects (`own`: their sizes, the sprite's longer side) larger (`direction` +1) or
    smaller (-1) than the reference objects (`others`) by `ratio`, comparing means? Empty groups never hold."""
    if not own or not others:
        return False
    a, b = float(np.mean(own)), float(np.mean(others))
    return a >= ratio * b if direction > 0 else a * ratio <= b


def overlap_of_smaller(a: Rect, b: Rect, floor: float = 1e-6) -> float:
    """Area of the intersection of two float rectangles over the smaller one's area (at least `floor`).

    Unlike IoU it is 1 when a small box lies inside a big one: the layout's "objects barely overlap" and
    the detector's "an occluded object may hide behind a bigger one" are both about the smaller box.
    """
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / max(small, floor)


Window = tuple[slice, slice]


def clip_window(x0: int, y0: int, w: int, h: int, width: int, height: int) -> tuple[Window, Window]:
    """(source rows/columns, destination rows/columns) of a `w`×`h` array placed with its top-left corner
    at (`x0`, `y0`) on a `width`×`height` canvas, clipped at every edge (the array may hang over any side;
    both windows are empty when it lies wholly outside)."""
    sx0, sy0, dx0, dy0 = max(0, -x0), max(0, -y0), max(0, x0), max(0, y0)
    dx1, dy1 = max(dx0, min(width, x0 + w)), max(dy0, min(height, y0 + h))
    return (slice(sy0, sy0 + dy1 - dy0), slice(sx0, sx0 + dx1 - dx0)), (slice(dy0, dy1), slice(dx0, dx1))


def paste_mask(mask: np.ndarray, x0: int, y0: int, shape: tuple[int, int]) -> np.ndarray:
    """An image-sized (`shape` = (H, W)) bool array holding `mask` with its top-left corner at (x0, y0),
    clipped at the edges: a sprite's silhouette or body placed where it was drawn or found."""
    out = np.zeros(shape, dtype=bool)
    src, dst = clip_window(x0, y0, mask.shape[1], mask.shape[0], shape[1], shape[0])
    out[dst] = mask[src]
    return out
