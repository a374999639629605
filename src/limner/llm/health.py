"""What an LLM brain did, counted: requests, validation failures, retries, fallbacks, latency; and the
circuit breaker that stops calling a model that keeps failing.

A brain that silently falls back to the rules on every call looks like it works (the run finishes) while
the model contributes nothing and each call costs a time-out. These counters make that visible (the CLI
prints them after a run, the benchmark reports them), and the breaker bounds the cost: after
`open_after` failed calls in a row the model is not asked again for `cooldown` calls, then it gets one
trial call (half-open), and one success closes the breaker again.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FELL_BACK", "BrainStats", "CircuitBreaker", "fallbacks_in"]

#: The words every LLM-brain fallback reason ends with (the trajectory step's `error`).
FELL_BACK = "the rule-based brain answered"


def fallbacks_in(steps: list[Any]) -> dict[str, int]:
    """Brain fallbacks recorded in a run's steps, per step type ({} when the brain always answered)."""
    out: dict[str, int] = {}
    for s in steps:
        if FELL_BACK in (getattr(s, "error", None) or ""):
            out[s.type] = out.get(s.type, 0) + 1
    return out


@dataclass
class BrainStats:
    """Counts over the life of one brain (every role together, and per role in `by_role`)."""

    calls: int = 0  # role calls (analyse, plan, reflect, judge) that went to the model or its breaker
    requests: int = 0  # requests sent to the model (a call with retries sends several)
    accepted: int = 0  # calls whose answer passed the schema and the meaning checks
    validation_failures: int = 0  # answers rejected (schema, or a meaning check), each one counted
    retries: int = 0  # requests beyond the first of a call
    fallbacks: int = 0  # calls answered by the fallback (rule) brain
    breaker_skips: int = 0  # of the fallbacks: calls not sent at all because the breaker was open
    errors: dict[str, int] = field(default_factory=dict)  # failure kind -> count
    latencies_s: list[float] = field(default_factory=list)  # wall time of each call that reached the model
    by_role: dict[str, dict[str, int]] = field(default_factory=dict)

    def record(self, role: str, *, requests: int, rejected: int, accepted: bool, latency_s: float | None,
               error: str | None = None, skipped: bool = False) -> None:
        self.calls += 1
        self.requests += requests
        self.retries += max(0, requests - 1)
        self.validation_failures += rejected
        self.accepted += accepted
        self.fallbacks += not accepted
        self.breaker_skips += skipped
        if latency_s is not None:
            self.latencies_s.append(latency_s)
        if error is not None:
            self.errors[error] = self.errors.get(error, 0) + 1
        role_stats = self.by_role.setdefault(role, {"calls": 0, "accepted": 0, "fallbacks": 0})
        role_stats["calls"] += 1
        role_stats["accepted"] += accepted
        role_stats["fallbacks"] += not accepted

    @property
    def fallback_rate(self) -> float:
        return self.fallbacks / self.calls if self.calls else 0.0

    def as_dict(self) -> dict[str, Any]:
        lat = self.latencies_s
        return {
            "calls": self.calls, "requests": self.requests, "accepted": self.accepted,
            "validation_failures": self.validation_failures, "retries": self.retries,
            "fallbacks": self.fallbacks, "fallback_rate": round(self.fallback_rate, 4),
            "breaker_skips": self.breaker_skips, "errors": dict(self.errors),
            "median_latency_s": round(statistics.median(lat), 4) if lat else None,
            "p90_latency_s": round(sorted(lat)[int(0.9 * (len(lat) - 1))], 4) if lat else None,
            "by_role": {k: dict(v) for k, v in self.by_role.items()},
        }

    def summary(self) -> str:
        """One line for people: 'LLM brain: 3 of 7 calls answered by the rules (…)'."""
        if not self.calls:
            return "LLM brain: not called"
        line = (f"LLM brain: {self.fallbacks} of {self.calls} calls answered by the rule-based brain; "
                f"{self.requests} requests, {self.validation_failures} answers rejected, {self.retries} retries")
        if self.breaker_skips:
            line += f", {self.breaker_skips} calls skipped by the circuit breaker"
        if self.errors:
            top = max(self.errors, key=lambda k: self.errors[k])
            line += f"; most common failure: {top}"
        return line


@dataclass
class CircuitBreaker:
    """Closed → open after `open_after` consecutive failures → one trial call after `cooldown` skipped calls."""

    open_after: int = 3
    cooldown: int = 20
    failures: int = 0
    skipped: int = 0

    @property
    def is_open(self) -> bool:
        return self.open_after > 0 and self.failures >= self.open_after

    def allow(self) -> bool:
        """Whether this call may go to the model (counts a skip when it may not)."""
        if not self.is_open:
            return True
        if self.skipped >= self.cooldown:  # half-open: let one call through
            self.skipped = 0
            return True
        self.skipped += 1
        return False

    def success(self) -> None:
        self.failures, self.skipped = 0, 0

    def failure(self) -> None:
        self.failures += 1
