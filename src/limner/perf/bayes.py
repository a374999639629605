"""`BayesRouter` ("bayes", limner's default updater): a Gaussian skill model plus an exploration policy.

- The skill model (`limner.perf.skill.SkillModel`): one Bayesian linear model per tool, θ_j ∈ R^d with a
  Gaussian prior centred on the prior matrix column; an observed score is `y = xᵀθ_j + ε`, where x is
  W_task for an overall score, or a unit vector for a per-dimension score (evidence["dimension_scores"],
  which the checker produces per check). Updates are exact Kalman (rank-one) steps; the noise variance is
  learned from predictive residuals; there is no η to tune. Tool families share evidence through a joint
  Gaussian state; a CUSUM per tool re-opens its covariance when it drifts.
- Ranking: by the expected raw score W_task·μ_j (no Normalize: min-max columns distort multi-dimension
  subtasks, a 4.7% error floor for any normalised-matrix router in the trial), optionally minus a cost term.
- The exploration policy (`limner.perf.explore.Explorer`): besides the greedy tool, the tools with the
  highest posterior chance of being the best for THIS subtask, then spare runs that settle the most recent
  choices; `min_p_best` lets exploration stop once no other tool has a real chance.

Why families: a 200-tool pool drawn from a few base models cannot be learned tool by tool in 1000 steps
(20 runs per tool); the family shares what the runs teach.

All knobs come in one validated `RouterOptions`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from limner.perf.explore import Explorer
from limner.perf.matrix import MatrixError, PerformanceMatrix, rank_scores
from limner.perf.options import RouterOptions
from limner.perf.router import MatrixRouterBase, check_outcomes
from limner.perf.skill import SkillModel
from limner.types import ROUTED_DIMS, Subtask


class BayesRouter(MatrixRouterBase):
    """Per-tool Bayesian linear model, probability-of-best exploration, cost term and drift alarm.

    `skill` holds the posterior (and the tool families), `explorer` the exploration policy and the recent
    workload; the router ranks, hands each the data it needs, and keeps the matrix in step with the means.
    """

    def __init__(self, matrix: PerformanceMatrix, options: RouterOptions | None = None) -> None:
        super().__init__(matrix.copy())
        self.options = options if options is not None else RouterOptions()
        self.costs, self.cost_weight = self.options.costs, self.options.cost_weight
        self.skill = SkillModel(len(self.matrix.dims), self.options)
        self.explorer = Explorer(self.options)
        self.obs = np.zeros((len(self.matrix.dims), len(self.matrix.tools)))  # evidence mass per cell
        self.skill.start([self._prior(t) for t in self.matrix.tools])

    # -- the posterior, as callers read it -----------------------------------------------------------

    @property
    def mu(self) -> dict[str, np.ndarray]:
        """Posterior mean skill vector per tool."""
        return self.skill.mu

    @property
    def cov(self) -> dict[str, np.ndarray]:
        """Posterior covariance per tool (for a family member: the marginal of φ + e_j)."""
        return self.skill.cov

    @property
    def drifts(self) -> list[str]:
        """Tools whose drift alarm fired, in order (a tool appears once per alarm)."""
        return self.skill.drifts

    @property
    def noise_var(self) -> float:
        """Learned observation noise variance at a score of 1/2."""
        return self.skill.noise.var_at(0.5)

    # -- tools -------------------------------------------------------------------------------------

    def _prior(self, tool: str) -> tuple[str, np.ndarray, np.ndarray]:
        """The tool's prior column and which of its cells nobody measured (source "prior")."""
        j = self.matrix.tool_index(tool)
        column = np.array(list(self.matrix.column(tool).values()), dtype=float)
        return tool, column, self.matrix.sources[:, j] == "prior"

    def _add_tool(self, tool: str) -> None:
        super()._add_tool(tool)
        self.obs = np.column_stack([self.obs, np.zeros(len(self.matrix.dims))])
        self.skill.add_tool(*self._prior(tool))

    # -- ranking -----------------------------------------------------------------------------------

    def expected(self, subtask: Subtask, tools: Sequence[str]) -> dict[str, float]:
        """W_task·μ_j: the expected evaluator score of each tool on this subtask."""
        self._ensure_tools(tools)
        w = self.matrix.weight_vector(subtask.weights)
        return {t: float(w @ self.mu[t]) for t in tools}

    def _cost(self, tool: str) -> float:
        return self.cost_weight * self.costs.get(tool, 0.0)

    def _utility(self, tool: str, value: float) -> float:
        return value - self._cost(tool)

    def rank(self, subtask: Subtask, tools: list[str]) -> list[tuple[str, float]]:
        exp = self.expected(subtask, tools)
        return rank_scores({t: self._utility(t, v) for t, v in exp.items()})

    def posterior_sd(self, subtask: Subtask, tool: str) -> float:
        w = self.matrix.weight_vector(subtask.weights)
        return math.sqrt(float(w @ self.cov[tool] @ w))

    # -- exploration -------------------------------------------------------------------------------

    def p_best(self, subtask: Subtask, tools: Sequence[str], rng: np.random.Generator) -> dict[str, float]:
        """Monte-Carlo probability that each tool is the best for this subtask under the posterior.

        Each tool's utility `w·θ_j − cost` is drawn from its marginal N(w·μ_j − cost, wᵀΣ_j w), independently:
        exact for lone tools. Family members are correlated through φ_f, and drawing them jointly was
        measured to explore worse (it makes fewer siblings contenders, while any sibling's run teaches the
        family; docs/routing.md), so the marginals are used. `p_best_samples` draws give the win fractions.
        """
        self._ensure_tools(tools)
        if not tools:
            return {}
        mean, sd = self._utility_moments(subtask, tools)
        wins = self.explorer.p_best(mean, sd, rng)
        return {t: float(p) for t, p in zip(tools, wins, strict=True)}

    def _utility_moments(self, subtask: Subtask, tools: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        w = self.matrix.weight_vector(subtask.weights)
        mean = np.array([self._utility(t, float(w @ self.mu[t])) for t in tools])
        sd = np.array([math.sqrt(max(float(w @ self.cov[t] @ w), 0.0)) for t in tools])
        return mean, sd

    def choose_explore(self, subtask: Subtask, tools: list[str], rng: np.random.Generator) -> list[str]:
        """The greedy tool, then this subtask's contenders (at least `contender_p`, or `min_p_best`, likely
        to be best), then the spare runs that settle the most recent choices (`Explorer.choose`)."""
        self._ensure_tools(tools)
        if not tools:
            return []
        self._remember(subtask)
        ranking = self.rank(subtask, tools)
        p = self.p_best(subtask, tools, rng)
        return self.explorer.choose(tools, ranking, p, lambda: self.allocation_value(subtask, tools))

    def _remember(self, subtask: Subtask) -> None:
        self.explorer.remember(self.matrix.weight_vector(subtask.weights))

    def allocation_value(self, subtask: Subtask, tools: Sequence[str]) -> dict[str, float]:
        """Expected number of wrong choices, among the remembered recent subtasks, that one more run of
        each tool on THIS subtask's dimensions would prevent (`Explorer.allocation_value`)."""
        self._ensure_tools(tools)
        tools = list(tools)
        if not tools:
            return {}
        w = self.matrix.weight_vector(subtask.weights)
        mu = np.stack([self.mu[t] for t in tools])  # T × D
        cov = np.stack([self.cov[t] for t in tools])  # T × D × D
        cost = np.array([self._cost(t) for t in tools])
        value = self.explorer.allocation_value(w, mu, cov, cost, self.skill.noise)
        return {t: float(v) for t, v in zip(tools, value, strict=True)}

    # -- learning ----------------------------------------------------------------------------------

    def update(self, subtask: Subtask, outcomes: dict[str, float], evidence: dict[str, Any]) -> None:
        check_outcomes(outcomes)
        self._ensure_tools(list(outcomes))
        per_dim = dimension_scores(evidence, outcomes)
        w = self.matrix.weight_vector(subtask.weights)
        try:
            for tool, y in outcomes.items():
                dims = {d: v for d, v in per_dim.get(tool, {}).items() if d in self.matrix.dims}
                if dims:
                    for dim, yd in dims.items():
                        x = np.zeros(len(self.matrix.dims))
                        x[self.matrix.dim_index(dim)] = 1.0
                        self._observe(tool, x, float(yd))
                else:
                    self._observe(tool, w, float(y))
        finally:
            self.skill.refresh_stale()  # once per update, not per observation
        self._sync_matrix(list(outcomes))

    def _observe(self, tool: str, x: np.ndarray, y: float) -> None:
        self.skill.observe(tool, x, y)
        j = self.matrix.tool_index(tool)
        self.obs[:, j] += np.abs(x) / max(np.abs(x).sum(), 1e-12)

    def _sync_matrix(self, tools: Sequence[str] | None = None) -> None:
        """Write posterior means into the matrix (for display and persistence), marking learned cells.

        Only `tools` (default: all) and their family members are written — an update touches only those
        (and the drift alarm only re-opens a covariance, which the matrix does not show). Cells are marked
        learned only where the tool itself was observed; a sibling's value moves without the mark.
        """
        for t in self.matrix.tools if tools is None else self.skill.with_families(tools):
            j = self.matrix.tool_index(t)
            self.matrix.values[:, j] = self.mu[t]
            learned = self.obs[:, j] > 0
            self.matrix.sources[learned, j] = "bayes"

    # -- persistence -------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        skill = self.skill
        return {
            "updater": "bayes",
            "mu": {t: v.tolist() for t, v in skill.mu.items()},
            "cov": {t: v.tolist() for t, v in skill.cov.items()},
            "cusum": skill.cusum,
            "obs": self.obs.tolist(),
            "noise": [skill.noise.num, skill.noise.den],
            "drifts": skill.drifts,
            "recent": [w.tolist() for w in self.explorer.recent],
            "families": skill.families_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("updater") != "bayes":
            raise MatrixError(f"state is for updater {state.get('updater')!r}, not 'bayes'")
        for t in state["mu"]:
            if t not in self.matrix.tools:
                self._add_tool(t)
        self.obs = np.array(state["obs"], dtype=float).reshape(len(self.matrix.dims), -1)
        d = len(self.matrix.dims)
        # A state saved before the workload was remembered, or for other dimensions, starts it afresh.
        self.explorer.recent = [
            np.array(w, dtype=float) for w in state.get("recent", []) if len(w) == d
        ][-self.explorer.recent_size :]
        self.skill.load(state)
        self._sync_matrix()


def dimension_scores(
    evidence: Mapping[str, Any], outcomes: Mapping[str, float]
) -> dict[str, dict[str, float]]:
    """`evidence["dimension_scores"]` as `{tool: {dim: score}}`.

    Also accepts the flat form `{dim: score}` when exactly one tool ran (what the agent loop reports for the
    tool that made the image). Dimensions this matrix does not track (e.g. `text` on a published
    T2I-CompBench matrix) are skipped by the caller; names that are no dimension at all are errors.
    """
    raw = evidence.get("dimension_scores") or {}
    if not isinstance(raw, Mapping):
        raise MatrixError(f"evidence['dimension_scores'] must be a mapping, got {type(raw).__name__}")
    if raw and all(isinstance(v, numbers.Real) for v in raw.values()):
        if len(outcomes) != 1:
            raise MatrixError(
                "flat evidence['dimension_scores'] ({dim: score}) is ambiguous with several tools; "
                "give {tool: {dim: score}}"
            )
        raw = {next(iter(outcomes)): raw}
    out: dict[str, dict[str, float]] = {}
    for tool, dims in raw.items():
        if not isinstance(dims, Mapping):
            raise MatrixError(f"dimension scores for {tool!r} must be a mapping of dimension to score")
        unknown = [d for d in dims if d not in ROUTED_DIMS]
        if unknown:
            raise MatrixError(f"unknown dimensions {unknown} in evidence; expected some of {list(ROUTED_DIMS)}")
        out[tool] = {d: float(v) for d, v in dims.items()}
    return out
