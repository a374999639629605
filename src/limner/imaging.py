"""Small image helpers every layer shares: region masks and images as data URLs.

They sit at the bottom of the import graph (next to `types`), so the worker, the profilers and the
OpenAI-compatible tools use one copy instead of importing each other.
"""

from __future__ import annotations

import base64
import io
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from limner.types import Box

__all__ = ["MAX_IMAGE_PIXELS", "MAX_WORK_SIDE", "box_mask", "image_data_url", "paste_centered", "read_image",
           "working_size"]

#: The largest image limner reads (pixels, 40 MP: a 7300×5500 photo). Decoding a larger one alone costs
#: hundreds of MB (10000×10000 RGB: 300 MB, then the checker's working copies), so it is refused, in one line,
#: from its header, before any pixel is decoded.
MAX_IMAGE_PIXELS = 40_000_000
#: Images are worked on at most this many pixels a side (larger ones are downscaled on reading, keeping their
#: aspect ratio): the checkers judge composition, and generators and editors work at or below it.
MAX_WORK_SIDE = 2048


def working_size(size: tuple[int, int]) -> tuple[int, int]:
    """The size an image of `size` is worked on at: itself, or downscaled to fit MAX_WORK_SIDE."""
    w, h = size
    scale = min(1.0, MAX_WORK_SIDE / max(w, h, 1))
    return (max(1, round(w * scale)), max(1, round(h * scale))) if scale < 1 else (w, h)


def read_image(path: str | Path) -> Image.Image:
    """An image file as RGB at its working size (`working_size`): transparency is composited over white (as
    a viewer shows it), palettes and other modes are converted. Raises ValueError, one line, for a file that
    is not a readable image or has more than MAX_IMAGE_PIXELS pixels, and FileNotFoundError when missing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > MAX_IMAGE_PIXELS:
                    raise ValueError(f"{path} is {w}×{h} pixels ({w * h / 1e6:.0f} MP); limner reads images up to "
                                     f"{MAX_IMAGE_PIXELS / 1e6:.0f} MP: downscale it first")
                target = working_size((w, h))
                if target != (w, h):
                    im.draft("RGB", target)  # JPEG decodes at a fraction of its size: less memory, faster
                im.load()
                if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                    rgba = im.convert("RGBA")
                    rgb = Image.new("RGB", rgba.size, (255, 255, 255))
                    rgb.paste(rgba, mask=rgba.getchannel("A"))
                else:
                    rgb = im.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"{path} is not a readable image ({type(e).__name__}: {e})") from None
    if rgb.size != target:
        rgb = rgb.resize(target, Image.Resampling.LANCZOS)
    return rgb


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
