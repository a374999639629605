"""The checker's speed-ups compute the very numbers they replaced (docs/checker.md, "Speed").

Each test keeps the code as it was before the speed-up (commit 951e583) as the reference and asks for
exact equality on sandbox pictures; `scripts/checker_regression.py` checks whole verdicts on 235 pictures.
"""

from __future__ import annotations

import numpy as np
import pytest

from limner.geometry import paste_mask
from limner.tools.sandbox.artwork import get_artwork
from limner.tools.sandbox.checker import FIT_SCALES, FIT_SHIFT_PX
from limner.tools.sandbox.colour_reader import (
    _lab,
    body_pixels,
    colour_prototypes,
    composite_over,
    fit_sprite,
    read_colour,
)
from limner.tools.sandbox.detect import Detector, _Candidate
from limner.tools.sandbox.render import render_scene
from limner.tools.sandbox.segment import darkness, estimate_background
from limner.types import Element, Relation, Scene


@pytest.fixture(scope="module")
def picture() -> tuple[np.ndarray, np.ndarray, list]:
    """A rendered sandbox picture (striped apples, a car, a dog), its background fill, its detections."""
    scene = Scene(prompt="t", elements=[
        Element(id="e0", noun="apples", cls="apple", count=2, color="red", texture="striped"),
        Element(id="e1", noun="car", cls="car", color="blue"),
        Element(id="e2", noun="dog", cls="dog")],
        relations=[Relation(subject="e0", predicate="left of", object="e1")])
    image, _ = render_scene(scene, seed=11, width=320, height=320)
    rgb = np.asarray(image.convert("RGB"))
    bg = estimate_background(rgb)
    dets = Detector().detect(rgb, ["apple", "car", "dog"], background=bg, textures={"apple": ("striped",)})
    assert dets
    return rgb, bg.fill, dets


def test_lab_converts_a_colour_alike_wherever_it_stands() -> None:
    rng = np.random.default_rng(0)
    for _ in range(60):
        palette = rng.integers(0, 256, size=(int(rng.integers(1, 300)), 3), dtype=np.uint8)
        px = palette[rng.integers(0, len(palette), size=int(rng.integers(1, 5000)))]
        key = (px[:, 0].astype(np.int32) << 16) | (px[:, 1].astype(np.int32) << 8) | px[:, 2]
        _u, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        assert np.array_equal(_lab(px), _lab(px[first])[inverse.reshape(-1)])


def _old_read_colour(artwork, cls: str, pixels: np.ndarray, textures: tuple[str, ...] = ()) -> str | None:
    if len(pixels) < 12:
        return None
    names, protos = colour_prototypes(artwork, cls)
    for tex in textures:
        tn, tp = colour_prototypes(artwork, cls, tex)
        names, protos = names + tn, np.concatenate([protos, tp]) if len(tp) else protos
    lab = _lab(pixels)
    wts = np.array([0.5, 1.0, 1.0], dtype=np.float32)
    d = (((lab[:, None, :] - protos[None, :, :]) * wts) ** 2).sum(-1)
    owners = sorted(set(names))
    owner_of = np.array([owners.index(n) for n in names])
    return owners[int(np.bincount(owner_of[d.argmin(1)], minlength=len(owners)).argmax())]


def test_body_pixels_and_colour_votes_are_those_of_every_pixel(picture) -> None:
    rgb, _fill, dets = picture
    art = get_artwork()
    rng = np.random.default_rng(1)
    for d in dets:
        assert d.mask is not None
        old = rgb[d.mask & (darkness(rgb) < 0.05)]
        px = body_pixels(rgb, d.mask)
        assert np.array_equal(px, old)
        for tex in ((), ("striped",)):
            assert read_colour(art, d.cls, px, textures=tex) == _old_read_colour(art, d.cls, px, tex)
        noisy = np.clip(px.astype(np.int16) + rng.integers(-40, 41, size=px.shape), 0, 255).astype(np.uint8)
        assert read_colour(art, d.cls, noisy) == _old_read_colour(art, d.cls, noisy)


