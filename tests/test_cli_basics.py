"""CLI behaviour that does not need the agent: version, tool listing, and one-line errors for user mistakes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from limner import __version__
from limner.cli import app

runner = CliRunner()


def test_version() -> None:
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and __version__ in res.output


def test_tools_list_json_shows_the_sandbox() -> None:
    res = runner.invoke(app, ["tools", "list", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert rows and all(r["backend"] == "sandbox" for r in rows)
    assert any(r["kind"] == "generate" and r["loadable"] and r["simulated"] for r in rows)
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
    ],
)
def test_user_errors_are_one_line_and_exit_2(tmp_path: Path, args: list[str], needle: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("agent:\n  rounds: many\n")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    args = [a.format(cfg=cfg, tmp=tmp_path, junk=junk) for a in args]
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
