"""Scene -> Layout -> pixels: the sandbox world's renderer.

`layout_scene` turns a `Scene` into placed sprites: `count` copies of every element, sized by how busy the
scene is, placed so that 2D relations hold (left/right/above/below/next to/on), 3D relations show as
overlap plus scale (the front object is larger, lower and drawn later), texts go on sign plates or labels,
and objects otherwise overlap little (<= ~12% of the smaller box) so that counting is possible.
`render_layout` paints the background, the sprites in depth order, the texts and the style, and returns
the image with the `WorldTruth` of what was drawn.

Painters make mistakes by distorting the *Scene* before layout (see `painters.py`); the renderer itself
always draws faithfully what it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps
from pydantic import BaseModel, ConfigDict, Field

from limner.geometry import MIN_OCCLUSION_PX, Rect, clip_window, overlap_of_smaller
from limner.imaging import paste_centered
from limner.tools.sandbox.artwork import (
    CLASS_ART,
    SHAPES,
    TEXTURE_DEFAULT_COLOR,
    TEXTURE_NAMES,
    Artwork,
    apply_shape,
    get_artwork,
    hash_text,
)
from limner.tools.sandbox.backdrops import BACKGROUNDS, Pattern, background_key
from limner.tools.sandbox.world import WorldObject, WorldText, WorldTruth, rle_encode
from limner.types import CONTACT, Box, Element, Scene, relation_geometry

# ----------------------------------------------------------------------------------------------------
# Layout records
# ----------------------------------------------------------------------------------------------------


class _Rec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlacedObject(_Rec):
    """One sprite to draw: centre (cx, cy) and longer side `size` in pixels."""

    element_id: str | None
    cls: str
    color: str | None = None
    texture: str | None = None
    shape: str | None = None
    cx: float
    cy: float
    size: int
    z: int = 0
    scale: float = 1.0


class PlacedText(_Rec):
    """A text on a plate. `on` = index of the object carrying it (a sign), or None for a free label."""

    element_id: str | None
    text: str
    cx: float
    cy: float
    width: int = Field(description="plate width in pixels")
    on: int | None = None


class Layout(_Rec):
    """Everything needed to draw a scene; painters and editors may alter it before rendering."""

    objects: list[PlacedObject] = Field(default_factory=list)
    texts: list[PlacedText] = Field(default_factory=list)
    background: str = "plain"
    style: str | None = None
    unsupported: list[str] = Field(default_factory=list)
    base_size: int = 100


# ----------------------------------------------------------------------------------------------------
# Vocabulary the renderer understands
# ----------------------------------------------------------------------------------------------------

#: Size words -> scale.
SIZE_SCALE: dict[str, float] = {
    "tiny": 0.55, "small": 0.72, "short": 0.85, "big": 1.3, "large": 1.3, "huge": 1.5, "tall": 1.25,
    "long": 1.25,
}
STYLES: tuple[str, ...] = (
    "cartoon", "photo", "sketch", "pencil", "watercolor", "pixel art", "oil painting", "vintage", "sepia",
    "black and white", "monochrome", "neon", "pop art",
)

_DIRECTIONAL = {"left of": (0, -1), "right of": (0, 1), "above": (1, -1), "below": (1, 1)}

#: Contact placements (`_Placer._contact_position`), as shares of the placed sprite's own height. A thing
#: `in` a container is drawn with a side of the square root of IN_AREA of the container's box area (a chair
#: on a flat skateboard sized by the board's height alone fell under the detector's smallest size) and its
#: centre this far below the rim: over half of its box lies in the container's (the containment rule,
#: `geometry.relation_holds_boxes`, holds with a margin) and the boxes overlap less than the detector's
#: duplicate rule allows (`DetectorConfig.overlap_max`, 0.75 of the smaller box), so both are found. It is
#: drawn in front of the container, not half hidden behind its front: a pictogram partly hidden is found at
#: the size of its visible part (a person in a vase was read as a smaller person above the rim, 3 of 18
#: containment false fails in the probe) and often not at all.
IN_AREA = 0.35
#: ... and at least IN_MIN_SIDE of the container's longer side: a tie in a flat bus sized by area alone was
#: 34 px, under the detector's smallest size.
IN_MIN_SIDE = 0.45
#: A container is drawn this much larger than the scene's other objects, so what is in it is still large
#: enough to be seen in a crowded picture (a toilet in an orange among eight stop signs was drawn 36 px,
#: under the detector's smallest size, `DetectorConfig.min_size_frac`).
CONTAINER_SCALE = 1.4
IN_DEPTH = 0.12
#: A worn thing is drawn WORN_SCALE of its wearer's size, in front, its centre this far below the wearer's
#: top: inside the upper half of the wearer's box (the wearing rule) with its upper part above the wearer,
#: so it covers little of the wearer and the two boxes overlap less than `overlap_max`.
WORN_SCALE = 0.45
WORN_DEPTH = 0.18
#: A holder and what it holds side by side, overlapping by HOLD_OVERLAP of the smaller one's width (the
#: holding rule asks for touching boxes, level with each other).
HOLD_OVERLAP = 0.25
#: A rider is drawn RIDER_SCALE of its size, on its mount's top, overlapping it by RIDER_OVERLAP of the
#: rider's height, in front. The sandbox editors' contact moves place with these numbers too.
RIDER_SCALE = 0.8
RIDER_OVERLAP = 0.25
#: A thing `on` another rests on its drawn top: ON_SCALE of its size, in front, its bottom ON_OVERLAP of the
#: thinner one's height below the anchor's top (touching, as the support rule `geometry.relation_holds_boxes`
#: asks). It was placed from the anchor's longer side, which left a bus 79 px above a flat knife. A small
#: overlap, not mere touching: a bus whose box just touched a knife's filled the knife's template margin
#: (and the knife the bus's), and both were matched too weakly to count (`tests/test_world_relations.py`,
#: support prompts); overlapping, the bus hides a strip of the knife and each matches on its own.
ON_SCALE = 0.75
ON_OVERLAP = 0.1
#: Things side by side on one anchor (on it, in it, or worn) overlap by at most 1 - SLOT_STEP of their width.
SLOT_STEP = 0.7


def resting_cy(top: float, height: float, anchor_height: float) -> float:
    """The centre height of a thing `height` tall resting `on` a top at `top` (of an anchor `anchor_height`
    tall): its bottom ON_OVERLAP of the thinner one's height below the top. The renderer and the sandbox
    editors' `on` placements share it."""
    return top - height / 2 + ON_OVERLAP * min(height, anchor_height)


