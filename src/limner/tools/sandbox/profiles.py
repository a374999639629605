"""Hidden skill profiles of the sandbox painters and editors.

A profile is a set of error probabilities per performance dimension. A painter applies it to the Scene it
read from the prompt *before* drawing, with an rng seeded by (painter, prompt, seed): failures are
stochastic per prompt and seed (no lookup table of prompts), reproducible, and shaped like the failures of
real open models (colour leakage between objects, dropped second objects, miscounts above four, ignored
relations, garbled text). The agent never sees these numbers: it must measure them (`limner.perf`).

Calibration (see docs/sandbox.md for the command): on GenEval-style prompts the best painter scores in
the range of SD3.5-Large (~0.71 overall), the weakest near SDXL (~0.55), with position and colour
attribution the weakest tags, as in the published tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from limner.types import CONTACT, EDIT_DIMS, Element, Relation, Scene
from limner.vocab import GENEVAL_COLORS, INVERSE


@dataclass(frozen=True)
class PainterProfile:
    """Error probabilities of one painter. Names say which dimension each one hurts."""

    # color
    color_single_err: float = 0.1       # a lone coloured object gets a wrong colour
    color_bind_err: float = 0.3         # per coloured object in a multi-object scene: colour leaks/swaps
    # shape / texture
    shape_err: float = 0.4
    size_err: float = 0.3               # a size word ("a big dog") drawn at the ordinary size
    texture_err: float = 0.35
    texture_leak: float = 0.3           # when texture fails, share it leaks to another object
    # objects and counts
    drop_second: float = 0.15           # the second object kind is not drawn
    drop_later: float = 0.3             # each object kind beyond the second is not drawn
    count_ok_small: float = 0.8         # counts 2
    count_ok_mid: float = 0.6           # counts 3-4
    count_ok_large: float = 0.3         # counts 5+
    negation_fail: float = 0.5          # "no X" draws an X anyway
    # relations
    rel2d_ignore: float = 0.6
    rel2d_flip: float = 0.15
    rel3d_ignore: float = 0.4
    rel3d_flip: float = 0.2
    action_ignore: float = 0.4
    contact_ignore: float = 0.4         # support ("on" as a verb), containment, attachment, wearing, riding
    # text
    text_missing: float = 0.1
    text_char_err: float = 0.12         # per character
    # scene-wide
    background_ignore: float = 0.1
    style_ignore: float = 0.2
    blemish_rate: float = 0.5           # expected local defects per image (Poisson mean)
    latency_s: float = 1.0              # simulated latency a real model of this kind would have

    def count_ok(self, n: int) -> float:
        if n <= 1:
            return 0.98
        if n == 2:
            return self.count_ok_small
        if n <= 4:
            return self.count_ok_mid
        return self.count_ok_large


@dataclass(frozen=True)
class EditorProfile:
    """Success probabilities per edit dimension, and side effects."""

    skill: dict[str, float] = field(default_factory=dict)   # EDIT_DIMS -> probability the edit is done right
    partial: float = 0.5        # when an edit fails: share of failures that half-do it (vs. do nothing)
    shift_neighbours: float = 0.0   # probability other objects move a little
    recolour_neighbours: float = 0.0  # probability colour leaks onto one other object
    blemish_rate: float = 0.2
    latency_s: float = 1.0

    def p(self, dim: str) -> float:
        return self.skill.get(dim, 0.5)


# ----------------------------------------------------------------------------------------------------
# The shipped profiles (names are neutral on purpose: nothing in a name tells what a tool is good at)
# ----------------------------------------------------------------------------------------------------

PAINTER_PROFILES: dict[str, PainterProfile] = {
    # A strong generalist (SD3.5-Large-like): good colours and counts, average relations, weak text.
    "p-alder": PainterProfile(
        color_single_err=0.1, color_bind_err=0.2, shape_err=0.35, texture_err=0.3, drop_second=0.07,
        drop_later=0.2, count_ok_small=0.84, count_ok_mid=0.66, count_ok_large=0.4, negation_fail=0.45,
        rel2d_ignore=0.55, rel2d_flip=0.3, rel3d_ignore=0.45, rel3d_flip=0.2, action_ignore=0.1, contact_ignore=0.3,
        text_missing=0.15, text_char_err=0.12, blemish_rate=0.35, latency_s=6.0,
    ),
    # An older, cheap generalist (SDXL-like): fine single objects, weak counting, poor binding and layout.
    "p-birch": PainterProfile(
        color_single_err=0.14, color_bind_err=0.5, shape_err=0.45, texture_err=0.35, drop_second=0.2,
        drop_later=0.35, count_ok_small=0.6, count_ok_mid=0.35, count_ok_large=0.15, negation_fail=0.6,
        rel2d_ignore=0.55, rel2d_flip=0.45, rel3d_ignore=0.6, rel3d_flip=0.2, action_ignore=0.45, contact_ignore=0.55,
        text_missing=0.35, text_char_err=0.25, blemish_rate=0.8, latency_s=2.5,
    ),
    # Layout-guided: places things where the prompt says, but binds colours and textures poorly.
    "p-cedar": PainterProfile(
        color_single_err=0.15, color_bind_err=0.45, shape_err=0.5, texture_err=0.55, drop_second=0.06,
        drop_later=0.12, count_ok_small=0.8, count_ok_mid=0.6, count_ok_large=0.3, negation_fail=0.5,
        rel2d_ignore=0.25, rel2d_flip=0.1, rel3d_ignore=0.25, rel3d_flip=0.08, action_ignore=0.5, contact_ignore=0.15,
        text_missing=0.3, text_char_err=0.2, blemish_rate=0.5, latency_s=4.0,
    ),
    # Text and shape specialist: renders words and geometric shapes well, middling elsewhere.
    "p-dogwood": PainterProfile(
        color_single_err=0.14, color_bind_err=0.38, shape_err=0.12, texture_err=0.45, drop_second=0.12,
        drop_later=0.3, count_ok_small=0.75, count_ok_mid=0.5, count_ok_large=0.25, negation_fail=0.5,
        rel2d_ignore=0.6, rel2d_flip=0.3, rel3d_ignore=0.55, rel3d_flip=0.2, action_ignore=0.45, contact_ignore=0.5,
        text_missing=0.02, text_char_err=0.015, blemish_rate=0.4, latency_s=5.0,
    ),
    # Counting and material specialist: exact counts and textures, weak colours, ignores depth less.
    "p-elm": PainterProfile(
        color_single_err=0.16, color_bind_err=0.55, shape_err=0.4, texture_err=0.1, texture_leak=0.1,
        drop_second=0.1, drop_later=0.2, count_ok_small=0.95, count_ok_mid=0.88, count_ok_large=0.7,
        negation_fail=0.3, rel2d_ignore=0.6, rel2d_flip=0.35, rel3d_ignore=0.2, rel3d_flip=0.1,
        action_ignore=0.45, contact_ignore=0.45, text_missing=0.3, text_char_err=0.2, blemish_rate=0.6, latency_s=3.0,
    ),
}

EDITOR_PROFILES: dict[str, EditorProfile] = {
    # Careful instruction editor: good at attributes and removal, weak at adding objects.
    "e-fern": EditorProfile(
        skill={"add": 0.55, "remove": 0.9, "replace": 0.7, "attribute": 0.9, "background": 0.75,
               "style": 0.8, "action": 0.4},
        shift_neighbours=0.05, recolour_neighbours=0.05, blemish_rate=0.15, latency_s=4.0,
    ),
    # Fast, sloppy editor: adds and restyles well but drags neighbours along and leaves blemishes.
    "e-gorse": EditorProfile(
        skill={"add": 0.85, "remove": 0.6, "replace": 0.8, "attribute": 0.6, "background": 0.9,
               "style": 0.9, "action": 0.55},
        shift_neighbours=0.35, recolour_neighbours=0.25, blemish_rate=0.6, latency_s=1.5,
    ),
    # Mask inpainter: precise inside the mask (remove/replace/attribute), cannot restyle a whole image.
    "i-heath": EditorProfile(
        skill={"add": 0.8, "remove": 0.95, "replace": 0.85, "attribute": 0.8, "background": 0.3,
               "style": 0.1, "action": 0.5},
        shift_neighbours=0.0, recolour_neighbours=0.02, blemish_rate=0.1, latency_s=3.0,
    ),
    # Mask inpainter, cheaper and rougher edges.
    "i-ivy": EditorProfile(
        skill={"add": 0.6, "remove": 0.75, "replace": 0.6, "attribute": 0.7, "background": 0.4,
               "style": 0.2, "action": 0.35},
        shift_neighbours=0.0, recolour_neighbours=0.1, blemish_rate=0.45, latency_s=1.0,
    ),
}
assert all(set(p.skill) == set(EDIT_DIMS) for p in EDITOR_PROFILES.values())


def painter_profile(name: str) -> PainterProfile:
    try:
        return PAINTER_PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown painter profile {name!r}; expected one of {sorted(PAINTER_PROFILES)}") from None


def editor_profile(name: str) -> EditorProfile:
    try:
        return EDITOR_PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown editor profile {name!r}; expected one of {sorted(EDITOR_PROFILES)}") from None


def with_overrides(profile: PainterProfile, overrides: dict[str, float]) -> PainterProfile:
    """A profile with some probabilities replaced (from `options.profile_overrides` in the config)."""
    known = {f.name for f in fields(PainterProfile)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise KeyError(f"unknown profile fields {unknown}; known: {sorted(known)}")
    values = {f.name: getattr(profile, f.name) for f in fields(PainterProfile)}
    values.update({k: float(v) for k, v in overrides.items()})
    return PainterProfile(**values)


# ----------------------------------------------------------------------------------------------------
# Applying a painter profile: the Scene the painter *actually* draws
# ----------------------------------------------------------------------------------------------------

_SIMILAR = {
    "O": "Q0D", "Q": "O", "E": "FB", "F": "EP", "I": "L1T", "L": "I", "C": "GO", "G": "C6", "B": "8RE",
    "R": "PB", "P": "RF", "S": "5Z", "Z": "S2", "M": "NW", "N": "MH", "W": "VM", "V": "UY", "U": "V",
    "A": "4H", "H": "N", "K": "X", "X": "K", "T": "I7", "Y": "V", "D": "O", "J": "I",
}
_NEAR_COLOR = {
    "red": "orange", "orange": "yellow", "yellow": "orange", "green": "blue", "blue": "purple",
    "purple": "pink", "pink": "red", "brown": "orange", "black": "brown", "white": "pink",
}


def garble(text: str, p_char: float, rng: np.random.Generator) -> str:
    """Letters swapped, dropped, doubled or replaced by look-alikes, like diffusion models' text."""
    out = list(text)
    i = 0
    while i < len(out):
        if out[i] != " " and rng.random() < p_char:
            kind = rng.integers(4)
            ch = out[i]
            if kind == 0:
                alts = _SIMILAR.get(ch.upper(), "X")
                new = alts[int(rng.integers(len(alts)))]
                out[i] = new if ch.isupper() else new.lower()
            elif kind == 1 and i + 1 < len(out):
                out[i], out[i + 1] = out[i + 1], out[i]
                i += 1
            elif kind == 2 and len(out) > 2:
                del out[i]
                continue
            else:
                out.insert(i, ch)
                i += 1
        i += 1
    garbled = "".join(out)
    if garbled == text and text and rng.random() < p_char * len(text):  # at least one visible slip
        garbled = text[:-1]
    return garbled


