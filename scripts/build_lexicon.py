"""Build the reader's general noun lexicon from WordNet 3.0 (`src/limner/resources/lexicon/`).

    python scripts/build_lexicon.py --wordnet /usr/share/wordnet --out src/limner/resources/lexicon

The reader's own vocabulary (`limner.vocab`) was grown from T2I-CompBench's train prompts, so a prompt
with a real English noun it never saw ("a hammock") was named unsupported. This script derives, once and
offline, which English words are nouns of *things* and which are *abstract* nouns, by rules fixed before
any measurement (see `docs/reading.md`, "The lexicon"):

- a lemma's kind is the lexicographer file of its **most frequent noun sense** (the first synset in
  `index.noun`; WordNet orders senses by their tagged frequency);
- **things**: noun.artifact, animal, body, food, object, plant, substance, person, phenomenon, shape;
- **abstract** (read as a mood): noun.act, attribute, cognition, communication, event, feeling, group,
  motive, possession, process, quantity, relation, state, time — and only when **no** sense of the word is
  a thing: "study", "model", "soil", "parts" name rooms, people and matter as often as ideas, and a mood
  would drop the thing and its relations, so they stay unknown (named unsupported, as before);
- **neither** (left out, so the word stays unsupported as before): noun.Tops (a mix of "animal" and
  "abstraction") and noun.location (a place is the reader's background, and WordNet files the positional
  words "side", "top", "front", "edge", "corner" there: they must not become objects);
- a lemma is left out when it is **more often a verb, an adjective or an adverb** than a noun (summed sense
  tag counts of `cntlist.rev`; with no counts, the number of senses; a tie is left out), when it ends in
  **-ing** (a participle or gerund stays what the reader reads it as), when its first sense is a proper name
  (capitalised in `data.noun`: "china", "turkey" in lower case are not the country), when it is shorter
  than three letters, or holds anything but letters and inner hyphens;
- a lemma that is also an **inflected verb form** is left out: an irregular one of `verb.exc` ("fed",
  "saw", "bred") or a regular past in -ed of a verb lemma ("bored", "stopped", "dried");
- a lemma ending in -s whose singular is also a lemma, more frequent ("arms", "woods"), is left out: the
  reader singularises it;
- a lemma with no tagged sense has no frequency order: it is kept only when all its senses agree (all
  things or all abstract; "chess" lists the grass before the game and is left out);
- **multi-word lemmas are left out**: the reader tags by longest match, so a lexicon phrase would outrank
  the reader's own shorter phrases and relations ("top side", "back door"), which breaks "the vocabulary
  wins"; the reader's compound rule already reads a noun before a noun;
- irregular plurals of the kept lemmas come from `noun.exc` ("mice" -> "mouse").

The output is one gzipped JSON file (`wordnet_nouns.json.gz`, read with the standard library) and the
WordNet licence (`WORDNET_LICENSE`) beside it. No network, no third-party package.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

LEXFILES: dict[int, str] = {
    3: "Tops", 4: "act", 5: "animal", 6: "artifact", 7: "attribute", 8: "body", 9: "cognition",
    10: "communication", 11: "event", 12: "feeling", 13: "food", 14: "group", 15: "location", 16: "motive",
    17: "object", 18: "person", 19: "phenomenon", 20: "plant", 21: "possession", 22: "process", 23: "quantity",
    24: "relation", 25: "shape", 26: "state", 27: "substance", 28: "time",
}
THING_FILES = frozenset(("artifact", "animal", "body", "food", "object", "plant", "substance", "person",
                         "phenomenon", "shape"))
ABSTRACT_FILES = frozenset(("act", "attribute", "cognition", "communication", "event", "feeling", "group",
                            "motive", "possession", "process", "quantity", "relation", "state", "time"))
_WORD = re.compile(r"^[a-z]+(?:-[a-z]+)*$")
_POS_OF_SS_TYPE = {"1": "n", "2": "v", "3": "a", "4": "r", "5": "a"}

LICENSE_TEXT = """\
WordNet Release 3.0

This software and database is being provided to you, the LICENSEE, by
Princeton University under the following license.  By obtaining, using
and/or copying this software and database, you agree that you have
read, understood, and will comply with these terms and conditions.:

Permission to use, copy, modify and distribute this software and
database and its documentation for any purpose and without fee or
royalty is hereby granted, provided that you agree to comply with
the following copyright notice and statements, including the disclaimer,
and that the same appear on ALL copies of the software, database and
documentation, including modifications that you make for internal
use or for distribution.

WordNet 3.0 Copyright 2006 by Princeton University.  All rights reserved.

