"""Tool families in the Bayesian router: exact joint inference, shared evidence, persistence, config wiring."""

from __future__ import annotations

import json

import numpy as np
import pytest

from limner.agent.loop import Agent
from limner.config import PerfConfig, load_config
from limner.perf.matrix import PerformanceMatrix
from limner.perf.options import RouterOptions
from limner.perf.update import BayesRouter, make_router, router_options
from limner.types import Subtask

DIMS = ["color", "numeracy", "spatial_2d"]


def sub(**weights: float) -> Subtask:
    return Subtask(id="s", kind="generate", instruction="x", weights=weights)


def matrix(columns: dict[str, list[float]]) -> PerformanceMatrix:
    tools = list(columns)
    values = np.array([columns[t] for t in tools]).T
    return PerformanceMatrix(DIMS, tools, values, [["published"] * len(tools)] * len(DIMS))


COLUMNS = {
    "a": [0.70, 0.40, 0.50],
    "b": [0.65, 0.45, 0.55],
    "c": [0.20, 0.40, 0.50],  # a badly wrong published colour score
    "lone": [0.60, 0.60, 0.60],
}
FAMILIES = {"a": "base", "b": "base", "c": "base"}


def fixed_noise_router(**kw: object) -> BayesRouter:
    """Constant, known noise and no drift alarm: the posterior is a plain Gaussian conditioning."""
    options = RouterOptions(noise_shape="constant", noise_pseudo_obs=1e12, noise_sd=0.1, drift_h=1e9, **kw)  # type: ignore[arg-type]
    return BayesRouter(matrix(COLUMNS), options)