def near_color(color: str) -> str:
    """The colour a painter or editor confuses `color` with ("red" -> "orange"); gray when none is listed."""
    return _NEAR_COLOR.get(color, "gray")


def distort_scene(scene: Scene, profile: PainterProfile, rng: np.random.Generator) -> tuple[Scene, list[str]]:
    """The scene the painter draws instead of `scene`, and notes naming each deliberate error.

    One rng, drawn from in a fixed order (objects, negation, counts, colours, textures and shapes, text,
    relations, background and style), so a (painter, prompt, seed) always draws the same picture.
    """
    notes: list[str] = []
    elements = [e.model_copy() for e in scene.elements]
    positive = [e for e in elements if not e.negated]
    dropped = _drop_objects(positive, profile, rng, notes)
    _ignore_negations(elements, profile, rng, notes)
    _miscount(positive, profile, rng, notes)
    _bind_colours(positive, dropped, profile, rng, notes)
    _lose_textures_and_shapes(positive, dropped, profile, rng, notes)
    _garble_texts(positive, profile, rng, notes)
    relations = _distort_relations(scene.relations, dropped, profile, rng, notes)
    kept = [e for e in elements if e.id not in dropped]
    background = scene.background
    if background and rng.random() < profile.background_ignore:
        notes.append(f"background {background!r} ignored")
        background = None
    style = scene.style
    if style and rng.random() < profile.style_ignore:
        notes.append(f"style {style!r} ignored")
        style = None
    out = Scene(prompt=scene.prompt, elements=kept, relations=relations, background=background, style=style,
                unsupported=list(scene.unsupported))
    return out, notes


