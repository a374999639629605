"""How much a change to the world's renderer changes its faithful renders and their truth (SIMULATED).

    PYTHONPATH=src python scripts/world_render_diff.py record --out new.json --scenes 200 --p-text 1
    git worktree add /tmp/old <commit> && PYTHONPATH=/tmp/old/src python scripts/world_render_diff.py record \
        --out old.json --scenes 200 --p-text 1
    python scripts/world_render_diff.py compare old.json new.json

`record` renders `world.random_scene` scenes (every predicate the world draws; `--p-text` of them carrying a
text) with `render.render_scene` and writes each picture's pixel hash and its truth verdicts; `compare`
counts the pictures and verdicts that differ and lists the changed checks. Used for the session-42 change
that writes a text at its carrier's depth (docs/checker.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np


def record(out: Path, scenes: int, p_text: float, seed: int) -> None:
    # imported here: `compare` runs without limner (on two recordings made by two checkouts)
    from limner.tools.sandbox.render import render_scene  # noqa: PLC0415
    from limner.tools.sandbox.world import WORLD_PREDICATES, grade_truth, random_scene  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(scenes):
        scene = random_scene(rng, predicates=WORLD_PREDICATES, p_relation=0.7, p_text=p_text)
        image, truth = render_scene(scene, seed=i)
        rows.append({"prompt": scene.prompt, "hash": hashlib.sha256(np.asarray(image).tobytes()).hexdigest(),
                     "checks": [[c.kind, c.target, c.passed] for c in grade_truth(scene, truth)]})
    out.write_text(json.dumps(rows))
    print(f"{scenes} renders recorded in {out}")


def compare(a: Path, b: Path) -> None:
    old, new = json.loads(a.read_text()), json.loads(b.read_text())
    if [r["prompt"] for r in old] != [r["prompt"] for r in new]:
        raise SystemExit("error: the two files hold different scenes (another --seed, --scenes or --p-text?)")
    pictures = sum(o["hash"] != n["hash"] for o, n in zip(old, new, strict=True))
    changed = [(i, o["prompt"], [c for c, d in zip(n["checks"], o["checks"]) if c != d])
               for i, (o, n) in enumerate(zip(old, new, strict=True)) if o["checks"] != n["checks"]]
    print(f"{len(old)} scenes: {pictures} pictures differ, {len(changed)} truth verdicts differ")
    for i, prompt, checks in changed:
        print(f"  {i}: {prompt}\n     now: {checks}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="render random scenes and write their hashes and truth verdicts")
    rec.add_argument("--out", type=Path, required=True)
    rec.add_argument("--scenes", type=int, default=200)
    rec.add_argument("--p-text", type=float, default=1.0, help="share of scenes carrying a text")
    rec.add_argument("--seed", type=int, default=7)
    cmp_ = sub.add_parser("compare", help="count what differs between two recordings")
    cmp_.add_argument("a", type=Path)
    cmp_.add_argument("b", type=Path)
    args = p.parse_args()
    if args.command == "record":
        record(args.out, args.scenes, args.p_text, args.seed)
    else:
        compare(args.a, args.b)


if __name__ == "__main__":
    main()
