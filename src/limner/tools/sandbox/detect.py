"""Find and classify sandbox objects from pixels: coarse-to-fine multi-scale template matching.

Why template matching: the sandbox draws every object from one known piece of artwork (an OpenMoji
glyph, recoloured and textured), so the best detector is the artwork itself. Each class is matched by
its colour-invariant *structure* — silhouette plus black outline ink — against the same two features of
the image (see `features`). Connected components + nearest template was tried first and failed (object
recall 0.42 in the trial: touching and overlapping objects merge).

Pipeline (`Detector.detect`):
  1. features of the image at 1/4 and 1/2 resolution (foreground from `segment.py`, outline ink);
  2. proposals: `cv2.matchTemplate` (normalised cross-correlation) of every class × scale (7 % steps) at
     the coarse level, local maxima above `propose_min`;
  3. refinement at 1/2 resolution: ±3.5 % scale, ±3 px, best score kept;
  4. selection: greedy, by score × area^0.2 (a whole multi-part glyph beats its parts), dropping
     candidates that mostly overlap an accepted one (an occluded object behind another is kept: the
     overlap rule looks at the share of the *smaller* box, and allows partial occlusion), and those
     without outline evidence: their visible outline must be ink (recall), and a weak match's silhouette
     must hold no ink its artwork does not draw (precision; see `Detector._outline_evidence`);
  5. attributes of each detection: colour (`colour_reader.py`), on request texture.

Templates are cached per (class, size, level). Restricting `classes` to the scene's classes is the fast
path the checker uses (~10x fewer templates); `classes=None` searches every class the sandbox can draw.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
from PIL import Image

from limner.geometry import Rect, clip_window, overlap_of_smaller, paste_mask
from limner.tools.sandbox.artwork import Artwork, get_artwork, split_shaped
from limner.tools.sandbox.colour_reader import body_pixels, read_colour
from limner.tools.sandbox.render import draw_text_plate
from limner.tools.sandbox.segment import Background, darkness, estimate_background, load_rgb
from limner.types import Box

__all__ = ["CONFIDENT_SCORE", "Detection", "Detector", "DetectorConfig", "detect_objects", "get_detector"]

#: A match at least this strong (template NCC) is taken as the object being there: true matches score ~0.99,
#: look-alikes (a knife fitted onto a pole, a tie onto a bus) ~0.6. The checker's presence rule and the
#: editors' choice of what to act on both use it (`checker.PRESENCE_MIN_SCORE`, `editors.MIN_SCORE`).
CONFIDENT_SCORE = 0.8


@dataclass
class Detection:
    """One object found in the image. `mask` (HxW bool, image-sized) is where its body was matched."""

    cls: str
    box: Box
    score: float
    color: str | None = None
    texture: str | None = None
    size: int = 0  # the artwork size the best template was rendered at
    mask: np.ndarray | None = field(default=None, repr=False)
    texture_unread: str | None = None  # why its texture could not be read (None: read, or not asked)

    @property
    def center(self) -> tuple[float, float]:
        return self.box.center


@dataclass(frozen=True)
class DetectorConfig:
    """Knobs of the matcher; defaults measured on the sandbox benchmark (docs/checker.md)."""

    min_size_frac: float = 0.07  # smallest artwork size searched, as a fraction of min(W, H)
    small_size_frac: float = 0.05  # ... for the classes a caller expects drawn small (`detect(small=...)`)
    max_size_frac: float = 0.62  # largest
    scale_step: float = 1.07  # 7 % between scales (the matcher tolerates about ±4 %)
    front_margin_min: float = 0.15  # share of a match's template margin on better detections that refits it
    front_refit_steps: int = 10  # 3.5 % scale steps the margin-masked refit tries below the match (2 above)
    coarse_min_px: int = 14  # a coarse template is never smaller than this (else use the 1/2 level)
    propose_min: float = 0.42  # NCC a coarse peak needs to become a proposal
    proposals_per_class: int = 24  # refined per class, after NMS of proposals
    # Coarse peaks kept per (class, variant, size) template map. 8 let a knife fitted on a keyboard's bottom
    # row take the place of the tenth keyboard of a picture (no proposal reached it); 12, on the recorded
    # painted pictures of seeds 0 and 1 (scripts/checker_regression.py accuracy --set): 16 checks better, 7 worse.
    peaks_per_template: int = 12
    accept_min: float = 0.55  # refined NCC a detection needs
    # A smaller match of a found object's outline, inside it and scoring this much better, replaces it when it
    # leaves free a clear match of another class the bigger one swallowed (`_unswallow`; > 1: never).
    part_lead: float = 0.05
    overlap_max: float = 0.75  # max share of the smaller box covered by an accepted detection
    coverage_min: float = 0.8  # share of a detection's silhouette that must be foreground
    own_evidence_min: float = 0.3  # share of its silhouette not explained by better detections
    front_outline_min_px: int = 40  # outline pixels off the others' outlines that show an object drawn in front
    front_outline_full_size: int = 60  # ... for an artwork this big; a smaller one of a `small` class needs fewer
    ink_recall_min: float = 0.8  # share of its own visible outline that must be ink in the image
    ring_fg_max: float = 0.5  # foreground share of a free-standing detection's margin
    weak_score: float = 0.7  # a plain-view match scoring below this is weak ...
    weak_ink_recall_min: float = 0.85  # ... and must show (nearly) all of its outline in the image
    hidden_ink_recall_min: float = 0.6  # share of a partly hidden detection's visible outline that must be ink
    ink_precision_min: float = 0.8  # share of the ink inside a detection's free silhouette on its own outline
    ink_precision_score_max: float = 0.85  # matches this strong skip it (stray ink is a blemish on them)
    ink_precision_px: int = 3  # how far (px) from the artwork's outline image ink still counts as that outline
    occluded_min: float = 0.4  # plain NCC below accept_min that may still pass once occluders are masked
    pad_frac: float = 0.08  # background margin around templates (penalises spill outside the silhouette)
    patch_ink_recall_min: float = 0.9  # a clear match's outline recall with its worst blemish-sized patch left out
    blemish_patch_frac: float = 0.6  # side of that (square) patch, share of the glyph's longer side
    repropose_min_px: int = 400  # unexplained foreground (px) that makes a second proposal pass worth it
    repropose_on_found_px: int = 150  # ... or pixels on found objects their drawings do not explain
    explain_shift_px: int = 2  # a found object's drawing explains a pixel within this shift ...
    explain_rgb_tol: int = 40  # ... and this RGB difference (max over channels)
    front_drawn_max: float = 0.5  # share of a match's body drawn by the bigger ones around it (`_in_front_of_bigger`)
    neighbour_mask_max: float = 0.3  # a weak detection is re-scored without its neighbours' pixels up to this
    # share of its window, or of its silhouette ...
    neighbour_window_max: float = 0.5  # ... when they cover at most this share of its window
    outline_fg_agree: float = 0.65  # share of the pixels where two outlines of a class differ that must agree
    outline_diff_min_px: int = 60  # ... with the other outline (foreground in it, background out) to swap
    outline_band_px: int = 2  # ... leaving out this band along the outlines (anti-aliased rims)
    border_frac: float = 0.07  # background margin added around a picture whose objects touch its border


#: Weight of the foreground silhouette against outline ink in the structure features. Ink carries the
#: shape; the silhouette helps solid objects but misleads on white objects whose outline is open.
FG_WEIGHT = 0.25
#: Exponent of the box area in the selection order (score x area^AREA_EXP): a whole multi-part glyph
#: beats the parts of itself that match smaller templates.
AREA_EXP = 0.2


def _features(rgb: np.ndarray, bg: Background) -> np.ndarray:
    """Colour-invariant structure map: FG_WEIGHT × foreground + outline ink."""
    fg = bg.foreground.astype(np.float32)
    return FG_WEIGHT * fg + darkness(rgb)


def _glyph_features(rgba: np.ndarray) -> np.ndarray:
    alpha = rgba[..., 3].astype(np.float32) / 255.0
    sil = (alpha > 0.5).astype(np.float32)
    return FG_WEIGHT * sil + darkness(rgba[..., :3]) * alpha


def _downscale(a: np.ndarray, f: int) -> np.ndarray:
    if f == 1:
        return a
    h, w = a.shape[:2]
    return cv2.resize(a, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)


def _ncc(img: np.ndarray, t: np.ndarray, cache: dict[tuple[int, int, int], np.ndarray]) -> np.ndarray:
    """Normalised cross-correlation map, zero where the image window is (nearly) flat.

    OpenCV's TM_CCOEFF_NORMED divides by the window's deviation, which makes featureless background
    windows score anywhere up to 1; those windows cannot contain an object.
    """
    r = cv2.matchTemplate(img, t, cv2.TM_CCOEFF_NORMED)
    th, tw = t.shape
    key = (id(img), th, tw)
    var = cache.get(key)
    if var is None:
        mean = cv2.boxFilter(img, cv2.CV_32F, (tw, th), anchor=(0, 0), normalize=True)
        sq = cv2.boxFilter(img * img, cv2.CV_32F, (tw, th), anchor=(0, 0), normalize=True)
        var = (sq - mean * mean)[: r.shape[0], : r.shape[1]]
        cache[key] = var
    r[var < 0.2 * _template_stats(t)[0]] = 0.0
    r[~np.isfinite(r)] = 0.0  # what np.nan_to_num(nan=0, posinf=0, neginf=0) did, in place
    return r


#: id(template) -> (the template, its variance, its standard deviation): templates are cached and matched
#: thousands of times per picture; their statistics were recomputed every time. Holding the template keeps
#: its id from being reused while the entry lives.
_TEMPLATE_STATS: dict[int, tuple[np.ndarray, float, float]] = {}
_TEMPLATE_STATS_MAX = 8192


def _template_stats(t: np.ndarray) -> tuple[float, float]:
    """(float(t.var()), float(t.std())) of a template, memoised."""
    hit = _TEMPLATE_STATS.get(id(t))
    if hit is not None and hit[0] is t:
        return hit[1], hit[2]
    if len(_TEMPLATE_STATS) >= _TEMPLATE_STATS_MAX:
        _TEMPLATE_STATS.clear()
    v, sd = float(t.var()), float(t.std())
    _TEMPLATE_STATS[id(t)] = (t, v, sd)
    return v, sd


#: How a template may look besides the artwork's own colours: body drawn near-black (it then reads as
#: outline ink), or a sign carrying a text plate.
Variant = Literal["black", "text"]


def _class_variants(cls: str, variants: list[Variant | None]) -> list[Variant | None]:
    """Template variants to try for a class: signs also as they look with a text plate on them."""
    return [*variants, "text"] if cls == "sign" else variants


def _sign_with_plate(artwork: Artwork, cls: str, size: int) -> np.ndarray:
    """A sign carrying a generic text plate, placed as the renderer places sign texts.

    The world writes a sign's text on a white plate over the sign (render.layout_scene: centre at 37 %
    of the height, 86 % of the width); the plate hides most of the plain sign's structure.
    """
    sprite = artwork.render(cls, size).convert("RGBA")
    w, h = sprite.size
    canvas = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    canvas.alpha_composite(sprite)
    draw_text_plate(canvas, "TEXT", w / 2, h * 0.37, int(w * 0.86))
    return np.asarray(canvas)


#: Texts whose plates, together, cover where any sign text may sit: a short word gets the largest font (the
#: tallest plate), a long one the widest plate. Used to find the part of a sign no plate can hide.
_PLATE_PROBES = ("SUN", "WWWWWWWWWWWW")


def _plate_zone(w: int, h: int) -> np.ndarray:
    """Bool (h, w) mask of where the renderer may put a sign's text plate (union over `_PLATE_PROBES`)."""
    zone = np.zeros((h, w), dtype=bool)
    scratch = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    for text in _PLATE_PROBES:
        _ink, plate = draw_text_plate(scratch, text, w / 2, h * 0.37, int(w * 0.86))
        zone[plate.y0 : plate.y1, plate.x0 : plate.x1] = True
    return zone


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """`mask` with every region not connected to its border filled."""
    if mask.size == 0:
        return mask
    outside = np.pad(~mask, 1, constant_values=True).astype(np.uint8)
    _n, labels = cv2.connectedComponents(outside, connectivity=4)
    return ~(labels == labels[0, 0])[1:-1, 1:-1]


