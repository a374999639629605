"""`benchmarks/reliability.py --json --quick` prints the agreed figures, all at their acceptance values."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_reliability_benchmark_quick(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, str(REPO / "benchmarks" / "reliability.py"), "--json", "--quick"],
                         capture_output=True, text=True, timeout=1200, cwd=tmp_path, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["benchmark"] == "reliability" and {"simulated", "config", "env", "metrics"} <= set(report)
    m = report["metrics"]
    assert m["faults"]["injected"] > 0 and m["faults"]["survived"] == m["faults"]["injected"]
    assert m["kills"]["kills"] > 0 and m["kills"]["lost"] == 0 and m["kills"]["duplicated"] == 0
    assert m["concurrency"]["updates"] > 0 and m["concurrency"]["lost"] == 0
    b = m["bad_inputs"]
    assert b["tried"] >= 100 and b["handled"] == b["tried"] and b["tracebacks"] == 0
    assert m["secrets_leaked"] == 0
