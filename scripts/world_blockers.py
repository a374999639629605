"""Which undrawable classes (and, with --kinds, which kinds of part) keep T2I-CompBench prompts from being world-supported.

    PYTHONPATH=src python scripts/world_blockers.py [--split train|heldout] [--top 30] [--kinds]
    PYTHONPATH=src python scripts/world_blockers.py --by-category [--json]
    PYTHONPATH=src python scripts/world_blockers.py --words [--top 30]

A prompt is world-supported when `checker.unjudged_parts` is empty. For every prompt that is not, this
counts the classes it names that the sandbox cannot draw (`blocking`), and separately the class when it is
the prompt's only undrawable one and drawing it would make the prompt world-supported (`sole`): the
prompts one new class would win. Used to choose the classes of issue #23.

`--by-category` gives, per prompt list, the share supported now and two ceilings: with every part drawn and
judged but the abstract ones (moods, states, qualities, style), and with states and qualities proxied too
(only moods and style left). They show which categories no class or relation work can bring to a given rate.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from limner.reading.prompt import parse_prompt
from limner.tools.sandbox.artwork import CLASS_ART
from limner.tools.sandbox.checker import unjudged_parts

REPO = Path(__file__).resolve().parents[1]


def blockers(directory: Path, split: str) -> tuple[Counter[str], Counter[str]]:
    """(blocking, sole) counts over the split's prompt lists (`*_train.txt` or `*_val.txt`)."""
    blocking: Counter[str] = Counter()
    sole: Counter[str] = Counter()
    drawable = set(CLASS_ART)
    for prompt in prompts(directory, split):
        scene = parse_prompt(prompt)
        if not unjudged_parts(scene):
            continue
        missing = {e.cls for e in scene.elements if e.cls not in drawable}
        blocking.update(missing)
        if len(missing) == 1 and not unjudged_parts(scene, drawable | missing):
            sole.update(missing)
    return blocking, sole


def prompts(directory: Path, split: str) -> Iterator[str]:
    """Every prompt of the split's lists (`*_train.txt`, or `*_val.txt` for heldout), in file order."""
    for f in _lists(directory, split):
        yield from _lines(f)


def _lists(directory: Path, split: str) -> list[Path]:
    """The split's prompt lists: `*_train.txt`, or `*_val.txt` for heldout."""
    return sorted(directory.glob(f"*{_suffix(split)}.txt"))


def _suffix(split: str) -> str:
    return "_val" if split == "heldout" else "_train"


#: (kind, pattern on an `unjudged_parts` reason with its element/relation id prefix removed), first match wins.
PART_KINDS: list[tuple[str, str]] = [
    ("background", r"^background"), ("style", r"^(second )?style"), ("mood", r"^mood"), ("state", r"^state"),
    ("quality", r"^quality"), ("part", r"^part"), ("class", r"cannot draw or see|draws '"),
    ("unknown object", r"not in the vocabulary"), ("relation", r"relation|arrangement"),
    ("words", r"^words|without quoted"), ("size", r"^size"), ("position", r"^absolute position"),
    ("attribute", r"^attribute"),
]
#: Kinds no drawing can make checkable from pixels in the sandbox: they need a proxy or another judge.
ABSTRACT_KINDS = frozenset({"mood", "state", "quality", "style"})


def part_kind(reason: str) -> str:
    """The kind of one `unjudged_parts` reason (`other` when no pattern matches)."""
    text = re.sub(r"^[\w:]+: ", "", reason)
    return next((kind for kind, pattern in PART_KINDS if re.search(pattern, text)), "other")


@dataclass
class KindsReport:
    prompts: int
    world_supported: float
    ceiling_without_abstract: float  # supported if every part not of `ABSTRACT_KINDS` were drawn and judged
    blocking: Counter[str]  # kind -> prompts it blocks
    sole: Counter[str]  # kind -> prompts it alone blocks
    ceiling_without_moods: float = 0.0  # ... states and qualities too: only moods (and style) left unjudged


def kinds_report(directory: Path, split: str) -> KindsReport:
    """Per kind of unjudged part: prompts it blocks, prompts it alone blocks; and the non-abstract ceiling."""
    return _kinds_of([_kinds(p) for p in prompts(directory, split)])


def kinds_by_list(directory: Path, split: str) -> dict[str, KindsReport]:
    """`kinds_report` for each prompt list of the split (its category: `colour`, `non_spatial`...) and for all
    of them (`all`). The per-list ceilings say which categories a pixel world can bring to a support rate at
    all: a prompt with a mood in it is not world-supported however many classes and relations are drawn."""
    per_list = {f.name.removesuffix(f"{_suffix(split)}.txt"): [_kinds(p) for p in _lines(f)]
                for f in _lists(directory, split)}
    out = {name: _kinds_of(kinds) for name, kinds in per_list.items()}
    out["all"] = _kinds_of([k for kinds in per_list.values() for k in kinds])  # each prompt read once
    return out


