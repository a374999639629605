"""The sandbox world's ground truth, and random scenes to measure things on.

`WorldTruth` records what a sandbox tool *really* drew: every object (class, colour, texture, box, depth
order, how much of it is visible), every rendered text, the background and style, and every blemish with
its exact pixel mask. It is saved beside the image for benchmarks and training data only: tools, the
checker and the agent's evaluator never read it (the checker judges from pixels).

`random_scene` draws GenEval/T2I-CompBench-like scenes (1-4 object kinds, counts 1-6, colours, textures,
relations, text, textured backgrounds) for the checker's accuracy benchmark and the painter calibration.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from limner.geometry import MIN_VISIBLE_SHARE, relation_holds_boxes, size_holds
from limner.tools.sandbox.artwork import TEXTURE_NAMES, same_shape
from limner.tools.sandbox.backdrops import BACKGROUND_NAMES, judged_background
from limner.types import (
    SPATIAL_3D,
    Box,
    CheckKind,
    Element,
    Relation,
    Scene,
    relation_dimension,
    relation_geometry,
)
from limner.vocab import GENEVAL_CLASSES, GENEVAL_COLORS, SIZE_DIRECTION

#: Where the truth marks the world as a simulation (benchmarks copy it into their JSON).
SIMULATED = True


class _Truth(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorldObject(_Truth):
    """One drawn object instance."""

    element_id: str | None = Field(description="the Scene element it was drawn for; None for stray objects")
    cls: str
    color: str = Field(description="colour family the body was painted in (the artwork's own if unasked)")
    texture: str | None = None
    shape: str | None = None
    box: Box
    z: int = Field(description="drawing order: larger is nearer the viewer")
    scale: float = Field(description="sprite size relative to the scene's base object size")
    size: int | None = Field(default=None, description="the sprite's longer side in px (None: the box's)")
    visible: float = Field(default=1.0, ge=0, le=1, description="fraction of the silhouette not covered")
    covers: list[int] | None = Field(
        default=None,
        description="`z` of every object this one visibly hides (at least MIN_OCCLUSION_PX of its silhouette); "
        "None when not measured (then depth falls back to box overlap)",
    )


class WorldText(_Truth):
    """A rendered text (sign, label) and the box of its ink."""

    element_id: str | None
    text: str
    box: Box
    plate: Box | None = None
    z: int | None = Field(
        default=None,
        description="depth it was written at: its carrier's `z` (objects drawn later stand in front of it); "
        "None when written over everything (a free label, an editor's new text)",
    )
    visible: float | None = Field(
        default=None, description="share of the ink in view; None when not measured (taken as in view)"
    )
    intact: float | None = Field(
        default=None,
        description="share of the ink that later edits left as written (an edit's object drawn over it, "
        "a sign erased under it); None when no edit touched it",
    )
    ink: list[int] | None = Field(
        default=None,
        description="the letters' own pixels inside `box`, run-length encoded as a blemish's mask; None when not "
        "recorded (then the whole box counts as ink)",
    )

    def ink_mask(self) -> np.ndarray:
        """The letters' pixels, `box`-sized (all of the box when not recorded)."""
        h, w = self.box.y1 - self.box.y0, self.box.x1 - self.box.x0
        return rle_decode(self.ink, h, w) if self.ink is not None else np.ones((max(0, h), max(0, w)), dtype=bool)


#: A text counts as written only with at least this share of its ink (the letters' pixels) in view: a word with
#: a letter hidden behind something in front of its sign is not the word (the checker's reading needs it whole).
#: The same share must be left as written by later edits and not erased by a blemish (`TEXT_ERASING_BLEMISHES`).
TEXT_MIN_VISIBLE = 0.95


#: The defect taxonomy of `blemishes.BLEMISH_KINDS` (which says what each looks like).
BlemishKind = Literal[
    "smear", "broken_outline", "duplicated_fragment", "missing_part", "noise_patch", "melted_text",
    "color_bleed", "warped_shape", "stray_marks",
]

#: The blemishes that take letters away: a smear drags them into a streak, a broken outline or a missing part
#: paints their dark strokes over, a duplicated fragment pastes something else on them. A word with a letter
#: gone this way is not the word, as with a letter hidden behind an object (`TEXT_MIN_VISIBLE`). The others
#: leave the strokes where they were (melted letters run but stay, noise and a colour bleed tint them, stray
#: marks and a warp add or bend strokes): the word is still written, if harder to read.
TEXT_ERASING_BLEMISHES: frozenset[BlemishKind] = frozenset({"smear", "broken_outline", "missing_part", "duplicated_fragment"})


