"""The rule-based prompt reader: English prompt -> `limner.types.Scene`.

This is the offline Analyst's eyes, and the sandbox painters read prompts with it too. It is a small
compositional reader, not a regex per benchmark category:

1. **tokenise**: quoted text is lifted out first (`a sign that says "OPEN"`), then words and punctuation;
2. **tag** by longest match against the vocabulary (`limner.vocab`): object classes and their synonyms and
   plurals (multi-word too: "teddy bears"), number words, colours, textures, shapes, sizes, relation phrases
   ("on the left of", "hidden by"), negations, backgrounds, styles; every other word is `other`;
3. **chunk** noun phrases: `[no|without] [det|number]* modifier* head`. Modifiers bind to the head that
   follows them; an unknown word in head position becomes an object of unknown class (named unsupported),
   unless the general noun lexicon (`limner.reading.lexicon`, WordNet 3.0, lowest precedence) knows it as a
   thing (a class of its own) or an abstract noun (a mood);
4. **connect** neighbouring noun phrases by what lies between them: a spatial phrase gives a geometric
   relation, a verb gives an action ("holding", "playing with"), "and" or a comma gives none; a noun phrase
   that names a place after a preposition ("in the park") becomes the background;
5. **describe**: what no checker judges is still read, into typed fields named by `Scene.unjudged_readings`:
   an object's other adjectives (`qualities`: "rusty"), what it does with no second object (`states`:
   "fluttering"), its parts (`parts`: "rubber sole", "its tail") and the prompt's abstract words (`moods`:
   "beauty"). A posture before a relation is that relation ("hung above"), a relation to a place is read by
   the background ("lying on the green grass"), "A between B and C" is two `between` relations.

Anything the Scene cannot represent is named in `Scene.unsupported` rather than silently dropped, so a
caller can tell a faithful reading from a partial one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from limner import vocab
from limner.reading.lexicon import LexiconKind, load_lexicon, singular_candidates
from limner.types import Element, Relation, Scene

__all__ = ["canonical_class", "parse_prompt", "plural", "singular"]

TagKind = Literal[
    "det", "num", "quant", "neg", "color", "texture", "shape", "size", "noun", "bg", "rel", "abs", "conj",
    "with", "prep", "aux", "quote", "textcue", "unquoted", "style", "frame", "punct", "stop", "other",
]

MODIFIER_KINDS = ("color", "texture", "shape", "size")
_MAX_PHRASE = 6

# ----------------------------------------------------------------------------------------------------
# Closed word lists that belong to the grammar rather than to the vocabulary of things
# ----------------------------------------------------------------------------------------------------

_DETERMINERS = {
    "a": 1, "an": 1, "the": None, "this": 1, "that": 1, "these": None, "those": None, "its": None,
    "their": None, "his": None, "her": None, "our": None, "my": None, "your": None, "another": 1,
    "each": None, "every": None, "any": None,
}
_QUANTIFIERS = {  # phrase -> count (None: a vague plural)
    "a pair of": 2, "pair of": 2, "a couple of": 2, "couple of": 2, "a dozen": 12, "dozen": 12, "both": 2,
    "several": None, "many": None, "some": None, "a few": None, "few": None, "a group of": None,
    "group of": None, "a bunch of": None, "bunch of": None, "lots of": None, "a lot of": None,
    "a number of": None, "multiple": None, "various": None, "numerous": None, "a set of": None,
    "a pile of": None, "a stack of": None, "a row of": None, "a herd of": None, "a flock of": None,
    "a team of": None, "a family of": None, "a collection of": None, "a variety of": None,
}
_NEGATIONS = ("no", "without", "without any", "not", "none of", "with no", "without a", "without an")
_CONJUNCTIONS = ("and", "&", "as well as", "along with", "plus", "or", "together with")
_AUX = {
    "is", "are", "was", "were", "be", "being", "been", "has", "have", "had", "am", "does", "do", "did",
    "can", "could", "will", "would", "seems", "appears", "stands", "sits", "lies",
}
_PREPOSITIONS = {
    "in", "at", "inside", "within", "into", "against", "across", "through", "from", "of", "for", "to",
    "during", "while", "as", "around", "among", "amid", "along", "toward", "towards", "past", "off", "out",
    "up", "down", "between", "outside",
}
_STOP = {"there", "it", "they", "them", "he", "she", "we", "i", "you", "which", "who", "whose", "where",
         "also", "very", "so", "too", "then", "just", "all", "other", "one's", "s", "'s", "together", "forth",
         "else", "even", "but", "what", "about", "themselves", "himself", "herself", "itself", "ourselves",
         "yourself", "myself", "something", "everything", "anything", "everyone", "somebody", "us", "him", "me",
         "as", "they're", "it's", "when", "before", "after", "while", "once", "again", "still", "here"}
_TEXT_CUES = (
    "that says", "which says", "saying", "says", "that reads", "which reads", "reading", "reads",
    "with the text", "with the words", "with the word", "with text", "labeled", "labelled", "written",
    "that read", "with the letters", "spelling", "that said", "with the caption", "captioned", "titled",
    "with the sign", "with the message", "with a sign saying",
)
#: Idioms that name no thing ("walking hand in hand" has no hand of its own): read as how something is done.
_ADVERB_PHRASES = ("hand in hand", "arm in arm", "side by side", "face to face", "back to back", "head to toe",
                   "in unison", "in harmony", "at once", "all day", "all night", "day and night")
_FRAMES = (
    "a photo of", "a photograph of", "an image of", "a picture of", "a close-up of", "a closeup of",
    "a close up of", "a shot of", "a snapshot of", "photo of", "image of", "picture of", "a view of",
    "a scene of", "a scene with", "a scene showing", "an illustration of", "a rendering of", "a render of",
)
_ABSOLUTE = (
    "on the left", "to the left", "at the left", "on the right", "to the right", "at the right",
    "in the middle", "in the center", "in the centre", "at the top", "at the bottom", "in the corner",
    "in the foreground", "in the background", "in the distance", "on the top", "on the bottom",
    "in the middle of", "in the center of", "in the centre of", "between",
)
_VERBS = {
    "sit", "sat", "sitting", "stand", "stood", "standing", "lie", "lay", "lying", "rest", "rests", "rested",
    "hang", "hangs", "hung", "hold", "holds", "held", "fly", "flies", "flew", "float", "floats", "floated",
    "play", "plays", "played", "run", "runs", "ran", "walk", "walks", "look", "looks", "jump", "jumps",
    "swim", "swims", "swam", "eat", "eats", "ate", "drink", "drinks", "drank", "sleep", "sleeps", "slept",
    "wear", "wears", "wore", "ride", "rides", "rode", "chase", "chases", "read", "sing", "sings", "sang",
    "rang", "ring", "rings", "sews", "sewed", "contrasted", "contrasts", "shone", "shines", "filled", "fills",
    "added", "adds", "made", "makes", "give", "gives", "gave", "take", "takes", "took", "keep", "kept",
    "watch", "watches", "feel", "feels", "felt", "see", "sees", "saw", "stare", "stares", "carry", "carries",
    "carried", "pull", "pulls", "push", "pushes", "throw", "throws", "threw", "catch", "catches", "caught",
    "kick", "kicks", "hug", "hugs", "lick", "licks", "sniff", "sniffs", "bite", "bites", "climb", "climbs",
    "perch", "perches", "perched", "grow", "grows", "grew", "lean", "leans", "cast", "casts", "lit", "shine",
    "hides", "hid", "meet", "meets", "met", "wait", "waits", "stay", "stays", "leave", "leaves", "left",
    "go", "goes", "went", "come", "comes", "came", "lies", "stands", "sits", "served",
    "provided", "provides", "creating", "adorned", "nestled", "tied", "wrapped", "placed", "covered",
    "remove", "removes", "add", "fill", "bark", "barks", "graze", "grazes", "wag", "wags", "roll",
    "rolls", "dance", "dances", "fall", "falls", "stretch", "stretches", "bloom", "blooms", "glow",
    "glows", "sparkle", "sparkles", "swing", "swings", "drift", "drifts", "crawl", "crawls", "chat", "chats",
    "drove", "wrote", "led", "fell", "drew", "sped", "blew", "struck", "spun", "shook", "brought", "sent",
    "make", "cut", "stir", "beat", "pass", "await", "awaits", "illuminate", "illuminates", "provide", "decorate",
    "decorates", "adorn", "adorns", "reflect", "reflects", "tighten", "glide", "glides", "unlock", "write",
    "writes", "correct", "protect", "protects", "open", "opens", "close", "closes", "roam", "roams", "dig",
    "digs", "accompany", "prepare", "prepares", "polish", "pour", "pours", "fasten", "spray", "cook", "cooks",
    "linger", "lingers", "burst", "bursts", "understand", "compete", "unleash", "simmer", "simmers", "build",
    "sip", "sips", "shoot", "shoots", "lays", "rose", "bloomed",
    "hopped", "buzzed", "hummed", "sparkled", "glistened", "shimmered", "danced", "flowed", "twinkled", "darted",
    "soared", "waved", "roamed", "grazed", "wagged", "snorted", "barked", "chirped", "rustled", "flickered",
    "zoomed", "raced", "dashed", "crept", "leapt", "leaped", "dove", "dived", "snuggled", "curled",
}
#: "a slice of watermelon", "the base of the lamp": the thing is what follows "of". Parts are named unsupported.
_PARTITIVES = {"slice", "piece", "chunk", "bit", "sheet", "scoop", "loaf", "bar", "stick", "cube", "wedge", "drop"}
#: "the handle of the mug": a part, read into `Element.parts` of the thing that follows "of".
_PARTS = vocab.PARTS | {"lid", "wall", "door"}
_NOUN_READINGS = {  # modifiers that name a thing when they stand in head position ("an orange")
    "orange": "orange", "glass": "glass", "stone": "rock", "diamond": "gem", "gold": "coin", "marble": "rock",
    "rubber": "eraser", "plastic": None, "cube": "cube", "star": "star", "heart": "heart", "silver": None,
    "fabric": None, "leather": None, "round": None, "paper": "paper", "square": "square", "circle": "circle",
    "rectangle": "rectangle", "triangle": "triangle", "oval": "oval", "lime": "lime", "violet": "violet",
}


# ----------------------------------------------------------------------------------------------------
# Morphology
# ----------------------------------------------------------------------------------------------------


def _noun_lexicon() -> dict[str, str]:
    lex: dict[str, str] = {c: c for c in vocab.CLASSES}
    lex.update(vocab.CLASS_SYNONYMS)
    return lex


_NOUNS: dict[str, str] = _noun_lexicon()


def singular(word: str) -> str:
    """The singular of an English noun (`'sandwichs'` -> `'sandwich'`, `'knives'` -> `'knife'`).

    Known words win over rules, so canonical plural-form classes ("skis", "scissors") stay as they are.
    """
    w = word.lower()
    if w in vocab.PLURAL_FORM_CLASSES or w in vocab.INVARIANT_PLURALS:
        return w
    if w in vocab.IRREGULAR_PLURALS:
        return vocab.IRREGULAR_PLURALS[w]
    if w in _NOUNS:
        return w
    for c in singular_candidates(w, shortest_s=3):
        if c in _NOUNS or c in vocab.IRREGULAR_PLURALS.values():
            return c
    if w.endswith(("ches", "shes", "xes", "sses", "zes")):
        return w[:-2]
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 3:
        return w[:-1]
    return w


@lru_cache(maxsize=8192)
def _lexicon_noun(word: str) -> tuple[str, LexiconKind] | None:
    """(lemma, "thing" | "mood") for a word that only the general lexicon (WordNet nouns,
    `limner.reading.lexicon`) knows; None for any word the reader's own lists know in any role (an object, a
    part, a quality, a mood, a verb, a grammar word), so the vocabulary always wins."""
    w = word.lower()
    lemma = singular(w)
    for known in (w, lemma):
        if known in _NOUNS or known in _PARTS or known in vocab.BODY_PARTS or known in vocab.QUALITIES \
                or known in vocab.MOODS or known in _VERBS or known in vocab.POSE_VERBS \
                or known in vocab.PLACE_VERBS or known in _PARTITIVES or known in _NOUN_READINGS \
                or known in _phrases():
            return None
    lex = load_lexicon()
    found = lex.lemma(w)
    if found is None or found in _NOUNS or found in _PARTS or found in vocab.BODY_PARTS:
        return None
    kind = lex.kind(found)
    return (found, kind) if kind is not None else None


def _lexicon_body_part(word: str) -> bool:
    """"its belly", "her elbow": a general noun of WordNet's body file after a possessive is the owner's part."""
    found = _lexicon_noun(word)
    return found is not None and load_lexicon().things.get(found[0]) == "body"


#: singular -> plural for the one-word irregular plurals (the inverse of `vocab.IRREGULAR_PLURALS`).
_IRREGULAR_SINGULARS: dict[str, str] = {v: k for k, v in vocab.IRREGULAR_PLURALS.items() if " " not in k}


def plural(noun: str) -> str:
    """English plural of a class name ("bus" -> "buses", "skis" -> "skis"), as edit instructions write it."""
    if noun in vocab.PLURAL_FORM_CLASSES or noun in vocab.INVARIANT_PLURALS:
        return noun
    head, _, last = noun.rpartition(" ")
    if last in _IRREGULAR_SINGULARS and _IRREGULAR_SINGULARS[last] != last:
        word = _IRREGULAR_SINGULARS[last]
    elif last.endswith(("s", "x", "z", "ch", "sh")):
        word = last + "es"
    elif last.endswith("y") and last[-2:-1] not in "aeiou":
        word = last[:-1] + "ies"
    else:
        word = last + "s"
    return f"{head} {word}".strip()


def canonical_class(noun: str) -> tuple[str, bool] | None:
    """(canonical class, is plural) for a noun phrase like "teddy bears", or None when not in the vocabulary."""
    n = noun.lower().strip()
    if n in _NOUNS:
        plural = n in vocab.IRREGULAR_PLURALS and vocab.IRREGULAR_PLURALS[n] != n
        return _NOUNS[n], plural
    irregular = vocab.IRREGULAR_PLURALS.get(n)
    if irregular is not None and irregular in _NOUNS:
        return _NOUNS[irregular], irregular != n
    words = n.split()
    last = singular(words[-1])
    key = " ".join(words[:-1] + [last])
    if key in _NOUNS:
        return _NOUNS[key], last != words[-1]
    return None


# ----------------------------------------------------------------------------------------------------
# Tokens and tags
# ----------------------------------------------------------------------------------------------------


@dataclass
class _Tok:
    kind: TagKind
    text: str  # the words as written (lower case)
    value: object = None  # canonical value: class, colour, predicate, count, quoted text...
    plural: bool = False


_QUOTE_RE = re.compile(r'"([^"]+)"|“([^”]+)”|«([^»]+)»|(?<![\w])\'([^\']+)\'(?![\w])')
#: Words in any script (so "à", "über", "猫" are read, and named when unknown, never dropped), punctuation.
_WORD_RE = re.compile(r"\x00\d+\x00|[^\W_]+(?:[-'][^\W_]+)*|[,.;:!?&]")


def _phrase_table() -> dict[str, tuple[TagKind, object]]:
    """Every fixed multi-word phrase the tagger knows, with its tag. Later entries override earlier ones."""

    def same(words: Iterable[str]) -> dict[str, object]:
        return {w: w for w in words}

    def bare(words: Iterable[str]) -> dict[str, object]:
        return dict.fromkeys(words)

    sources: list[tuple[TagKind, Mapping[str, object]]] = [
        ("bg", same(vocab.BACKGROUNDS)), ("style", same(vocab.STYLES)),
        ("color", same(vocab.COLORS)), ("color", vocab.COLOR_SYNONYMS),
        ("texture", same(vocab.TEXTURES)), ("texture", vocab.TEXTURE_SYNONYMS),
        ("shape", same(vocab.SHAPES)), ("shape", vocab.SHAPE_SYNONYMS),
        ("size", same(vocab.SIZES)), ("size", vocab.SIZE_SYNONYMS),
        ("num", vocab.NUMBER_WORDS), ("det", _DETERMINERS), ("quant", _QUANTIFIERS),
        ("neg", dict.fromkeys(_NEGATIONS, 0)), ("conj", bare(_CONJUNCTIONS)), ("aux", bare(_AUX)),
        ("prep", same(_PREPOSITIONS)), ("stop", bare(_STOP)), ("rel", vocab.RELATION_PHRASES),
        ("abs", same(_ABSOLUTE)), ("textcue", bare(_TEXT_CUES)), ("frame", bare(_FRAMES)),
        ("with", {"with": "with"}), ("other", dict.fromkeys(_ADVERB_PHRASES, "adverb")),
    ]
    return {word: (tag, value) for tag, words in sources for word, value in words.items()}


@lru_cache(maxsize=1)
def _phrases() -> dict[str, tuple[TagKind, object]]:
    return _phrase_table()


@lru_cache(maxsize=1)
def _caps_text_re() -> re.Pattern[str]:
    """A text cue followed by unquoted words in capitals: `a sign that says OPEN`, `reads NO PARKING`.

    Capitals delimit the text safely (the prompt's own words are lower case); the run must hold a word of
    two or more letters, so the article in `says A big hello` is not taken for text. The cue stays (group
    1); the capitals are the text (group 2), lifted like a quotation.
    """
    cues = "|".join(re.escape(c) for c in sorted(_TEXT_CUES, key=len, reverse=True))
    word = r"[A-Z0-9][A-Z0-9!?'&-]*"
    return re.compile(rf"((?i:\b(?:{cues}))\s+)((?=[^a-z]*[A-Z]{{2}}){word}(?:\s+{word})*)(?![a-z])")


def _tokenise(prompt: str) -> tuple[list[str], list[str]]:
    quotes: list[str] = []

    def lift(m: re.Match[str]) -> str:
        quotes.append(next(g for g in m.groups() if g is not None))
        return f" \x00{len(quotes) - 1}\x00 "

    text = _QUOTE_RE.sub(lift, prompt)

    def lift_caps(m: re.Match[str]) -> str:
        quotes.append(m.group(2))
        return f"{m.group(1)} \x00{len(quotes) - 1}\x00 "

    text = _caps_text_re().sub(lift_caps, text)
    text = text.lower().replace("’", "'").replace("‘", "'")
    return _WORD_RE.findall(text), quotes


def _tag(words: list[str], quotes: list[str]) -> list[_Tok]:
    """Longest-match tagging. Nouns (with their plurals) are matched with the fixed phrases."""
    table = _phrases()
    toks: list[_Tok] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w.startswith("\x00"):
            toks.append(_Tok("quote", w, quotes[int(w.strip("\x00"))]))
            i += 1
            continue
        if w in ",.;:!?":
            toks.append(_Tok("conj" if w == "," else "punct", w))
            i += 1
            continue
        best: _Tok | None = None
        best_len = 0
        for n in range(min(_MAX_PHRASE, len(words) - i), 0, -1):
            span = words[i : i + n]
            if any(s.startswith("\x00") or s in ",.;:!?" for s in span):
                continue
            phrase = " ".join(span)
            noun = canonical_class(phrase)
            if noun is not None and (phrase not in table or n > 1 or table[phrase][0] in ("bg", "style")):
                best, best_len = _Tok("noun", phrase, noun[0], plural=noun[1]), n
                break
            if phrase in table:
                kind, value = table[phrase]
                best, best_len = _Tok(kind, phrase, value), n
                break
            if n == 1 and w.isdigit():
                best, best_len = _Tok("num", w, min(int(w), 100)), 1
        if best is None:
            best, best_len = _Tok("other", w), 1
        toks.append(best)
        i += best_len
    for k in range(1, len(toks)):
        if toks[k].kind == "noun" and toks[k].text.endswith("ing") and toks[k - 1].kind == "aux":
            toks[k] = _Tok("other", toks[k].text, "verb")  # "is painting a mural": a verb, not a painting
    return _fix_styles(toks)


def _fix_styles(toks: list[_Tok]) -> list[_Tok]:
    """'in watercolor style', 'pixel-art style', 'in the style of van gogh', 'a watercolor of ...'."""
    out: list[_Tok] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.text in ("style", "styled") or t.text.endswith("-style"):
            words: list[str] = [t.text[: -len("-style")]] if t.text.endswith("-style") else []
            while out and out[-1].kind in ("style", "other", "color", "texture") and len(words) < 3:
                words.insert(0, out.pop().text)
            if out and out[-1].text in ("in", "with") and out[-1].kind in ("prep", "with"):
                out.pop()
            if words:
                out.append(_Tok("style", " ".join(words), " ".join(words)))
                i += 1
                continue
        if t.text == "in" and i + 3 < len(toks) and toks[i + 1].text == "the" and toks[i + 2].text == "style" \
                and toks[i + 3].text == "of":
            j = i + 4
            words = []
            while j < len(toks) and toks[j].kind not in ("punct", "conj", "with") and len(words) < 4:
                words.append(toks[j].text)
                j += 1
            out.append(_Tok("style", "style of " + " ".join(words), " ".join(words)))
            i = j
            continue
        if t.kind == "style" and i + 1 < len(toks) and toks[i + 1].text == "of":
            out.append(_Tok("style", t.text, t.value))  # "a watercolor of a fox": a frame that sets the style
            i += 2
            continue
        if t.kind == "noun" and t.text in ("painting", "drawing", "sketch", "illustration") and i + 1 < len(toks) \
                and toks[i + 1].text == "of":
            out.append(_Tok("style", t.text, t.text))
            i += 2
            continue
        out.append(t)
        i += 1
    return out


# ----------------------------------------------------------------------------------------------------
# Noun phrases
# ----------------------------------------------------------------------------------------------------


@dataclass
class _NP:
    head: _Tok
    start: int
    end: int  # exclusive
    count: int | None = None
    vague: bool = False
    negated: bool = False
    mods: dict[str, str] = field(default_factory=dict)
    unknown_mods: list[str] = field(default_factory=list)
    known: bool = True
    text: str | None = None
    parts: list[str] = field(default_factory=list)
    qualities: list[str] = field(default_factory=list)
    compound: list[str] = field(default_factory=list)  # "pencil" of "pencil sharpener": kept in the noun
    possessive: bool = False  # "its tail": a part of the thing named before
    mood: bool = False  # "the beauty of nature": an abstract noun, read as a mood of the picture
    part_only: bool = False  # "its tail", "their long tentacles": the phrase names a part of the thing before


def _is_verb(t: _Tok) -> bool:
    """An unknown word read as a verb: one the tagger marked so ("is painting"), or that looks like one."""
    return t.kind == "other" and (t.value == "verb" or _looks_like_verb(t.text))


def _looks_like_verb(word: str) -> bool:
    if word.endswith("ly") and word in vocab.QUALITIES:  # "the prickly cactus": an adjective, no adverb
        return False
    if word in _VERBS or word in _AUX or (word.endswith("s") and word[:-1] in _VERBS):
        return True
    if word in _NOUNS or singular(word) in _NOUNS or _lexicon_noun(word) is not None:
        return False
    return (len(word) > 4 and word.endswith(("ing", "ed"))) or (len(word) > 3 and word.endswith("ly"))


#: Endings of English adjectives that are rarely nouns' (an unknown word so ending is read as a quality).
_ADJECTIVE_ENDINGS = ("ful", "ous", "less", "ical", "esque")
#: Endings of abstract nouns (an unknown head so ending is read as a mood, not as an object).
_ABSTRACT_ENDINGS = ("ness", "ity", "ism", "dom", "hood")  # not -ship: a spaceship is a thing


def _looks_like_adjective(word: str) -> bool:
    """A quality the world does not judge: a listed adjective, a known adjective ending, a participle used as
    an adjective ("polished", "crashing"), or a hyphenated compound of them ("ice-cold", "hand-painted")."""
    if word in vocab.QUALITIES:
        return True
    if word in _NOUNS or singular(word) in _NOUNS or word in _VERBS or _lexicon_noun(word) is not None:
        return False
    if "-" in word:
        return _looks_like_adjective(word.rsplit("-", 1)[1]) or word.endswith(("-looking", "-shaped", "-colored"))
    return len(word) > 5 and word.endswith((*_ADJECTIVE_ENDINGS, "ed", "ing"))


def _is_abstract(word: str) -> bool:
    """An abstract or mood noun ("beauty", "elegance", "happiness"): read as a mood, never as an object."""
    lemma = singular(word)
    if word in _NOUNS or lemma in _NOUNS:
        return False
    return word in vocab.MOODS or lemma in vocab.MOODS or (len(word) > 6 and word.endswith(_ABSTRACT_ENDINGS))


def _ends_phrase(toks: list[_Tok], i: int) -> bool:
    """True when position i cannot continue a noun phrase (used to accept compounds like 'rose bushes')."""
    return i >= len(toks) or toks[i].kind in ("punct", "conj", "rel", "abs", "prep", "with", "aux", "quote",
                                              "textcue", "unquoted")


def _np_continues(toks: list[_Tok], i: int) -> bool:
    """Whether a noun phrase goes on at i: a noun-phrase word, or participles before one ("the bright,
    multi-colored kites", "the smooth, polished surface")."""
    for j in range(i, min(i + 3, len(toks))):
        t = toks[j]
        if _is_np_word(t):
            return True
        if not (t.kind == "other" and _looks_like_adjective(t.text)):
            return False
    return False


def _is_np_word(t: _Tok) -> bool:
    return t.kind in MODIFIER_KINDS or t.kind in ("noun", "bg") or (
        t.kind == "other" and not _is_verb(t) and t.value != "adverb")


def _read_np(toks: list[_Tok], i: int) -> tuple[_NP | None, int]:
    """Read `[neg] [det|num|quant]* modifier* head` from position i. Returns (None, i) if no head follows."""
    start = i
    negated, count, vague, i = _read_quantity(toks, i)
    body, parts, i = _read_body(toks, i)
    if not body:
        return None, start
    bare = i == len(body) + start and all(t.kind == "other" for t in body)
    after_verb = start > 0 and toks[start - 1].kind in ("other", "aux")
    if bare and after_verb and not _is_abstract(body[-1].text):
        return None, start  # "hung low on the vine": an adverb after a verb, not an object ("doing tricks" is)
    if bare and len(body) == 1 and _looks_like_adjective(body[0].text) and not _is_np_start(toks, start):
        return None, start  # "four strawberries were ripe and juicy": a quality of the subject, not an object
    head_at = _head_index(body)
    if head_at is None:
        return None, start
    # Words after the head belong to the next phrase ("a glass" + "bottle" cannot happen: the head is last).
    extra = body[head_at + 1 :]
    i -= len(extra)
    body = body[: head_at + 1]
    owners = [t.text for t in toks[start:i] if t.kind == "det" and t.text in vocab.POSSESSIVES]
    possessive = bool(owners)
    body, parts = _split_part_head(body, parts)
    head = body[-1]
    np = _NP(head=head, start=start, end=i, count=count, vague=vague, negated=negated, parts=parts,
             possessive=possessive)
    if head.kind == "other":
        general = None if _is_abstract(head.text) else _lexicon_noun(head.text)
        lemma = general[0] if general else singular(head.text)
        np.head = _Tok("noun", head.text, lemma, plural=lemma != head.text)
        # a general noun is a class of its own ("a hammock"), an abstract one a mood; a non-word stays unknown
        np.known = general is not None and general[1] == "thing"
        np.mood = _is_abstract(head.text) or (general is not None and general[1] == "mood")
    # "wagging their tails", "a lamp with its round base": the owner's; "her keys" are hers, no part of her
    np.part_only = possessive and (singular(head.text) in (vocab.PARTS if owners == ["its"] else vocab.BODY_PARTS)
                                   or _lexicon_body_part(head.text))
    body, np.parts = _split_part_modifiers(body, np.parts)
    for k, t in enumerate(body[:-1]):
        if t.kind in MODIFIER_KINDS:
            if t.kind in np.mods:
                np.qualities.append(t.text)  # "the smooth marble floor": one texture judged, the other read
            else:
                np.mods[t.kind] = str(t.value)
        elif (t.kind in ("noun", "bg") or t.text in vocab.COMPOUND_MODIFIERS) and singular(head.text) == head.value:
            # "a pencil sharpener", "a kitchen table", "a birthday hat". Not when the head is read through a
            # synonym: a "tea bag" is no handbag, though a bag alone reads as one.
            np.compound.append(t.text)
        elif _looks_like_adjective(t.text) or (k == len(body) - 2 and _lexicon_noun(t.text) is not None):
            # "a brick wall": a general noun right before the head is read, not judged (only that one: in
            # "a parking lot features trees" the nouns are no qualities of the trees)
            np.qualities.append(t.text)
        else:
            np.unknown_mods.append(t.text)
    np.text = " ".join(t.text for t in body)
    return np, i


#: Words that open a clause about the sentence's subject ("looking at her phone while sitting on a bench").
_SUBORDINATORS = frozenset(("while", "as", "when", "before", "after", "once"))
#: Particles that finish a phrasal verb ("shone down", "lined up", "curled up").
_PARTICLES = frozenset(("up", "down", "out", "off", "around", "away", "along", "back", "over", "through"))


def _is_adverb(word: str) -> bool:
    """"happily", "gracefully", "hand in hand": an adverb of manner (the ending), or a listed one."""
    return (len(word) > 4 and word.endswith("ly") and singular(word) not in _NOUNS
            and _lexicon_noun(word) is None) or word in (
        "together", "gently", "slowly", "quickly", "high", "low", "proudly", "alone", "still", *_ADVERB_PHRASES)


def _is_np_start(toks: list[_Tok], i: int) -> bool:
    """Whether the noun phrase at i opens with a determiner, number or quantifier ("a cozy ...")."""
    return i < len(toks) and toks[i].kind in ("det", "num", "quant", "neg")


def _split_part_head(body: list[_Tok], parts: list[str]) -> tuple[list[_Tok], list[str]]:
    """"a conical trophy base", "a wooden table leg": a part word heading a compound is a part of the thing
    named before it; the words before the owner describe the part. Returns (the owner's words, parts)."""
    head = body[-1]
    owner_at = max((k for k, t in enumerate(body[:-1]) if t.kind == "noun"), default=None)
    if owner_at is None or singular(head.text) not in vocab.PARTS or head.kind not in ("other", "noun") \
            or body[owner_at].text in vocab.COMPOUND_MODIFIERS:  # "a wall shelf" is a shelf, no part of a wall
        return body, parts
    words = [t.text for k, t in enumerate(body[:-1]) if k != owner_at] + [head.text]
    return body[owner_at : owner_at + 1], [*parts, " ".join(words)]


def _split_part_modifiers(body: list[_Tok], parts: list[str]) -> tuple[list[_Tok], list[str]]:
    """"rubber sole shoes": a part word among the modifiers takes the words before it ("rubber sole" is a
    part of the shoes; the shoes are not rubber)."""
    at = max((k for k, t in enumerate(body[:-1]) if t.kind == "other" and singular(t.text) in vocab.PARTS),
             default=None)
    if at is None:
        return body, parts
    return body[at + 1 :], [*parts, " ".join(t.text for t in body[: at + 1])]


def _read_quantity(toks: list[_Tok], i: int) -> tuple[bool, int | None, bool, int]:
    """The `[neg] [det|num|quant]*` lead of a noun phrase: (negated, count, vague, position after it)."""
    negated, count, vague = False, None, False
    while i < len(toks) and toks[i].kind in ("neg", "det", "num", "quant"):
        t = toks[i]
        if t.kind == "neg":
            negated = True
        elif t.kind == "num":
            count = t.value if t.text not in ("a", "an") or count is None else count
        elif t.kind == "quant":
            count, vague = (t.value, t.value is None) if count is None or count == 1 else (count, vague)
        elif t.kind == "det" and t.value is not None and count is None:
            count = t.value
        i += 1
    return negated, count, vague, i


def _is_partitive(toks: list[_Tok], i: int) -> bool:
    """"a slice of", "the base of": a partitive or a part, followed by "of" and the thing itself."""
    t = toks[i]
    return (t.kind in ("other", "noun") and (t.text in _PARTITIVES or singular(t.text) in _PARTS) and i + 1 < len(toks)
            and toks[i + 1].text == "of" and i + 2 < len(toks)
            and toks[i + 2].kind in ("det", "num", "noun", "other", *MODIFIER_KINDS))


def _read_body(toks: list[_Tok], i: int) -> tuple[list[_Tok], list[str], int]:
    """The modifiers and head words of a noun phrase from position i: (words, parts named, position after)."""
    body: list[_Tok] = []
    parts: list[str] = []
    while i < len(toks):
        t = toks[i]
        has_known_head = bool(body) and body[-1].kind in ("noun", "bg")
        if t.kind in MODIFIER_KINDS:
            if has_known_head:
                break
            body.append(t)
        elif t.kind in ("noun", "bg"):
            body.append(t)
        elif _is_partitive(toks, i):
            if singular(t.text) in _PARTS:  # "the smooth, polished surface of the mirror": the words before are the part's
                parts.append(" ".join([*(b.text for b in body), t.text]))
                body.clear()
            i += 2  # "a triangular slice of watermelon": keep reading; the watermelon is the thing
            while i < len(toks) and toks[i].kind == "det":
                i += 1
            continue
        elif _is_verb(t) and not has_known_head and t.text not in _AUX and i + 1 < len(toks) \
                and (all(b.kind in MODIFIER_KINDS or _looks_like_adjective(b.text) for b in body) if body
                     else i > 0 and toks[i - 1].kind in ("det", "num", "quant")) \
                and (_np_continues(toks, i + 1) or toks[i + 1].text == "of"
                     or (toks[i + 1].text == "," and _np_continues(toks, i + 2))):
            body.append(t)  # "the polished surface", "a rolling pin", "the warm glow of": a participle or a noun
        elif t.kind == "other" and not _is_verb(t) and t.value != "adverb":
            if has_known_head and not (body[-1].kind == "noun" and not body[-1].plural and _ends_phrase(toks, i + 1)):
                break
            body.append(t)
        elif t.kind == "conj" and t.text == "," and body and not has_known_head and _np_continues(toks, i + 1) \
                and _lexicon_noun(body[-1].text) is None:  # "brown cabinetry, sink and ...": a list of things
            pass  # "the plump, juicy grapes": a list of adjectives, not of objects
        elif t.kind == "conj" and t.text == "and" and body and body[-1].kind in MODIFIER_KINDS \
                and i + 2 < len(toks) and toks[i + 1].kind == body[-1].kind and _is_np_word(toks[i + 2]):
            pass  # "a red and white car": the second colour is named unsupported below
        else:
            break
        i += 1
    return body, parts, i


def _head_index(body: list[_Tok]) -> int | None:
    """Which word of the phrase is its head: the last known noun (or an unknown word compounding it), else
    the last unknown word, else a modifier that names a thing in head position ("an orange"; rewritten in
    place); None when the phrase has no head."""
    head_at = max((k for k, t in enumerate(body) if t.kind in ("noun", "bg")), default=None)
    if head_at is not None and head_at == len(body) - 2 and body[-1].kind == "other":
        head_at = len(body) - 1  # "a pizza cutter": an unknown head after a known noun is a compound
    if head_at is not None:
        return head_at
    others = [k for k, t in enumerate(body) if t.kind == "other"]
    noun_reading = body[-1].text in _NOUN_READINGS and _NOUN_READINGS[body[-1].text] is not None and all(
        t.kind in MODIFIER_KINDS or _looks_like_adjective(t.text) for t in body[:-1])
    if others and not noun_reading:  # "the sweet orange": the fruit, with a quality
        return others[-1]
    if noun_reading:
        last = body[-1]
        body[-1] = _Tok("noun", last.text, _NOUN_READINGS[last.text])
        return len(body) - 1
    return None


# ----------------------------------------------------------------------------------------------------
# The reader
# ----------------------------------------------------------------------------------------------------

_DIRECTIONAL = {"left of", "right of", "above", "below", "in front of", "behind"}
_BG_PREPS = {"in", "at", "on", "by", "near", "next to", "against", "inside", "across", "through", "into", "over",
             "under", "below", "above", "along", "around", "during", "from", "of", "with"}


def parse_prompt(prompt: str) -> Scene:
    """Read an English prompt into a `Scene`. Never raises on text; an empty prompt gives an empty scene."""
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a string, got {type(prompt).__name__}")
    words, quotes = _tokenise(prompt)
    language = _foreign_language(words)
    if language is not None:  # reading French as English would invent objects ("un") and drop the rest
        return Scene(prompt=prompt, unsupported=[
            f"the whole prompt: language not supported (looks like {language}; the reader reads English)"])
    toks = _mark_unquoted_text(_tag(words, quotes))

    nps: list[_NP] = []
    gaps: list[list[_Tok]] = [[]]  # gaps[k]: tokens before nps[k]; gaps[-1] after the last phrase
    i = 0
    while i < len(toks):
        np, j = _read_np(toks, i) if toks[i].kind not in ("rel", "abs") else (None, i)
        if np is not None:
            nps.append(np)
            gaps.append([])
            i = j
        else:
            gaps[-1].append(toks[i])
            i += 1

    scene = _Builder(prompt)
    element_of: dict[int, str | None] = {}
    kind_of: dict[int, str] = {}  # what each phrase became: element, place, mood or part
    sentence_first: str | None = None  # the sentence's first object: whose part "and wagging its tail" names
    for k, np in enumerate(nps):
        gap_words = [t.text for t in gaps[k]]
        if any(t.kind == "punct" and t.text in ".;!?" for t in gaps[k]):
            sentence_first = None
        listed = gap_words in (["and"], [","]) and k > 0 and (kind_of.get(k - 1) == "part" or nps[k - 1].possessive)
        if singular(np.head.text) in vocab.PARTS and not np.mood and (gap_words[-1:] == ["with"] or listed):
            np.part_only = True  # "a vase with a square base and a round opening": the vase's parts
        before = gaps[k]
        preps = {t.value if t.kind == "rel" else t.text for t in before[-2:] if t.kind in ("rel", "prep", "with")}
        is_place = np.head.kind == "bg" or (np.head.text == "background")
        element_of[k] = None
        if is_place and (preps & _BG_PREPS or k == 0 or np.head.kind == "bg"):
            scene.set_background(np)
            kind_of[k] = "place"
        elif np.mood:
            scene.add_mood(np)
            kind_of[k] = "mood"
        elif np.part_only:
            # "a dog jumping through a hoop and wagging its tail": after a verb of the sentence's subject
            clause = any(t.kind == "conj" for t in gaps[k]) and any(_is_verb(t) for t in gaps[k])
            scene.add_part(sentence_first if clause and sentence_first else _nearest_element(element_of, k), np)
            kind_of[k] = "part"
        else:
            element_of[k] = scene.add_element(np)
            kind_of[k] = "element"
            sentence_first = sentence_first or element_of[k]

    # Quoted text: to the phrase before the cue ("a sign that says ..."), else the nearest one.
    for k, gap in enumerate(gaps):
        for q in (t for t in gap if t.kind == "quote"):
            owner = _nearest_element(element_of, k)
            if owner is None:
                owner = scene.add_element(_NP(head=_Tok("noun", "sign", "sign"), start=0, end=0, count=1))
            scene.set_text(owner, str(q.value))

    # Relations and leftovers, gap by gap.
    betweens = _read_between(gaps, element_of)
    clause_subject: str | None = None  # the sentence's first object: who "and walking" is about
    for k, gap in enumerate(gaps):
        if any(t.kind == "punct" and t.text in ".;!?" for t in gap):
            clause_subject = None
        subject = element_of.get(k - 1) if k > 0 else None
        if subject is None and kind_of.get(k - 1) == "part":  # "the lamp with its round base illuminated ..."
            subject = clause_subject
        if subject is None and kind_of.get(k - 1) == "mood" and any(t.kind == "rel" for t in gap) \
                and element_of.get(k) is not None:
            subject = clause_subject  # "a couple watching a movie together on the couch": the couple is on it
        clause_subject = clause_subject or subject
        obj = element_of.get(k) if k < len(nps) else None
        scene.connect(subject, obj, gap, object_negated=k < len(nps) and nps[k].negated,
                      object_kind=kind_of.get(k), clause_subject=clause_subject,
                      subject_kind=kind_of.get(k - 1), subject_text=nps[k - 1].text if k > 0 else None)
    for subject, second in betweens:
        scene.relations.append(Relation(subject=subject, predicate="between", object=second))
    return scene.build()


def _with_parts(np: _NP, text: str | None = None) -> str:
    """The words of a phrase read as a mood or a place, with the parts read before it, so none is dropped."""
    text = text if text is not None else (np.text or np.head.text)
    return f"{'; '.join(np.parts)} of {text}" if np.parts else text


def _read_between(gaps: list[list[_Tok]], element_of: dict[int, str | None]) -> list[tuple[str, str]]:
    """"A (was nestled) between B and C": the word becomes the relation "between" of A and B (read by
    `connect`); the returned (A, C) pairs add A between C. "between" is read, not judged: no checker has its
    geometry, so each relation is named unchecked. Without two objects after it, it stays an absolute
    position (named unsupported)."""
    out: list[tuple[str, str]] = []
    for k in range(1, len(gaps) - 1):
        subject, first, second = element_of.get(k - 1), element_of.get(k), element_of.get(k + 1)
        if subject is None or first is None or second is None:
            continue
        if [t.text for t in gaps[k + 1]] != ["and"]:
            continue
        for j, t in enumerate(gaps[k]):
            if t.kind == "abs" and t.text == "between":
                gaps[k][j] = _Tok("rel", "between", "between")
                out.append((subject, second))
    return out


#: Function words of the languages people most often try, for telling a prompt in another language
#: from an English one with a foreign name in it. Words that are also English ("on", "die", "a") are left out.
_FOREIGN_WORDS: dict[str, frozenset[str]] = {
    "French": frozenset(("un", "une", "le", "la", "les", "des", "du", "de", "d'un", "d'une", "et", "avec",
                         "sur", "sous", "dans", "à", "au", "aux", "est", "sont", "gauche", "droite", "devant",
                         "derrière", "rouge", "bleu", "vert", "jaune", "noir", "blanc", "chat", "chien")),
    "Spanish": frozenset(("un", "una", "unos", "unas", "el", "los", "las", "y", "con", "sobre", "debajo", "en",
                          "del", "al", "está", "están", "izquierda", "derecha", "rojo", "azul", "verde",
                          "amarillo", "negro", "blanco", "gato", "perro")),
    "German": frozenset(("ein", "eine", "einen", "einem", "einer", "der", "das", "und", "mit", "auf", "unter",
                         "neben", "links", "rechts", "von", "ist", "sind", "rote", "roter", "roten", "blaue",
                         "blauer", "blauen", "katze", "hund")),
    "Italian": frozenset(("uno", "una", "il", "lo", "gli", "e", "con", "sul", "sotto", "accanto", "sinistra",
                          "destra", "rosso", "azzurro", "gatto", "cane")),
    "Portuguese": frozenset(("um", "uma", "os", "com", "ao", "esquerda", "direita", "vermelho", "azul", "gato",
                             "cachorro")),
    "Dutch": frozenset(("een", "het", "en", "met", "op", "onder", "naast", "links", "rechts", "rode", "blauwe",
                        "kat", "hond")),
}
#: English words that also count against a foreign reading.
_ENGLISH_WORDS = frozenset(("a", "an", "the", "of", "and", "with", "on", "in", "is", "are", "to", "left",
                            "right", "next", "above", "below", "behind", "front", "photo", "picture", "image"))


def _foreign_language(words: list[str]) -> str | None:
    """The language a prompt looks written in when it is not English, else None.

    Most letters outside the Latin script, or at least two function words of one other language and more
    of them than English ones, mean the reader cannot read it; it then says so instead of guessing.
    """
    letters = [ch for w in words if not w.startswith("\x00") for ch in w if ch.isalpha()]
    if letters and sum(ord(ch) > 0x24F for ch in letters) > len(letters) / 2:
        return "a language in another script"
    english = sum(w in _ENGLISH_WORDS for w in words)
    hits = {lang: sum(w in fw for w in words) for lang, fw in _FOREIGN_WORDS.items()}
    lang, n = max(hits.items(), key=lambda kv: kv[1])
    return lang if n >= 2 and n > english else None


def _mark_unquoted_text(toks: list[_Tok]) -> list[_Tok]:
    """A text cue not followed by quoted text: the unknown words after it become one `unquoted` token, named
    unsupported later (the text cannot be delimited safely without quotes or capitals)."""
    out: list[_Tok] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        out.append(t)
        i += 1
        if t.kind != "textcue" or (i < len(toks) and toks[i].kind == "quote"):
            continue
        j = i
        while j < len(toks) and toks[j].kind in ("other", "num"):
            j += 1
        out[-1] = _Tok("unquoted", t.text, " ".join(x.text for x in toks[i:j]))
        i = j
    return out


def _nearest_element(element_of: dict[int, str | None], gap_index: int) -> str | None:
    for k in range(gap_index - 1, -1, -1):
        if element_of.get(k):
            return element_of[k]
    for k in range(gap_index, len(element_of)):
        if element_of.get(k):
            return element_of[k]
    return None


class _Builder:
    """Accumulates elements, relations and named unsupported parts, then validates one Scene."""

    def __init__(self, prompt: str) -> None:
        self.prompt = prompt
        self.elements: list[dict[str, object]] = []
        self.relations: list[Relation] = []
        self.background: str | None = None
        self.style: str | None = None
        self.unsupported: list[str] = []
        self.assumptions: list[str] = []
        self.moods: list[str] = []

    def _note(self, what: str) -> None:
        if what not in self.unsupported:
            self.unsupported.append(what)

    def _assume(self, what: str) -> None:
        if what not in self.assumptions:
            self.assumptions.append(what)

    def add_element(self, np: _NP) -> str:
        eid = f"e{len(self.elements)}"
        head = np.head
        cls = str(head.value)
        if np.negated:
            count = 0
        elif np.count is not None and not np.vague:
            count = int(np.count)
            if count == 1 and head.plural and np.head.text.split()[-1] not in vocab.PLURAL_FORM_CLASSES:
                count = 1  # "a leather shoes": the article wins, the plural is a slip
        elif head.plural or np.vague:
            # "apples": at least two; checking exactly two is stricter than the prompt, never laxer, so the
            # choice is an assumption (named), not an unchecked part. In an edit, "make the apples green"
            # then asks for the two apples the picture holds, all green.
            count = 2
            self._assume(f"number of '{head.text}' not given (read as 2)")
        else:
            count = 1
        el: dict[str, object] = {"id": eid, "noun": " ".join([*np.compound, head.text]), "cls": cls,
                                 "count": min(count, 100), "negated": np.negated, "qualities": list(np.qualities),
                                 "parts": list(np.parts), "states": []}
        for kind in MODIFIER_KINDS:
            if kind in np.mods:
                el[kind] = np.mods[kind]
        self.elements.append(el)
        if not np.known:
            self._note(f"object '{cls}' (not in the vocabulary)")
        for w in np.unknown_mods:
            self._note(f"attribute '{w}' of {head.text}")
        return eid

    def add_mood(self, np: _NP) -> None:
        """An abstract phrase ("a touch of elegance", "the beauty"): a mood of the picture, read, not judged.
        Parts read before it stay in the words ("the jagged edges of the rock formations")."""
        text = _with_parts(np)
        if text not in self.moods:
            self.moods.append(text)

    def add_part(self, owner: str | None, np: _NP) -> None:
        """"its tail": a part of the thing named before; named unsupported when nothing was named before."""
        text = np.text or np.head.text
        if owner is None:
            self._note(f"part '{text}' without the thing it belongs to")
            return
        el = next(e for e in self.elements if e["id"] == owner)
        parts = el["parts"]
        assert isinstance(parts, list)
        parts.append(text)

    def add_state(self, eid: str, words: list[str], kind: str = "states") -> None:
        """What an element does or is, in the prompt's words ("fluttering", "ripe"): read, not judged."""
        el = next(e for e in self.elements if e["id"] == eid)
        out = el[kind]
        assert isinstance(out, list)
        text = " ".join(words)
        if text and text not in out:
            out.append(text)

    def _noun(self, eid: str) -> str:
        return str(next(e["noun"] for e in self.elements if e["id"] == eid))

    def set_background(self, np: _NP) -> None:
        words = [w for w in (np.text or "").split() if w != "background"]
        text = _with_parts(np, " ".join(words) or (np.text or ""))  # "the glassy surface of the ocean"
        if self.background is None:
            self.background = text
        elif text not in self.background.split(" and "):
            # "flooded the busy street and the quiet alley": the setting holds both places (a background is
            # never judged by the sandbox, and a judge asked about it sees both)
            self.background = f"{self.background} and {text}"

    def set_text(self, eid: str, text: str) -> None:
        el = next(e for e in self.elements if e["id"] == eid)
        if el.get("text"):
            self._note(f"second text '{text}' for {el['noun']}")
        else:
            el["text"] = text

    def connect(self, subject: str | None, obj: str | None, gap: list[_Tok], *, object_negated: bool,
                object_kind: str | None = None, clause_subject: str | None = None, subject_kind: str | None = None,
                subject_text: str | None = None) -> None:
        """Turn the words between two phrases into a relation, a style, what the subject does or is, or named
        leftovers. `object_kind` says what the phrase after the gap became (element, place, mood, part): a
        relation to a place, a mood or a part is read by them ("lying on the green grass" sets the scene)."""
        # The part after the last conjunction decides the relation; what is before it only leaves leftovers.
        last_conj = max((k for k, t in enumerate(gap) if t.kind == "conj" or t.text in _SUBORDINATORS), default=-1)
        rel_part = gap[last_conj + 1 :]
        lead = next((t for t in rel_part if t.kind != "aux"), None)
        if last_conj >= 0 and clause_subject is not None and lead is not None and lead.kind == "other" \
                and _is_verb(lead):
            subject = clause_subject  # "a man holding a football and throwing a pass": the man throws
        rels = [t for t in rel_part if t.kind == "rel"]
        verbs = [t for t in rel_part if _is_verb(t)]
        withs = [t for t in rel_part if t.kind == "with"]
        preps = [t for t in rel_part if t.kind == "prep" and t.text in ("in", "inside", "into", "within")]
        used: set[int] = set()
        predicate: str | None = None
        if subject is not None and obj is not None and not object_negated:
            directional = [t for t in rels if t.value in _DIRECTIONAL or t.value == "next to"]
            at = rel_part.index(directional[-1]) if directional else 0
            before = rel_part[at - 1] if at > 0 else None
            if directional and before is not None and before in verbs and before.text not in vocab.POSE_VERBS \
                    and before.text not in vocab.PLACE_VERBS:
                # "poring over the textbooks", "jumping over a puddle": an action, not a position
                predicate = f"{before.text} {directional[-1].text}"
                used.update((id(before), id(directional[-1])))
            elif directional:
                predicate = str(directional[-1].value)
                used.update(id(t) for t in directional[-1:])
                # "the mirror was hung above the sink": the posture is the relation's placement
                used.update(id(t) for t in verbs if t.text in vocab.POSE_VERBS)
            elif verbs:
                tail = [t for t in rel_part if t.kind in ("other", "rel", "with", "prep") and id(t) not in used
                        and not (t.kind == "other" and not _is_verb(t))]
                predicate = " ".join(t.text for t in tail)
                used.update(id(t) for t in tail)
                verb_words = [t.text for t in tail if t.kind == "other"]
                if predicate not in vocab.ACTION_PHRASES and predicate not in vocab.CONTAINER_PHRASES and rels \
                        and verb_words and all(w in vocab.POSE_VERBS or w in vocab.PLACE_VERBS for w in verb_words):
                    # "the necklace sparkled on the silk": where it is, and what it does there. Other verbs keep
                    # the phrase as the predicate ("poring over", "talking on": no geometry, named unchecked).
                    predicate = str(rels[-1].value)
                    rest = [w for w in verb_words if w not in vocab.POSE_VERBS]
                    if rest:
                        self.add_state(subject, rest)
            elif rels:
                predicate = str(rels[-1].value)
                used.add(id(rels[-1]))
            elif withs:
                predicate = "with"
                used.add(id(withs[-1]))
            elif preps:
                predicate = "in"
                used.add(id(preps[-1]))
        if predicate and predicate in vocab.CONTAINER_PHRASES:  # "a bowl filled with apples": apples in the bowl
            subject, obj, predicate = obj, subject, "in"
        elif predicate:
            predicate = vocab.ACTION_PHRASES.get(predicate, predicate)
        if predicate and subject is not None and obj is not None:
            self.relations.append(Relation(subject=subject, predicate=predicate, object=obj))
        elif subject is not None and obj is not None and not object_negated:
            for t in (t for t in rel_part if t.kind == "prep"):  # "a shadow of a dog", "a frisbee to a dog"
                self._note(f"relation '{t.text}' between {self._noun(subject)} and {self._noun(obj)} (not read)")
        read_by_object = obj is None and object_kind in ("place", "mood", "part")
        # "the warm light shone down on ...": what a mood or a place does is part of that mood
        mood_owner = subject_text if subject is None and subject_kind in ("place", "mood") else None
        copula = False
        leftovers: list[_Tok] = []
        for t in gap:
            if id(t) in used:
                continue
            copula = copula or t.kind == "aux"
            if t.kind == "style":
                if self.style is None:
                    self.style = str(t.value)
                else:
                    self._note(f"second style '{t.value}'")
            elif t.kind == "abs":
                self._note(f"absolute position '{t.text}'")
            elif t.kind == "unquoted" and t.value:
                self._note(f"text '{t.value}' after '{t.text}' without quotes (could not delimit it; "
                           "put the text in quotes)")
            elif t.kind == "unquoted":
                self._note(f"'{t.text}' without quoted text after it (neither text nor action is checked)")
            elif t.kind == "rel" and subject is not None and obj is not None:
                self._note(f"relation '{t.text}' (only one relation between two objects is read)")
            elif t.kind in MODIFIER_KINDS and copula and subject is not None and self._set_modifier(subject, t):
                pass  # "the apples were red": the colour of the apples
            elif t.kind == "other" or t.kind in MODIFIER_KINDS:
                leftovers.append(t)
                continue
            elif t.kind == "prep" and leftovers and t.text in _PARTICLES:
                leftovers.append(t)  # "shone down", "lined up"
                continue
            elif t.kind == "rel" and (subject is None or obj is None) and not (read_by_object or mood_owner):
                self._note(f"relation '{t.text}' without two objects")
            self._leftovers(subject, leftovers, mood_owner)
            leftovers = []
        self._leftovers(subject, leftovers, mood_owner)

    def _set_modifier(self, eid: str, t: _Tok) -> bool:
        el = next(e for e in self.elements if e["id"] == eid)
        if el.get(t.kind) is not None:
            return False
        el[t.kind] = str(t.value)
        return True

    def _leftovers(self, subject: str | None, toks: list[_Tok], mood_owner: str | None = None) -> None:
        """Words between phrases that are no relation: what the subject does ("fluttering", "swam
        gracefully", "kneading dough": a verb and what follows it) or is ("ripe", "cozy"), read into the
        subject (into the mood when the subject is a mood or a place: "the warm light shone down"); anything
        else (or with no subject) is named unsupported."""
        if not toks:
            return
        words = [t.text for t in toks]
        if subject is None and mood_owner and toks[0].kind == "other" and (
                _is_verb(toks[0]) or _is_adverb(words[0])):
            mood = f"{mood_owner} {' '.join(words)}"
            if mood_owner in self.moods:  # "the warm light" + "shone down": one mood
                self.moods[self.moods.index(mood_owner)] = mood
            elif mood not in self.moods:
                self.moods.append(mood)
            return
        if subject is not None and toks[0].kind == "other" and (_is_verb(toks[0]) or _is_adverb(words[0])):
            self.add_state(subject, words)
        elif subject is not None and all(t.kind == "other" and _looks_like_adjective(t.text) for t in toks):
            self.add_state(subject, words, kind="qualities")
        else:
            self._note(f"words '{' '.join(words)}'")

    def build(self) -> Scene:
        elements = [Element.model_validate(e) for e in self.elements]
        return Scene(prompt=self.prompt, elements=elements, relations=self.relations, background=self.background,
                     style=self.style, unsupported=self.unsupported, assumptions=self.assumptions, moods=self.moods)
