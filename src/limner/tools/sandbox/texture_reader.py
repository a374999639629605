"""Read a found object's texture by pixel-wise, pairwise comparison of rendered candidates.

Why pairwise and pixel-wise: the sandbox draws a texture as a deterministic lightness pattern over the
body, so once the object's sprite is fitted to the picture (`colour_reader.fit_sprite`) every candidate
texture predicts each body pixel exactly. Two candidates are told apart only on the pixels where their
renders differ: a plain and a "smooth" bus differ on a few rows at the top and bottom of the body, a
dotted and a plain apple only on the dots. A mean error over the whole body drowns those pixels in the
ones both candidates explain equally, and in a blemish or an occluder's edge that neither explains (that
is how plain buses were read "smooth" and one smooth bus of eight "fluffy"). Here each pair is judged on
its own discriminating pixels, by which of the two renders is closer at each, so a blemish costs both
sides the same few votes.

A reading says what it could not see: an instance too hidden to read, or one on which the asked texture
and another candidate draw (nearly) the same pixels (a faint gradient on a thin glyph, a highlight on a
white body), is *unreadable* — and the checker does not count it as carrying the asked texture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from limner.tools.sandbox.artwork import TEXTURE_NAMES, Artwork
from limner.tools.sandbox.colour_reader import composite_over, fit_sprite, mask_window

__all__ = ["MIN_DISCRIMINATING_PX", "MIN_VISIBLE_BODY_PX", "TextureReading", "read_instance_texture"]

#: Fewer visible body pixels than this (after what other objects may hide): too little to read a pattern.
MIN_VISIBLE_BODY_PX = 40
#: Two candidate textures are told apart on an instance only when their renders differ (by more than
#: `PIXEL_DIFF` in RGB distance) on at least this many visible body pixels.
MIN_DISCRIMINATING_PX = 24
#: RGB distance (0-441) at which two renders of a pixel count as different.
PIXEL_DIFF = 12.0
#: RGB distance beyond which a pixel is explained by neither candidate of a pair (it does not vote).
UNEXPLAINED = 40.0
#: Share of the discriminating pixels a candidate must be closer on to win a pair; between 1 - WIN and
#: WIN the pair is undecided (a blemish or a misfit covers too much of what tells them apart).
WIN = 0.65


@dataclass
class TextureReading:
    """What one instance's pixels say about its texture.

    `texture`: the texture read (None = plain) when `readable` — the asked one, or the candidate that beat
    it most clearly; `why`: why not, when not readable; `wins`: the asked texture's share of the votes
    against each candidate it could be told from (None = plain).
    """

    texture: str | None
    readable: bool
    why: str = ""
    wins: dict[str | None, float] = field(default_factory=dict)


def _candidates(artwork: Artwork, det: Any, size: int, textures: Sequence[str | None]) -> dict[str | None, list[np.ndarray]]:
    """RGBA renders of each candidate texture at `size`: in the colour read on the object and in no colour
    (what a prompt without a colour word gets: the artwork's own colours, or the texture's own colour —
    an unasked "wooden" object is brown)."""
    out: dict[str | None, list[np.ndarray]] = {}
    for tex in textures:
        colours = [det.color] if det.color is None else [det.color, None]
        out[tex] = [np.asarray(artwork.render(det.cls, size, color=c, texture=tex).convert("RGBA")) for c in colours]
    return out


def read_instance_texture(
    artwork: Artwork,
    det: Any,
    rgb: np.ndarray,
    fill: np.ndarray,
    asked: str,
    hidden: np.ndarray | None = None,
    size_search: int = 4,
    shift: int = 3,
) -> TextureReading:
    """Whether detection `det` shows the `asked` texture, another one, or cannot be read.

    The sprite is fitted (size within `size_search` px of the detector's, place within `shift` px), every
    texture (and plain) is rendered there, and the asked texture is compared with each other candidate on
    the visible body pixels where the two renders differ. It is read when it wins every pair that can be
    told apart here; another texture is read when one beats it; it is unreadable when too little of the
    body is visible, when a candidate cannot be told from it on this object, or when a pair is undecided.
    `hidden` (image-sized) marks pixels other objects may cover; they are not compared.
    """
    found = fit_sprite(artwork, det, rgb, fill, range(det.size - size_search, det.size + size_search + 1), shift)
    if found is None:
        return TextureReading(None, False, "its outline could not be fitted")
    body = np.asarray(artwork.body_mask(det.cls, found.size), dtype=bool)
    if hidden is not None:
        body = body & ~mask_window(hidden, found.y0, found.x0, body.shape)
    sh, sw = body.shape
    y, x = found.y0, found.x0
    if y < 0 or x < 0 or y + sh > rgb.shape[0] or x + sw > rgb.shape[1]:
        inside = np.zeros_like(body)
        y0, x0 = max(0, -y), max(0, -x)
        inside[y0 : min(sh, rgb.shape[0] - y), x0 : min(sw, rgb.shape[1] - x)] = True
        body &= inside
    if int(body.sum()) < MIN_VISIBLE_BODY_PX:
        return TextureReading(None, False, f"only {int(body.sum())} px of its body in view")
    ys, xs = np.nonzero(body)
    img = rgb[ys + y, xs + x].astype(np.float32)
    under = fill[ys + y, xs + x].astype(np.float32)

    renders: dict[str | None, np.ndarray] = {}  # candidate -> composited body pixels (N×3), best colour
    for tex, sprites in _candidates(artwork, det, found.size, [None, *TEXTURE_NAMES]).items():
        best: tuple[float, np.ndarray] | None = None
        for sprite in sprites:
            if sprite.shape[:2] != body.shape:
                continue
            px = composite_over(sprite[ys, xs][:, None, :], under[:, None, :])[:, 0, :]
            err = float(np.median(np.linalg.norm(px - img, axis=1)))
            if best is None or err < best[0]:
                best = (err, px)
        if best is not None:
            renders[tex] = best[1]
    if asked not in renders:
        return TextureReading(None, False, f"'{asked}' cannot be drawn on this object")
    mine = renders[asked]
    d_mine = np.linalg.norm(mine - img, axis=1)
    wins: dict[str | None, float] = {}
    alike: list[str] = []
    undecided: list[str] = []
    for tex, other in renders.items():
        if tex == asked:
            continue
        differs = np.linalg.norm(mine - other, axis=1) > PIXEL_DIFF
        if int(differs.sum()) < MIN_DISCRIMINATING_PX:
            alike.append(tex or "plain")
            continue
        d_other = np.linalg.norm(other - img, axis=1)
        # A pixel neither render explains (a blemish, an occluder the detector missed) says nothing.
        votes = differs & (np.minimum(d_mine, d_other) <= UNEXPLAINED)
        if int(votes.sum()) < MIN_DISCRIMINATING_PX:
            undecided.append(tex or "plain")
            continue
        share = float((d_mine[votes] < d_other[votes]).mean())
        wins[tex] = share
        if 1 - WIN <= share < WIN:
            undecided.append(tex or "plain")
    beaten = [t for t, s in wins.items() if s < 1 - WIN]
    if beaten:
        rival = min(beaten, key=lambda t: wins[t])
        return TextureReading(rival, True, wins=wins)
    if alike:
        return TextureReading(None, False, f"'{asked}' draws like {', '.join(alike)} on this object", wins=wins)
    if undecided:
        return TextureReading(None, False, f"'{asked}' not told from {', '.join(undecided)}", wins=wins)
    return TextureReading(asked, True, wins=wins)
