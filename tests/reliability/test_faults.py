"""Injected tool faults (issue #30): every fault a painter or an editor can throw at the agent is survived
through the real registry, router, time-out and fallback path; and the judge of a run can fail."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from limner.agent.worker import _image_problem
from limner.types import ToolResult
from reliability.faults import FAULTS
from reliability.scenarios import judge_run, run_fault

EDIT_FAULTS = ["corrupt", "non_image", "crash"]  # all 12 in both places: benchmarks/reliability.py


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_painter_fault_is_survived(fault: str, tmp_path: Path) -> None:
    outcome = run_fault(fault, "generate", tmp_path)
    assert outcome.injected >= 1, "the fault was never injected: the test proves nothing"
    assert outcome.survived, outcome.problems


@pytest.mark.parametrize("fault", EDIT_FAULTS)
def test_an_editor_fault_is_survived(fault: str, tmp_path: Path) -> None:
    outcome = run_fault(fault, "edit", tmp_path)
    assert outcome.injected >= 1, "no repair reached the faulty editor"
    assert outcome.survived, outcome.problems


def test_unusable_images_are_named() -> None:
    def problem(image: object) -> str | None:
        return _image_problem(ToolResult(tool="t", image=image))

    assert problem(None) == "no image"
    assert "bytes instead of an image" in problem(b"png")
    assert "too small" in problem(Image.new("RGB", (1, 1)))
    assert problem(Image.new("RGB", (64, 64))) is None
    big = ToolResult(tool="t", image=Image.new("RGB", (4096, 1024)))
    assert _image_problem(big) is None and big.image.size == (2048, 512) and big.meta["downscaled_from"] == [4096, 1024]


def test_the_run_judge_sees_a_traceback_and_a_failed_run(tmp_path: Path) -> None:
    """The counter must be able to fail: a run that crashed, or printed a traceback, is not 'survived'."""
    crashed = SimpleNamespace(exception=RuntimeError("boom"), output="Traceback (most recent call last):\n", exit_code=1,
                              stdout="")
    problems = judge_run(tmp_path / "missing-run", crashed)
    assert any("exception escaped" in p for p in problems) and any("traceback" in p for p in problems)
    assert any("no final.png" in p for p in problems)
