"""The UI's run handler without a browser: streaming, one-line errors, Cancel marks the run interrupted."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.ui
gr = pytest.importorskip("gradio")

from limner.ui.app import UISettings, _Runner

PLUGINS = str(Path(__file__).resolve().parents[1] / "plugins")


def test_a_cancelled_run_is_marked_interrupted_never_running(tmp_path: Path) -> None:
    cfg = tmp_path / "slow.yaml"
    cfg.write_text("perf:\n  learn: false\ntools:\n"
                   "  - {name: slowpoke, backend: 'slow_backend:SlowPainter', options: {delay_s: 0.4, profile: p-birch}}\n"
                   "  - {name: fern, backend: sandbox, type: editor, options: {profile: e-fern}}\n"
                   "  - {name: checker, backend: sandbox, type: checker}\n")
    sys.path.insert(0, PLUGINS)
    try:
        gen = _Runner(UISettings(config=str(cfg), out_dir=tmp_path / "runs")).run(
            "three purple clocks above a green bus", None, "", 5, 1)
        first = next(gen)  # the run directory exists before the first step
        run_dir = Path(first[-1])
        next(gen)
        gen.close()  # what Gradio does on Cancel or a closed page
        deadline = time.time() + 30
        while time.time() < deadline:
            status = json.loads((run_dir / "manifest.json").read_text())["status"]
            if status != "running":
                break
            time.sleep(0.1)
        assert status == "interrupted"
    finally:
        sys.path.remove(PLUGINS)


def test_user_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    runner = _Runner(UISettings(out_dir=tmp_path / "runs"))
    with pytest.raises(gr.Error, match="empty"):
        next(runner.run("   ", None, "", 3, 0))
    with pytest.raises(gr.Error, match="rounds"):
        next(runner.run("a cat", None, "", 99, 0))
    bad = tmp_path / "bad.yaml"
    bad.write_text("agent:\n  rounds: many\n")
    with pytest.raises(gr.Error, match="rounds"):
        list(_Runner(UISettings(config=str(bad), out_dir=tmp_path / "runs")).run("a cat", None, "", 3, 0))
