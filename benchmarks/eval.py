"""Benchmark the evaluation harness (`limner eval`) on the sandbox world — SIMULATED (no real model).

    python benchmarks/eval.py --json            # full: every painter and the agent on the shipped GenEval dev
                                                # metadata, 8 T2I-CompBench categories, resume, shards, throughput
    python benchmarks/eval.py --json --quick    # small: 12 GenEval prompts, 3 CompBench prompts per category

Metrics (shared/BENCHMARKS.md):
- `geneval`: {runner: {tag: accuracy, "overall": x}} for every sandbox painter alone and the agent (`agent`),
  judged by the pixel checker against GenEval's metadata; `geneval_truth` the same by the world's truth.
- `layout_ok`: {"geneval": every run's folder read as GenEval's evaluate_images.py reads it,
  "t2i_compbench": every category's samples/ read as T2I-CompBench's scripts read it}.
- `t2i_compbench`: per category the agent's score, pass rate, prompts fully read.
- `resume`: a CLI run SIGKILLed at ~50 % and re-run: `redone` (images finished before the kill drawn again),
  `lost` (items missing at the end), `identical` (scores equal to an uninterrupted run's).
- `shards_identical`: two shards merged score byte-for-byte like the unsharded run.
- `throughput`: images per minute with 1 and 2 local worker processes, their ratio, and Ray (a local cluster
  the benchmark starts, 2 CPUs) — wall time including start-up of workers (spawn) and of Ray.
- `compare_refuses_mismatch`: `compare` refuses two runs with different images per prompt.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import limner
from limner.config import load_config
from limner.eval import (
    COMPBENCH_CATEGORIES,
    CompBenchSuite,
    EvalJob,
    ExecutorError,
    GenEvalSuite,
    LocalExecutor,
    RayExecutor,
    compare_runs,
    load_records,
    load_run,
    make_executor,
    run_eval,
    score_records,
)
from limner.eval.report import plot_report, published_rows, report_markdown
from limner.files import atomic_write_bytes, atomic_write_text

REPO = Path(__file__).resolve().parents[1]
METADATA = REPO / "src/limner/resources/geneval_metadata_dev.jsonl"
COMPBENCH = REPO / "benchmarks/data/t2i-compbench"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def subset(path: Path, n: int | None, out: Path) -> Path:
    """The first `n` lines of a prompt list (all when None), as a file of its own."""
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if n is not None:
        lines = lines[:n]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def quick_metadata(path: Path, per_tag: int, out: Path) -> Path:
    rows, seen = [], {}
    for line in path.read_text(encoding="utf-8").splitlines():
        tag = json.loads(line)["tag"]
        if seen.get(tag, 0) < per_tag:
            seen[tag] = seen.get(tag, 0) + 1
            rows.append(line)
    out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return out


def geneval_runs(meta: Path, root: Path, n: int, workers: int, rounds: int) -> dict[str, Any]:

    cfg = load_config("sandbox")
    suite = GenEvalSuite(meta)
    painters = [t.name for t in cfg.tools if t.type == "painter"]
    acc: dict[str, Any] = {}
    truth: dict[str, Any] = {}
    layout: dict[str, list[str]] = {}
    times: dict[str, float] = {}
    executor = make_executor(workers)
    try:
        for runner in [*painters, "agent"]:
            kw: dict[str, Any] = {"agent": True, "rounds": rounds} if runner == "agent" else {"generator": runner}
            job = EvalJob.build(suite, cfg, images_per_prompt=n, **kw)
            out = root / runner
            t0 = time.perf_counter()
            run_eval(job, suite, out, executor=executor)
            times[runner] = time.perf_counter() - t0
            run = load_run([out])
            s = score_records(run.protocol, run.records.values())
            acc[runner] = {t: v["accuracy"] for t, v in s["geneval"]["tags"].items()} | {"overall": s["geneval"]["overall"]}
            truth[runner] = {t: v["accuracy"] for t, v in s["truth"]["tags"].items()} | {"overall": s["truth"]["overall"]}
            layout[runner] = suite.check_layout(out, suite.prompts, n)
            log(f"geneval {runner}: overall {acc[runner]['overall']:.3f} (truth {truth[runner]['overall']:.3f}) "
                f"in {times[runner]:.0f}s, layout problems {len(layout[runner])}")
    finally:
        executor.close()
    runs = [load_run([root / r]) for r in [*painters, "agent"]]
    reports = compare_runs(runs)
    labels = [*painters, f"agent ({rounds} rounds)"]
    atomic_write_bytes(root / "geneval_compare.png", plot_report(reports, labels))
    atomic_write_text(root / "geneval_compare.md", report_markdown(reports, labels, published_rows("geneval")))
    best = max(painters, key=lambda p: acc[p]["overall"])
    return {"geneval": acc, "geneval_truth": truth, "geneval_best_single": {"painter": best, **acc[best]},
            "geneval_layout_problems": {k: v[:5] for k, v in layout.items() if v},
            "geneval_layout_ok": not any(layout.values()), "geneval_wall_s": times}


def compbench_runs(root: Path, per_category: int | None, n: int, workers: int, rounds: int) -> dict[str, Any]:
    cfg = load_config("sandbox")
    out: dict[str, Any] = {}
    ok = True
    executor = make_executor(workers)
    try:
        for cat in COMPBENCH_CATEGORIES:
            prompts = subset(COMPBENCH / f"{cat}_train.txt", per_category, root / f"{cat}.txt")
            suite = CompBenchSuite(prompts, cat)
            job = EvalJob.build(suite, cfg, images_per_prompt=n, agent=True, rounds=rounds)
            run_eval(job, suite, root / cat, executor=executor)
            run = load_run([root / cat])
            s = score_records(run.protocol, run.records.values())["t2i_compbench"]
            problems = suite.check_layout(root / cat, suite.prompts, n)
            ok = ok and not problems
            out[cat] = {"score": s["score"]["mean"], "pass_rate": s["pass_rate"]["accuracy"],
                        "fully_read": s["fully_read"]["accuracy"], "prompts": len(suite.prompts),
                        "layout_problems": problems[:3]}
            log(f"t2i-compbench {cat}: score {s['score']['mean']:.3f}, pass {s['pass_rate']['accuracy']:.3f}, "
                f"fully read {s['fully_read']['accuracy']:.2f}")
    finally:
        executor.close()
    return {"t2i_compbench": out, "t2i_compbench_layout_ok": ok}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "limner.cli", "eval", *args]


def resume_check(meta: Path, root: Path) -> dict[str, Any]:
    """Kill a CLI run with SIGKILL when about half its images are done, run it again, compare with an
    uninterrupted run: finished images must keep their bytes and time stamps, nothing may be missing."""

    base = ["geneval", "--metadata", str(meta), "--generator", "alder", "-n", "1", "--json"]
    plain, killed = root / "plain", root / "killed"
    subprocess.run(cli(*base, "--out", str(plain)), check=True, capture_output=True)
    total = len(load_records(plain))
    proc = subprocess.Popen(cli(*base, "--out", str(killed)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    items = killed / "limner" / "items"
    deadline = time.time() + 600
    while time.time() < deadline and (len(list(items.glob("*.json"))) if items.is_dir() else 0) < total // 2:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {k: r for k, r in load_records(killed).items()}
    stamps = {k: ((killed / r.image).stat().st_mtime_ns, (killed / r.image).read_bytes()) for k, r in before.items()
              if r.image}
    done = subprocess.run(cli(*base, "--out", str(killed)), check=True, capture_output=True, text=True)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    after = load_records(killed)
    redone = sum((killed / after[k].image).stat().st_mtime_ns != m or (killed / after[k].image).read_bytes() != b
                 for k, (m, b) in stamps.items())
    a, b = load_run([plain]), load_run([killed])
    identical = json.dumps(score_records(a.protocol, a.records.values()), sort_keys=True) == \
        json.dumps(score_records(b.protocol, b.records.values()), sort_keys=True)
    return {"killed_at": len(before), "items": total, "redone": redone, "lost": total - len(after),
            "ran_after_resume": summary["ran"], "identical": identical}


def shards_check(meta: Path, root: Path) -> dict[str, Any]:

    base = ["geneval", "--metadata", str(meta), "--generator", "cedar", "-n", "1", "--json"]
    subprocess.run(cli(*base, "--out", str(root / "whole")), check=True, capture_output=True)
    for i in (0, 1):
        subprocess.run(cli(*base, "--out", str(root / f"s{i}"), "--shard", f"{i}/2"), check=True, capture_output=True)
    whole = load_run([root / "whole"])
    merged = load_run([root / "s0", root / "s1"])
    a = json.dumps(score_records(whole.protocol, whole.records.values()), sort_keys=True)
    b = json.dumps(score_records(merged.protocol, merged.records.values()), sort_keys=True)
    subprocess.run(cli(*base[:-3], "-n", "2", "--out", str(root / "n2"), "--json"), check=True, capture_output=True)
    refused = subprocess.run(cli("compare", str(root / "whole"), str(root / "n2")), capture_output=True, text=True,
                             check=False)
    shards_ok = subprocess.run(cli("compare", str(root / "s0"), str(root / "s1")), capture_output=True, text=True,
                               check=False)
    return {"shards_identical": a == b,
            "compare_refuses_mismatch": refused.returncode == 2 and "images_per_prompt" in refused.stderr,
            "compare_accepts_shards": shards_ok.returncode == 0}


def throughput(meta: Path, root: Path, with_ray: bool) -> dict[str, Any]:

    suite = GenEvalSuite(meta)
    job = EvalJob.build(suite, load_config("sandbox"), images_per_prompt=1, generator="alder")
    images = len(suite.prompts)
    per_min: dict[str, Any] = {}
    for name, make in (("workers_1", lambda: LocalExecutor(1)), ("workers_2", lambda: LocalExecutor(2)),
                       *((("ray", lambda: RayExecutor(num_cpus=2)),) if with_ray else ())):
        t0 = time.perf_counter()
        try:
            executor = make()
        except ExecutorError as e:
            per_min[name] = None
            per_min[f"{name}_unavailable"] = str(e)
            continue
        try:
            run_eval(job, suite, root / name, executor=executor)
        finally:
            executor.close()
        wall = time.perf_counter() - t0
        per_min[name] = images / wall * 60
        per_min[f"{name}_wall_s"] = wall
        log(f"throughput {name}: {images} images in {wall:.1f}s")
    per_min["ratio"] = per_min["workers_2"] / per_min["workers_1"]
    if per_min.get("ray"):
        per_min["ray_ratio_to_workers_1"] = per_min["ray"] / per_min["workers_1"]
    per_min["images"] = images
    return per_min


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--quick", action="store_true", help="2 GenEval prompts per tag, 3 CompBench prompts per category")
    ap.add_argument("--seed", type=int, default=0, help="(the harness's seed is the config's: 0)")
    ap.add_argument("--out", type=Path, default=None, help="keep the run folders here (default: a temporary folder)")
    ap.add_argument("--images-per-prompt", type=int, default=1, help="GenEval part (GenEval's protocol: 4)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes for the GenEval and CompBench runs")
    ap.add_argument("--rounds", type=int, default=3, help="agent round budget")
    ap.add_argument("--compbench-per-category", type=int, default=None, help="prompts per category (default 20, quick 3)")
    ap.add_argument("--throughput-prompts", type=int, default=None, help="GenEval prompts for the throughput part (default 120, quick 24)")
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray measurement")
    ap.add_argument("--parts", default="geneval,compbench,resume,shards,throughput",
                    help="comma-separated parts to run (timings are best measured on an otherwise idle machine)")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch  # noqa: PLC0415

        torch.set_num_threads(1)
    except ImportError:
        pass
    per_cat = args.compbench_per_category or (3 if args.quick else 20)
    tp_prompts = args.throughput_prompts or (24 if args.quick else 120)
    holder = tempfile.TemporaryDirectory() if args.out is None else None
    root = Path(holder.name) if holder else args.out
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    meta = quick_metadata(METADATA, 2, root / "meta.jsonl") if args.quick else METADATA
    small = quick_metadata(METADATA, 4, root / "small.jsonl")
    parts = set(args.parts.split(","))
    metrics: dict[str, Any] = {}
    layout: dict[str, bool] = {}
    if "geneval" in parts:
        metrics.update(geneval_runs(meta, root / "geneval", args.images_per_prompt, args.workers, args.rounds))
        layout["geneval"] = metrics.pop("geneval_layout_ok")
    if "compbench" in parts:
        metrics.update(compbench_runs(root / "compbench", per_cat, 1, args.workers, args.rounds))
        layout["t2i_compbench"] = metrics.pop("t2i_compbench_layout_ok")
    metrics["layout_ok"] = layout
    if "resume" in parts:
        metrics["resume"] = resume_check(small, root / "resume")
        log(f"resume: {metrics['resume']}")
    if "shards" in parts:
        metrics.update(shards_check(small, root / "shards"))
        log(f"shards identical {metrics['shards_identical']}, compare refuses {metrics['compare_refuses_mismatch']}")
    if "throughput" in parts:
        tp_meta = subset(METADATA, tp_prompts, root / "tp.jsonl")
        metrics["throughput"] = throughput(tp_meta, root / "throughput", with_ray=not args.no_ray)
    try:
        import ray  # noqa: PLC0415

        ray_version = ray.__version__
    except ImportError:
        ray_version = None
    out = {
        "benchmark": "eval", "simulated": True,
        "config": {"quick": args.quick, "images_per_prompt": args.images_per_prompt, "workers": args.workers,
                   "rounds": args.rounds, "compbench_per_category": per_cat, "throughput_prompts": tp_prompts,
                   "metadata": str(meta.name), "threads_per_worker": 1, "parts": sorted(parts),
                   "load_avg_at_end": os.getloadavg()},
        "env": {"python": platform.python_version(), "limner": limner.__version__, "ray": ray_version,
                "cpus": os.cpu_count()},
        "metrics": metrics, "wall_s": time.perf_counter() - t0,
        "artifacts": [] if holder else [str(root / "geneval" / "geneval_compare.png"),
                                        str(root / "geneval" / "geneval_compare.md")],
    }
    if holder:
        holder.cleanup()
    if args.json:
        print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
