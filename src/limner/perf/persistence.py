"""The agent's routers and the shared perf store: which matrices rank which tools, what a run starts from,
and how what it learns is written back (PerfGuard's APU keeping the matrix true from the agent's own runs).

    matrices = load_matrices(config.perf_store_path)     # kind -> PerformanceMatrix, {} without a store
    memory = PerfPersistence(open_perf_store(config), factory)
    memory.restore(routers)                              # each router's learned state, if it was saved
    memory.record(router, subtask, outcomes, evidence, run_id=...)   # one transaction per update

Several runs (processes) may learn into one store at once: every update is a read-modify-write inside one
transaction (`PerfStore.apply_update`), so none is lost.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from limner.config import LimnerConfig
from limner.perf.matrix import MatrixError, PerformanceMatrix
from limner.perf.store import PerfStore, RouterFactory
from limner.perf.update import Router
from limner.types import EDIT_DIMS, GEN_DIMS, Subtask

__all__ = ["MATRIX_NAMES", "PerfPersistence", "load_matrices", "open_perf_store"]

#: The perf-store name of the matrix that ranks each tool kind (`limner perf ... --name`).
MATRIX_NAMES: dict[str, str] = {"generate": "generate", "edit": "edit", "inpaint": "inpaint", "retouch": "retouch"}


def load_matrices(store_path: str | Path | None) -> dict[str, PerformanceMatrix]:
    """Matrices from the perf store (`limner perf import/profile` and the agent's own runs write them), by
    the tool kind they rank.

    A matrix named after a kind (`MATRIX_NAMES`) ranks that kind. Any other matrix is placed by its
    dimensions: all generator dimensions rank "generate" tools, edit dimensions rank "edit" and "inpaint"
    tools, and the one named "default" wins over others. A missing store file gives {} (the routers start
    from the tools' declared scores); the file is never created here.
    """
    if store_path is None or not Path(store_path).is_file():
        return {}
    found: dict[str, PerformanceMatrix] = {}
    with PerfStore(store_path) as store:
        names = store.names()
        for kind, name in MATRIX_NAMES.items():
            if name in names and (m := store.get(name)) is not None:
                found[kind] = m
        for name in sorted(set(names) - set(MATRIX_NAMES.values()), key=lambda n: (n != "default", n)):
            m = store.get(name)
            if m is None or not m.dims:
                continue
            if set(m.dims) <= set(GEN_DIMS):
                found.setdefault("generate", m)
            elif set(m.dims) <= set(EDIT_DIMS):
                found.setdefault("edit", m)
                found.setdefault("inpaint", m)
    return found


def open_perf_store(config: LimnerConfig) -> PerfStore | None:
    """The shared performance store the CLI's runs learn into (`config.perf_store_path`), or None when
    learning is off. Benchmarks and tests build `Agent` directly and learn in memory only."""
    if not config.perf.learn or config.perf.updater == "static":
        return None
    return PerfStore(config.perf_store_path)


class PerfPersistence:
    """What the agent's routers learn, kept in one shared `PerfStore` so the next run starts from it.

    `factory` rebuilds a router from the stored matrix and state (`limner.perf.router_factory`), built with
    the same options as the agent's own routers."""

    def __init__(self, store: PerfStore, factory: RouterFactory) -> None:
        self.store = store
        self.factory = factory

    def restore(self, routers: Mapping[str, Router]) -> None:
        """Give each router the learner state stored with its matrix (a Bayesian router's posterior), so
        confidence carries over between runs. A state from another updater or tool set is ignored."""
        for kind, router in routers.items():
            state = self.store.state(MATRIX_NAMES[kind])
            if state:
                with contextlib.suppress(MatrixError, KeyError, ValueError, TypeError):
                    router.load_state_dict(state)

    def record(
        self, router: Router, sub: Subtask, outcomes: dict[str, float], evidence: dict[str, Any], *,
        run_id: str | None,
    ) -> None:
        """Write one update: read-modify-write in one transaction, so concurrent runs lose nothing. The first
        run of a store seeds it, in that same transaction, with the matrix `router` started from (call this
        before `router.update`)."""
        self.store.apply_update(self.factory, sub, outcomes, {**evidence, "run_id": run_id, "task": sub.id},
                                name=MATRIX_NAMES[sub.kind],
                                seed=(router.matrix, router.state_dict()))  # type: ignore[attr-defined]
