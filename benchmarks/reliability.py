"""Reliability with figures (issue #30): injected faults, killed runs, concurrent writers, bad inputs, secrets.

    python benchmarks/reliability.py --json            # full: every case (about 4 minutes on two cores)
    python benchmarks/reliability.py --json --quick    # smoke: fewer kills, no large images, secrets subset

Everything runs the real `limner` command line (in this process through typer's CliRunner, or as
subprocesses where a kill, a second process, real stdout/stderr or peak memory matters) on the SIMULATED
sandbox world; the suites are `tests/reliability/` (docs/reliability.md):

1. faults: every fault of `reliability.faults.FAULTS` in the first-ranked painter and in the first-ranked
   editor (real `Tool` subclasses through the registry), and every fault of the flaky OpenAI-compatible
   endpoint (`reliability.flaky`) through the LLM brain and through an OpenAI image tool. `injected` counts
   the faults the tools/endpoint really produced; `survived` those in runs that finished cleanly (final image
   written, manifest done, every faulty answer recorded as a failed step or judged, no traceback).
2. kills: `limner generate` SIGKILLed at random points and resumed with `--resume`, per seed; items are the
   trajectory's steps: `lost` (in the uninterrupted run with the same seed, not after resume), `duplicated`
   (recorded twice), `identical` (steps without timings and final.png byte for byte); then the same for a
   `limner eval geneval` batch (items: per-image records) and a `limner data clusters` build (items: cluster
   records; pairs written twice count as duplicated; identical: records, images and the Parquet table).
3. concurrency: 4 processes x 50 perf-store updates at once; 4 `limner generate` at once into one output root
   and perf store (one update per evaluation); a second process on a running run id.
4. bad_inputs: the whole corpus (`tests/reliability/data`, large images written at run time): tried /
   handled / tracebacks, and the peak memory of the largest accepted image (6000x6000) in a subprocess; plus
   the web UI's handlers fed hostile names, paths, stores, datasets, prompts and uploads (`ui_cases`, when
   the ui extra is installed; `by_kind.ui`).
5. secrets_leaked: the key (and every 12-character piece of it) grepped in every file of every run directory,
   the perf stores, stdout and stderr of the secret cases (`reliability.leaks`) and of the flaky runs.

One JSON object on the last line of stdout with --json; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from local_server import serve
from reliability.concurrency import concurrent_generates, perf_store_writers, same_run_twice
from reliability.corpus import load_cases, run_corpus, summary
from reliability.faults import FAULTS
from reliability.flaky import FLAKY_FAULTS, FlakyEndpoint
from reliability.leaks import files_under, find_leaks, secret_cases
from reliability.scenarios import (
    SECRET,
    data_kill_resume,
    eval_kill_resume,
    generate_kill_resume,
    kill_config,
    run_fault,
    run_flaky,
)
from reliability.ui_cases import run_ui_cases, ui_available

CONCURRENT_PROMPTS = ["two red apples to the left of a blue cup", "three purple clocks above a green bus",
                      "a photo of four donuts", "a blue cup and a yellow banana"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fault_metrics(tmp: Path, quick: bool) -> tuple[dict[str, Any], int]:
    scenarios = []
    for where in ("generate", "edit"):
        for fault in FAULTS:
            o = run_fault(fault, where, tmp / f"tool-{where}-{fault}")
            scenarios.append({"source": f"tool:{where}", **o.to_dict()})
            log(f"fault {where:8} {fault:10} injected {o.injected} survived {o.survived} {o.problems[:1]}")
    leaks = 0
    ep = FlakyEndpoint(slow_s=3.0)
    with serve(ep.app) as url:
        for where in ("brain", "images"):
            for fault in FLAKY_FAULTS:
                if quick and fault == "slow":
                    continue
                case = tmp / f"endpoint-{where}-{fault}"
                o = run_flaky(ep, url, [fault, fault], where, case)
                found = find_leaks({**files_under(case / "runs"), "output": (case / "output.txt").read_text()}, SECRET)
                leaks += len(found)
                scenarios.append({"source": f"endpoint:{where}", **o.to_dict(), "leaks": found})
                log(f"fault {where:8} {fault:10} injected {o.injected} survived {o.survived} {o.problems[:1]}")
    injected = sum(s["injected"] for s in scenarios)
    survived = sum(s["injected"] for s in scenarios if s["survived"])
    return {"injected": injected, "survived": survived, "scenarios": len(scenarios),
            "scenarios_survived": sum(s["survived"] for s in scenarios),
            "not_survived": [s for s in scenarios if not s["survived"]], "by_scenario": scenarios}, leaks


def kill_metrics(tmp: Path, seeds: list[int], kills: int) -> dict[str, Any]:
    runs = []
    for seed in seeds:
        r = generate_kill_resume(tmp / f"seed{seed}", kills=kills, seed=seed, rng=random.Random(1000 + seed))
        log(f"kills seed {seed}: {r['kills']} kills at {r['items_at_kill']} of {r['items']} steps, lost {r['lost']}, "
            f"duplicated {r['duplicated']}, identical {r['identical']} ({r['seconds']} s)")
        runs.append({"seed": seed, **r})
    return {"kills": sum(r["kills"] for r in runs), "lost": sum(r["lost"] for r in runs),
            "duplicated": sum(r["duplicated"] for r in runs), "items": sum(r["items"] for r in runs),
            "identical": all(r["identical"] for r in runs), "runs": len(runs),
            "painter_calls_redone": sum(r["painter_calls"]["redone"] for r in runs), "by_run": runs}


def concurrency_metrics(tmp: Path, quick: bool) -> dict[str, Any]:
    store = perf_store_writers(tmp / "store", workers=4, n=25 if quick else 50)
    log(f"concurrency perf store: {store['recorded']} of {store['updates']} updates, lost {store['lost']}")
    runs = concurrent_generates(tmp / "runs", CONCURRENT_PROMPTS[: 2 if quick else 4])
    log(f"concurrency generates: {runs['finished']} runs, {runs['updates']} updates, lost {runs['lost']}")
    race = same_run_twice(tmp / "race", kill_config(tmp / "slow.json", tmp / "calls.txt", delay_s=0.4))
    log(f"concurrency same run: {race}")
    return {"updates": store["updates"] + runs["updates"], "lost": store["lost"] + runs["lost"],
            "duplicated": store["duplicated"] + runs["duplicated"],
            "run_id_races_refused": int(race["second_start_refused"]) + int(race["concurrent_resume_refused"]),
            "perf_store": store, "generates": runs, "same_run": race}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object on the last line of stdout")
    ap.add_argument("--quick", action="store_true", help="smoke run: fewer kills and cases")
    ap.add_argument("--seed", type=int, default=1, help="first seed of the kill runs")
    ap.add_argument("--kills", type=int, default=None, help="SIGKILLs per run (default 5, quick 2)")
    ap.add_argument("--out", type=Path, default=None, help="directory to also write reliability.json into")
    args = ap.parse_args()
    kills = args.kills if args.kills is not None else (2 if args.quick else 5)
    seeds = [args.seed] if args.quick else [args.seed, args.seed + 1, args.seed + 2]
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    metrics: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="limner-reliability-") as tmp_name:
        tmp = Path(tmp_name)
        t = time.perf_counter()
        metrics["faults"], endpoint_leaks = fault_metrics(tmp / "faults", args.quick)
        timings["faults_s"] = time.perf_counter() - t
        t = time.perf_counter()
        metrics["kills"] = kill_metrics(tmp / "kills", seeds, kills)
        ev = eval_kill_resume(tmp / "eval-kills", kills=kills, rng=random.Random(7 + args.seed))
        log(f"eval batch: {ev['kills']} kills at {ev['items_at_kill']} of {ev['items']} images, lost {ev['lost']}, "
            f"duplicated {ev['duplicated']}, identical {ev['identical']}, painter calls redone {ev['painter_calls']['redone']}")
        metrics["kills"]["eval_batch"] = ev
        # quick: 2 clusters are enough to land a kill between them; full: 6 (about a minute on two cores)
        db = data_kill_resume(tmp / "data-kills", kills=min(kills, 3), rng=random.Random(11 + args.seed),
                              prompts=3 if args.quick else 6)
        log(f"data batch: {db['kills']} kills at {db['items_at_kill']} of {db['items']} clusters, lost {db['lost']}, "
            f"duplicated {db['duplicated']} (pairs {db['pairs_duplicated']}), identical {db['identical']}")
        metrics["kills"]["data_batch"] = db
        for batch in (ev, db):
            for key in ("kills", "lost", "duplicated", "items"):
                metrics["kills"][key] += batch[key]
            metrics["kills"]["identical"] = metrics["kills"]["identical"] and batch["identical"]
        timings["kills_s"] = time.perf_counter() - t
        t = time.perf_counter()
        metrics["concurrency"] = concurrency_metrics(tmp / "concurrency", args.quick)
        timings["concurrency_s"] = time.perf_counter() - t
        t = time.perf_counter()
        cases = load_cases(None if args.quick else tmp / "large")
        results = run_corpus(cases, tmp / "corpus", log=log)
        s = summary(results)
        log(f"bad inputs: {s['handled']} of {s['tried']} handled, {s['tracebacks']} tracebacks")
        metrics["bad_inputs"] = {k: s[k] for k in ("tried", "handled", "tracebacks", "by_kind", "not_handled", "slowest_s")}
        if ui_available():  # the web UI's handlers, fed the same kind of input (tests/reliability/ui_cases.py)
            _, ui = run_ui_cases(tmp / "ui", log=log)
            log(f"ui inputs: {ui['handled']} of {ui['tried']} handled, {ui['tracebacks']} tracebacks")
            for key in ("tried", "handled", "tracebacks"):
                metrics["bad_inputs"][key] += ui[key]
            metrics["bad_inputs"]["by_kind"]["ui"] = {k: ui[k] for k in ("tried", "handled", "tracebacks")}
            metrics["bad_inputs"]["not_handled"] += ui["not_handled"]
            ui_leaks = ui["secrets_leaked"]
        else:
            metrics["bad_inputs"]["by_kind"]["ui"] = "skipped: the ui extra (gradio) is not installed"
            ui_leaks = 0
        metrics["largest_image_peak_mb"] = s["largest_accepted_peak_mb"]
        metrics["largest_accepted_image"] = None if args.quick else "6000x6000 (PNG and JPEG; check and edit)"
        metrics["large_images"] = [r.to_dict() for r in results if r.peak_mb is not None]
        timings["bad_inputs_s"] = time.perf_counter() - t
        t = time.perf_counter()
        ep = FlakyEndpoint(slow_s=3.0)
        with serve(ep.app) as url:
            only = {"brain_echoes_key", "images_echo_key", "key_pasted_as_env_name", "tools_list_table"} if args.quick else None
            secrets = secret_cases(ep, url, tmp / "secrets", only=only)
        log(f"secrets: {secrets['secrets_leaked']} leaks in {secrets['places_scanned']} places of {secrets['cases']} cases")
        metrics["secrets_leaked"] = secrets["secrets_leaked"] + endpoint_leaks + ui_leaks
        metrics["secrets"] = {"cases": secrets["cases"] + 2 * len(FLAKY_FAULTS), "places_scanned": secrets["places_scanned"],
                              "leaks": secrets["leaks"]}
        timings["secrets_s"] = time.perf_counter() - t
    timings = {k: round(v, 1) for k, v in timings.items()}
    versions = {}
    for pkg in ("pydantic", "pillow", "numpy", "typer", "fastapi", "uvicorn", "openai", "pydantic-ai-slim", "pyyaml"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    out = {
        "benchmark": "reliability",
        "simulated": True,
        "config": {"quick": args.quick, "kill_seeds": seeds, "kills_per_run": kills, "threads": 1,
                   "corpus_cases": len(cases), "large_images": not args.quick},
        "env": {"python": platform.python_version(), "cpu_count": os.cpu_count(), **versions},
        "metrics": metrics,
        "timings": {**timings, "total_s": round(time.perf_counter() - t0, 1)},
    }
    text = json.dumps(out)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "reliability.json").write_text(text + "\n")
    if args.json:
        print(text)
    else:
        print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
