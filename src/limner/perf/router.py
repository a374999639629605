"""The `Router` protocol every performance model implements, and the plumbing matrix routers share."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from limner.perf.matrix import MatrixError, PerformanceMatrix
from limner.types import Subtask


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


def check_outcomes(outcomes: Mapping[str, float]) -> None:
    """Evaluator scores must be finite real numbers (a NaN would poison every later estimate)."""
    for tool, y in outcomes.items():
        if isinstance(y, bool) or not isinstance(y, numbers.Real) or not math.isfinite(y):
            raise MatrixError(f"outcome for {tool!r} must be a finite number, got {y!r}")


class MatrixRouterBase:
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