def _has_dark_regions(rgb: np.ndarray) -> bool:
    """Are there dark areas thicker than an outline (a black object), so black templates are needed?"""
    dark = (darkness(rgb) > 0.5).astype(np.uint8)
    core = cv2.erode(dark, np.ones((9, 9), np.uint8))
    return int(core.sum()) >= 40


#: Gaussian blur (sigma, px at that level) of image and template features. Thin outlines make raw NCC
#: fall from 0.86 to 0.43 at an 8 % scale error; blurred, it stays near 0.7 (measured on a sandbox dog).
_BLUR = {1: 0.0, 2: 1.0, 4: 1.2}


def _blur(a: np.ndarray, level: int) -> np.ndarray:
    sigma = _BLUR.get(level, 0.0)
    return cv2.GaussianBlur(a, (0, 0), sigma) if sigma > 0 else a


def _peaks(r: np.ndarray, thresh: float, k: int) -> list[tuple[int, int, float]]:
    """Local maxima of a score map above `thresh`, best `k` first, as (x, y, score)."""
    if r.size == 0 or float(r.max()) < thresh:  # no peak can pass: skip the dilation (most template maps)
        return []
    dil = cv2.dilate(r, np.ones((5, 5), np.uint8))
    ys, xs = np.nonzero((r >= dil) & (r >= thresh))
    if xs.size == 0:
        return []
    s = r[ys, xs]
    order = np.argsort(-s)[:k]
    return [(int(xs[i]), int(ys[i]), float(s[i])) for i in order]


def _same_place(a: _Candidate, b: _Candidate) -> bool:
    """Two proposals of one class at (nearly) the same place and scale: keep only the better."""
    ca = (a.x + a.w / 2, a.y + a.h / 2)
    cb = (b.x + b.w / 2, b.y + b.h / 2)
    near = max(abs(ca[0] - cb[0]), abs(ca[1] - cb[1])) < 0.2 * min(a.w, b.w)
    return near and 0.8 < a.w / b.w < 1.25


@dataclass
class _Candidate:
    cls: str
    size: int
    x: float  # full-resolution top-left
    y: float
    w: float
    h: float
    score: float
    variant: Variant | None = None  # colour the template was rendered in (None = the artwork's own)

    @property
    def rect(self) -> Rect:
        return (self.x, self.y, self.x + self.w, self.y + self.h)


