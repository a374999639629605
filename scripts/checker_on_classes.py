"""Does the sandbox checker pass faithful renders of world-supported prompts that name given classes?

    PYTHONPATH=src python scripts/checker_on_classes.py                 # prompts naming an issue-#23 class
    PYTHONPATH=src python scripts/checker_on_classes.py --without       # the rest: the base rate to compare
    PYTHONPATH=src python scripts/checker_on_classes.py --classes locket,zucchini --n 200  # some classes

Samples `--n` world-supported T2I-CompBench train prompts (seeded shuffle), draws each faithfully
(`render.render_scene`, so the picture is right by construction) and counts how many the checker passes
(`checker.check_image`, no OCR). Every failure is then the checker's (or the drawing's) fault: a new class
that hid its neighbours or was taken for another would show up here. SIMULATED: sandbox pictures only.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from limner.reading.prompt import parse_prompt
from limner.tools.sandbox.checker import check_image, unjudged_parts
from limner.tools.sandbox.drawings import DRAWINGS
from limner.tools.sandbox.render import render_scene

REPO = Path(__file__).resolve().parents[1]
#: Issue #23's classes: its OpenMoji glyphs and every drawn class of `drawings.py`.
NEW_CLASSES = frozenset({"lizard", "flamingo", "soap", "ruler", "paintbrush", "tire", "cabinet", "sculpture",
                         *DRAWINGS})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, default=REPO / "benchmarks/data/t2i-compbench")
    ap.add_argument("--without", action="store_true", help="prompts naming none of the classes instead")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--classes", default="", help="comma-separated classes (default: all of them)")
    args = ap.parse_args()
    wanted = frozenset(c.strip() for c in args.classes.split(",") if c.strip()) or NEW_CLASSES
    if not args.dir.is_dir():
        raise SystemExit(f"no prompt lists in {args.dir}")
    picked = []
    for f in sorted(args.dir.glob("*_train.txt")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            scene = parse_prompt(line.strip())
            names = any(e.cls in wanted for e in scene.elements)
            if not unjudged_parts(scene) and names != args.without:
                picked.append((f.stem, line.strip(), scene))
    print(f"world-supported train prompts {'without' if args.without else 'with'} one of the classes: {len(picked)}")
    random.Random(args.seed).shuffle(picked)
    passed, t0 = 0, time.time()
    for cat, prompt, scene in picked[: args.n]:
        image, _ = render_scene(scene, seed=args.seed, width=320, height=320)
        verdict = check_image(image, scene, ocr=False)
        passed += verdict.passed
        if not verdict.passed:
            print(f"  fails [{cat}] {prompt!r}: {[c.evidence for c in verdict.failed][:2]}")
    n = min(args.n, len(picked))
    print(f"faithful renders the checker passes: {passed}/{n} ({passed / max(1, n):.3f}) in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
