"""Routers: rank tools for a subtask, pick which tools to run for learning, learn from what they scored.

Three updaters behind one `Router` protocol (`limner.perf.router`), selected by `PerfConfig.updater`
(`make_router`, `router_from_config`, `router_factory`), all configured by one `RouterOptions`:

- `StaticRouter` ("static"): PASM on a fixed matrix; never learns. The paper's "performance matrix" row.
- `APURouter` ("apu"): PerfGuard's Adaptive Preference Update, as published. Run the top-m tools and n
  random others, compare the theoretical rank (by S) with the actual rank (by evaluator score) and move
  the matrix along W_task: `M ← Normalize(M + W_taskᵀ · η · Δ)`, η = 0.13.
  The paper prints no formula for Δ. Read here, exactly as in the trial notes (shared/notes/routing-trial.md):
  ranks are taken **among the executed tools only**, 1 = best, ties get the average rank;
  `Δ_j = rank_theory(j) − rank_actual(j)` (positive: the tool did better than the matrix predicted);
  `W_task` is scaled to sum 1; Normalize is min-max per dimension across all tools; the matrix starts as
  `Normalize(prior)`. Only executed tools' columns move before the renormalisation.
- `BayesRouter` ("bayes", limner's default; `limner.perf.bayes`): a Gaussian skill model per tool and per
  tool family (`limner.perf.skill`) and a probability-of-best exploration policy (`limner.perf.explore`).

Why not APU as the default: its Δ is a rank difference, which is biased under evaluator noise (the
predicted-best tool can only lose places), so APU started from the true matrix drifts away from it
(trial: 25/53/80% error at low/mid/high noise). The Bayesian model's update is unbiased for any noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np

from limner.config import PerfConfig
from limner.perf.bayes import BayesRouter
from limner.perf.matrix import MatrixError, PerformanceMatrix, normalize_rows
from limner.perf.options import RouterOptions
from limner.perf.router import MatrixRouterBase, Router, check_outcomes
from limner.types import Subtask

__all__ = [
    "APURouter",
    "AnyRouter",
    "BayesRouter",
    "Router",
    "RouterOptions",
    "StaticRouter",
    "Updater",
    "apu_delta",
    "apu_step",
    "average_ranks",
    "make_router",
    "router_factory",
    "router_from_config",
    "router_options",
]

#: The updaters `make_router` builds (`PerfConfig.updater`).
Updater = Literal["static", "apu", "bayes"]


def average_ranks(scores: Mapping[str, float]) -> dict[str, float]:
    """Rank 1 = highest score; tied scores share the mean of their ranks (competition-free, unbiased)."""
    items = sorted(scores.items(), key=lambda kv: -kv[1])
    ranks: dict[str, float] = {}
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and math.isclose(items[j + 1][1], items[i][1], rel_tol=0, abs_tol=1e-12):
            j += 1
        mean_rank = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[items[k][0]] = mean_rank
        i = j + 1
    return ranks


def apu_delta(theory: Mapping[str, float], actual: Mapping[str, float]) -> dict[str, float]:
    """Δ_j = rank_theory(j) − rank_actual(j), ranks among the executed tools (keys of `actual`)."""
    missing = [t for t in actual if t not in theory]
    if missing:
        raise MatrixError(f"no theoretical score for executed tools {missing}")
    r_theory = average_ranks({t: theory[t] for t in actual})
    r_actual = average_ranks(actual)
    return {t: r_theory[t] - r_actual[t] for t in actual}


def apu_step(normalized: np.ndarray, w: np.ndarray, delta: Mapping[int, float], eta: float) -> np.ndarray:
    """One APU update on an already-normalised matrix: `Normalize(M + W_taskᵀ·η·Δ)` (Δ = 0 for tools not run)."""
    m = np.array(normalized, dtype=float, copy=True)
    for j, d in delta.items():
        m[:, j] += eta * d * w
    return normalize_rows(m)


class StaticRouter(MatrixRouterBase):
    """PASM on a fixed matrix. Runs only the top tool and never learns."""

    def choose_explore(self, subtask: Subtask, tools: list[str], rng: np.random.Generator) -> list[str]:
        ranking = self.rank(subtask, tools)
        return [ranking[0][0]] if ranking else []

    def update(self, subtask: Subtask, outcomes: dict[str, float], evidence: dict[str, Any]) -> None:
        check_outcomes(outcomes)

    def state_dict(self) -> dict[str, Any]:
        return {"updater": "static"}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass


class APURouter(MatrixRouterBase):
    """PerfGuard APU, paper-faithful (see the module docstring for how Δ is read)."""

    def __init__(
        self, matrix: PerformanceMatrix, eta: float = 0.13, top_m: int = 2, random_n: int = 2
    ) -> None:
        if eta <= 0:
            raise ValueError(f"eta must be positive, got {eta}")
        m = matrix.copy()
        if m.tools:
            m.values = m.normalized()
        super().__init__(m)
        self.eta, self.top_m, self.random_n = eta, top_m, random_n
        self.steps = 0

    def _add_tool(self, tool: str) -> None:
        # The working matrix is normalised; a new tool enters at the middle of each dimension.
        self.matrix.add_tool(tool, {d: 0.5 for d in self.matrix.dims}, source="prior")
        self.matrix.sources[:, -1] = "prior"

    def choose_explore(self, subtask: Subtask, tools: list[str], rng: np.random.Generator) -> list[str]:
        ranking = [t for t, _ in self.rank(subtask, tools)]
        top, rest = ranking[: self.top_m], ranking[self.top_m :]
        k = min(self.random_n, len(rest))
        extra = [rest[i] for i in sorted(rng.choice(len(rest), size=k, replace=False))] if k else []
        return top + extra

    def update(self, subtask: Subtask, outcomes: dict[str, float], evidence: dict[str, Any]) -> None:
        check_outcomes(outcomes)
        if len(outcomes) < 2:
            return  # a rank among one tool carries no preference
        self._ensure_tools(list(outcomes))
        theory = self.matrix.scores(subtask.weights, list(outcomes))
        delta = apu_delta(theory, outcomes)
        w = self.matrix.weight_vector(subtask.weights)
        idx = {self.matrix.tool_index(t): d for t, d in delta.items()}
        self.matrix.values = apu_step(self.matrix.values, w, idx, self.eta)
        for j in idx:
            self.matrix.sources[w > 0, j] = "apu"
        self.steps += 1

    def state_dict(self) -> dict[str, Any]:
        return {"updater": "apu", "eta": self.eta, "steps": self.steps}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.steps = int(state.get("steps", 0))


#: Any router `make_router` builds.
AnyRouter = StaticRouter | APURouter | BayesRouter


def make_router(
    updater: Updater | str, matrix: PerformanceMatrix, options: RouterOptions | None = None
) -> AnyRouter:
    """Build the router `PerfConfig.updater` names ("static" | "apu" | "bayes") from `options`.

    APU reads `eta`, `top_m` and `random_n`; the static router reads nothing; the Bayesian router reads
    everything else too (its families, costs, `min_p_best`: see `RouterOptions`).
    """
    options = options if options is not None else RouterOptions()
    if updater == "static":
        return StaticRouter(matrix.copy())
    if updater == "apu":
        return APURouter(matrix, eta=options.eta, top_m=options.top_m, random_n=options.random_n)
    if updater == "bayes":
        return BayesRouter(matrix, options)
    raise ValueError(f"unknown updater {updater!r}; expected 'static', 'apu' or 'bayes'")


def router_options(
    perf_config: PerfConfig,
    costs: Mapping[str, float] | None = None,
    families: Mapping[str, str] | None = None,
) -> dict[str, RouterOptions]:
    """The `make_router` (and `router_factory`) keywords a `PerfConfig` and the tools' costs and `family`
    fields set: one place, so the agent's routers and the store's updates are always built alike."""
    return {"options": RouterOptions.from_perf_config(perf_config, costs, families)}


def router_from_config(
    perf_config: PerfConfig,
    matrix: PerformanceMatrix,
    costs: Mapping[str, float] | None = None,
    families: Mapping[str, str] | None = None,
) -> AnyRouter:
    """`make_router` from a `limner.config.PerfConfig`."""
    return make_router(perf_config.updater, matrix, **router_options(perf_config, costs, families))


def router_factory(
    updater: Updater | str, options: RouterOptions | None = None
) -> Callable[[PerformanceMatrix, Mapping[str, Any] | None], AnyRouter]:
    """A `PerfStore.apply_update` factory: rebuild the router from the stored matrix and its saved state.

    A state saved by a different updater (the config changed) is ignored: the new router starts from the
    stored matrix, which every updater keeps current.
    """

    def build(
        matrix: PerformanceMatrix, state: Mapping[str, Any] | None
    ) -> AnyRouter:
        router = make_router(updater, matrix, options)
        if state and state.get("updater") == updater:
            router.load_state_dict(state)
        return router

    return build