def _drop_objects(positive: list[Element], profile: PainterProfile, rng: np.random.Generator,
                  notes: list[str]) -> set[str]:
    """The second object kind and later ones get lost (two_object failures); returns the dropped ids."""
    dropped: set[str] = set()
    for rank, e in enumerate(positive):
        p = 0.0 if rank == 0 else (profile.drop_second if rank == 1 else profile.drop_later)
        if rng.random() < p:
            dropped.add(e.id)
            notes.append(f"dropped {e.id} ({e.cls})")
    return dropped


def _ignore_negations(elements: list[Element], profile: PainterProfile, rng: np.random.Generator,
                      notes: list[str]) -> None:
    """"no X" ignored and an X drawn."""
    for e in elements:
        if e.negated and rng.random() < profile.negation_fail:
            e.negated, e.count = False, 1
            notes.append(f"drew negated {e.id} ({e.cls})")


def _miscount(positive: list[Element], profile: PainterProfile, rng: np.random.Generator,
              notes: list[str]) -> None:
    """Counts drift, more often and further the larger they are."""
    for e in positive:
        if e.count >= 1 and rng.random() > profile.count_ok(e.count):
            step = int(rng.choice([-1, 1, 1, 2] if e.count >= 2 else [1]))
            if e.count >= 5 and rng.random() < 0.5:
                step *= 2
            new = max(1, e.count + step)
            if new != e.count:
                notes.append(f"count of {e.id}: {e.count} -> {new}")
                e.count = new


