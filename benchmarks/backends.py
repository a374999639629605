"""Real-backend overheads on tiny random diffusers pipelines: load time, call latency, memory growth.

    python benchmarks/backends.py [--json] [--quick] [--seed N] [--out DIR] [--threads N]

For each tiny pipeline kind (SD, SD-inpaint, InstructPix2Pix, SD3, FLUX, FLUX Kontext, FLUX Fill; built
from config, no download) it
measures, through the same `limner.tools.diffusers` tools the agent uses:
- `load_s`: median wall time of loading the saved pipeline from disk into the tool (after one warm-up
  load, so the figure is not the one-off import cost of torch/diffusers);
- `call_s`: median wall time of one seeded call at SIZE px with STEPS steps;
- `memory_growth_mb`: resident memory after 10 load → call → unload cycles over all kinds, minus after the
  first cycle. A leak in loading or eviction (a pipeline kept alive by a stray reference) shows up here;
  `leak_control_growth_per_cycle_mb` repeats 3 cycles with such a leak made on purpose, for scale.

The models are random and tiny, so these figures are the framework's overhead, not a real model's speed.
They are not simulated: real diffusers code runs on the CPU. One JSON object is printed on the last line
of stdout with --json; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _rss_mb() -> float:
    """Resident set size of this process in MB (Linux /proc; psutil elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import psutil

        return float(psutil.Process().memory_info().rss / 2**20)


def _trim() -> None:
    """Collect garbage and ask glibc to return freed heap pages, so RSS reflects live objects."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object on the last line of stdout")
    ap.add_argument("--quick", action="store_true", help="fewer repeats (the 10 memory cycles stay)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="where the tiny pipelines and backends.json go")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = ap.parse_args(argv)

    import diffusers
    import torch
    import transformers

    from limner.tools import diffusers as dt
    from limner.tools.diffusers import TINY_KINDS, TINY_TOOLS, build_tiny_pipeline, pipeline_cache
    from limner.types import ToolCall

    torch.set_num_threads(args.threads)
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    repeats = 3 if args.quick else 7
    cycles = 10
    size, steps = 64, 2
    tmp = tempfile.TemporaryDirectory(prefix="limner-backends-")
    root = (args.out or Path(tmp.name)) / "tiny-pipelines"

    from PIL import Image

    image = Image.new("RGB", (size, size), (30, 90, 200))
    mask = Image.new("L", (size, size), 0)
    mask.paste(255, (size // 4, size // 4, 3 * size // 4, 3 * size // 4))

    tools = {}
    for kind in TINY_KINDS:
        path = build_tiny_pipeline(kind, root / kind, seed=args.seed)
        type_, opts = TINY_TOOLS[kind]
        tools[kind] = dt.TOOL_TYPES[type_](kind, model=str(path), steps=steps, device="cpu", **opts)

    def call(kind: str, seed: int) -> None:
        tool = tools[kind]
        c = ToolCall(tool=kind, prompt="a red cube left of a blue ball", seed=seed, width=size, height=size)
        tool(c, image=image if tool.kind != "generate" else None, mask=mask if tool.kind == "inpaint" else None)

    # Warm-up: first imports and kernel selection are one-off costs, not load time.
    for kind in TINY_KINDS:
        call(kind, args.seed)
        tools[kind].unload()

    pipelines: dict[str, dict[str, float]] = {}
    for kind in TINY_KINDS:
        tool = tools[kind]
        loads, calls = [], []
        for r in range(repeats):
            tool.unload()
            t0 = time.perf_counter()
            tool.ensure_loaded()
            loads.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            call(kind, args.seed + r)
            calls.append(time.perf_counter() - t0)
        tool.unload()
        pipelines[kind] = {"load_s": round(statistics.median(loads), 4), "call_s": round(statistics.median(calls), 4)}
        _log(f"{kind}: load {pipelines[kind]['load_s']:.3f} s, call {pipelines[kind]['call_s']:.3f} s")

    rss: list[float] = []
    for cycle in range(cycles):
        for kind in TINY_KINDS:
            call(kind, args.seed + cycle)
            tools[kind].unload()
        _trim()
        rss.append(_rss_mb())
    assert not pipeline_cache().keys(), "unload must leave the cache empty"
    growth = round(rss[-1] - rss[0], 2)
    _log(f"resident memory after cycle 1: {rss[0]:.1f} MB, after cycle {cycles}: {rss[-1]:.1f} MB ({growth:+.2f} MB)")

    # Control: the same cycles while a stray reference keeps every pipeline alive (a deliberate leak),
    # to show what a real leak looks like on this scale.
    kept: list[Any] = []
    control_cycles = 3
    before = rss[-1]
    for cycle in range(control_cycles):
        for kind in TINY_KINDS:
            call(kind, args.seed + cycle)
            kept.append(pipeline_cache()._entries[tools[kind].cache_key].pipe)
            tools[kind].unload()
    _trim()
    leak_per_cycle = round((_rss_mb() - before) / control_cycles, 2)
    kept.clear()
    _trim()
    _log(f"control with a deliberate leak: {leak_per_cycle:+.2f} MB per cycle")

    report: dict[str, Any] = {
        "benchmark": "backends",
        "simulated": False,
        "config": {"kinds": list(TINY_KINDS), "size_px": size, "steps": steps, "repeats": repeats,
                   "memory_cycles": cycles, "seed": args.seed, "threads": args.threads, "device": "cpu",
                   "quick": args.quick, "models": "tiny random pipelines built from config (not real weights)"},
        "env": {"python": platform.python_version(), "torch": torch.__version__, "diffusers": diffusers.__version__,
                "transformers": transformers.__version__, "cpu_count": os.cpu_count(), "platform": platform.platform()},
        "metrics": {
            "pipelines": pipelines,
            "memory_growth_mb": float(growth),
            "memory_growth_per_cycle_mb": round(growth / (cycles - 1), 3),
            "leak_control_growth_per_cycle_mb": leak_per_cycle,
            "rss_mb_by_cycle": [round(x, 1) for x in rss],
            "pipeline_loads": pipeline_cache().loads,
        },
        "artifacts": [],
    }
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        dest = args.out / "backends.json"
        tmp_file = dest.with_suffix(".json.tmp")
        tmp_file.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        tmp_file.replace(dest)
        report["artifacts"].append(str(dest))
    tmp.cleanup()
    if args.json:
        print(json.dumps(report))
    else:
        print(json.dumps(report["metrics"], indent=2))
    return report


if __name__ == "__main__":
    main()
