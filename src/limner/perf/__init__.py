"""Performance-aware routing (PerfGuard PASM + APU, and limner's Bayesian updater).

`PerformanceMatrix` holds per-dimension skill scores per tool; a `Router` ranks tools for a `Subtask`,
chooses which to run for learning, and learns from the evaluator's scores; `RouterOptions` holds every
router knob; `PerfStore` persists the matrix and every update in SQLite. See docs/routing.md.
"""

from limner.perf.bayes import BayesRouter
from limner.perf.matrix import CELL_SOURCES, MatrixError, PerformanceMatrix, normalize_rows, rank_scores
from limner.perf.options import RouterOptions
from limner.perf.router import Router
from limner.perf.store import PerfStore, StoreError, UpdateRecord
from limner.perf.update import (
    APURouter,
    StaticRouter,
    apu_delta,
    apu_step,
    make_router,
    router_factory,
    router_from_config,
    router_options,
)

__all__ = [
    "CELL_SOURCES",
    "APURouter",
    "BayesRouter",
    "MatrixError",
    "PerfStore",
    "PerformanceMatrix",
    "Router",
    "RouterOptions",
    "StaticRouter",
    "StoreError",
    "UpdateRecord",
    "apu_delta",
    "apu_step",
    "make_router",
    "normalize_rows",
    "rank_scores",
    "router_factory",
    "router_from_config",
    "router_options",
]
