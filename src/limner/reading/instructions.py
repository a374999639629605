"""The edit-instruction grammar: one reading of "make the cat red" for the brain and for the editors.

Natural English that real instruction editors understand too; case-insensitive, plurals and synonyms
through the prompt reader's noun lexicon (`limner.reading.prompt.canonical_class`), relation phrases
through the vocabulary (`limner.vocab.RELATION_PHRASES`, so "on top of" means "on" here as in a prompt):

    make the {noun} {colour|texture|shape}       change the colour of the {noun} to {colour}
    add {n} {colour?} {texture?} {shape?} {noun} [{relation} the {noun}]
    remove the {noun} | remove all {nouns}        replace the {noun} with {a|n} {colour?} {noun}
    change the number of {nouns} to {n}           move|put the {noun} {relation} the {noun}
    change the text to "{text}"                   change the background to {background}
    make it {style} style
    move|put the {noun} into|inside the {noun}    put the {noun} in the {noun}    (containment)
    make the {noun} hold the {noun}               put the {noun} in the {noun}'s hand (attachment)
    make the {noun} wear the {noun}               put the {noun} on the {noun}'s head (wearing)
    make the {noun} ride the {noun}               put the {noun} on the {noun}'s back (riding)
    fix | restore | clean up | remove the defect  (repaint a masked area)   fix the {noun}

Each form is one rule (`_RULES`), read in both directions:

- **reading**, at two depths. `read_form` says which edit dimension an instruction exercises and what the
  edited picture must then show (a prompt for the checker); it needs only the shape of the sentence, so the
  brain can weigh and check a user's instruction even when a word in it is outside the vocabulary.
  `parse_instruction` resolves the words too, into a typed `EditOp` (canonical classes, counts, colours)
  that an editor acts on, and raises `InstructionError` naming what it could not resolve.
- **writing**: the `say_*` templates are how the rule planner phrases its repairs; every one reads back
  through `parse_instruction` (tests/test_instructions.py).

Contact moves (`types.CONTACT`) are verbs or possessives, never a bare preposition: "on" is support
("put the cat on the horse" reads as `on`, as in a prompt), "in front of" stays depth, so "in" alone is
containment only when "front of"/"back of" does not follow. Which end moves: the worn thing onto its wearer
(`relation="worn by"`, the anchor is the wearer), the held thing to its holder's side (`"held by"`), the
contents into the container and the rider onto its mount (`"in"`, `"riding"`, the moved thing is the
relation's subject). `CONTACT_MOVES` maps a scene predicate to the relation of its move.

Backgrounds and styles stay the phrases the instruction used: which of them a tool can paint is the tool's
business (the sandbox maps them with its renderer's keys).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from limner import vocab
from limner.reading.prompt import canonical_class
from limner.types import EDIT_DIMS

__all__ = [
    "CONTACT_MOVES", "EDIT_DIMENSION", "EditKind", "EditOp", "InstructionError", "parse_instruction",
    "read_form", "say_add", "say_attribute", "say_background", "say_contact_move", "say_move", "say_recount",
    "say_remove_all", "say_style", "say_text",
]

EditKind = Literal[
    "recolor", "retexture", "reshape", "add", "remove", "replace", "move", "recount", "retext", "background", "style",
    "restore",
]

#: The edit dimension (EDIT_DIMS, ImgEdit-Bench's categories) each operation exercises. Moving an object is
#: closest to "action" (a change of pose/placement); re-texting is a "replace"; a recount mostly adds.
EDIT_DIMENSION: dict[EditKind, str] = {
    "recolor": "attribute", "retexture": "attribute", "reshape": "attribute", "add": "add", "remove": "remove", "replace": "replace",
    "move": "action", "retext": "replace", "background": "background", "style": "style", "restore": "remove",
    "recount": "add",
}
if not set(EDIT_DIMENSION.values()) <= set(EDIT_DIMS):  # keeps the mapping honest if EDIT_DIMS changes
    raise ImportError(f"unknown edit dimensions: {set(EDIT_DIMENSION.values()) - set(EDIT_DIMS)}")


#: A contact relation of the scene (`types.CONTACT`: subject predicate object) -> (the relation a contact
#: move asks for, whether the *object* is the end that moves). "dog wearing hat": the hat moves, "worn by" the
#: dog; "person holding umbrella": the umbrella moves, "held by" the person; "apple in bowl" and "cat riding
#: horse": the subject moves, into or onto the object.
CONTACT_MOVES: dict[str, tuple[str, bool]] = {
    "in": ("in", False), "riding": ("riding", False), "wearing": ("worn by", True),
    "holding": ("held by", True),
}


class InstructionError(ValueError):
    """An instruction outside the grammar, or one naming a word the vocabulary does not know."""


@dataclass(frozen=True)
class EditOp:
    """One instruction, resolved: what to change, in canonical words."""

    kind: EditKind
    cls: str | None = None
    count: int | None = None
    all: bool = False
    color: str | None = None
    texture: str | None = None
    shape: str | None = None  # a shape word of `vocab.SHAPES` ("round"), canonical
    new_cls: str | None = None
    relation: str | None = None
    anchor: str | None = None
    anchor_all: bool = False  # "right of the apples": right of all of them, not of one
    text: str | None = None
    background: str | None = None  # as the instruction said it ("a sunny beach")
    style: str | None = None  # as the instruction said it ("watercolor")

    @property
    def dimension(self) -> str:
        """The edit dimension (EDIT_DIMS) this operation exercises."""
        return EDIT_DIMENSION[self.kind]


# ----------------------------------------------------------------------------------------------------
# Words
# ----------------------------------------------------------------------------------------------------

#: Colour words an instruction may use: the vocabulary's colours, and "grey" for "gray".
_COLOR_WORDS: dict[str, str] = {**{c: c for c in vocab.COLORS}, "grey": "gray"}
_TEXTURE_WORDS = frozenset(vocab.TEXTURES)
#: Shape words an instruction may use (one token each: "star-shaped"), canonical through the synonyms.
_SHAPE_WORDS: dict[str, str] = {**{s: s for s in vocab.SHAPES},
                                **{k: v for k, v in vocab.SHAPE_SYNONYMS.items() if " " not in k}}
_LEADING = ("a", "an", "the", "some", "all", "every")
_REL_RE = "|".join(sorted((re.escape(k) for k in vocab.RELATION_PHRASES), key=len, reverse=True))
_ARTICLE_RE = re.compile(r"(?:the|a|an) ", re.IGNORECASE)


def _noun(phrase: str) -> str:
    return _noun_number(phrase)[0]


def _noun_number(phrase: str) -> tuple[str, bool]:
    """(canonical class, whether the phrase was plural): "the apples" asks for every apple."""
    found = canonical_class(phrase.strip().lower())
    if found is None:
        raise InstructionError(f"unknown object {phrase.strip()!r} in the instruction")
    return found[0], bool(found[1])


def _number(word: str) -> int:
    w = word.lower()
    if w.isdigit():
        return int(w)
    if w in vocab.NUMBER_WORDS:
        return vocab.NUMBER_WORDS[w]
    raise InstructionError(f"not a number: {word!r}")


@dataclass(frozen=True)
class _NounPhrase:
    """'{n}? {colour}? {texture}? {shape}? {noun}', resolved."""

    cls: str
    count: int | None = None
    color: str | None = None
    texture: str | None = None
    shape: str | None = None


def _np(phrase: str) -> _NounPhrase:
    """Split '{n}? {colour}? {texture}? {shape}? {noun}' (the modifiers in any order)."""
    words = phrase.strip().lower().split()
    count = color = texture = shape = None
    while words and (words[0] in _LEADING or words[0].isdigit() or words[0] in vocab.NUMBER_WORDS
                     or words[0] in _COLOR_WORDS or words[0] in _TEXTURE_WORDS or words[0] in _SHAPE_WORDS):
        w = words.pop(0)
        if w.isdigit() or (w in vocab.NUMBER_WORDS and w not in ("a", "an")):
            count = _number(w)
        elif w in ("a", "an"):
            count = count or 1
        elif w in _COLOR_WORDS:
            color = _COLOR_WORDS[w]
        elif w in _TEXTURE_WORDS:
            texture = w
        elif w in _SHAPE_WORDS:
            shape = _SHAPE_WORDS[w]
    if not words:
        raise InstructionError(f"no object named in {phrase!r}")
    return _NounPhrase(_noun(" ".join(words)), count, color, texture, shape)


def _attribute(noun: str, word: str, original: str) -> EditOp:
    """"make the {noun} {word}": a recolour, retexture or reshape of every such object."""
    cls = _noun(noun)
    if word in _COLOR_WORDS:
        return EditOp(kind="recolor", cls=cls, color=_COLOR_WORDS[word], all=True)
    if word in _TEXTURE_WORDS:
        return EditOp(kind="retexture", cls=cls, texture=word, all=True)
    if word in _SHAPE_WORDS:
        return EditOp(kind="reshape", cls=cls, shape=_SHAPE_WORDS[word], all=True)
    raise InstructionError(f"{word!r} in {original!r} is neither a colour, a texture nor a shape")


def _drop_article(phrase: str) -> str:
    """"the cat" -> "cat" (one leading article), for the target prompt."""
    m = _ARTICLE_RE.match(phrase)
    return phrase[m.end() :] if m else phrase


class _Unresolved(InstructionError):
    """A form the brain reads whose words name nothing an editor can do ("make the cat round"): reported
    as an instruction that cannot be read."""


def _unresolved(m: re.Match[str], text: str) -> EditOp:
    raise _Unresolved


def _unreadable(text: str) -> InstructionError:
    return InstructionError(
        f"cannot read the edit instruction {text!r}; expected e.g. 'make the cat red', 'add two dogs left of "
        "the car', 'remove the cup', 'replace the cat with a dog', 'change the number of apples to 3', "
        "'move the cat above the table', 'move the apple into the bowl', 'make the dog wear the hat', "
        "'make the person hold the umbrella', 'make the cat ride the horse', 'change the text to \"OPEN\"', "
        "'change the background to beach', 'make it watercolor style'"
    )


# ----------------------------------------------------------------------------------------------------
# The rules: each reads one form into an EditOp and into the picture it asks for
# ----------------------------------------------------------------------------------------------------

Match = re.Match[str]


@dataclass(frozen=True)
class _Rule:
    """One instruction form. `read` resolves the words (may raise InstructionError); `target` is what the
    edited image must show, in the instruction's own words (None: the instruction as it stands)."""

    dimension: str
    pattern: re.Pattern[str]
    read: Callable[[Match, str], EditOp]
    target: Callable[[Match], str | None]
    cased: bool  # `read` sees the words as written (quoted text); otherwise lower-cased