THIS SOFTWARE AND DATABASE IS PROVIDED "AS IS" AND PRINCETON
UNIVERSITY MAKES NO REPRESENTATIONS OR WARRANTIES, EXPRESS OR
IMPLIED.  BY WAY OF EXAMPLE, BUT NOT LIMITATION, PRINCETON
UNIVERSITY MAKES NO REPRESENTATIONS OR WARRANTIES OF MERCHANT-
ABILITY OR FITNESS FOR ANY PARTICULAR PURPOSE OR THAT THE USE
OF THE LICENSED SOFTWARE, DATABASE OR DOCUMENTATION WILL NOT
INFRINGE ANY THIRD PARTY PATENTS, COPYRIGHTS, TRADEMARKS OR
OTHER RIGHTS.

The name of Princeton University or Princeton may not be used in
advertising or publicity pertaining to distribution of the software
and/or database.  Title to copyright in this software, database and
any associated documentation shall at all times remain with
Princeton University and LICENSEE agrees to preserve same.

---
limner ships a derived list of WordNet noun lemmas (src/limner/resources/lexicon/wordnet_nouns.json.gz,
built by scripts/build_lexicon.py from the Debian package wordnet-base 3.0); this notice travels with it.
"""


def _index(path: Path) -> dict[str, tuple[int, list[str], int]]:
    """lemma -> (number of senses, synset offsets in sense order, senses tagged in the concordances) from an
    `index.*` file."""
    out: dict[str, tuple[int, list[str], int]] = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        if not line or line.startswith(" "):
            continue
        f = line.split()
        n_synsets, n_ptr = int(f[2]), int(f[3])
        tagged = int(f[4 + n_ptr + 1])
        offsets = f[4 + n_ptr + 2 :]
        out[f[0]] = (n_synsets, offsets[:n_synsets], tagged)
    return out


def _tag_counts(path: Path) -> dict[tuple[str, str], int]:
    """(lemma, pos) -> summed tag count of its senses in the semantic concordances (`cntlist.rev`)."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for line in path.read_text(encoding="latin-1").splitlines():
        key, _sense, count = line.split()
        lemma, rest = key.split("%", 1)
        counts[lemma.lower(), _POS_OF_SS_TYPE[rest[0]]] += int(count)
    return counts


def _senses(data_noun: Path, wanted: dict[str, list[str]]) -> dict[str, list[tuple[int, bool]]]:
    """lemma -> for each of its noun senses in order, (lexicographer file number, whether the lemma is
    written capitalised there: a proper name)."""
    by_offset: dict[str, list[str]] = defaultdict(list)
    for lemma, offsets in wanted.items():
        for off in offsets:
            by_offset[off].append(lemma)
    found: dict[tuple[str, str], tuple[int, bool]] = {}
    for line in data_noun.read_text(encoding="latin-1").splitlines():
        if line.startswith(" "):
            continue
        f = line.split()
        if f[0] not in by_offset:
            continue
        lexfile, w_cnt = int(f[1]), int(f[3], 16)
        written = {f[4 + 2 * k].lower(): f[4 + 2 * k] for k in range(w_cnt)}
        for lemma in by_offset[f[0]]:
            form = re.sub(r"\(.*\)$", "", written.get(lemma, lemma))
            found[lemma, f[0]] = (lexfile, form[:1].isupper())
    return {lemma: [found[lemma, off] for off in offsets] for lemma, offsets in wanted.items()}


def _verb_forms(wordnet: Path, verbs: dict[str, tuple[int, list[str], int]]) -> set[str]:
    """Words that are an inflected form of a verb: the irregular ones (`verb.exc`) and every regular past in
    -ed of a one-word verb lemma (stop -> stopped, dry -> dried, bore -> bored)."""
    forms = {line.split()[0] for line in (wordnet / "verb.exc").read_text(encoding="latin-1").splitlines() if line}
    for verb in (v for v in verbs if _WORD.match(v)):
        forms.update((verb + "ed", verb + "d", verb + verb[-1] + "ed"))
        if verb.endswith("y"):
            forms.add(verb[:-1] + "ied")
    return forms


def _kind(lexfile: int) -> str:
    name = LEXFILES[lexfile]
    return "thing" if name in THING_FILES else "mood" if name in ABSTRACT_FILES else "neither"


def _dominance(lemma: str, nouns: dict, others: list[dict], counts: dict[tuple[str, str], int]) -> bool:
    """Whether the noun use of `lemma` is more frequent than its verb, adjective and adverb uses."""
    noun_count = counts.get((lemma, "n"), 0)
    other_counts = [counts.get((lemma, pos), 0) for pos in ("v", "a", "r")]
    if max(other_counts) > 0 or noun_count > 0:
        return noun_count > max(other_counts)
    other_senses = max((idx[lemma][0] for idx in others if lemma in idx), default=0)
    return nouns[lemma][0] > other_senses