def contents_side(anchor_w: float, anchor_h: float) -> float:
    """The longest side a thing `in` a container of that box may be drawn at: the square root of IN_AREA of
    the box, at least IN_MIN_SIDE of its longer side. The renderer and the sandbox editors' `in` moves share
    it (a thing already smaller is not grown)."""
    return max((IN_AREA * anchor_w * anchor_h) ** 0.5, IN_MIN_SIDE * max(anchor_w, anchor_h))


def worn_factor(wearer_size: float, size: float) -> float:
    """The scale of a worn thing of `size` on a wearer of `wearer_size`: WORN_SCALE of the wearer, never
    larger than it was."""
    return min(1.0, WORN_SCALE * wearer_size / max(1, size))


def held_reach(anchor_w: float, width: float) -> float:
    """How far from its holder's centre a held thing `width` wide is drawn: beside it, overlapping its side
    by HOLD_OVERLAP of the narrower one."""
    return anchor_w / 2 + width / 2 - HOLD_OVERLAP * min(anchor_w, width)


def on_top_cy(pred: str, top: float, height: float) -> float:
    """The centre height of a thing `height` tall placed at an anchor's drawn top `top` by the contact
    relation `pred`: `in` it (IN_DEPTH of its own height below the rim), `worn by` it (WORN_DEPTH below its
    top) or `riding` it (on its top, overlapping it by RIDER_OVERLAP of the rider's height). `on` is
    `resting_cy`, which also needs the anchor's height."""
    if pred == "in":
        return top + IN_DEPTH * height
    if pred == "worn by":
        return top + WORN_DEPTH * height
    if pred == "riding":
        return top - height / 2 + RIDER_OVERLAP * height
    raise ValueError(f"no on-top placement for {pred!r}; expected 'in', 'worn by' or 'riding'")