#: What is left unjudged in the last ceiling: words no drawing and no proxy shows (`mood`: 'a testament to',
#: 'a touch of elegance'), and the style, which the checker has no eyes for.
MOOD_KINDS = frozenset({"mood", "style"})


def _kinds(prompt: str) -> set[str]:
    """The kinds of the parts of `prompt` the sandbox does not judge (empty: world-supported)."""
    return {part_kind(r) for r in unjudged_parts(parse_prompt(prompt))}


def _kinds_of(prompt_kinds: list[set[str]]) -> KindsReport:
    total = supported = ceiling = no_moods = 0
    blocking: Counter[str] = Counter()
    sole: Counter[str] = Counter()
    for kinds in prompt_kinds:
        total += 1
        supported += not kinds
        ceiling += not (kinds & ABSTRACT_KINDS)
        no_moods += not (kinds & MOOD_KINDS)
        blocking.update(kinds)
        if len(kinds) == 1:
            sole.update(kinds)
    n = max(1, total)
    return KindsReport(total, supported / n, ceiling / n, blocking, sole, no_moods / n)


def abstract_words(directory: Path, split: str) -> dict[str, Counter[str]]:
    """Per abstract kind (mood, state, quality): how often each word is named unjudged over the split's
    prompts. How many distinct words a proxy would have to draw."""
    out: dict[str, Counter[str]] = {k: Counter() for k in ("mood", "state", "quality")}
    for prompt in prompts(directory, split):
        for reason in unjudged_parts(parse_prompt(prompt)):
            kind = part_kind(reason)
            if kind in out and (word := re.search(r"'([^']+)'", reason)) is not None:
                out[kind][word.group(1)] += 1
    return out


def _lines(f: Path) -> Iterator[str]:
    yield from (line.strip() for line in f.read_text(encoding="utf-8").splitlines() if line.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, default=REPO / "benchmarks/data/t2i-compbench")
    ap.add_argument("--split", choices=("train", "heldout"), default="train")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--kinds", action="store_true", help="count blockers by kind of part, with the ceiling")
    ap.add_argument("--by-category", action="store_true",
                    help="per prompt list: supported, the ceilings without abstract parts and without moods")
    ap.add_argument("--json", action="store_true", help="with --by-category: print JSON")
    ap.add_argument("--words", action="store_true",
                    help="the mood, state and quality words named unjudged: how many, the most named")
    args = ap.parse_args()
    if not args.dir.is_dir():
        raise SystemExit(f"no prompt lists in {args.dir}")
    if args.words:
        for kind, words in abstract_words(args.dir, args.split).items():
            print(f"{kind}: {len(words)} distinct words, named {sum(words.values())} times; most named: "
                  + ", ".join(f"{w} {n}" for w, n in words.most_common(args.top)))
        return
    if args.by_category:
        reports = kinds_by_list(args.dir, args.split)
        rows = {name: {"prompts": r.prompts, "world_supported": round(r.world_supported, 3),
                       "ceiling_without_abstract": round(r.ceiling_without_abstract, 3),
                       "ceiling_without_moods": round(r.ceiling_without_moods, 3)}
                for name, r in reports.items()}
        if args.json:
            print(json.dumps({"split": args.split, "simulated": True, "categories": rows}, indent=2))
            return
        print(f"{'list':<12} {'prompts':>7} {'supported':>9} {'no abstract':>11} {'no moods':>8}")
        for name, row in rows.items():
            print(f"{name:<12} {row['prompts']:>7} {row['world_supported']:>9.3f} "
                  f"{row['ceiling_without_abstract']:>11.3f} {row['ceiling_without_moods']:>8.3f}")
        return
    if args.kinds:
        r = kinds_report(args.dir, args.split)
        print(f"{r.prompts} prompts; world supported {r.world_supported:.3f}; if every part not of kinds "
              f"{sorted(ABSTRACT_KINDS)} were drawn and judged: {r.ceiling_without_abstract:.3f}")
        print("blocking:", ", ".join(f"{k} {n}" for k, n in r.blocking.most_common()))
        print("sole:", ", ".join(f"{k} {n}" for k, n in r.sole.most_common()))
        return
    blocking, sole = blockers(args.dir, args.split)
    print("blocking:", ", ".join(f"{c} {n}" for c, n in blocking.most_common(args.top)))
    print("sole:", ", ".join(f"{c} {n}" for c, n in sole.most_common(args.top)))


if __name__ == "__main__":
    main()
