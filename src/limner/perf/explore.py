"""Exploration for the Bayesian router: which tools to run, beyond the greedy one, to learn what matters.

The policy reads the skill model's posterior (per-tool means and covariances, and its noise model) but
never changes it. Three tiers, best-informed first (`Explorer.choose`):

1. the greedy tool (the one the Worker uses when it can afford one run);
2. contenders: tools with a real posterior chance of being the best for THIS subtask (`p_best`, Monte
   Carlo over the per-tool Gaussians), so runs go to tools that can still change the choice, not to a tool
   with a high mean that cannot win nor to uniformly random ones;
3. spare runs (only when the whole `top_m + random_n` budget is spent every step, `min_p_best == 0`): the
   tools whose run is expected to prevent the most wrong choices over the recent workload
   (`allocation_value`, an OCBA-style normal approximation).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from limner.perf.options import RouterOptions
from limner.perf.skill import NoiseModel


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """Φ(x) to 1.5e-7 (Abramowitz & Stegun 7.1.26), vectorised without scipy (not a core dependency)."""
    z = np.abs(x) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erfc = poly * np.exp(-z * z)
    return np.where(x >= 0, 1.0 - 0.5 * erfc, 0.5 * erfc)


class Explorer:
    """The exploration policy: its budget and thresholds, and the recent workload it serves."""

    def __init__(self, options: RouterOptions) -> None:
        self.top_m, self.random_n = options.top_m, options.random_n
        self.min_p_best, self.contender_p = options.min_p_best, options.contender_p
        self.p_best_samples, self.recent_size = options.p_best_samples, options.recent
        # W_task of the most recent subtasks: the workload whose choices spare exploration runs serve.
        self.recent: list[np.ndarray] = []

    def remember(self, w: np.ndarray) -> None:
        """Add one subtask's W_task to the recent workload (the oldest falls out)."""
        self.recent.append(w)
        del self.recent[: -self.recent_size]

    def p_best(self, mean: np.ndarray, sd: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Win fractions of `p_best_samples` joint draws from independent N(mean_j, sd_j²)."""
        draws = mean[None, :] + sd[None, :] * rng.standard_normal((self.p_best_samples, len(mean)))
        return np.bincount(np.argmax(draws, axis=1), minlength=len(mean)) / self.p_best_samples

    def choose(
        self,
        tools: Sequence[str],
        ranking: Sequence[tuple[str, float]],
        p: Mapping[str, float],
        value: Callable[[], Mapping[str, float]],
    ) -> list[str]:
        """The greedy tool, contenders by P(best) (`p`), then spare runs by `value()` (computed only when
        needed); returned in ranking order, so a Worker that can afford one run takes the best guess.

        With `min_p_best > 0` only contenders at least that likely to be best are run and there are no
        spare runs, so exploration stops by itself once the choice is settled (cheaper, slower learning).
        Without spare runs most of the budget went to tools that could not win the subtask at hand (2.6
        of 3 exploratory runs per step by step 800 on the benchmark's 10-tool pool).
        """
        greedy = ranking[0][0]
        budget = max(1, self.top_m + self.random_n)
        order = {t: r for r, (t, _) in enumerate(ranking)}
        threshold = self.min_p_best if self.min_p_best > 0 else self.contender_p
        contenders = sorted(
            (t for t in tools if t != greedy and p[t] >= threshold), key=lambda t: (-p[t], order[t])
        )[: budget - 1]
        chosen = [greedy, *contenders]
        if self.min_p_best == 0 and len(chosen) < min(budget, len(tools)):
            spare_value = value()
            spare = sorted((t for t in tools if t not in chosen), key=lambda t: (-spare_value[t], order[t]))
            chosen += spare[: budget - len(chosen)]
        return sorted(chosen, key=order.__getitem__)

    def allocation_value(
        self, w: np.ndarray, mu: np.ndarray, cov: np.ndarray, cost: np.ndarray, noise: NoiseModel
    ) -> np.ndarray:
        """Expected number of wrong choices, among the remembered recent subtasks, that one more run of
        each tool on the dimensions of W_task `w` would prevent (an OCBA-style normal approximation).

        `mu` (T × D), `cov` (T × D × D) and `cost` (T) are the tools' posterior and cost terms. For each
        recent subtask r the current choice is b_r = argmax W_r·μ; a challenger j is wrongly ranked below
        b_r with probability Φ(−gap/√(v_b + v_j)) under the posterior. One run of tool j observes its cells
        on `w`'s dimensions, which shrinks v_j (exactly: the Kalman update's variance drop, which does not
        depend on the outcome); the value of running j is the total drop of those probabilities over
        every pair j takes part in, as challenger or as some subtask's choice. Tools that decide many
        recent choices and are still uncertain on the dimensions this subtask measures score highest.
        Cost: O(recent × tools × d²) per call.
        """
        refs = np.array(self.recent) if self.recent else w[None, :]  # R × D
        dims = np.flatnonzero(w > 0)
        mean = refs @ mu.T - cost[None, :]  # R × T
        var = np.einsum("rd,tde,re->rt", refs, cov, refs)
        q = np.clip(mu[:, dims], 0.0, 1.0)
        obs_noise = noise.var_array(q)  # T × k, as the skill model uses per dimension
        innov = cov[:, dims][:, :, dims] + obs_noise[:, :, None] * np.eye(len(dims))[None]  # T × k × k
        proj = np.einsum("rd,tdk->tkr", refs, cov[:, :, dims])  # T × k × R: Cov(W_r·θ, θ_dims)
        drop = np.einsum("tkr,tkr->rt", proj, np.linalg.solve(innov, proj))
        var_after = np.maximum(var - drop, 0.0)
        rows = np.arange(len(refs))
        best = np.argmax(mean, axis=1)
        gap = mean[rows, best][:, None] - mean
        v_best, v_best_after = var[rows, best][:, None], var_after[rows, best][:, None]

        def wrong(v_b: np.ndarray, v_j: np.ndarray) -> np.ndarray:
            p = normal_cdf(-gap / np.sqrt(np.maximum(v_b + v_j, 1e-18)))
            p[rows, best] = 0.0
            return p

        now = wrong(v_best, var)
        value = (now - wrong(v_best, var_after)).sum(axis=0)
        np.add.at(value, best, (now - wrong(v_best_after, var)).sum(axis=1))
        return value
