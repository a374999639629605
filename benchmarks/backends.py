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

from PIL import Image

from limner.tools import diffusers as dt
from limner.tools.base import Tool
from limner.types import ToolCall

# The tiny pipelines are test fixtures (tests/tiny_pipelines.py): one copy serves the tests and this script.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

SIZE, STEPS, CYCLES, CONTROL_CYCLES = 64, 2, 10, 3
PROMPT = "a red cube left of a blue ball"


def _rss_mb() -> float:
    """Resident set size of this process in MB (Linux /proc; psutil elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import psutil  # noqa: PLC0415 - only where /proc is missing; not a dependency elsewhere

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


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object on the last line of stdout")
    ap.add_argument("--quick", action="store_true", help="fewer repeats (the 10 memory cycles stay)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="where the tiny pipelines and backends.json go")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    return ap.parse_args(argv)


class _Bench:
    """The tiny tools, their inputs and the seeded call every measurement makes."""

    def __init__(self, root: Path, seed: int) -> None:
        # the fixtures import torch and diffusers (seconds): only once the arguments are parsed
        from tiny_pipelines import TINY_KINDS, TINY_TOOLS, build_tiny_pipeline  # noqa: PLC0415

        self.kinds, self.cache = TINY_KINDS, dt.pipeline_cache()
        self.image = Image.new("RGB", (SIZE, SIZE), (30, 90, 200))
        self.mask = Image.new("L", (SIZE, SIZE), 0)
        self.mask.paste(255, (SIZE // 4, SIZE // 4, 3 * SIZE // 4, 3 * SIZE // 4))
        self.tools: dict[str, Tool] = {}
        for kind in TINY_KINDS:
            path = build_tiny_pipeline(kind, root / kind, seed=seed)
            type_, opts = TINY_TOOLS[kind]
            self.tools[kind] = dt.TOOL_TYPES[type_](kind, model=str(path), steps=STEPS, device="cpu", **opts)

    def call(self, kind: str, seed: int) -> None:
        tool = self.tools[kind]
        c = ToolCall(tool=kind, prompt=PROMPT, seed=seed, width=SIZE, height=SIZE)
        tool(c, image=self.image if tool.kind != "generate" else None,
             mask=self.mask if tool.kind == "inpaint" else None)

    def cycle(self, seed: int) -> None:
        """Load → call → unload every kind once."""
        for kind in self.kinds:
            self.call(kind, seed)
            self.tools[kind].unload()


def _time_pipelines(bench: _Bench, seed: int, repeats: int) -> dict[str, dict[str, float]]:
    """Median load and call time per kind, after one warm-up cycle."""
    bench.cycle(seed)  # warm-up: first imports and kernel selection are one-off costs, not load time
    pipelines: dict[str, dict[str, float]] = {}
    for kind in bench.kinds:
        tool = bench.tools[kind]
        loads, calls = [], []
        for r in range(repeats):
            tool.unload()
            t0 = time.perf_counter()
            tool.ensure_loaded()
            loads.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            bench.call(kind, seed + r)
            calls.append(time.perf_counter() - t0)
        tool.unload()
        pipelines[kind] = {"load_s": round(statistics.median(loads), 4), "call_s": round(statistics.median(calls), 4)}
        _log(f"{kind}: load {pipelines[kind]['load_s']:.3f} s, call {pipelines[kind]['call_s']:.3f} s")
    return pipelines


def _memory_by_cycle(bench: _Bench, seed: int) -> list[float]:
    """Resident memory after each of CYCLES load → call → unload cycles over all kinds."""
    rss: list[float] = []
    for cycle in range(CYCLES):
        bench.cycle(seed + cycle)
        _trim()
        rss.append(_rss_mb())
    assert not bench.cache.keys(), "unload must leave the cache empty"
    growth = round(rss[-1] - rss[0], 2)
    _log(f"resident memory after cycle 1: {rss[0]:.1f} MB, after cycle {CYCLES}: {rss[-1]:.1f} MB ({growth:+.2f} MB)")
    return rss


def _leak_control(bench: _Bench, seed: int, before: float) -> float:
    """MB per cycle when a stray reference keeps every pipeline alive (a deliberate leak), for scale."""
    kept: list[Any] = []
    for cycle in range(CONTROL_CYCLES):
        for kind in bench.kinds:
            bench.call(kind, seed + cycle)
            kept.append(bench.cache._entries[bench.tools[kind].cache_key].pipe)
            bench.tools[kind].unload()
    _trim()
    leak_per_cycle = round((_rss_mb() - before) / CONTROL_CYCLES, 2)
    kept.clear()
    _trim()
    _log(f"control with a deliberate leak: {leak_per_cycle:+.2f} MB per cycle")
    return leak_per_cycle


def _write(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    dest = out / "backends.json"
    tmp_file = dest.with_suffix(".json.tmp")
    tmp_file.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    tmp_file.replace(dest)
    report["artifacts"].append(str(dest))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _args(argv)
    # optional and heavy (the diffusers extra): imported once the arguments are known to be valid
    import diffusers  # noqa: PLC0415
    import torch  # noqa: PLC0415
    import transformers  # noqa: PLC0415

    torch.set_num_threads(args.threads)
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    repeats = 3 if args.quick else 7
    tmp = tempfile.TemporaryDirectory(prefix="limner-backends-")
    bench = _Bench((args.out or Path(tmp.name)) / "tiny-pipelines", args.seed)
    pipelines = _time_pipelines(bench, args.seed, repeats)
    rss = _memory_by_cycle(bench, args.seed)
    growth = round(rss[-1] - rss[0], 2)
    leak_per_cycle = _leak_control(bench, args.seed, rss[-1])

    report: dict[str, Any] = {
        "benchmark": "backends",
        "simulated": False,
        "config": {"kinds": list(bench.kinds), "size_px": SIZE, "steps": STEPS, "repeats": repeats,
                   "memory_cycles": CYCLES, "seed": args.seed, "threads": args.threads, "device": "cpu",
                   "quick": args.quick, "models": "tiny random pipelines built from config (not real weights)"},
        "env": {"python": platform.python_version(), "torch": torch.__version__, "diffusers": diffusers.__version__,
                "transformers": transformers.__version__, "cpu_count": os.cpu_count(), "platform": platform.platform()},
        "metrics": {
            "pipelines": pipelines,
            "memory_growth_mb": float(growth),
            "memory_growth_per_cycle_mb": round(growth / (CYCLES - 1), 3),
            "leak_control_growth_per_cycle_mb": leak_per_cycle,
            "rss_mb_by_cycle": [round(x, 1) for x in rss],
            "pipeline_loads": bench.cache.loads,
        },
        "artifacts": [],
    }
    if args.out:
        _write(report, args.out)
    tmp.cleanup()
    print(json.dumps(report) if args.json else json.dumps(report["metrics"], indent=2))
    return report


if __name__ == "__main__":
    main()
