"""Contrastive perturbations: structured edits of a Scene that an editor can carry out, and what they change.

A perturbation is a short list of **atomic edits** (`Edit`), each recorded as data — kind, target, before,
after — with the instruction an editor receives, in the one edit grammar (`limner.reading.instructions`:
"make the cup blue", "remove the cat", "replace the dog with a horse", "change the number of apples to 3",
"move the cup right of the dog", 'change the text to "SALE"'). Applying it to the positive's scene gives the
negative's scene; the checks it must make the positive's scene fail are `intended` (element and relation
ids of the positive's scene).

Kinds (AgentComp's "removing attributes, swapping relations, altering object properties"):

| kind | edit | intended failures in the positive's scene |
|---|---|---|
| `recolor` | make the X c' | X's colour |
| `drop_attribute` | make the X c' (the negative's scene no longer names a colour) | X's colour |
| `swap_colors` | make the X c_Y, make the Y c_X (two edits) | X's and Y's colours |
| `retexture` | make the X t' | X's texture |
| `reshape` | make the X s' (another outline the world draws) | X's shape |
| `count` | change the number of Xs to n±1 | X's count |
| `relation` | move the X {opposite} the Y | the relation |
| `drop_object` | remove the X / remove all Xs | everything about X and its relations |
| `replace_object` | replace the X with a Z | everything about X and its relations |
| `retext` | change the text to "W'" | the text |

An "add a Y" edit is not a negative of the positive (the positive's scene says nothing about Y, so the edited
image fails none of its checks); such pairs arise in the other direction inside a cluster (pair filter).

Distance (`scene_distance`) is the number of atomic edits between two scenes: exact for structured scenes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal

import numpy as np

from limner import vocab
from limner.reading.instructions import InstructionError, parse_instruction
from limner.reading.prompt import plural
from limner.tools.sandbox.artwork import same_shape
from limner.tools.sandbox.world import DRAWN_SHAPES, TEXT_WORDS, describe
from limner.types import SPATIAL_3D, Element, Relation, Scene

__all__ = [
    "KINDS", "OPPOSITE", "Edit", "Perturbation", "candidates", "diff_targets", "exact_failures", "intended",
    "scene_distance", "scene_prompt",
]

Kind = Literal["recolor", "drop_attribute", "swap_colors", "retexture", "reshape", "count", "relation",
               "drop_object", "replace_object", "retext"]
KINDS: tuple[str, ...] = ("recolor", "drop_attribute", "swap_colors", "retexture", "reshape", "count", "relation",
                          "drop_object", "replace_object", "retext")
#: The relation a flip moves to (an editor can carry out "move the X {opposite} the Y").
OPPOSITE: dict[str, str] = {"left of": "right of", "right of": "left of", "above": "below", "below": "above",
                            "in front of": "behind", "behind": "in front of"}
_COLORS = vocab.GENEVAL_COLORS
_NUMBER = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}
_CLASSES = vocab.GENEVAL_CLASSES


@dataclass(frozen=True)
class Edit:
    """One atomic edit, as data. `target` is the element or relation id in the scene it was applied to;
    `before`/`after` the value changed (a colour, a count, a class, a predicate, a text; None = absent)."""

    kind: str
    target: str
    before: Any
    after: Any
    instruction: str
    # what the positive's scene must then fail: (target id, check kind) pairs; kind None = every check of it
    fails: tuple[tuple[str, str | None], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "before": self.before, "after": self.after,
                "instruction": self.instruction}


@dataclass(frozen=True)
class Perturbation:
    """A negative's recipe: the atomic edits (applied in order) and the scene they lead to."""

    edits: tuple[Edit, ...]
    scene: Scene
    kind: str = field(default="")

    @property
    def distance(self) -> int:
        return len(self.edits)

    @property
    def instructions(self) -> list[str]:
        return [e.instruction for e in self.edits]

    def to_json(self) -> list[dict[str, Any]]:
        return [e.to_json() for e in self.edits]


def _noun(e: Element) -> str:
    return e.cls if e.count == 1 else plural(e.cls)


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _replace(scene: Scene, eid: str, **update: Any) -> Scene:
    return scene.model_copy(update={"elements": [e.model_copy(update=update) if e.id == eid else e
                                                 for e in scene.elements]}, deep=True)


