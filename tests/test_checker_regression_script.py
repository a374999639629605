"""`scripts/checker_regression.py`: the recorded verdicts, read back as rows without judging again (`rows`), are
the rows judging the same pictures again gives (`accuracy --write`) with the same code: the baseline of an A/B
of a checker change (docs/checker.md, session 43)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "checker_regression.py"


def _run(*args: str) -> str:
    done = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_recorded_rows_equal_the_rows_of_judging_again(tmp_path: Path) -> None:
    folder = tmp_path / "reg"
    _run("record", "--out", str(folder), "--scenes", "1", "--seed", "3", "--size", "256")
    out = _run("rows", str(folder), "--write", str(tmp_path / "recorded.jsonl"))
    assert "recorded verdicts" in out and "presence" in out
    _run("accuracy", str(folder), "--write", str(tmp_path / "judged.jsonl"))
    recorded = [json.loads(x) for x in (tmp_path / "recorded.jsonl").read_text().splitlines()]
    judged = [json.loads(x) for x in (tmp_path / "judged.jsonl").read_text().splitlines()]
    assert recorded and {r["dim"] for r in recorded} >= {"presence"}
    def key(r: dict[str, object]) -> str:  # `accuracy` walks the files in name order, `rows` in recorded order
        return json.dumps(r, sort_keys=True)

    assert sorted(recorded, key=key) == sorted(judged, key=key)
    compared = _run("compare", str(folder))
    assert " 0 verdicts differ" in compared


def test_rows_of_an_empty_folder_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "verdicts.jsonl").write_text("")
    done = subprocess.run([sys.executable, str(SCRIPT), "rows", str(tmp_path)], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode != 0 and "run `record` first" in done.stderr
