"""The sandbox world's backdrops: which backgrounds it paints, and which background phrases it can judge.

One table serves the renderer (`render.paint_background` paints `BACKGROUNDS[key]`), the editors (a
"change the background to ..." edit paints `background_key(phrase)`), the checker (`background_reader`
reads which backdrop a picture shows) and the truth grader (`world.grade_truth`), so the four never
disagree on what "a park" looks like.

A phrase is *judged* (`judged_background`) only when the backdrop drawn for it is its own: the phrase names
a backdrop, or a synonym the world draws the same way ("the sea" is the ocean backdrop), possibly with
colour words the backdrop shows ("a blue sky"). Any other word of the phrase ("a quiet room": quiet) is
named as not judged. A phrase the world only draws with a stand-in ("a mountain" with the snow backdrop, "an
office" with the room) is painted but never judged: a check on it would pass the stand-in's picture for a
place nobody drew.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from limner.tools.sandbox.artwork import COLOR_RGB

__all__ = [
    "BACKDROP_COLOURS",
    "BACKGROUNDS",
    "BACKGROUND_NAMES",
    "BACKGROUND_SYNONYMS",
    "STAND_INS",
    "JudgedBackground",
    "Pattern",
    "background_key",
    "judged_background",
]

#: The light, low-contrast pattern drawn over a background's gradient ("horizon" bends the gradient).
Pattern = Literal[
    "none", "grain", "blades", "horizon", "clouds", "waves", "dunes", "trunks", "tiles", "bricks", "planks", "stars",
]
#: Background name -> (top colour, bottom colour, pattern). Every named backdrop differs from every other
#: in colour or pattern by more than `background_reader` needs to tell them apart (`tests/test_background_reader.py`).
BACKGROUNDS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int], Pattern]] = {
    "plain": ((246, 244, 238), (246, 244, 238), "none"),
    "white": ((252, 252, 252), (252, 252, 252), "none"),
    "paper": ((245, 240, 225), (245, 240, 225), "grain"),
    "grass": ((200, 230, 180), (170, 215, 140), "blades"),
    "park": ((205, 228, 245), (175, 215, 150), "horizon"),
    "garden": ((210, 232, 246), (150, 200, 125), "blades"),
    "beach": ((200, 228, 245), (240, 222, 170), "horizon"),
    "snow": ((228, 236, 244), (248, 250, 252), "grain"),
    "sky": ((185, 215, 245), (225, 238, 250), "clouds"),
    "ocean": ((190, 220, 245), (150, 195, 225), "waves"),
    "pond": ((214, 232, 220), (160, 200, 180), "waves"),
    "desert": ((240, 228, 200), (232, 205, 150), "dunes"),
    "forest": ((205, 225, 195), (180, 205, 165), "trunks"),
    "kitchen": ((240, 236, 228), (215, 210, 200), "tiles"),
    "bathroom": ((226, 238, 246), (196, 220, 234), "tiles"),
    "room": ((238, 228, 214), (214, 196, 170), "horizon"),
    "stage": ((196, 120, 124), (214, 178, 132), "planks"),
    "street": ((225, 225, 230), (190, 190, 195), "tiles"),
    "wall": ((232, 222, 210), (232, 222, 210), "bricks"),
    "wooden floor": ((222, 196, 160), (210, 180, 140), "planks"),
    "night": ((70, 80, 120), (105, 110, 150), "stars"),
}
for _c, _rgb in COLOR_RGB.items():  # "a red background"
    BACKGROUNDS.setdefault(_c, (_rgb, _rgb, "none"))

#: The named (non-colour) backdrops, plain first (the benchmark's background probe asks for each; random scenes
#: draw `world.RANDOM_BACKGROUNDS`).
BACKGROUND_NAMES: tuple[str, ...] = tuple(k for k in BACKGROUNDS if k not in COLOR_RGB or k == "white")

#: Words the world draws with a backdrop that depicts them as well as their own name would.
BACKGROUND_SYNONYMS: dict[str, str] = {
    "sea": "ocean", "seaside": "beach", "shore": "beach", "field": "grass", "meadow": "grass", "lawn": "grass",
    "woods": "forest", "jungle": "forest", "road": "street", "city street": "street", "bedroom": "room",
    "living room": "room", "dining room": "room", "dark": "night", "night sky": "night", "wood floor": "wooden floor",
    "lake": "pond",
}
#: Words the world paints with another place's backdrop, for want of its own: drawn, never judged.
STAND_INS: dict[str, str] = {
    "water": "ocean", "mountain": "snow", "mountains": "snow", "space": "night", "office": "room",
    "classroom": "room", "studio": "room", "garage": "street", "river": "ocean", "pool": "ocean", "city": "street",
    "sand": "beach", "floor": "wooden floor", "backyard": "grass", "yard": "grass",
}
#: Colour words a backdrop shows (so "a blue sky" is judged as the sky, "a green sky" is not judged).
BACKDROP_COLOURS: dict[str, frozenset[str]] = {
    "sky": frozenset({"blue"}), "ocean": frozenset({"blue"}), "pond": frozenset({"green"}),
    "grass": frozenset({"green"}), "park": frozenset({"green"}), "garden": frozenset({"green"}),
    "forest": frozenset({"green"}), "beach": frozenset({"sandy", "golden"}), "snow": frozenset({"white"}),
    "desert": frozenset({"sandy", "golden"}), "night": frozenset({"dark", "black", "starry"}),
    "wooden floor": frozenset({"brown"}), "white": frozenset({"white", "plain"}),
}
_ARTICLES = frozenset({"a", "an", "the", "some"})
#: Words that make a phrase more than one backdrop with modifiers: joins, and the names of places.
_NOT_A_MODIFIER = frozenset({"and", "or", "with", "of", "&", *BACKGROUND_SYNONYMS, *STAND_INS,
                             *(k for k in BACKGROUNDS if k not in COLOR_RGB)})


@dataclass(frozen=True)
class JudgedBackground:
    """A background phrase the sandbox can judge: its backdrop, and the phrase's words it does not judge."""

    key: str
    unjudged_words: tuple[str, ...] = ()