class Blemish(_Truth):
    """A local defect with its exact mask: run-length encoded inside `box` (row-major, first run = off)."""

    kind: BlemishKind
    box: Box
    rle: list[int]
    description: str = ""

    def mask(self, width: int, height: int) -> np.ndarray:
        """The full-image boolean mask."""
        out = np.zeros((height, width), dtype=bool)
        h, w = self.box.y1 - self.box.y0, self.box.x1 - self.box.x0
        out[self.box.y0 : self.box.y1, self.box.x0 : self.box.x1] = rle_decode(self.rle, h, w)
        return out


class WorldTruth(_Truth):
    """Everything that was really drawn. `simulated` is always true: this is the sandbox world."""

    simulated: Literal[True] = True
    width: int
    height: int
    prompt: str = ""
    tool: str = ""
    background: str = "plain"
    background_left: str | None = Field(
        default=None,
        description="the backdrop a partial repaint left on the lower half (None: the whole is `background`)",
    )
    style: str | None = None
    style_half: bool = Field(
        default=False,
        description="`style` was blended half over the old look (an editor's partial restyle): "
        "neither look is whole",
    )
    objects: list[WorldObject] = Field(default_factory=list)
    texts: list[WorldText] = Field(default_factory=list)
    blemishes: list[Blemish] = Field(default_factory=list)
    unsupported: list[str] = Field(default_factory=list, description="asked-for classes the world cannot draw")
    notes: list[str] = Field(default_factory=list, description="what the tool got wrong on purpose, for audits")

    def objects_of(self, element_id: str) -> list[WorldObject]:
        return [o for o in self.objects if o.element_id == element_id]

    def blemish_mask(self) -> np.ndarray:
        """Union of all blemish masks (the retoucher's saliency target)."""
        out = np.zeros((self.height, self.width), dtype=bool)
        for b in self.blemishes:
            out |= b.mask(self.width, self.height)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorldTruth:
        return cls.model_validate(data)


def rle_encode(mask: np.ndarray) -> list[int]:
    """Alternating run lengths of a boolean mask in row-major order, starting with a False run."""
    flat = np.asarray(mask, dtype=bool).ravel()
    if flat.size == 0:
        return []
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    runs = np.diff(bounds).tolist()
    return ([0] + runs) if flat[0] else runs


def rle_decode(rle: list[int], height: int, width: int) -> np.ndarray:
    if sum(rle) != height * width:
        raise ValueError(f"RLE covers {sum(rle)} pixels, box has {height * width}")
    values = np.zeros(len(rle), dtype=bool)
    values[1::2] = True
    return np.repeat(values, rle).reshape(height, width)


# ----------------------------------------------------------------------------------------------------
# Random scenes
# ----------------------------------------------------------------------------------------------------

#: The backdrops random scenes draw: the textured ones the world had when `benchmarks/sandbox.py`'s painted
#: sample was fixed, kept so that sample (and every A/B on it) stays the same picture for picture. The
#: backdrops added since (`backdrops.BACKGROUND_NAMES`: garden, pond, bathroom, stage) are measured by the
#: benchmark's background probe, which asks for every backdrop.
RANDOM_BACKGROUNDS: tuple[str, ...] = (
    "paper", "grass", "park", "beach", "snow", "sky", "ocean", "desert", "forest", "kitchen", "room", "street",
    "wall", "wooden floor", "night",
)
assert set(RANDOM_BACKGROUNDS) <= set(BACKGROUND_NAMES)

TEXT_WORDS: tuple[str, ...] = (
    "OPEN", "SALE", "CAFE", "STOP", "HELLO", "EXIT", "BAKERY", "LOVE", "PARK", "HOTEL", "BOOKS", "FRESH",
    "PIZZA", "TAXI", "MUSEUM", "GARDEN", "SUN", "MILK", "LIMNER", "DREAM",
)


