"""Read an object's colour (and, on request, its texture) from its body pixels.

Why per-class prototypes: the sandbox recolours a glyph's body by shifting its shades in Lab, so a
"red" apple is many reds, and a light shade of red sits close to pink. Instead of comparing pixels to one
nominal RGB per colour word, each class's prototypes are *measured*: the artwork is rendered once in every
colour, and the body pixels' median Lab is kept (analysis by synthesis, cached per class). A detection's
colour is then a majority vote of its body pixels over those prototypes, robust to occluders and
anti-aliasing. When the scene says the object is textured, prototypes measured on the textured renders
join the vote (texture overlays shift every shade).

Texture uses the same idea, pixel by pixel and pair by pair, in `texture_reader.py` (on the sprite fitted
here by `fit_sprite`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from limner.tools.sandbox.artwork import COLOR_RGB, Artwork
from limner.tools.sandbox.segment import darkness

__all__ = [
    "SpriteFit", "body_pixels", "colour_prototypes", "composite_over", "fit_sprite", "mask_window", "read_colour",
]

_PROTO_SIZE = 96


def _lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (N×3) -> float Lab (N×3), L in 0-100."""
    px = rgb.reshape(-1, 1, 3).astype(np.float32) / 255.0
    return cv2.cvtColor(px, cv2.COLOR_RGB2Lab).reshape(-1, 3)


