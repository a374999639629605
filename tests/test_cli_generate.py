"""`limner generate` end to end on the sandbox: run directory, --json summary, and kill + --resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from limner.cli import app
from limner.types import parse_step

PROMPT = "two red apples to the left of a blue cup"
PLUGINS = str(Path(__file__).parent / "plugins")


def test_generate_writes_a_complete_run_dir(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["generate", PROMPT, "--out", str(tmp_path), "--seed", "3", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    run = Path(summary["run_dir"])
    assert run.parent == tmp_path.resolve() and summary["status"] == "done" and summary["simulated"] is True
    for name in ("final.png", "manifest.json", "trajectory.jsonl"):
        assert (run / name).is_file() and name in summary["files"]
    for rel in summary["files"]:
        assert (run / rel).is_file()
    assert summary["timings"]["total_s"] > 0

    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "done" and manifest["prompt"] == PROMPT and manifest["seed"] == 3
    steps = [parse_step(line) for line in (run / "trajectory.jsonl").read_text().splitlines()]
    assert steps[0].type == "analysis" and steps[-1].type == "final"
    assert manifest["steps"] == len(steps)
    assert {e.cls for e in steps[0].scene.elements} == {"apple", "cup"}
    with Image.open(run / "final.png") as im:
        pixels = np.asarray(im.convert("RGB"), dtype=np.float32)
    assert pixels.std() > 10, "final.png is blank"
    assert (run / steps[-1].image_path).read_bytes() == (run / "final.png").read_bytes()


def test_same_seed_same_final_image(tmp_path: Path) -> None:
    finals = []
    for i in range(2):
        res = CliRunner().invoke(app, ["generate", "a photo of three blue cups", "--out", str(tmp_path / str(i)),
                                       "--seed", "5", "--json", "--config", str(_no_learning(tmp_path))])
        assert res.exit_code == 0, res.output
        finals.append(Path(json.loads(res.stdout.strip().splitlines()[-1])["final_image"]).read_bytes())
    assert finals[0] == finals[1]


def _no_learning(tmp_path: Path) -> Path:
    cfg = tmp_path / "static.yaml"
    cfg.write_text("perf:\n  learn: false\n")
    return cfg


def _slow_config(tmp_path: Path, calls: Path, delay_s: float = 0.6) -> Path:
    cfg = tmp_path / "slow.yaml"
    cfg.write_text(
        "agent:\n  rounds: 3\n  goal: 1.0\n"
        "perf:\n  learn: false\n"
        "tools:\n"
        f"  - {{name: slowpoke, backend: 'slow_backend:SlowPainter', options: {{delay_s: {delay_s}, calls_file: '{calls}', profile: p-birch}}}}\n"
        f"  - {{name: fern, backend: sandbox, type: editor, options: {{profile: e-fern}}}}\n"
        f"  - {{name: checker, backend: sandbox, type: checker}}\n"
    )
    return cfg


def _slow_run(tmp_path: Path, *extra: str, delay_s: float = 0.6) -> tuple[Path, Path, dict[str, str], list[str]]:
    """(calls file, output root, environment, command) of a slow sandbox generation in a subprocess."""
    calls = tmp_path / "calls.txt"
    cfg = _slow_config(tmp_path, calls, delay_s)
    out = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": PLUGINS + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "limner.cli", "generate", "three purple clocks above a green bus", "--out", str(out),
           "--config", str(cfg), *extra, "--seed", "1"]
    return calls, out, env, cmd


def test_killed_run_resumes_without_redoing_finished_steps(tmp_path: Path) -> None:
    calls, out, env, cmd = _slow_run(tmp_path, "--run-id", "r1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    traj = out / "r1" / "trajectory.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline:  # kill as soon as the first tool step is durable
        if traj.exists() and any('"type":"tool"' in line for line in traj.read_text().splitlines()):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = traj.read_text().splitlines()
    tool_steps_before = [parse_step(line) for line in before if '"type":"tool"' in line]
    assert tool_steps_before, "the run finished or died before its first tool step"
    manifest = json.loads((out / "r1" / "manifest.json").read_text())
    assert manifest["status"] == "running" and "final.png" not in os.listdir(out / "r1")
    calls_before = calls.read_text().splitlines()

    res = subprocess.run(cmd + ["--resume", "--json"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    after = traj.read_text().splitlines()
    assert after[: len(before)] == before, "resume rewrote recorded steps"
    steps = [parse_step(line) for line in after]
    assert [s.index for s in steps] == list(range(len(steps))) and steps[-1].type == "final"
    calls_after = calls.read_text().splitlines()[len(calls_before):]
    redone = {s.call.seed for s in tool_steps_before if s.call.tool == "slowpoke"} & {
        int(line.split()[1]) for line in calls_after
    }
    assert not redone, f"resume called the painter again for finished steps (seeds {redone})"
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["status"] == "done" and Path(summary["final_image"]).is_file()


def test_resume_of_a_finished_run_changes_nothing(tmp_path: Path) -> None:
    args = ["generate", "a photo of a cat", "--out", str(tmp_path), "--run-id", "done1", "--json",
            "--config", str(_no_learning(tmp_path))]
    assert CliRunner().invoke(app, args).exit_code == 0
    traj = (tmp_path / "done1" / "trajectory.jsonl").read_text()
    res = CliRunner().invoke(app, [*args, "--resume"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "done1" / "trajectory.jsonl").read_text() == traj


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_marks_the_run_interrupted_and_prints_the_real_id_to_resume(tmp_path: Path) -> None:
    calls, out, env, cmd = _slow_run(tmp_path, delay_s=1.5)
    # A child inherits an ignored SIGINT, and a shell starts background jobs (`pytest ... &`) with SIGINT
    # ignored: the run would then finish instead of stopping. A user's terminal gives the CLI the default.
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)  # noqa: PLW1509 - only resets one signal disposition
    deadline = time.time() + 60
    while time.time() < deadline and not calls.exists():  # the painter is at work: the run is mid-way
        time.sleep(0.05)
    assert calls.exists(), "the painter was never called"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
    (run_dir,) = out.iterdir()  # the id was made up by the run: the message must name this one
    assert f"--run-id {run_dir.name} --resume" in stderr
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["error"].startswith("KeyboardInterrupt")

    res = subprocess.run([*cmd, "--run-id", run_dir.name, "--resume", "--json"], env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1])["status"] == "done"


def _config_with(tmp_path: Path, *tools: str) -> Path:
    cfg = tmp_path / "tools.yaml"
    cfg.write_text("device: cpu\nperf:\n  learn: false\ntools:\n" + "".join(f"  - {t}\n" for t in tools))
    return cfg


#: A diffusers generator whose weights are nowhere: `unavailable_reason` (no torch) or `readiness` (no model)
#: says so without loading anything.
MISSING_WEIGHTS = "{name: ghost, backend: diffusers, type: text2image, options: {model: /nonexistent/limner/model}}"


def test_generate_without_a_usable_generator_fails_at_once_with_a_failed_manifest(tmp_path: Path) -> None:
    cfg = _config_with(tmp_path, MISSING_WEIGHTS, "{name: checker, backend: sandbox, type: checker}")
    started = time.perf_counter()
    res = CliRunner().invoke(app, ["generate", "a red apple", "--config", str(cfg), "--out", str(tmp_path / "runs"),
                                   "--run-id", "g1"])
    assert res.exit_code == 2, res.output
    assert time.perf_counter() - started < 30  # no round was tried
    assert "no generate tool can run here" in res.stderr and "ghost" in res.stderr and "Traceback" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1
    manifest = json.loads((tmp_path / "runs" / "g1" / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "ghost" in manifest["error"]
    assert (tmp_path / "runs" / "g1" / "trajectory.jsonl").read_text() == ""


def test_generate_leaves_out_a_tool_that_cannot_run_and_says_so(tmp_path: Path) -> None:
    cfg = _config_with(tmp_path, MISSING_WEIGHTS, "{name: birch, backend: sandbox, type: painter, options: {profile: p-birch}}",
                       "{name: checker, backend: sandbox, type: checker}")
    res = CliRunner().invoke(app, ["generate", "a red apple", "--config", str(cfg), "--out", str(tmp_path / "runs"),
                                   "--run-id", "g2", "--json"])
    assert res.exit_code == 0, res.output
    assert "skipping tool ghost" in res.stderr
    steps = [parse_step(line) for line in (tmp_path / "runs" / "g2" / "trajectory.jsonl").read_text().splitlines()]
    assert {s.call.tool for s in steps if s.type == "tool"} == {"birch"}


def _edit_summary(res) -> dict:
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_edit_no_editor_can_do_keeps_the_image_and_exits_1(tmp_path: Path) -> None:
    src = tmp_path / "blank.png"
    Image.new("RGB", (256, 256), (240, 240, 240)).save(src)  # no cup to recolour
    res = CliRunner().invoke(app, ["edit", str(src), "make the cup red", "--out", str(tmp_path / "runs"),
                                   "--json", "--config", str(_no_learning(tmp_path))])
    assert res.exit_code == 1, res.output
    summary = _edit_summary(res)
    assert summary["final_image"].endswith("final.png")
    run = Path(summary["run_dir"])
    steps = [parse_step(line) for line in (run / "trajectory.jsonl").read_text().splitlines()]
    assert steps[-1].image_path == "images/input.png" and not steps[-1].passed
    assert (run / "final.png").read_bytes() == (run / "images/input.png").read_bytes()
    assert all(s.call.tool in ("fern", "gorse", "heath", "ivy") for s in steps if s.type == "tool"), "redrawn unasked"
    assert "did not pass" in res.stderr


def test_edit_allow_redraw_may_draw_a_new_picture(tmp_path: Path) -> None:
    src = tmp_path / "blank.png"
    Image.new("RGB", (256, 256), (240, 240, 240)).save(src)
    res = CliRunner().invoke(app, ["edit", str(src), "make the cup red", "--out", str(tmp_path / "runs"),
                                   "--json", "--allow-redraw", "--config", str(_no_learning(tmp_path))])
    steps = [parse_step(line) for line in (Path(_edit_summary(res)["run_dir"]) / "trajectory.jsonl").read_text()
             .splitlines()]
    assert any(s.type == "tool" and s.call.tool not in ("fern", "gorse", "heath", "ivy") for s in steps)