class Detector:
    """Template matcher over the sandbox artwork. Thread-safe; templates are cached per instance."""

    def __init__(self, config: DetectorConfig | None = None, artwork: Artwork | None = None) -> None:
        self.config = config or DetectorConfig()
        self._artwork = artwork
        # Per-instance memos (a template depends on the config's margin): built once, never evicted.
        self._template = functools.cache(self._build_template)
        self._outline_of = functools.cache(self._build_outline)
        self._bare_outline_of = functools.cache(self._build_bare_outline)
        self._near_outline_of = functools.cache(self._build_near_outline)
        # The artwork's silhouette is drawn from its font on every call (~1 ms); the matcher asks for the same
        # (class, size) hundreds of times per picture. Read-only, so no caller can change a shared one.
        self._silhouette_of = functools.lru_cache(maxsize=2048)(self._build_silhouette)
        self._own_mask2 = functools.lru_cache(maxsize=2048)(self._build_own_mask2)

    # -- artwork -----------------------------------------------------------------------------------

    @property
    def artwork(self) -> Artwork:
        """The artwork the templates are drawn from (the process-wide one unless one was given)."""
        if self._artwork is None:
            self._artwork = get_artwork()
        return self._artwork

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.artwork.classes)

    def template(self, cls: str, size: int, level: int, variant: Variant | None = None) -> np.ndarray:
        """Structure template of `cls` drawn at artwork size `size`, downscaled by `level`, with a margin.

        `variant="black"` renders the body near-black: then the whole body reads as outline ink, which
        the artwork's own colours never do.
        """
        return self._template(cls, size, level, variant)

    def _build_template(self, cls: str, size: int, level: int, variant: Variant | None) -> np.ndarray:
        rgba = self._sprite(cls, size, variant)
        feat = _glyph_features(rgba)
        pad = max(1, round(self.config.pad_frac * size))
        feat = np.pad(feat, pad)
        return _blur(_downscale(feat, level), level).astype(np.float32)

    def _sprite(self, cls: str, size: int, variant: Variant | None) -> np.ndarray:
        """RGBA array of the artwork as the world may draw it: own colours, near-black, or a sign with text."""
        if variant == "text":
            return _sign_with_plate(self.artwork, cls, size)
        return np.asarray(self.artwork.render(cls, size, color=variant).convert("RGBA"))

    def sizes(self, w: int, h: int, small: bool = False) -> list[int]:
        """Artwork sizes searched in a w x h picture; `small` reaches down to `small_size_frac`."""
        c = self.config
        lo, hi = (c.small_size_frac if small else c.min_size_frac) * min(w, h), c.max_size_frac * min(w, h)
        out, s = [], lo
        while s <= hi:
            out.append(round(s))
            s *= c.scale_step
        return sorted(set(out))

    # -- detection ---------------------------------------------------------------------------------

    def detect(
        self,
        image: Image.Image | np.ndarray,
        classes: Sequence[str] | None = None,
        *,
        background: Background | None = None,
        with_color: bool = True,
        textures: dict[str, tuple[str, ...]] | None = None,
        small: Collection[str] = (),
    ) -> list[Detection]:
        """Objects of `classes` (all drawable classes if None) in the image.

        `textures` maps a class to textures its objects may carry, so their colour is read with textured
        colour prototypes too (the checker passes the scene's textures). `small` names classes that may be
        drawn smaller than `min_size_frac` (a worn thing, a fraction of its wearer's size): they are searched
        down to `small_size_frac`. Searching every class that small finds fragments of bigger objects (a
        red patch read as a small toilet), so only a caller who knows why asks for it.
        """
        rgb = load_rgb(image)
        bg = background or estimate_background(rgb)
        classes = list(dict.fromkeys(classes)) if classes is not None else list(self.classes)
        classes = [c for c in classes if self.artwork.supports(c)]  # shaped classes too ("clock|round")
        if not classes:
            return []
        margin = self._border_margin(bg)
        if margin:
            padded = _pad_background(rgb, bg, margin)
            dets = self._detect(padded[0], padded[1], classes, with_color, textures, frame=rgb.shape[:2], small=small)
            return [_unpad(d, margin, rgb.shape[:2]) for d in dets if _mostly_inside(d.box, margin, rgb.shape[:2])]
        return self._detect(rgb, bg, classes, with_color, textures, frame=rgb.shape[:2], small=small)

    def _border_margin(self, bg: Background) -> int:
        """Background margin (px) to add around the picture before matching: none unless foreground comes
        near the border.

        A template carries a margin of background (`pad_frac`), so without padding no template window fits
        an object that touches the border or is cut by it (a donut at the top edge, an editor's object pushed
        against a side): the matcher could not see it at all. Padding every picture would cost ~30 % more
        matching; most pictures keep their objects away from the edges.
        """
        h, w = bg.mask.shape
        m = round(self.config.border_frac * min(h, w))
        fg = bg.foreground
        band = max(2, m // 2)
        near = fg[:band].any() or fg[-band:].any() or fg[:, :band].any() or fg[:, -band:].any()
        return m if near else 0

    def _detect(
        self,
        rgb: np.ndarray,
        bg: Background,
        classes: list[str],
        with_color: bool,
        textures: dict[str, tuple[str, ...]] | None,
        frame: tuple[int, int],
        small: Collection[str] = (),
    ) -> list[Detection]:
        """`detect` on a picture that may carry a background margin; `frame` (h, w) is the picture's own size,
        which sets the template sizes searched."""
        feat = _features(rgb, bg)
        levels = {lvl: _blur(_downscale(feat, lvl), lvl) for lvl in (2, 4)}
        variants: list[Variant | None] = [None, "black"] if _has_dark_regions(rgb) else [None]
        proposals = self._propose(levels, classes, variants, frame[1], frame[0], small)
        refined = [self._refine(levels[2], p) for p in proposals]
        dark = darkness(rgb) > 0.5
        ink = cv2.dilate(dark.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        refined = [k for k in refined if self._support(k, bg.foreground, ink) >= self.config.coverage_min]
        chosen = self._select(refined, bg.foreground, levels[2], ink, dark, small, rgb, textures)
        extra = self._repropose(
            feat, rgb, levels[2], chosen, refined, classes, variants, bg.foreground, ink, frame, textures or {}, small
        )
        if extra:
            chosen = self._select(refined + extra, bg.foreground, levels[2], ink, dark, small, rgb, textures)
        chosen = self._outline_by_foreground(chosen, refined + extra, bg.foreground, levels[2], classes)
        chosen = self._rescored_beside_neighbours(chosen, rgb, bg.foreground, levels[2], textures or {})
        dets = [self._to_detection(c, rgb, bg) for c in chosen]
        if with_color:
            self._read_colours(dets, chosen, rgb, bg, textures or {})
        return dets

    def _explained_by(self, chosen: list[_Candidate], shape: tuple[int, int]) -> np.ndarray:
        """Image-sized mask of what the chosen detections explain (silhouettes closed, holes filled)."""
        explained = np.zeros(shape, dtype=bool)
        for k in chosen:
            sil, where, area = self._placed_silhouette(k, shape)
            if area == 0 or sil.size == 0:
                continue
            k_px = max(3, (k.size // 16) | 1)
            closed = cv2.dilate(sil.astype(np.uint8), np.ones((k_px, k_px), np.uint8)).astype(bool)
            explained[where] |= _fill_holes(closed)
        return explained

    def _drawn_by(
        self, chosen: list[_Candidate], rgb: np.ndarray, fg: np.ndarray, textures: dict[str, tuple[str, ...]]
    ) -> np.ndarray:
        """Image-sized mask of the pixels the chosen detections' own drawings explain.

        Each is rendered where it was matched, in the colour read on its body (and in each texture the scene
        asks of its class), and a pixel is explained where that drawing, shifted by up to `explain_shift_px`
        (the matcher places to ~1 px and sizes to ~2 %), has (nearly) its colour. What lies *on* a found object
        (a hat on its wearer, contents in front of a container, a blemish) is not explained by it.
        """
        c = self.config
        H, W = fg.shape
        drawn = np.zeros((H, W), dtype=bool)
        r = c.explain_shift_px
        for k in chosen:
            x0, y0, _, _ = self._inner_rect(k)
            bx, by = round(x0), round(y0)
            if k.variant is None:
                body = paste_mask(self.artwork.body_mask(k.cls, k.size), bx, by, (H, W))
                colour = read_colour(self.artwork, k.cls, body_pixels(rgb, body & fg))
                looks = [(colour, None), *((colour, t) for t in textures.get(k.cls, ()))]
                sprites = [np.asarray(self.artwork.render(k.cls, k.size, color=col, texture=t).convert("RGBA"))
                           for col, t in looks]
            else:
                sprites = [self._sprite(k.cls, k.size, k.variant)]
            sh, sw = sprites[0].shape[:2]
            # the window of the picture the sprite (grown by r on each side) covers
            wx0, wy0, wx1, wy1 = max(0, bx - r), max(0, by - r), min(W, bx + sw + r), min(H, by + sh + r)
            if wx1 <= wx0 or wy1 <= wy0:
                continue
            win = np.ascontiguousarray(rgb[wy0:wy1, wx0:wx1], dtype=np.uint8)
            hit = np.zeros(win.shape[:2], dtype=np.uint8)
            h, w = win.shape[:2]
            pad = 2 * r  # room for the window (grown by r) shifted by up to r more: a shift is a slice, no copy
            tol = (c.explain_rgb_tol,) * 3
            # uint8 OpenCV ops, exact: |sprite - picture| <= tol in every channel (inRange is inclusive), on
            # opaque sprite pixels (alpha > 127) -- the int16 NumPy version cost ~10x more.
            for sprite in sprites:
                colour = np.zeros((sh + 2 * pad, sw + 2 * pad, 3), dtype=np.uint8)
                colour[pad : pad + sh, pad : pad + sw] = sprite[..., :3]
                opaque = np.zeros((sh + 2 * pad, sw + 2 * pad), dtype=np.uint8)
                opaque[pad : pad + sh, pad : pad + sw] = (sprite[..., 3] > 127).astype(np.uint8) * 255
                oy, ox = wy0 - by + pad, wx0 - bx + pad  # the unshifted window inside the canvas
                for dy in range(-r, r + 1):
                    for dx in range(-r, r + 1):
                        ys, xs = slice(oy - dy, oy - dy + h), slice(ox - dx, ox - dx + w)
                        near = cv2.inRange(cv2.absdiff(np.ascontiguousarray(colour[ys, xs]), win), (0, 0, 0), tol)
                        hit |= cv2.bitwise_and(near, np.ascontiguousarray(opaque[ys, xs]))
            drawn[wy0:wy1, wx0:wx1] |= hit.astype(bool)
        return drawn

    def _repropose(
        self, feat: np.ndarray, rgb: np.ndarray, img2: np.ndarray, chosen: list[_Candidate],
        refined: list[_Candidate], classes: list[str], variants: list[Variant | None], fg: np.ndarray,
        ink: np.ndarray, frame: tuple[int, int], textures: dict[str, tuple[str, ...]], small: Collection[str] = (),
    ) -> list[_Candidate]:
        """Proposals on what the first selection left unexplained (occlusion-aware matching).

        The proposal budget is per class: where several objects look alike, the peaks of the found ones
        (at many scales) and of look-alike parts can use it up before a partly hidden or blemished
        instance gets a proposal. So the structure of what the chosen detections explain is erased and
        the scene's classes are proposed again on the rest; a new proposal is refined there too (its
        occluders erased, so its size is not fitted to its visible part only), then scored at that place
        on the whole picture, and goes through the same selection and evidence rules as every other.
        """
        c = self.config
        if not chosen:
            return []
        explained = self._explained_by(chosen, fg.shape)
        # Inside the found objects, only what their own drawings explain is erased: a small object drawn over a
        # big one (a hat on its wearer, contents in front of their container) keeps its structure; erasing the
        # big one's whole silhouette erased it too.
        unexplained = fg & ~(explained & self._drawn_by(chosen, rgb, fg, textures))
        on_found = int((unexplained & explained).sum())
        if int((fg & ~explained).sum()) < c.repropose_min_px and on_found < c.repropose_on_found_px:
            return []
        resid = feat * unexplained.astype(np.float32)
        levels = {lvl: _blur(_downscale(resid, lvl), lvl) for lvl in (2, 4)}
        out: list[_Candidate] = []
        for p in self._propose(levels, classes, variants, frame[1], frame[0], small):
            first = [o.score for o in refined if o.cls == p.cls and _same_place(o, p)]
            if any(o.cls == p.cls and _same_place(o, p) for o in chosen) or max(first, default=0.0) >= c.weak_score:
                continue  # found already, or a first-pass candidate here stands (see below)
            k = self._refine(levels[2], p)
            again = self._match_at(img2, k, k.size, reach=1)  # its score on the whole picture
            if again is None:
                continue
            # Over a found object, that object's strokes around the new one lower its score on the whole
            # picture; scored on the residual, they are gone.
            alone = self._match_at(levels[2], k, k.size, reach=1)
            in_front = (alone is not None and alone.score > again.score
                        and self._drawn_in_front(alone, chosen, ink, small))
            if in_front:
                again = alone
            if self._support(again, fg, ink) < c.coverage_min:
                continue
            # A candidate of the first pass at this place stands, unless it was weak (under `weak_score`, so
            # held to the strict evidence rules a weak match faces) and this one, drawn in front of a found
            # object, scores better without that object's strokes: a hair drier whose handle rests on a black
            # bed scored 0.55 beside the bed's ink, 0.95 without it. A first-pass match that was not weak and
            # still not chosen was refused on its evidence (made of another's strokes: a small skateboard on
            # a textured keyboard's top edge, 0.78), which a better score on the residual does not answer.
            there = [o for o in refined + out if o.cls == again.cls and (_same_place(o, p) or _same_place(o, again))]
            best_there = max((o.score for o in there), default=0.0)
            if there and not (in_front and best_there < c.weak_score and again.score >= max(c.accept_min, best_there)):
                continue
            out.append(again)
        return out

    def _share_on(self, k: _Candidate, mask: np.ndarray) -> float:
        """Share of the candidate's placed silhouette that lies on `mask` (image-sized)."""
        sil, where, area = self._placed_silhouette(k, mask.shape)
        return float((sil & mask[where]).sum() / area) if area else 1.0

    def _propose(
        self, levels: dict[int, np.ndarray], classes: list[str], variants: list[Variant | None], w: int, h: int,
        small: Collection[str] = (),
    ) -> list[_Candidate]:
        c = self.config
        cands: list[_Candidate] = []
        var_maps: dict[tuple[int, int, int], np.ndarray] = {}
        combos = ((a, v, s) for a in classes for v in _class_variants(a, variants) for s in self.sizes(w, h, a in small))
        for cls, variant, size in combos:
            level = 4 if size / 4 >= c.coarse_min_px else 2
            t = self.template(cls, size, level, variant)
            img = levels[level]
            if t.shape[0] >= img.shape[0] or t.shape[1] >= img.shape[1] or min(t.shape) < 3:
                continue
            if _template_stats(t)[1] < 1e-3:
                continue
            r = _ncc(img, t, var_maps)
            for x, y, s in _peaks(r, c.propose_min, c.peaks_per_template):
                cands.append(
                    _Candidate(cls, size, x * level, y * level, t.shape[1] * level, t.shape[0] * level, s, variant)
                )
        # NMS per class across neighbouring scales, then a per-class budget for the refinement, so one
        # class with many strong peaks (four hot dogs at every scale) cannot crowd out another.
        cands.sort(key=lambda k: -k.score)
        kept: list[_Candidate] = []
        per_class: dict[str, int] = {}
        for k in cands:
            if per_class.get(k.cls, 0) >= c.proposals_per_class:
                continue
            if any(o.cls == k.cls and _same_place(o, k) for o in kept):
                continue
            kept.append(k)
            per_class[k.cls] = per_class.get(k.cls, 0) + 1
        return kept

    def _refine(self, img2: np.ndarray, p: _Candidate) -> _Candidate:
        """Best (scale, position) near a proposal at 1/2 resolution: hill-climb over 3.5 % scale steps.

        The coarse level is blurred, so its best scale can be off by a step or two (an oven proposed at
        66 px is really 73 px); climbing from the proposal finds it without trying every scale.
        """
        tried: dict[int, _Candidate] = {}

        def at(size: int) -> _Candidate | None:
            if size not in tried:
                tried[size] = self._match_at(img2, p, size)
            return tried[size]

        step = 1.035
        best = at(p.size) or p
        for direction in (step, 1 / step):
            size = p.size
            for _ in range(4):
                nxt = max(4, round(size * direction))
                if nxt == size:
                    break
                cand = at(nxt)
                if cand is None or cand.score <= best.score:
                    break
                best, size = cand, nxt
        return best

    def _match_at(self, img2: np.ndarray, p: _Candidate, size: int, reach: int = 3) -> _Candidate | None:
        """Best position (±`reach` px at 1/2 resolution) of the `size` template around the proposal's centre."""
        t = self.template(p.cls, size, 2, p.variant)
        th, tw = t.shape
        cx, cy = (p.x + p.w / 2) / 2, (p.y + p.h / 2) / 2
        x0, y0 = round(cx - tw / 2) - reach, round(cy - th / 2) - reach
        x0c, y0c = max(0, x0), max(0, y0)
        x1c, y1c = min(img2.shape[1], x0 + tw + 2 * reach), min(img2.shape[0], y0 + th + 2 * reach)
        win = img2[y0c:y1c, x0c:x1c]
        if win.shape[0] < th or win.shape[1] < tw:
            return None
        r = _ncc(win, t, {})
        _, s, _, (mx, my) = cv2.minMaxLoc(r)
        return _Candidate(p.cls, size, (x0c + mx) * 2, (y0c + my) * 2, tw * 2, th * 2, float(s), p.variant)

    def _placed_silhouette(self, k: _Candidate, shape: tuple[int, int]) -> tuple[np.ndarray, tuple[slice, slice], int]:
        """(clipped silhouette, the image slices it covers, full silhouette area) of a candidate."""
        x0, y0, _, _ = self._inner_rect(k)
        sil = self._silhouette_of(k.cls, k.size)
        src, dst = clip_window(round(x0), round(y0), sil.shape[1], sil.shape[0], shape[1], shape[0])
        return sil[src], dst, int(sil.sum())

    def _build_silhouette(self, cls: str, size: int) -> np.ndarray:
        sil = np.asarray(self.artwork.silhouette(cls, size), dtype=bool)
        sil.flags.writeable = False
        return sil

    def _coverage(self, k: _Candidate, fg: np.ndarray) -> float:
        """Share of the candidate's silhouette that is foreground in the image.

        A small template can correlate well with the corner of another object while half of it lies on
        background; a real object (even partly hidden, since its occluder is foreground too) is covered.
        Silhouette cut off by the image border counts as uncovered.
        """
        sil, where, area = self._placed_silhouette(k, fg.shape)
        if area == 0 or sil.size == 0:
            return 0.0
        return float((fg[where] & sil).sum() / area)

    def _ink_recall(
        self,
        k: _Candidate,
        ink: np.ndarray,
        explained: np.ndarray | None = None,
        own: np.ndarray | None = None,
        in_image: bool = False,
    ) -> float:
        """Share of the candidate's own outline pixels (or of `own`, sprite-sized) that are near ink.

        Outline pixels under `explained` (covered by accepted detections, maybe in front) are not counted;
        nor, with `in_image`, those the image border cuts off (else they count as missing).
        """
        x0, y0, _, _ = self._inner_rect(k)
        own = self._outline(k.cls, k.size, k.variant) if own is None else own
        src, dst = clip_window(round(x0), round(y0), own.shape[1], own.shape[0], ink.shape[1], ink.shape[0])
        o = own[src]
        if in_image and explained is None:
            total = int(o.sum())
        elif explained is not None:
            o = o & ~explained[dst]
            total = int(o.sum())
            if total < 10:
                return 1.0  # nothing of it left to check
        else:
            total = int(own.sum())
        return float((ink[dst] & o).sum() / total) if total else 0.0

    def _outline(self, cls: str, size: int, variant: Variant | None = None) -> np.ndarray:
        """The artwork's own outline pixels (bool, sprite-sized)."""
        return self._outline_of(cls, size, variant).astype(bool)

    def _build_outline(self, cls: str, size: int, variant: Variant | None) -> np.ndarray:
        rgba = self._sprite(cls, size, variant)
        return ((darkness(rgba[..., :3]) > 0.5) & (rgba[..., 3] > 128)).astype(np.float32)

    def _support(self, k: _Candidate, fg: np.ndarray, ink: np.ndarray) -> float:
        """Evidence that the whole object is there: its silhouette is foreground, or its outline is ink.

        White objects on light backgrounds are not always closed by their outline (OpenMoji's dog), so
        segmentation misses their body; their outline is still all there.
        """
        cov = self._coverage(k, fg)
        return cov if cov >= self.config.coverage_min else max(cov, self._ink_recall(k, ink))

    def _select(
        self, cands: list[_Candidate], fg: np.ndarray, feat2: np.ndarray, ink: np.ndarray, dark: np.ndarray,
        small: Collection[str] = (), rgb: np.ndarray | None = None, textures: dict[str, tuple[str, ...]] | None = None,
    ) -> list[_Candidate]:
        """Greedy choice by score × area^0.2; each new detection must bring its own evidence.

        Own evidence = the share of its silhouette on foreground (all of it for an unsegmented white
        object) not already explained by the silhouettes of better detections. An occluded object keeps
        its visible part; a template that merely fits a part of an already-explained object (an
        umbrella's canopy on the foot of a vase) does not.
        A candidate whose plain score is too low but which is partly covered by accepted detections is
        re-scored with the covered part masked out: a clock half hidden behind an orange.
        Every candidate must also pass `_outline_evidence` (its visible outline is there, and the ink in
        its free silhouette is its own); `ink` is dilated dark ink, `dark` the undilated one. The rules are
        `_admit`; a worn class's candidate they reject gets one margin-masked refit (`_refit_beside`).
        """
        c = self.config
        ok = [k for k in cands if k.score >= c.occluded_min]
        ok.sort(key=lambda k: -(k.score * (k.w * k.h) ** AREA_EXP))
        explained = np.zeros(fg.shape, dtype=bool)
        chosen: list[_Candidate] = []
        explained2: np.ndarray | None = None  # `explained` at 1/2 resolution, for the margin-masked refit
        for k in ok:
            admitted = self._admit(k, chosen, explained, fg, feat2, ink, dark, small, rgb, textures or {})
            # A class the scene draws on others (`small`: the worn ones) rejected for want of evidence may be
            # fitted wrongly because the object under it lies in its template margin: fitted again without
            # that margin, it must show its own outline off theirs (`_drawn_in_front`), not lie on its own
            # kind, and pass every rule.
            if (admitted is None and chosen and split_shaped(k.cls)[0] in small
                    and self._margin_on(k, explained) >= c.front_margin_min):
                if explained2 is None:
                    explained2 = _downscale(explained.astype(np.float32), 2) >= 0.5
                refit = self._refit_beside(k, feat2, explained2)
                if (refit is not k and not self._on_own_kind(refit, chosen)
                        and self._drawn_in_front(refit, chosen, ink, small)
                        and self._admit(refit, chosen, explained, fg, feat2, ink, dark, small, rgb, textures or {})):
                    k, admitted = refit, True
            if admitted is None and k.score >= c.weak_score:
                unswallowed = self._unswallow(k, chosen, ok, fg, feat2, ink, dark, small, rgb, textures or {})
                if unswallowed is not None:
                    (chosen, explained), admitted = unswallowed, True
            if not admitted:
                continue
            sil, where, _ = self._placed_silhouette(k, fg.shape)
            chosen.append(k)
            explained2 = None
            # Holes inside the artwork (a handbag's handle arch) are enclosed, so segmentation calls them
            # foreground; they are explained by the object around them.
            k_px = max(3, (k.size // 16) | 1)
            closed = cv2.dilate(sil.astype(np.uint8), np.ones((k_px, k_px), np.uint8)).astype(bool)
            explained[where] |= _fill_holes(closed)
        return chosen

    def _unswallow(
        self, k: _Candidate, chosen: list[_Candidate], cands: list[_Candidate], fg: np.ndarray, feat2: np.ndarray,
        ink: np.ndarray, dark: np.ndarray, small: Collection[str], rgb: np.ndarray | None,
        textures: dict[str, tuple[str, ...]],
    ) -> tuple[list[_Candidate], np.ndarray] | None:
        """`chosen` with the bigger detection that swallowed `k` replaced by a smaller match of its outline that
        leaves `k` free, and what those explain (`_explained_by`), when that match scores `part_lead` better and
        both it and `k` pass `_admit` then; else None.

        The selection order (score × area^AREA_EXP) lets a whole multi-part glyph beat the parts of itself that
        match smaller templates. A thing resting on another is the other way round: a triangular truck on a car
        matched 0.94 at its own size and 0.84 at 72 px for 51, the bigger triangle's apex and sides on the
        truck's and its extra area on the car; the bigger went first by its area, and the car (0.77, a clear
        match: `weak_score`), lying inside it, was rejected. Reordering every such pair up front instead found
        extra parts of whole glyphs (a toilet's bowl beside the toilet): 29 checks worse for 12 better on the
        recorded pictures. Asked only when a clear match of another class is rejected inside a bigger one."""
        c = self.config
        inner, base = self._inner_rect(k), split_shaped(k.cls)[0]
        for i, o in enumerate(chosen):
            outer = self._inner_rect(o)
            if (split_shaped(o.cls)[0] == base or o.w * o.h <= k.w * k.h
                    or overlap_of_smaller(outer, inner) <= c.overlap_max):
                continue
            alternatives = sorted(
                (j for j in cands if j.cls == o.cls and j.size < o.size and j.score >= o.score + c.part_lead
                 and overlap_of_smaller(outer, self._inner_rect(j)) > c.overlap_max
                 and overlap_of_smaller(self._inner_rect(j), inner) <= c.overlap_max),
                key=lambda j: -j.score)
            if not alternatives:
                continue
            rest = chosen[:i] + chosen[i + 1 :]
            explained = self._explained_by(rest, fg.shape)
            for j in alternatives[:3]:
                if self._admit(j, rest, explained, fg, feat2, ink, dark, small, rgb, textures) is not True:
                    continue
                swapped = [*chosen[:i], j, *chosen[i + 1 :]]
                now = self._explained_by(swapped, fg.shape)
                if self._admit(k, swapped, now, fg, feat2, ink, dark, small, rgb, textures) is True:
                    return swapped, now
        return None

    def _admit(
        self, k: _Candidate, chosen: list[_Candidate], explained: np.ndarray, fg: np.ndarray, feat2: np.ndarray,
        ink: np.ndarray, dark: np.ndarray, small: Collection[str], rgb: np.ndarray | None,
        textures: dict[str, tuple[str, ...]],
    ) -> bool | None:
        """May `k` join the better detections `chosen` (see `_select`)? True: yes. False: no (a duplicate of a
        found object of its class, or no silhouette). None: no, for want of its own evidence, outline or score,
        or lying inside a bigger found object of another class without showing itself drawn over it: what a
        better fit of an object drawn on the chosen ones may still show (`_refit_beside`)."""
        c = self.config
        inner = self._inner_rect(k)
        covering = [o for o in chosen if overlap_of_smaller(self._inner_rect(o), inner) > c.overlap_max]
        if covering and not self._in_front_of_bigger(k, covering, chosen, ink, fg, small, rgb, textures):
            # the same object found again is a duplicate; another kind may be one drawn on it, badly fitted
            base = split_shaped(k.cls)[0]
            return False if any(split_shaped(o.cls)[0] == base for o in covering) else None
        # is it drawn over the better detections it overlaps (None: not asked yet)
        in_front: bool | None = True if covering else None
        sil, where, area = self._placed_silhouette(k, fg.shape)
        if area == 0 or sil.size == 0:
            return False
        # A white object on a light background is not segmented (it got in by its outline, see
        # `_support`): all of its silhouette counts as its body then.
        body = fg[where] if self._coverage(k, fg) >= c.coverage_min else True
        own = (sil & body & ~explained[where]).sum() / area
        if own < c.own_evidence_min:
            in_front = in_front or self._drawn_in_front(k, chosen, ink, small)
            if not in_front:
                return None
        # Drawn in front, its whole outline is in view: a confident match is judged as in plain view, not by
        # the part of its outline the (better) detections under it leave free (a cup on a handbag has little
        # of it there). A weak one still is: the weak matches lying on found objects were fits onto their
        # strokes (a small bicycle on a pile of clocks, 0.62).
        hidden = (sil & explained[where]).sum() / area
        plain_front = bool(in_front) and k.score >= CONFIDENT_SCORE
        if not self._outline_evidence(k, fg, ink, dark, explained, hidden >= 0.15 and not plain_front):
            return None
        # a weak plain match passes only if it is partly hidden and matches well once the occluder
        # is masked out
        if k.score < c.accept_min and (
            hidden < 0.15 or self._masked_score(k, feat2, explained) < c.accept_min + 0.05
        ):
            return None
        return True

    def _on_own_kind(self, k: _Candidate, chosen: list[_Candidate]) -> bool:
        """Does the candidate's box lie largely (a third) on a chosen detection of its own class? A refit there
        would be that object, or its neighbour of the same kind, found again."""
        base, inner = split_shaped(k.cls)[0], self._inner_rect(k)
        return any(split_shaped(o.cls)[0] == base and overlap_of_smaller(self._inner_rect(o), inner) > 1 / 3
                   for o in chosen)

    def _build_own_mask2(self, cls: str, size: int) -> np.ndarray:
        """Template-sized (1/2 resolution) mask of the pixels the artwork itself covers, margin excluded."""
        pad = max(1, round(self.config.pad_frac * size))
        sil = np.pad(self._silhouette_of(cls, size).astype(np.float32), pad)
        return _downscale(sil, 2) > 0.25

    def _margin_on(self, k: _Candidate, explained: np.ndarray) -> float:
        """Share of the candidate's template margin (its window less its silhouette) on better detections."""
        x0, y0, x1, y1 = (round(v) for v in k.rect)
        h, w = explained.shape
        if x0 < 0 or y0 < 0 or x1 > w or y1 > h or x1 <= x0 or y1 <= y0:
            return 0.0
        window = explained[y0:y1, x0:x1]
        pad = max(1, round(self.config.pad_frac * k.size))
        sil = self._silhouette_of(k.cls, k.size)
        own = np.zeros(window.shape, dtype=bool)
        sh, sw = min(sil.shape[0], window.shape[0] - pad), min(sil.shape[1], window.shape[1] - pad)
        own[pad : pad + sh, pad : pad + sw] = sil[:sh, :sw]
        margin = ~own
        return float((window & margin).sum()) / max(1, int(margin.sum()))

    def _refit_beside(self, k: _Candidate, feat2: np.ndarray, explained2: np.ndarray) -> _Candidate:
        """The candidate re-fitted (size and place) with the template margin that lies on better detections
        left out, when that matches better than its plain score.

        A template's margin is background by design, which is what makes a fit spill-averse; an object drawn
        on another one (a sink worn on a traffic light's head) has the other object in its margin, so its plain
        NCC falls at its true size and the climb settles on a wrong, bigger size (a 40 px sink fitted at 50 px)
        whose outline then misses the ink. Only margin pixels are masked: the candidate's own body, which lies
        over the other's silhouette, still has to match. Sizes from `front_refit_steps` 3.5 % steps below the
        match to 2 above, places within 3 px (1/2 resolution) of its centre.
        """
        c, reach = self.config, 3
        sizes = sorted({max(8, round(k.size * 1.035**i)) for i in range(-c.front_refit_steps, 3)})
        cx, cy = (k.x + k.w / 2) / 2, (k.y + k.h / 2) / 2
        best = k
        for size in sizes:
            t = self.template(k.cls, size, 2, k.variant)
            th, tw = t.shape
            x0, y0 = round(cx - tw / 2) - reach, round(cy - th / 2) - reach
            if x0 < 0 or y0 < 0 or y0 + th + 2 * reach > feat2.shape[0] or x0 + tw + 2 * reach > feat2.shape[1]:
                continue
            region = feat2[y0 : y0 + th + 2 * reach, x0 : x0 + tw + 2 * reach]
            masked = explained2[y0 : y0 + th + 2 * reach, x0 : x0 + tw + 2 * reach]
            own = self._own_mask2(k.cls, size)[:th, :tw]
            wins = np.lib.stride_tricks.sliding_window_view(region, (th, tw))  # (oy, ox, th, tw)
            keep = (~(np.lib.stride_tricks.sliding_window_view(masked, (th, tw)) & ~own)).astype(np.float32)
            n = keep.sum(axis=(2, 3))
            if n.min() < 20:
                continue
            # masked NCC from sums over the kept pixels (t: template, w: window)
            kw = keep * wins
            st, stt = np.einsum("abij,ij->ab", keep, t), np.einsum("abij,ij->ab", keep, t * t)
            sw, sww, stw = kw.sum(axis=(2, 3)), np.einsum("abij,abij->ab", kw, wins), np.einsum("abij,ij->ab", kw, t)
            cov, vt, vw = stw - st * sw / n, stt - st * st / n, sww - sw * sw / n
            den = np.sqrt(np.maximum(vt, 0.0) * np.maximum(vw, 0.0))
            score = np.where(den > 1e-9, cov / np.maximum(den, 1e-9), 0.0)
            oy, ox = np.unravel_index(int(np.argmax(score)), score.shape)
            s = float(score[oy, ox])
            if s > best.score:
                best = _Candidate(k.cls, size, (x0 + ox) * 2, (y0 + oy) * 2, tw * 2, th * 2, s, k.variant)
        return best

    def _in_front_of_bigger(
        self, k: _Candidate, covering: list[_Candidate], chosen: list[_Candidate], ink: np.ndarray, fg: np.ndarray,
        small: Collection[str], rgb: np.ndarray | None, textures: dict[str, tuple[str, ...]],
    ) -> bool:
        """May a match whose box lies (nearly) inside better detections' boxes stand beside them?

        The duplicate rule (`overlap_max`) drops it: most such matches are the same object found again at
        another size, or a template fitted onto a part of it. An object of another class drawn over a bigger
        one is not (a cup an editor left on a handbag, a traffic light in front of a toilet). It is kept when it
        is smaller than every detection covering it, shows its own outline off theirs (`_drawn_in_front`), and
        its body is not what their own drawings explain (`_drawn_by`, at most `front_drawn_max`, half of it): a
        sandwich fitted onto a frisbee's strokes is made of the pixels the frisbee's drawing explains. Only a
        confident match (`CONFIDENT_SCORE`) is kept so: the weak ones lying on a bigger object were fits onto its
        texture or its neighbours' strokes (a small motorcycle on a pile of rough black chairs, 0.71, whose
        texture a drawing does not reproduce pixel for pixel). A match of a covering detection's own class
        stays a duplicate; the black variant (a whole dark silhouette, which fits any dark region) is not kept.
        """
        base = split_shaped(k.cls)[0]
        if rgb is None or k.variant == "black" or k.score < CONFIDENT_SCORE:
            return False
        if any(split_shaped(o.cls)[0] == base or o.w * o.h <= k.w * k.h for o in covering):
            return False
        if not self._drawn_in_front(k, chosen, ink, small):
            return False
        sil, where, _ = self._placed_silhouette(k, fg.shape)
        body = sil & fg[where]
        if not body.any():
            return False
        theirs = self._drawn_by(covering, rgb, fg, textures)[where]
        return float((body & theirs).sum()) / float(body.sum()) <= self.config.front_drawn_max

    def _outline_by_foreground(
        self, chosen: list[_Candidate], cands: list[_Candidate], fg: np.ndarray, feat2: np.ndarray,
        classes: Sequence[str],
    ) -> list[_Candidate]:
        """Between two outlines of one class at one place (a plain sandwich and a "square" one), keep the
        one whose silhouette the foreground agrees with where the two differ.

        The matcher's score favours the outline that lines up with the most structure, and a neighbour
        supplies structure: a plain sandwich touching a rectangular bowl scored 0.79 as a "square" sandwich
        (the glyph on a square of its body colour, the square's corner lying on the bowl) against 0.74 as
        itself (painted pictures, seed 0), so its shape was misread, and its square silhouette then showed
        the bowl "in front" of it. Where the two silhouettes differ, away from every other detection's
        silhouette, the picture shows foreground where the outline is drawn and background where it is not:
        the outline with clearly more of those pixels on its side (`outline_fg_agree`) is kept. White
        objects on a light background are not segmented and are left as matched.
        The rivals are the other outlines' candidates at that place and each other asked outline of the class
        matched at the detection's own size and place: the neighbour in a template's margin can keep an
        outline from being proposed at its size at all (a square sandwich touching the bowl).
        """
        c = self.config
        out = list(chosen)
        # a band of `outline_band_px` along every other outline is left out: anti-aliased rims and wavy
        # edges (a sandwich's lettuce) are foreground on either side of a silhouette's edge
        band = np.ones((2 * c.outline_band_px + 1,) * 2, np.uint8)

        def grow(m: np.ndarray) -> np.ndarray:
            return cv2.dilate(m.astype(np.uint8), band).astype(bool)

        for i, k in enumerate(chosen):
            base = split_shaped(k.cls)[0]
            here = [self._match_at(feat2, dataclasses.replace(k, cls=a), k.size, reach=2)
                    for a in classes if a != k.cls and split_shaped(a)[0] == base]
            rivals = [o for o in [*cands, *(h for h in here if h is not None)]
                      if o.cls != k.cls and split_shaped(o.cls)[0] == base and o.score >= c.accept_min
                      and _same_place(o, k)]
            if not rivals:
                continue
            o = max(rivals, key=lambda r: r.score)
            if self._coverage(k, fg) < c.coverage_min and self._coverage(o, fg) < c.coverage_min:
                continue
            others = grow(self._explained_by([x for x in out if x is not out[i]], fg.shape))
            mine, theirs = self._full_silhouette(k, fg.shape), self._full_silhouette(o, fg.shape)
            only_mine, only_theirs = mine & ~grow(theirs) & ~others, theirs & ~grow(mine) & ~others
            n = int(only_mine.sum() + only_theirs.sum())
            if n < c.outline_diff_min_px:
                continue
            for_theirs = int(fg[only_theirs].sum() + (~fg[only_mine]).sum())
            if for_theirs >= c.outline_fg_agree * n:
                out[i] = o
        return out

    def _full_silhouette(self, k: _Candidate, shape: tuple[int, int]) -> np.ndarray:
        """Image-sized silhouette of a candidate at its place."""
        x0, y0, _, _ = self._inner_rect(k)
        return paste_mask(self._silhouette_of(k.cls, k.size), round(x0), round(y0), shape)

    def _rescored_beside_neighbours(
        self, chosen: list[_Candidate], rgb: np.ndarray, fg: np.ndarray, feat2: np.ndarray,
        textures: dict[str, tuple[str, ...]],
    ) -> list[_Candidate]:
        """Weak detections (under `CONFIDENT_SCORE`) scored again without the pixels their neighbours' own
        drawings explain.

        An object in contact with another (a pillow on a round bed) has the other's strokes inside its
        template window: its plain score falls under the confidence the presence rule asks (0.75), so the
        checker said "only weak matches" of an object drawn whole. Masking what the touching detections'
        drawings explain (`_drawn_by`) leaves its own structure. The mask may cover at most
        `neighbour_mask_max` of its template window, so a fit made of another object's strokes (all of them
        explained by it) keeps its weak score; or, up to `neighbour_window_max` of the window, at most
        `neighbour_mask_max` of its silhouette: an object drawn in front of a bigger one (a hot dog over a
        parking meter's head) has a third of its window on the other and its whole body its own.
        """
        c = self.config
        out = []
        for k in chosen:
            if k.score >= CONFIDENT_SCORE:
                out.append(k)
                continue
            box = self._inner_rect(k)
            near = [o for o in chosen if o is not k and overlap_of_smaller(self._inner_rect(o), box) > 0]
            if not near:
                out.append(k)
                continue
            theirs = self._drawn_by(near, rgb, fg, textures)
            x0, y0, x1, y1 = (max(0, round(v)) for v in k.rect)
            window = theirs[y0:y1, x0:x1]
            share = window.mean() if window.size else 1.0
            if share > c.neighbour_window_max or (
                share > c.neighbour_mask_max and self._share_on(k, theirs) > c.neighbour_mask_max
            ):
                out.append(k)
                continue
            score = self._masked_score(k, feat2, theirs)
            out.append(dataclasses.replace(k, score=score) if score > k.score else k)
        return out

    def _drawn_in_front(
        self, k: _Candidate, chosen: list[_Candidate], ink: np.ndarray, small: Collection[str] = ()
    ) -> bool:
        """Is a match whose silhouette lies on better detections an object drawn in front of them?

        The own-evidence rule takes what a better detection's silhouette covers as explained: right for an
        object behind it, or a template fitted onto its parts, wrong for one drawn over it (a hat on its
        wearer, an apple in front of its bowl). Such an object shows its own outline where the artwork of the
        ones under it draws none: `ink_recall_min` of its outline pixels away from theirs (beyond
        `ink_precision_px`) must be ink in the image. A template fitted onto another object's parts has its
        outline there only where that object's own outline runs.
        """
        c = self.config
        if k.score < c.accept_min:  # its margin lies on the object under it, not background: it scores lower
            return False
        shape = ink.shape
        theirs = np.zeros(shape, dtype=bool)
        box = self._inner_rect(k)
        for o in chosen:
            if overlap_of_smaller(self._inner_rect(o), box) > 0:
                near, _ = self._near_outline_of(o.cls, o.size, o.variant)
                x0, y0, _, _ = self._inner_rect(o)
                theirs |= paste_mask(near, round(x0), round(y0), shape)
        x0, y0, _, _ = box
        mine = paste_mask(self._outline(k.cls, k.size, k.variant), round(x0), round(y0), shape) & ~theirs
        total = int(mine.sum())
        # An outline's length grows with the artwork's size: a worn carrot a third of its wearer's size shows ~30
        # outline pixels off the wearer's strokes, all of them ink. Only for the classes the caller expects drawn
        # small (`detect(small=...)`): for every class, thin look-alike fits (a white knife on a chair's legs)
        # pass the lower bar too.
        scale = min(1.0, k.size / c.front_outline_full_size) if k.cls in small else 1.0
        return total > 0 and total >= c.front_outline_min_px * scale and float((mine & ink).sum()) / total >= c.ink_recall_min

    def _outline_evidence(
        self, k: _Candidate, fg: np.ndarray, ink: np.ndarray, dark: np.ndarray, explained: np.ndarray, hidden: bool
    ) -> bool:
        """Is the candidate's outline in the image, and is the ink inside its free silhouette its own?

        In plain view see `_plain_view_evidence`. A partly hidden candidate used to need no outline at all
        (its occluder makes the plain score weak); it must still show most of the outline that nothing
        accepted covers: a template fitted onto a part of another object (a sheep onto a pink curve of
        something else) finds its visible outline missing. Then precision (`_ink_precision`): a template fitted
        onto another object's strokes (a backpack onto a fork and a knife, a sign onto an animal's legs) has
        recall, since busy ink covers any outline, but its silhouette holds ink its artwork never draws.
        Such fits are weak; a strong match with stray ink is a real object with a scribble on it.
        """
        c = self.config
        if hidden:
            if self._ink_recall(k, ink, explained) < c.hidden_ink_recall_min:
                return False
        elif not self._plain_view_evidence(k, fg, ink, explained):
            return False  # in plain view, yet its outline is missing or it sits inside a bigger blob
        if k.score >= c.ink_precision_score_max:
            return True  # the artwork's structure itself: stray ink on it is a blemish (a scribble)
        return self._ink_precision(k, dark, explained) >= c.ink_precision_min

    def _ink_precision(self, k: _Candidate, dark: np.ndarray, explained: np.ndarray) -> float:
        """Share of the dark ink inside the candidate's silhouette (minus `explained`) near its own outline.

        The artwork is the whole object: a real one, recoloured, textured or blemished, has ink only
        where its artwork draws outline (black-bodied ones: their whole body, which the black variant's
        outline is). Ink under better detections is theirs (an occluder in front) and is not counted.
        """
        x0, y0, _, _ = self._inner_rect(k)
        near, zone = self._near_outline_of(k.cls, k.size, k.variant)
        src, dst = clip_window(round(x0), round(y0), near.shape[1], near.shape[0], dark.shape[1], dark.shape[0])
        inside = dark[dst] & zone[src] & ~explained[dst]
        total = int(inside.sum())
        if total < 10:
            return 1.0  # (almost) no ink to explain
        return 1.0 - float((inside & ~near[src]).sum()) / total

    def _build_near_outline(self, cls: str, size: int, variant: Variant | None) -> tuple[np.ndarray, np.ndarray]:
        """(the artwork's outline grown by `ink_precision_px`, the silhouette whose ink is checked), sprite-sized.

        A sign's text differs from the template's generic one: its plate zone is not checked.
        """
        r = self.config.ink_precision_px
        own = self._outline(cls, size, variant).astype(np.uint8)
        near = cv2.dilate(own, np.ones((2 * r + 1, 2 * r + 1), np.uint8)).astype(bool)
        zone = self._silhouette_of(cls, size)
        if variant == "text":
            zone = zone & ~_plate_zone(zone.shape[1], zone.shape[0])
        return near, zone

    def _plain_view_evidence(self, k: _Candidate, fg: np.ndarray, ink: np.ndarray, explained: np.ndarray) -> bool:
        """Does a candidate nothing accepted covers show its own outline, standing free?

        Its margin's foreground leaves out what accepted detections explain (`explained`): one object
        touching another of its kind (a dining table drawn right under another) has the other's body in its
        margin, which is no bigger object it could be a part of.

        A sign with a text plate is judged on the outline no plate can hide (its post, the board's
        edges): the plate alone, a white box with dark text, is not a sign, and a plate-template can
        otherwise fit any white patch with dark strokes (parts of other objects).
        """
        c = self.config
        if k.variant == "text":
            return self._ink_recall(k, ink, own=self._bare_outline(k.cls, k.size)) >= c.ink_recall_min
        # A real object that matches weakly (recoloured, textured, blemished) keeps its whole outline;
        # a weak match that misses part of it is a fit onto some other shape (a ball on a bus wheel).
        # (Only the outline inside the image counts there: a border may cut off a real object's rest.)
        if k.score < c.weak_score and self._ink_recall(k, ink, in_image=True) < c.weak_ink_recall_min:
            return False
        recall = self._ink_recall(k, ink)
        if recall < c.ink_recall_min and not (
            k.score >= c.weak_score and self._ink_recall_but_one_patch(k, ink) >= c.patch_ink_recall_min
        ):
            return False
        return self._ring_foreground(k, fg, explained) <= c.ring_fg_max

    def _ink_recall_but_one_patch(self, k: _Candidate, ink: np.ndarray) -> float:
        """Outline recall with the one square patch (`blemish_patch_frac` of the glyph's longer side) where
        most of it is missing left out.

        A blemish (a smear, a broken outline, a missing part, a colour bleed) wipes the outline inside one
        patch of a real object (`blemishes.py`: at most about 0.6 of its box's side); a template fitted onto
        something else misses outline all around. So a clear match (score >= `weak_score`) that misses
        outline only in one such patch keeps its evidence (`patch_ink_recall_min` of the rest).
        """
        x0, y0, _, _ = self._inner_rect(k)
        own = self._outline(k.cls, k.size, k.variant)
        src, dst = clip_window(round(x0), round(y0), own.shape[1], own.shape[0], ink.shape[1], ink.shape[0])
        found = np.zeros(own.shape, dtype=bool)
        found[src] = ink[dst] & own[src]
        total = int(own.sum())
        if total == 0:
            return 0.0
        missing = (own & ~found).astype(np.float32)
        f = self.config.blemish_patch_frac
        ph = pw = max(3, round(f * max(own.shape)))  # a square: a colour bleed spills across an edge
        worst = float(cv2.boxFilter(missing, -1, (pw, ph), normalize=False, borderType=cv2.BORDER_CONSTANT).max())
        return float(found.sum()) / max(1.0, total - worst)  # the patch's missing pixels left out

    def _bare_outline(self, cls: str, size: int) -> np.ndarray:
        """The artwork's own outline outside the zone a text plate may cover (bool, sprite-sized)."""
        return self._bare_outline_of(cls, size)

    def _build_bare_outline(self, cls: str, size: int) -> np.ndarray:
        own = self._outline(cls, size)
        return own & ~_plate_zone(own.shape[1], own.shape[0])

    def _ring_foreground(self, k: _Candidate, fg: np.ndarray, explained: np.ndarray) -> float:
        """Share of the margin around the candidate's box that is foreground no accepted detection explains
        (high inside a bigger object)."""
        H, W = fg.shape
        ox0, oy0, ox1, oy1 = (round(v) for v in k.rect)
        ix0, iy0, ix1, iy1 = (round(v) for v in self._inner_rect(k))
        ox0, oy0, ox1, oy1 = max(0, ox0), max(0, oy0), min(W, ox1), min(H, oy1)
        free = fg[oy0:oy1, ox0:ox1] & ~explained[oy0:oy1, ox0:ox1]
        total, on = free.size, int(free.sum())
        ix0, iy0, ix1, iy1 = max(ox0, ix0), max(oy0, iy0), min(ox1, ix1), min(oy1, iy1)
        if ix1 > ix0 and iy1 > iy0:
            inner = free[iy0 - oy0 : iy1 - oy0, ix0 - ox0 : ix1 - ox0]
            total -= inner.size
            on -= int(inner.sum())
        return on / total if total > 0 else 0.0

    def _masked_score(self, k: _Candidate, feat2: np.ndarray, explained: np.ndarray) -> float:
        """NCC of the candidate at its place (1/2 resolution), ignoring pixels explained by others."""
        t = self.template(k.cls, k.size, 2, k.variant)
        th, tw = t.shape
        x0, y0 = round(k.x / 2), round(k.y / 2)
        if x0 < 0 or y0 < 0 or y0 + th > feat2.shape[0] or x0 + tw > feat2.shape[1]:
            return 0.0
        win = feat2[y0 : y0 + th, x0 : x0 + tw]
        ex = _downscale(explained.astype(np.float32), 2)[y0 : y0 + th, x0 : x0 + tw]
        m = ex < 0.5
        if m.sum() < 20:
            return 0.0
        a, b = t[m] - t[m].mean(), win[m] - win[m].mean()
        den = float(np.sqrt((a * a).sum() * (b * b).sum()))
        return float((a * b).sum() / den) if den > 1e-9 else 0.0

    def _inner_rect(self, k: _Candidate) -> Rect:
        """The candidate's glyph box without the template margin (the margin is `pad_frac` × size)."""
        pad = max(1, round(self.config.pad_frac * k.size))
        return (k.x + pad, k.y + pad, k.x + k.w - pad, k.y + k.h - pad)

    def _read_colours(
        self,
        dets: list[Detection],
        chosen: list[_Candidate],
        rgb: np.ndarray,
        bg: Background,
        textures: dict[str, tuple[str, ...]],
    ) -> None:
        """Colour of each detection from its body pixels that no other detection's silhouette covers."""
        sils = []
        for k in chosen:
            sil, where, _ = self._placed_silhouette(k, rgb.shape[:2])
            full = np.zeros(rgb.shape[:2], dtype=bool)
            full[where] = sil
            sils.append(full)
        # how many silhouettes cover each pixel: "another one covers it" is then one subtraction per
        # detection, not an OR over all the others (the same mask)
        covers = np.zeros(rgb.shape[:2], dtype=np.int32)
        for m in sils:
            covers += m
        fg = bg.foreground
        for i, d in enumerate(dets):
            assert d.mask is not None
            others = (covers - sils[i]) > 0
            body = d.mask & fg
            free = body & ~others
            # an object hidden almost entirely keeps its shared pixels rather than read nothing
            px = body_pixels(rgb, free if free.sum() >= 30 else body)
            d.color = read_colour(self.artwork, d.cls, px, textures=textures.get(d.cls, ()))

    def _to_detection(self, k: _Candidate, rgb: np.ndarray, bg: Background) -> Detection:
        h, w = rgb.shape[:2]
        x0, y0, x1, y1 = self._inner_rect(k)
        box = Box(
            x0=int(max(0, round(x0))), y0=int(max(0, round(y0))),
            x1=int(min(w, round(x1))), y1=int(min(h, round(y1))),
        )
        det = Detection(cls=k.cls, box=box, score=float(max(0.0, min(1.0, k.score))), size=k.size)
        body = self.body_mask_at(det, rgb.shape[:2], x0, y0)
        det.mask = body
        return det

    def body_mask_at(self, det: Detection, shape: tuple[int, int], x0: float, y0: float) -> np.ndarray:
        """Image-sized bool mask of the detected glyph's body (its recolourable area) at its place."""
        bm = np.asarray(self.artwork.body_mask(det.cls, det.size), dtype=bool)
        return paste_mask(bm, round(x0), round(y0), shape)


def _pad_background(rgb: np.ndarray, bg: Background, margin: int) -> tuple[np.ndarray, Background]:
    """The picture inside a `margin` of its own background estimate (mirrored), marked as background."""
    fill = cv2.copyMakeBorder(bg.fill, margin, margin, margin, margin, cv2.BORDER_REFLECT)
    out = fill.copy()
    out[margin:-margin, margin:-margin] = rgb
    mask = np.pad(bg.mask, margin, constant_values=True)
    return out, Background(mask=mask, fill=fill, color=bg.color)


def _mostly_inside(box: Box, margin: int, shape: tuple[int, int]) -> bool:
    """Does at least half of a padded picture's detection box lie in the picture itself? (A match in the
    mirrored margin is no object of the picture.)"""
    h, w = shape
    iw = min(box.x1, margin + w) - max(box.x0, margin)
    ih = min(box.y1, margin + h) - max(box.y0, margin)
    return iw > 0 and ih > 0 and iw * ih >= 0.5 * box.area


def _unpad(d: Detection, margin: int, shape: tuple[int, int]) -> Detection:
    """A detection on the padded picture, in the picture's own coordinates (its box clipped to it)."""
    h, w = shape
    b = d.box
    d.box = Box(x0=min(w - 1, max(0, b.x0 - margin)), y0=min(h - 1, max(0, b.y0 - margin)),
                x1=max(1, min(w, b.x1 - margin)), y1=max(1, min(h, b.y1 - margin)))
    if d.mask is not None:
        d.mask = d.mask[margin:-margin, margin:-margin]
    return d


_DEFAULT: Detector | None = None
_DEFAULT_LOCK = threading.Lock()


def get_detector() -> Detector:
    """The process-wide detector (its template cache is shared by the checker and the editors)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Detector()
        return _DEFAULT


def detect_objects(image: Image.Image | np.ndarray, classes: Sequence[str] | None = None) -> list[Detection]:
    """Objects in a sandbox image, from pixels only. `classes` restricts the search (faster, closed set)."""
    return get_detector().detect(image, classes)
