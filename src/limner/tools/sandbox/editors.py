"""Sandbox editors and inpainters: simulated image-editing tools that see only pixels and an instruction.

An editor reads the instruction with the shared grammar (`limner.reading.instructions`: the planner
writes its repairs in the same grammar), perceives the image with the checker's detector
(`detect.detect_objects`, `segment.estimate_background`, OCR for text), changes pixels the way the
instruction asks, with the success rate and side effects of its hidden profile (`profiles.EditorProfile`),
and may leave blemishes. Objects are erased by painting the estimated background over them and redrawn
from the artwork. Inpainters also read "fix | restore | clean up | remove the defect" (repaint the masked
area from its surroundings) and "fix the {noun}" (also redraw that object cleanly where the mask hits it).

Each operation kind is one small function in `_EDITS`; how well this call does it (`Done`: full, partial or
not at all) is drawn once from the profile before it runs.

Overlapping objects are re-composited as an editor that understands the picture would: erasing an object
keeps the pixels of those in front of it and draws in the parts of those behind it that it hid; an object
redrawn in its place (recolour, retexture, reshape, replace) goes back beneath what was in front of it. The
detector sees only the classes it is told, so `call.params["context"]` (public: the input's description,
class names or {"cls", "shape"}; the agent passes it when editing a described image) names what else the
picture holds, shaped classes included (a round bed is a bed when the context says "round bed").

Benchmark-only private channel: `call.params["_truth_in"]` may carry the previous `WorldTruth` (JSON) so
the editor returns an updated truth in `ToolResult.ground_truth`. Editors never *read* it to decide what
to do; without it they work the same and return `ground_truth=None`.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, UnidentifiedImageError

from limner.geometry import overlap_of_smaller
from limner.imaging import paste_centered
from limner.reading.instructions import EditKind, EditOp, InstructionError
from limner.reading.instructions import parse_instruction as read_instruction
from limner.tools.base import Tool, ToolError
from limner.tools.ocr import read_text
from limner.tools.sandbox.artwork import CLASS_ART, COLOR_RGB, get_artwork, shaped_class, split_shaped
from limner.tools.sandbox.blemishes import add_random_blemishes
from limner.tools.sandbox.detect import CONFIDENT_SCORE, detect_objects
from limner.tools.sandbox.painters import call_rng
from limner.tools.sandbox.profiles import EditorProfile, editor_profile, garble, near_color
from limner.tools.sandbox.render import (
    RIDER_SCALE,
    STYLES,
    apply_style,
    background_key,
    contents_side,
    draw_text_plate,
    held_reach,
    measure_occlusion,
    on_top_cy,
    paint_background,
    placed_silhouette,
    resting_cy,
    style_key,
    worn_factor,
)
from limner.tools.sandbox.segment import estimate_background
from limner.tools.sandbox.world import Blemish, WorldObject, WorldText, WorldTruth, rle_encode
from limner.types import EDIT_DIMS, Box, ToolCall, ToolResult

__all__ = ["MIN_SCORE", "EditOp", "Editor", "Inpainter", "load_image", "parse_instruction"]

#: Detections below this template-match score are not acted on (the detector's confident match).
MIN_SCORE = CONFIDENT_SCORE
#: How far outside its fitted silhouette an erased object's own pixels may lie (fit error, anti-aliasing).
_EDGE_PX = 5
#: Two perceived objects whose drawings share fewer pixels than this do not hide each other.
_MIN_OVERLAP_PX = 20

#: How much of an edit one call carries out (drawn from the profile's skill on the edit's dimension).
Done = Literal["full", "partial", "none"]


def parse_instruction(text: str) -> EditOp:
    """The shared grammar's reading, with the background and style mapped onto what the sandbox paints;
    a ToolError naming what was not understood."""
    try:
        op = read_instruction(text)
    except InstructionError as e:
        raise ToolError(str(e)) from e
    if op.kind == "background":
        return replace(op, background=background_key(op.background))
    if op.kind == "style":
        style = style_key(op.style)
        if style not in STYLES:
            raise ToolError(f"unknown style {op.style!r}; styles: {', '.join(STYLES)}")
        return replace(op, style=style)
    return op


# ----------------------------------------------------------------------------------------------------
# Perception and drawing (through the checker's detector and the artwork)
# ----------------------------------------------------------------------------------------------------


def load_image(image: Any) -> Image.Image:
    """An RGB PIL image from a PIL image, path or bytes; a clear ToolError for anything else."""
    try:
        if isinstance(image, Image.Image):
            image.load()
            return image.convert("RGB")
        if isinstance(image, (bytes, bytearray)):
            return Image.open(io.BytesIO(image)).convert("RGB")
        if isinstance(image, (str, Path)):
            with Image.open(image) as im:
                return im.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ToolError(f"input is not a readable image: {e}") from e
    raise ToolError(f"input image must be a PIL image, path or bytes, got {type(image).__name__}")


@dataclass
class _Seen:
    """An object as the editor perceives it."""

    cls: str
    box: Box
    color: str | None
    size: int
    texture: str | None = None
    origin: _Seen | None = None  # the perceived object this one redraws (recolour, move, restore)
    shape: str | None = None  # the shape it was drawn in ("round"); None: its artwork's own
    under: bool = False  # redrawn in place beneath the objects that were in front of it (keeps its depth)

    @property
    def center(self) -> tuple[float, float]:
        return self.box.center

    @property
    def art_name(self) -> str:
        """The artwork it is drawn from: its class, reshaped when it has a shape (`artwork.shaped_class`)."""
        return _art_name(self.cls, self.shape)


def _art_name(cls: str, shape: str | None) -> str:
    return shaped_class(cls, shape) if shape else cls


SideEffectKind = Literal["shift", "recolour"]


class _SideEffect(NamedTuple):
    """A sloppy editor's change to something it was not asked to touch."""

    kind: SideEffectKind
    box: Box
    shift: tuple[int, int]
    color: str | None
    mask: np.ndarray | None = None  # the blob's pixels (image-sized): every object on them was shifted or recoloured


