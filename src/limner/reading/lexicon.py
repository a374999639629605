"""A general English noun lexicon (from WordNet 3.0): the reader's last resort for a word it does not know.

The reader's vocabulary (`limner.vocab`) is small and was grown from T2I-CompBench's train prompts, so a
real English noun it never saw ("a hammock") used to be named unsupported, the same as a non-word ("a
zorblax"). The lexicon tells the two apart: a WordNet noun whose most frequent sense is a physical thing is
a **thing** (its own object class, never mapped onto another), one whose most frequent sense is abstract is
a **mood** (read, not judged). Words more often a verb, an adjective or an adverb, -ing forms, proper names,
places and multi-word lemmas are not in it, by rules fixed in `scripts/build_lexicon.py` (which builds the
shipped file, `limner/resources/lexicon/wordnet_nouns.json.gz`, ~150 KB, with `WORDNET_LICENSE` beside it).

The lexicon has the lowest precedence: the reader consults it only for a word its own lists do not know
(`limner.reading.prompt._lexicon_noun`), so nothing the vocabulary reads changes meaning.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

__all__ = ["LEXICON_FILE", "Lexicon", "LexiconKind", "load_lexicon", "singular_candidates"]

LexiconKind = Literal["thing", "mood"]
#: The shipped file, relative to the `limner.resources` package.
LEXICON_FILE = "lexicon/wordnet_nouns.json.gz"


def singular_candidates(word: str, *, shortest_s: int = 3) -> list[str]:
    """The singulars an English plural may have, most specific first ("berries" -> "berry", "shelves" ->
    "shelf"/"shelfe", "boxes" -> "box", "cats" -> "cat"); a plain "-s" is dropped only from words of at least
    `shortest_s` letters. The caller keeps the first one its word list knows: the rules over-generate."""
    w = word.lower()
    out: list[str] = []
    if w.endswith("ies") and len(w) > 4:
        out.append(w[:-3] + "y")
    if w.endswith("ves") and len(w) > 4:
        out += [w[:-3] + "f", w[:-3] + "fe"]
    if w.endswith("es") and len(w) > 3:
        out.append(w[:-2])
    if w.endswith("s") and not w.endswith("ss") and len(w) >= shortest_s:
        out.append(w[:-1])
    return out


@dataclass(frozen=True)
class Lexicon:
    """Noun lemmas by kind, with the WordNet lexicographer file each came from (for `limner words`)."""

    source: str
    things: dict[str, str]  # lemma -> lexicographer file ("artifact", "animal", ...)
    moods: dict[str, str]  # lemma -> lexicographer file ("attribute", "feeling", ...)
    plurals: dict[str, str]  # irregular plural -> lemma ("mice" -> "mouse"), from WordNet's noun.exc
    size_bytes: int

    def kind(self, lemma: str) -> LexiconKind | None:
        return "thing" if lemma in self.things else "mood" if lemma in self.moods else None

    def lemma(self, word: str) -> str | None:
        """The lemma a written word is a form of ("cliffs" -> "cliff", "heroes" -> "hero", "mice" ->
        "mouse"), or None when the lexicon has no such noun. The word as written wins over a singular
        ("pants" stays "pants" when WordNet lists it)."""
        w = word.lower()
        if self.kind(w):
            return w
        if w in self.plurals:
            return self.plurals[w]
        return next((c for c in singular_candidates(w, shortest_s=4) if self.kind(c)), None)

    def summary(self) -> dict[str, object]:
        """Size and source, for `limner words --json`."""
        return {"source": self.source, "file": f"limner/resources/{LEXICON_FILE}", "bytes": self.size_bytes,
                "things": len(self.things), "moods": len(self.moods)}


@lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    """Read the shipped lexicon once (gzipped JSON, standard library only; ~0.1 s)."""
    blob = (resources.files("limner.resources") / LEXICON_FILE).read_bytes()
    data = json.loads(gzip.decompress(blob))
    things = {w: lexfile for lexfile, words in data["things"].items() for w in words}
    moods = {w: lexfile for lexfile, words in data["moods"].items() for w in words}
    return Lexicon(source=str(data["source"]), things=things, moods=moods, plurals=dict(data["plurals"]),
                   size_bytes=len(blob))
