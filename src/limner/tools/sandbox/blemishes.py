"""Local defects that sandbox painters and editors leave behind, with exact masks.

A fixed taxonomy (`BLEMISH_KINDS`) of the artefacts generative models are known for, each made by a small
pure function that changes pixels inside a patch near an object (or a text). The ground-truth mask of a
blemish is *exactly the pixels it changed* (difference to the image before it, inside its patch), so the
retoucher's saliency model has a precise target and the mask test can compare pixel by pixel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import get_args

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from limner.tools.sandbox.world import Blemish, BlemishKind, WorldTruth, rle_encode
from limner.types import Box

#: The defect taxonomy, with what each looks like (the retoucher's reasoning names these categories).
BLEMISH_KINDS: dict[BlemishKind, str] = {
    "smear": "a streak where the paint was dragged sideways, blurring part of an object",
    "broken_outline": "a gap in an object's black outline",
    "duplicated_fragment": "a ghost copy of part of an object pasted next to it",
    "missing_part": "a chunk of an object cut away to background",
    "noise_patch": "a patch of coloured noise",
    "melted_text": "letters that run and warp into each other",
    "color_bleed": "an object's colour spilling outside its outline",
    "warped_shape": "part of an object bent into a wave",
    "stray_marks": "random dark strokes that belong to nothing",
}

assert set(BLEMISH_KINDS) == set(get_args(BlemishKind))

_CHANGE = 10  # a pixel counts as changed when a channel moved by more than this

#: The pixel rectangle (x0, y0, x1, y1) a blemish may change.
Patch = tuple[int, int, int, int]


def _smear(a: np.ndarray, p: Patch, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = p
    k = max(3, (x1 - x0) // 4) | 1
    a[y0:y1, x0:x1] = cv2.blur(np.ascontiguousarray(a[y0:y1, x0:x1]), (k, 1))  # drag sideways


def _broken_outline(a: np.ndarray, p: Patch, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = p
    sub = a[y0:y1, x0:x1]
    dark = sub.max(axis=-1) < 70
    if dark.any():
        light = sub[~dark]
        fill = np.median(light, axis=0) if light.size else np.array([240, 240, 240])
        sub[dark] = fill.astype(np.uint8)


def _duplicated_fragment(a: np.ndarray, p: Patch, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = p
    h, w = a.shape[:2]
    pw, ph = x1 - x0, y1 - y0
    dx = int(rng.choice([-1, 1]) * pw * rng.uniform(0.6, 1.0))
    dy = int(rng.uniform(-0.4, 0.4) * ph)
    tx0, ty0 = min(max(0, x0 + dx), w - pw), min(max(0, y0 + dy), h - ph)
    frag = a[y0:y1, x0:x1].astype(np.float32)
    dst = a[ty0 : ty0 + ph, tx0 : tx0 + pw].astype(np.float32)
    a[ty0 : ty0 + ph, tx0 : tx0 + pw] = (0.75 * frag + 0.25 * dst).astype(np.uint8)


def _missing_part(a: np.ndarray, p: Patch, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = p
    # the background colour is read from the image border, as a painter's "nothing" would be
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    fill = np.median(border, axis=0).astype(np.uint8)
    mask = Image.new("L", (x1 - x0, y1 - y0), 0)
    ImageDraw.Draw(mask).ellipse((0, 0, x1 - x0 - 1, y1 - y0 - 1), fill=255)
    m = np.asarray(mask) > 127
    a[y0:y1, x0:x1][m] = fill


def _noise_patch(a: np.ndarray, p: Patch, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = p
    noise = rng.integers(0, 256, size=(y1 - y0, x1 - x0, 3), dtype=np.int32)
    sub = a[y0:y1, x0:x1].astype(np.int32)
    a[y0:y1, x0:x1] = ((sub + noise) // 2).astype(np.uint8)


def _melted_text(a: np.ndarray, p: Patch, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = p
    sub = a[y0:y1, x0:x1].copy()
    h = sub.shape[0]
    amp = max(2, h // 5)
    phase = rng.uniform(0, 2 * np.pi)
    out = sub.copy()
    for col in range(sub.shape[1]):
        shift = int(amp * np.sin(col / max(3, h / 2.5) + phase))
        out[:, col] = np.roll(sub[:, col], shift, axis=0)
    a[y0:y1, x0:x1] = np.asarray(Image.fromarray(out).filter(ImageFilter.GaussianBlur(0.8)))


def _color_bleed(a: np.ndarray, p: Patch, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = p
    sub = a[y0:y1, x0:x1]
    sat = sub.max(axis=-1).astype(np.int32) - sub.min(axis=-1)
    if (sat > 60).any():
        color = np.median(sub[sat > 60], axis=0)
    else:
        color = np.array([200, 60, 60])
    blob = Image.new("L", (x1 - x0, y1 - y0), 0)
    ImageDraw.Draw(blob).ellipse((0, 0, x1 - x0 - 1, y1 - y0 - 1), fill=150)
    alpha = np.asarray(blob.filter(ImageFilter.GaussianBlur(max(1, (x1 - x0) // 8))), np.float32)[..., None] / 255
    a[y0:y1, x0:x1] = (sub * (1 - alpha) + color * alpha).astype(np.uint8)


def _warped_shape(a: np.ndarray, p: Patch, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = p
    sub = a[y0:y1, x0:x1].copy()
    w = sub.shape[1]
    amp = max(2, w // 6)
    out = sub.copy()
    for row in range(sub.shape[0]):
        out[row] = np.roll(sub[row], int(amp * np.sin(row / max(2, sub.shape[0] / 3.0))), axis=0)
    a[y0:y1, x0:x1] = out


def _stray_marks(a: np.ndarray, p: Patch, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = p
    img = Image.fromarray(a[y0:y1, x0:x1])
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 5))):
        pts = [(float(rng.uniform(0, x1 - x0)), float(rng.uniform(0, y1 - y0))) for _ in range(3)]
        d.line(pts, fill=(20, 20, 20), width=max(1, (x1 - x0) // 18))
    a[y0:y1, x0:x1] = np.asarray(img)


#: Kind -> the function that paints it into the RGB array, inside the patch, in place.
_MAKERS: dict[BlemishKind, Callable[[np.ndarray, Patch, np.random.Generator], None]] = {
    "smear": _smear,
    "broken_outline": _broken_outline,
    "duplicated_fragment": _duplicated_fragment,
    "missing_part": _missing_part,
    "noise_patch": _noise_patch,
    "melted_text": _melted_text,
    "color_bleed": _color_bleed,
    "warped_shape": _warped_shape,
    "stray_marks": _stray_marks,
}
assert set(_MAKERS) == set(BLEMISH_KINDS)


# Where a blemish goes around its target box: (target, rng, image width, height) -> patch.
_PatchFn = Callable[[Box, np.random.Generator, int, int], Patch]


def _near(frac: float) -> _PatchFn:
    """A patch `frac` of the target's size at a random place inside it."""

    def patch(box: Box, rng: np.random.Generator, w: int, h: int) -> Patch:
        bw, bh = max(4, box.x1 - box.x0), max(4, box.y1 - box.y0)
        pw, ph = max(6, int(bw * frac)), max(6, int(bh * frac))
        x0 = int(rng.integers(box.x0, max(box.x0 + 1, box.x1 - pw + 1)))
        y0 = int(rng.integers(box.y0, max(box.y0 + 1, box.y1 - ph + 1)))
        return max(0, x0), max(0, y0), min(w, x0 + pw), min(h, y0 + ph)

    return patch


