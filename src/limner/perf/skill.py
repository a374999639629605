"""The Gaussian skill model behind the Bayesian router: what each tool can do, and how sure we are.

Lone tools: θ_j ∈ R^d ~ N(μ_j, Σ_j), starting at the prior matrix column with covariance
`prior_sd²I + shared_sd²·11ᵀ` (a tool better than the table says on one dimension tends to be better on the
others too), twice as wide on cells nobody measured. An observation is `y = xᵀθ_j + ε` (x = W_task for an
overall score, a unit vector for a per-dimension score) and is absorbed by an exact rank-one Kalman step.

Families (checkpoints and LoRAs of one base model): θ_j = φ_f + e_j with e_j ~ N(0, family_sd²I +
family_shared_sd²·11ᵀ). Inference runs on the family's joint Gaussian state [φ_f, e_1, …, e_n], so a run
of one member moves every sibling; each member's prior column enters as a noisy reading of θ_j. The
per-tool marginals μ_j, Σ_j (what ranking and exploration read) are refreshed from the joint state once
per update (`refresh_stale`).

The noise variance is `c·v(q)` (`NoiseModel`), c learned by method of moments from predictive residuals.
A two-sided CUSUM on standardised residuals watches each tool and re-opens its covariance when the tool
drifts (a new model version behind the same name).

This module knows nothing of subtasks, costs or exploration: `limner.perf.bayes.BayesRouter` composes it
with the exploration policy (`limner.perf.explore`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from limner.perf.matrix import MatrixError
from limner.perf.options import NoiseShape, RouterOptions


class NoiseModel:
    """Evaluator noise `var = c·v(q)`: v ≡ 1/4 ("constant"), or v = q(1−q) ("binomial": a tool that passes
    95% of its checks gives far less noisy scores than one at 50%). c is learned; `noise_sd` is the prior
    guess of the standard deviation at q = 1/2, worth `noise_pseudo_obs` observations."""

    def __init__(self, shape: NoiseShape, noise_sd: float, pseudo_obs: float) -> None:
        self.shape = shape
        self.num = pseudo_obs * noise_sd**2 / 0.25
        self.den = pseudo_obs

    def shape_at(self, q: float) -> float:
        return 0.25 if self.shape == "constant" else max(q * (1 - q), 0.02)

    def var_at(self, q: float) -> float:
        scale = self.num / self.den
        return float(np.clip(scale * self.shape_at(q), 1e-4, 0.25))

    def var_array(self, q: np.ndarray) -> np.ndarray:
        """`var_at` for an array of expected scores (exploration's look-ahead)."""
        scale = self.num / self.den
        shape = np.full_like(q, 0.25) if self.shape == "constant" else np.maximum(q * (1 - q), 0.02)
        return np.clip(scale * shape, 1e-4, 0.25)

    def learn(self, resid: float, param_var: float, q: float) -> None:
        """Method-of-moments step: E[r²] = xᵀΣx + c·v(q)."""
        self.num += max(resid**2 - param_var, 0.0) / self.shape_at(q)
        self.den += 1.0


class SkillModel:
    """Per-tool Gaussian skills, family joint states, the noise model and the drift watch.

    Tools are added in the matrix's order (`add_tool`, or `start` for a whole matrix), so `tools` matches
    the matrix columns.
    """

    def __init__(self, dims: int, options: RouterOptions) -> None:
        self.d = dims
        d = dims
        self.cov0 = options.prior_sd**2 * np.eye(d) + options.shared_sd**2 * np.ones((d, d))
        self.unmeasured_sd_factor = options.unmeasured_sd_factor
        self.drift_k, self.drift_h = options.drift_k, options.drift_h
        self.noise = NoiseModel(options.noise_shape, options.noise_sd, options.noise_pseudo_obs)
        self.tools: list[str] = []
        self.mu: dict[str, np.ndarray] = {}
        self.cov: dict[str, np.ndarray] = {}
        self.cusum: dict[str, list[float]] = {}
        self.drifts: list[str] = []
        self.family_cov = options.family_sd**2 * np.eye(d) + options.family_shared_sd**2 * np.ones((d, d))
        self.family_of: dict[str, str] = {str(t): str(f) for t, f in options.families.items()}
        # Joint Gaussian state per family: [φ_f, e_1, …, e_n] (members in `family_members` order).
        self.family_members: dict[str, list[str]] = {}
        self._member_index: dict[str, int] = {}  # tool -> its position in its family's state
        self.family_mean: dict[str, np.ndarray] = {}
        self.family_cov_state: dict[str, np.ndarray] = {}
        self._stale: set[str] = set()  # families whose per-tool marginals lag their joint state

    # -- tools -------------------------------------------------------------------------------------

    def start(self, priors: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> None:
        """Every tool of a matrix at once: `(tool, prior column, unmeasured-cell mask)`, then the families."""
        for tool, prior, unmeasured in priors:
            self.tools.append(tool)
            self._init_tool(tool, prior, unmeasured)
        self._build_families()

    def add_tool(self, tool: str, prior: np.ndarray, unmeasured: np.ndarray) -> None:
        """One new tool; it joins its family (or founds it with a lone member already here)."""
        self.tools.append(tool)
        self._init_tool(tool, prior, unmeasured)
        fam = self.family_of.get(tool)
        if fam in self.family_members:
            self._join_family(fam, tool)
        elif fam is not None and fam in self._family_groups():
            self._build_family(fam, self._family_groups()[fam])

    def _init_tool(self, tool: str, prior: np.ndarray, unmeasured: np.ndarray) -> None:
        self.mu[tool] = prior
        # A cell nobody measured (source "prior") is a guess: twice the prior sd, so exploration finds it.
        scale = np.where(unmeasured, self.unmeasured_sd_factor, 1.0)
        self.cov[tool] = self.cov0 * np.outer(scale, scale)
        self.cusum[tool] = [0.0, 0.0]

    # -- families ----------------------------------------------------------------------------------

    def _build_families(self) -> None:
        """(Re)build the joint state of every family with at least two members.

        Each member's current per-tool Gaussian N(μ_j, Σ_j) (its prior column and covariance, or a
        learned posterior from a state saved without families) is taken as a reading of θ_j = φ_f + e_j.
        φ_f starts vague (N(½, I)), so the family mean is what the members' readings say together.
        """
        self.family_members, self.family_mean, self.family_cov_state = {}, {}, {}
        for fam, members in self._family_groups().items():
            self._build_family(fam, members)

    def _family_groups(self) -> dict[str, list[str]]:
        """Configured families with at least two members here (a family of one is a lone tool)."""
        grouped: dict[str, list[str]] = {}
        for t in self.tools:
            if t in self.family_of:
                grouped.setdefault(self.family_of[t], []).append(t)
        return {f: m for f, m in grouped.items() if len(m) >= 2}

    def _build_family(self, fam: str, members: Sequence[str]) -> None:
        d = self.d
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
        d = self.d
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
        phi, own = self._blocks(tool)
        m, p = self.family_mean[fam], self.family_cov_state[fam]
        hp = p[phi] + p[own]  # H·P, d × S
        innov = hp[:, phi] + hp[:, own] + reading_cov
        gain = np.linalg.solve(innov, hp).T  # S × d
        m += gain @ (reading - (m[phi] + m[own]))
        p -= gain @ hp
        self.family_cov_state[fam] = (p + p.T) / 2
        self._refresh_family(fam)

    def _blocks(self, tool: str) -> tuple[slice, slice]:
        """Where φ and e_tool sit in the tool's family state."""
        d = self.d
        k = self._member_index[tool]
        return slice(0, d), slice(d * (1 + k), d * (2 + k))

    def _refresh_family(self, fam: str) -> None:
        """Per-tool marginals μ_j = E[φ + e_j], Σ_j = Cov(φ + e_j), which ranking and exploration read."""
        m, p = self.family_mean[fam], self.family_cov_state[fam]
        for t in self.family_members[fam]:
            phi, own = self._blocks(t)
            self.mu[t] = m[phi] + m[own]
            cov = p[phi, phi] + p[phi, own] + p[own, phi] + p[own, own]
            self.cov[t] = (cov + cov.T) / 2
        self._stale.discard(fam)

    def refresh_stale(self) -> None:
        """Bring the per-tool marginals of every family an observation moved up to date (once per update)."""
        for fam in list(self._stale):
            self._refresh_family(fam)

    def family_in(self, tool: str) -> str | None:
        """The family whose joint state holds `tool`, or None for a lone tool."""
        fam = self.family_of.get(tool)
        return fam if fam in self.family_members and tool in self.family_members[fam] else None

    def with_families(self, tools: Sequence[str]) -> list[str]:
        """`tools` and every member of their families (a run of one member moves its whole family)."""
        moved = {f for t in tools if (f := self.family_in(t)) is not None}
        return list(dict.fromkeys([*tools, *(t for f in moved for t in self.family_members[f])]))

    # -- learning ----------------------------------------------------------------------------------

    def observe(self, tool: str, x: np.ndarray, y: float) -> None:
        """One observation `y = xᵀθ_tool + ε`: an exact Kalman step, the noise scale and the drift watch."""
        if not math.isfinite(y):
            raise MatrixError(f"observation for {tool!r} is not finite: {y!r}")
        fam = self.family_in(tool)
        if fam is None:
            cx = self.cov[tool] @ x  # Σx
            param_var, pred = float(x @ cx), float(x @ self.mu[tool])
        else:
            # The same rank-one step on the family's joint state, read there directly (the per-tool
            # marginals are refreshed once per update): h = H_toolᵀx touches φ and e_tool.
            phi, own = self._blocks(tool)
            m, p = self.family_mean[fam], self.family_cov_state[fam]
            cx = x @ (p[phi] + p[own])  # hᵀP
            param_var, pred = float(cx[phi] @ x + cx[own] @ x), float(x @ (m[phi] + m[own]))
        resid = y - pred
        q = float(np.clip(pred / max(float(x.sum()), 1e-12), 0.0, 1.0))
        noise = self.noise.var_at(q)
        self.noise.learn(resid, param_var, q)
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
        self._watch_drift(tool, resid / math.sqrt(s))

    def _watch_drift(self, tool: str, z: float) -> None:
        """Two-sided CUSUM on standardised residuals; on alarm, re-open the tool's uncertainty."""
        hi, lo = self.cusum[tool]
        hi = max(0.0, hi + z - self.drift_k)
        lo = max(0.0, lo - z - self.drift_k)
        if hi > self.drift_h or lo > self.drift_h:
            fam = self.family_in(tool)
            if fam is None:
                self.cov[tool] = self.cov[tool] + self.cov0
            else:  # the tool changed, not its family: re-open its own offset
                own = self._blocks(tool)[1]
                self.family_cov_state[fam][own, own] += self.cov0
                self._stale.add(fam)
            self.drifts.append(tool)
            hi = lo = 0.0
        self.cusum[tool] = [hi, lo]

    # -- persistence -------------------------------------------------------------------------------

    def families_state(self) -> dict[str, Any]:
        """The family joint states as JSON-able data (the `families` entry of the router's state)."""
        return {
            f: {
                "members": self.family_members[f],
                "mean": self.family_mean[f].tolist(),
                "cov": self.family_cov_state[f].tolist(),
            }
            for f in self.family_members
        }

    def load(self, state: Mapping[str, Any]) -> None:
        """Restore the per-tool posteriors, CUSUMs, noise scale, drift log and family states of a router
        state (`BayesRouter.state_dict`). Its tools must already be here."""
        self.mu = {t: np.array(v, dtype=float) for t, v in state["mu"].items()}
        self.cov = {t: np.array(v, dtype=float) for t, v in state["cov"].items()}
        self.cusum = {t: list(v) for t, v in state["cusum"].items()}
        self.noise.num, self.noise.den = state["noise"]
        self.drifts = list(state.get("drifts", []))
        self._load_families(state.get("families") or {})

    def _load_families(self, saved: Mapping[str, Any]) -> None:
        """Restore the saved family states that match the configured families; build the others from the
        loaded per-tool posteriors (a state saved before families were configured, or with others)."""
        d = self.d
        self.family_members, self.family_mean, self.family_cov_state = {}, {}, {}
        for fam, members in self._family_groups().items():
            entry = saved.get(fam) or {}
            mean = np.array(entry.get("mean", []), dtype=float)
            cov = np.array(entry.get("cov", []), dtype=float)
            size = d * (1 + len(members))
            fits = mean.shape == (size,) and cov.shape == (size, size)
            if list(entry.get("members", [])) != members or not fits:
                self._build_family(fam, members)
                continue
            self.family_members[fam] = list(members)
            self._member_index.update({t: k for k, t in enumerate(members)})
            self.family_mean[fam], self.family_cov_state[fam] = mean, cov
            self._refresh_family(fam)