def _relations_of(scene: Scene, eid: str) -> list[Relation]:
    return [r for r in scene.relations if eid in (r.subject, r.object)]


def _readable(instruction: str) -> bool:
    try:
        parse_instruction(instruction)
    except InstructionError:
        return False
    return True


#: How many alternatives of one attribute a scene offers per element (recolours, retextures, reshapes) and
#: how many replacement classes: a simple scene ("a fabric hat and a leather wallet") had 7 perturbations
#: with one of each, fewer than the 10 negatives asked; each alternative is a separate atomic negative.
ALTERNATIVES = 3
REPLACEMENTS = 3
#: Reshapes per shaped element: one. The sandbox checker searches a shaped element as its class and its
#: class in the asked outline only, so an object redrawn in another outline is "not found" against the
#: positive's scene (presence fails with the shape, where the world's truth fails only the shape) and the
#: negative is discarded: more outlines would mostly spend attempts (reported to the checker's owners).
RESHAPES = 1


def _shared_classes(scene: Scene) -> set[str]:
    """Classes more than one element of the scene has ("a man talking to his friend": two persons). An edit
    says "the person", which the editors and the edit's own judgement read as every person: such an element
    cannot be changed alone, so it offers no atomic perturbation."""
    seen: set[str] = set()
    shared: set[str] = set()
    for e in scene.elements:
        (shared if e.cls in seen else seen).add(e.cls)
    return shared


def _replacement_words(e: Element, z: str) -> str:
    """How the instruction names the replacement: its count, the element's colour, texture and shape kept."""
    noun = z if e.count == 1 else plural(z)
    words = " ".join(w for w in (e.color, e.shape, e.texture, noun) if w)
    return f"{_article(words)} {words}" if e.count == 1 else f"{_NUMBER.get(e.count, e.count)} {words}"


def _replaceable(e: Element) -> bool:
    """A replacement keeps what the element states besides its class (a fabric hat becomes a fabric cup, a
    round clock a round plate): colour, texture and shape carry over to any class the world draws. A size is
    judged against the other objects' ordinary sizes, which a new class changes, and a text belongs to its
    sign: elements with those are not replaced."""
    return not e.text and not e.size


def _replacements(scene: Scene, e: Element, rng: np.random.Generator, k: int,
                  taken: set[str]) -> list[tuple[Edit, Scene]]:
    """`k` replacements of `e` by classes not in `taken` whose instruction the grammar reads ("a blue
    orange" names no object)."""
    noun = _noun(e)
    every = ((e.id, None),) + tuple((r.id, None) for r in _relations_of(scene, e.id))
    pool = [str(c) for c in rng.permutation([c for c in _CLASSES if c not in taken])]
    said = ((z, f"replace the {noun} with {_replacement_words(e, z)}") for z in pool)
    return [(Edit("replace_object", e.id, e.cls, z, line, every),
             _replace(scene, e.id, cls=z, noun=z if e.count == 1 else plural(z)))
            for z, line in islice((x for x in said if _readable(x[1])), k)]