def random_scene(
    rng: np.random.Generator,
    *,
    classes: tuple[str, ...] = GENEVAL_CLASSES,
    max_kinds: int = 4,
    max_count: int = 6,
    p_color: float = 0.6,
    p_texture: float = 0.15,
    p_relation: float = 0.5,
    p_text: float = 0.15,
    p_shape: float = 0.0,
    p_background: float = 0.6,
    max_instances: int = 12,
    predicates: tuple[str, ...] = ("left of", "right of", "above", "below", "next to", "in front of", "behind"),
) -> Scene:
    """A random checkable scene, with a plain-English prompt describing it. `predicates`: the relations it
    may ask for (`WORLD_PREDICATES` adds support, containment, attachment, wearing, riding and actions);
    `p_shape`: the chance an object kind gets a shape word (0 by default: scenes drawn before shapes were
    judged stay the same for a seed)."""
    n_kinds = int(rng.integers(1, max_kinds + 1))
    picked = [str(c) for c in rng.choice(np.array(classes, dtype=object), size=n_kinds, replace=False)]
    budget = max_instances
    elements: list[Element] = []
    for i, cls in enumerate(picked):
        left = n_kinds - i - 1
        count = int(rng.integers(1, max(1, min(max_count, budget - left)) + 1))
        budget -= count
        color = str(rng.choice(GENEVAL_COLORS)) if rng.random() < p_color else None
        texture = str(rng.choice(TEXTURE_NAMES)) if rng.random() < p_texture else None
        shape = str(rng.choice(DRAWN_SHAPES)) if p_shape and rng.random() < p_shape else None
        elements.append(Element(id=f"e{i}", noun=cls, cls=cls, count=count, color=color, texture=texture,
                                shape=shape))
    if rng.random() < p_text:
        elements.append(Element(id=f"e{len(elements)}", noun="sign", cls="sign", count=1,
                                text=str(rng.choice(TEXT_WORDS))))
    relations: list[Relation] = []
    if len(elements) >= 2 and rng.random() < p_relation:
        a, b = rng.choice(len(elements), size=2, replace=False)
        pred = str(rng.choice(list(predicates)))
        relations.append(Relation(subject=elements[a].id, predicate=pred, object=elements[b].id))
    background = str(rng.choice(RANDOM_BACKGROUNDS)) if rng.random() < p_background else None
    scene = Scene(prompt="", elements=elements, relations=relations, background=background)
    return scene.model_copy(update={"prompt": describe(scene)})


#: Shape words `random_scene` may ask for: one per outline the world draws.
DRAWN_SHAPES: tuple[str, ...] = ("round", "square", "rectangular", "triangular", "oval", "diamond", "hexagonal",
                                 "pentagonal", "cylindrical", "teardrop", "star-shaped")

#: Every relation the world draws and judges: 2D, depth, contact, and one action per proxy geometry.
WORLD_PREDICATES: tuple[str, ...] = (
    "left of", "right of", "above", "below", "next to", "in front of", "behind", "on", "in", "holding",
    "wearing", "riding", "with", "playing", "chasing",
)

_NUM = ("no", "a", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")


def _plural(noun: str) -> str:
    special = {"person": "people", "mouse": "mice", "knife": "knives", "sheep": "sheep", "skis": "skis",
               "child": "children", "man": "men", "woman": "women", "fish": "fish", "gloves": "gloves",
               "glasses": "glasses", "couch": "couches", "bench": "benches", "sandwich": "sandwiches",
               "toothbrush": "toothbrushes", "dress": "dresses", "box": "boxes", "bus": "buses",
               "cactus": "cacti", "hair drier": "hair driers", "tv": "tvs", "scissors": "scissors",
               "broccoli": "broccoli", "wine glass": "wine glasses", "glass": "glasses", "watch": "watches",
               "strawberry": "strawberries", "cookie": "cookies", "butterfly": "butterflies", "candle": "candles",
               "shelf": "shelves", "bookshelf": "bookshelves", "potato": "potatoes", "cutlery": "cutlery",
               "jellyfish": "jellyfish", "goldfish": "goldfish"}
    if noun in special:
        return special[noun]
    last = noun.split()[-1]
    plural_last = special.get(last) or (last[:-1] + "ies" if last.endswith("y") and last[-2] not in "aeiou"
                                        else last + ("es" if last.endswith(("s", "sh", "ch", "x")) else "s"))
    return " ".join(noun.split()[:-1] + [plural_last])


def phrase(e: Element) -> str:
    """English noun phrase for an element ("three red apples", "a sign that says \"OPEN\"")."""
    words = []
    if e.count == 1:
        first = e.size or e.color or e.texture or e.shape or e.cls
        words.append("an" if first[0] in "aeiou" else "a")
    else:
        words.append(_NUM[e.count] if e.count < len(_NUM) else str(e.count))
    for attr in (e.size, e.shape, e.color, e.texture):
        if attr:
            words.append(attr)
    words.append(e.cls if e.count == 1 else _plural(e.cls))
    if e.text:
        words.append(f'that says "{e.text}"')
    return " ".join(words)


def describe(scene: Scene) -> str:
    """A prompt that states the scene (used to make painter test prompts from random scenes)."""
    parts: list[str] = []
    related = {r.subject for r in scene.relations} | {r.object for r in scene.relations}
    for r in scene.relations:
        parts.append(f"{phrase(scene.element(r.subject))} {r.predicate} {phrase(scene.element(r.object))}")
    parts += [phrase(e) for e in scene.elements if e.id not in related and not e.negated]
    text = "a photo of " + (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0])
    if scene.background:
        text += f" on a {scene.background} background"
    return text


