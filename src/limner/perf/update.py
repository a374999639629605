"""Routers: rank tools for a subtask, pick which tools to run for learning, learn from what they scored.

Three updaters behind one `Router` protocol (selected by `PerfConfig.updater`):

- `StaticRouter` ("static"): PASM on a fixed matrix; never learns. The paper's "performance matrix" row.
- `APURouter` ("apu"): PerfGuard's Adaptive Preference Update, as published. Run the top-m tools and n
  random others, compare the theoretical rank (by S) with the actual rank (by evaluator score) and move
  the matrix along W_task: `M ← Normalize(M + W_taskᵀ · η · Δ)`, η = 0.13.
  The paper prints no formula for Δ. Read here, exactly as in the trial notes (shared/notes/routing-trial.md):
  ranks are taken **among the executed tools only**, 1 = best, ties get the average rank;
  `Δ_j = rank_theory(j) − rank_actual(j)` (positive: the tool did better than the matrix predicted);
  `W_task` is scaled to sum 1; Normalize is min-max per dimension across all tools; the matrix starts as
  `Normalize(prior)`. Only executed tools' columns move before the renormalisation.
- `BayesRouter` ("bayes", limner's default): one Bayesian linear model per tool. The tool's skill vector
  θ_j ∈ R^d has a Gaussian prior centred on the prior matrix column with covariance `a²I + b²·11ᵀ` (a tool
  that is better than the table says on one dimension tends to be better on the others too); an observed
  score is `y = xᵀθ_j + ε`, where x is W_task for an overall score, or a unit vector for a per-dimension
  score (evidence["dimension_scores"], which the checker produces per check). Updates are exact Kalman
  (rank-one) steps; the noise variance is learned from predictive residuals; there is no η to tune.
  It ranks by the expected raw score W_task·μ_j (no Normalize: min-max columns distort multi-dimension
  subtasks, a 4.7% error floor for any normalised-matrix router in the trial), optionally minus a cost
  term; explores by probability of being best: besides the greedy tool it runs the m + n − 1 tools with
  the highest posterior chance of being the best for THIS subtask (Monte-Carlo over the exact per-tool
  Gaussians), so runs go to tools that can still change the choice, not to a tool with a high mean that
  cannot win nor to uniformly random ones; `min_p_best` lets exploration stop once no other tool has a
  real chance (exploration then decays with confidence); and watches each tool with a two-sided CUSUM on
  standardised residuals, re-opening its covariance when the tool drifts (a new model version behind the
  same name).

  Tool families (`families={tool: family}`, e.g. checkpoints and LoRAs of one base model): each member's
  skill is its family's skill plus a small own offset, θ_j = φ_f + e_j with e_j ~ N(0, c²I + s²·11ᵀ)
  (`family_sd`, `family_shared_sd`), and the member's prior column is a noisy reading of θ_j with the
  same covariance a lone tool's prior has. Inference is exact on the family's joint Gaussian state
  [φ_f, e_1, …, e_n], so a run of one member moves every sibling (and the family mean, read from all
  members' priors together, corrects a single member's badly wrong published score). Lone tools keep the
  per-tool model above, unchanged. Why: a 200-tool pool drawn from a few base models cannot be learned
  tool by tool in 1000 steps (20 runs per tool); the family shares what the runs teach.

Why not APU as the default: its Δ is a rank difference, which is biased under evaluator noise (the
predicted-best tool can only lose places), so APU started from the true matrix drifts away from it
(trial: 25/53/80% error at low/mid/high noise). The Bayesian model's update is unbiased for any noise.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from limner.perf.matrix import MatrixError, PerformanceMatrix, normalize_rows, rank_scores
from limner.types import ALL_DIMS, Subtask


@runtime_checkable
class Router(Protocol):
    """What the Worker needs from a performance model."""

    def rank(self, subtask: Subtask, tools: list[str]) -> list[tuple[str, float]]:
        """`tools` best first for this subtask, with the score used to rank."""
        ...

    def choose_explore(self, subtask: Subtask, tools: list[str], rng: np.random.Generator) -> list[str]:
        """The tools to actually run for this subtask (the first is the one to use if only one runs)."""
        ...

    def update(self, subtask: Subtask, outcomes: dict[str, float], evidence: dict[str, Any]) -> None:
        """Learn from the evaluator scores (`{tool: score in [0, 1]}`) of the tools that ran."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """What the router has learned beyond its matrix, as JSON-able data (persisted with the matrix)."""
        ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore `state_dict()`; raises (ValueError, KeyError, MatrixError) on a state of another kind."""
        ...


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
    """One APU update on an already-normalised matrix: `Normalize(M + W_taskᵀ·η·Δ)` (Δ zero for tools not run)."""
    m = np.array(normalized, dtype=float, copy=True)
    for j, d in delta.items():
        m[:, j] += eta * d * w
    return normalize_rows(m)


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Φ(x) to 1.5e-7 (Abramowitz & Stegun 7.1.26), vectorised without scipy (not a core dependency)."""
    z = np.abs(x) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erfc = poly * np.exp(-z * z)
    return np.where(x >= 0, 1.0 - 0.5 * erfc, 0.5 * erfc)


def _check_outcomes(outcomes: Mapping[str, float]) -> None:
    for tool, y in outcomes.items():
        if isinstance(y, bool) or not isinstance(y, numbers.Real) or not math.isfinite(y):
            raise MatrixError(f"outcome for {tool!r} must be a finite number, got {y!r}")


class _MatrixRouterBase:
    """Shared plumbing: a matrix, unknown tools joining with the uninformative prior."""

    def __init__(self, matrix: PerformanceMatrix) -> None:
        self.matrix = matrix

    def _ensure_tools(self, tools: Sequence[str]) -> None:
        known = set(self.matrix.tools)
        for t in tools:
            if t not in known:
                self._add_tool(t)
                known.add(t)

    def _add_tool(self, tool: str) -> None:
        self.matrix.add_tool(tool, None)

    def rank(self, subtask: Subtask, tools: list[str]) -> list[tuple[str, float]]:
        self._ensure_tools(tools)
        return self.matrix.rank(subtask.weights, tools)


class StaticRouter(_MatrixRouterBase):
    """PASM on a fixed matrix. Runs only the top tool and never learns."""

    def choose_explore(self, subtask: Subtask, tools: list[str], rng: np.random.Generator) -> list[str]:
        ranking = self.rank(subtask, tools)
        return [ranking[0][0]] if ranking else []

    def update(self, subtask: Subtask, outcomes: dict[str, float], evidence: dict[str, Any]) -> None:
        _check_outcomes(outcomes)

    def state_dict(self) -> dict[str, Any]:
        return {"updater": "static"}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass


class APURouter(_MatrixRouterBase):
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
        _check_outcomes(outcomes)
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


class BayesRouter(_MatrixRouterBase):
    """Per-tool Bayesian linear model, probability-of-best exploration, cost term and drift alarm."""

    def __init__(
        self,
        matrix: PerformanceMatrix,
        *,
        top_m: int = 2,
        random_n: int = 2,
        prior_sd: float = 0.15,
        shared_sd: float = 0.10,
        noise_sd: float = 0.10,
        noise_pseudo_obs: float = 10.0,
        noise_shape: str = "binomial",
        costs: Mapping[str, float] | None = None,
        cost_weight: float = 0.0,
        min_p_best: float = 0.0,
        p_best_samples: int = 512,
        drift_k: float = 0.5,
        drift_h: float = 12.0,
        unmeasured_sd_factor: float = 2.0,
        contender_p: float = 0.05,
        recent: int = 256,
        families: Mapping[str, str] | None = None,
        family_sd: float = 0.06,
        family_shared_sd: float = 0.06,
    ) -> None:
        super().__init__(matrix.copy())
        self.unmeasured_sd_factor = unmeasured_sd_factor
        self.top_m, self.random_n = top_m, random_n
        d = len(self.matrix.dims)
        self.cov0 = prior_sd**2 * np.eye(d) + shared_sd**2 * np.ones((d, d))
        self.costs = dict(costs or {})
        self.cost_weight = cost_weight
        if not 0.0 <= min_p_best < 1.0:
            raise ValueError(f"min_p_best must be in [0, 1), got {min_p_best}")
        if p_best_samples < 1:
            raise ValueError(f"p_best_samples must be positive, got {p_best_samples}")
        self.min_p_best, self.p_best_samples = min_p_best, p_best_samples
        if not 0.0 <= contender_p <= 1.0:
            raise ValueError(f"contender_p must be in [0, 1], got {contender_p}")
        if recent < 1:
            raise ValueError(f"recent must be positive, got {recent}")
        self.contender_p, self.recent_size = contender_p, recent
        # W_task of the most recent subtasks: the workload whose choices spare exploration runs serve.
        self.recent: list[np.ndarray] = []
        self.drift_k, self.drift_h = drift_k, drift_h
        if noise_shape not in ("binomial", "constant"):
            raise ValueError(f"noise_shape must be 'binomial' or 'constant', got {noise_shape!r}")
        self.noise_shape = noise_shape
        # The noise model is var = c · v(q): v ≡ 1/4 for "constant"; v = q(1−q) for "binomial" (pass/fail
        # checks: a tool that passes 95% of its checks gives far less noisy scores than one at 50%).
        # c is learned; noise_sd is the prior guess of the standard deviation at q = 1/2.
        self._noise_num = noise_pseudo_obs * noise_sd**2 / 0.25
        self._noise_den = noise_pseudo_obs
        self.mu: dict[str, np.ndarray] = {}
        self.cov: dict[str, np.ndarray] = {}
        self.cusum: dict[str, list[float]] = {}
        self.obs = np.zeros((d, len(self.matrix.tools)))  # evidence mass per cell
        self.drifts: list[str] = []
        if family_sd <= 0 or family_shared_sd < 0:
            raise ValueError("family_sd must be positive and family_shared_sd non-negative")
        self.family_cov = family_sd**2 * np.eye(d) + family_shared_sd**2 * np.ones((d, d))
        self.family_of: dict[str, str] = {str(t): str(f) for t, f in (families or {}).items()}
        # Joint Gaussian state per family: [φ_f, e_1, …, e_n] (members in `family_members` order).
        self.family_members: dict[str, list[str]] = {}
        self._member_index: dict[str, int] = {}  # tool -> its position in its family's state
        self.family_mean: dict[str, np.ndarray] = {}
        self.family_cov_state: dict[str, np.ndarray] = {}
        self._stale: set[str] = set()  # families whose per-tool marginals lag their joint state
        for t in self.matrix.tools:
            self._init_tool(t)
        self._build_families()

    # -- state -------------------------------------------------------------------------------------

    def _init_tool(self, tool: str) -> None:
        self.mu[tool] = np.array(list(self.matrix.column(tool).values()), dtype=float)
        # A cell nobody measured (source "prior") is a guess: twice the prior sd, so exploration finds it.
        j = self.matrix.tool_index(tool)
        scale = np.where(self.matrix.sources[:, j] == "prior", self.unmeasured_sd_factor, 1.0)
        self.cov[tool] = self.cov0 * np.outer(scale, scale)
        self.cusum[tool] = [0.0, 0.0]

    def _add_tool(self, tool: str) -> None:
        super()._add_tool(tool)
        self.obs = np.column_stack([self.obs, np.zeros(len(self.matrix.dims))])
        self._init_tool(tool)
        fam = self.family_of.get(tool)
        if fam in self.family_members:
            self._join_family(fam, tool)
        elif fam is not None and fam in self._family_groups():
            self._build_family(fam, self._family_groups()[fam])

    # -- families ----------------------------------------------------------------------------------

    def _build_families(self) -> None:
        """(Re)build the joint state of every family with at least two members in the matrix.

        Each member's current per-tool Gaussian N(μ_j, Σ_j) (its prior column and covariance, or a
        learned posterior from a state saved without families) is taken as a reading of θ_j = φ_f + e_j.
        φ_f starts vague (N(½, I)), so the family mean is what the members' readings say together.
        """
        self.family_members, self.family_mean, self.family_cov_state = {}, {}, {}
        for fam, members in self._family_groups().items():
            self._build_family(fam, members)

    def _family_groups(self) -> dict[str, list[str]]:
        """Configured families with at least two members in the matrix (a family of one is a lone tool)."""
        grouped: dict[str, list[str]] = {}
        for t in self.matrix.tools:
            if t in self.family_of:
                grouped.setdefault(self.family_of[t], []).append(t)
        return {f: m for f, m in grouped.items() if len(m) >= 2}

    def _build_family(self, fam: str, members: Sequence[str]) -> None:
        d = len(self.matrix.dims)
        readings = [(t, self.mu[t].copy(), self.cov[t].copy()) for t in members]
        self.family_members[fam] = []
        self.family_mean[fam] = np.full(d, 0.5)
        self.family_cov_state[fam] = np.eye(d)
        for t, mu, cov in readings:
            self._join_family(fam, t, mu, cov)

    def _join_family(
        self, fam: str, tool: str, reading: np.ndarray | None = None, reading_cov: np.ndarray | None = None
    ) -> None:
        """Append e_tool ~ N(0, family_cov) to the family state, then observe the tool's reading."""
        d = len(self.matrix.dims)
        reading = self.mu[tool].copy() if reading is None else reading
        reading_cov = self.cov[tool].copy() if reading_cov is None else reading_cov
        m, p = self.family_mean[fam], self.family_cov_state[fam]
        size = len(m)
        grown = np.zeros((size + d, size + d))
        grown[:size, :size] = p
        grown[size:, size:] = self.family_cov
        self.family_mean[fam] = np.concatenate([m, np.zeros(d)])
        self.family_cov_state[fam] = grown
        self._member_index[tool] = len(self.family_members[fam])
        self.family_members[fam].append(tool)
        # Vector Kalman step: reading = φ + e_tool + ν, ν ~ N(0, reading_cov).
        phi, own = self._blocks(fam, tool)
        m, p = self.family_mean[fam], self.family_cov_state[fam]
        hp = p[phi] + p[own]  # H·P, d × S
        innov = hp[:, phi] + hp[:, own] + reading_cov
        gain = np.linalg.solve(innov, hp).T  # S × d
        m += gain @ (reading - (m[phi] + m[own]))
        p -= gain @ hp
        self.family_cov_state[fam] = (p + p.T) / 2
        self._refresh_family(fam)

    def _blocks(self, fam: str, tool: str) -> tuple[slice, slice]:
        d = len(self.matrix.dims)
        k = self._member_index[tool]
        return slice(0, d), slice(d * (1 + k), d * (2 + k))

    def _refresh_family(self, fam: str) -> None:
        """Per-tool marginals μ_j = E[φ + e_j], Σ_j = Cov(φ + e_j), which ranking and exploration read."""
        m, p = self.family_mean[fam], self.family_cov_state[fam]
        for t in self.family_members[fam]:
            phi, own = self._blocks(fam, t)
            self.mu[t] = m[phi] + m[own]
            cov = p[phi, phi] + p[phi, own] + p[own, phi] + p[own, own]
            self.cov[t] = (cov + cov.T) / 2
        self._stale.discard(fam)

    def _in_family(self, tool: str) -> str | None:
        fam = self.family_of.get(tool)
        return fam if fam in self.family_members and tool in self.family_members[fam] else None

    @property
    def noise_var(self) -> float:
        """Learned observation noise variance at a score of 1/2."""
        return self._noise_var_at(0.5)

    def _noise_shape_at(self, q: float) -> float:
        return 0.25 if self.noise_shape == "constant" else max(q * (1 - q), 0.02)

    def _noise_var_at(self, q: float) -> float:
        scale = self._noise_num / self._noise_den
        return float(np.clip(scale * self._noise_shape_at(q), 1e-4, 0.25))

    def state_dict(self) -> dict[str, Any]:
        return {
            "updater": "bayes",
            "mu": {t: v.tolist() for t, v in self.mu.items()},
            "cov": {t: v.tolist() for t, v in self.cov.items()},
            "cusum": self.cusum,
            "obs": self.obs.tolist(),
            "noise": [self._noise_num, self._noise_den],
            "drifts": self.drifts,
            "recent": [w.tolist() for w in self.recent],
            "families": {
                f: {
                    "members": self.family_members[f],
                    "mean": self.family_mean[f].tolist(),
                    "cov": self.family_cov_state[f].tolist(),
                }
                for f in self.family_members
            },
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("updater") != "bayes":
            raise MatrixError(f"state is for updater {state.get('updater')!r}, not 'bayes'")
        for t in state["mu"]:
            if t not in self.matrix.tools:
                self._add_tool(t)
        self.mu = {t: np.array(v, dtype=float) for t, v in state["mu"].items()}
        self.cov = {t: np.array(v, dtype=float) for t, v in state["cov"].items()}
        self.cusum = {t: list(v) for t, v in state["cusum"].items()}
        self.obs = np.array(state["obs"], dtype=float).reshape(len(self.matrix.dims), -1)
        self._noise_num, self._noise_den = state["noise"]
        self.drifts = list(state.get("drifts", []))
        d = len(self.matrix.dims)
        # A state saved before the workload was remembered, or for other dimensions, starts it afresh.
        self.recent = [
            np.array(w, dtype=float) for w in state.get("recent", []) if len(w) == d
        ][-self.recent_size :]
        self._load_families(state.get("families") or {})
        self._sync_matrix()

    def _load_families(self, saved: Mapping[str, Any]) -> None:
        """Restore the saved family states that match the configured families; build the others from the
        loaded per-tool posteriors (a state saved before families were configured, or with others)."""
        d = len(self.matrix.dims)
        self.family_members, self.family_mean, self.family_cov_state = {}, {}, {}
        for fam, members in self._family_groups().items():
            entry = saved.get(fam) or {}
            mean = np.array(entry.get("mean", []), dtype=float)
            cov = np.array(entry.get("cov", []), dtype=float)
            size = d * (1 + len(members))
            if list(entry.get("members", [])) != members or mean.shape != (size,) or cov.shape != (size, size):
                self._build_family(fam, members)
                continue
            self.family_members[fam] = list(members)
            self._member_index.update({t: k for k, t in enumerate(members)})
            self.family_mean[fam], self.family_cov_state[fam] = mean, cov
            self._refresh_family(fam)

    # -- ranking -----------------------------------------------------------------------------------

    def expected(self, subtask: Subtask, tools: Sequence[str]) -> dict[str, float]:
        """W_task·μ_j: the expected evaluator score of each tool on this subtask."""
        self._ensure_tools(tools)
        w = self.matrix.weight_vector(subtask.weights)
        return {t: float(w @ self.mu[t]) for t in tools}

    def _utility(self, tool: str, value: float) -> float:
        return value - self.cost_weight * self.costs.get(tool, 0.0)

    def rank(self, subtask: Subtask, tools: list[str]) -> list[tuple[str, float]]:
        exp = self.expected(subtask, tools)
        return rank_scores({t: self._utility(t, v) for t, v in exp.items()})

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
        draws = mean[None, :] + sd[None, :] * rng.standard_normal((self.p_best_samples, len(tools)))
        wins = np.bincount(np.argmax(draws, axis=1), minlength=len(tools)) / self.p_best_samples
        return {t: float(p) for t, p in zip(tools, wins, strict=True)}

    def _utility_moments(self, subtask: Subtask, tools: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        w = self.matrix.weight_vector(subtask.weights)
        mean = np.array([self._utility(t, float(w @ self.mu[t])) for t in tools])
        sd = np.array([math.sqrt(max(float(w @ self.cov[t] @ w), 0.0)) for t in tools])
        return mean, sd

    def choose_explore(self, subtask: Subtask, tools: list[str], rng: np.random.Generator) -> list[str]:
        """The greedy tool, then this subtask's contenders, then the runs that settle the most recent choices.

        1. The greedy tool (the one the Worker uses when it can afford one run).
        2. Contenders: tools with at least `contender_p` posterior chance of being the best for THIS
           subtask, most likely first. A tool with a high mean that cannot win here is not one.
        3. Spare runs (only with `min_p_best == 0`, i.e. the whole `top_m + random_n` budget is spent):
           once this subtask has fewer contenders than the budget, the remaining runs go to the tools
           whose run on this subtask's dimensions is expected to prevent the most wrong choices over the
           `recent` subtasks the router has seen (`allocation_value`). Without this, most of the budget
           went to tools that could not win the subtask at hand (2.6 of 3 exploratory runs per step by
           step 800 on the benchmark's 10-tool pool) and taught nothing any choice needed.

        With `min_p_best > 0` only contenders at least that likely to be best are run and there are no
        spare runs, so exploration stops by itself once the choice is settled (cheaper, slower learning).
        """
        self._ensure_tools(tools)
        if not tools:
            return []
        self._remember(subtask)
        ranking = self.rank(subtask, tools)
        greedy = ranking[0][0]
        budget = max(1, self.top_m + self.random_n)
        p = self.p_best(subtask, tools, rng)
        order = {t: r for r, (t, _) in enumerate(ranking)}
        threshold = self.min_p_best if self.min_p_best > 0 else self.contender_p
        contenders = sorted(
            (t for t in tools if t != greedy and p[t] >= threshold), key=lambda t: (-p[t], order[t])
        )[: budget - 1]
        chosen = [greedy, *contenders]
        if self.min_p_best == 0 and len(chosen) < min(budget, len(tools)):
            value = self.allocation_value(subtask, tools)
            spare = sorted((t for t in tools if t not in chosen), key=lambda t: (-value[t], order[t]))
            chosen += spare[: budget - len(chosen)]
        # Order by the current estimate, so a Worker that can afford only one run takes the best guess.
        return sorted(chosen, key=order.__getitem__)

    def _remember(self, subtask: Subtask) -> None:
        self.recent.append(self.matrix.weight_vector(subtask.weights))
        del self.recent[: -self.recent_size]

    def allocation_value(self, subtask: Subtask, tools: Sequence[str]) -> dict[str, float]:
        """Expected number of wrong choices, among the remembered recent subtasks, that one more run of
        each tool on THIS subtask's dimensions would prevent (an OCBA-style normal approximation).

        For each recent subtask r the current choice is b_r = argmax W_r·μ; a challenger j is wrongly
        ranked below b_r with probability Φ(−gap/√(v_b + v_j)) under the posterior. One run of tool j
        observes its cells on this subtask's dimensions, which shrinks v_j (exactly: the Kalman update's
        variance drop, which does not depend on the outcome); the value of running j is the total drop
        of those probabilities over every pair j takes part in, as challenger or as some subtask's
        choice. Tools that decide many recent choices and are still uncertain on the dimensions this
        subtask measures score highest. Cost: O(recent × tools × d²) per call.
        """
        self._ensure_tools(tools)
        tools = list(tools)
        if not tools:
            return {}
        w = self.matrix.weight_vector(subtask.weights)
        refs = np.array(self.recent) if self.recent else w[None, :]  # R × D
        dims = np.flatnonzero(w > 0)
        mu = np.stack([self.mu[t] for t in tools])  # T × D
        cov = np.stack([self.cov[t] for t in tools])  # T × D × D
        cost = np.array([self.cost_weight * self.costs.get(t, 0.0) for t in tools])
        mean = refs @ mu.T - cost[None, :]  # R × T
        var = np.einsum("rd,tde,re->rt", refs, cov, refs)
        scale = self._noise_num / self._noise_den
        q = np.clip(mu[:, dims], 0.0, 1.0)
        shape = np.full_like(q, 0.25) if self.noise_shape == "constant" else np.maximum(q * (1 - q), 0.02)
        noise = np.clip(scale * shape, 1e-4, 0.25)  # T × k, as `_observe` uses per dimension
        innov = cov[:, dims][:, :, dims] + noise[:, :, None] * np.eye(len(dims))[None]  # T × k × k
        proj = np.einsum("rd,tdk->tkr", refs, cov[:, :, dims])  # T × k × R: Cov(W_r·θ, θ_dims)
        drop = np.einsum("tkr,tkr->rt", proj, np.linalg.solve(innov, proj))
        var_after = np.maximum(var - drop, 0.0)
        rows = np.arange(len(refs))
        best = np.argmax(mean, axis=1)
        gap = mean[rows, best][:, None] - mean
        v_best, v_best_after = var[rows, best][:, None], var_after[rows, best][:, None]

        def wrong(v_b: np.ndarray, v_j: np.ndarray) -> np.ndarray:
            p = _normal_cdf(-gap / np.sqrt(np.maximum(v_b + v_j, 1e-18)))
            p[rows, best] = 0.0
            return p

        now = wrong(v_best, var)
        value = (now - wrong(v_best, var_after)).sum(axis=0)
        np.add.at(value, best, (now - wrong(v_best_after, var)).sum(axis=1))
        return {t: float(v) for t, v in zip(tools, value, strict=True)}

    # -- learning ----------------------------------------------------------------------------------

    def update(self, subtask: Subtask, outcomes: dict[str, float], evidence: dict[str, Any]) -> None:
        _check_outcomes(outcomes)
        self._ensure_tools(list(outcomes))
        per_dim = self._dimension_scores(evidence, outcomes)
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
            for fam in list(self._stale):  # once per update, not per observation
                self._refresh_family(fam)
        self._sync_matrix(list(outcomes))

    @staticmethod
    def _dimension_scores(
        evidence: Mapping[str, Any], outcomes: Mapping[str, float]
    ) -> dict[str, dict[str, float]]:
        """`evidence["dimension_scores"]` as `{tool: {dim: score}}`.

        Also accepts the flat form `{dim: score}` when exactly one tool ran (what the agent loop reports
        for the tool that made the image). Dimensions this matrix does not track (e.g. `text` on a
        published T2I-CompBench matrix) are skipped by the caller; names that are no dimension at all are errors.
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
            unknown = [d for d in dims if d not in ALL_DIMS]
            if unknown:
                raise MatrixError(
                    f"unknown dimensions {unknown} in evidence; expected some of {list(ALL_DIMS)}"
                )
            out[tool] = {d: float(v) for d, v in dims.items()}
        return out

    def _observe(self, tool: str, x: np.ndarray, y: float) -> None:
        if not math.isfinite(y):
            raise MatrixError(f"observation for {tool!r} is not finite: {y!r}")
        fam = self._in_family(tool)
        if fam is None:
            cx = self.cov[tool] @ x  # Σx
            param_var, pred = float(x @ cx), float(x @ self.mu[tool])
        else:
            # The same rank-one step on the family's joint state, read there directly (the per-tool
            # marginals are refreshed once per update): h = H_toolᵀx touches φ and e_tool.
            phi, own = self._blocks(fam, tool)
            m, p = self.family_mean[fam], self.family_cov_state[fam]
            cx = x @ (p[phi] + p[own])  # hᵀP
            param_var, pred = float(cx[phi] @ x + cx[own] @ x), float(x @ (m[phi] + m[own]))
        resid = y - pred
        q = float(np.clip(pred / max(float(x.sum()), 1e-12), 0.0, 1.0))
        noise = self._noise_var_at(q)
        # Method-of-moments estimate of the noise scale: E[r²] = xᵀΣx + c·v(q).
        self._noise_num += max(resid**2 - param_var, 0.0) / self._noise_shape_at(q)
        self._noise_den += 1.0
        s = param_var + noise
        gain = cx / s
        if fam is None:
            self.mu[tool] = self.mu[tool] + gain * resid
            cov = self.cov[tool] - np.outer(gain, cx)
            self.cov[tool] = (cov + cov.T) / 2
        else:
            m += gain * resid
            p -= np.outer(gain, cx)
            self.family_cov_state[fam] = (p + p.T) / 2
            self._stale.add(fam)
        j = self.matrix.tool_index(tool)
        self.obs[:, j] += np.abs(x) / max(np.abs(x).sum(), 1e-12)
        self._watch_drift(tool, resid / math.sqrt(s))

    def _watch_drift(self, tool: str, z: float) -> None:
        """Two-sided CUSUM on standardised residuals; on alarm, re-open the tool's uncertainty."""
        hi, lo = self.cusum[tool]
        hi = max(0.0, hi + z - self.drift_k)
        lo = max(0.0, lo - z - self.drift_k)
        if hi > self.drift_h or lo > self.drift_h:
            fam = self._in_family(tool)
            if fam is None:
                self.cov[tool] = self.cov[tool] + self.cov0
            else:  # the tool changed, not its family: re-open its own offset
                own = self._blocks(fam, tool)[1]
                self.family_cov_state[fam][own, own] += self.cov0
                self._stale.add(fam)
            self.drifts.append(tool)
            hi = lo = 0.0
        self.cusum[tool] = [hi, lo]

    def _sync_matrix(self, tools: Sequence[str] | None = None) -> None:
        """Write posterior means into the matrix (for display and persistence), marking learned cells.

        Only `tools` (default: all) and their family members are written — an update touches only those
        (and the drift alarm only re-opens a covariance, which the matrix does not show). Cells are marked
        learned only where the tool itself was observed; a sibling's value moves without the mark.
        """
        if tools is not None:  # a run of one member moves its whole family
            moved = {f for t in tools if (f := self._in_family(t)) is not None}
            tools = list(dict.fromkeys([*tools, *(t for f in moved for t in self.family_members[f])]))
        for t in self.matrix.tools if tools is None else tools:
            j = self.matrix.tool_index(t)
            self.matrix.values[:, j] = self.mu[t]
            learned = self.obs[:, j] > 0
            self.matrix.sources[learned, j] = "bayes"

    def posterior_sd(self, subtask: Subtask, tool: str) -> float:
        w = self.matrix.weight_vector(subtask.weights)
        return math.sqrt(float(w @ self.cov[tool] @ w))


def make_router(
    updater: str,
    matrix: PerformanceMatrix,
    *,
    eta: float = 0.13,
    top_m: int = 2,
    random_n: int = 2,
    costs: Mapping[str, float] | None = None,
    cost_weight: float = 0.0,
    min_p_best: float = 0.0,
    families: Mapping[str, str] | None = None,
    family_sd: float = 0.06,
) -> StaticRouter | APURouter | BayesRouter:
    """Build the router `PerfConfig.updater` names ("static" | "apu" | "bayes").

    `min_p_best` (bayes only): exploratory tools whose chance of being best is below it are not run;
    0 spends the whole `top_m + random_n` budget every step (fastest learning, the benchmark's setting).
    `families` (bayes only): `{tool: family}`; members share evidence, straying from the family by about
    `family_sd` per dimension and as a level. The other updaters ignore both.
    """
    if updater == "static":
        return StaticRouter(matrix.copy())
    if updater == "apu":
        return APURouter(matrix, eta=eta, top_m=top_m, random_n=random_n)
    if updater == "bayes":
        return BayesRouter(
            matrix,
            top_m=top_m,
            random_n=random_n,
            costs=costs,
            cost_weight=cost_weight,
            min_p_best=min_p_best,
            families=families,
            family_sd=family_sd,
            family_shared_sd=family_sd,
        )
    raise ValueError(f"unknown updater {updater!r}; expected 'static', 'apu' or 'bayes'")


def router_options(
    perf_config: Any, costs: Mapping[str, float] | None = None, families: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The `make_router` keywords a `limner.config.PerfConfig` (and the tools' `family` fields) set: one
    place, so the agent's routers and the store's updates are always built alike."""
    return {
        "families": dict(families) if families else None,
        "family_sd": perf_config.family_sd,
        "eta": perf_config.eta,
        "top_m": perf_config.top_m,
        "random_n": perf_config.random_n,
        "costs": costs,
        "cost_weight": perf_config.cost_weight,
        "min_p_best": perf_config.min_p_best,
    }


def router_from_config(
    perf_config: Any,
    matrix: PerformanceMatrix,
    costs: Mapping[str, float] | None = None,
    families: Mapping[str, str] | None = None,
) -> Any:
    """`make_router` from a `limner.config.PerfConfig`."""
    return make_router(perf_config.updater, matrix, **router_options(perf_config, costs, families))


def router_factory(
    updater: str, **options: Any
) -> Callable[[PerformanceMatrix, Mapping[str, Any] | None], StaticRouter | APURouter | BayesRouter]:
    """A `PerfStore.apply_update` factory: rebuild the router from the stored matrix and its saved state.
    `options` are `make_router`'s keywords.

    A state saved by a different updater (the config changed) is ignored: the new router starts from the
    stored matrix, which every updater keeps current.
    """

    def build(
        matrix: PerformanceMatrix, state: Mapping[str, Any] | None
    ) -> StaticRouter | APURouter | BayesRouter:
        router = make_router(updater, matrix, **options)
        if state and state.get("updater") == updater:
            router.load_state_dict(state)
        return router

    return build
