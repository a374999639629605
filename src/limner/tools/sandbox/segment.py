"""Pixel-level groundwork of the sandbox checker: load an image, model its background, find foreground.

Why this works on the sandbox's pictures: OpenMoji artwork has closed black outlines, so everything that
can be reached from the image border *without crossing a dark pixel* is background, however textured
it is (the barrier-free flood of `shared/notes/sandbox-trial.md`). A smooth local background model
(`Background.fill`) is then interpolated under the foreground from the surrounding background pixels;
editors erase an object by pasting it back.

Nothing here knows about object classes; `detect.py` builds on it.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["Background", "darkness", "estimate_background", "load_rgb"]

#: Luminance (0-255) below which a pixel counts as outline ink. OpenMoji outlines are #000000; the
#: sandbox's "black" objects are filled with a near-black (~#303030) that must stay on the fill side.
INK_LUMA = 40.0


def load_rgb(image: Image.Image | np.ndarray | str | os.PathLike[str] | bytes) -> np.ndarray:
    """Return the image as an HxWx3 uint8 RGB array. Paths and bytes are decoded with clear errors.

    Transparent pixels are composited on white, as a viewer would show them.
    """
    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3/4 uint8 RGB array, got shape {arr.shape} dtype {arr.dtype}")
        return np.ascontiguousarray(arr[:, :, :3])
    if isinstance(image, (str, os.PathLike, bytes)):
        source = image if not isinstance(image, bytes) else io.BytesIO(image)
        where = "<bytes>" if isinstance(image, bytes) else str(Path(image))
        try:
            with Image.open(source) as im:
                im.load()
                image = im.copy()
        except FileNotFoundError as e:
            raise ValueError(f"cannot read image {where}: file not found") from e
        except (UnidentifiedImageError, OSError, SyntaxError) as e:
            raise ValueError(f"cannot read image {where}: not a readable image ({e})") from e
    if not isinstance(image, Image.Image):
        raise TypeError(f"expected a PIL image, an array, a path or bytes, got {type(image).__name__}")
    if image.width < 8 or image.height < 8:
        raise ValueError(f"image is too small to judge: {image.width}x{image.height}")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        canvas.alpha_composite(rgba)
        image = canvas
    return np.asarray(image.convert("RGB"))


def luma(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luminance as float32, 0-255."""
    return rgb[..., 0] * np.float32(0.299) + rgb[..., 1] * np.float32(0.587) + rgb[..., 2] * np.float32(0.114)


def darkness(rgb: np.ndarray) -> np.ndarray:
    """Outline-ink map in [0, 1]: 1 on pure black, falling to 0 at `INK_LUMA` (anti-aliasing in between)."""
    y = luma(rgb.astype(np.float32))
    return np.clip((INK_LUMA - y) / INK_LUMA * 1.6, 0.0, 1.0)


@dataclass(frozen=True)
class Background:
    """What the checker believes is behind the objects.

    `mask` is True on background pixels; `fill` is an RGB estimate of the background everywhere (equal to
    the image on background pixels, smoothly interpolated under objects); `color` is the median border colour.
    """

    mask: np.ndarray  # HxW bool
    fill: np.ndarray  # HxWx3 uint8
    color: tuple[int, int, int]

    @property
    def foreground(self) -> np.ndarray:
        return ~self.mask

    def erase(self, image: Image.Image, region: np.ndarray) -> Image.Image:
        """Paint the background estimate over `region` (HxW bool): how an editor removes an object."""
        out = np.asarray(image.convert("RGB")).copy()
        out[region] = self.fill[region]
        return Image.fromarray(out)


def _border_model(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """Median border colour and a distance beyond which a pixel cannot be background texture."""
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.float32)
    med = np.median(border, axis=0)
    spread = float(np.percentile(np.linalg.norm(border - med, axis=1), 90))
    return med, max(45.0, 1.6 * spread + 20.0)


def _flood_background(rgb: np.ndarray) -> np.ndarray:
    """Pixels reachable from the border without crossing ink or clearly non-background colour.

    Ink alone is not a closed barrier everywhere (thin tips of a carrot leave one-pixel gaps), so pixels
    far from the border's colour distribution are barriers too.
    """
    med, far = _border_model(rgb)
    dist = np.linalg.norm(rgb.astype(np.float32) - med, axis=2)
    ink = (darkness(rgb) > 0.25) | (dist > far)
    # Close one-pixel gaps in thin, anti-aliased outlines so the flood cannot leak into an object.
    ink = cv2.dilate(ink.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    free = (~ink).astype(np.uint8)
    _n, labels = cv2.connectedComponents(free, connectivity=4)
    border = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    touching = np.unique(border[border > 0])
    bg = np.isin(labels, touching)
    # The dilation ate one pixel of background beside every outline; give it back where it is not ink.
    grown = cv2.dilate(bg.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return grown & ~ink


def _remove_specks(bg: np.ndarray, min_area: int) -> np.ndarray:
    """Foreground blobs smaller than `min_area` (ink dots of a texture, noise) become background."""
    fg = (~bg).astype(np.uint8)
    _n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < min_area)
    small = small[small > 0]
    if small.size:
        bg = bg | np.isin(labels, small)
    return bg


def _interpolate_fill(rgb: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """Smooth background estimate under the foreground: normalised convolution at 1/4 resolution."""
    h, w = bg.shape
    small = (max(1, w // 4), max(1, h // 4))
    weight = cv2.resize(bg.astype(np.float32), small, interpolation=cv2.INTER_AREA)
    colour = cv2.resize(rgb.astype(np.float32) * bg[..., None], small, interpolation=cv2.INTER_AREA)
    num, den = colour.copy(), weight.copy()
    k = 3
    # Grow the estimate inwards until every pixel has background support (objects are at most ~40% wide).
    while (den < 1e-3).any() and k < 4 * max(small):
        num = cv2.blur(colour, (k, k))
        den = cv2.blur(weight, (k, k))
        k = 2 * k + 1
    est = num / np.maximum(den, 1e-6)[..., None]
    est = cv2.resize(est, (w, h), interpolation=cv2.INTER_LINEAR)
    fill = np.where(bg[..., None], rgb.astype(np.float32), est)
    return np.clip(fill, 0, 255).astype(np.uint8)


def estimate_background(image: Image.Image | np.ndarray) -> Background:
    """Background model of a sandbox picture: mask, smooth fill under objects, border colour."""
    rgb = load_rgb(image)
    bg = _flood_background(rgb)
    bg = _remove_specks(bg, min_area=max(12, rgb.shape[0] * rgb.shape[1] // 4000))
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    color = tuple(int(v) for v in np.median(border, axis=0))
    return Background(mask=bg, fill=_interpolate_fill(rgb, bg), color=color)  # type: ignore[arg-type]