# ----------------------------------------------------------------------------------------------------
# Grading a truth against a scene (benchmarks only: calibrates painters, measures the checker)
# ----------------------------------------------------------------------------------------------------


class TruthCheck(_Truth):
    """Did the world really draw this part of the scene? (computed from the truth, never from pixels)"""

    target: str
    kind: CheckKind
    dimension: str
    passed: bool


def relation_holds(pred: str, a: list[WorldObject], b: list[WorldObject], width: int, height: int) -> bool:
    """GenEval-like reading of a relation between two groups of drawn objects.

    2D and contact relations read the boxes as the checker does (`geometry.relation_holds_boxes`, same
    thresholds); depth reads the drawing order of every pair where one visibly hides the other
    (`WorldObject.covers`: depth in a flat picture is seen only through occlusion; box overlap without it
    shows no order); an action reads as its proxy (`types.relation_geometry`: "playing" as "holding").
    An action without a proxy never holds: nothing in the world says it was drawn.
    """
    geometric = relation_geometry(pred)
    if not a or not b or geometric is None:
        return False
    if geometric in SPATIAL_3D:
        pairs = [(x, y) for x in a for y in b if _occlude(x, y)]
        front = geometric == "in front of"
        return bool(pairs) and all((x.z > y.z) == front for x, y in pairs)
    return relation_holds_boxes(geometric, [o.box for o in a], [o.box for o in b], width, height)


def size_references(scene: Scene, element_id: str) -> list[str]:
    """The elements a size word of `element_id` is judged against: the scene's other drawn elements whose
    size word points the other way or is absent ("a big dog and a cat": the cat). Empty: no reference, the
    size cannot be judged (a lone "big dog" is big compared with nothing in the picture)."""
    e = scene.element(element_id)
    own = SIZE_DIRECTION.get(e.size or "", 0)
    return [o.id for o in scene.elements if o.id != e.id and not o.negated and o.count > 0
            and SIZE_DIRECTION.get(o.size or "", 0) != own]


def size_reference_classes(scene: Scene, element_id: str) -> list[str]:
    """The classes a size word of `element_id` is judged against (`size_references`), less its own class
    (objects are matched by class, so "a big apple and a small apple" cannot be told apart); empty when
    the element has no size word or nothing to compare with."""
    e = scene.element(element_id)
    if e.size not in SIZE_DIRECTION:
        return []
    return sorted({scene.element(i).cls for i in size_references(scene, element_id)} - {e.cls})


def relation_check_kind(pred: str) -> CheckKind:
    """The `Check.kind` of a relation check, for the truth and the checker alike: depth for 3D, position
    for 2D, action for contact relations and actions (the rule planner repairs those with a contact move,
    `instructions.say_contact_move`)."""
    if pred in SPATIAL_3D:
        return "depth"
    return "position" if relation_dimension(pred) == "spatial_2d" else "action"


def _occlude(x: WorldObject, y: WorldObject) -> bool:
    """Does one of the two visibly hide the other? (Box overlap when occlusion was not measured.)"""
    if x.covers is None or y.covers is None:
        return x.box.overlaps(y.box)
    return y.z in x.covers or x.z in y.covers


def _drawn_size(o: WorldObject) -> float:
    return float(o.size or max(o.box.x1 - o.box.x0, o.box.y1 - o.box.y0))


