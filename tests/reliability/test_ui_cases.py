"""Bad input through the web UI's handlers (issue #30): every case handled, no traceback, no key shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from reliability.scenarios import SECRET
from reliability.ui_cases import run_ui_cases, ui_available

pytestmark = pytest.mark.skipif(not ui_available(), reason="needs the ui extra (gradio)")


def test_every_ui_case_is_handled_without_a_traceback_or_a_leak(tmp_path: Path) -> None:
    _, s = run_ui_cases(tmp_path)
    assert s["tried"] >= 50
    assert s["not_handled"] == [] and s["tracebacks"] == 0 and s["secrets_leaked"] == 0, s


def test_the_counters_can_fail(tmp_path: Path) -> None:
    import gradio as gr  # noqa: PLC0415 - the ui extra

    def crash() -> None:
        raise KeyError("a bug")

    def two_lines() -> None:
        raise gr.Error("first\nsecond")

    def ok() -> str:
        return "fine"

    _, s = run_ui_cases(tmp_path, cases=[("crash", "error", crash), ("two_lines", "error", two_lines),
                                         ("accepted_bad", "error", ok), ("leak", "ok", lambda: f"key {SECRET}")])
    assert (s["tried"], s["handled"], s["tracebacks"], s["secrets_leaked"]) == (4, 1, 1, 1)
    assert {r["id"] for r in s["not_handled"]} == {"crash", "two_lines", "accepted_bad"}