def _more_replacements(scene: Scene, atomic: list[tuple[Edit, Scene]], rng: np.random.Generator,
                       missing: int) -> list[tuple[Edit, Scene]]:
    """When a scene offers fewer atomic perturbations than asked ("five boys": counts and three
    replacements), more replacement classes, shared out over the elements that can be replaced: each is
    another atomic negative the world can draw."""
    shared = _shared_classes(scene)
    open_ = [e for e in scene.elements if not e.negated and e.cls not in shared and _replaceable(e)]
    if missing <= 0 or not open_:
        return []
    taken = {e.cls for e in scene.elements} | {str(ed.after) for ed, _ in atomic if ed.kind == "replace_object"}
    per = -(-missing // len(open_))
    out: list[tuple[Edit, Scene]] = []
    for e in open_:
        more = _replacements(scene, e, rng, per, taken)
        taken |= {str(ed.after) for ed, _ in more}
        out.extend(more)
    return out[:missing]


def _atomic(scene: Scene, rng: np.random.Generator) -> list[tuple[Edit, Scene]]:
    """Every single-edit perturbation of `scene` this module knows, each with its resulting scene."""
    out: list[tuple[Edit, Scene]] = []
    elements = [e for e in scene.elements if not e.negated]
    classes = {e.cls for e in scene.elements}
    shared = _shared_classes(scene)
    for e in elements:
        if e.cls in shared:
            continue
        noun = _noun(e)
        if e.color:
            others = [c for c in _COLORS if c != e.color]
            picked = [str(x) for x in rng.choice(others, min(len(others), ALTERNATIVES + 1), replace=False)]
            for c1 in picked[:ALTERNATIVES]:
                out.append((Edit("recolor", e.id, e.color, c1, f"make the {noun} {c1}", ((e.id, "color"),)),
                            _replace(scene, e.id, color=c1)))
            c2 = picked[-1]
            out.append((Edit("drop_attribute", e.id, e.color, None, f"make the {noun} {c2}", ((e.id, "color"),)),
                        _replace(scene, e.id, color=None)))
        if e.texture:
            others = [x for x in vocab.TEXTURES if x != e.texture]
            for t in rng.choice(others, min(len(others), ALTERNATIVES), replace=False).tolist():
                out.append((Edit("retexture", e.id, e.texture, str(t), f"make the {noun} {t}", ((e.id, "texture"),)),
                            _replace(scene, e.id, texture=str(t))))
        if e.shape:
            # other outlines that draw differently (not "circular" for "round": `same_shape`), and differently
            # from each other
            shapes = [x for x in DRAWN_SHAPES if not same_shape(x, e.shape)]
            for sh in rng.permutation(shapes).tolist()[:RESHAPES]:
                sh = str(sh)
                out.append((Edit("reshape", e.id, e.shape, sh, f"make the {noun} {sh}", ((e.id, "shape"),)),
                            _replace(scene, e.id, shape=sh)))
        if e.count >= 2:
            # every other count up to three more than asked (at least 1-6), nearest first: a scene of one
            # counted object offers little else to perturb
            counts = [n for n in range(1, max(7, e.count + 4)) if n != e.count]
            for n in sorted(counts, key=lambda n: (abs(n - e.count), n)):
                out.append((Edit("count", e.id, e.count, int(n), f"change the number of {plural(e.cls)} to {n}",
                                 ((e.id, "count"),)),
                            _replace(scene, e.id, count=int(n), noun=e.cls if n == 1 else plural(e.cls))))
        if e.text:
            w = str(rng.choice([x for x in TEXT_WORDS if x != e.text]))
            out.append((Edit("retext", e.id, e.text, w, f'change the text to "{w}"', ((e.id, "text"),)),
                        _replace(scene, e.id, text=w)))
        every = ((e.id, None),) + tuple((r.id, None) for r in _relations_of(scene, e.id))
        if len(elements) >= 2:
            rest = [x for x in scene.elements if x.id != e.id]
            kept_rel = [r for r in scene.relations if e.id not in (r.subject, r.object)]
            said = f"remove the {e.cls}" if e.count == 1 else f"remove all {plural(e.cls)}"
            out.append((Edit("drop_object", e.id, e.cls, None, said, every),
                        scene.model_copy(update={"elements": rest, "relations": kept_rel}, deep=True)))
        if _replaceable(e):
            out.extend(_replacements(scene, e, rng, REPLACEMENTS, classes))
    for r in scene.relations:
        if r.predicate not in OPPOSITE:
            continue
        a, b = scene.element(r.subject), scene.element(r.object)
        if {a.cls, b.cls} & shared:
            continue
        flipped = OPPOSITE[r.predicate]
        new = r.model_copy(update={"predicate": flipped})
        s2 = scene.model_copy(update={"relations": [new if x.id == r.id else x for x in scene.relations]}, deep=True)
        # a group moves badly (every instance must land on the other side): move the single anchor instead
        said = (f"move the {_noun(b)} {r.predicate} the {_noun(a)}" if a.count > 1 and b.count == 1
                else f"move the {_noun(a)} {flipped} the {_noun(b)}")
        out.append((Edit("relation", r.id, r.predicate, flipped, said,
                         ((r.id, "depth" if r.predicate in SPATIAL_3D else "position"),)), s2))
    coloured = [e for e in elements if e.color and e.cls not in shared]
    for i, x in enumerate(coloured):
        for y in coloured[i + 1:]:
            if x.color == y.color or x.cls == y.cls:
                continue
            s2 = _replace(_replace(scene, x.id, color=y.color), y.id, color=x.color)
            out.append((Edit("swap_colors", f"{x.id}+{y.id}", [x.color, y.color], [y.color, x.color],
                             f"make the {_noun(x)} {y.color}|make the {_noun(y)} {x.color}",
                             ((x.id, "color"), (y.id, "color"))), s2))
    return [(e, s) for e, s in out if all(_readable(i) for i in e.instruction.split("|"))]


def _split(edit: Edit) -> list[Edit]:
    """A swap is two recolours (two atomic edits, two instructions); every other kind is one."""
    if edit.kind != "swap_colors":
        return [edit]
    first, second = edit.instruction.split("|")
    x, y = edit.target.split("+")
    return [Edit("swap_colors", x, edit.before[0], edit.after[0], first, ((x, "color"),)),
            Edit("swap_colors", y, edit.before[1], edit.after[1], second, ((y, "color"),))]


def _touched(edit: Edit) -> set[str]:
    """The element and relation ids an edit acts on (a drop also takes the dropped element's relations)."""
    ids = set(edit.target.split("+"))
    if edit.kind == "drop_object":
        ids |= {t for t, _ in edit.fails}
    return ids


def candidates(scene: Scene, rng: np.random.Generator, limit: int) -> list[Perturbation]:
    """Up to `limit` perturbations of `scene`: every atomic one first (shuffled, kinds interleaved so that a
    cluster gets variety), then pairs of atomic ones on disjoint targets (distance 2) to fill the budget.
    A scene that offers fewer than half the budget of atomic ones gets more replacement classes first
    (`_more_replacements`): a negative one edit away is the contrast AgentComp wants most."""
    atomic = _atomic(scene, rng)
    atomic += _more_replacements(scene, atomic, rng, limit // 2 - len(atomic))
    order = rng.permutation(len(atomic)).tolist()
    by_kind: dict[str, list[tuple[Edit, Scene]]] = {}
    for i in order:
        by_kind.setdefault(atomic[i][0].kind, []).append(atomic[i])
    interleaved: list[tuple[Edit, Scene]] = []
    while any(by_kind.values()):
        for k in KINDS:
            if by_kind.get(k):
                interleaved.append(by_kind[k].pop(0))
    out = [Perturbation(tuple(_split(e)), s, e.kind) for e, s in interleaved]
    # Compositions of two atomic edits on disjoint targets (a drop/replace first would leave the second
    # edit nothing to act on, so those go second).
    pairs = []
    for i, (e1, _) in enumerate(interleaved):
        for e2, _ in interleaved[i + 1:]:
            if _touched(e1) & _touched(e2) or e1.kind == "swap_colors" or e2.kind == "swap_colors":
                continue
            first, second = (e2, e1) if e1.kind in ("drop_object", "replace_object") else (e1, e2)
            pairs.append((first, second))
    for j in rng.permutation(len(pairs)).tolist():
        if len(out) >= limit:
            break
        first, second = pairs[j]
        s2 = apply_edits(scene, (first, second))
        if s2 is not None and s2.elements:
            out.append(Perturbation((first, second), s2, f"{first.kind}+{second.kind}"))
    return out[:limit]


def apply_edits(scene: Scene, edits: Iterable[Edit]) -> Scene | None:
    """The scene after `edits` (each re-applied by kind onto the current scene); None if one no longer applies."""
    s = scene
    for e in edits:
        ids = {x.id for x in s.elements}
        if e.kind in ("recolor", "drop_attribute", "swap_colors", "retexture", "reshape", "count", "retext",
                      "replace_object"):
            if e.target not in ids:
                return None
            field_ = {"recolor": "color", "drop_attribute": "color", "swap_colors": "color", "retexture": "texture",
                      "reshape": "shape", "count": "count", "retext": "text", "replace_object": "cls"}[e.kind]
            update: dict[str, Any] = {field_: e.after}
            if e.kind == "replace_object":
                update["noun"] = e.after if s.element(e.target).count == 1 else plural(e.after)
            if e.kind == "count":
                update["noun"] = s.element(e.target).cls if e.after == 1 else plural(s.element(e.target).cls)
            s = _replace(s, e.target, **update)
        elif e.kind == "drop_object":
            if e.target not in ids:
                return None
            s = s.model_copy(update={"elements": [x for x in s.elements if x.id != e.target],
                                     "relations": [r for r in s.relations if e.target not in (r.subject, r.object)]},
                             deep=True)
        elif e.kind == "relation":
            rel = [r for r in s.relations if r.id == e.target]
            if not rel:
                return None
            new = rel[0].model_copy(update={"predicate": e.after})
            s = s.model_copy(update={"relations": [new if r.id == e.target else r for r in s.relations]}, deep=True)
        else:
            return None
    return s


def intended(scene: Scene, perturbation: Perturbation) -> set[tuple[str, str | None]]:
    """The checks of the positive's `scene` the negative must fail: (id, kind), kind None = all of that id."""
    return {f for e in perturbation.edits for f in e.fails}


def exact_failures(checks: Iterable[tuple[str, str, bool]], want: set[tuple[str, str | None]]) -> tuple[bool, str]:
    """Whether a judge's checks (target, kind, passed) fail exactly `want`: every check `want` names fails
    (and at least one such check was made), and every other check passes. With the reason when not."""
    checks = list(checks)

    def wanted(t: str, k: str) -> bool:
        return (t, k) in want or (t, None) in want

    made = [(t, k) for t, k, _ in checks if wanted(t, k)]
    missing = [f"{t} {k}" for t, k in want if k is not None and (t, k) not in {(a, b) for a, b, _ in checks}]
    if not made or missing:
        return False, "the intended check(s) were not made: " + (", ".join(missing) or "none of them")
    still = [f"{t} {k}" for t, k, ok in checks if wanted(t, k) and ok]
    extra = [f"{t} {k}" for t, k, ok in checks if not wanted(t, k) and not ok and k != "global"]
    if still:
        return False, "intended check(s) still pass: " + ", ".join(still)
    if extra:
        return False, "other check(s) fail too: " + ", ".join(extra)
    return True, "fails exactly the intended checks"


def _elem_key(e: Element) -> tuple[Any, ...]:
    return (e.cls, e.count, e.color, e.texture, e.shape, e.size, e.text, e.negated)


def diff_targets(a: Scene, b: Scene) -> set[str]:
    """Ids of `a`'s elements and relations that `b` states differently (or not at all): the only checks of
    `a` that an image showing `b` may fail. A relation touching a changed element counts as changed."""
    bel = {e.id: e for e in b.elements}
    changed = {e.id for e in a.elements if e.id not in bel or _elem_key(e) != _elem_key(bel[e.id])}
    brel = {(r.subject, r.object): r.predicate for r in b.relations}
    out = set(changed)
    for r in a.relations:
        if brel.get((r.subject, r.object)) != r.predicate or {r.subject, r.object} & changed:
            out.add(r.id)
    return out


def scene_distance(a: Scene, b: Scene) -> int:
    """The number of atomic edits between two scenes whose elements share ids (a cluster's scenes).

    An element present on one side only: 1 (add/remove; its relations go with it). A class change: 1 (a
    replace). Otherwise 1 per differing colour, texture, shape, size, text, count. A relation whose
    predicate differs, or that one side states and the other does not (between elements both keep): 1.
    Two colours swapped are two edits.
    """
    ael, bel = {e.id: e for e in a.elements}, {e.id: e for e in b.elements}
    d = 0
    for eid in ael.keys() | bel.keys():
        x, y = ael.get(eid), bel.get(eid)
        if x is None or y is None:
            d += 1
            continue
        if x.cls != y.cls:
            d += 1
            continue
        d += sum(getattr(x, f) != getattr(y, f) for f in ("color", "texture", "shape", "size", "text", "count"))
    both = ael.keys() & bel.keys()
    arel = {(r.subject, r.object): r.predicate for r in a.relations if {r.subject, r.object} <= both}
    brel = {(r.subject, r.object): r.predicate for r in b.relations if {r.subject, r.object} <= both}
    for k in arel.keys() | brel.keys():
        d += arel.get(k) != brel.get(k)
    return d


def scene_prompt(scene: Scene) -> str:
    """A plain prompt stating the scene (the world's `describe`, without its "a photo of" lead)."""
    if not scene.elements:
        return ""
    return describe(scene.model_copy(update={"background": None})).removeprefix("a photo of ")
