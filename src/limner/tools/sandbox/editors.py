"""Sandbox editors and inpainters: simulated image-editing tools that see only pixels and an instruction.

An editor perceives the image with the checker's detector (`detect.detect_objects`, `segment.
estimate_background`, OCR for text), changes pixels the way the instruction asks, with the success rate
and side effects of its hidden profile (`profiles.EditorProfile`), and may leave blemishes. Objects are
erased by painting the estimated background over them and redrawn from the artwork.

Instruction grammar (what the planner writes; natural English that real editors understand too; case-
insensitive, plurals and synonyms through the shared reader's noun lexicon):

    make the {noun} {colour|texture}             change the colour of the {noun} to {colour}
    add {n} {colour?} {noun} [{relation} the {noun}]
    remove the {noun} | remove all {nouns}        replace the {noun} with {a|n} {colour?} {noun}
    change the number of {nouns} to {n}           move the {noun} {relation} the {noun}
    change the text to "{text}"                   change the background to {background}
    make it {style} style
    (inpainters also) fix | restore | clean up | remove the defect   — repaint the masked area from its
                      surroundings;  fix the {noun}   — also redraw that object cleanly where the mask hits it

Benchmark-only private channel: `call.params["_truth_in"]` may carry the previous `WorldTruth` (JSON) so
the editor returns an updated truth in `ToolResult.ground_truth`. Editors never *read* it to decide what
to do; without it they work the same and return `ground_truth=None`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, UnidentifiedImageError

from limner.tools.base import Tool, ToolError
from limner.tools.sandbox.artwork import COLOR_RGB, TEXTURE_NAMES, get_artwork
from limner.tools.sandbox.blemishes import add_random_blemishes
from limner.tools.sandbox.painters import call_rng
from limner.tools.sandbox.profiles import EditorProfile, editor_profile
from limner.tools.sandbox.render import (
    STYLES,
    apply_style,
    background_key,
    draw_text_plate,
    paint_background,
    style_key,
)
from limner.tools.sandbox.world import WorldObject, WorldText, WorldTruth
from limner.types import EDIT_DIMS, Box, ToolCall, ToolResult
from limner.vocab import NUMBER_WORDS

# ----------------------------------------------------------------------------------------------------
# Instructions
# ----------------------------------------------------------------------------------------------------

#: Detections below this template-match score are not acted on.
MIN_SCORE = 0.8

EditKind = str  # recolor | retexture | add | remove | replace | move | recount | retext | background | style | restore

_RELATIONS: dict[str, str] = {
    "to the left of": "left of", "on the left of": "left of", "left of": "left of",
    "to the right of": "right of", "on the right of": "right of", "right of": "right of",
    "above": "above", "over": "above", "on top of": "on", "on": "on", "below": "below", "under": "below",
    "beneath": "below", "underneath": "below", "next to": "next to", "beside": "next to", "near": "next to",
    "in front of": "in front of", "behind": "behind",
}
_REL_RE = "|".join(sorted((re.escape(k) for k in _RELATIONS), key=len, reverse=True))


@dataclass(frozen=True)
class EditOp:
    """One parsed instruction."""

    kind: EditKind
    cls: str | None = None
    count: int | None = None
    all: bool = False
    color: str | None = None
    texture: str | None = None
    new_cls: str | None = None
    relation: str | None = None
    anchor: str | None = None
    anchor_all: bool = False  # "right of the apples": right of all of them, not of one
    text: str | None = None
    background: str | None = None
    style: str | None = None

    @property
    def dimension(self) -> str:
        """The edit dimension (EDIT_DIMS) this operation exercises."""
        return {
            "recolor": "attribute", "retexture": "attribute", "add": "add", "remove": "remove",
            "replace": "replace", "move": "action", "retext": "replace", "background": "background",
            "style": "style", "restore": "remove", "recount": "add",
        }[self.kind]


def _noun(phrase: str) -> str:
    return _noun_number(phrase)[0]


def _noun_number(phrase: str) -> tuple[str, bool]:
    """(canonical class, whether the phrase was plural): "the apples" asks for every apple."""
    from limner.reading.prompt import canonical_class

    found = canonical_class(phrase.strip().lower())
    if found is None:
        raise ToolError(f"unknown object {phrase.strip()!r} in the instruction")
    return found[0], bool(found[1])


def _number(word: str) -> int:
    w = word.lower()
    if w.isdigit():
        return int(w)
    if w in NUMBER_WORDS:
        return NUMBER_WORDS[w]
    raise ToolError(f"not a number: {word!r}")


def _np(phrase: str) -> tuple[int | None, str | None, str | None, str]:
    """Split '{n}? {colour}? {texture}? {noun}' -> (count, colour, texture, class)."""
    words = phrase.strip().lower().split()
    count = color = texture = None
    while words and (words[0] in ("a", "an", "the", "some", "all", "every") or words[0].isdigit()
                     or words[0] in NUMBER_WORDS or words[0] in COLOR_RGB or words[0] in TEXTURE_NAMES
                     or words[0] == "grey"):
        w = words.pop(0)
        if w.isdigit() or (w in NUMBER_WORDS and w not in ("a", "an")):
            count = _number(w)
        elif w in ("a", "an"):
            count = count or 1
        elif w in COLOR_RGB or w == "grey":
            color = "gray" if w == "grey" else w
        elif w in TEXTURE_NAMES:
            texture = w
    if not words:
        raise ToolError(f"no object named in {phrase!r}")
    return count, color, texture, _noun(" ".join(words))


def parse_instruction(text: str) -> EditOp:
    """Read an edit instruction; raises ToolError naming what was not understood."""
    s = " ".join(text.strip().rstrip(".!").split())
    low = s.lower()
    if low in ("", "fix", "fix it", "repair", "restore", "clean up", "clean it up", "inpaint") or re.fullmatch(
        r"(fix|repair|remove|clean up|restore)( the| this| all)? (defects?|artifacts?|artefacts?|blemish(es)?|area|region|masked area)",
        low,
    ):
        return EditOp(kind="restore")
    m = re.fullmatch(r"(?:fix|repair|restore|clean up) (?:the |this |all )?(.+?)(?: (?:defects?|artifacts?|blemish(?:es)?))?", low)
    if m:
        return EditOp(kind="restore", cls=_noun(m.group(1)))
    m = re.fullmatch(r'(?:change|set|replace|make) the (?:text|sign|words?|label)(?: to| say| with| read)?\s*["\u201c\'](.+?)["\u201d\']', s, re.IGNORECASE)
    if m:
        return EditOp(kind="retext", text=m.group(1))
    m = re.fullmatch(r"(?:change|set|make|replace) the background(?: to| into| with)?(?: an?| the)? (.+?)(?: background)?", low)
    if m:
        return EditOp(kind="background", background=background_key(m.group(1)))
    m = re.fullmatch(r"(?:make it|turn it into|render it|change the style to|make the image)(?: an?| in)? (.+?)(?: style)?", low)
    if m:
        style = style_key(m.group(1))
        if style not in STYLES:
            raise ToolError(f"unknown style {m.group(1)!r}; styles: {', '.join(STYLES)}")
        return EditOp(kind="style", style=style)
    m = re.fullmatch(r"change the number of (.+?) to (\w+)", low)
    if m:
        return EditOp(kind="recount", cls=_noun(m.group(1)), count=_number(m.group(2)))
    m = re.fullmatch(r"(?:change|set) the colou?r of (?:the |all )?(.+?) to (\w+)", low)
    if m:
        return _attribute(m.group(1), m.group(2), s)
    m = re.fullmatch(r"(?:make|turn|paint|color|colour) (the |all |every )?(.+) (\w+)", low)
    if m and (m.group(3) in COLOR_RGB or m.group(3) in TEXTURE_NAMES or m.group(3) == "grey"):
        op = _attribute(m.group(2), m.group(3), s)
        return replace(op, all=(m.group(1) or "").strip() in ("all", "every") or op.all)
    m = re.fullmatch(rf"add (.+?)(?: ({_REL_RE}) (?:the |a |an )?(.+))?", low)
    if m:
        count, color, texture, cls = _np(m.group(1))
        anchor = _noun(m.group(3)) if m.group(3) else None
        return EditOp(kind="add", cls=cls, count=count or 1, color=color, texture=texture,
                      relation=_RELATIONS[m.group(2)] if m.group(2) else None, anchor=anchor)
    m = re.fullmatch(r"(?:remove|delete|erase) (the |all |all the |every )?(.+)", low)
    if m:
        return EditOp(kind="remove", cls=_noun(m.group(2)), all=(m.group(1) or "").startswith(("all", "every")))
    m = re.fullmatch(r"replace (?:the |all )?(.+?) with (.+)", low)
    if m:
        count, color, texture, new_cls = _np(m.group(2))
        return EditOp(kind="replace", cls=_noun(m.group(1)), new_cls=new_cls, color=color, texture=texture,
                      count=count)
    m = re.fullmatch(rf"move (the |all |all the )?(.+?) ({_REL_RE}) (?:the |a |an )?(.+)", low)
    if m:
        cls, many = _noun_number(m.group(2))
        anchor, anchor_all = _noun_number(m.group(4))
        return EditOp(kind="move", cls=cls, relation=_RELATIONS[m.group(3)], anchor=anchor,
                      anchor_all=anchor_all, all=many or (m.group(1) or "").startswith("all"))
    raise ToolError(
        f"cannot read the edit instruction {text!r}; expected e.g. 'make the cat red', 'add two dogs left of "
        "the car', 'remove the cup', 'replace the cat with a dog', 'change the number of apples to 3', "
        "'move the cat above the table', 'change the text to \"OPEN\"', 'change the background to beach', "
        "'make it watercolor style'"
    )


def _attribute(noun: str, word: str, original: str) -> EditOp:
    word = "gray" if word == "grey" else word
    cls = _noun(noun)
    if word in COLOR_RGB:
        return EditOp(kind="recolor", cls=cls, color=word, all=True)
    if word in TEXTURE_NAMES:
        return EditOp(kind="retexture", cls=cls, texture=word, all=True)
    raise ToolError(f"{word!r} in {original!r} is neither a colour nor a texture the sandbox can paint")


# ----------------------------------------------------------------------------------------------------
# Pixel operations (perception through the checker's detector; drawing through the artwork)
# ----------------------------------------------------------------------------------------------------


def load_image(image: Any) -> Image.Image:
    """An RGB PIL image from a PIL image, path or bytes; a clear ToolError for anything else."""
    try:
        if isinstance(image, Image.Image):
            image.load()
            return image.convert("RGB")
        import io
        from pathlib import Path

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

    @property
    def center(self) -> tuple[float, float]:
        return (self.box.x0 + self.box.x1) / 2, (self.box.y0 + self.box.y1) / 2


class _Canvas:
    """The image being edited, what the editor believes is in it, and the pixels it changed."""

    def __init__(self, image: Image.Image, classes: list[str] | None, region: np.ndarray | None = None) -> None:
        from limner.tools.sandbox.detect import detect_objects
        from limner.tools.sandbox.segment import estimate_background

        self.image = image
        self.width, self.height = image.size
        self.bg = estimate_background(image)
        # Told which classes to look for, the detector also offers weak matches on other objects;
        # an editor acts only on confident ones (true matches score ~0.99, look-alikes ~0.6).
        dets = [d for d in detect_objects(image, classes) if d.score >= MIN_SCORE]
        self.seen = [_Seen(cls=d.cls, box=d.box, color=d.color, size=d.size or max(
            d.box.x1 - d.box.x0, d.box.y1 - d.box.y0)) for d in dets]
        self.initial = list(self.seen)  # what the editor saw before changing anything
        self.region = _region_box(region) if region is not None else None  # an inpainter's mask: place inside
        self.touched: list[Box] = []     # boxes the edit itself erased or drew
        self.side_effects: list[tuple[str, Box, tuple[int, int], str | None]] = []  # kind, box, shift, colour
        # integral image of the foreground: new objects avoid everything drawn, even unnamed classes
        fg = (~self.bg.mask).astype(np.int64)
        self._fg = np.pad(fg.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        self.art = get_artwork()

    def of(self, cls: str) -> list[_Seen]:
        return sorted((s for s in self.seen if s.cls == cls), key=lambda s: (s.box.x0, s.box.y0))

    def footprint(self, s: _Seen) -> np.ndarray:
        """Image-sized mask of an object: its silhouette at its place plus the non-background pixels of
        its (slightly grown) box that no other perceived object claims, so anti-aliased edges go too."""
        sil = self.art.silhouette(s.cls, s.size)
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
            if o is not s and _iou(o.box, s.box) > 0:
                others[o.box.y0 : o.box.y1, o.box.x0 : o.box.x1] = True
        return out | (box & fg & ~others)

    def erase(self, s: _Seen) -> None:
        self.image = self.bg.erase(self.image, self.footprint(s))
        self.seen = [o for o in self.seen if o is not s]
        self.touched.append(s.box)

    def draw(self, cls: str, size: int, cx: float, cy: float, color: str | None, texture: str | None,
             origin: _Seen | None = None) -> _Seen:
        sprite = self.art.render(cls, max(8, size), color, texture)
        w, h = sprite.size
        cx = min(max(cx, w / 2), self.width - w / 2)
        cy = min(max(cy, h / 2), self.height - h / 2)
        x0, y0 = round(cx - w / 2), round(cy - h / 2)
        canvas = self.image.convert("RGBA")
        canvas.alpha_composite(sprite, dest=(max(0, x0), max(0, y0)), source=(max(0, -x0), max(0, -y0)))
        self.image = canvas.convert("RGB")
        box = Box(x0=max(0, x0), y0=max(0, y0), x1=min(self.width, x0 + w), y1=min(self.height, y0 + h))
        new = _Seen(cls=cls, box=box, color=color or self.art.default_color(cls), size=max(8, size),
                    texture=texture, origin=origin)
        self.seen.append(new)
        self.touched.append(box)
        return new

    def free_spot(self, size: int, rng: np.random.Generator, relation: str | None = None,
                  anchor: _Seen | None = None) -> tuple[float, float, int]:
        """(cx, cy, size) for a new object that satisfies `relation` to `anchor` and overlaps least;
        the object shrinks (down to 60 %) when the picture is too crowded for it."""
        best: tuple[float, float, float, int] | None = None
        for shrink in (1.0, 0.85, 0.72, 0.6):
            s = max(8, int(size * shrink))
            for _ in range(60):
                cx, cy = self._candidate(s, rng, relation, anchor)
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
                   anchor: _Seen | None) -> tuple[float, float]:
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
        ax, ay = anchor.center
        aw, ah = anchor.box.x1 - anchor.box.x0, anchor.box.y1 - anchor.box.y0
        if relation == "left of":
            cx, cy = rng.uniform(half, max(half + 1, anchor.box.x0 - half * 0.4)), free_y
        elif relation == "right of":
            cx, cy = rng.uniform(min(W - half - 1, anchor.box.x1 + half * 0.4), W - half), free_y
        elif relation == "above":
            cx, cy = free_x, rng.uniform(half, max(half + 1, anchor.box.y0 - half * 0.4))
        elif relation == "below":
            cx, cy = free_x, rng.uniform(min(H - half - 1, anchor.box.y1 + half * 0.4), H - half)
        elif relation == "on":
            cx, cy = ax + rng.uniform(-0.25, 0.25) * aw, anchor.box.y0 - half * 0.6
        elif relation == "next to":
            side = 1 if rng.random() < 0.5 else -1
            cx, cy = ax + side * (aw / 2 + half + rng.uniform(2, 0.15 * W)), ay + rng.uniform(-0.4, 0.4) * ah
        elif relation in ("in front of", "behind"):
            cx = ax + (1 if rng.random() < 0.5 else -1) * 0.45 * aw
            cy = ay + (0.2 if relation == "in front of" else -0.2) * ah
        else:
            cx, cy = free_x, free_y
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
            iw = min(box[2], o.box.x1) - max(box[0], o.box.x0)
            ih = min(box[3], o.box.y1) - max(box[1], o.box.y0)
            if iw > 0 and ih > 0:
                ov = max(ov, iw * ih / max(1.0, min(s * s, o.box.area)))
        return ov

    def typical_size(self) -> int:
        if self.seen:
            return int(np.median([s.size for s in self.seen]))
        return int(min(self.width, self.height) * 0.3)


def _region_box(mask: np.ndarray) -> Box | None:
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    return Box(x0=int(xs.min()), y0=int(ys.min()), x1=int(xs.max()) + 1, y1=int(ys.max()) + 1)


# ----------------------------------------------------------------------------------------------------
# The editing engine shared by both tool types
# ----------------------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    done: str            # "full" | "partial" | "none"
    notes: list[str]


def _edit(op: EditOp, image: Image.Image, profile: EditorProfile, rng: np.random.Generator,
          region: np.ndarray | None) -> tuple[Image.Image, _Outcome, _Canvas | None]:
    """Apply `op` to the image with the profile's success rate and side effects."""
    notes: list[str] = []
    u = rng.random()
    p = profile.p(op.dimension)
    done = "full" if u < p else ("partial" if u < p + (1 - p) * profile.partial else "none")
    if done == "none":
        return image, _Outcome("none", [f"{op.kind} not carried out"]), None
    if op.kind == "style":
        styled = apply_style(image, op.style)
        if done == "partial":  # the look only half applied
            styled = Image.blend(image.convert("RGB"), styled.convert("RGB"), 0.5)
            notes.append("style half applied")
        return styled, _Outcome(done, notes), None
    if op.kind == "background":
        return _new_background(image, op, done, notes), _Outcome(done, notes), None
    if op.kind == "retext":
        return _retext(image, op, done, rng, notes), _Outcome(done, notes), None

    if op.kind == "restore" and op.cls is None:
        return _inpaint_classic(image, region), _Outcome(done, notes), None
    classes = sorted({c for c in (op.cls, op.new_cls, op.anchor) if c})
    from limner.tools.sandbox.artwork import CLASS_ART

    undrawable = [c for c in classes if c not in CLASS_ART]
    if undrawable:
        raise ToolError(f"the sandbox world cannot draw or find {undrawable}")
    cv = _Canvas(image, classes, region)
    if op.kind == "restore":
        _restore(cv, region, notes)
    elif op.kind in ("recolor", "retexture"):
        targets = cv.of(op.cls or "")
        if not targets:
            raise ToolError(f"no {op.cls} found in the image to {op.kind}")
        if done == "partial" and len(targets) > 1:
            targets = targets[: len(targets) // 2]
            notes.append("only some objects changed")
        for t in targets:
            color = op.color if op.kind == "recolor" else t.color
            if done == "partial" and len(targets) == 1 and op.kind == "recolor":
                color = _near(op.color or "")
                notes.append(f"painted {color} instead of {op.color}")
            texture = op.texture if op.kind == "retexture" else None
            cv.erase(t)
            cv.draw(t.cls, t.size, *t.center, color=color, texture=texture, origin=t)
    elif op.kind in ("add", "recount"):
        existing = cv.of(op.cls or "")
        if op.kind == "recount":
            want = op.count or 0
            missing = want - len(existing)
            if missing < 0:
                for t in existing[want:][: (-missing if done == "full" else max(1, -missing // 2))]:
                    cv.erase(t)
                return _finish(cv, profile, rng, notes, done)
            n = missing if done == "full" else max(0, missing - 1)
        else:
            n = (op.count or 1) if done == "full" else max(0, (op.count or 1) - 1)
        anchor = (cv.of(op.anchor) or [None])[0] if op.anchor else None
        if op.anchor and anchor is None:
            notes.append(f"anchor {op.anchor} not found; placed freely")
        size = existing[0].size if existing else cv.typical_size()
        color = op.color or (existing[0].color if existing and op.kind == "recount" else None)
        for _ in range(n):
            rel = op.relation if done == "full" else None
            cx, cy, s = cv.free_spot(size, rng, rel, anchor)
            cv.draw(op.cls or "", s, cx, cy, color=color, texture=op.texture)
            if rel == "behind" and anchor is not None:  # redraw the anchor on top: it is in front
                cv.erase(anchor)
                anchor = cv.draw(anchor.cls, anchor.size, *anchor.center,
                                 color=anchor.color if anchor.color in COLOR_RGB else None, texture=None,
                                 origin=anchor.origin or anchor)
    elif op.kind == "remove":
        targets = cv.of(op.cls or "")
        if not targets:
            raise ToolError(f"no {op.cls} found in the image to remove")
        if not op.all:
            targets = targets[:1]
        if done == "partial":
            targets = targets[: max(1, len(targets) // 2)]
            for t in targets:  # a faint ghost stays behind
                cv.erase(t)
                ghost = cv.art.render(t.cls, t.size, t.color if t.color in COLOR_RGB else None)
                _paste_faint(cv, ghost, t.center, 0.35)
            notes.append("ghost of removed object left")
        else:
            for t in targets:
                cv.erase(t)
    elif op.kind == "replace":
        targets = cv.of(op.cls or "")
        if not targets:
            raise ToolError(f"no {op.cls} found in the image to replace")
        t = targets[0]
        cv.erase(t)
        new_cls = op.new_cls if done == "full" else op.cls
        if done != "full":
            notes.append("redrew the old object instead of the new one")
        cv.draw(new_cls or t.cls, t.size, *t.center, color=op.color, texture=op.texture, origin=t)
    elif op.kind == "move":
        targets = cv.of(op.cls or "")
        anchors = cv.of(op.anchor or "")
        if not targets:
            raise ToolError(f"no {op.cls} found in the image to move")
        moving = targets if op.all else targets[:1]
        anchor = _group(anchors) if op.anchor_all else (anchors[0] if anchors else None)
        for t in moving:
            cv.erase(t)
        rel = op.relation if done == "full" else None
        for t in moving:
            cx, cy, s = cv.free_spot(t.size, rng, rel, anchor)
            cv.draw(t.cls, s, cx, cy, color=t.color if t.color in COLOR_RGB else None, texture=None, origin=t)
    return _finish(cv, profile, rng, notes, done)


def _group(seen: list[_Seen]) -> _Seen | None:
    """Several perceived objects as one anchor: their union box."""
    if not seen:
        return None
    box = Box(x0=min(o.box.x0 for o in seen), y0=min(o.box.y0 for o in seen),
              x1=max(o.box.x1 for o in seen), y1=max(o.box.y1 for o in seen))
    return _Seen(cls=seen[0].cls, box=box, color=None, size=max(o.size for o in seen))


def _finish(cv: _Canvas, profile: EditorProfile, rng: np.random.Generator,
            notes: list[str], done: str) -> tuple[Image.Image, _Outcome, _Canvas]:
    """Side effects of a sloppy editor on things it was not asked to touch: a neighbouring blob of
    foreground (whatever it is; the editor need not know its class) is shifted or recoloured."""
    for kind, p in (("shift", profile.shift_neighbours), ("recolour", profile.recolour_neighbours)):
        if p <= 0 or rng.random() >= p:
            continue
        blob = _neighbour_blob(cv, rng)
        if blob is None:
            continue
        mask, box = blob
        rgb = np.asarray(cv.image).copy()
        if kind == "shift":
            dx, dy = (int(v) for v in rng.choice([-1, 1], size=2) * rng.uniform(0.04, 0.1, size=2)
                      * min(cv.width, cv.height))
            pixels = rgb.copy()
            rgb[mask] = cv.bg.fill[mask]
            ys, xs = np.nonzero(mask)
            ty, tx = np.clip(ys + dy, 0, cv.height - 1), np.clip(xs + dx, 0, cv.width - 1)
            rgb[ty, tx] = pixels[ys, xs]
            cv.side_effects.append(("shift", box, (dx, dy), None))
            notes.append(f"side effect: shifted the object at {box.x0},{box.y0} by ({dx}, {dy})")
        else:
            color = str(rng.choice(list(COLOR_RGB)[:10]))
            sat = mask & ((rgb.max(axis=-1).astype(int) - rgb.min(axis=-1)) > 50)
            if not sat.any():
                continue
            rgb[sat] = np.asarray(COLOR_RGB[color], np.uint8)
            cv.side_effects.append(("recolour", box, (0, 0), color))
            notes.append(f"side effect: painted the object at {box.x0},{box.y0} {color}")
        cv.image = Image.fromarray(rgb)
    return cv.image, _Outcome(done, notes), cv


def _neighbour_blob(cv: _Canvas, rng: np.random.Generator) -> tuple[np.ndarray, Box] | None:
    """A foreground component of the original picture that the edit did not touch."""
    import cv2

    n, labels, stats, _ = cv2.connectedComponentsWithStats((~cv.bg.mask).astype(np.uint8), connectivity=8)
    min_area = max(40, cv.width * cv.height // 1500)
    candidates = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        box = Box(x0=x, y0=y, x1=x + w, y1=y + h)
        if area >= min_area and not any(_iou(box, t) > 0 for t in cv.touched):
            candidates.append((i, box))
    if not candidates:
        return None
    i, box = candidates[int(rng.integers(len(candidates)))]
    return labels == i, box


def _near(color: str) -> str:
    from limner.tools.sandbox.profiles import _NEAR_COLOR

    return _NEAR_COLOR.get(color, "gray")


def _paste_faint(cv: _Canvas, sprite: Image.Image, center: tuple[float, float], alpha: float) -> None:
    arr = np.asarray(sprite).copy()
    arr[..., 3] = (arr[..., 3] * alpha).astype(np.uint8)
    w, h = sprite.size
    x0, y0 = round(center[0] - w / 2), round(center[1] - h / 2)
    canvas = cv.image.convert("RGBA")
    canvas.alpha_composite(Image.fromarray(arr, "RGBA"), dest=(max(0, x0), max(0, y0)),
                           source=(max(0, -x0), max(0, -y0)))
    cv.image = canvas.convert("RGB")


def _inpaint_classic(image: Image.Image, region: np.ndarray | None) -> Image.Image:
    """Repaint the masked area from its surroundings (OpenCV Telea), as a class-agnostic inpainter does."""
    import cv2

    if region is None:
        raise ToolError("restore needs a mask of the area to repaint")
    rgb = np.asarray(image.convert("RGB"))
    mask = np.asarray(Image.fromarray(region.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(3)))
    return Image.fromarray(cv2.inpaint(np.ascontiguousarray(rgb), mask, 5, cv2.INPAINT_TELEA))


def _restore(cv: _Canvas, region: np.ndarray | None, notes: list[str]) -> None:
    """Repaint the masked area: objects touching it are redrawn clean, the rest becomes background."""
    if region is None:
        raise ToolError("restore needs a mask of the area to repaint")
    touching = [s for s in cv.seen if region[s.box.y0 : s.box.y1, s.box.x0 : s.box.x1].any()]
    cv.image = _inpaint_classic(cv.image, region)  # the rest of the area: from its surroundings
    for s in sorted(touching, key=lambda s: s.box.area, reverse=True):
        cv.draw(s.cls, s.size, *s.center, color=s.color if s.color in COLOR_RGB else None, texture=None,
                origin=s)
    notes.append(f"restored {int(region.sum())} px; redrew {len(touching)} objects")


def _new_background(image: Image.Image, op: EditOp, done: str, notes: list[str]) -> Image.Image:
    from limner.tools.sandbox.segment import estimate_background

    bg = estimate_background(image)
    w, h = image.size
    fresh = np.asarray(paint_background(op.background or "plain", w, h))
    out = np.asarray(image).copy()
    mask = bg.mask.copy()
    if done == "partial":  # only the upper part was repainted
        mask[h // 2 :] = False
        notes.append("background only partly changed")
    out[mask] = fresh[mask]
    return Image.fromarray(out)


def _retext(image: Image.Image, op: EditOp, done: str, rng: np.random.Generator, notes: list[str]) -> Image.Image:
    from limner.tools.ocr import read_text
    from limner.tools.sandbox.profiles import garble

    lines = read_text(image, min_score=0.8)  # weak reads are usually drawings, not text
    if not lines:
        raise ToolError("no text found in the image to change")
    _, box, _ = max(lines, key=lambda ln: ln[2] * ln[1].area)
    text = op.text or ""
    if done == "partial":
        text = garble(text, 0.25, rng)
        notes.append(f"wrote {text!r}")
    out = image.copy()
    th = box.y1 - box.y0
    pad = max(4, th // 4)
    d = ImageDraw.Draw(out)
    d.rectangle((box.x0 - pad, box.y0 - pad // 2 - 2, box.x1 + pad, box.y1 + pad // 2 + 2), fill=(255, 255, 255))
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    draw_text_plate(out, text, cx, cy, max_width=max(box.x1 - box.x0 + 2 * pad, 60))
    return out


# ----------------------------------------------------------------------------------------------------
# Ground-truth continuity (benchmarks only)
# ----------------------------------------------------------------------------------------------------


def _iou(a: Box, b: Box) -> float:
    iw = min(a.x1, b.x1) - max(a.x0, b.x0)
    ih = min(a.y1, b.y1) - max(a.y0, b.y0)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / max(1, a.area + b.area - inter)


def _update_truth(truth: WorldTruth, op: EditOp, before: Image.Image, after: Image.Image,
                  cv: _Canvas | None, seen_before: list[_Seen], tool: str, notes: list[str]) -> WorldTruth:
    """The truth after the edit: objects the editor erased leave, objects it drew join (matched by box)."""
    t = truth.model_copy(deep=True)
    t.tool = tool
    t.notes = list(truth.notes) + [f"{tool}: {n}" for n in notes]
    changed = np.abs(np.asarray(after, np.int16) - np.asarray(before, np.int16)).max(axis=-1) > 10
    if op.kind == "background" and op.background:
        t.background = op.background
    if op.kind == "style" and op.style:
        t.style = op.style
    if op.kind == "retext" and t.texts and changed.any():
        from limner.tools.ocr import read_text

        lines = read_text(after, min_score=0.8)
        if lines:
            text, box, _ = max(lines, key=lambda ln: ln[2] * ln[1].area)
            target = max(t.texts, key=lambda x: _iou(x.box, box))
            t.texts = [x if x is not target else WorldText(element_id=target.element_id, text=text, box=box,
                                                           plate=target.plate) for x in t.texts]
    if cv is not None:
        after_ids = {id(s) for s in cv.seen}
        removed = [s for s in seen_before if id(s) not in after_ids]
        added = [s for s in cv.seen if not any(s is b for b in seen_before)]
        keep: list[WorldObject] = []
        for o in t.objects:
            gone = any(r.cls == o.cls and _iou(r.box, o.box) > 0.3 for r in removed)
            if not gone:
                keep.append(o)
        z = max((o.z for o in keep), default=-1) + 1
        for s in added:
            root = s
            while root.origin is not None:
                root = root.origin
            prev = next((o for o in truth.objects if _iou(o.box, root.box) > 0.3 and o.cls == root.cls), None)
            keep.append(WorldObject(element_id=prev.element_id if prev else None, cls=s.cls,
                                    color=s.color or "gray", texture=s.texture, box=s.box, z=z,
                                    scale=prev.scale if prev else 1.0))
            z += 1
        for kind, box, (dx, dy), color in cv.side_effects:
            for o in keep:
                if _iou(o.box, box) > 0.5:
                    if kind == "shift":
                        b = o.box
                        o.box = Box(x0=max(0, b.x0 + dx), y0=max(0, b.y0 + dy),
                                    x1=min(t.width, b.x1 + dx), y1=min(t.height, b.y1 + dy))
                    elif color is not None:
                        o.color = color
        t.objects = keep
    # repainted pixels no longer carry old blemishes
    for b in list(t.blemishes):
        m = b.mask(t.width, t.height) & ~changed
        if not m.any():
            t.blemishes.remove(b)
        else:
            from limner.tools.sandbox.world import rle_encode

            bb = _region_box(m)
            assert bb is not None
            b.box, b.rle = bb, rle_encode(m[bb.y0 : bb.y1, bb.x0 : bb.x1])
    return t


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

    def _apply(self, call: ToolCall, image: Image.Image, region: np.ndarray | None) -> ToolResult:
        # 1. read the instruction and the picture
        src = load_image(image)
        op = parse_instruction(call.prompt)
        rng = call_rng(self.name, call.prompt, call.seed, np.asarray(src.resize((16, 16))).tobytes().hex())
        # 2. edit with this tool's hidden profile
        edited, outcome, cv = _edit(op, src, self.profile, rng, region)
        if region is not None:  # an inpainter changes nothing outside its (slightly grown) mask
            grown = np.asarray(Image.fromarray(region.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(5))) > 127
            edited = Image.fromarray(np.where(grown[..., None], np.asarray(edited), np.asarray(src)))
        # 3. blemishes, and the updated truth when a benchmark passed one in
        truth_in = call.params.get("_truth_in")
        w, h = src.size
        scratch = WorldTruth(width=w, height=h)
        if cv is not None:
            scratch.objects = [WorldObject(element_id=None, cls=s.cls, color=s.color or "gray", box=s.box, z=i,
                                           scale=1.0) for i, s in enumerate(cv.seen)]
        truth: WorldTruth | None = None
        if truth_in is not None:
            prior = truth_in if isinstance(truth_in, WorldTruth) else WorldTruth.model_validate(truth_in)
            initial = cv.initial if cv is not None else []
            truth = _update_truth(prior, op, src, edited, cv, initial, self.name,
                                  [f"outcome {outcome.done}", *outcome.notes])
            scratch = truth
        edited = add_random_blemishes(edited, scratch, self.profile.blemish_rate, rng)
        # what went wrong stays hidden (in the truth, for benchmarks): the agent must look at the pixels
        meta = {"simulated": True, "operation": op.kind, "dimension": op.dimension,
                "simulated_latency_s": self.profile.latency_s}
        return ToolResult(tool=self.name, image=edited, meta=meta,
                          ground_truth=truth.model_dump(mode="json") if truth is not None else None)


class Editor(_SandboxEditTool):
    """Sandbox instruction editor (simulated; hidden per-dimension skill profile)."""

    kind: ClassVar = "edit"

    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        assert image is not None
        if parse_instruction(call.prompt).kind == "restore":
            raise ToolError(f"editor {self.name!r} needs an instruction; 'restore' is for inpainters (mask)")
        return self._apply(call, image, None)


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
        return self._apply(call, src, region)
