"""The two-object world: 32×32 scenes, their captions, a renderer and an exact checker.

Why a world this small: the point of the APO proof (docs/apo_proof.md) is a *real* neural text-to-image
model, trained here on two CPU cores, whose compositional errors can be checked exactly. Two objects
(4 colours × 3 shapes, always two different colours), one left, one right, on black: captions are
"a red square left of a blue circle" or, for the same picture, "a blue circle right of a red square".
Binding errors (swapped or mixed colours, wrong shapes, a lost object) are what such a model gets wrong,
and the checker counts them as atomic edits, which is APO's compositional distance.

No torch here: the world, the renderer and the checker are numpy + PIL, so the checker's validation and
the data code stay cheap.
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    "COLOURS", "MAX_EDITS", "PERTURBATIONS", "SHAPES", "SIZE", "Edited", "Obj", "Scene", "Verdict", "all_pairs",
    "caption", "check", "detect", "edit_list", "edits_between", "parse_caption", "perturb", "render",
    "split_pairs",
]

SIZE = 32
#: Pure palette colours, far apart in RGB so the checker can snap every pixel to its nearest entry.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (230, 30, 30), "green": (30, 200, 40), "blue": (40, 70, 240), "yellow": (240, 220, 30),
}
SHAPES: tuple[str, ...] = ("square", "circle", "triangle")
#: The largest edit count `edits_between` returns: four attributes plus two objects missing or extra.
MAX_EDITS = 6
_BLACK = (0, 0, 0)
_MIN_AREA = 8  # blobs smaller than this are speckle, not objects


@dataclass(frozen=True, order=True)
class Obj:
    colour: str
    shape: str

    def words(self) -> str:
        return f"{self.colour} {self.shape}"


@dataclass(frozen=True)
class Scene:
    """What the caption asks for: `left` is the object on the left of the picture."""

    left: Obj
    right: Obj


@dataclass(frozen=True)
class Verdict:
    """The checker's reading of one image against one scene."""

    correct: bool
    edits: int  # atomic edits from what is seen to what was asked (0 iff correct)
    seen: tuple[Obj, ...]  # detected objects, left to right
    reason: str


def all_pairs() -> list[Scene]:
    """Every ordered pair of objects with two different colours: 12 × 9 = 108 scenes."""
    objs = [Obj(c, s) for c in COLOURS for s in SHAPES]
    return [Scene(a, b) for a, b in itertools.product(objs, objs) if a.colour != b.colour]


def split_pairs(n_heldout: int = 24, seed: int = 0) -> tuple[list[Scene], list[Scene]]:
    """(train, held-out): held-out scenes are never seen in pretraining nor in the preference data.

    Every object still appears in training (only its *combinations* are new), so held-out prompts test
    composition, not vocabulary.
    """
    scenes = all_pairs()
    rng = random.Random(seed)
    for _ in range(1000):
        held = set(rng.sample(range(len(scenes)), n_heldout))
        train = [s for i, s in enumerate(scenes) if i not in held]
        seen_left = {s.left for s in train}
        seen_right = {s.right for s in train}
        if len(seen_left) == 12 and len(seen_right) == 12:
            return train, [scenes[i] for i in sorted(held)]
    raise RuntimeError("could not split the scenes with every object seen on both sides")  # pragma: no cover


def caption(scene: Scene, wording: str = "left") -> str:
    """ "a red square left of a blue circle" (wording 'left') or the same picture as 'right of'."""
    if wording == "left":
        return f"a {scene.left.words()} left of a {scene.right.words()}"
    if wording == "right":
        return f"a {scene.right.words()} right of a {scene.left.words()}"
    raise ValueError(f"wording={wording!r} should be 'left' or 'right'")


_CAPTION = re.compile(r"^a (\w+) (\w+) (left|right) of a (\w+) (\w+)$")


def parse_caption(text: str) -> Scene:
    """Inverse of `caption`; raises ValueError on anything else."""
    m = _CAPTION.match(text.strip().lower())
    if not m or m[1] not in COLOURS or m[4] not in COLOURS or m[2] not in SHAPES or m[5] not in SHAPES:
        raise ValueError(f"{text!r} is not a caption of this world ('a <colour> <shape> left|right of a ...')")
    first, second = Obj(m[1], m[2]), Obj(m[4], m[5])
    return Scene(first, second) if m[3] == "left" else Scene(second, first)


