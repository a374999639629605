"""Read an object's colour (and, on request, its texture) from its body pixels.

Why per-class prototypes: the sandbox recolours a glyph's body by shifting its shades in Lab, so a
"red" apple is many reds, and a light shade of red sits close to pink. Instead of comparing pixels to one
nominal RGB per colour word, each class's prototypes are *measured*: the artwork is rendered once in every
colour, and the body pixels' median Lab is kept (analysis by synthesis, cached per class). A detection's
colour is then a majority vote of its body pixels over those prototypes, which is robust to texture
overlays, occluders and anti-aliasing.

Texture uses the same idea: render the detected object in each candidate texture and keep the one whose
high-pass pattern correlates best with the image (only run when a scene asks about texture).
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
_protos: dict[tuple[int, str], tuple[list[str], np.ndarray]] = {}


def _lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (N×3) -> float Lab (N×3), L in 0-100."""
    px = rgb.reshape(-1, 1, 3).astype(np.float32) / 255.0
    return cv2.cvtColor(px, cv2.COLOR_RGB2Lab).reshape(-1, 3)


def body_pixels(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """RGB pixels (N×3) under `mask`, minus outline ink."""
    sel = mask & (darkness(rgb) < 0.05)
    return rgb[sel]


def colour_prototypes(artwork: Any, cls: str) -> tuple[list[str], np.ndarray]:
    """(colour names, Lab prototypes K×3) of `cls`, measured by rendering it in every colour."""
    key = (id(artwork), cls)
    hit = _protos.get(key)
    if hit is not None:
        return hit
    names: list[str] = []
    labs: list[np.ndarray] = []
    body = np.asarray(artwork.body_mask(cls, _PROTO_SIZE), dtype=bool)
    from limner.tools.sandbox.artwork import COLOR_RGB

    for name in COLOR_RGB:
        rgba = np.asarray(artwork.render(cls, _PROTO_SIZE, color=name).convert("RGBA"))
        if rgba.shape[:2] != body.shape:
            continue
        px = body_pixels(rgba[..., :3], body & (rgba[..., 3] > 200))
        if len(px) == 0:
            continue
        names.append(name)
        labs.append(np.median(_lab(px), axis=0))
    out = (names, np.array(labs, dtype=np.float32).reshape(-1, 3))
    with _lock:
        _protos[key] = out
    return out


def read_colour(artwork: Any, cls: str, pixels: np.ndarray, min_pixels: int = 12) -> str | None:
    """Majority colour of body `pixels` (N×3 RGB) among `cls`'s prototypes; None if too few pixels."""
    if len(pixels) < min_pixels:
        return None
    names, protos = colour_prototypes(artwork, cls)
    if not names:
        return None
    lab = _lab(pixels)
    # Lightness matters less than hue/chroma: shading spreads L, a colour word is mostly about a*b*.
    wts = np.array([0.5, 1.0, 1.0], dtype=np.float32)
    d = (((lab[:, None, :] - protos[None, :, :]) * wts) ** 2).sum(-1)
    votes = np.bincount(d.argmin(1), minlength=len(names))
    return names[int(votes.argmax())]


def _highpass(grey: np.ndarray) -> np.ndarray:
    g = grey.astype(np.float32)
    return g - cv2.GaussianBlur(g, (0, 0), 3.0)


def read_texture(
    artwork: Any, cls: str, size: int, color: str | None, crop: np.ndarray, body: np.ndarray,
    textures: list[str],
) -> tuple[str | None, float]:
    """Best-matching texture (None = plain) of an object crop by analysis by synthesis, and its margin.

    `crop` is the RGB image under the detection box, `body` its body mask (same shape). Each candidate is
    rendered at the detected size and colour; the high-pass patterns are correlated inside the body.
    """
    if body.sum() < 30:
        return None, 0.0
    img = _highpass(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY))[body]
    img = img - img.mean()
    best, best_s, scores = None, -2.0, []
    for tex in [None, *textures]:
        rgba = np.asarray(artwork.render(cls, size, color=color, texture=tex).convert("RGBA"))
        if rgba.shape[:2] != crop.shape[:2]:
            rgba = cv2.resize(rgba, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_AREA)
        ref = _highpass(cv2.cvtColor(np.ascontiguousarray(rgba[..., :3]), cv2.COLOR_RGB2GRAY))[body]
        ref = ref - ref.mean()
        # Plain bodies have no pattern; compare energies so "plain" can win against any texture.
        den = float(np.sqrt((img**2).sum() * (ref**2).sum()))
        s = float((img * ref).sum() / den) if den > 1e-6 else (1.0 if (img**2).mean() < 4.0 else 0.0)
        scores.append(s)
        if s > best_s:
            best, best_s = tex, s
    rest = sorted(scores)[-2] if len(scores) > 1 else 0.0
    return best, best_s - rest