def _old_fit_sprite(artwork, det, rgb, fill, sizes, shift):
    b = det.box
    sizes = [s for s in sizes if s >= 8]
    sprites = {}

    def error(sprite, y, x, mask):
        sh, sw = sprite.shape[:2]
        if y < 0 or x < 0 or y + sh > rgb.shape[0] or x + sw > rgb.shape[1] or mask.shape != (sh, sw):
            return float("inf")
        d = composite_over(sprite, fill[y : y + sh, x : x + sw]) - rgb[y : y + sh, x : x + sw].astype(np.float32)
        return float((d[mask] ** 2).mean())

    def sprite_of(size):
        if size not in sprites:
            plain = np.asarray(artwork.render(det.cls, size, color=det.color).convert("RGBA"))
            outline = (plain[..., 3] > 128) & (darkness(plain[..., :3]) > 0.5)
            if outline.sum() < 10:
                outline = plain[..., 3] > 128
            sprites[size] = plain, outline
        return sprites[size]

    def fit(size, reach):
        plain, outline = sprite_of(size)
        cy = round((b.y0 + b.y1 - plain.shape[0]) / 2)
        cx = round((b.x0 + b.x1 - plain.shape[1]) / 2)
        offsets = range(-reach, reach + 1)
        return min((error(plain, cy + dy, cx + dx, outline), cy + dy, cx + dx) for dy in offsets for dx in offsets)

    likely = sorted(sizes, key=lambda s: fit(s, 1)[0])[:3]
    err, y, x, size = min(((*fit(s, shift), s) for s in likely), key=lambda f: f[0])
    return (size, x, y, err)


def test_sprite_fits_are_those_of_whole_windows(picture) -> None:
    rgb, fill, dets = picture
    art = get_artwork()
    for d in dets:
        for sizes, shift in (([round(d.size * f) for f in FIT_SCALES], FIT_SHIFT_PX), (range(d.size - 4, d.size + 5), 3)):
            new = fit_sprite(art, d, rgb, fill, sizes, shift)
            assert new is not None
            assert (new.size, new.x0, new.y0, new.error) == _old_fit_sprite(art, d, rgb, fill, sizes, shift)


def _old_drawn_by(det: Detector, chosen, rgb, fg, textures) -> np.ndarray:
    c = det.config
    H, W = fg.shape
    drawn = np.zeros((H, W), dtype=bool)
    r = c.explain_shift_px
    for k in chosen:
        x0, y0, _, _ = det._inner_rect(k)
        bx, by = round(x0), round(y0)
        if k.variant is None:
            body = paste_mask(det.artwork.body_mask(k.cls, k.size), bx, by, (H, W))
            colour = read_colour(det.artwork, k.cls, body_pixels(rgb, body & fg))
            looks = [(colour, None), *((colour, t) for t in textures.get(k.cls, ()))]
            sprites = [np.asarray(det.artwork.render(k.cls, k.size, color=col, texture=t).convert("RGBA"))
                       for col, t in looks]
        else:
            sprites = [det._sprite(k.cls, k.size, k.variant)]
        sh, sw = sprites[0].shape[:2]
        wx0, wy0, wx1, wy1 = max(0, bx - r), max(0, by - r), min(W, bx + sw + r), min(H, by + sh + r)
        if wx1 <= wx0 or wy1 <= wy0:
            continue
        win = rgb[wy0:wy1, wx0:wx1].astype(np.int16)
        hit = np.zeros(win.shape[:2], dtype=bool)
        h, w = win.shape[:2]
        for sprite in sprites:
            canvas = np.zeros((sh + 4 * r, sw + 4 * r, 4), dtype=np.int16)
            canvas[2 * r : 2 * r + sh, 2 * r : 2 * r + sw] = sprite
            oy, ox = wy0 - by + 2 * r, wx0 - bx + 2 * r
            for dy in range(-r, r + 1):
                for dx in range(-r, r + 1):
                    shifted = canvas[oy - dy : oy - dy + h, ox - dx : ox - dx + w]
                    near = np.abs(shifted[..., :3] - win).max(axis=2) <= c.explain_rgb_tol
                    hit |= near & (shifted[..., 3] > 127)
        drawn[wy0:wy1, wx0:wx1] |= hit
    return drawn


def test_the_drawn_by_test_is_that_of_int16_numpy(picture) -> None:
    rgb, _fill, dets = picture
    det = Detector()
    fg = estimate_background(rgb).foreground
    margin = {d.size: max(1, round(det.config.pad_frac * d.size)) for d in dets}  # the template margin
    chosen = [_Candidate(d.cls, d.size, d.box.x0 - margin[d.size], d.box.y0 - margin[d.size], 0, 0, d.score)
              for d in dets]
    # a black-variant candidate, and one hanging over the picture's corner
    chosen.append(_Candidate("dog", 60, -10.0, -12.0, 0, 0, 0.9, "black"))
    textures = {"apple": ("striped", "dotted")}
    new = det._drawn_by(chosen, rgb, fg, textures)
    assert new.any()
    assert np.array_equal(new, _old_drawn_by(det, chosen, rgb, fg, textures))