def _rule(dimension: str, pattern: str, read: Callable[[Match, str], EditOp],
          target: Callable[[Match], str | None] = lambda m: None, *, cased: bool = False) -> _Rule:
    return _Rule(dimension, re.compile(pattern, re.IGNORECASE), read, target, cased)


def _read_make(m: Match, text: str) -> EditOp:
    """"make the cat red": a colour, texture or shape the sandbox paints; any other word (a size) is a
    form the brain weighs as an attribute edit but no editor here can carry out."""
    word = m["word"]
    if word in _COLOR_WORDS or word in _TEXTURE_WORDS or word in _SHAPE_WORDS:
        return _attribute(m["noun"], word, text)
    raise _Unresolved


def _read_add(m: Match, text: str) -> EditOp:
    np_ = _np(m["np"])
    anchor = _noun(m["anchor"]) if m["anchor"] else None
    relation = vocab.RELATION_PHRASES[m["rel"]] if m["rel"] else None
    return EditOp(kind="add", cls=np_.cls, count=np_.count or 1, color=np_.color, texture=np_.texture,
                  shape=np_.shape, relation=relation, anchor=anchor)


def _read_replace(m: Match, text: str) -> EditOp:
    np_ = _np(m["new"])
    return EditOp(kind="replace", cls=_noun(m["old"]), new_cls=np_.cls, color=np_.color, texture=np_.texture,
                  shape=np_.shape, count=np_.count)


