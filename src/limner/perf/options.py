"""Every knob of the routers in one validated object, `RouterOptions`.

The Bayesian router has many knobs (its prior, noise model, drift alarm, exploration budget and thresholds,
tool costs and families); they used to be nineteen constructor arguments, each checked (or not) by hand.
Here each is one pydantic field with its meaning and range, so a wrong value fails where it is set, with the
field's name and the value in the message, and `make_router`, `router_factory` and the agent build their
routers from the same object (`RouterOptions.from_perf_config` maps a `limner.config.PerfConfig` onto it).

`eta` is APU's alone and `top_m`/`random_n` (the exploration budget) are shared by APU and Bayes; every
other field is the Bayesian router's (see `limner.perf.bayes`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from limner.config import PerfConfig

#: How the evaluator's noise variance depends on the expected score q: `var = c·q(1−q)` ("binomial": a score
#: is a fraction of pass/fail checks) or `var = c/4` ("constant").
NoiseShape = Literal["binomial", "constant"]


class RouterOptions(BaseModel):
    """The routers' knobs, validated once. Defaults are the benchmark's (and `make_router`'s) settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # -- exploration budget (APU and Bayes) and APU --------------------------------------------------
    top_m: int = Field(default=2, ge=1, description="tools run per step besides random_n (1: the greedy one)")
    random_n: int = Field(
        default=2, ge=0,
        description="extra exploratory runs per step (APU: random tools; Bayes: contenders, spare runs)",
    )
    eta: float = Field(default=0.13, gt=0, description="APU learning rate (PerfGuard: 0.13); not Bayes")

    # -- the Gaussian skill model ----------------------------------------------------------------------
    prior_sd: float = Field(default=0.15, gt=0, description="prior sd of a skill cell about its matrix value")
    shared_sd: float = Field(
        default=0.10, ge=0, description="prior sd of a tool's level, shared by its dimensions (the 11ᵀ term)"
    )
    unmeasured_sd_factor: float = Field(
        default=2.0, gt=0, description="prior sd multiplier for cells nobody measured (source 'prior')"
    )
    noise_sd: float = Field(default=0.10, gt=0, description="prior guess of the noise sd at q = ½")
    noise_pseudo_obs: float = Field(default=10.0, gt=0, description="weight of that guess, in observations")
    noise_shape: NoiseShape = Field(default="binomial", description="noise variance c·q(1−q) or c/4")
    drift_k: float = Field(default=0.5, ge=0, description="CUSUM slack per standardised residual")
    drift_h: float = Field(
        default=12.0, gt=0, description="CUSUM alarm threshold (an alarm re-opens the tool's covariance)"
    )
    families: dict[str, str] = Field(
        default_factory=dict, description="{tool: family}: members share evidence through the family's skill"
    )
    family_sd: float = Field(
        default=0.06, gt=0, description="sd of a member's own offset from its family, per dimension"
    )
    family_shared_sd: float = Field(
        default=0.06, ge=0, description="sd of a member's offset shared by all its dimensions (a level)"
    )

    # -- ranking and exploration (Bayes) ---------------------------------------------------------------
    costs: dict[str, float] = Field(
        default_factory=dict, description="{tool: cost}; the ranking subtracts cost_weight · cost"
    )
    cost_weight: float = Field(default=0.0, ge=0, description="score penalty per unit tool cost")
    min_p_best: float = Field(
        default=0.0, ge=0, lt=1,
        description="run only explorers at least this likely to be best; 0 spends the whole budget",
    )
    contender_p: float = Field(
        default=0.05, ge=0, le=1, description="P(best) that makes a tool a contender (with min_p_best = 0)"
    )
    p_best_samples: int = Field(default=512, ge=1, description="Monte-Carlo draws that estimate P(best)")
    recent: int = Field(default=256, ge=1, description="recent subtasks whose choices the spare runs serve")

    @field_validator("costs")
    @classmethod
    def _finite_costs(cls, costs: dict[str, float]) -> dict[str, float]:
        bad = {t: c for t, c in costs.items() if not math.isfinite(c) or c < 0}
        if bad:
            raise ValueError(f"tool costs must be finite and non-negative, got {bad}")
        return costs

    @classmethod
    def from_perf_config(
        cls,
        perf: PerfConfig,
        costs: Mapping[str, float] | None = None,
        families: Mapping[str, str] | None = None,
    ) -> RouterOptions:
        """The options a `PerfConfig` sets, plus the tools' costs and `family` fields. A family's level
        strays as far as its dimensions do (`family_shared_sd = family_sd`)."""
        return cls(
            top_m=perf.top_m,
            random_n=perf.random_n,
            eta=perf.eta,
            costs=dict(costs or {}),
            cost_weight=perf.cost_weight,
            min_p_best=perf.min_p_best,
            families=dict(families or {}),
            family_sd=perf.family_sd,
            family_shared_sd=perf.family_sd,
        )