def brute_force_posterior(
    router: BayesRouter, observations: list[tuple[str, np.ndarray, float]]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The family model written out over the stacked skills θ = [θ_a, θ_b, θ_c] and conditioned in one go."""
    members = ["a", "b", "c"]
    d = len(DIMS)
    n = len(members)
    # θ_j = φ + e_j, φ ~ N(½, I), e_j ~ N(0, C_f)
    prior_cov = np.kron(np.ones((n, n)), np.eye(d)) + np.kron(np.eye(n), router.skill.family_cov)
    precision = np.linalg.inv(prior_cov)
    info = precision @ np.full(n * d, 0.5)
    for k, t in enumerate(members):  # each published column is a reading of θ_t with the lone prior covariance
        h = np.zeros((d, n * d))
        h[:, k * d : (k + 1) * d] = np.eye(d)
        r_inv = np.linalg.inv(router.skill.cov0)
        precision += h.T @ r_inv @ h
        info += h.T @ r_inv @ np.array(COLUMNS[t])
    noise_var = router.noise_var
    for t, x, y in observations:
        k = members.index(t)
        h = np.zeros(n * d)
        h[k * d : (k + 1) * d] = x
        precision += np.outer(h, h) / noise_var
        info += h * y / noise_var
    cov = np.linalg.inv(precision)
    mean = cov @ info
    return {t: (mean[k * d : (k + 1) * d], cov[k * d : (k + 1) * d, k * d : (k + 1) * d]) for k, t in enumerate(members)}


def test_family_posterior_equals_brute_force_gaussian_conditioning() -> None:
    r = fixed_noise_router(families=FAMILIES)
    rng = np.random.default_rng(0)
    observations = []
    for _ in range(12):
        t = str(rng.choice(["a", "b", "c"]))
        dim = str(rng.choice(DIMS))
        y = float(rng.random())
        r.update(sub(**{dim: 1.0}), {t: y}, {})
        x = np.zeros(len(DIMS))
        x[DIMS.index(dim)] = 1.0
        observations.append((t, x, y))
    truth = brute_force_posterior(r, observations)
    for t, (mean, cov) in truth.items():
        np.testing.assert_allclose(r.mu[t], mean, atol=1e-9)
        np.testing.assert_allclose(r.cov[t], cov, atol=1e-9)


def test_singleton_families_change_nothing() -> None:
    plain = fixed_noise_router()
    singles = fixed_noise_router(families={t: t for t in COLUMNS})
    for r in (plain, singles):
        r.update(sub(color=0.5, numeracy=0.5), {"a": 0.9, "c": 0.3}, {})
    assert singles.skill.family_members == {}
    for t in COLUMNS:
        np.testing.assert_allclose(singles.mu[t], plain.mu[t])
        np.testing.assert_allclose(singles.cov[t], plain.cov[t])


def test_family_mean_corrects_a_members_wrong_published_score() -> None:
    r = BayesRouter(matrix(COLUMNS), RouterOptions(families=FAMILIES))
    lone = BayesRouter(matrix(COLUMNS))
    colour = DIMS.index("color")
    assert lone.mu["c"][colour] == pytest.approx(0.20)
    assert r.mu["c"][colour] > 0.45  # pulled towards its siblings' 0.65-0.70
    assert r.mu["lone"][colour] == pytest.approx(0.60)  # not in a family: untouched


def test_a_run_of_one_member_teaches_its_siblings_only() -> None:
    r = BayesRouter(matrix(COLUMNS), RouterOptions(families=FAMILIES))
    before = {t: r.mu[t].copy() for t in COLUMNS}
    sd_before = r.posterior_sd(sub(numeracy=1.0), "b")
    for _ in range(10):
        r.update(sub(numeracy=1.0), {"a": 0.95}, {"dimension_scores": {"numeracy": 0.95}})
    k = DIMS.index("numeracy")
    assert r.mu["a"][k] > before["a"][k] + 0.2
    assert r.mu["b"][k] > before["b"][k] + 0.1 and r.mu["c"][k] > before["c"][k] + 0.1
    assert r.posterior_sd(sub(numeracy=1.0), "b") < sd_before
    np.testing.assert_array_equal(r.mu["lone"], before["lone"])
    # the matrix shows the siblings' new means, but marks as learned only what was observed
    assert r.matrix.get("b", "numeracy") == pytest.approx(r.mu["b"][k])
    assert r.matrix.source("a", "numeracy") == "bayes" and r.matrix.source("b", "numeracy") == "published"


def test_state_round_trip_and_state_saved_without_families() -> None:
    r = BayesRouter(matrix(COLUMNS), RouterOptions(families=FAMILIES))
    r.update(sub(color=0.7, spatial_2d=0.3), {"a": 0.8, "c": 0.6, "lone": 0.4}, {})
    state = json.loads(json.dumps(r.state_dict()))
    again = BayesRouter(matrix(COLUMNS), RouterOptions(families=FAMILIES))
    again.load_state_dict(state)
    for t in COLUMNS:
        np.testing.assert_allclose(again.mu[t], r.mu[t])
        np.testing.assert_allclose(again.cov[t], r.cov[t])
    # a state saved by a router without families: the family is built from the learned per-tool posteriors
    plain = BayesRouter(matrix(COLUMNS))
    plain.update(sub(color=1.0), {"c": 0.9}, {"dimension_scores": {"color": 0.9}})
    grown = BayesRouter(matrix(COLUMNS), RouterOptions(families=FAMILIES))
    grown.load_state_dict(plain.state_dict())
    assert grown.skill.family_members == {"base": ["a", "b", "c"]}
    siblings = (grown.mu["a"][0] + grown.mu["b"][0]) / 2
    assert plain.mu["c"][0] > 0.6  # c learned it is far better at colour than published ...
    assert abs(grown.mu["c"][0] - siblings) < abs(plain.mu["c"][0] - siblings)  # ... and its family agrees


def test_new_member_joins_its_family_and_learns_from_it() -> None:
    cols = {t: COLUMNS[t] for t in ("a", "lone")}
    r = BayesRouter(matrix(cols), RouterOptions(families={"a": "base", "new": "base", "newer": "base"}))
    assert r.skill.family_members == {}  # one member in the matrix: a lone tool
    r.rank(sub(color=1.0), ["a", "lone", "new"])  # an unknown tool joins with the uninformative prior
    assert r.skill.family_members == {"base": ["a", "new"]}
    r.rank(sub(color=1.0), ["a", "lone", "new", "newer"])
    assert r.skill.family_members["base"] == ["a", "new", "newer"]
    before = r.mu["newer"].copy()
    for _ in range(8):
        r.update(sub(color=1.0), {"a": 0.95, "new": 0.9}, {})
    assert r.mu["newer"][0] > before[0] + 0.1


def test_drift_alarm_reopens_only_the_drifting_members_offset() -> None:
    r = BayesRouter(matrix(COLUMNS), RouterOptions(families=FAMILIES, drift_h=1.0))
    for _ in range(5):
        r.update(sub(color=1.0), {"a": 0.7, "b": 0.65}, {"dimension_scores": {"a": {"color": 0.7}, "b": {"color": 0.65}}})
    sd_b = r.posterior_sd(sub(color=1.0), "b")
    sd_a = r.posterior_sd(sub(color=1.0), "a")
    for _ in range(3):  # a new version behind a's name: far worse than expected
        r.update(sub(color=1.0), {"a": 0.0}, {"dimension_scores": {"color": 0.0}})
    assert "a" in r.drifts
    assert r.posterior_sd(sub(color=1.0), "a") > sd_a
    assert r.posterior_sd(sub(color=1.0), "b") == pytest.approx(sd_b, rel=0.2)


def test_family_options_reach_the_router() -> None:
    opts = router_options(PerfConfig(family_sd=0.1), families={"a": "base", "b": "base"})
    r = make_router("bayes", matrix(COLUMNS), **opts)
    assert isinstance(r, BayesRouter) and r.skill.family_members == {"base": ["a", "b"]}
    np.testing.assert_allclose(r.skill.family_cov, 0.01 * np.eye(3) + 0.01)
    make_router("apu", matrix(COLUMNS), **opts)  # the other updaters ignore families
    with pytest.raises(ValueError, match="family_sd"):
        BayesRouter(matrix(COLUMNS), RouterOptions(family_sd=0.0))


def test_agent_builds_families_from_tool_configs() -> None:
    config = load_config("sandbox")
    tools = [
        t.model_copy(update={"family": "tree"}) if t.name in ("alder", "birch", "cedar") else t
        for t in config.tools
    ]
    agent = Agent(config.model_copy(update={"tools": tools}))
    router = agent.worker.routers["generate"]
    assert router.skill.family_members == {"tree": ["alder", "birch", "cedar"]}

