"""A flaky OpenAI-compatible endpoint (issue #30) through the LLM brain and the image tool: every fault is
survived (retried, or the rule brain / the next painter answers) and the key never leaks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("pydantic_ai")

from local_server import serve

from reliability.flaky import FlakyEndpoint
from reliability.leaks import files_under, find_leaks
from reliability.scenarios import SECRET, run_flaky


@pytest.fixture(scope="module")
def endpoint() -> Iterator[tuple[FlakyEndpoint, str]]:
    ep = FlakyEndpoint(slow_s=3.0)
    with serve(ep.app) as url:
        yield ep, url


BRAIN = ["malformed", "schema", "not_json", "empty", "429", "500", "drop", "echo_key"]
IMAGES = ["not_json", "drop", "echo_key"]  # every fault in both places: benchmarks/reliability.py


@pytest.mark.parametrize(("where", "fault"), [("brain", f) for f in BRAIN] + [("images", f) for f in IMAGES])
def test_endpoint_fault_is_survived_and_the_key_stays_secret(
    endpoint: tuple[FlakyEndpoint, str], where: str, fault: str, tmp_path: Path
) -> None:
    ep, url = endpoint
    outcome = run_flaky(ep, url, [fault, fault], where, tmp_path)
    assert outcome.injected >= 1, f"the endpoint never served {fault}"
    assert outcome.survived, outcome.problems
    texts = {**files_under(tmp_path / "runs"), "output": (tmp_path / "output.txt").read_text()}
    assert find_leaks(texts, SECRET) == []
    assert any(SECRET in auth for auth in ep.auth_seen), "the key was never sent: nothing was at stake"


@pytest.mark.slow
@pytest.mark.parametrize("where", ["brain", "images"])
def test_a_slow_endpoint_times_out_and_the_run_goes_on(endpoint: tuple[FlakyEndpoint, str], where: str,
                                                      tmp_path: Path) -> None:
    ep, url = endpoint
    outcome = run_flaky(ep, url, ["slow", "slow"], where, tmp_path)
    assert outcome.injected >= 1 and outcome.survived, outcome.problems


def test_a_fallback_is_recorded_in_the_trajectory(endpoint: tuple[FlakyEndpoint, str], tmp_path: Path) -> None:
    """Survived is not silent: the step the rule brain answered says why."""
    ep, url = endpoint
    run_flaky(ep, url, ["empty"] * 8, "brain", tmp_path)
    trajectory = (tmp_path / "runs" / "f" / "trajectory.jsonl").read_text()
    assert "LLM brain failed" in trajectory and "the rule-based brain answered" in trajectory


def test_the_leak_scan_finds_a_planted_key() -> None:
    assert find_leaks({"a": f"Bearer {SECRET}", "b": SECRET[3:20].encode(), "c": "nothing here"}, SECRET) == ["a", "b"]