def _around_text(box: Box, rng: np.random.Generator, w: int, h: int) -> Patch:
    """The text's ink box and a little more: melted letters run past their line."""
    return max(0, box.x0 - 2), max(0, box.y0 - 3), min(w, box.x1 + 2), min(h, box.y1 + 3)


def _across_outline(box: Box, rng: np.random.Generator, w: int, h: int) -> Patch:
    """A square centred on the left or right edge of the target, so a colour spills out of the outline."""
    bw, bh = box.x1 - box.x0, box.y1 - box.y0
    cx = box.x0 if rng.random() < 0.5 else box.x1
    cy = int(rng.integers(box.y0, max(box.y0 + 1, box.y1)))
    r = max(5, int(0.3 * max(bw, bh)))
    return max(0, cx - r), max(0, cy - r), min(w, cx + r), min(h, cy + r)


#: Kind -> where it goes around its target.
_PATCHES: dict[BlemishKind, _PatchFn] = {
    "smear": _near(0.55), "broken_outline": _near(0.35), "duplicated_fragment": _near(0.4),
    "missing_part": _near(0.35), "noise_patch": _near(0.3), "melted_text": _around_text,
    "color_bleed": _across_outline, "warped_shape": _near(0.5), "stray_marks": _near(0.5),
}
assert set(_PATCHES) == set(BLEMISH_KINDS)


