"""The checker-on-painted-images rates (benchmarks/sandbox.py) and the agent's per-prompt disagreement
(benchmarks/agent.py): the definitions BENCHMARKS.md states, on hand-made verdict pairs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]


def _bench(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sandbox() -> ModuleType:
    return _bench("sandbox")


def test_rates_follow_the_stated_definitions(sandbox: ModuleType) -> None:
    # (checker passed, truth passed): 4 truth-failing checks, one passed by the checker; 6 truth-passing,
    # two failed by the checker.
    pairs = [(True, False), (False, False), (False, False), (False, False),
             (True, True), (True, True), (True, True), (True, True), (False, True), (False, True)]
    r = sandbox.rates(pairs)
    assert r["n"] == 10
    assert r["base_rate_fail"] == pytest.approx(0.4)
    assert r["false_pass"] == pytest.approx(0.25)
    assert r["false_fail"] == pytest.approx(2 / 6)
    assert r["balanced_accuracy"] == pytest.approx((0.75 + 4 / 6) / 2)


def test_an_always_pass_judge_scores_half_and_its_errors_are_the_base_rate(sandbox: ModuleType) -> None:
    truth = [False] * 3 + [True] * 17
    r = sandbox.rates([(True, t) for t in truth])
    assert r["false_pass"] == 1.0 and r["false_fail"] == 0.0
    assert r["balanced_accuracy"] == pytest.approx(0.5)
    assert r["base_rate_fail"] == pytest.approx(0.15)


def test_rates_say_none_where_a_condition_never_occurred(sandbox: ModuleType) -> None:
    assert sandbox.rates([]) == {"n": 0, "base_rate_fail": None, "false_pass": None, "false_fail": None,
                                 "balanced_accuracy": None}
    only_passing = sandbox.rates([(True, True), (False, True)])
    assert only_passing["false_pass"] is None and only_passing["balanced_accuracy"] is None
    assert only_passing["false_fail"] == pytest.approx(0.5)


def test_disagreement_is_per_prompt_not_the_difference_of_two_rates() -> None:
    agent = _bench("agent")
    # equal overall pass rates (2/4 each) but every prompt disagrees at round 3; none at round 1
    out = agent.disagreement({1: [(True, True), (False, False)],
                              3: [(True, False), (False, True), (True, False), (False, True)]})
    assert out["rounds"] == {"1": 0.0, "3": 1.0}
    assert out["checker_only_pass"]["3"] == pytest.approx(0.5)
    assert out["truth_only_pass"]["3"] == pytest.approx(0.5)


@pytest.mark.slow
def test_checker_painted_counts_every_judged_check_once(sandbox: ModuleType) -> None:
    out = sandbox.measure_checker_painted(1, seed=3, size=256)
    by_source = out["checker_painted_by_source"]
    for dim, row in out["checker_painted"].items():
        assert row["n"] == by_source["painters"][dim]["n"] + by_source["editors"][dim]["n"]
    assert out["checker_painted"]["presence"]["n"] > 0
    images = out["checker_painted_images"]
    assert images["painted"] >= 1 and images["edited"] + images["edit_tool_errors"] <= images["painted"]