def _read_recount(m: Match, text: str) -> EditOp:
    """"change the number of round beds to 4": the attributes say what the missing ones look like."""
    np_ = _np(m["nouns"])
    return EditOp(kind="recount", cls=np_.cls, count=_number(m["n"]), color=np_.color, texture=np_.texture,
                  shape=np_.shape)


def _read_move(m: Match, text: str) -> EditOp:
    cls, many = _noun_number(m["noun"])
    anchor, anchor_all = _noun_number(m["anchor"])
    return EditOp(kind="move", cls=cls, relation=vocab.RELATION_PHRASES[m["rel"]], anchor=anchor,
                  anchor_all=anchor_all, all=many or (m["det"] or "").startswith("all"))


def _read_contact(relation: str) -> Callable[[Match, str], EditOp]:
    """A contact move: `m["moved"]` goes into / onto / beside `m["anchor"]` (one of each: the contact rules
    hold when some pair does, and moving one keeps the counts)."""

    def read(m: Match, text: str) -> EditOp:
        return EditOp(kind="move", cls=_noun(m["moved"]), relation=relation, anchor=_noun(m["anchor"]))

    return read


def _contact_target(relation: str) -> Callable[[Match], str]:
    """The picture a contact move asks for, as a prompt says it ("a dog wearing a hat")."""

    def target(m: Match) -> str:
        moved, anchor = _one(m["moved"]), _one(m["anchor"])
        return {"in": f"{moved} in {anchor}", "riding": f"{moved} riding {anchor}",
                "worn by": f"{anchor} wearing {moved}", "held by": f"{anchor} holding {moved}"}[relation]

    return target


