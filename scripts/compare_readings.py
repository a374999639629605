"""Dump the reader's readings of prompt lists, or compare two dumps (to read what a reader change changed).

    PYTHONPATH=src python scripts/compare_readings.py dump benchmarks/data/t2i-compbench/*_train.txt --out a.jsonl
    (change the reader)
    PYTHONPATH=src python scripts/compare_readings.py dump benchmarks/data/t2i-compbench/*_train.txt --out b.jsonl
    python scripts/compare_readings.py diff a.jsonl b.jsonl --sample 30 --seed 0

`diff` prints how many prompts' readings changed (elements, moods, background, unsupported) and a seeded
random sample of them, before and after, for a person to read.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from limner.reading.prompt import parse_prompt


def _reading(prompt: str) -> dict[str, object]:
    scene = parse_prompt(prompt)
    return {
        "prompt": prompt,
        "elements": [f"{e.noun}={e.cls}x{e.count}" + (f" q{e.qualities}" if e.qualities else "")
                     + (f" s{e.states}" if e.states else "") + (f" p{e.parts}" if e.parts else "")
                     for e in scene.elements],
        "relations": [f"{r.subject} {r.predicate} {r.object}" for r in scene.relations],
        "moods": list(scene.moods),
        "background": scene.background,
        "unsupported": list(scene.unsupported),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    dump = sub.add_parser("dump")
    dump.add_argument("lists", nargs="+", type=Path)
    dump.add_argument("--out", type=Path, required=True)
    diff = sub.add_parser("diff")
    diff.add_argument("before", type=Path)
    diff.add_argument("after", type=Path)
    diff.add_argument("--sample", type=int, default=30)
    diff.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.cmd == "dump":
        prompts = [line.strip() for f in args.lists for line in f.read_text().splitlines() if line.strip()]
        args.out.write_text("".join(json.dumps(_reading(p)) + "\n" for p in prompts))
        print(json.dumps({"prompts": len(prompts), "out": str(args.out)}))
        return 0
    before = [json.loads(line) for line in args.before.read_text().splitlines()]
    after = [json.loads(line) for line in args.after.read_text().splitlines()]
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    print(json.dumps({"prompts": len(before), "changed": len(changed),
                      "newly_fully_supported": sum(bool(b["unsupported"]) and not a["unsupported"] for b, a in changed),
                      "newly_unsupported": sum(not b["unsupported"] and bool(a["unsupported"]) for b, a in changed)}))
    for b, a in random.Random(args.seed).sample(changed, min(args.sample, len(changed))):
        print(f"\n# {b['prompt']}")
        for key in ("elements", "relations", "moods", "background", "unsupported"):
            if b[key] != a[key]:
                print(f"  {key}:\n    before {b[key]}\n    after  {a[key]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
