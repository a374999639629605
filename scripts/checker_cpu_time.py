"""CPU time of a warm pixel-only check (no OCR) on painted images of random benchmark scenes (SIMULATED).

Wall time on the shared machine moves with its load; the CPU time of one process (`time.process_time`) much
less, so code before and after a change can be compared in two runs, each with its own `PYTHONPATH`:

    PYTHONPATH=src python scripts/checker_cpu_time.py --images 20 --out /tmp/cpu_images   # draws, then times
    PYTHONPATH=/path/to/other/src python scripts/checker_cpu_time.py --images 20 --out /tmp/cpu_images --reuse

`--reuse --out DIR` also times the pictures `scripts/checker_regression.py record` saved (painted and edited).

Two runs at different moments see different loads. `--against OTHER/src` times both sources in one run
instead: two worker processes (this `PYTHONPATH`'s sources and OTHER's) each load and warm every image,
then time image by image, taking turns (one works while the other waits), and the paired ratio
(other / this, per image) is printed beside both rows:

    PYTHONPATH=src python scripts/checker_cpu_time.py --images 60 --out /tmp/checker_reg --reuse \
        --against /path/to/before/src
The images are drawn by the sandbox painters in turn (`random_scene` with `WORLD_PREDICATES`, as
`benchmarks/sandbox.py`'s painted section does, seed `--seed`), saved with their scenes, and each is checked
once to warm the template caches before it is timed.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

import limner
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


def _items(out: Path, n: int) -> list[tuple[Image.Image, Scene]]:
    files = sorted(out.glob("*.png"))[:n]
    return [(Image.open(f).convert("RGB"), Scene.model_validate_json(f.with_suffix(".json").read_text())) for f in files]


def _row(name: str, ms: list[float]) -> str:
    v = np.asarray(ms)
    return (f"{name}n={len(v)} median {np.median(v):.0f} ms, p90 {np.percentile(v, 90):.0f} ms, "
            f"p95 {np.percentile(v, 95):.0f} ms, mean {v.mean():.0f} ms (CPU time of a warm check, no OCR)")


def _serve(out: Path, n: int) -> None:
    """Worker of `--against`: warm every image, say "ready", then time the image whose index comes on stdin."""
    items = _items(out, n)
    for image, scene in items:
        check_image(image, scene, ocr=False)
    print(f"ready {len(items)}", flush=True)
    for line in sys.stdin:
        image, scene = items[int(line)]
        t = time.process_time()
        check_image(image, scene, ocr=False)
        print(f"{(time.process_time() - t) * 1000:.3f}", flush=True)


def _paired(out: Path, n: int, other: Path) -> None:
    """Time every image with this process's sources and with `other`'s, in two workers taking turns."""
    mine = Path(limner.__file__).resolve().parents[1]
    workers = {}
    for name, src in (("this", mine), ("other", other.resolve())):
        env = {**os.environ, "PYTHONPATH": str(src)}
        workers[name] = subprocess.Popen(
            [sys.executable, __file__, "--worker", "--images", str(n), "--out", str(out)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    counts = set()
    for name, w in workers.items():
        assert w.stdout is not None
        line = w.stdout.readline().split()
        if not line or line[0] != "ready":
            raise SystemExit(f"the {name} worker did not start (sources: {mine if name == 'this' else other})")
        counts.add(int(line[1]))
    if len(counts) != 1:
        raise SystemExit(f"the workers found different image counts: {counts}")
    ms: dict[str, list[float]] = {"this": [], "other": []}
    for i in range(counts.pop()):
        order = ("this", "other") if i % 2 == 0 else ("other", "this")
        for name in order:
            w = workers[name]
            assert w.stdin is not None and w.stdout is not None
            w.stdin.write(f"{i}\n")
            w.stdin.flush()
            ms[name].append(float(w.stdout.readline()))
    for w in workers.values():
        assert w.stdin is not None
        w.stdin.close()
        w.wait()
    print(_row(f"this ({mine}): ", ms["this"]))
    print(_row(f"other ({other}): ", ms["other"]))
    a, b = np.asarray(ms["this"]), np.asarray(ms["other"])
    print(f"other / this: median of per-image ratios {np.median(b / a):.2f}, ratio of medians "
          f"{np.median(b) / np.median(a):.2f}, of p90s {np.percentile(b, 90) / np.percentile(a, 90):.2f}, "
          f"of means {b.mean() / a.mean():.2f}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, required=True, help="where the painted images (and scenes) are kept")
    ap.add_argument("--reuse", action="store_true", help="time the images already in --out")
    ap.add_argument("--against", type=Path, help="another checkout's src/: time both in one run, taking turns")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="also print cProfile's N most costly functions of the timed pass (own time, and cumulative)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        _serve(a.out, a.images)
        return
    if not a.reuse:
        draw(a.images, a.seed, a.out)
    if a.against is not None:
        _paired(a.out, a.images, a.against)
        return
    items = _items(a.out, a.images)
    for image, scene in items:
        check_image(image, scene, ocr=False)  # warm the template caches
    ms = []
    prof = cProfile.Profile() if a.profile else None
    for image, scene in items:
        if prof is not None:
            prof.enable()
        t = time.process_time()
        check_image(image, scene, ocr=False)
        ms.append((time.process_time() - t) * 1000)
        if prof is not None:
            prof.disable()
    print(_row("", ms) + (" -- under cProfile, so slower than without" if prof is not None else ""))
    if prof is not None:
        stats = pstats.Stats(prof)
        stats.sort_stats("tottime").print_stats(a.profile)
        stats.sort_stats("cumulative").print_stats(a.profile)


if __name__ == "__main__":
    main()