def _one(phrase: str) -> str:
    """"the dogs" -> "a dog": a contact move moves one thing onto one other (a word outside the lexicon
    stays as written, for the form's reading)."""
    said = _drop_article(phrase.strip())
    found = canonical_class(said.lower())
    noun = found[0] if found is not None else said
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


_PUT = r"(?:move|put|place)"
#: "in" that is not the start of "in front of" / "in back of" (depth relations of the vocabulary).
_IN = r"in(?! (?:the )?(?:front|back) of )"
_THE = r"(?:the |a |an )?"


def _contact_rule(pattern: str, relation: str) -> _Rule:
    return _rule("action", pattern, _read_contact(relation), _contact_target(relation))


def _remove_target(m: Match) -> str:
    said = (m["det"] or "") + m["noun"]
    return "no " + (said[4:] if said.lower().startswith("all ") else _drop_article(said))


_RULES: tuple[_Rule, ...] = (
    _rule("remove",
          r"(?:fix|fix it|repair|restore|clean up|clean it up|inpaint)?"
          r"|(?:fix|repair|remove|clean up|restore)(?: the| this| all)? "
          r"(?:defects?|artifacts?|artefacts?|blemish(?:es)?|area|region|masked area)",
          lambda m, t: EditOp(kind="restore")),
    _rule("remove",
          r"(?:fix|repair|restore|clean up) (?:the |this |all )?(?P<noun>.+?)"
          r"(?: (?:defects?|artifacts?|blemish(?:es)?))?",
          lambda m, t: EditOp(kind="restore", cls=_noun(m["noun"]))),
    _rule("replace",
          r"(?:change|set|replace|make) the (?:text|sign|words?|label)(?: to| say| with| read)?"
          r'\s*["\u201c\'](?P<text>.+?)["\u201d\']',
          lambda m, t: EditOp(kind="retext", text=m["text"]),
          lambda m: f'a sign that says "{m["text"]}"', cased=True),
    _rule("background",
          r"(?:change|set|make|replace) the background(?: to| into| with)?"
          r"(?P<said>(?: an?| the)? (?P<bg>.+?)(?: background)?)",
          lambda m, t: EditOp(kind="background", background=m["bg"]),
          lambda m: f"a scene in {m['said'].strip()}"),
    # contact moves: before "make it ... style" and "make the cat red", which a verb phrase would also fit
    _contact_rule(rf"make (?:the |a |an )?(?P<anchor>.+?) (?:hold|carry) {_THE}(?P<moved>.+)", "held by"),
    _contact_rule(rf"{_PUT} {_THE}(?P<moved>.+?) (?:in|into) {_THE}(?P<anchor>.+?)'s? hands?", "held by"),
    _contact_rule(rf"make (?:the |a |an )?(?P<anchor>.+?) wear {_THE}(?P<moved>.+)", "worn by"),
    _contact_rule(rf"{_PUT} {_THE}(?P<moved>.+?) on(?:to)? {_THE}(?P<anchor>.+?)'s? heads?", "worn by"),
    _contact_rule(rf"make (?:the |a |an )?(?P<moved>.+?) ride {_THE}(?P<anchor>.+)", "riding"),
    _contact_rule(rf"{_PUT} {_THE}(?P<moved>.+?) on(?:to)? {_THE}(?P<anchor>.+?)'s? backs?", "riding"),
    _contact_rule(rf"{_PUT} {_THE}(?P<moved>.+?) (?:into|inside(?: of)?|{_IN}) {_THE}(?P<anchor>.+)", "in"),
    _rule("style",
          r"(?:make it|turn it into|render it|change the style to|make the image)"
          r"(?: an?| in)? (?P<style>.+?)(?: style)?",
          lambda m, t: EditOp(kind="style", style=m["style"]),
          lambda m: f"{m['style']} style"),
    _rule("add",
          r"change the number of (?P<nouns>.+?) to (?P<n>\w+)",
          _read_recount,
          lambda m: f"{m['n']} {m['nouns']}"),
    _rule("attribute",
          r"(?:change|set) the colou?r of (?:the |all )?(?P<noun>.+?) to (?P<word>\w+)",
          lambda m, t: _attribute(m["noun"], m["word"], t),
          lambda m: f"{m['word']} {m['noun']}"),
    _rule("attribute",
          r"(?:make|turn|paint|color|colour) (?P<det>the |all |every )?(?P<noun>.+) (?P<word>\S+)",
          _read_make,
          lambda m: f"{m['word']} {_drop_article((m['det'] or '') + m['noun'])}"),
    _rule("add",
          rf"add (?P<said>(?P<np>.+?)(?: (?P<rel>{_REL_RE}) (?:the |a |an )?(?P<anchor>.+))?)",
          _read_add,
          lambda m: m["said"]),
    _rule("remove",
          r"(?:remove|delete|erase) (?P<det>the |all |all the |every )?(?P<noun>.+)",
          lambda m, t: EditOp(kind="remove", cls=_noun(m["noun"]),
                              all=(m["det"] or "").startswith(("all", "every"))),
          _remove_target),
    _rule("replace",
          r"replace (?P<det>the |all )?(?P<old>.+?) with (?P<new>.+)",
          _read_replace,
          lambda m: f"{m['new']} and no {_drop_article((m['det'] or '') + m['old'])}"),
    _rule("action",
          rf"{_PUT} (?P<said>(?P<det>the |all |all the )?(?P<noun>.+?) (?P<rel>{_REL_RE})"
          r" (?:the |a |an )?(?P<anchor>.+))",
          _read_move,
          lambda m: f"a {_drop_article(m['said'])}"),
    # A move without a relation the vocabulary knows ("move the cat up"): an action edit to the brain, which
    # no editor here can place.
    _rule("action", r"move (?P<said>.+)", _unresolved, lambda m: f"a {_drop_article(m['said'])}"),
)


