"""CLI behaviour that does not need the agent: version, tool listing, and one-line errors for user mistakes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from limner import __version__
from limner.cli import app
from limner.perf.store import PerfStore

runner = CliRunner()


def test_version() -> None:
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and __version__ in res.output


def test_tools_list_json_shows_the_sandbox() -> None:
    res = runner.invoke(app, ["tools", "list", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert rows and all(r["backend"] == "sandbox" for r in rows)
    assert any(r["kind"] == "generate" and r["loadable"] and r["ready"] and r["simulated"] for r in rows)
    assert all(r["family"] is None for r in rows)


def test_tools_list_shows_families(tmp_path: Path) -> None:
    cfg = tmp_path / "fam.yaml"
    cfg.write_text(
        "tools:\n"
        "  - {name: alder, backend: sandbox, type: painter, family: trees, options: {profile: p-alder}}\n"
        "  - {name: birch, backend: sandbox, type: painter, family: trees, options: {profile: p-birch}}\n"
        "  - {name: checker, backend: sandbox, type: checker}\n"
    )
    res = runner.invoke(app, ["tools", "list", "--config", str(cfg), "--json"])
    assert res.exit_code == 0, res.output
    assert {r["name"]: r["family"] for r in json.loads(res.stdout)} == {"alder": "trees", "birch": "trees", "checker": None}
    table = runner.invoke(app, ["tools", "list", "--config", str(cfg)])
    assert table.exit_code == 0 and "family" in table.output and "trees" in table.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["generate", ""], "prompt is empty"),
        (["generate", "   "], "prompt is empty"),
        (["generate", "a cat", "--config", "{cfg}"], "agent.rounds"),
        (["generate", "a cat", "--config", "missing.yaml"], "not found"),
        (["generate", "a cat", "--run-id", "../escape", "--out", "{tmp}"], "invalid run id"),
        (["generate", "a cat", "--resume", "--out", "{tmp}"], "--resume needs --run-id"),
        (["check", "{tmp}/nope.png", "--prompt", "a cat"], "image not found"),
        (["check", "{junk}", "--prompt", "a cat"], "not a readable image"),
        (["tools", "list", "--config", "{cfg}"], "agent.rounds"),
        (["check", "{tiny}", "--prompt", "a cat"], "is 1×1 pixels; limner needs at least 8×8"),
        (["edit", "{tiny}", "make the cat blue", "--out", "{tmp}"], "is 1×1 pixels"),
        (["check", "{tmp}", "--prompt", "a cat"], "is a directory, not an image file"),
        (["edit", "{tmp}", "make the cat blue", "--out", "{tmp}"], "is a directory, not an image file"),
        (["generate", "a cat", "--seed", "-1", "--out", "{tmp}"], "--seed -1: input should be greater than or equal to 0"),
        (["edit", "{png}", "make the cat blue", "--seed", "-1", "--out", "{tmp}"], "--seed -1:"),
        (["generate", "a cat", "--rounds", "0", "--out", "{tmp}"], "--rounds 0: input should be greater than or equal to 1"),
        (["generate", "a cat", "--rounds", "51", "--out", "{tmp}"], "--rounds 51: input should be less than or equal to 50"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(tmp_path: Path, args: list[str], needle: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("agent:\n  rounds: many\n")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    Image.new("RGB", (1, 1)).save(tiny := tmp_path / "tiny.png")
    Image.new("RGB", (64, 64), "white").save(png := tmp_path / "blank.png")
    args = [a.format(cfg=cfg, tmp=tmp_path, junk=junk, tiny=tiny, png=png) for a in args]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert needle in res.output
    assert "Traceback" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1


def test_unwritable_out_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")  # even root cannot create a directory below a file
    res = runner.invoke(app, ["generate", "a cat", "--out", str(blocker / "runs")])
    assert res.exit_code == 2, res.output
    assert "cannot create output directory" in res.output and "Traceback" not in res.output


def test_console_script_runs() -> None:
    res = subprocess.run([sys.executable, "-m", "limner.cli", "--version"], capture_output=True, text=True, check=False)
    assert res.returncode == 0 and __version__ in res.stdout


def test_check_exit_status_says_whether_the_image_passes(tmp_path: Path) -> None:
    res = runner.invoke(app, ["generate", "a photo of a cat", "--out", str(tmp_path), "--run-id", "c", "--json"])
    assert res.exit_code == 0, res.output
    final = tmp_path / "c" / "final.png"
    Image.new("RGB", (64, 64), "white").save(blank := tmp_path / "blank.png")
    for image, table_code in ((final, None), (blank, 1)):
        as_json = runner.invoke(app, ["check", str(image), "--prompt", "a photo of a cat", "--json"])
        verdict = json.loads(as_json.stdout)  # printed whether it passes or not
        assert as_json.exit_code == (0 if verdict["passed"] else 1), as_json.output
        assert table_code is None or as_json.exit_code == table_code  # a blank image never shows a cat
        as_table = runner.invoke(app, ["check", str(image), "--prompt", "a photo of a cat"])
        assert as_table.exit_code == as_json.exit_code and "Traceback" not in as_table.output
    assert "1 when it does not" in runner.invoke(app, ["check", "--help"]).output


def test_help_shows_boolean_flags_as_flags_and_the_defaults() -> None:
    text = runner.invoke(app, ["generate", "--help"], env={"COLUMNS": "200"}).output
    for flag in ("--resume", "--json"):
        line = next(ln for ln in text.splitlines() if flag in ln)
        assert "bool" not in line.lower(), line
    assert "agent.rounds, 3 unless set" in text and "out_dir, runs unless set" in text
    assert "seed, 0 unless set" in text and "sandbox: the offline simulated world" in text


def test_perf_commands_default_to_the_matrices_runs_use(tmp_path: Path) -> None:
    store = str(tmp_path / "perf.sqlite")
    assert runner.invoke(app, ["perf", "seed", "--store", store]).exit_code == 0
    assert runner.invoke(app, ["perf", "seed", "edit", "--store", store]).exit_code == 0
    with PerfStore(store) as s:
        assert sorted(s.names()) == ["edit", "generate"]  # what load_matrices reads and the routers learn into
    shown = runner.invoke(app, ["perf", "show", "--store", store], env={"COLUMNS": "300"})
    assert shown.exit_code == 0 and "matrix 'generate'" in shown.output and "matrix 'edit'" in shown.output
    history = runner.invoke(app, ["perf", "history", "--store", store], env={"COLUMNS": "200"})
    assert "history of 'generate'" in history.output and "history of 'edit'" in history.output
    one = runner.invoke(app, ["perf", "show", "--store", store, "--heatmap", str(tmp_path / "h.png")])
    assert one.exit_code == 2 and "--name" in one.output


def test_perf_show_names_what_a_store_without_run_matrices_holds(tmp_path: Path) -> None:
    store = str(tmp_path / "perf.sqlite")
    assert runner.invoke(app, ["perf", "seed", "--store", store, "--name", "mine"]).exit_code == 0
    res = runner.invoke(app, ["perf", "show", "--store", store], env={"COLUMNS": "300"})
    assert res.exit_code == 2 and "mine" in res.output and "Traceback" not in res.output
    assert runner.invoke(app, ["perf", "show", "--store", store, "--name", "mine"]).exit_code == 0


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def test_tools_list_says_where_the_weights_are_and_whether_the_server_answers(tmp_path: Path) -> None:
    (model := tmp_path / "model").mkdir()
    cfg = tmp_path / "real.yaml"
    cfg.write_text(
        "device: cpu\ntools:\n"
        f"  - {{name: local, backend: diffusers, type: text2image, options: {{model: '{model}'}}}}\n"
        f"  - {{name: judge, backend: openai, type: vlm_checker, options: {{base_url: '{_closed_port_url()}', model: m}}}}\n"
    )
    res = runner.invoke(app, ["tools", "list", "--config", str(cfg), "--json", "--timeout", "1"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    if rows["local"]["loadable"]:  # torch and diffusers installed: the weights are found, not loaded
        assert rows["local"]["ready"] and rows["local"]["weights"] == f"local directory {model}"
    assert rows["judge"]["loadable"] and not rows["judge"]["ready"] and "does not answer" in rows["judge"]["reason"]
    assert rows["judge"]["server"].startswith("no answer within 1 s")
