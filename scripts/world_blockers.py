"""Which undrawable classes keep the most T2I-CompBench prompts from being world-supported.

    PYTHONPATH=src python scripts/world_blockers.py [--split train|heldout] [--top 30]

A prompt is world-supported when `checker.unjudged_parts` is empty. For every prompt that is not, this
counts the classes it names that the sandbox cannot draw (`blocking`), and separately the class when it is
the prompt's only undrawable one and drawing it would make the prompt world-supported (`sole`): the
prompts one new class would win. Used to choose the classes of issue #23.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from limner.reading.prompt import parse_prompt
from limner.tools.sandbox.artwork import CLASS_ART
from limner.tools.sandbox.checker import unjudged_parts

REPO = Path(__file__).resolve().parents[1]


def blockers(directory: Path, split: str) -> tuple[Counter[str], Counter[str]]:
    """(blocking, sole) counts over the split's prompt lists (`*_train.txt` or `*_val.txt`)."""
    suffix = "_val" if split == "heldout" else "_train"
    blocking: Counter[str] = Counter()
    sole: Counter[str] = Counter()
    drawable = set(CLASS_ART)
    for f in sorted(directory.glob(f"*{suffix}.txt")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            scene = parse_prompt(line.strip())
            if not unjudged_parts(scene):
                continue
            missing = {e.cls for e in scene.elements if e.cls not in drawable}
            blocking.update(missing)
            if len(missing) == 1 and not unjudged_parts(scene, drawable | missing):
                sole.update(missing)
    return blocking, sole


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, default=REPO / "benchmarks/data/t2i-compbench")
    ap.add_argument("--split", choices=("train", "heldout"), default="train")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()
    if not args.dir.is_dir():
        raise SystemExit(f"no prompt lists in {args.dir}")
    blocking, sole = blockers(args.dir, args.split)
    print("blocking:", ", ".join(f"{c} {n}" for c, n in blocking.most_common(args.top)))
    print("sole:", ", ".join(f"{c} {n}" for c, n in sole.most_common(args.top)))


if __name__ == "__main__":
    main()