def _slot_offset(j: int, width: float, reach: float) -> float | None:
    """Horizontal offset from its anchor's centre of the `j`-th thing placed on that anchor: the first at the
    centre, then alternately right and left, `SLOT_STEP` of its `width` apart, so each shows most of itself.
    None when the slot lies beyond `reach` (the furthest the relation's rule allows)."""
    if j == 0:
        return 0.0
    off = SLOT_STEP * width * ((j + 1) // 2)
    return None if off > reach else (off if j % 2 else -off)


def style_key(name: str | None) -> str | None:
    if not name:
        return None
    text = name.lower().strip()
    for key in sorted(STYLES, key=len, reverse=True):
        if key in text:
            return key
    return text


# ----------------------------------------------------------------------------------------------------
# Layout
# ----------------------------------------------------------------------------------------------------


def base_fraction(instances: int) -> float:
    """Object size (fraction of the short image side) for a scene with this many object instances."""
    if instances <= 1:
        return 0.42
    if instances == 2:
        return 0.32
    if instances <= 4:
        return 0.26
    if instances <= 6:
        return 0.21
    if instances <= 9:
        return 0.175
    if instances <= 12:
        return 0.15
    return max(0.08, 0.15 * (12 / instances) ** 0.5)


def _layers(ids: list[str], edges: list[tuple[str, str]]) -> dict[str, int] | None:
    """Longest-path layering of `a before b` edges; None for elements with no edge. Cycles are cut."""
    involved = {a for a, _ in edges} | {b for _, b in edges}
    layer = {i: 0 for i in ids if i in involved}
    for _ in range(len(ids) + 1):
        changed = False
        for a, b in edges:
            if layer[b] < layer[a] + 1 and layer[a] + 1 < len(ids) + 1:
                layer[b] = layer[a] + 1
                changed = True
        if not changed:
            break
    return layer


def layout_scene(scene: Scene, rng: np.random.Generator, width: int, height: int) -> Layout:
    """Place `count` copies of each element so that the scene's relations hold.

    Left/right/above/below order elements into bands along an axis; `on`, `next to`, 3D relations and
    actions attach the subject to the first instances of the object (on top, beside, overlapping).

    Unknown classes are not drawn; they are recorded in `Layout.unsupported` (and so in the truth).
    """
    unsupported = sorted({e.cls for e in scene.elements if e.count > 0 and e.cls not in CLASS_ART})
    elements = [e for e in scene.elements if e.count > 0 and not e.negated and e.cls in CLASS_ART]
    ids = [e.id for e in elements]
    short = min(width, height)
    base = max(12, int(short * base_fraction(sum(e.count for e in elements))))

    # 1. Ordering constraints per axis from 2D relations; "on" stacks; 3D and actions attach to an anchor.
    edges, attach = _constraints(scene, ids)
    bands = _Bands.of(ids, edges, width, height, 0.04 * short)
    # 2. Free elements first (anchors before the objects attached to them), then attached ones.
    placer = _Placer(get_artwork(), rng, width, height, bands)
    containers = {anchor for pred, anchor in attach.values() if relation_geometry(pred) == "in"}
    for e in _placement_order(elements, attach):
        placer.place(e, base, attach.get(e.id), grow=CONTAINER_SCALE if e.id in containers else 1.0)
    # 3. Texts: on the element's sign if it is one, else on a label plate below the object.
    texts = _place_texts(elements, placer.placed, placer.sprite_wh)
    _renumber_depth(placer.placed)
    return Layout(objects=placer.placed, texts=texts, background=background_key(scene.background),
                  style=style_key(scene.style), unsupported=unsupported, base_size=base)


#: Axis index (0 = x, 1 = y) -> `a before b` edges along it.
_Edges = dict[int, list[tuple[str, str]]]
#: Dependent element id -> (predicate, anchor element id).
_Attach = dict[str, tuple[str, str]]


def _constraints(scene: Scene, ids: list[str]) -> tuple[_Edges, _Attach]:
    """Band orderings per axis (left/right/above/below, and "on" stacks upward) and attachments (`on`,
    `next to`, 3D relations, actions: drawn on, beside or overlapping the first instances of the anchor)."""
    edges: _Edges = {0: [], 1: []}
    attach: _Attach = {}
    for r in scene.relations:
        if r.subject not in ids or r.object not in ids or r.subject == r.object:
            continue
        if r.predicate in _DIRECTIONAL:
            axis, sign = _DIRECTIONAL[r.predicate]
            edges[axis].append((r.subject, r.object) if sign < 0 else (r.object, r.subject))
        elif r.predicate == "on":
            edges[1].append((r.subject, r.object))
            attach.setdefault(r.subject, ("on", r.object))
        elif relation_geometry(r.predicate) == "wearing" and r.object not in attach:
            edges[1].append((r.object, r.subject))
            attach[r.object] = ("worn by", r.subject)  # the worn thing goes on the wearer, sized to it
        elif r.subject not in attach and r.object not in attach:
            if relation_geometry(r.predicate) in _RESTS_ON_TOP:
                edges[1].append((r.subject, r.object))
            attach[r.subject] = (r.predicate, r.object)
    return edges, attach


#: Contact relations whose subject is drawn on the anchor's top (a rider on its mount, contents above the
#: rim): like "on", they order the two along the vertical axis, so the anchor is placed low enough to leave
#: room above it (else the subject is pushed down into the anchor at the image's top edge, hides it and
#: breaks the contact rule).
_RESTS_ON_TOP = ("riding", "in")


def _placement_order(elements: list[Element], attach: _Attach) -> list[Element]:
    """Free elements first, then attached ones, each after its anchor even along chains (a on b on c)."""
    order = [e for e in elements if e.id not in attach]
    pending = [e for e in elements if e.id in attach]
    while pending:
        ready = [e for e in pending if attach[e.id][1] in {o.id for o in order}] or pending[:1]
        order += ready
        pending = [e for e in pending if e not in ready]
    return order


@dataclass(frozen=True)
class _Bands:
    """Where each element may go: the image (less a margin) cut into equal bands per ordered axis."""

    layer: dict[int, dict[str, int]]
    n_layers: dict[int, int]
    width: int
    height: int
    margin: float

    @classmethod
    def of(cls, ids: list[str], edges: _Edges, width: int, height: int, margin: float) -> _Bands:
        layer = {axis: _layers(ids, edges[axis]) or {} for axis in (0, 1)}
        n_layers = {axis: (max(layer[axis].values()) + 1 if layer[axis] else 1) for axis in (0, 1)}
        return cls(layer, n_layers, width, height, margin)

    def region(self, eid: str) -> Rect:
        """The (x0, y0, x1, y1) region element `eid`'s instances are placed in."""
        x0, y0, x1, y1 = self.margin, self.margin, self.width - self.margin, self.height - self.margin
        if eid in self.layer[0]:
            span = (x1 - x0) / self.n_layers[0]
            x0, x1 = x0 + span * self.layer[0][eid], x0 + span * (self.layer[0][eid] + 1)
        if eid in self.layer[1]:
            span = (y1 - y0) / self.n_layers[1]
            y0, y1 = y0 + span * self.layer[1][eid], y0 + span * (self.layer[1][eid] + 1)
        return x0, y0, x1, y1


#: Tries to find a spot for one free instance; every `_SHRINK_EVERY` tries the sprite shrinks by 12 %.
_PLACE_TRIES = 120
_SHRINK_EVERY = 30
#: A spot whose worst overlap (share of the smaller box) is at most this is taken at once.
_OVERLAP_OK = 0.02


@dataclass
class _Placer:
    """Places instances one after another, keeping the sprites placed so far and their boxes."""

    art: Artwork
    rng: np.random.Generator
    width: int
    height: int
    bands: _Bands
    placed: list[PlacedObject] = field(default_factory=list)
    boxes: list[Rect] = field(default_factory=list)
    z: int = 0
    _shaped_wh: dict[tuple[str, int, str], tuple[int, int]] = field(default_factory=dict)

    def sprite_wh(self, cls: str, size: int, shape: str | None = None) -> tuple[int, int]:
        """The drawn sprite's (width, height), in its shape (`apply_shape` changes the outline's aspect: a
        rectangular suitcase is flatter than the plain one, and a rider placed by the plain height floated
        just above it)."""
        if shape not in SHAPES:
            return self.art.render(cls, size).size
        key = (cls, size, shape)
        if key not in self._shaped_wh:
            img, _ = apply_shape(self.art.render(cls, size), self.art.body_mask(cls, size), shape)
            self._shaped_wh[key] = img.size
        return self._shaped_wh[key]

    def place(self, e: Element, base: int, link: tuple[str, str] | None, grow: float = 1.0) -> None:
        """All `e.count` instances of `e`: beside/on/around its anchor if it has a placed one, else free;
        `grow` scales them (a container, `CONTAINER_SCALE`)."""
        scale = SIZE_SCALE.get(e.size or "", 1.0) * grow
        size = max(12, int(base * scale))
        anchor = [p for p in self.placed if p.element_id == link[1]] if link is not None else []
        for k in range(e.count):
            attached = link is not None and bool(anchor) and self._place_attached(
                e, link[0], anchor[k % len(anchor)], k, size, scale)
            if not attached:
                self._place_free(e, size, scale)
            self.z += 1

    def _add(self, e: Element, cx: float, cy: float, s: int, z: int, scale: float) -> None:
        w, h = self.sprite_wh(e.cls, s, e.shape)
        self.placed.append(PlacedObject(element_id=e.id, cls=e.cls, color=e.color, texture=e.texture,
                                        shape=e.shape, cx=cx, cy=cy, size=s, z=z, scale=scale))
        self.boxes.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))

    def _place_attached(self, e: Element, pred: str, anchor: PlacedObject, k: int, size: int, scale: float) -> bool:
        """Place instance `k` of `e` against `anchor`; False when its anchor has no room left for it (a content
        or worn thing beyond the ones side by side on it, `_contact_position`): the caller places it free."""
        geometric = "worn by" if pred == "worn by" else relation_geometry(pred) or "next to"
        if geometric in (*CONTACT, "worn by", "on"):
            spot = self._contact_position(e.cls, e.shape, geometric, anchor, k, size)
            if spot is None:
                return False
            cx, cy, s_fac, behind = spot
            w, h = self.sprite_wh(e.cls, max(10, int(size * s_fac)), e.shape)
            cx = float(min(max(cx, w / 2), self.width - w / 2))
            cy = float(min(max(cy, h / 2), self.height - h / 2))
        else:
            cx, cy, s_fac, behind = _attached_position(geometric, anchor, k, size, self.rng, self.width, self.height)
        zz = (anchor.z - 1) if behind else self.z + 1
        self._add(e, cx, cy, max(10, int(size * s_fac)), zz, scale * s_fac)
        return True

    def _contact_position(
        self, cls: str, shape: str | None, pred: str, anchor: PlacedObject, k: int, size: int
    ) -> tuple[float, float, float, bool] | None:
        """(cx, cy, scale factor, drawn behind the anchor) of a subject in contact with `anchor`, placed so
        the contact rule of `geometry.relation_holds_boxes` holds with a margin (the sprites' real boxes):
        `on`: `ON_SCALE` of its size, resting on the anchor's drawn top (`ON_OVERLAP`), in front; `in`:
        smaller, in front, its centre just inside the anchor's top (`IN_DEPTH`); `holding`: beside it,
        overlapping its side, level with it; `worn by` (the object of "wearing", placed on its
        wearer): `WORN_SCALE` of its size, at its top (`WORN_DEPTH`), in front; `riding`: on the anchor's top, overlapping it
        by a quarter of the rider's height, drawn in front.
        Several things on, in or worn by one anchor stand side by side (`_slot_offset`); None for one beyond
        those that fit on it, which the caller places free: piled on one spot, all but the top one were hidden
        and the pile read as one misplaced object (five clocks in a sign)."""
        aw, ah = self.sprite_wh(anchor.cls, anchor.size, anchor.shape)
        side = 1 if (k % 2 == 0) == (self.rng.random() < 0.5) else -1
        if pred == "in":
            s_fac = min(1.0, contents_side(aw, ah) / max(1, size))
            sw, sh = self.sprite_wh(cls, max(10, int(size * s_fac)), shape)
            offset = self._slot(anchor, k, sw, max(0.0, (aw - sw) / 2 - 0.1 * aw))
            if offset is None:
                return None
            cx = anchor.cx + offset
            # in it: its centre just below the rim (IN_DEPTH of its own height), drawn in front (see IN_DEPTH)
            return cx, on_top_cy("in", anchor.cy - ah / 2, sh), s_fac, False
        if pred == "on":  # resting on the anchor's drawn top, side by side when several
            s_fac = ON_SCALE
            sw, sh = self.sprite_wh(cls, max(10, int(size * s_fac)), shape)
            offset = self._slot(anchor, k, sw, max(0.0, aw / 2 - 0.1 * sw))
            if offset is None:
                return None
            return anchor.cx + offset, resting_cy(anchor.cy - ah / 2, sh, ah), s_fac, False
        if pred == "holding":
            s_fac = 1.0
            sw, sh = self.sprite_wh(cls, size, shape)
            reach = held_reach(aw, sw)
            cx = anchor.cx + side * reach
            if not (sw / 2 <= cx <= self.width - sw / 2):
                cx = anchor.cx - side * reach
            return cx, anchor.cy - 0.1 * sh, s_fac, False
        if pred == "worn by":  # the worn thing, WORN_SCALE of the wearer's size, on its top, in front
            s_fac = worn_factor(anchor.size, size)
            sw, sh = self.sprite_wh(cls, max(10, int(size * s_fac)), shape)
            # k is the instance's number among all of them; anchors are shared round-robin
            offset = self._slot(anchor, k, sw, max(0.0, (aw - sw) / 2))
            if offset is None:
                return None
            return anchor.cx + offset, on_top_cy("worn by", anchor.cy - ah / 2, sh), s_fac, False
        # riding: on the anchor's top, overlapping it by RIDER_OVERLAP of the rider's height
        s_fac = RIDER_SCALE
        sw, sh = self.sprite_wh(cls, max(10, int(size * s_fac)), shape)
        return anchor.cx, on_top_cy("riding", anchor.cy - ah / 2, sh), s_fac, False

    def _slot(self, anchor: PlacedObject, k: int, width: float, reach: float) -> float | None:
        """`_slot_offset` of instance `k` of a thing on `anchor`: the instances are shared round-robin among
        the anchor element's placed instances, so each anchor counts its own."""
        return _slot_offset(k // max(1, self._anchor_instances(anchor)), width, reach)

    def _anchor_instances(self, anchor: PlacedObject) -> int:
        """How many placed instances the anchor's element has (the things on it are shared among them)."""
        return sum(p.element_id == anchor.element_id for p in self.placed)

    def _place_free(self, e: Element, size: int, scale: float) -> None:
        """The least-overlapping of random spots in the element's region (the first good enough one)."""
        best: tuple[float, float, float, int] | None = None
        s = size
        rx0, ry0, rx1, ry1 = self.bands.region(e.id)
        for attempt in range(_PLACE_TRIES):
            if attempt and attempt % _SHRINK_EVERY == 0:
                s = max(10, int(s * 0.88))
            w, h = self.sprite_wh(e.cls, s, e.shape)
            lo_x, hi_x = rx0 + w / 2, rx1 - w / 2
            lo_y, hi_y = ry0 + h / 2, ry1 - h / 2
            cx = self.rng.uniform(lo_x, hi_x) if hi_x > lo_x else (rx0 + rx1) / 2
            cy = self.rng.uniform(lo_y, hi_y) if hi_y > lo_y else (ry0 + ry1) / 2
            cx = min(max(cx, w / 2), self.width - w / 2)
            cy = min(max(cy, h / 2), self.height - h / 2)
            ov = self._worst_overlap((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
            if best is None or ov < best[0]:
                best = (ov, cx, cy, s)
            if ov <= _OVERLAP_OK:
                break
        assert best is not None
        _, cx, cy, s = best
        self._add(e, cx, cy, s, self.z, scale * s / size)

    def _worst_overlap(self, rect: Rect) -> float:
        worst = 0.0
        for other in self.boxes:
            worst = max(worst, overlap_of_smaller(rect, other, floor=1.0))
        return worst


def _place_texts(
    elements: list[Element], placed: list[PlacedObject], sprite_wh: Callable[[str, int], tuple[int, int]]
) -> list[PlacedText]:
    """Each element's text on its first instance: on the plate of a sign, else on a label below it."""
    texts: list[PlacedText] = []
    for e in elements:
        if not e.text:
            continue
        for i, p in enumerate(placed):
            if p.element_id == e.id:
                w, h = sprite_wh(p.cls, p.size)
                if p.cls == "sign":
                    texts.append(PlacedText(element_id=e.id, text=e.text, cx=p.cx, cy=p.cy - h / 2 + h * 0.37,
                                            width=int(w * 0.86), on=i))
                else:
                    texts.append(PlacedText(element_id=e.id, text=e.text, cx=p.cx, cy=p.cy + h * 0.3,
                                            width=int(max(w * 0.9, 60)), on=i))
                break
    return texts


def _renumber_depth(placed: list[PlacedObject]) -> None:
    """Renumber depth so z is 0..n-1 in drawing order (ties keep placement order)."""
    order_idx = sorted(range(len(placed)), key=lambda i: (placed[i].z, i))
    for rank, i in enumerate(order_idx):
        placed[i].z = rank


def _attached_position(
    pred: str, anchor: PlacedObject, k: int, size: int, rng: np.random.Generator, width: int, height: int
) -> tuple[float, float, float, bool]:
    """(cx, cy, scale factor, drawn behind the anchor) for an object attached to `anchor`."""
    a = anchor.size
    side = 1 if (k % 2 == 0) == (rng.random() < 0.5) else -1
    if pred == "behind":
        cx = anchor.cx + side * a * 0.55
        cy = anchor.cy - a * 0.18
        s_fac = 0.8
        behind = True
    elif pred == "in front of":
        cx = anchor.cx + side * a * 0.5
        cy = anchor.cy + a * 0.2
        s_fac = 1.15
        behind = False
    elif pred == "next to":  # side by side at the same height, a small gap between
        s_fac = 1.0
        cx = anchor.cx + side * (0.5 * a + 0.5 * size + 0.06 * a)
        cy = anchor.cy
        behind = False
        if not (size / 2 <= cx <= width - size / 2):  # no room on that side: use the other one
            cx = anchor.cx - side * (0.5 * a + 0.5 * size + 0.06 * a)
    else:  # actions ("holding", "riding", "playing with"): close by, touching
        cx = anchor.cx + side * a * 0.75
        cy = anchor.cy + a * 0.05
        s_fac = 0.8
        behind = False
    half = size * s_fac / 2
    cx = float(min(max(cx, half), width - half))
    cy = float(min(max(cy, half), height - half))
    return cx, cy, s_fac, behind


# ----------------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------------


def paint_background(name: str, width: int, height: int) -> Image.Image:
    """The background as an RGB image (light, low-contrast patterns so objects stay separable)."""
    top, bottom, pattern = BACKGROUNDS.get(name, BACKGROUNDS["plain"])
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    if pattern == "horizon":
        t = (t > 0.55).astype(np.float32) * 0.85 + t * 0.15
    arr = np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t
    arr = np.broadcast_to(arr, (height, width, 3)).copy()
    rng = np.random.default_rng(hash_text(name) % 2**32)
    yy, xx = np.mgrid[0:height, 0:width]
    painter = _PATTERNS.get(pattern)
    if painter is not None:
        painter(arr, xx, yy, min(width, height) / 512.0, rng)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


# Pattern painters: each changes the HxWx3 float gradient `arr` in place, given the pixel grids, the
# image's scale `s` (1 at 512 px) and the background's own seeded rng.
_PatternFn = Callable[[np.ndarray, np.ndarray, np.ndarray, float, np.random.Generator], None]


def _grain(arr: np.ndarray, xx: np.ndarray, yy: np.ndarray, s: float, rng: np.random.Generator) -> None:
    arr += rng.normal(0, 3.0, (arr.shape[0], arr.shape[1], 1))


def _blades(arr: np.ndarray, xx: np.ndarray, yy: np.ndarray, s: float, rng: np.random.Generator) -> None:
    arr -= (np.sin(xx / (2.2 * s) + np.sin(yy / (9 * s)) * 3) > 0.8)[..., None] * 12


def _clouds(arr: np.ndarray, xx: np.ndarray, yy: np.ndarray, s: float, rng: np.random.Generator) -> None:
    height, width = arr.shape[:2]
    for _ in range(5):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height * 0.6), rng.uniform(30, 70) * s
        d = ((xx - cx) / 2.2) ** 2 + (yy - cy) ** 2
        arr += (d < r * r)[..., None] * 14


def _waves(arr: np.ndarray, xx: np.ndarray, yy: np.ndarray, s: float, rng: np.random.Generator) -> None:
    arr -= (np.sin(xx / (14 * s) + yy / (6 * s)) > 0.85)[..., None] * 12


def _dunes(arr: np.ndarray, xx: np.ndarray, yy: np.ndarray, s: float, rng: np.random.Generator) -> None:
    arr -= (np.sin(xx / (40 * s) + yy / (25 * s)) > 0.6)[..., None] * 9


def _trunks(arr: np.ndarray, xx: np.ndarray, yy: np.ndarray, s: float, rng: np.random.Generator) -> None:
    arr -= ((xx // max(1, int(60 * s))) % 3 == 0)[..., None] * ((xx % max(1, int(60 * s))) < 10 * s)[..., None] * 16


def _tiles(arr: np.ndarray, xx: np.ndarray, yy: np.ndarray, s: float, rng: np.random.Generator) -> None:
    step = max(4, int(48 * s))
    arr -= (((xx % step) < 2) | ((yy % step) < 2))[..., None] * 14


def _bricks(arr: np.ndarray, xx: np.ndarray, yy: np.ndarray, s: float, rng: np.random.Generator) -> None:
    step = max(4, int(32 * s))
    offset = ((yy // step) % 2) * step
    arr -= ((((xx + offset) % (2 * step)) < 2) | ((yy % step) < 2))[..., None] * 16


def _planks(arr: np.ndarray, xx: np.ndarray, yy: np.ndarray, s: float, rng: np.random.Generator) -> None:
    step = max(4, int(40 * s))
    arr -= ((yy % step) < 2)[..., None] * 22
    arr += np.sin(xx / (7 * s) + (yy // step) * 2.1)[..., None] * 5


def _stars(arr: np.ndarray, xx: np.ndarray, yy: np.ndarray, s: float, rng: np.random.Generator) -> None:
    stars = rng.random(arr.shape[:2]) < 0.0015
    arr[stars] = 235


#: Pattern -> its painter ("none" and "horizon" only shape the gradient).
_PATTERNS: dict[Pattern, _PatternFn] = {
    "grain": _grain, "blades": _blades, "clouds": _clouds, "waves": _waves, "dunes": _dunes, "trunks": _trunks,
    "tiles": _tiles, "bricks": _bricks, "planks": _planks, "stars": _stars,
}


def sprite_for(art: Artwork, obj: PlacedObject) -> tuple[Image.Image, np.ndarray]:
    """The RGBA sprite and body mask of a placed object (texture and shape applied)."""
    texture = obj.texture if obj.texture in TEXTURE_NAMES else None
    img = art.render(obj.cls, obj.size, obj.color, texture)
    body = art.body_mask(obj.cls, obj.size)
    if obj.shape in SHAPES:
        img, body = apply_shape(img, body, obj.shape)
    return img, body


def text_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A clean sans font (Pillow's bundled one: works offline, OCR reads it well)."""
    return ImageFont.load_default(size)


def draw_text_plate(
    canvas: Image.Image, text: str, cx: float, cy: float, max_width: int
) -> tuple[Box, Box]:
    """Draw `text` centred on a white plate; returns (text ink box, plate box)."""
    d = ImageDraw.Draw(canvas)
    size = 40
    while size > 12:
        f = text_font(size)
        l, t, r, b = d.textbbox((0, 0), text, font=f)
        if r - l <= max_width * 0.88:
            break
        size -= 2
    f = text_font(size)
    l, t, r, b = d.textbbox((0, 0), text, font=f)
    tw, th = r - l, b - t
    pad_x, pad_y = max(6, size // 3), max(4, size // 4)
    W, H = canvas.size
    x0 = round(min(max(cx - tw / 2, pad_x + 1), W - tw - pad_x - 1))
    y0 = round(min(max(cy - th / 2, pad_y + 1), H - th - pad_y - 1))
    plate = (x0 - pad_x, y0 - pad_y, x0 + tw + pad_x, y0 + th + pad_y)
    d.rounded_rectangle(plate, radius=max(2, size // 6), fill=(255, 255, 255), outline=(30, 30, 30),
                        width=max(1, size // 14))
    d.text((x0 - l, y0 - t), text, font=f, fill=(20, 20, 20))
    ink = Box(x0=max(0, x0), y0=max(0, y0), x1=min(W, x0 + tw), y1=min(H, y0 + th))
    plate_box = Box(x0=max(0, plate[0]), y0=max(0, plate[1]), x1=min(W, plate[2] + 1), y1=min(H, plate[3] + 1))
    return ink, plate_box


def apply_style(image: Image.Image, style: str | None) -> Image.Image:
    """Global look: the world's default is flat cartoon; other styles are simple filters."""
    restyle = _STYLE_FILTERS.get(style or "")
    return restyle(image) if restyle is not None else image


def _sketch(image: Image.Image) -> Image.Image:
    g = ImageOps.grayscale(image).filter(ImageFilter.FIND_EDGES)
    return ImageOps.invert(g).convert("RGB")


def _watercolor(image: Image.Image) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(1.6)).filter(ImageFilter.EDGE_ENHANCE)


def _pixel_art(image: Image.Image) -> Image.Image:
    w, h = image.size
    return image.resize((max(1, w // 8), max(1, h // 8)), Image.BILINEAR).resize((w, h), Image.NEAREST)


def _oil_painting(image: Image.Image) -> Image.Image:
    return image.filter(ImageFilter.ModeFilter(5))


def _sepia(image: Image.Image) -> Image.Image:
    g = np.asarray(ImageOps.grayscale(image), np.float32)[..., None]
    tint = np.asarray((1.07, 0.95, 0.74), np.float32)
    return Image.fromarray(np.clip(g * tint + 10, 0, 255).astype(np.uint8), "RGB")


def _monochrome(image: Image.Image) -> Image.Image:
    return ImageOps.grayscale(image).convert("RGB")


def _pop_art(image: Image.Image) -> Image.Image:
    return ImageOps.posterize(image, 2)


#: Style -> its filter. The default look (cartoon, photo, no style) and unknown styles draw unfiltered.
_STYLE_FILTERS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "sketch": _sketch, "pencil": _sketch, "watercolor": _watercolor, "pixel art": _pixel_art,
    "oil painting": _oil_painting, "vintage": _sepia, "sepia": _sepia, "black and white": _monochrome,
    "monochrome": _monochrome, "neon": ImageOps.invert, "pop art": _pop_art,
}


def render_layout(layout: Layout, width: int, height: int) -> tuple[Image.Image, WorldTruth]:
    """Paint a layout; returns the RGB image and the truth of what was drawn."""
    art = get_artwork()
    canvas = paint_background(layout.background, width, height).convert("RGBA")
    boxes: dict[int, Box] = {}
    drawn_color: dict[int, str] = {}
    written: dict[int, WorldText] = {}
    carried: dict[int, list[int]] = {}  # object index -> the texts written on it
    for k, t in enumerate(layout.texts):
        if t.on is not None:
            carried.setdefault(t.on, []).append(k)

    def write(k: int, z: int | None) -> None:
        t = layout.texts[k]
        ink, plate = draw_text_plate(canvas, t.text, t.cx, t.cy, t.width)
        # the letters' own pixels, read off the plate right after writing (nothing drawn over them yet): the
        # truth measures what hides or erases the letters, not the corners of their box
        letters = np.asarray(canvas.crop((ink.x0, ink.y0, ink.x1, ink.y1)).convert("RGB")).max(axis=-1) < 128
        written[k] = WorldText(element_id=t.element_id, text=t.text, box=ink, plate=plate, z=z,
                               ink=rle_encode(letters) if letters.any() else None)

    for i in sorted(range(len(layout.objects)), key=lambda j: layout.objects[j].z):
        obj = layout.objects[i]
        sprite, _ = sprite_for(art, obj)
        w, h = sprite.size
        x0, y0 = paste_centered(canvas, sprite, (obj.cx, obj.cy))
        cx0, cy0 = max(0, x0), max(0, y0)
        cx1, cy1 = max(cx0, min(width, x0 + w)), max(cy0, min(height, y0 + h))
        boxes[i] = Box(x0=cx0, y0=cy0, x1=cx1, y1=cy1)
        drawn_color[i] = obj.color or TEXTURE_DEFAULT_COLOR.get(obj.texture or "") or art.default_color(obj.cls)
        # A text is written on its carrier, so what stands in front of the carrier stands in front of it too.
        for k in carried.get(i, ()):
            write(k, obj.z)
    for k in range(len(layout.texts)):
        if k not in written:  # a free label (or one whose carrier is gone): over everything
            write(k, None)
    texts = [written[k] for k in range(len(layout.texts))]
    image = apply_style(canvas.convert("RGB"), layout.style)
    objects = [
        WorldObject(
            element_id=o.element_id, cls=o.cls, color=drawn_color.get(i, o.color or "gray"),
            texture=o.texture, shape=o.shape if o.shape in SHAPES else None, box=boxes[i], z=o.z,
            scale=round(o.scale, 4), size=o.size,
        )
        for i, o in enumerate(layout.objects)
    ]
    truth = WorldTruth(width=width, height=height, background=layout.background, style=layout.style,
                       objects=objects, texts=texts, unsupported=list(layout.unsupported))
    measure_occlusion(truth)
    return image, truth


#: `measure_occlusion` labels the pixels of text k's plate `_PLATE_LABEL - k` (objects are 0, 1, ...).
_PLATE_LABEL = -10


def measure_occlusion(truth: WorldTruth) -> None:
    """Fill every object's `visible` share and `covers` from the silhouettes, in drawing order.

    One rule for everything that draws (the renderer, and the editors after an edit): each object's
    silhouette is placed at its box, later (larger `z`) objects hide earlier ones, a text plate hides what
    was drawn before it (at its carrier's depth, or over everything when its `z` is None), except a plate on
    a sign, which is part of that sign (a sign carrying its text is a sign in plain view), and objects drawn
    after it hide the plate. An object `covers` another when the finished picture shows it on at least
    `MIN_OCCLUSION_PX` of the other's silhouette: what a viewer sees cut the other's outline. Each text's
    `visible` is the share of its ink (the letters' pixels, `WorldText.ink`; its box when not recorded) shown
    on its plate or its sign.
    """
    w, h = truth.width, truth.height
    label = np.full((h, w), -1, dtype=np.int32)
    placed: dict[int, tuple[np.ndarray, tuple[slice, slice]]] = {}
    areas: dict[int, int] = {}
    laid: set[int] = set()
    # the sign each plate is part of (-3: none), found once per text
    signs = [_sign_under_plate(truth, t) if t.plate is not None else -3 for t in truth.texts]

    def lay_plate(k: int) -> None:  # text k's plate hides what lies under it, except the sign it is part of
        plate = truth.texts[k].plate
        laid.add(k)
        if plate is not None:
            region = label[plate.y0 : plate.y1, plate.x0 : plate.x1]
            region[region != signs[k]] = _PLATE_LABEL - k

    for i in sorted(range(len(truth.objects)), key=lambda j: (truth.objects[j].z, j)):
        sil, where, areas[i] = placed_silhouette(truth.objects[i], w, h)
        placed[i] = (sil, where)
        label[where][sil] = i
        for k, t in enumerate(truth.texts):
            if k not in laid and t.z is not None and t.z <= truth.objects[i].z:
                lay_plate(k)
    for k in range(len(truth.texts)):
        if k not in laid:
            lay_plate(k)
    for k, t in enumerate(truth.texts):  # how much of the ink shows: on its plate or on the sign under it
        region = label[t.box.y0 : t.box.y1, t.box.x0 : t.box.x1]
        shown = ((region == _PLATE_LABEL - k) | (region == signs[k]))[t.ink_mask()]
        t.visible = round(float(shown.mean()), 4) if shown.size else 0.0
    visible = np.bincount(label[label >= 0].ravel(), minlength=len(truth.objects))
    covers: list[list[int]] = [[] for _ in truth.objects]
    for i, o in enumerate(truth.objects):
        o.visible = round(min(1.0, float(visible[i]) / areas[i]), 4) if areas[i] else 0.0
        sil, (ys, xs) = placed[i]
        shown = label[ys, xs][sil]  # who is seen on this object's silhouette
        counts = np.bincount(shown[shown >= 0], minlength=len(truth.objects))
        for j in np.flatnonzero(counts >= MIN_OCCLUSION_PX):
            if j != i:
                covers[int(j)].append(o.z)
    for o, zs in zip(truth.objects, covers, strict=True):
        o.covers = sorted(zs)


def placed_silhouette(o: WorldObject, width: int, height: int) -> tuple[np.ndarray, tuple[slice, slice], int]:
    """(the silhouette clipped to the image, the image slices it covers, its whole area) of a drawn object;
    a part outside the image counts as hidden.

    The sprite is `o.size` on its longer side (the box's longer side when unknown); a box cut by the
    image's left or top edge keeps the sprite's right or bottom edge.
    """
    b = o.box
    if b.x1 <= b.x0 or b.y1 <= b.y0:
        return np.zeros((0, 0), dtype=bool), (slice(0, 0), slice(0, 0)), 0
    art = get_artwork()
    size = o.size or max(b.x1 - b.x0, b.y1 - b.y0)
    sprite = art.render(o.cls, size)
    if o.shape in SHAPES:
        sprite, _ = apply_shape(sprite, art.body_mask(o.cls, size), o.shape)
    sil = np.asarray(sprite)[..., 3] > 127
    sh, sw = sil.shape
    x0 = b.x0 if b.x0 > 0 or b.x1 - b.x0 >= sw else b.x1 - sw
    y0 = b.y0 if b.y0 > 0 or b.y1 - b.y0 >= sh else b.y1 - sh
    src, dst = clip_window(x0, y0, sw, sh, width, height)
    return sil[src], dst, int(sil.sum())


def _sign_under_plate(truth: WorldTruth, text: WorldText) -> int:
    """Index of the sign a text plate is written on (-3 when it is a free label): the text's element's
    sign whose box holds most of the plate."""
    assert text.plate is not None
    best, best_area = -3, 0.5 * text.plate.area
    for i, o in enumerate(truth.objects):
        if o.cls == "sign" and o.element_id == text.element_id:
            inter = o.box.intersection(text.plate)
            if inter is not None and inter.area > best_area:
                best, best_area = i, inter.area
    return best


def render_scene(scene: Scene, seed: int = 0, width: int = 512, height: int = 512) -> tuple[Image.Image, WorldTruth]:
    """Faithful rendering of a scene (no painter errors): layout with a seeded rng, then paint."""
    rng = np.random.default_rng([seed, hash_text(scene.prompt) % 2**32])
    layout = layout_scene(scene, rng, width, height)
    image, truth = render_layout(layout, width, height)
    truth.prompt = scene.prompt
    return image, truth
