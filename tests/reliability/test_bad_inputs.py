"""The bad-input corpus (issue #30): every case through the real command line gets a one-line error or a
handled result, never a traceback; and the counter does count a traceback when one happens.

The default run takes every config, command-line and stored-image `check` case and a sample of prompts and
edits (time); `-m slow` runs the whole corpus, large images included, as `benchmarks/reliability.py` does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reliability.corpus import Case, judge, load_cases, run_case, run_corpus, summary
from reliability.killer import env_with

TESTS = str(Path(__file__).resolve().parents[1])

CASES = load_cases()
PROMPTS = {"empty", "huge", "arabic_rtl", "rtl_override", "nul", "ansi_escape", "control_all", "rich_markup",
           "rich_close_tag", "inject_ignore", "path_like", "dash_prompt"}
EDITS = {"zero.png", "truncated.png", "alpha.png", "palette_alpha.png"}


def _quick(case: Case) -> bool:
    if case.kind == "prompt":
        return case.id.split(":", 1)[1] in PROMPTS
    if case.id.startswith("edit:"):
        return case.id.split(":", 1)[1] in EDITS
    return True


QUICK = [c for c in CASES if _quick(c)]


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 200 and len({c.id for c in CASES}) == len(CASES)
    assert {c.kind for c in CASES} == {"prompt", "config", "image", "cli"}


_RUN = ("import json, sys\nfrom pathlib import Path\nfrom reliability.corpus import load_cases, run_corpus\n"
        "ids = set(json.loads(sys.argv[1]))\n"
        "results = run_corpus([c for c in load_cases() if c.id in ids], Path(sys.argv[2]))\n"
        "print(json.dumps([r.to_dict() for r in results]))\n")


def test_bad_inputs_are_handled(tmp_path: Path) -> None:
    """The quick cases, run by the corpus runner in a process of their own (~150 CLI runs: their state stays
    out of the test process)."""
    res = subprocess.run([sys.executable, "-c", _RUN, json.dumps([c.id for c in QUICK]), str(tmp_path)],
                         env=env_with([TESTS]), capture_output=True, text=True, timeout=900, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    results = json.loads(res.stdout.strip().splitlines()[-1])
    assert len(results) == len(QUICK)
    tracebacks = [(r["id"], r["message"]) for r in results if r["traceback"]]
    unhandled = [(r["id"], r["why"], r["message"]) for r in results if not r["handled"]]
    assert not tracebacks, tracebacks
    assert not unhandled, unhandled


@pytest.mark.parametrize("case", [c for c in QUICK if c.kind == "cli"][:3], ids=lambda c: c.id)
def test_one_case_runs_in_this_process_too(case: Case, tmp_path: Path) -> None:
    result = run_case(case, tmp_path)
    assert result.handled and not result.traceback, f"{result.why}: {result.message}"


@pytest.mark.slow
def test_the_whole_corpus_with_large_images(tmp_path: Path) -> None:
    s = summary(run_corpus(load_cases(tmp_path / "large"), tmp_path / "cases"))
    assert s["tracebacks"] == 0 and s["handled"] == s["tried"] >= 200, s["not_handled"]


def test_the_counter_sees_a_traceback_a_silent_accept_and_a_multi_line_error() -> None:
    """The counters must be able to fail."""
    bad = Case("x", "cli", [], "error")
    tb = judge(bad, 1, "", "Traceback (most recent call last):\n  File ...\nKeyError: 'x'\n", None, 0.1)
    assert tb.traceback and not tb.handled
    escaped = judge(bad, 1, "", "", RuntimeError("internal"), 0.1)
    assert escaped.traceback and not escaped.handled
    user = judge(bad, 1, "", "", ValueError("the prompt is empty"), 0.1)  # main() prints this in one line
    assert user.handled and not user.traceback
    assert not judge(bad, 0, "done", "", None, 0.1).handled  # an error was expected: silently accepted
    assert not judge(bad, 2, "", "error: first line\nsecond line\n", None, 0.1).handled
    assert not judge(Case("y", "prompt", [], "ok"), 2, "", "error: no\n", None, 0.1).handled
    assert not judge(bad, 2, "", "error: slow\n", None, 999.0).handled


def test_huge_images_are_refused_from_their_header_and_large_ones_downscaled(tmp_path: Path) -> None:
    """Fast stand-ins for the large cases of the slow corpus run (no 300 MB decode here)."""
    from PIL import Image  # noqa: PLC0415 - only this test needs it

    from limner.imaging import MAX_WORK_SIDE, read_image  # noqa: PLC0415
    from reliability.make_images import flat_png  # noqa: PLC0415

    huge = flat_png(tmp_path / "huge.png", 10000, 10000, header_only=True)
    with pytest.raises(ValueError, match="10000×10000 pixels .* up to 40 MP"):
        read_image(huge)
    Image.new("RGB", (5000, 1000), (200, 10, 10)).save(tmp_path / "wide.png")
    assert read_image(tmp_path / "wide.png").size == (MAX_WORK_SIDE, 410)
    rgba = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    rgba.save(tmp_path / "clear.png")
    assert read_image(tmp_path / "clear.png").getpixel((5, 5)) == (255, 255, 255)  # transparent reads as white
