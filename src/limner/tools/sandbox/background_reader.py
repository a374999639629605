"""Which backdrop a sandbox picture shows, read from its background pixels (SIMULATED world).

The world paints every backdrop deterministically (`render.paint_background`: a gradient and a seeded
pattern, then the picture's style filter), so a backdrop is read by painting each candidate at the
picture's size and counting, on the pixels the checker sees as background (`segment.estimate_background`),
how many the candidate explains within `MATCH_TOLERANCE` (on a grid of `_GRID` x `_GRID` samples). The
candidate explaining the most is the reading; its share says how much of the visible background it covers,
which is what tells a half-repainted background (the top new, the bottom old) from a whole one.

Nothing here decides pass or fail: `checker._background_check` does, from the shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from limner.tools.sandbox.backdrops import BACKGROUNDS
from limner.tools.sandbox.render import apply_style, paint_background

__all__ = ["MATCH_TOLERANCE", "MIN_SEEN_SHARE", "BackdropReading", "read_backdrop"]

#: A background pixel is explained by a candidate backdrop when no channel differs by more than this
#: (the backdrops' patterns are drawn 9-22 levels deep, their gradients differ by more: set on the painted
#: pictures of `benchmarks/sandbox.py`, where truth-true backdrops explained 0.93-1.0 of their pixels).
MATCH_TOLERANCE = 8
#: Under this share of the picture seen as background, there is too little of it to read.
MIN_SEEN_SHARE = 0.04
#: Pixels are sampled on a grid of this many per side (the backdrops vary slowly or repeat, and a candidate is
#: pixel-exact, so any sample of the background tells them apart; 160 gave the same shares within 0.011 on 40
#: of the background probe's painted pictures, at 2.6x the time).
_GRID = 96


@dataclass(frozen=True)
class BackdropReading:
    """Per candidate backdrop, which of the sampled background pixels it explains."""

    matches: dict[str, np.ndarray]  # candidate -> bool per sampled background pixel
    seen_share: float  # share of the picture seen as background
    style: str | None  # the style filter the candidates were painted through (None: unfiltered)

    @cached_property
    def shares(self) -> dict[str, float]:
        return {k: float(m.mean()) for k, m in self.matches.items()}

    def share(self, *keys: str) -> float:
        """Share of the background that at least one of `keys` explains."""
        ms = [self.matches[k] for k in keys if k in self.matches]
        return float(np.logical_or.reduce(ms).mean()) if ms else 0.0

    @property
    def readable(self) -> bool:
        return self.seen_share >= MIN_SEEN_SHARE and bool(self.matches)

    def best(self, exclude: frozenset[str] = frozenset()) -> tuple[str | None, float]:
        """The candidate explaining the most of the background (outside `exclude`), and its share."""
        rest = {k: v for k, v in self.shares.items() if k not in exclude}
        if not rest:
            return None, 0.0
        key = max(rest, key=lambda k: rest[k])
        return key, rest[key]


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    ys = np.linspace(0, h - 1, min(h, _GRID)).astype(int)
    xs = np.linspace(0, w - 1, min(w, _GRID)).astype(int)
    return ys, xs


@lru_cache(maxsize=16)
def _candidates(width: int, height: int, style: str | None) -> np.ndarray:
    """Every backdrop (in `BACKGROUNDS` order) painted at the picture's size through `style`, sampled on the
    grid: a (backdrops, rows, columns, 3) int16 array, made once per size and style."""
    ys, xs = _grid(height, width)
    out = []
    for key in BACKGROUNDS:
        image = paint_background(key, width, height)
        if style:
            image = apply_style(image, style)
        out.append(np.asarray(image.convert("RGB"), dtype=np.int16)[np.ix_(ys, xs)])
    return np.stack(out)


def read_backdrop(rgb: np.ndarray, background_mask: np.ndarray, style: str | None = None) -> BackdropReading:
    """How much of the picture's visible background each backdrop the world paints explains.

    `style`: the style the scene asks for; candidates are painted both plain and through it, and each keeps
    its better share (a painter may leave the style out)."""
    h, w = background_mask.shape
    ys, xs = _grid(h, w)
    seen = background_mask[np.ix_(ys, xs)]
    seen_share = float(background_mask.mean())
    if not seen.any():
        return BackdropReading(matches={}, seen_share=seen_share, style=style)
    pixels = rgb[np.ix_(ys, xs)].astype(np.int16)
    best: np.ndarray | None = None
    for look in dict.fromkeys((None, style)):
        hits = (np.abs(_candidates(w, h, look) - pixels[None]).max(axis=3) <= MATCH_TOLERANCE)[:, seen]
        best = hits if best is None else np.where(hits.sum(axis=1, keepdims=True) > best.sum(axis=1, keepdims=True),
                                                  hits, best)
    assert best is not None
    return BackdropReading(matches=dict(zip(BACKGROUNDS, best, strict=True)), seen_share=seen_share, style=style)