def body_pixels(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """RGB pixels (N×3) under `mask`, minus outline ink."""
    px = rgb[mask]  # ink is measured on the masked pixels only (same pixels, same order as masking after)
    return px[darkness(px) < 0.05]


@functools.cache
def colour_prototypes(artwork: Artwork, cls: str, texture: str | None = None) -> tuple[list[str], np.ndarray]:
    """(owner colour of each prototype, Lab prototypes K×3) of `cls`, measured by rendering it in every colour.

    Plain: one prototype per colour (the body's median Lab). With a `texture`, whose overlay splits a
    body into lighter and darker shades (a checkered orange has no orange pixel left), three per colour:
    the medians of the darkest, middle and lightest thirds of the textured body, composited on a light
    grey as translucent glass would be. Measured once per (artwork, class, texture); callers must not
    change the lists they get.
    """
    names: list[str] = []
    labs: list[np.ndarray] = []
    body = np.asarray(artwork.body_mask(cls, _PROTO_SIZE), dtype=bool)
    for name in COLOR_RGB:
        rgba = np.asarray(artwork.render(cls, _PROTO_SIZE, color=name, texture=texture).convert("RGBA"))
        if rgba.shape[:2] != body.shape:
            continue
        alpha = rgba[..., 3:4].astype(np.float32) / 255.0
        rgb = (rgba[..., :3] * alpha + 235.0 * (1 - alpha)).astype(np.uint8)
        px = body_pixels(rgb, body & (rgba[..., 3] > 100))
        if len(px) == 0:
            continue
        lab = _lab(px)
        if texture is None:
            names.append(name)
            labs.append(np.median(lab, axis=0))
            continue
        order = np.argsort(lab[:, 0])
        for part in np.array_split(order, 3):
            if len(part):
                names.append(name)
                labs.append(np.median(lab[part], axis=0))
    return names, np.array(labs, dtype=np.float32).reshape(-1, 3)


def read_colour(
    artwork: Artwork, cls: str, pixels: np.ndarray, min_pixels: int = 12, textures: tuple[str, ...] = ()
) -> str | None:
    """Majority colour of body `pixels` (N×3 RGB) among `cls`'s prototypes; None if too few pixels.

    `textures` the object may carry add their textured prototypes to the plain ones.
    """
    if len(pixels) < min_pixels:
        return None
    names, protos = colour_prototypes(artwork, cls)
    for tex in textures:
        tn, tp = colour_prototypes(artwork, cls, tex)
        names, protos = names + tn, np.concatenate([protos, tp]) if len(tp) else protos
    if not names:
        return None
    counts = None
    if pixels.dtype == np.uint8:
        # A body is a few hundred distinct colours over thousands of pixels: each distinct colour is
        # converted and compared once and votes with its pixel count (the same votes, a fraction of the work;
        # the Lab conversion is per pixel, so a colour converts alike wherever it stands).
        key = (pixels[:, 0].astype(np.int32) << 16) | (pixels[:, 1].astype(np.int32) << 8) | pixels[:, 2]
        _keys, first, counts = np.unique(key, return_index=True, return_counts=True)
        pixels = pixels[first]
    lab = _lab(pixels)
    # Lightness matters less than hue/chroma: shading spreads L, a colour word is mostly about a*b*.
    wts = np.array([0.5, 1.0, 1.0], dtype=np.float32)
    d = (((lab[:, None, :] - protos[None, :, :]) * wts) ** 2).sum(-1)
    owners = sorted(set(names))
    owner_of = np.array([owners.index(n) for n in names])
    votes = np.bincount(owner_of[d.argmin(1)], weights=counts, minlength=len(owners))
    return owners[int(votes.argmax())]


@dataclass(frozen=True)
class SpriteFit:
    """Where a class's sprite sits in the image: its size (longer side, px), top-left corner, outline error."""

    size: int
    x0: int
    y0: int
    error: float


def composite_over(sprite: np.ndarray, under: np.ndarray) -> np.ndarray:
    """An RGBA sprite alpha-composited over RGB pixels (float RGB): how a drawing looks where it lies, shared
    by the colour and the texture readers."""
    a = sprite[..., 3:4].astype(np.float32) / 255.0
    return sprite[..., :3].astype(np.float32) * a + under.astype(np.float32) * (1 - a)


def _sprite_errors(px: np.ndarray, at: np.ndarray, rgb: np.ndarray, fill: np.ndarray) -> list[float]:
    """Mean squared RGB difference between the image and the sprite's masked pixels `px` (N×4, row-major)
    composited where they land, for K placements at once: `at` (K×N) holds their flat indices into the image
    (`rgb`, `fill` flattened to (H·W)×3).

    Only the masked pixels are gathered and composited (an outline is a fraction of its sprite), all K
    placements in one go; each placement's mean is taken on its own contiguous N×3 block, so every error
    is the very number compositing the whole window and masking after gave.
    """
    d = composite_over(px[None], fill[at]) - rgb[at].astype(np.float32)
    return [float((d[k] ** 2).mean()) for k in range(len(d))]


def mask_window(mask: np.ndarray, y: int, x: int, shape: tuple[int, ...]) -> np.ndarray:
    """The `shape`-sized part of an image-sized mask at (y, x); outside the image counts as False."""
    out = np.zeros(shape[:2], dtype=bool)
    h, w = shape[:2]
    y0, x0, y1, x1 = max(0, y), max(0, x), min(mask.shape[0], y + h), min(mask.shape[1], x + w)
    if y1 > y0 and x1 > x0:
        out[y0 - y : y1 - y, x0 - x : x1 - x] = mask[y0:y1, x0:x1]
    return out


def fit_sprite(
    artwork: Artwork, det: Any, rgb: np.ndarray, fill: np.ndarray, sizes: Sequence[int], shift: int = 3
) -> SpriteFit | None:
    """The sprite size (of `sizes`) and place that best explain the detection's outline ink.

    Why: the detector's size is right to a few px only (its scale steps are 3.5 %), and what is read from
    the rendered sprite afterwards (a texture pattern, which silhouette covers which) needs it exact. Every
    size is tried centred on the detection (±1 px), then the three best within `shift` px. The outline is
    compared, not the body: it is black ink whatever the colour, texture or translucency.
    """
    b = det.box
    sizes = [s for s in sizes if s >= 8]
    if not sizes:
        return None

    H, W = rgb.shape[:2]
    rgb_flat, fill_flat = rgb.reshape(-1, 3), fill.reshape(-1, 3)
    # per size: (sprite, outline, the outline's sprite pixels N×4, their flat offsets in the image); the coarse
    # and fine passes share them
    sprites: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}

    def sprite_of(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if size not in sprites:
            plain = np.asarray(artwork.render(det.cls, size, color=det.color).convert("RGBA"))
            outline = (plain[..., 3] > 128) & (darkness(plain[..., :3]) > 0.5)
            if outline.sum() < 10:
                outline = plain[..., 3] > 128
            ys, xs = np.nonzero(outline)
            sprites[size] = plain, outline, plain[outline], ys * W + xs
        return sprites[size]

    def row_errors(size: int, y: int, xs: list[int]) -> list[float]:
        """The sprite's error at (y, x) for every x of `xs` (inf where it leaves the image)."""
        plain, _outline, px, flat = sprite_of(size)
        sh, sw = plain.shape[:2]
        out = [float("inf")] * len(xs)
        inside = [j for j, x in enumerate(xs) if x >= 0 and x + sw <= W]
        if y < 0 or y + sh > H or not inside:
            return out
        at = flat[None, :] + np.array([y * W + xs[j] for j in inside], dtype=np.int64)[:, None]
        for j, err in zip(inside, _sprite_errors(px, at, rgb_flat, fill_flat), strict=True):
            out[j] = err
        return out

    def fit(size: int, reach: int) -> SpriteFit:
        plain, outline, _px, _flat = sprite_of(size)
        if not outline.any():
            return SpriteFit(size, b.x0, b.y0, float("inf"))
        cy = round((b.y0 + b.y1 - plain.shape[0]) / 2)
        cx = round((b.x0 + b.x1 - plain.shape[1]) / 2)
        offsets = range(-reach, reach + 1)
        xs = [cx + dx for dx in offsets]
        err, y, x = min(
            (e, cy + dy, x) for dy in offsets for e, x in zip(row_errors(size, cy + dy, xs), xs, strict=True)
        )
        return SpriteFit(size, x, y, err)

    likely = sorted(sizes, key=lambda s: fit(s, 1).error)[:3]
    best = min((fit(s, shift) for s in likely), key=lambda f: f.error)
    return best if np.isfinite(best.error) else None