def build(wordnet: Path) -> dict[str, object]:
    nouns = _index(wordnet / "index.noun")
    others = [_index(wordnet / f"index.{pos}") for pos in ("verb", "adj", "adv")]
    counts = _tag_counts(wordnet / "cntlist.rev")
    single = {lemma: entry[1] for lemma, entry in nouns.items()
              if _WORD.match(lemma) and len(lemma) >= 3 and not lemma.endswith("ing")}
    senses = _senses(wordnet / "data.noun", single)
    verb_forms = _verb_forms(wordnet, others[0])
    things: dict[str, list[str]] = defaultdict(list)
    moods: dict[str, list[str]] = defaultdict(list)
    dropped: dict[str, int] = defaultdict(int)
    for lemma in sorted(single):
        lexfile, proper = senses[lemma][0]
        name = LEXFILES[lexfile]
        kinds = {_kind(lf) for lf, _ in senses[lemma]}
        if proper:
            dropped["proper name"] += 1
        elif not _dominance(lemma, nouns, others, counts):
            dropped["more often a verb, adjective or adverb"] += 1
        elif lemma in verb_forms:
            dropped["an inflected verb form"] += 1
        elif lemma.endswith("s") and any(
                s in nouns and counts.get((s, "n"), 0) > counts.get((lemma, "n"), 0)
                for s in (lemma[:-1], lemma[:-2] if lemma.endswith("es") else "", lemma[:-3] + "y")):
            dropped["plural of another lemma"] += 1
        elif nouns[lemma][2] == 0 and len(kinds) > 1:
            # no sense was ever tagged, so WordNet's sense order says nothing about frequency ("chess" lists
            # the grass before the game): only a word whose senses agree is kept
            dropped["untagged senses disagree"] += 1
        elif name in THING_FILES:
            things[name].append(lemma)
        elif name in ABSTRACT_FILES and "thing" in kinds:
            # "study", "model", "soil", "parts": abstract first, but a thing too; a mood would drop the
            # thing and its relations ("books in the study"), so the word stays unknown (named unsupported)
            dropped["abstract first sense, but also a thing"] += 1
        elif name in ABSTRACT_FILES:
            moods[name].append(lemma)
        else:
            dropped[f"noun.{name}"] += 1
    kept = {w for ws in things.values() for w in ws} | {w for ws in moods.values() for w in ws}
    plurals: dict[str, str] = {}
    for line in (wordnet / "noun.exc").read_text(encoding="latin-1").splitlines():
        f = line.split()
        if len(f) == 2 and f[1] in kept and _WORD.match(f[0]) and f[0] != f[1]:
            plurals[f[0]] = f[1]
    return {
        "source": "WordNet 3.0 (Princeton University; Debian wordnet-base 3.0), see WORDNET_LICENSE",
        "built_by": "scripts/build_lexicon.py",
        "rules": {
            "kind": "lexicographer file of the most frequent (first) noun sense",
            "things": sorted(THING_FILES), "moods": sorted(ABSTRACT_FILES),
            "left_out": ["noun.Tops", "noun.location", ("more often a verb/adjective/adverb (cntlist tag counts; "
                         "else sense counts; ties left out)"), "-ing forms", "proper names",
                         "shorter than 3 letters or not letters/inner hyphens", "plurals of another lemma",
                         "inflected verb forms (verb.exc, -ed of a verb)",
                         "untagged lemmas whose senses disagree", "multi-word lemmas",
                         "abstract first sense but some sense a thing"],
        },
        "dropped": dict(sorted(dropped.items())),
        "things": {k: things[k] for k in sorted(things)},
        "moods": {k: moods[k] for k in sorted(moods)},
        "plurals": dict(sorted(plurals.items())),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"),
                    help="folder with WordNet 3.0's index.noun, data.noun, index.verb/adj/adv, cntlist.rev, noun.exc")
    ap.add_argument("--out", type=Path, default=Path("src/limner/resources/lexicon"))
    args = ap.parse_args(argv)
    needed = ["index.noun", "data.noun", "index.verb", "index.adj", "index.adv", "cntlist.rev", "noun.exc"]
    missing = [n for n in needed if not (args.wordnet / n).is_file()]
    if missing:
        print(f"error: {args.wordnet} lacks {', '.join(missing)} (install wordnet-base)", file=sys.stderr)
        return 2
    data = build(args.wordnet)
    args.out.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(data, separators=(",", ":"), sort_keys=False).encode()
    target = args.out / "wordnet_nouns.json.gz"
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(gzip.compress(payload, compresslevel=9, mtime=0))  # mtime=0: the same bytes every build
    tmp.replace(target)
    (args.out / "WORDNET_LICENSE").write_text(LICENSE_TEXT, encoding="utf-8")
    n_things = sum(len(v) for v in data["things"].values())  # type: ignore[union-attr]
    n_moods = sum(len(v) for v in data["moods"].values())  # type: ignore[union-attr]
    print(json.dumps({"things": n_things, "moods": n_moods,
                      "plurals": len(data["plurals"]), "dropped": data["dropped"],  # type: ignore[arg-type]
                      "bytes": target.stat().st_size, "out": str(target)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