def _element_truth_checks(e: Element, objs: list[WorldObject], truth: WorldTruth,
                          refs: list[WorldObject] | None = None) -> list[TruthCheck]:
    """The checks of one element against the objects of its class that were drawn (visibly enough);
    `refs`: the drawn objects its size word is judged against (None: the size is not judged)."""
    if e.negated:
        return [TruthCheck(target=e.id, kind="absence", dimension="numeracy", passed=not objs)]
    checks = [TruthCheck(target=e.id, kind="presence", dimension="non_spatial", passed=bool(objs))]
    if e.count != 1:
        checks.append(TruthCheck(target=e.id, kind="count", dimension="numeracy", passed=len(objs) == e.count))
    if e.color:
        ok = sum(o.color == e.color for o in objs) >= min(e.count, max(1, len(objs))) and bool(objs)
        checks.append(TruthCheck(target=e.id, kind="color", dimension="color", passed=ok))
    if e.texture:
        ok = bool(objs) and all(o.texture == e.texture for o in objs)
        checks.append(TruthCheck(target=e.id, kind="texture", dimension="texture", passed=ok))
    if e.shape:
        ok = bool(objs) and all(same_shape(o.shape, e.shape) for o in objs)
        checks.append(TruthCheck(target=e.id, kind="shape", dimension="shape", passed=ok))
    if e.size in SIZE_DIRECTION and refs is not None:
        ok = size_holds(SIZE_DIRECTION[e.size or ""], [_drawn_size(o) for o in objs], [_drawn_size(o) for o in refs])
        checks.append(TruthCheck(target=e.id, kind="size", dimension="shape", passed=ok))
    if e.text:
        ok = any(t.text == e.text and text_legible(t, truth) for t in truth.texts)
        checks.append(TruthCheck(target=e.id, kind="text", dimension="text", passed=ok))
    return checks


def text_legible(t: WorldText, truth: WorldTruth) -> bool:
    """Is the text there to be read: at least `TEXT_MIN_VISIBLE` of its ink (the letters' pixels) in view, left
    as written by later edits, and not erased by a blemish (`TEXT_ERASING_BLEMISHES`)?"""
    if t.visible is not None and t.visible < TEXT_MIN_VISIBLE:
        return False
    if t.intact is not None and t.intact < TEXT_MIN_VISIBLE:
        return False
    b = t.box
    ink = t.ink_mask()
    if not ink.any():
        return False
    erased = np.zeros(ink.shape, dtype=bool)
    for bl in truth.blemishes:
        if bl.kind in TEXT_ERASING_BLEMISHES and bl.box.intersection(b) is not None:
            erased |= bl.mask(truth.width, truth.height)[b.y0 : b.y1, b.x0 : b.x1]
    return float(erased[ink].mean()) <= 1 - TEXT_MIN_VISIBLE


def grade_truth(scene: Scene, truth: WorldTruth, min_visible: float = MIN_VISIBLE_SHARE) -> list[TruthCheck]:
    """One check per element attribute and relation, judged against what was really drawn.

    Objects are matched by class (as GenEval's detector does), so a leaked colour or a stray extra
    object counts against the painter just as a pixel-level judge would see it. A background is graded when
    the sandbox has a backdrop of its own for it (`backdrops.judged_background`): that backdrop, whole.
    """
    checks: list[TruthCheck] = []
    by_cls: dict[str, list[WorldObject]] = {}
    for o in truth.objects:
        if o.visible >= min_visible:
            by_cls.setdefault(o.cls, []).append(o)
    for e in scene.elements:
        refs = None
        classes = size_reference_classes(scene, e.id)
        if classes:
            refs = [o for c in classes for o in by_cls.get(c, [])]
        checks.extend(_element_truth_checks(e, by_cls.get(e.cls, []), truth, refs))
    for r in scene.relations:
        a = by_cls.get(scene.element(r.subject).cls, [])
        b = by_cls.get(scene.element(r.object).cls, [])
        ok = relation_holds(r.predicate, a, b, truth.width, truth.height)
        kind = relation_check_kind(r.predicate)
        checks.append(TruthCheck(target=r.id, kind=kind, dimension=relation_dimension(r.predicate), passed=ok))
    judged = judged_background(scene.background)
    if judged is not None:
        whole = truth.background_left in (None, judged.key)
        checks.append(TruthCheck(target="scene", kind="background", dimension="background",
                                 passed=truth.background == judged.key and whole))
    return checks