def _words(phrase: str) -> list[str]:
    words = [w for w in phrase.lower().replace("-", " ").split() if w not in _ARTICLES]
    return [w for w in words if w != "background"]


def judged_background(phrase: str | None) -> JudgedBackground | None:
    """The backdrop a background phrase is judged as, or None when the sandbox cannot judge it.

    The phrase's head (its longest ending that names a backdrop or a synonym) picks the backdrop; a colour
    word before it must be one the backdrop shows ("a blue sky"; "a pink sky" is not judged: the sky is
    painted blue), a phrase naming a second place ("a road and a desert") is not judged, and any other word
    is kept as unjudged ("quiet" of "a quiet room"). A bare colour ("a red background") is that colour's
    flat backdrop."""
    words = _words(phrase or "")
    if not words:
        return None
    for start in range(len(words)):
        head = " ".join(words[start:])
        key = head if head in BACKGROUNDS else BACKGROUND_SYNONYMS.get(head)
        if key is None:
            continue
        shown = BACKDROP_COLOURS.get(key, frozenset()) | ({key} if key in COLOR_RGB else set())
        before = words[:start]
        if any(w in COLOR_RGB and w not in shown for w in before) or any(w in _NOT_A_MODIFIER for w in before):
            return None  # a colour the backdrop does not show, or a second place ("a road and a desert")
        return JudgedBackground(key=key, unjudged_words=tuple(w for w in before if w not in shown))
    return None


def background_key(name: str | None) -> str:
    """The backdrop the world paints for a free background phrase: the judged one when there is one
    (`judged_background`), else a stand-in or the first backdrop named inside the phrase, else plain."""
    if not name:
        return "plain"
    judged = judged_background(name)
    if judged is not None:
        return judged.key
    text = " ".join(_words(name))
    for key in sorted(BACKGROUNDS, key=len, reverse=True):
        if key in text.split() or (" " in key and key in text):
            return key
    for word, key in {**STAND_INS, **BACKGROUND_SYNONYMS}.items():
        if word in text.split() or (" " in word and word in text):
            return key
    return "plain"