def _normalise(text: str) -> str:
    return " ".join(text.strip().rstrip(".!").split())


def _match(text: str, *, as_written: bool) -> tuple[_Rule, Match] | None:
    """The first rule the instruction fits, matched on its words as written (`as_written`, for the target
    prompt) or lower-cased except where the rule keeps case (what `read` resolves, and names in errors)."""
    low = text.lower()
    for rule in _RULES:
        m = rule.pattern.fullmatch(text if as_written or rule.cased else low)
        if m:
            return rule, m
    return None


def parse_instruction(text: str) -> EditOp:
    """Read an edit instruction into the operation it asks for; raises InstructionError naming what was
    not understood (the form, or a word in it)."""
    s = _normalise(text)
    found = _match(s, as_written=False)
    if found is None:
        raise _unreadable(text)
    rule, m = found
    try:
        return rule.read(m, s)
    except _Unresolved:
        raise _unreadable(text) from None


def read_form(text: str) -> tuple[str, str] | None:
    """(edit dimension, what the edited image must show) for an instruction of the grammar, or None.

    Only the form is read, not the words: "make the cat round" is an attribute edit whose picture is a
    "round cat", although no sandbox editor can reshape. The picture is only the part of the scene the
    instruction talks about (the rest of the image is not re-checked); a form without one ("fix") gives the
    instruction itself.
    """
    found = _match(_normalise(text), as_written=True)
    if found is None:
        return None
    rule, m = found
    target = rule.target(m)
    return rule.dimension, text if target is None else target


