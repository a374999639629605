"""Read an object's colour (and, on request, its texture) from its body pixels.

Why per-class prototypes: the sandbox recolours a glyph's body by shifting its shades in Lab, so a
"red" apple is many reds, and a light shade of red sits close to pink. Instead of comparing pixels to one
nominal RGB per colour word, each class's prototypes are *measured*: the artwork is rendered once in every
colour, and the body pixels' median Lab is kept (analysis by synthesis, cached per class). A detection's
colour is then a majority vote of its body pixels over those prototypes, robust to occluders and
anti-aliasing. When the scene says the object is textured, prototypes measured on the textured renders
join the vote (texture overlays shift every shade).

Texture uses the same idea: render the detected object in each candidate texture and keep the one closest
to the image (only run when a scene asks about texture).
"""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np

from limner.tools.sandbox.segment import darkness

__all__ = ["body_pixels", "colour_prototypes", "read_colour", "read_texture"]

_PROTO_SIZE = 96
_lock = threading.Lock()
_protos: dict[tuple[int, str, str | None], tuple[list[str], np.ndarray]] = {}


def _lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (N×3) -> float Lab (N×3), L in 0-100."""
    px = rgb.reshape(-1, 1, 3).astype(np.float32) / 255.0
    return cv2.cvtColor(px, cv2.COLOR_RGB2Lab).reshape(-1, 3)


def body_pixels(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """RGB pixels (N×3) under `mask`, minus outline ink."""
    sel = mask & (darkness(rgb) < 0.05)
    return rgb[sel]


def colour_prototypes(artwork: Any, cls: str, texture: str | None = None) -> tuple[list[str], np.ndarray]:
    """(owner colour of each prototype, Lab prototypes K×3) of `cls`, measured by rendering it in every colour.

    Plain: one prototype per colour (the body's median Lab). With a `texture`, whose overlay splits a
    body into lighter and darker shades (a checkered orange has no orange pixel left), three per colour:
    the medians of the darkest, middle and lightest thirds of the textured body, composited on a light
    grey as translucent glass would be.
    """
    key = (id(artwork), cls, texture)
    hit = _protos.get(key)
    if hit is not None:
        return hit
    from limner.tools.sandbox.artwork import COLOR_RGB

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
    out = (names, np.array(labs, dtype=np.float32).reshape(-1, 3))
    with _lock:
        _protos[key] = out
    return out


def read_colour(
    artwork: Any, cls: str, pixels: np.ndarray, min_pixels: int = 12, textures: tuple[str, ...] = ()
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
    lab = _lab(pixels)
    # Lightness matters less than hue/chroma: shading spreads L, a colour word is mostly about a*b*.
    wts = np.array([0.5, 1.0, 1.0], dtype=np.float32)
    d = (((lab[:, None, :] - protos[None, :, :]) * wts) ** 2).sum(-1)
    owners = sorted(set(names))
    owner_of = np.array([owners.index(n) for n in names])
    votes = np.bincount(owner_of[d.argmin(1)], minlength=len(owners))
    return owners[int(votes.argmax())]


def read_texture(
    artwork: Any, det: Any, rgb: np.ndarray, fill: np.ndarray, textures: list[str], shift: int = 2
) -> tuple[str | None, float]:
    """Texture of a detection (None = plain) by analysis by synthesis, and its margin over the runner-up.

    Each candidate texture is rendered at the detected class and size — in the colour read from the
    image and in the texture's own default colour (an unasked "wooden" object is brown) — composited on
    the background estimate (glass is translucent), and compared with the image by mean squared RGB
    difference over the body. The alignment (the detection box is exact to about 2 px, most patterns are
    finer) is found once, with the plain rendering's outline, then kept for every candidate.
    """
    b = det.box
    h, w = rgb.shape[:2]
    y0, x0 = max(0, b.y0 - shift), max(0, b.x0 - shift)
    y1, x1 = min(h, b.y1 + shift), min(w, b.x1 + shift)
    img = rgb[y0:y1, x0:x1].astype(np.float32)
    body = np.asarray(artwork.body_mask(det.cls, det.size), dtype=bool)
    bh, bw = body.shape
    ox, oy = b.x0 - x0, b.y0 - y0  # sprite origin inside the window
    if body.sum() < 30:
        return None, 0.0

    def composite(sprite: np.ndarray, sy: int, sx: int) -> np.ndarray:
        under = fill[y0 + sy : y0 + sy + bh, x0 + sx : x0 + sx + bw].astype(np.float32)
        a = sprite[..., 3:4].astype(np.float32) / 255.0
        return sprite[..., :3].astype(np.float32) * a + under * (1 - a)

    def error(sprite: np.ndarray, sy: int, sx: int, mask: np.ndarray) -> float:
        if sy < 0 or sx < 0 or sy + bh > img.shape[0] or sx + bw > img.shape[1] or sprite.shape[:2] != (bh, bw):
            return float("inf")
        d = composite(sprite, sy, sx) - img[sy : sy + bh, sx : sx + bw]
        return float((d[mask] ** 2).mean())

    def sprite_of(color: str | None, tex: str | None) -> np.ndarray:
        return np.asarray(artwork.render(det.cls, det.size, color=color, texture=tex).convert("RGBA"))

    plain = sprite_of(det.color, None)
    outline = (plain[..., 3] > 128) & (darkness(plain[..., :3]) > 0.5)
    if outline.sum() < 10:
        outline = plain[..., 3] > 128
    shifts = [(oy + dy, ox + dx) for dy in range(-shift, shift + 1) for dx in range(-shift, shift + 1)]
    sy, sx = min(shifts, key=lambda p: error(plain, p[0], p[1], outline))
    scores: dict[str | None, float] = {}
    for tex in [None, *textures]:
        colours = {det.color, None} if tex is not None else {det.color}
        scores[tex] = min(error(sprite_of(c, tex), sy, sx, body) for c in colours)
    ranked = sorted(scores.items(), key=lambda kv: kv[1])
    margin = ranked[1][1] - ranked[0][1] if len(ranked) > 1 else 0.0
    return ranked[0][0], margin
