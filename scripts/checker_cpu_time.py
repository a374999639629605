"""CPU time of a warm pixel-only check (no OCR) on painted images of random benchmark scenes (SIMULATED).

Wall time on the shared machine moves with its load; the CPU time of one process (`time.process_time`) much
less, so code before and after a change can be compared in two runs, each with its own `PYTHONPATH`:

    PYTHONPATH=src python scripts/checker_cpu_time.py --images 20 --out /tmp/cpu_images   # draws, then times
    PYTHONPATH=/path/to/other/src python scripts/checker_cpu_time.py --images 20 --out /tmp/cpu_images --reuse

`--reuse --out DIR` also times the pictures `scripts/checker_regression.py record` saved (painted and edited).
The images are drawn by the sandbox painters in turn (`random_scene` with `WORLD_PREDICATES`, as
`benchmarks/sandbox.py`'s painted section does, seed `--seed`), saved with their scenes, and each is checked
once to warm the template caches before it is timed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from limner.config import load_config
from limner.tools.registry import ToolRegistry
from limner.tools.sandbox.checker import check_image
from limner.tools.sandbox.world import WORLD_PREDICATES, random_scene
from limner.types import Scene, ToolCall


def draw(n: int, seed: int, out: Path) -> None:
    painters = ToolRegistry.from_config(load_config("sandbox")).tools(kind="generate")
    rng = np.random.default_rng([seed, 22])
    out.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        scene = random_scene(rng, predicates=WORLD_PREDICATES, p_relation=0.7, p_shape=0.25)
        p = painters[i % len(painters)]
        res = p(ToolCall(tool=p.name, prompt=scene.prompt, seed=i, width=512, height=512))
        res.image.save(out / f"{i:03d}.png")
        (out / f"{i:03d}.json").write_text(scene.model_dump_json())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, required=True, help="where the painted images (and scenes) are kept")
    ap.add_argument("--reuse", action="store_true", help="time the images already in --out")
    a = ap.parse_args(argv)
    if not a.reuse:
        draw(a.images, a.seed, a.out)
    files = sorted(a.out.glob("*.png"))[: a.images]
    items = [(Image.open(f).convert("RGB"), Scene.model_validate_json(f.with_suffix(".json").read_text())) for f in files]
    for image, scene in items:
        check_image(image, scene, ocr=False)  # warm the template caches
    ms = []
    for image, scene in items:
        t = time.process_time()
        check_image(image, scene, ocr=False)
        ms.append((time.process_time() - t) * 1000)
    v = np.asarray(ms)
    print(f"n={len(v)} median {np.median(v):.0f} ms, p90 {np.percentile(v, 90):.0f} ms, p95 {np.percentile(v, 95):.0f} ms, "
          f"mean {v.mean():.0f} ms (CPU time of a warm check, no OCR)")


if __name__ == "__main__":
    main()