# ----------------------------------------------------------------------------------------------------
# Writing: the templates the rule planner phrases its repairs with (each reads back through the rules)
# ----------------------------------------------------------------------------------------------------


def say_attribute(noun: str, value: str) -> str:
    """"make the cats red" (a colour, texture or shape; sizes read as attribute edits too)."""
    return f"make the {noun} {value}"


def say_add(phrase: str, relation: str | None = None, anchor: str | None = None) -> str:
    """"add 2 red cups" or "add 2 red cups left of the dog"; `phrase` is '{n} {attributes} {noun}'."""
    return f"add {phrase}" + (f" {relation} the {anchor}" if relation is not None else "")


def say_remove_all(nouns: str) -> str:
    return f"remove all {nouns}"


def say_recount(nouns: str, n: int) -> str:
    return f"change the number of {nouns} to {n}"


def say_move(noun: str, relation: str, anchor: str) -> str:
    """"move the cup right of the apples": a plural noun moves (or anchors on) every such object."""
    return f"move the {noun} {relation} the {anchor}"


def say_contact_move(predicate: str, subject: str, obj: str) -> str:
    """The move that makes the contact relation `subject predicate obj` (`types.CONTACT`) hold, moving the end
    `CONTACT_MOVES` names: "move the apple into the bowl", "make the person hold the umbrella", "make the dog
    wear the hat", "make the cat ride the horse"."""
    if predicate == "in":
        return f"move the {subject} into the {obj}"
    verb = {"holding": "hold", "wearing": "wear", "riding": "ride"}.get(predicate)
    if verb is None:
        raise ValueError(f"not a contact relation: {predicate!r}")
    return f"make the {subject} {verb} the {obj}"


def say_text(text: str) -> str:
    return f'change the text to "{text}"'


def say_background(background: str) -> str:
    return f"change the background to {background}"


def say_style(style: str) -> str:
    return f"make it {style} style"
