"""Concurrent writers: several processes learning into one performance store, creating runs in one output
root, and fighting over one run id. Each function returns counts (`updates`, `lost`, ...) for the figures.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from limner.perf.matrix import PerformanceMatrix
from limner.perf.store import PerfStore
from limner.perf.update import BayesRouter
from limner.types import Subtask
from reliability.killer import env_with

TESTS = str(Path(__file__).resolve().parents[1])
_TOOLS = ["a", "b", "c", "d"]


def _seed() -> PerformanceMatrix:
    return PerformanceMatrix(["color", "numeracy"], _TOOLS, [[0.2, 0.4, 0.6, 0.8], [0.8, 0.6, 0.4, 0.2]],
                             [["published"] * 4] * 2)


def _bayes(matrix: PerformanceMatrix, state: dict[str, Any] | None) -> BayesRouter:
    router = BayesRouter(matrix)
    if state:
        router.load_state_dict(state)
    return router


def perf_writer(path: str, worker: int, n: int) -> None:
    """One writer process: `n` updates, each seeding the store if it is still empty (as first runs do)."""
    with PerfStore(path) as store:
        for i in range(n):
            sub = Subtask(id=f"s{i}", kind="generate", instruction="x", weights={"color": 1.0, "numeracy": 0.5})
            store.apply_update(_bayes, sub, {_TOOLS[(worker + i) % 4]: ((worker * 7 + i) % 10) / 10},
                               {"run_id": f"w{worker}-{i}"}, seed=(_seed(), None))


def perf_store_writers(tmp: Path, *, workers: int = 4, n: int = 50) -> dict[str, Any]:
    """`workers` processes each making `n` updates to one new store at once: none may be lost."""
    path = tmp / "perf.sqlite"
    code = "import sys; from reliability.concurrency import perf_writer; perf_writer(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))"
    env = env_with([TESTS])
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), str(w), str(n)], env=env,
                              stderr=subprocess.PIPE, text=True) for w in range(workers)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    with PerfStore(path) as store:
        recorded = store.count_updates()
        seeds = store.count_updates(kind="seed")
        versions = sorted(r.version for r in store.history())
        run_ids = {r.run_id for r in store.history() if r.kind == "update"}
    expected = workers * n
    return {"updates": expected, "recorded": recorded, "lost": expected - len(run_ids),
            "duplicated": recorded - len(run_ids), "seeds": seeds,
            "versions_contiguous": versions == list(range(1, len(versions) + 1)),
            "failed_writers": sum(p.returncode != 0 for p in procs), "errors": [e[-300:] for e in errors if e.strip()]}


def _evaluations(run: Path) -> int:
    lines = (run / "trajectory.jsonl").read_text(encoding="utf-8").splitlines()
    return sum(json.loads(line)["type"] == "evaluation" for line in lines)


def concurrent_generates(tmp: Path, prompts: list[str]) -> dict[str, Any]:
    """One `limner generate` per prompt, all at once, into one output root and one perf store (learning on):
    every run finishes in its own directory, and the store holds exactly one update per evaluation of every
    run (the loop learns once per evaluation), with contiguous versions and a clean integrity check."""
    out = tmp / "runs"
    env = env_with([TESTS])
    procs = [subprocess.Popen([sys.executable, "-m", "limner.cli", "generate", p, "--out", str(out), "--seed", str(i),
                               "--rounds", "2", "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i, p in enumerate(prompts)]
    results = [(p.communicate(timeout=300), p.returncode) for p in procs]
    runs = []
    for (stdout, _stderr), rc in results:
        if rc == 0 and stdout.strip():
            runs.append(Path(json.loads(stdout.strip().splitlines()[-1])["run_dir"]))
    expected = {run.name: _evaluations(run) for run in runs}
    with sqlite3.connect(out / "perf.sqlite") as conn:
        rows = conn.execute("SELECT run_id, COUNT(*) FROM updates WHERE kind = 'update' GROUP BY run_id").fetchall()
        by_name: dict[str, list[int]] = {}
        for name, version in conn.execute("SELECT name, version FROM updates"):
            by_name.setdefault(name, []).append(version)
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    recorded = dict(rows)
    manifests = [json.loads((run / "manifest.json").read_text())["status"] for run in runs]
    return {
        "runs": len(prompts), "finished": sum(s == "done" for s in manifests), "distinct_dirs": len(set(runs)),
        "updates": sum(expected.values()),
        "lost": sum(max(0, n - recorded.get(run, 0)) for run, n in expected.items()),
        "duplicated": sum(max(0, recorded.get(run, 0) - n) for run, n in expected.items()),
        "versions_contiguous": all(sorted(v) == list(range(1, len(v) + 1)) for v in by_name.values()),
        "integrity": integrity, "failed": [r[0][1][-300:] for r in results if r[1] != 0],
    }


def same_run_twice(tmp: Path, slow_config: Path) -> dict[str, Any]:
    """Two processes on one run id at once: the second `--run-id` start is refused ('already exists') and a
    `--resume` while the first still runs is refused ('open in another process'), each in one line, exit 2;
    the first run finishes unharmed."""
    out = tmp / "runs"
    env = env_with([TESTS, str(Path(TESTS) / "plugins")])
    base = [sys.executable, "-m", "limner.cli", "generate", "three purple clocks above a green bus", "--out", str(out),
            "--config", str(slow_config), "--run-id", "shared"]
    first = subprocess.Popen(base, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (out / "shared" / "manifest.json").exists():
        time.sleep(0.02)
    # Both started at once, while the first is young: one after the other, on a loaded machine the first run
    # finished before the second interpreter had started, and the resume was no longer concurrent.
    others = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for cmd in (base, [*base, "--resume"])]
    outputs = [p.communicate(timeout=120) for p in others]  # (stdout, stderr), read to the end before exit
    again, resume = (subprocess.CompletedProcess(p.args, p.returncode, *o) for p, o in zip(others, outputs, strict=True))
    first_err = first.communicate(timeout=120)[1]
    status = json.loads((out / "shared" / "manifest.json").read_text())["status"]

    def refused(res: subprocess.CompletedProcess[str], words: str) -> bool:
        lines = res.stderr.strip().splitlines()
        return res.returncode == 2 and len(lines) == 1 and words in lines[0] and "Traceback" not in res.stderr

    return {"second_start_refused": refused(again, "already exists"),
            "concurrent_resume_refused": refused(resume, "open in another process"),
            "first_finished": first.returncode == 0 and status == "done", "first_stderr": first_err[-300:],
            "outputs": [again.stderr.strip()[-300:], resume.stderr.strip()[-300:]]}