def _draw(draw: ImageDraw.ImageDraw, obj: Obj, cx: int, cy: int, r: int,
          fill: tuple[int, int, int] | int | None = None) -> None:
    fill = COLOURS[obj.colour] if fill is None else fill
    if obj.shape == "square":
        draw.rectangle((cx - r, cy - r, cx + r - 1, cy + r - 1), fill=fill)
    elif obj.shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r - 1, cy + r - 1), fill=fill)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r - 1), (cx + r - 1, cy + r - 1)], fill=fill)


def render(scene: Scene, rng: random.Random | None = None) -> Image.Image:
    """The ground-truth picture, with jittered positions and sizes when `rng` is given (hard edges)."""
    rng = rng or random.Random(0)
    image = Image.new("RGB", (SIZE, SIZE), _BLACK)
    draw = ImageDraw.Draw(image)
    for obj, (low, high) in ((scene.left, (7, 10)), (scene.right, (22, 25))):
        r = rng.randint(5, 6)
        _draw(draw, obj, rng.randint(low, high), rng.randint(10, 22), r)
    return image


def _label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """4-connected components of a boolean mask, numbered in raster order of their first pixel (as
    scipy.ndimage.label numbers them; a flood fill is enough at 32×32 and keeps scipy out)."""
    labels = np.zeros(mask.shape, np.int32)
    height, width = mask.shape
    count = 0
    for y, x in zip(*np.nonzero(mask)):
        if labels[y, x]:
            continue
        count += 1
        labels[y, x] = count
        stack = [(y, x)]
        while stack:
            cy, cx = stack.pop()
            for ny, nx in ((cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)):
                if 0 <= ny < height and 0 <= nx < width and mask[ny, nx] and not labels[ny, nx]:
                    labels[ny, nx] = count
                    stack.append((ny, nx))
    return labels, count


