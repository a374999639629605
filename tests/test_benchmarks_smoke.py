"""Every benchmark runs with --quick and prints one JSON object in the shape of the benchmark conventions.

Slow (minutes each on two cores): run with `python -m pytest -m slow tests/test_benchmarks_smoke.py`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

REQUIRED_METRICS = {
    "sandbox": {"scenes", "checker", "painters", "best_by_dimension", "geneval_by_painter", "geneval_best_single",
                "deterministic", "painter_call_ms_median", "checker_ms_median", "checker_ocr_ms_median", "checker_painted"},
    "agent": {"analyst_exact", "analyst_prompts", "compbench_prompts", "compbench_parse_errors",
              "compbench_fully_supported", "accuracy", "prompts", "overhead_fraction", "hard_prompts",
              "disagreement"},
    "routing": {"pools", "tool_info_tokens", "concurrency"},
    "apo": {"steps_per_s", "speedup", "peak_mem_mb", "ddp"},
    "backends": {"pipelines", "memory_growth_mb"},
    "data": {"positive_rate", "negatives_per_cluster", "negatives_exact_truth", "throughput", "resume"},
    "serve": {"same_as_local", "throughput", "failover", "backpressure"},
    "eval": {"layout_ok", "resume", "shards_identical", "throughput", "compare_refuses_mismatch", "geneval"},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REQUIRED_METRICS))
def test_benchmark_quick_run_prints_the_agreed_json(name: str, tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / f"{name}.py"), "--json", "--quick", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=1800, cwd=tmp_path, check=False,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["benchmark"] == name
    assert {"simulated", "config", "env", "metrics"} <= set(report)
    missing = REQUIRED_METRICS[name] - set(report["metrics"])
    assert not missing, f"{name}: metrics missing {sorted(missing)}"