class _Canvas:
    """The image being edited, what the editor believes is in it, and the pixels it changed."""

    def __init__(self, image: Image.Image, classes: list[str] | None, region: np.ndarray | None = None) -> None:
        self.image = image
        self.width, self.height = image.size
        self.bg = estimate_background(image)
        self.classes = sorted(set(classes or ()))
        self.seen: list[_Seen] = []
        self.initial: list[_Seen] = []  # what the editor saw before changing anything
        self._perceive(self.classes)
        self.region = _region_box(region) if region is not None else None  # an inpainter's mask: place inside
        self.touched: list[Box] = []     # boxes the edit itself erased or drew
        # erased objects that had others in front of them: (those others' silhouettes, the pixels after the
        # erase), so that a redraw in place goes beneath them again
        self._front: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.side_effects: list[_SideEffect] = []
        # integral image of the foreground: new objects avoid everything drawn, even unnamed classes
        fg = (~self.bg.mask).astype(np.int64)
        self._fg = np.pad(fg.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        self.art = get_artwork()
        self._rgb_of: Image.Image | None = None
        self._rgb = np.zeros((0, 0, 3), np.int16)

    def _rgb16(self) -> np.ndarray:
        """The picture as int16 RGB, converted once per state of the picture: the layer fits of
        `depth_neighbours` read it once per overlapping object. Every change assigns a new `self.image`,
        and the cache holds the image it was made from, so identity tells a stale copy."""
        if self._rgb_of is not self.image:
            self._rgb_of, self._rgb = self.image, np.asarray(self.image.convert("RGB"), np.int16)
        return self._rgb

    def _perceive(self, classes: list[str]) -> None:
        # Told which classes to look for, the detector also offers weak matches on other objects;
        # an editor acts only on confident ones (true matches score ~0.99, look-alikes ~0.6).
        dets = [d for d in detect_objects(self.image, classes) if d.score >= MIN_SCORE]
        self.seen = [_Seen(cls=split_shaped(d.cls)[0], shape=split_shaped(d.cls)[1], box=d.box, color=d.color,
                           size=d.size or max(d.box.x1 - d.box.x0, d.box.y1 - d.box.y0)) for d in dets]
        self.initial = list(self.seen)

    def of(self, cls: str) -> list[_Seen]:
        return sorted((s for s in self.seen if s.cls == cls), key=lambda s: (s.box.x0, s.box.y0))

    def find(self, cls: str) -> list[_Seen]:
        """The perceived objects of `cls`, in whatever outline they were drawn when the caller's `context`
        names it (a round bed is a bed: `context` {"cls": "bed", "shape": "round"} has "bed|round" perceived).

        Without context a shaped object is not looked for in every outline the world draws: the detector
        sees only the classes it is told, and an outline-shaped template of the named class fits other
        objects drawn in that outline ("make the hot dogs orange" matched teardrop teddy bears as teardrop
        hot dogs and redrew two of them, in the repair pictures of `benchmarks/sandbox.py`'s painted section,
        seed 1)."""
        return self.of(cls)

    def footprint(self, s: _Seen) -> np.ndarray:
        """Image-sized mask of an object: its silhouette at its place plus the non-background pixels of
        its (slightly grown) box near the silhouette that no other perceived object claims, so anti-aliased
        edges go too. Only near it (`_EDGE_PX`): an object the editor does not perceive (told nothing of it)
        that lies partly in the box keeps what the silhouette does not cover, rather than being cut along the
        box."""
        sil = self.art.silhouette(s.art_name, s.size)
        out = np.zeros((self.height, self.width), dtype=bool)
        h, w = sil.shape
        cx, cy = s.center
        x0, y0 = round(cx - w / 2), round(cy - h / 2)
        sx0, sy0, dx0, dy0 = max(0, -x0), max(0, -y0), max(0, x0), max(0, y0)
        dx1, dy1 = min(self.width, x0 + w), min(self.height, y0 + h)
        if dx1 > dx0 and dy1 > dy0:
            out[dy0:dy1, dx0:dx1] = sil[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0]
        pad = 4
        box = np.zeros_like(out)
        box[max(0, s.box.y0 - pad) : s.box.y1 + pad, max(0, s.box.x0 - pad) : s.box.x1 + pad] = True
        fg = np.asarray(Image.fromarray((~self.bg.mask).astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(5))) > 127
        others = np.zeros_like(out)
        for o in self.seen:
            if o is not s and o.box.overlaps(s.box):
                others[o.box.y0 : o.box.y1, o.box.x0 : o.box.x1] = True
        near = np.asarray(Image.fromarray(out.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(2 * _EDGE_PX + 1))) > 127
        return out | (box & fg & ~others & near)

    def layer(self, s: _Seen, color: str | None) -> tuple[np.ndarray, np.ndarray]:
        """(silhouette, RGB) of `s` drawn alone where it is perceived, image-sized, as `draw` would paste it."""
        sprite = self.art.render(s.art_name, max(8, s.size), color)
        w, h = sprite.size
        cx = min(max(s.center[0], w / 2), self.width - w / 2)
        cy = min(max(s.center[1], h / 2), self.height - h / 2)
        canvas = Image.new("RGBA", (self.width, self.height), (0, 0, 0, 0))
        paste_centered(canvas, sprite, (cx, cy))
        arr = np.asarray(canvas)
        return arr[..., 3] > 127, arr[..., :3]

    def fitted_layer(self, s: _Seen, hidden: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, str | None]:
        """`s`'s layer in the colouring that best explains its pixels outside `hidden` (its artwork's own
        colours, None, or the colour read on it): (silhouette, RGB, mean absolute error there, colour)."""
        rgb = self._rgb16()
        best: tuple[np.ndarray, np.ndarray, float, str | None] | None = None
        for color in dict.fromkeys((None, s.color if s.color in COLOR_RGB else None)):
            sil, layer = self.layer(s, color)
            seen = sil & ~hidden
            if not seen.any():
                seen = sil
            err = float(np.abs(rgb[seen] - layer[seen].astype(np.int16)).mean()) if seen.any() else 255.0
            if best is None or err < best[2]:
                best = (sil, layer, err, color)
        assert best is not None
        return best

    def own_color(self, s: _Seen) -> str | None:
        """The colour to redraw `s` in, keeping its look: None (its artwork's own colours) when they explain
        its pixels better than the colour read on it (a light-blue couch read as silver would turn silver)."""
        return self.fitted_layer(s, np.zeros((self.height, self.width), dtype=bool))[3]

    def depth_neighbours(self, s: _Seen) -> tuple[list[np.ndarray], list[tuple[np.ndarray, np.ndarray]]]:
        """The perceived objects `s` overlaps, split by what the pixels of the overlap show: the silhouettes
        of those in front of `s`, and (silhouette, RGB) of those behind it. The one whose drawing explains
        the overlap's pixels better is in front (as a painter composites them)."""
        rgb = self._rgb16()
        own = self.fitted_layer(s, np.zeros((self.height, self.width), dtype=bool))
        front: list[np.ndarray] = []
        behind: list[tuple[np.ndarray, np.ndarray]] = []
        for o in self.seen:
            if o is s or not o.box.overlaps(s.box):
                continue
            sil, layer, *_ = self.fitted_layer(o, own[0])
            both = sil & own[0]
            if int(both.sum()) < _MIN_OVERLAP_PX:
                continue
            err_o = float(np.abs(rgb[both] - layer[both].astype(np.int16)).mean())
            err_s = float(np.abs(rgb[both] - own[1][both].astype(np.int16)).mean())
            if err_o < err_s:
                front.append(sil)
            else:
                behind.append((sil, layer))
        return front, behind

    def erase(self, s: _Seen) -> None:
        """Remove `s` and re-composite what it overlapped: the pixels of objects in front of it stay, and
        the parts of objects behind it that it hid are drawn in (as an editor that removes an object fills
        in what was behind it, rather than leaving a hole of background in it). Objects the editor does not
        perceive cannot be completed; the caller's `context` names what the picture holds."""
        front, behind = self.depth_neighbours(s)
        region = self.footprint(s)
        for sil in front:
            region &= ~sil
        image = np.asarray(self.bg.erase(self.image, region)).copy()
        for sil, layer in behind:
            hole = region & sil
            image[hole] = layer[hole]
        self.image = Image.fromarray(image)
        if front:  # a redraw in place goes beneath them again (`draw`, origin)
            self._front[id(s)] = (np.logical_or.reduce(front), np.asarray(self.image).copy())
        self.seen = [o for o in self.seen if o is not s]
        self.touched.append(s.box)

    def draw(self, cls: str, size: int, cx: float, cy: float, color: str | None, texture: str | None,
             origin: _Seen | None = None, shape: str | None = None, beneath: bool = True) -> _Seen:
        """Paste a new sprite. Redrawing an erased object in its place (`origin`, same place) keeps it behind
        whatever was in front of it: those pixels are put back over it (unless not `beneath`)."""
        sprite = self.art.render(_art_name(cls, shape), max(8, size), color, texture)
        w, h = sprite.size
        cx = min(max(cx, w / 2), self.width - w / 2)
        cy = min(max(cy, h / 2), self.height - h / 2)
        canvas = self.image.convert("RGBA")
        x0, y0 = paste_centered(canvas, sprite, (cx, cy))
        self.image = canvas.convert("RGB")
        under = False
        kept = self._front.pop(id(origin), None) if origin is not None else None
        if (beneath and kept is not None and origin is not None
                and abs(cx - origin.center[0]) + abs(cy - origin.center[1]) < 3):
            cover, pixels = kept
            out = np.asarray(self.image).copy()
            out[cover] = pixels[cover]
            self.image = Image.fromarray(out)
            under = True
        box = Box(x0=max(0, x0), y0=max(0, y0), x1=min(self.width, x0 + w), y1=min(self.height, y0 + h))
        new = _Seen(cls=cls, box=box, color=color or self.art.default_color(cls), size=max(8, size),
                    texture=texture, origin=origin, shape=shape, under=under)
        self.seen.append(new)
        self.touched.append(box)
        return new

    def redraw(self, s: _Seen, origin: _Seen | None = None, on_top: bool = False) -> _Seen:
        """Draw a perceived object again where it is, in its own colour when that is one the artwork paints;
        `on_top`: in front of everything (else beneath what was in front of it when it was erased)."""
        return self.draw(s.cls, s.size, *s.center, color=s.color if s.color in COLOR_RGB else None, texture=None,
                         origin=origin or s, shape=s.shape, beneath=not on_top)

    def paste_faint(self, sprite: Image.Image, center: tuple[float, float], alpha: float) -> None:
        """A half-transparent copy of `sprite` (the ghost a half-done removal leaves)."""
        arr = np.asarray(sprite).copy()
        arr[..., 3] = (arr[..., 3] * alpha).astype(np.uint8)
        canvas = self.image.convert("RGBA")
        paste_centered(canvas, Image.fromarray(arr, "RGBA"), center)
        self.image = canvas.convert("RGB")

    def free_spot(self, size: int, rng: np.random.Generator, relation: str | None = None,
                  anchor: _Seen | None = None, art_name: str | None = None) -> tuple[float, float, int]:
        """(cx, cy, size) for a new object that satisfies `relation` to `anchor` and overlaps least;
        the object shrinks (down to 60 %) when the picture is too crowded for it. `art_name`: what will be
        drawn, whose real height puts a thing `on` its anchor touching it (a flat one sized by its longer
        side floated above)."""
        best: tuple[float, float, float, int] | None = None
        for shrink in (1.0, 0.85, 0.72, 0.6):
            s = max(8, int(size * shrink))
            drawn_h = self.art.render(art_name, max(8, s)).size[1] if art_name and relation == "on" else None
            for _ in range(60):
                cx, cy = self._candidate(s, rng, relation, anchor, drawn_h)
                ov = self._overlap((cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2), s, relation, anchor)
                if best is None or ov < best[0]:
                    best = (ov, cx, cy, s)
                if ov < 0.02:
                    return cx, cy, s
            if best is not None and best[0] < 0.12:
                break
        assert best is not None
        return best[1], best[2], best[3]

    def _candidate(self, s: int, rng: np.random.Generator, relation: str | None,
                   anchor: _Seen | None, drawn_h: int | None = None) -> tuple[float, float]:
        W, H = self.width, self.height
        half = s / 2
        free_x, free_y = rng.uniform(half, max(half + 1, W - half)), rng.uniform(half, max(half + 1, H - half))
        if self.region is not None:
            r = self.region
            free_x = rng.uniform(r.x0, max(r.x0 + 1, r.x1))
            free_y = rng.uniform(r.y0, max(r.y0 + 1, r.y1))
        if anchor is None or relation is None:
            cx, cy = free_x, free_y
            if self.region is not None:
                cx = min(max(cx, self.region.x0 + half), max(self.region.x0 + half, self.region.x1 - half))
                cy = min(max(cy, self.region.y0 + half), max(self.region.y0 + half, self.region.y1 - half))
            return float(min(max(cx, half), W - half)), float(min(max(cy, half), H - half))
        cx, cy = _beside(anchor, relation, half, (free_x, free_y), (W, H), rng, drawn_h)
        if self.region is not None:  # new things go where the inpainting mask allows them
            r = self.region
            cx = min(max(cx, r.x0 + half), max(r.x0 + half, r.x1 - half))
            cy = min(max(cy, r.y0 + half), max(r.y0 + half, r.y1 - half))
        return float(min(max(cx, half), W - half)), float(min(max(cy, half), H - half))

    def _overlap(self, box: tuple[float, float, float, float], s: int, relation: str | None,
                 anchor: _Seen | None) -> float:
        x0, y0 = int(max(0, box[0])), int(max(0, box[1]))
        x1, y1 = int(min(self.width, box[2])), int(min(self.height, box[3]))
        ov = 0.0
        if x1 > x0 and y1 > y0 and relation not in ("on", "in front of", "behind"):
            f = self._fg
            ov = float(f[y1, x1] - f[y0, x1] - f[y1, x0] + f[y0, x0]) / ((x1 - x0) * (y1 - y0)) * 2
        for o in self.seen:
            if o is anchor and relation in ("on", "in front of", "behind"):
                continue
            # a float box (a candidate centre), so the arithmetic stays here rather than on `Box`
            iw = min(box[2], o.box.x1) - max(box[0], o.box.x0)
            ih = min(box[3], o.box.y1) - max(box[1], o.box.y0)
            if iw > 0 and ih > 0:
                ov = max(ov, iw * ih / max(1.0, min(s * s, o.box.area)))
        return ov

    def typical_size(self) -> int:
        if self.seen:
            return int(np.median([s.size for s in self.seen]))
        return int(min(self.width, self.height) * 0.3)


def _beside(anchor: _Seen, relation: str, half: float, free: tuple[float, float], size: tuple[int, int],
            rng: np.random.Generator, drawn_h: int | None = None) -> tuple[float, float]:
    """A centre that puts a new object of half-size `half` (drawn `drawn_h` high, when known) in `relation`
    to `anchor` (`free` where the relation leaves an axis open)."""
    (W, H), (free_x, free_y) = size, free
    ax, ay = anchor.center
    aw, ah = anchor.box.x1 - anchor.box.x0, anchor.box.y1 - anchor.box.y0
    if relation == "left of":
        return rng.uniform(half, max(half + 1, anchor.box.x0 - half * 0.4)), free_y
    if relation == "right of":
        return rng.uniform(min(W - half - 1, anchor.box.x1 + half * 0.4), W - half), free_y
    if relation == "above":
        return free_x, rng.uniform(half, max(half + 1, anchor.box.y0 - half * 0.4))
    if relation == "below":
        return free_x, rng.uniform(min(H - half - 1, anchor.box.y1 + half * 0.4), H - half)
    if relation == "on":  # resting on its top, as the renderer draws it (`render.resting_cy`)
        h = drawn_h if drawn_h is not None else 1.2 * half
        return ax + rng.uniform(-0.25, 0.25) * aw, resting_cy(anchor.box.y0, h, ah)
    if relation == "next to":
        side = 1 if rng.random() < 0.5 else -1
        return ax + side * (aw / 2 + half + rng.uniform(2, 0.15 * W)), ay + rng.uniform(-0.4, 0.4) * ah
    if relation in ("in front of", "behind"):
        cx = ax + (1 if rng.random() < 0.5 else -1) * 0.45 * aw
        return cx, ay + (0.2 if relation == "in front of" else -0.2) * ah
    return free_x, free_y


def _region_box(mask: np.ndarray) -> Box | None:
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    return Box(x0=int(xs.min()), y0=int(ys.min()), x1=int(xs.max()) + 1, y1=int(ys.max()) + 1)


def _group(seen: list[_Seen]) -> _Seen | None:
    """Several perceived objects as one anchor: their union box."""
    box = Box.union([o.box for o in seen])
    if box is None:
        return None
    return _Seen(cls=seen[0].cls, box=box, color=None, size=max(o.size for o in seen))


# ----------------------------------------------------------------------------------------------------
# The editing engine shared by both tool types: one function per operation kind
# ----------------------------------------------------------------------------------------------------


@dataclass
class _Job:
    """One edit under way: the operation, how much of it this call does, and what it noted."""

    op: EditOp
    done: Done  # "full" or "partial": an edit not done at all never reaches an operation
    profile: EditorProfile
    rng: np.random.Generator
    region: np.ndarray | None
    notes: list[str] = field(default_factory=list)
    context: tuple[str, ...] = ()  # artwork names of objects the caller says the picture holds

    @property
    def full(self) -> bool:
        return self.done == "full"


@dataclass
class _Edited:
    """What an edit produced: the image, how much was done, notes, and the perceived objects (None for
    edits of the whole picture, which perceive none)."""

    image: Image.Image
    done: Done
    notes: list[str]
    canvas: _Canvas | None = None


def _draw_done(profile: EditorProfile, dimension: str, rng: np.random.Generator) -> Done:
    """Full with the profile's skill on `dimension`; of the failures, `profile.partial` are half done."""
    u = rng.random()
    p = profile.p(dimension)
    return "full" if u < p else ("partial" if u < p + (1 - p) * profile.partial else "none")


def _edit(op: EditOp, image: Image.Image, profile: EditorProfile, rng: np.random.Generator,
          region: np.ndarray | None, context: tuple[str, ...] = ()) -> _Edited:
    """Apply `op` to the image with the profile's success rate and side effects."""
    done = _draw_done(profile, op.dimension, rng)
    if done == "none":
        return _Edited(image, "none", [f"{op.kind} not carried out"])
    return _EDITS[op.kind](image, _Job(op, done, profile, rng, region, context=context))


def context_names(raw: Any) -> tuple[str, ...]:
    """The artwork names of a call's `context` parameter: what the caller knows the picture holds (the
    input's description), as class names or {"cls": ..., "shape": ...} objects. A real editor sees every
    object of the picture; the sandbox's detector looks only for the classes it is told, so without them
    an object that overlaps the edited one is not seen (a couch behind a horse matches weakly alone) and
    cannot be kept in its place. Classes the world does not draw are left out; a malformed entry is a
    ToolError."""
    if raw is None:
        return ()
    if not isinstance(raw, (list, tuple)):
        raise ToolError(f"the context parameter must be a list of objects, got {type(raw).__name__}")
    art = get_artwork()
    out: list[str] = []
    for item in raw:
        if isinstance(item, str):
            cls, shape = item, None
        elif isinstance(item, dict) and isinstance(item.get("cls"), str):
            cls, shape = item["cls"], item.get("shape")
        else:
            raise ToolError(f"a context entry must be a class name or {{'cls': ..., 'shape': ...}}, got {item!r}")
        name = shaped_class(cls, shape) if isinstance(shape, str) and art.supports(shaped_class(cls, shape)) else cls
        if art.supports(name):
            out.append(name)
    return tuple(dict.fromkeys(out))


# -- whole-picture operations ------------------------------------------------------------------------

PixelEdit = Callable[[Image.Image, _Job], Image.Image]
ObjectEdit = Callable[[_Canvas, _Job], None]
Operation = Callable[[Image.Image, _Job], _Edited]


def _on_pixels(edit: PixelEdit) -> Operation:
    """An operation on the whole picture: no objects perceived, no neighbours disturbed."""

    def run(image: Image.Image, job: _Job) -> _Edited:
        return _Edited(edit(image, job), job.done, job.notes)

    return run


def _restyle(image: Image.Image, job: _Job) -> Image.Image:
    styled = apply_style(image, job.op.style)
    if not job.full:  # the look only half applied
        styled = Image.blend(image.convert("RGB"), styled.convert("RGB"), 0.5)
        job.notes.append("style half applied")
    return styled


#: The note of a background edit that repainted only the upper half (a "partial" outcome: the truth keeps the
#: old lower half).
PARTLY_REPAINTED = "background only partly changed"


def _new_background(image: Image.Image, job: _Job) -> Image.Image:
    bg = estimate_background(image)
    w, h = image.size
    fresh = np.asarray(paint_background(job.op.background or "plain", w, h))
    out = np.asarray(image).copy()
    mask = bg.mask.copy()
    if not job.full:  # only the upper part was repainted
        mask[h // 2 :] = False
        job.notes.append(PARTLY_REPAINTED)
    out[mask] = fresh[mask]
    return Image.fromarray(out)


def _retext(image: Image.Image, job: _Job) -> Image.Image:
    lines = read_text(image, min_score=0.8)  # weak reads are usually drawings, not text
    if not lines:
        raise ToolError("no text found in the image to change")
    _, box, _ = max(lines, key=lambda ln: ln[2] * ln[1].area)
    text = job.op.text or ""
    if not job.full:
        text = garble(text, 0.25, job.rng)
        job.notes.append(f"wrote {text!r}")
    out = image.copy()
    th = box.y1 - box.y0
    pad = max(4, th // 4)
    d = ImageDraw.Draw(out)
    d.rectangle((box.x0 - pad, box.y0 - pad // 2 - 2, box.x1 + pad, box.y1 + pad // 2 + 2), fill=(255, 255, 255))
    draw_text_plate(out, text, *box.center, max_width=max(box.x1 - box.x0 + 2 * pad, 60))
    return out


def _inpaint_classic(image: Image.Image, region: np.ndarray | None) -> Image.Image:
    """Repaint the masked area from its surroundings (OpenCV Telea), as a class-agnostic inpainter does."""
    if region is None:
        raise ToolError("restore needs a mask of the area to repaint")
    rgb = np.asarray(image.convert("RGB"))
    mask = np.asarray(Image.fromarray(region.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(3)))
    return Image.fromarray(cv2.inpaint(np.ascontiguousarray(rgb), mask, 5, cv2.INPAINT_TELEA))


# -- operations on perceived objects ------------------------------------------------------------------


def _on_objects(edit: ObjectEdit) -> Operation:
    """An operation on the objects the editor perceives; afterwards a sloppy editor disturbs neighbours."""

    def run(image: Image.Image, job: _Job) -> _Edited:
        op = job.op
        classes = sorted({c for c in (op.cls, op.new_cls, op.anchor) if c})
        undrawable = [c for c in classes if c not in CLASS_ART]
        if undrawable:
            raise ToolError(f"the sandbox world cannot draw or find {undrawable}")
        # The editor looks for the class in the shape the instruction names too ("change the number of round
        # clocks to 3" finds the round ones): searching every shape would multiply the detector's work.
        cv = _Canvas(image, sorted({*classes, *_shaped(op), *job.context}), job.region)
        edit(cv, job)
        _disturb_neighbours(cv, job)
        return _Edited(cv.image, job.done, job.notes, cv)

    return run


def _shaped(op: EditOp) -> list[str]:
    """The artwork names of the instruction's class in the shape it names, when the artwork has them."""
    if op.shape is None:
        return []
    names = [shaped_class(c, op.shape) for c in (op.cls, op.new_cls) if c]
    art = get_artwork()
    return [n for n in names if art.supports(n)]


def _targets(cv: _Canvas, job: _Job, verb: str) -> list[_Seen]:
    """The perceived objects of the operation's class; a ToolError when there are none."""
    targets = cv.find(job.op.cls or "")
    if not targets:
        raise ToolError(f"no {job.op.cls} found in the image to {verb}")
    return targets


def _repaint(cv: _Canvas, job: _Job) -> None:
    """recolor / retexture / reshape: every object of the class (keeping what the instruction does not name:
    a recoloured round clock stays round); half done, only some, or a near colour."""
    op = job.op
    targets = _targets(cv, job, op.kind)
    if not job.full and len(targets) > 1:
        targets = targets[: len(targets) // 2]
        job.notes.append("only some objects changed")
    for t in targets:
        # what the instruction does not name is kept: the colouring that explains the object's pixels best
        color = op.color if op.kind == "recolor" else cv.own_color(t)
        if not job.full and len(targets) == 1 and op.kind == "recolor":
            color = near_color(op.color or "")
            job.notes.append(f"painted {color} instead of {op.color}")
        texture = op.texture if op.kind == "retexture" else None
        shape = op.shape if op.kind == "reshape" else t.shape
        cv.erase(t)
        cv.draw(t.cls, t.size, *t.center, color=color, texture=texture, origin=t, shape=shape)


def _add(cv: _Canvas, job: _Job) -> None:
    n = job.op.count or 1
    _place(cv, job, cv.of(job.op.cls or ""), n if job.full else max(0, n - 1), job.op.color, job.op.shape)


def _recount(cv: _Canvas, job: _Job) -> None:
    """Erase the surplus (half of it when half done) or add the missing ones (one too few)."""
    existing = cv.find(job.op.cls or "")
    want = job.op.count or 0
    missing = want - len(existing)
    if missing < 0:
        for t in existing[want:][: (-missing if job.full else max(1, -missing // 2))]:
            cv.erase(t)
        return
    color = job.op.color or (existing[0].color if existing else None)
    shape = job.op.shape or (existing[0].shape if existing else None)
    _place(cv, job, existing, missing if job.full else max(0, missing - 1), color, shape)


def _place(cv: _Canvas, job: _Job, existing: list[_Seen], n: int, color: str | None,
           shape: str | None = None) -> None:
    """Draw `n` new objects of the class, sized like those present, where the relation asks (anywhere when
    half done); one placed behind its anchor has the anchor redrawn on top."""
    op = job.op
    anchor = (cv.find(op.anchor) or [None])[0] if op.anchor else None
    if op.anchor and anchor is None:
        job.notes.append(f"anchor {op.anchor} not found; placed freely")
    size = existing[0].size if existing else cv.typical_size()
    rel = op.relation if job.full else None
    for _ in range(n):
        cx, cy, s = cv.free_spot(size, job.rng, rel, anchor, _art_name(op.cls or "", shape))
        cv.draw(op.cls or "", s, cx, cy, color=color, texture=op.texture, shape=shape)
        if rel == "behind" and anchor is not None:  # redraw the anchor on top: it is in front
            cv.erase(anchor)
            anchor = cv.redraw(anchor, origin=anchor.origin or anchor, on_top=True)


def _remove(cv: _Canvas, job: _Job) -> None:
    """The first object (every one for "remove all"); half done, half of them and a faint ghost stays."""
    targets = _targets(cv, job, "remove")
    if not job.op.all:
        targets = targets[:1]
    if job.full:
        for t in targets:
            cv.erase(t)
        return
    for t in targets[: max(1, len(targets) // 2)]:
        cv.erase(t)
        ghost = cv.art.render(t.art_name, t.size, t.color if t.color in COLOR_RGB else None)
        cv.paste_faint(ghost, t.center, 0.35)
    job.notes.append("ghost of removed object left")


def _replace(cv: _Canvas, job: _Job) -> None:
    """The first object becomes the new one, in its place and size; a plural ("replace the cups with three
    bowls") replaces as many as it names, each in its place. Half done: one object, the old one redrawn;
    several, only half of them replaced."""
    op = job.op
    targets = _targets(cv, job, "replace")
    chosen = targets[: max(1, op.count or 1)]
    redo_old = not job.full and len(chosen) == 1
    if redo_old:
        job.notes.append("redrew the old object instead of the new one")
    elif not job.full:
        chosen = chosen[: len(chosen) // 2]
        job.notes.append("only some objects replaced")
    for t in chosen:
        cv.erase(t)
        cv.draw((op.cls if redo_old else op.new_cls) or t.cls, t.size, *t.center, color=op.color,
                texture=op.texture, origin=t, shape=t.shape if redo_old else op.shape)


def _move(cv: _Canvas, job: _Job) -> None:
    """The first object (all of them for a plural) to where the relation puts it; half done, anywhere."""
    op = job.op
    targets = _targets(cv, job, "move")
    if op.relation in _CONTACT_SPOTS:
        _contact_move(cv, job, targets)
        return
    anchors = cv.find(op.anchor or "")
    moving = targets if op.all else targets[:1]
    anchor = _group(anchors) if op.anchor_all else (anchors[0] if anchors else None)
    colors = [cv.own_color(t) for t in moving]  # read before anything is erased
    for t in moving:
        cv.erase(t)
    rel = op.relation if job.full else None
    for t, color in zip(moving, colors, strict=True):
        cx, cy, s = cv.free_spot(t.size, job.rng, rel, anchor, t.art_name)
        cv.draw(t.cls, s, cx, cy, color=color, texture=None, origin=t, shape=t.shape)
    if rel == "behind" and anchor is not None and not op.anchor_all and any(o is anchor for o in cv.seen):
        color = cv.own_color(anchor)
        cv.erase(anchor)  # moved behind it: the anchor is drawn again, in front
        cv.draw(anchor.cls, anchor.size, *anchor.center, color=color, texture=None, origin=anchor.origin or anchor,
                shape=anchor.shape, beneath=False)


def _contact_move(cv: _Canvas, job: _Job, targets: list[_Seen]) -> None:
    """A contact move ("move the apple into the bowl", "make the dog wear the hat"): the one object of the
    class nearest the anchor goes where the renderer would have drawn it (`_CONTACT_SPOTS`), resized as the
    renderer sizes it and drawn in front of the anchor; half done, anywhere at its own size (as other moves).

    One object moves, not every one of the class: the contact rules hold when some pair does, and a pile of
    things on one spot would break the counts. When the moved thing overlapped the anchor, its erasure left a
    hole in the anchor, which is drawn again first."""
    op = job.op
    anchors = cv.find(op.anchor or "")
    if not anchors:
        raise ToolError(f"no {op.anchor} found in the image to move the {op.cls} {op.relation}")
    anchor = anchors[0]
    targets = [o for o in targets if o is not anchor]  # "make the cat ride the cat": another one moves
    if not targets:
        raise ToolError(f"only one {op.cls} found: nothing to move {op.relation} it")
    ax, ay = anchor.center
    t = min(targets, key=lambda o: (o.center[0] - ax) ** 2 + (o.center[1] - ay) ** 2)
    cv.erase(t)
    color = t.color if t.color in COLOR_RGB else None
    if not job.full:
        cx, cy, size = cv.free_spot(t.size, job.rng)
        cv.draw(t.cls, size, cx, cy, color=color, texture=None, origin=t, shape=t.shape)
        return
    if t.box.overlaps(anchor.box):
        cv.erase(anchor)
        anchor = cv.redraw(anchor, origin=anchor.origin or anchor)
    cx, cy, size = _CONTACT_SPOTS[op.relation or ""](cv, t, anchor)
    cv.draw(t.cls, size, cx, cy, color=color, texture=None, origin=t, shape=t.shape)


def _sprite_wh(cv: _Canvas, s: _Seen, size: int) -> tuple[int, int]:
    """The (width, height) `s` is drawn at with longer side `size` (`_Canvas.draw`'s sprite)."""
    return cv.art.render(s.art_name, max(8, size)).size


def _anchor_wh(anchor: _Seen) -> tuple[int, int]:
    return anchor.box.x1 - anchor.box.x0, anchor.box.y1 - anchor.box.y0


# Where the renderer's `_Placer._contact_position` puts the moved end of a contact relation, by the rules
# it uses (`render.contents_side`, `on_top_cy`, ...), from the anchor's perceived box: (cx, cy, size).
ContactSpot = Callable[[_Canvas, _Seen, _Seen], tuple[float, float, int]]


def _spot_in(cv: _Canvas, t: _Seen, anchor: _Seen) -> tuple[float, float, int]:
    """Contents: IN_AREA of the container's box (at least IN_MIN_SIDE of its longer side, never larger than
    the thing was), centred, IN_DEPTH of its own height below the rim."""
    aw, ah = _anchor_wh(anchor)
    size = max(8, int(t.size * min(1.0, contents_side(aw, ah) / max(1, t.size))))
    _, sh = _sprite_wh(cv, t, size)
    return anchor.center[0], on_top_cy("in", anchor.box.y0, sh), size


def _spot_worn(cv: _Canvas, t: _Seen, anchor: _Seen) -> tuple[float, float, int]:
    """A worn thing: WORN_SCALE of its wearer's size (never larger than it was), on the wearer's top, its
    centre WORN_DEPTH of its own height below it."""
    size = max(8, int(t.size * worn_factor(anchor.size, t.size)))
    _, sh = _sprite_wh(cv, t, size)
    return anchor.center[0], on_top_cy("worn by", anchor.box.y0, sh), size


def _spot_held(cv: _Canvas, t: _Seen, anchor: _Seen) -> tuple[float, float, int]:
    """A held thing: beside its holder, overlapping its side by HOLD_OVERLAP of the narrower one, level with
    it; on the side that fits in the picture and overlaps the other objects least."""
    aw, _ = _anchor_wh(anchor)
    sw, sh = _sprite_wh(cv, t, t.size)
    reach = held_reach(aw, sw)
    ax, ay = anchor.center
    cy = min(max(ay, sh / 2), cv.height - sh / 2)

    def cost(cx: float) -> tuple[bool, float]:
        inside = sw / 2 <= cx <= cv.width - sw / 2
        others = [o for o in cv.seen if o is not anchor]
        box = (cx - sw / 2, cy - sh / 2, cx + sw / 2, cy + sh / 2)
        worst = max((overlap_of_smaller(box, (o.box.x0, o.box.y0, o.box.x1, o.box.y1), floor=1.0)
                     for o in others), default=0.0)
        return not inside, worst

    cx = min((ax + reach, ax - reach), key=cost)
    return cx, cy, t.size


def _spot_riding(cv: _Canvas, t: _Seen, anchor: _Seen) -> tuple[float, float, int]:
    """A rider: RIDER_SCALE of its size, on its mount's top, overlapping it by RIDER_OVERLAP of its height."""
    size = max(8, int(t.size * RIDER_SCALE))
    _, sh = _sprite_wh(cv, t, size)
    return anchor.center[0], on_top_cy("riding", anchor.box.y0, sh), size


#: Contact move relation (`instructions.CONTACT_MOVES`) -> where the moved thing goes.
_CONTACT_SPOTS: dict[str, ContactSpot] = {
    "in": _spot_in, "worn by": _spot_worn, "held by": _spot_held, "riding": _spot_riding,
}


def _restore_objects(cv: _Canvas, job: _Job) -> None:
    """Repaint the masked area: objects touching it are redrawn clean, the rest becomes background."""
    region = job.region
    if region is None:
        raise ToolError("restore needs a mask of the area to repaint")
    touching = [s for s in cv.seen if region[s.box.y0 : s.box.y1, s.box.x0 : s.box.x1].any()]
    cv.image = _inpaint_classic(cv.image, region)  # the rest of the area: from its surroundings
    for s in sorted(touching, key=lambda s: s.box.area, reverse=True):
        cv.redraw(s)
    job.notes.append(f"restored {int(region.sum())} px; redrew {len(touching)} objects")


def _inpaint_area(image: Image.Image, job: _Job) -> Image.Image:
    return _inpaint_classic(image, job.region)


_restore_area = _on_pixels(_inpaint_area)
_restore_with_objects = _on_objects(_restore_objects)


def _restore(image: Image.Image, job: _Job) -> _Edited:
    """"fix": the area from its surroundings; "fix the cat": the cat redrawn clean as well."""
    return (_restore_area if job.op.cls is None else _restore_with_objects)(image, job)


_EDITS: dict[EditKind, Operation] = {
    "style": _on_pixels(_restyle),
    "background": _on_pixels(_new_background),
    "retext": _on_pixels(_retext),
    "restore": _restore,
    "recolor": _on_objects(_repaint),
    "retexture": _on_objects(_repaint),
    "reshape": _on_objects(_repaint),
    "add": _on_objects(_add),
    "recount": _on_objects(_recount),
    "remove": _on_objects(_remove),
    "replace": _on_objects(_replace),
    "move": _on_objects(_move),
}


# -- side effects ---------------------------------------------------------------------------------------


def _shift_blob(cv: _Canvas, rgb: np.ndarray, mask: np.ndarray, box: Box, job: _Job) -> bool:
    dx, dy = (int(v) for v in job.rng.choice([-1, 1], size=2) * job.rng.uniform(0.04, 0.1, size=2)
              * min(cv.width, cv.height))
    pixels = rgb.copy()
    rgb[mask] = cv.bg.fill[mask]
    ys, xs = np.nonzero(mask)
    ty, tx = np.clip(ys + dy, 0, cv.height - 1), np.clip(xs + dx, 0, cv.width - 1)
    rgb[ty, tx] = pixels[ys, xs]
    cv.side_effects.append(_SideEffect("shift", box, (dx, dy), None, mask))
    job.notes.append(f"side effect: shifted the object at {box.x0},{box.y0} by ({dx}, {dy})")
    return True


def _recolour_blob(cv: _Canvas, rgb: np.ndarray, mask: np.ndarray, box: Box, job: _Job) -> bool:
    color = str(job.rng.choice(list(COLOR_RGB)[:10]))
    sat = mask & ((rgb.max(axis=-1).astype(int) - rgb.min(axis=-1)) > 50)
    if not sat.any():
        return False
    rgb[sat] = np.asarray(COLOR_RGB[color], np.uint8)
    cv.side_effects.append(_SideEffect("recolour", box, (0, 0), color, mask))
    job.notes.append(f"side effect: painted the object at {box.x0},{box.y0} {color}")
    return True


_SIDE_EFFECTS: tuple[tuple[Callable[[EditorProfile], float],
                           Callable[[_Canvas, np.ndarray, np.ndarray, Box, _Job], bool]], ...] = (
    (lambda p: p.shift_neighbours, _shift_blob),
    (lambda p: p.recolour_neighbours, _recolour_blob),
)


def _disturb_neighbours(cv: _Canvas, job: _Job) -> None:
    """Side effects of a sloppy editor on things it was not asked to touch: a neighbouring blob of
    foreground (whatever it is; the editor need not know its class) is shifted or recoloured."""
    for chance, effect in _SIDE_EFFECTS:
        p = chance(job.profile)
        if p <= 0 or job.rng.random() >= p:
            continue
        blob = _neighbour_blob(cv, job.rng)
        if blob is None:
            continue
        mask, box = blob
        rgb = np.asarray(cv.image).copy()
        if effect(cv, rgb, mask, box, job):
            cv.image = Image.fromarray(rgb)


def _neighbour_blob(cv: _Canvas, rng: np.random.Generator) -> tuple[np.ndarray, Box] | None:
    """A foreground component of the original picture that the edit did not touch."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats((~cv.bg.mask).astype(np.uint8), connectivity=8)
    min_area = max(40, cv.width * cv.height // 1500)
    candidates = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        box = Box(x0=x, y0=y, x1=x + w, y1=y + h)
        if area >= min_area and not any(box.overlaps(t) for t in cv.touched):
            candidates.append((i, box))
    if not candidates:
        return None
    i, box = candidates[int(rng.integers(len(candidates)))]
    return labels == i, box


# ----------------------------------------------------------------------------------------------------
# Ground-truth continuity (benchmarks only)
# ----------------------------------------------------------------------------------------------------


def _update_truth(truth: WorldTruth, op: EditOp, before: Image.Image, after: Image.Image,
                  cv: _Canvas | None, tool: str, notes: list[str], done: Done = "full") -> WorldTruth:
    """The truth after the edit: objects the editor erased leave, objects it drew join (matched by box); a new
    background or style only when the edit was carried out (`done`: an edit not carried out changed nothing,
    and the truth once said otherwise, which the background check showed)."""
    t = truth.model_copy(deep=True)
    t.tool = tool
    t.notes = list(truth.notes) + [f"{tool}: {n}" for n in notes]
    was, now = np.asarray(before.convert("RGB"), np.int16), np.asarray(after.convert("RGB"), np.int16)
    changed = np.abs(now - was).max(axis=-1) > 10
    if op.kind == "background" and op.background and done != "none":
        # a partial repaint (`_new_background`) leaves the lower half as it was (an earlier one's lower half too)
        left = (truth.background_left or truth.background) if done == "partial" else None
        t.background, t.background_left = op.background, left
    if op.kind == "style" and op.style and done != "none":
        t.style, t.style_half = op.style, done == "partial"  # `_restyle`: a partial one blends half of it
    shifts = [e for e in cv.side_effects if e.kind == "shift" and e.mask is not None] if cv is not None else []
    moved = [m for e in shifts for m in _shifted_blemishes(t, e)]  # taken before the clip drops their old pixels
    offsets = {k: d for e in shifts for k, d in _shift_texts(t, e).items()}
    if op.kind not in ("style", "background"):  # a new look or backdrop leaves every letter where it was
        _measure_intact(truth, t, was, now, offsets)
    if op.kind == "retext" and t.texts and changed.any():
        _update_text(t, after)
    if cv is not None:
        t.objects = _objects_after(truth, t, cv)
        measure_occlusion(t)  # what the edit drew or erased hides or uncovers others
    _clip_blemishes(t, changed)
    t.blemishes.extend(moved)
    return t


def _shift_texts(t: WorldTruth, effect: _SideEffect) -> dict[int, tuple[int, int]]:
    """Texts (and plates) whose letters lie on a shifted blob moved with it (a sign pushed aside by a sloppy
    edit), by the rule objects follow (`_half_on`); the letters' mask is cut to what stays in the picture.
    Returns each moved text's shift, by index."""
    assert effect.mask is not None
    dx, dy = effect.shift
    out: dict[int, tuple[int, int]] = {}
    for k, x in enumerate(t.texts):
        old, letters = x.box, x.ink_mask()
        if not _half_on(letters, old.y0, old.x0, effect.mask):
            continue
        out[k] = (dx, dy)
        x.box = _moved_box(old, dx, dy, t.width, t.height)
        if x.plate is not None:
            x.plate = _moved_box(x.plate, dx, dy, t.width, t.height)
        if x.ink is not None:
            oy, ox = x.box.y0 - (old.y0 + dy), x.box.x0 - (old.x0 + dx)
            kept = letters[oy : oy + x.box.y1 - x.box.y0, ox : ox + x.box.x1 - x.box.x0]
            fits = kept.shape == (x.box.y1 - x.box.y0, x.box.x1 - x.box.x0) and kept.any()
            x.ink = rle_encode(kept) if fits else None
    return out


def _half_on(pixels: np.ndarray, y0: int, x0: int, blob: np.ndarray) -> bool:
    """Do at least half of `pixels` (a mask whose top-left corner is at y0, x0; its part outside the picture
    counts as off) lie on the blob's pixels?"""
    total = int(pixels.sum())
    h, w = blob.shape
    ys, xs = np.nonzero(pixels)
    ys, xs = ys + y0, xs + x0
    inside = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
    return total > 0 and int(blob[ys[inside], xs[inside]].sum()) >= 0.5 * total


def _moved_box(b: Box, dx: int, dy: int, w: int, h: int) -> Box:
    """`b` shifted by (dx, dy), clipped to the picture (at least one pixel left inside)."""
    return Box(x0=min(w - 1, max(0, b.x0 + dx)), y0=min(h - 1, max(0, b.y0 + dy)),
               x1=min(w, max(1, b.x1 + dx)), y1=min(h, max(1, b.y1 + dy)))


def _shifted_blemishes(t: WorldTruth, effect: _SideEffect) -> list[Blemish]:
    """The parts of the blemishes on a shifted blob, at the place they were moved to (the shift copies the
    blob's pixels, defects included, as `_shift_blob` does)."""
    assert effect.mask is not None
    dx, dy = effect.shift
    out: list[Blemish] = []
    for b in t.blemishes:
        ys, xs = np.nonzero(b.mask(t.width, t.height) & effect.mask)
        if ys.size == 0:
            continue
        m = np.zeros((t.height, t.width), dtype=bool)
        m[np.clip(ys + dy, 0, t.height - 1), np.clip(xs + dx, 0, t.width - 1)] = True
        bb = _region_box(m)
        assert bb is not None
        out.append(Blemish(kind=b.kind, box=bb, rle=rle_encode(m[bb.y0 : bb.y1, bb.x0 : bb.x1]),
                           description=b.description))
    return out


def _measure_intact(truth: WorldTruth, t: WorldTruth, was: np.ndarray, now: np.ndarray,
                    offsets: dict[int, tuple[int, int]]) -> None:
    """Each text's share of its letters' pixels the edit left as they were written (at the place a shift moved
    them to, `offsets`; a letter pushed out of the picture is lost): an object drawn over it, or its sign erased
    or redrawn without it, leaves less than `TEXT_MIN_VISIBLE` (`world.text_legible`). The lowest share over all
    edits is kept. `was`, `now`: the pictures before and after, int16 RGB."""
    h, w = was.shape[:2]
    for k, (old, new) in enumerate(zip(truth.texts, t.texts, strict=True)):
        dx, dy = offsets.get(k, (0, 0))
        ys, xs = np.nonzero(old.ink_mask())
        ys, xs = ys + old.box.y0, xs + old.box.x0
        ty, tx = ys + dy, xs + dx
        inside = (ty >= 0) & (ty < h) & (tx >= 0) & (tx < w)
        same = np.abs(now[ty[inside], tx[inside]] - was[ys[inside], xs[inside]]).max(axis=-1) <= 10
        kept = float(same.sum()) / ys.size if ys.size else 0.0
        if kept < 1.0:
            new.intact = round(min(kept, 1.0 if old.intact is None else old.intact), 4)


def _update_text(t: WorldTruth, after: Image.Image) -> None:
    """The text the edit wrote, read back, replaces the text line it overlaps most."""
    lines = read_text(after, min_score=0.8)
    if lines:
        text, box, _ = max(lines, key=lambda ln: ln[2] * ln[1].area)
        target = max(t.texts, key=lambda x: x.box.iou(box))
        t.texts = [x if x is not target else WorldText(element_id=target.element_id, text=text, box=box,
                                                       plate=target.plate) for x in t.texts]


def _objects_after(truth: WorldTruth, t: WorldTruth, cv: _Canvas) -> list[WorldObject]:
    """The truth's objects less those erased, plus those drawn (keeping the element they redraw), with the
    side effects applied."""
    after_ids = {id(s) for s in cv.seen}
    removed = [s for s in cv.initial if id(s) not in after_ids]
    added = [s for s in cv.seen if not any(s is b for b in cv.initial)]
    keep = [o for o in t.objects if not any(r.cls == o.cls and r.box.iou(o.box) > 0.3 for r in removed)]
    z = max((o.z for o in keep), default=-1) + 1
    for s in added:
        root = s
        while root.origin is not None:
            root = root.origin
        prev = next((o for o in truth.objects if o.box.iou(root.box) > 0.3 and o.cls == root.cls), None)
        # redrawn in place beneath what was in front of it (`_Canvas.draw`): it keeps its depth
        under = s.under and prev is not None and not any(o.z == prev.z for o in keep)
        keep.append(WorldObject(element_id=prev.element_id if prev else None, cls=s.cls,
                                color=s.color or "gray", texture=s.texture, shape=s.shape, box=s.box,
                                z=prev.z if under and prev is not None else z,
                                scale=prev.scale if prev else 1.0, size=s.size))
        z += not under
    for effect in cv.side_effects:
        for o in keep:
            if _on_blob(o, effect, t.width, t.height):
                if effect.kind == "shift":
                    o.box = _moved_box(o.box, *effect.shift, t.width, t.height)
                elif effect.color is not None:
                    o.color = effect.color
    return keep


def _on_blob(o: WorldObject, effect: _SideEffect, width: int, height: int) -> bool:
    """Did the side effect's blob carry this object? A blob is every touching object at once (a rider on its
    mount, a stack of hydrants): an object is on it when at least half of its silhouette lies on the blob's
    pixels. (Matching boxes alone moved the mount and left its riders' truth behind: painted images, seed 1,
    "six fire hydrants riding a parking meter" read as a false pass.) Without the blob's pixels, its box must
    match the blob's."""
    if effect.mask is None:
        return o.box.iou(effect.box) > 0.5
    sil, where, area = placed_silhouette(o, width, height)
    return area > 0 and float((sil & effect.mask[where]).sum()) >= 0.5 * area


def _clip_blemishes(t: WorldTruth, changed: np.ndarray) -> None:
    """Repainted pixels no longer carry old blemishes."""
    for b in list(t.blemishes):
        m = b.mask(t.width, t.height) & ~changed
        if not m.any():
            t.blemishes.remove(b)
        else:
            bb = _region_box(m)
            assert bb is not None
            b.box, b.rle = bb, rle_encode(m[bb.y0 : bb.y1, bb.x0 : bb.x1])


# ----------------------------------------------------------------------------------------------------
# Tools
# ----------------------------------------------------------------------------------------------------


class _SandboxEditTool(Tool):
    backend: ClassVar[str] = "sandbox"
    default_dims: ClassVar[tuple[str, ...]] = EDIT_DIMS
    simulated: ClassVar[bool] = True

    def __init__(self, name: str, *, profile: str | None = None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        if self.options:
            raise ValueError(f"{self.kind} tool {name!r}: unknown options {sorted(self.options)}; expected profile")
        self.profile = editor_profile(profile or name)
        self.profile_name = profile or name

    def setup(self) -> None:
        get_artwork()

    def _apply(self, call: ToolCall, op: EditOp, image: Image.Image, region: np.ndarray | None) -> ToolResult:
        # 1. the instruction was read by the caller; look at the picture
        src = load_image(image)
        rng = call_rng(self.name, call.prompt, call.seed, np.asarray(src.resize((16, 16))).tobytes().hex())
        # 2. edit with this tool's hidden profile
        edited = _edit(op, src, self.profile, rng, region, context_names(call.params.get("context")))
        image_out = edited.image
        if region is not None:  # an inpainter changes nothing outside its (slightly grown) mask
            grown = np.asarray(Image.fromarray(region.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(5))) > 127
            image_out = Image.fromarray(np.where(grown[..., None], np.asarray(image_out), np.asarray(src)))
        # 3. blemishes, and the updated truth when a benchmark passed one in
        truth = self._truth(call, op, src, image_out, edited)
        scratch = truth if truth is not None else self._scratch_truth(src, edited.canvas)
        image_out = add_random_blemishes(image_out, scratch, self.profile.blemish_rate, rng)
        # what went wrong stays hidden (in the truth, for benchmarks): the agent must look at the pixels
        meta = {"simulated": True, "operation": op.kind, "dimension": op.dimension,
                "simulated_latency_s": self.profile.latency_s}
        return ToolResult(tool=self.name, image=image_out, meta=meta,
                          ground_truth=truth.model_dump(mode="json") if truth is not None else None)

    def _truth(self, call: ToolCall, op: EditOp, src: Image.Image, out: Image.Image,
               edited: _Edited) -> WorldTruth | None:
        """The benchmark's truth carried through the edit, when one was passed in (`_truth_in`)."""
        truth_in = call.params.get("_truth_in")
        if truth_in is None:
            return None
        prior = truth_in if isinstance(truth_in, WorldTruth) else WorldTruth.model_validate(truth_in)
        return _update_truth(prior, op, src, out, edited.canvas, self.name,
                             [f"outcome {edited.done}", *edited.notes], edited.done)

    @staticmethod
    def _scratch_truth(src: Image.Image, cv: _Canvas | None) -> WorldTruth:
        """Without a benchmark truth, blemishes land on what the editor perceives."""
        w, h = src.size
        scratch = WorldTruth(width=w, height=h)
        if cv is not None:
            scratch.objects = [WorldObject(element_id=None, cls=s.cls, color=s.color or "gray", shape=s.shape,
                                           box=s.box, z=i, scale=1.0) for i, s in enumerate(cv.seen)]
        return scratch


class Editor(_SandboxEditTool):
    """Sandbox instruction editor (simulated; hidden per-dimension skill profile)."""

    kind: ClassVar = "edit"

    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        assert image is not None
        op = parse_instruction(call.prompt)
        if op.kind == "restore":
            raise ToolError(f"editor {self.name!r} needs an instruction; 'restore' is for inpainters (mask)")
        return self._apply(call, op, image, None)


class Inpainter(_SandboxEditTool):
    """Sandbox mask inpainter (simulated): edits only inside the mask; 'fix' repaints the area cleanly."""

    kind: ClassVar = "inpaint"

    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        assert image is not None and mask is not None
        src = load_image(image)
        m = load_image(mask).convert("L")
        if m.size != src.size:
            raise ToolError(f"mask size {m.size} differs from image size {src.size}")
        region = np.asarray(m) > 127
        if not region.any():
            raise ToolError("the mask is empty: nothing to inpaint")
        return self._apply(call, parse_instruction(call.prompt), src, region)