def _shape_of(mask: np.ndarray) -> str:
    """Square, circle or triangle from the blob's bounding-box corners: a square fills all four, a
    triangle (apex up) its bottom corners only, a circle none of them well."""
    ys, xs = np.nonzero(mask)
    box = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32)
    k = max(2, min(box.shape) // 3)
    top = (box[:k, :k].mean() + box[:k, -k:].mean()) / 2
    bottom = (box[-k:, :k].mean() + box[-k:, -k:].mean()) / 2
    if top >= 0.6 and bottom >= 0.6:
        return "square"
    if bottom - top >= 0.25:
        return "triangle"
    return "circle"


def _blobs(image: Image.Image) -> list[tuple[float, Obj, np.ndarray]]:
    """(mean x, object, pixel mask) of every object in the picture, unordered; see `detect`."""
    pixels = np.asarray(image.convert("RGB"), np.float32)
    palette = np.array([_BLACK, *COLOURS.values()], np.float32)
    nearest = ((pixels[:, :, None, :] - palette[None, None]) ** 2).sum(-1).argmin(-1)  # 0 = background
    names = ["", *COLOURS]
    labels, count = _label(nearest > 0)
    found: list[tuple[float, Obj, np.ndarray]] = []
    for blob in range(1, count + 1):
        mask = labels == blob
        size = int(mask.sum())
        if size < _MIN_AREA:
            continue
        counts = np.bincount(nearest[mask], minlength=len(palette))
        order = np.argsort(counts)[::-1]
        first, second = int(order[0]), int(order[1])
        if counts[second] >= size / 4:
            xa, xb = (np.nonzero(mask & (nearest == c))[1].mean() for c in (first, second))
            if abs(xa - xb) > 6:  # two touching objects, one per colour
                for colour in (first, second):
                    part = mask & (nearest == colour)
                    found.append((float(np.nonzero(part)[1].mean()), Obj(names[colour], _shape_of(part)), part))
                continue
        colour = names[first] if counts[first] >= 2 * size / 3 else "mixed"
        found.append((float(np.nonzero(mask)[1].mean()), Obj(colour, _shape_of(mask)), mask))
    return found


def detect(image: Image.Image) -> tuple[Obj, ...]:
    """Objects in the picture, left to right.

    Pixels snap to the nearest palette entry (black = background); objects are the connected foreground
    blobs (under 8 px: speckle). A blob takes its dominant colour, or is "mixed" when no colour has 2/3 of
    its pixels (a binding error); a blob in which two colours each hold a quarter and sit apart is two
    touching objects and is split by colour. Shape from `_shape_of`.
    """
    return tuple(obj for _, obj, _ in sorted(_blobs(image), key=lambda f: f[0]))


def edit_list(seen: tuple[Obj, ...], scene: Scene) -> list[dict[str, str]]:
    """The atomic edits that turn what is seen into the scene, as structured perturbations: one per wrong
    colour or shape (``{"kind": "colour", "side": "left", "seen": "blue", "want": "red"}``), one per missing
    or extra object. A colour swap is two edits, as in limner's distance (limner.data.distance)."""
    want = (scene.left, scene.right)

    def diff(a: Obj, b: Obj, side: str) -> list[dict[str, str]]:
        out = []
        if a.colour != b.colour:
            out.append({"kind": "colour", "side": side, "seen": a.colour, "want": b.colour})
        if a.shape != b.shape:
            out.append({"kind": "shape", "side": side, "seen": a.shape, "want": b.shape})
        return out

    if not seen:
        return [{"kind": "missing", "side": "left", "want": want[0].words()},
                {"kind": "missing", "side": "right", "want": want[1].words()}]
    if len(seen) == 1:
        options = [diff(seen[0], want[0], "left") + [{"kind": "missing", "side": "right", "want": want[1].words()}],
                   diff(seen[0], want[1], "right") + [{"kind": "missing", "side": "left", "want": want[0].words()}]]
        return min(options, key=len)
    # Extra objects: keep the pair (left-to-right order preserved) that matches best; the rest are extra.
    best: list[dict[str, str]] | None = None
    for i in range(len(seen)):
        for j in range(i + 1, len(seen)):
            edits = diff(seen[i], want[0], "left") + diff(seen[j], want[1], "right")
            extra = [{"kind": "extra", "side": "", "seen": seen[k].words()} for k in range(len(seen))
                     if k not in (i, j)]
            if best is None or len(edits) + len(extra) < len(best):
                best = edits + extra
    assert best is not None
    return best


def edits_between(seen: tuple[Obj, ...], scene: Scene) -> int:
    """How many atomic edits `edit_list` finds, capped at `MAX_EDITS`."""
    return min(len(edit_list(seen, scene)), MAX_EDITS)


def check(image: Image.Image, scene: Scene) -> Verdict:
    """Exactly two objects, the asked colour and shape on each side."""
    seen = detect(image)
    edits = edits_between(seen, scene)
    if len(seen) != 2:
        reason = f"{len(seen)} objects"
    elif edits:
        reason = "saw " + " | ".join(o.words() for o in seen)
    else:
        reason = "ok"
    return Verdict(edits == 0 and len(seen) == 2, edits, seen, reason)


# --- edits of a correct picture: negatives that differ from the winner only where intended ----------------
#: The structured perturbations `perturb` makes, with their compositional distance (atomic edits): a colour
#: or shape swap is two edits (as in limner.data.distance), a mirrored picture one (the relation flipped).
#: They are the base model's own held-out errors (docs/apo_proof.md): swapped colours, objects on the wrong
#: sides, swapped shapes; a recolour to a third colour is the distance-1 variant of the first.
PERTURBATIONS: dict[str, int] = {"recolour": 1, "swap_colours": 2, "flip_relation": 1, "swap_shapes": 2}


@dataclass(frozen=True)
class Edited:
    """A winner edited into a negative: the picture, the scene it now shows, and the edits made."""

    image: Image.Image
    shows: Scene
    kind: str
    distance: int
    perturbations: list[dict[str, str]]


def _grown(mask: np.ndarray) -> np.ndarray:
    """The mask grown by one pixel (4-neighbourhood): an object's soft edge."""
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    return grown


def _reshaped(pixels: np.ndarray, mask: np.ndarray, shape: str) -> None:
    """Redraw the object as `shape` in place: erase its blob (and soft edge) to the picture's background,
    then draw the new shape over the same box in the object's own mean paint."""
    grown = _grown(mask)
    background = np.median(pixels[~grown], axis=0) if (~grown).any() else np.zeros(3, np.float32)
    paint = tuple(int(v) for v in pixels[mask].mean(axis=0).round())
    pixels[grown] = background
    ys, xs = np.nonzero(mask)
    r = max(3, round((max(xs.max() - xs.min(), ys.max() - ys.min()) + 1) / 2))
    cx, cy = round((xs.min() + xs.max() + 1) / 2), round((ys.min() + ys.max() + 1) / 2)
    layer = Image.new("L", (pixels.shape[1], pixels.shape[0]), 0)
    _draw(ImageDraw.Draw(layer), Obj("red", shape), cx, cy, r, fill=255)
    drawn = np.asarray(layer) > 0
    pixels[drawn] = paint


def _recoloured(pixels: np.ndarray, mask: np.ndarray, old: str, new: str) -> None:
    """Move the object's paint from `old` to `new` in place, on its blob grown by one pixel, in proportion
    to how much of `old` each pixel holds (a dim anti-aliased fringe moves a little, the body all the way),
    so the edge keeps the sample's own softness and no fringe of the old colour is left behind."""
    grown = _grown(mask)
    a, b = np.array(COLOURS[old], np.float32), np.array(COLOURS[new], np.float32)
    share = np.clip((pixels[grown] @ a) / float(a @ a), 0.0, 1.0)[:, None]
    pixels[grown] = np.clip(pixels[grown] + share * (b - a), 0, 255)


def perturb(image: Image.Image, scene: Scene, kind: str, rng: random.Random) -> Edited | None:
    """A correct picture of `scene` edited into a picture of a *different* scene by one structured
    perturbation (`PERTURBATIONS`); None when the picture does not show `scene` as two clean objects.

    Why: preference pairs of two independent samples differ everywhere (other positions, other sizes), so
    the model can hardly tell which difference the preference is about, and a difference mask covers most
    of the picture. An edited winner differs only in the perturbed attribute or relation, like the data
    orchestra's negatives made by editing the positive (limner.data.perturb)."""
    blobs = sorted(_blobs(image), key=lambda f: f[0])
    if kind not in PERTURBATIONS:
        raise ValueError(f"kind={kind!r} should be one of {sorted(PERTURBATIONS)}")
    if len(blobs) != 2 or (blobs[0][1], blobs[1][1]) != (scene.left, scene.right):
        return None
    pixels = np.asarray(image.convert("RGB"), np.float32).copy()
    if kind == "flip_relation":
        shows = Scene(scene.right, scene.left)
        edited = image.convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        edits = [{"kind": "relation", "side": "", "seen": f"{scene.right.words()} left of {scene.left.words()}",
                  "want": f"{scene.left.words()} left of {scene.right.words()}"}]
        return Edited(edited, shows, kind, PERTURBATIONS[kind], edits)
    if kind == "swap_colours":
        (_, left, lmask), (_, right, rmask) = blobs
        _recoloured(pixels, lmask, left.colour, right.colour)
        _recoloured(pixels, rmask, right.colour, left.colour)
        shows = Scene(Obj(right.colour, left.shape), Obj(left.colour, right.shape))
    elif kind == "swap_shapes":
        (_, left, lmask), (_, right, rmask) = blobs
        if left.shape == right.shape:
            return None  # nothing to swap
        _reshaped(pixels, lmask, right.shape)
        _reshaped(pixels, rmask, left.shape)
        shows = Scene(Obj(left.colour, right.shape), Obj(right.colour, left.shape))
    else:
        index = rng.randrange(2)
        _, obj, mask = blobs[index]
        others = {scene.left.colour, scene.right.colour}
        new = rng.choice([c for c in COLOURS if c not in others])
        _recoloured(pixels, mask, obj.colour, new)
        moved = Obj(new, obj.shape)
        shows = Scene(moved, scene.right) if index == 0 else Scene(scene.left, moved)
    edited = Image.fromarray(pixels.round().astype(np.uint8))
    return Edited(edited, shows, kind, PERTURBATIONS[kind], edit_list((shows.left, shows.right), scene))