def _bind_colours(positive: list[Element], dropped: set[str], profile: PainterProfile,
                  rng: np.random.Generator, notes: list[str]) -> None:
    """Colours: binding fails more in multi-object scenes (colour leakage / swaps)."""
    colored = [e for e in positive if e.color and e.id not in dropped]
    multi = len([e for e in positive if e.id not in dropped]) > 1
    for e in colored:
        p = profile.color_bind_err if multi else profile.color_single_err
        if rng.random() >= p:
            continue
        others = [o for o in positive if o.id != e.id and o.id not in dropped]
        if multi and others and rng.random() < 0.75:
            src = others[int(rng.integers(len(others)))]
            new = src.color if src.color and src.color != e.color else None
            if new is None:  # leak to an uncoloured neighbour: it takes this colour, this one loses it
                src.color = e.color
                notes.append(f"colour {e.color} leaked from {e.id} to {src.id}")
                e.color = _NEAR_COLOR.get(e.color or "", None) if rng.random() < 0.5 else None
            else:
                notes.append(f"colour of {e.id}: {e.color} -> {new} (leak from {src.id})")
                e.color = new
        else:
            new = _NEAR_COLOR.get(e.color or "") if rng.random() < 0.6 else str(rng.choice(GENEVAL_COLORS))
            if new == e.color:
                new = None
            notes.append(f"colour of {e.id}: {e.color} -> {new}")
            e.color = new


def _lose_textures_and_shapes(positive: list[Element], dropped: set[str], profile: PainterProfile,
                              rng: np.random.Generator, notes: list[str]) -> None:
    """A texture not drawn (sometimes leaking onto another object); a shape not drawn."""
    for e in positive:
        if e.texture and rng.random() < profile.texture_err:
            others = [o for o in positive if o.id != e.id and o.id not in dropped]
            if others and rng.random() < profile.texture_leak:
                tgt = others[int(rng.integers(len(others)))]
                tgt.texture = e.texture
                notes.append(f"texture {e.texture} leaked from {e.id} to {tgt.id}")
            notes.append(f"texture of {e.id} ({e.texture}) not drawn")
            e.texture = None
        if e.shape and rng.random() < profile.shape_err:
            notes.append(f"shape of {e.id} ({e.shape}) not drawn")
            e.shape = None
        if e.size and profile.size_err and rng.random() < profile.size_err:
            notes.append(f"size of {e.id} ({e.size}) not drawn")
            e.size = None


def _garble_texts(positive: list[Element], profile: PainterProfile, rng: np.random.Generator,
                  notes: list[str]) -> None:
    """Text missing, or with letters swapped, dropped, doubled or misdrawn."""
    for e in positive:
        if e.text:
            if rng.random() < profile.text_missing:
                notes.append(f"text of {e.id} missing")
                e.text = None
            else:
                g = garble(e.text, profile.text_char_err, rng)
                if g != e.text:
                    notes.append(f"text of {e.id}: {e.text!r} -> {g!r}")
                    e.text = g or None


def _distort_relations(relations: list[Relation], dropped: set[str], profile: PainterProfile,
                       rng: np.random.Generator, notes: list[str]) -> list[Relation]:
    """Relations ignored or flipped (2D and 3D at their own rates, actions ignored); those of dropped
    objects go with them."""
    out: list[Relation] = []
    for r in relations:
        if r.subject in dropped or r.object in dropped:
            continue
        ignore, flip = {
            "spatial_2d": (profile.rel2d_ignore, profile.rel2d_flip),
            "spatial_3d": (profile.rel3d_ignore, profile.rel3d_flip),
        }.get(r.dimension, (profile.contact_ignore if r.predicate in CONTACT else profile.action_ignore, 0.0))
        u = rng.random()
        if u < ignore:
            notes.append(f"relation {r.id} ignored")
            continue
        if u < ignore + flip and r.predicate in INVERSE and r.predicate != "next to":
            notes.append(f"relation {r.id} flipped")
            out.append(Relation(subject=r.subject, predicate=INVERSE[r.predicate], object=r.object))
            continue
        out.append(r)
    return out
