"""Data orchestra benchmark (SIMULATED sandbox world): AgentComp's clusters from T2I-CompBench prompts.

    python benchmarks/data.py --json                      # full: 100 + 100 prompts, 10 negatives, 2 workers
    python benchmarks/data.py --json --all-mix 40 --read-mix 40 --throughput-prompts 4   # smaller

Parts (each figure in `metrics`):

- `all_mix`: `--all-mix` prompts drawn evenly from the eight T2I-CompBench train lists shipped in
  `benchmarks/data/t2i-compbench/`. Share with a verified positive (every check passes and coverage is
  complete), per category, and why the others have none. Prompts the offline reader cannot fully read can
  never give a verified positive: this figure measures the reader as much as the orchestra.
- `read_mix`: `--read-mix` prompts drawn from the prompts of those lists the reader reads completely (the
  fully read prompts of the first mix first): this measures the orchestra itself. Both mixes are built
  once, into one folder (a cluster is a (prompt, seed): shared prompts are built once).
  For each: verified negatives per cluster (clusters with a positive), the share of kept negatives that
  fail exactly the intended checks **by the world's ground truth** (`grade_truth`, an independent re-check:
  the checker decided what was kept), the pair filter's pairs over the base pairs, distances, per-kind yield.
- `throughput`: clusters per minute on `--throughput-prompts` fully read prompts: 1 local worker, 2 local
  workers, and Ray with 2 CPUs on this machine (same job, fresh folders).
- `resume`: the 1-worker throughput build is the reference; the same build in a child process is killed
  with SIGKILL at three random points and re-run to the end: duplicates, lost clusters, and whether the
  records, images and `pairs.parquet` equal the uninterrupted build's.
- `datasets`: `datasets.load_dataset("parquet", ...)` on the main build's `pairs.parquet`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from limner.agent.evaluator import Evaluator
from limner.config import LimnerConfig, load_config
from limner.data import ClusterJob, ClusterRecord, build_clusters, fully_read, load_records, write_dataset
from limner.data.dataset import card, dataset_rows
from limner.data.orchestra import ATTEMPTS_PER_NEGATIVE, cluster_id
from limner.data.prompts import PromptItem, read_prompts
from limner.eval.executor import make_executor
from limner.reading.prompt import parse_prompt
from limner.tools.registry import ToolRegistry, default_checker

LISTS = Path(__file__).parent / "data" / "t2i-compbench"
CATEGORIES = ("color", "shape", "texture", "spatial", "3d_spatial", "non_spatial", "complex", "numeracy")


class _Checkable:
    """Can a verified positive exist at all? The reader reads the prompt completely AND the sandbox checker
    can check every part (judged on a blank canvas: parts it cannot check are named there already)."""

    def __init__(self, cfg: LimnerConfig) -> None:
        checker = default_checker(ToolRegistry.from_config(cfg).by_name())
        assert checker is not None
        self.judge = Evaluator(checker)
        self.blank = Image.new("RGB", (cfg.width, cfg.height), "white")
        self.cache: dict[str, str | None] = {}

    def why_not(self, text: str) -> str | None:
        if text not in self.cache:
            scene = parse_prompt(text)
            if scene.unsupported or not scene.elements:
                self.cache[text] = "reader"
            else:
                self.cache[text] = "checker" if self.judge(self.blank, scene).verdict.unsupported else None
        return self.cache[text]


def draw_mixes(n_all: int, n_read: int, seed: int,
               checkable: _Checkable) -> tuple[list[PromptItem], list[PromptItem], dict[str, Any]]:
    rng = np.random.default_rng(seed)
    per_cat = {c: read_prompts(LISTS / f"{c}_train.txt") for c in CATEGORIES}
    all_mix: list[PromptItem] = []
    for i in range(n_all):
        cat = CATEGORIES[i % len(CATEGORIES)]
        pool = per_cat[cat]
        all_mix.append(pool[int(rng.integers(len(pool)))])
    seen: set[str] = set()
    uniq = [p for p in all_mix if not (p.text in seen or seen.add(p.text))]
    read = [p for p in uniq if checkable.why_not(p.text) is None]
    pool = [p for c in CATEGORIES for p in per_cat[c] if p.text not in seen]
    tried = {"reader": 0, "checker": 0, "kept": 0}
    for j in rng.permutation(len(pool)).tolist():
        if len(read) >= n_read:
            break
        why = checkable.why_not(pool[j].text)
        tried["kept" if why is None else why] += 1
        if why is None:
            read.append(pool[j])
    reindex = lambda items: [PromptItem(i, p.text, p.tag) for i, p in enumerate(items)]
    info = {"all_mix_fully_read": sum(fully_read(p.text) for p in uniq) / max(1, len(uniq)),
            "all_mix_checkable": sum(checkable.why_not(p.text) is None for p in uniq) / max(1, len(uniq)),
            "read_mix_draws_outside_all_mix": tried}
    return reindex(uniq), reindex(read[:n_read]), info


def _mix_metrics(records: dict[str, ClusterRecord], prompts: list[PromptItem], seed: int) -> dict[str, Any]:
    recs = [records[cluster_id(p.text, seed)] for p in prompts if cluster_id(p.text, seed) in records]
    rows = dataset_rows(recs)
    c = card(recs, rows)
    neg_truth = [m.truth for r in recs for m in r.members if m.id != "pos" and m.truth is not None]
    truth_exact = sum(bool(t.get("fails_exactly") and t.get("passes_own")) for t in neg_truth)
    pair_truth = [p.truth_valid for r in recs for p in r.pairs if p.valid and p.truth_valid is not None]
    return {
        "prompts": len(prompts), "built": len(recs), "positive_yield": c["positive_yield"],
        "verified_positives": c["verified_positives"], "negatives_per_cluster": c["negatives_per_cluster"],
        "kept_negatives": c["negatives"], "truth_exact_negatives": truth_exact / len(neg_truth) if neg_truth else None,
        "base_pairs": c["base_pairs"], "filter_pairs": c["filter_pairs"], "pairs": c["pairs"],
        "pair_filter_gain": c["pair_filter_gain"],
        "pairs_valid_by_truth": sum(pair_truth) / len(pair_truth) if pair_truth else None,
        "distance_histogram": c["distance_histogram"], "per_tag": c["per_tag"],
        "per_perturbation": c["per_perturbation"], "no_positive_reasons": c["no_positive_reasons"],
        "discard_reasons": dict(list(c["discard_reasons"].items())[:8]),
        "mean_cluster_s": float(np.mean([r.time_s for r in recs])) if recs else 0.0,
    }


def _env() -> dict[str, Any]:
    """Versions that decide the figures (the BENCHMARKS.md `env` key)."""
    versions: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    for pkg in ("limner", "numpy", "pillow", "pyarrow", "datasets", "ray"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return versions


def _signature(out: Path) -> dict[str, Any]:
    """What must be equal between two builds: records without times, image bytes, the Parquet table."""
    import pyarrow.parquet as pq  # noqa: PLC0415 - the train extra

    recs = {k: r.model_dump(mode="json", exclude={"time_s"}) for k, r in load_records(out).items()}
    images = {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
              for p in sorted((out / "images").rglob("*.png"))}
    table = pq.read_table(out / "pairs.parquet").to_pylist() if (out / "pairs.parquet").is_file() else []
    return {"records": recs, "images": images, "table": table,
            "parquet_sha": hashlib.sha256((out / "pairs.parquet").read_bytes()).hexdigest()
            if (out / "pairs.parquet").is_file() else None}


def _child_build(job_json: dict[str, Any], prompts: list[tuple[int, str, str]], out: str) -> None:
    job = ClusterJob.model_validate(job_json)
    build_clusters(job, [PromptItem(i, t, g) for i, t, g in prompts], Path(out))
    write_dataset(Path(out))


def resume_test(job: ClusterJob, prompts: list[PromptItem], reference: Path, ref_wall: float, out: Path,
                seed: int, log: Any) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    rng = np.random.default_rng(seed + 99)
    args = (job.model_dump(mode="json"), [(p.index, p.text, p.tag) for p in prompts], str(out))
    kills = []
    n = len(prompts)
    per_cluster = ref_wall / max(1, n)
    # Three random points inside the build, never past its last cluster, at different clusters where the
    # build has enough: wait until the child has finished that many clusters, then kill it part-way into
    # the next one. Timing the kills from the start instead let one land after the build had finished.
    targets = sorted(rng.choice(max(1, n - 1), size=3, replace=n - 1 < 3).tolist())
    for k in range(3):
        proc = ctx.Process(target=_child_build, args=args)
        proc.start()
        target = max(int(targets[k]), len(load_records(out)))
        while proc.is_alive() and len(load_records(out)) < target:
            time.sleep(0.2)
        time.sleep(float(rng.uniform(0.1, 0.6)) * per_cluster)
        if proc.is_alive():
            done_at_kill = len(load_records(out))
            proc.kill()  # SIGKILL
            proc.join()
            kills.append({"target_done": target, "done_at_kill": done_at_kill})
        else:
            kills.append({"target_done": target, "done_at_kill": len(load_records(out)), "finished_first": True})
        log(f"[resume] kill {k}: {kills[-1]}")
    proc = ctx.Process(target=_child_build, args=args)
    proc.start()
    proc.join()
    a, b = _signature(reference), _signature(out)
    keys = [json.dumps([r["prompt"], r["seed"]]) for r in b["records"].values()]
    pair_keys = [(r["cluster_id"], r["winner_id"], r["loser_id"]) for r in b["table"]]
    return {
        "kills": kills, "kills_landed": sum(1 for k in kills if not k.get("finished_first")),
        "clusters": len(b["records"]), "expected": len(a["records"]),
        "duplicates": len(keys) - len(set(keys)) + len(pair_keys) - len(set(pair_keys)),
        "lost": len(set(a["records"]) - set(b["records"])),
        "records_equal": a["records"] == b["records"], "images_equal": a["images"] == b["images"],
        "table_equal": a["table"] == b["table"], "parquet_bytes_equal": a["parquet_sha"] == b["parquet_sha"],
    }


EXECUTORS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("local_1", {"workers": 1}), ("local_2", {"workers": 2}), ("ray_2", {"workers": 2, "ray": True}))


def throughput(cfg: LimnerConfig, prompts: list[PromptItem], negatives: int, root: Path,
               log: Any, only_reference: bool = False) -> tuple[dict[str, Any], ClusterJob, Path, float]:
    """Clusters per minute with each executor (`EXECUTORS`); `only_reference`: the 1-worker build alone,
    which the resume test compares against (a resume check on a busy machine, where speeds mean little)."""
    job = ClusterJob.build(cfg, negatives=negatives)
    out: dict[str, Any] = {"prompts": len(prompts), "negatives": negatives}
    ref, ref_wall = root / "tp-1", 0.0
    for name, executor_args in EXECUTORS[:1] if only_reference else EXECUTORS:
        folder = root / f"tp-{name}"
        try:
            ex = make_executor(**executor_args)
        except Exception as e:  # noqa: BLE001 - Ray may be missing; say so in the JSON
            out[name] = {"error": str(e).splitlines()[0]}
            continue
        t0 = time.perf_counter()
        try:
            s = build_clusters(job, prompts, folder, executor=ex)
        finally:
            ex.close()
        wall = time.perf_counter() - t0
        out[name] = {"clusters_per_min": 60 * s.ran / wall, "wall_s": wall, "executor": s.executor}
        log(f"[throughput] {name}: {out[name]}")
        if name == "local_1":
            write_dataset(folder)
            ref, ref_wall = folder, wall
    if "clusters_per_min" in out.get("local_2", {}) and "clusters_per_min" in out.get("local_1", {}):
        out["speedup_2_vs_1"] = out["local_2"]["clusters_per_min"] / out["local_1"]["clusters_per_min"]
    return out, job, ref, ref_wall


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object on the last line of stdout")
    ap.add_argument("--all-mix", type=int, default=100, help="prompts drawn evenly from the eight lists")
    ap.add_argument("--read-mix", type=int, default=100, help="prompts drawn from the fully read ones")
    ap.add_argument("--negatives", type=int, default=10)
    ap.add_argument("--attempts", type=int, default=None,
                    help="perturbations tried at most per cluster (default: the job's, 3 × negatives)")
    ap.add_argument("--workers", type=int, default=2, help="local workers for the main build")
    ap.add_argument("--throughput-prompts", type=int, default=8, help="0: skip the throughput and resume parts")
    ap.add_argument("--throughput-negatives", type=int, default=10)
    ap.add_argument("--no-resume", action="store_true")
    ap.add_argument("--resume-only", action="store_true",
                    help="of the throughput part, only the 1-worker reference build, then the resume test")
    ap.add_argument("--no-main", action="store_true", help="skip the main build (throughput and resume only)")
    ap.add_argument("--out", type=Path, default=None, help="keep the main build here (default: a temp folder)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="smoke run: 8 + 4 prompts, 3 negatives, 2 throughput prompts")
    args = ap.parse_args(argv)
    if args.quick:
        args.all_mix, args.read_mix, args.negatives = 8, 4, 3
        args.throughput_prompts, args.throughput_negatives = 2, 3

    def log(m: str) -> None:
        print(m, file=sys.stderr, flush=True)

    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cfg = load_config("sandbox", seed=args.seed, out_dir=root / "runs")  # no perf store from ./runs is read
        all_mix, read_mix, mix_info = draw_mixes(args.all_mix, args.read_mix, args.seed, _Checkable(cfg))
        union: list[PromptItem] = []
        seen: set[str] = set()
        for p in [*all_mix, *read_mix]:
            if p.text not in seen:
                seen.add(p.text)
                union.append(PromptItem(len(union), p.text, p.tag))
        metrics: dict[str, Any] = {"mixes": mix_info}
        if not args.no_main:
            main_out = args.out or root / "main"
            job = ClusterJob.build(cfg, negatives=args.negatives, attempts=args.attempts)
            ex = make_executor(args.workers)
            t0 = time.perf_counter()
            done = [0]

            def progress(d: int, total: int, r: ClusterRecord) -> None:
                done[0] += 1
                log(f"[main {d}/{total}] {r.status} {r.tag}: {r.prompt!r} negatives={max(0, len(r.members) - 1)} "
                    f"pairs={sum(p.valid for p in r.pairs)} {r.time_s:.1f}s {r.reason or ''}")

            try:
                summary = build_clusters(job, union, main_out, executor=ex, progress=progress)
            finally:
                ex.close()
            main_wall = time.perf_counter() - t0
            data_card = write_dataset(main_out, masks=True)
            records = load_records(main_out)
            metrics.update({
                "all_mix": _mix_metrics(records, all_mix, args.seed),
                "read_mix": _mix_metrics(records, read_mix, args.seed),
                "main_build": {"clusters": summary.total, "ran": summary.ran, "wall_s": main_wall,
                               "executor": summary.executor, "pairs": data_card["pairs"],
                               "clusters_per_min": 60 * summary.ran / main_wall if main_wall else None},
            })
            try:
                import datasets  # noqa: PLC0415 - the train extra

                ds = datasets.load_dataset("parquet", data_files=str(main_out / "pairs.parquet"), split="train",
                                           cache_dir=str(root / "hf"))
                metrics["datasets"] = {"rows": ds.num_rows, "columns": ds.column_names,
                                       "matches_card": ds.num_rows == data_card["pairs"]}
            except Exception as e:  # noqa: BLE001 - reported, not hidden
                metrics["datasets"] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0]}"}
        tp_prompts = read_mix[: args.throughput_prompts]
        if tp_prompts:  # --throughput-prompts 0: the main build only
            tp, tp_job, ref, ref_wall = throughput(cfg, tp_prompts, args.throughput_negatives, root, log,
                                                   only_reference=args.resume_only)
            metrics["throughput"] = tp
            if not args.no_resume:
                metrics["resume"] = resume_test(tp_job, tp_prompts, ref, ref_wall, root / "resume", args.seed, log)
    am, rm = metrics.get("all_mix"), metrics.get("read_mix")
    if am is not None and rm is not None:  # the names of shared/BENCHMARKS.md
        metrics["positive_rate"] = {"all_mix": am["positive_yield"], "read_mix": rm["positive_yield"]}
        metrics["negatives_per_cluster"] = rm["negatives_per_cluster"]
        metrics["negatives_exact_truth"] = rm["truth_exact_negatives"]
        metrics["loads_with_datasets"] = bool(metrics.get("datasets", {}).get("matches_card"))
    resume, tp = metrics.get("resume", {}), metrics.get("throughput", {})
    metrics["acceptance"] = {
        # None: not measured in this run (--throughput-prompts 0, --no-resume)
        "speedup_2_vs_1_ge_1.6": tp["speedup_2_vs_1"] >= 1.6 if "speedup_2_vs_1" in tp else None,
        "resume_same_dataset": bool(resume.get("table_equal") and resume.get("records_equal")
                                    and resume.get("images_equal") and resume.get("duplicates") == 0
                                    and resume.get("lost") == 0) if resume else None,
        "resume_three_kills_landed": resume.get("kills_landed") == 3 if resume else None,
    }
    if am is not None and rm is not None:
        metrics["acceptance"].update({
            "positive_yield_all_mix_ge_0.8": am["positive_yield"] >= 0.8,
            "positive_yield_read_mix_ge_0.8": rm["positive_yield"] >= 0.8,
            "negatives_per_cluster_ge_8": rm["negatives_per_cluster"] >= 8,
            "truth_exact_ge_0.95": (rm["truth_exact_negatives"] or 0) >= 0.95,
            "pair_filter_gain_ge_1.5": rm["pair_filter_gain"] >= 1.5,
        })
    out = {"benchmark": "data", "simulated": True,
           "config": {"preset": "sandbox", "seed": args.seed, "all_mix": args.all_mix, "read_mix": args.read_mix,
                      "negatives": args.negatives, "workers": args.workers,
                      "attempts": args.attempts if args.attempts is not None else ATTEMPTS_PER_NEGATIVE * args.negatives,
                      "throughput_prompts": args.throughput_prompts, "throughput_negatives": args.throughput_negatives},
           "env": _env(), "wall_s": time.perf_counter() - t_start, "metrics": metrics}
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