def _random_target(kind: BlemishKind, truth: WorldTruth, rng: np.random.Generator, w: int, h: int) -> Box | None:
    """A random text for melted text (None without text), else a random clearly visible object (or the
    middle of the image when there is none)."""
    if kind == "melted_text":
        return truth.texts[int(rng.integers(len(truth.texts)))].box if truth.texts else None
    objs = [o for o in truth.objects if o.visible > 0.3 and o.box.area > 0]
    if objs:
        return objs[int(rng.integers(len(objs)))].box
    return Box(x0=w // 4, y0=h // 4, x1=3 * w // 4, y1=3 * h // 4)


def paint_effect(
    image: Image.Image, truth: WorldTruth, kind: BlemishKind, rng: np.random.Generator, target: Box | None = None
) -> tuple[Image.Image, Box, np.ndarray] | None:
    """Paint the pixel operation of `kind` near `target` (default: a random object or text) *without*
    recording a blemish: the image, the changed pixels' box and their mask inside it, or None when nothing
    changed. `add_blemish` records the result as a defect; the blemish dataset also uses it for effects a
    prompt asks for ("a cup covered in scribbles"), which are the same pixels but not a defect."""
    if kind not in _MAKERS:
        raise KeyError(f"unknown blemish kind {kind!r}; expected one of {list(BLEMISH_KINDS)}")
    w, h = image.size
    before = np.asarray(image.convert("RGB"))
    after = before.copy()
    if target is None:
        target = _random_target(kind, truth, rng, w, h)
        if target is None:
            return None
    patch = _PATCHES[kind](target, rng, w, h)
    if patch[2] - patch[0] < 3 or patch[3] - patch[1] < 3:
        return None
    _MAKERS[kind](after, patch, rng)
    changed = (np.abs(after.astype(np.int16) - before.astype(np.int16)).max(axis=-1) > _CHANGE)
    # pixels that moved by <= _CHANGE are restored, so the mask is exactly the set of altered pixels
    after[~changed] = before[~changed]
    if not changed.any():
        return None
    ys, xs = np.nonzero(changed)
    box = Box(x0=int(xs.min()), y0=int(ys.min()), x1=int(xs.max()) + 1, y1=int(ys.max()) + 1)
    return Image.fromarray(after, "RGB"), box, changed[box.y0 : box.y1, box.x0 : box.x1]


def add_blemish(
    image: Image.Image, truth: WorldTruth, kind: BlemishKind, rng: np.random.Generator, target: Box | None = None
) -> tuple[Image.Image, Blemish | None]:
    """Apply one blemish of `kind` near `target` (default: a random object or text); record it in `truth`.

    Returns the new image and the blemish (None when it changed no pixel, e.g. no outline in the patch).
    """
    painted = paint_effect(image, truth, kind, rng, target)
    if painted is None:
        return image, None
    after, box, changed = painted
    blemish = Blemish(kind=kind, box=box, rle=rle_encode(changed), description=BLEMISH_KINDS[kind])
    truth.blemishes.append(blemish)
    return after, blemish


def add_random_blemishes(
    image: Image.Image, truth: WorldTruth, rate: float, rng: np.random.Generator,
    kinds: tuple[BlemishKind, ...] | None = None, exclude: tuple[BlemishKind, ...] = (),
) -> Image.Image:
    """Add Poisson(`rate`) blemishes of random kinds (melted text only where there is text; none of
    `exclude`, e.g. the effects the prompt asked for)."""
    n = int(rng.poisson(rate)) if rate > 0 else 0
    pool: list[BlemishKind] = [k for k in (kinds or tuple(BLEMISH_KINDS))
                               if (k != "melted_text" or truth.texts) and k not in exclude]
    if not pool:
        return image
    for _ in range(min(n, 4)):
        kind = pool[int(rng.integers(len(pool)))]
        image, _ = add_blemish(image, truth, kind, rng)
    return image
