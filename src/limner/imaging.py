"""Small image helpers every layer shares: region masks and images as data URLs.

They sit at the bottom of the import graph (next to `types`), so the worker, the profilers and the
OpenAI-compatible tools use one copy instead of importing each other.
"""

from __future__ import annotations

import base64
import io

from PIL import Image

from limner.types import Box

__all__ = ["box_mask", "image_data_url", "paste_centered"]


def box_mask(size: tuple[int, int], box: Box, pad: int = 4) -> Image.Image:
    """A white-on-black mask of `box` (padded) for inpainting tools."""
    mask = Image.new("L", size, 0)
    x0, y0 = max(0, box.x0 - pad), max(0, box.y0 - pad)
    x1, y1 = min(size[0], box.x1 + pad), min(size[1], box.y1 + pad)
    mask.paste(255, (x0, y0, x1, y1))
    return mask


def image_data_url(image: Image.Image) -> str:
    """The image as a `data:image/png;base64,...` URL, the form OpenAI-compatible vision APIs accept."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def paste_centered(canvas: Image.Image, sprite: Image.Image, center: tuple[float, float]) -> tuple[int, int]:
    """Alpha-composite an RGBA `sprite` centred at `center` onto an RGBA `canvas`, in place, clipped at the
    edges (a sprite may hang over any side). Returns the sprite's top-left corner, which may be negative."""
    w, h = sprite.size
    x0, y0 = round(center[0] - w / 2), round(center[1] - h / 2)
    canvas.alpha_composite(sprite, dest=(max(0, x0), max(0, y0)), source=(max(0, -x0), max(0, -y0)))
    return x0, y0
