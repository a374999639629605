"""One way to fan work out: in this process, over local processes, or as Ray tasks — the same call each time.

The evaluation harness (and the data orchestra after it) hands an `Executor` a picklable function and
items and reads the results back **as they finish**, in any order; it writes what comes back itself. So a
worker never touches the output directory: results travel back to the caller, which writes each one
atomically the moment it arrives. That is what makes a killed run lose nothing finished, and it is what
lets the same code run on a laptop and on a Ray cluster whose workers share no disk with the caller.

Why not a home-made scheduler: local processes use the standard library's `ProcessPoolExecutor` (spawned,
not forked: a fork of a process holding onnxruntime or rich's threads can deadlock), and scale-out is Ray's
(`ray.init()` for a local cluster, `ray.init(address=...)` for a real one). A worker keeps what it built
(tools, models) between items in a process-local cache keyed by the job (see `limner.eval.runner`).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol, TypeVar

__all__ = ["Executor", "ExecutorError", "LocalExecutor", "RayExecutor", "make_executor", "one_thread_per_worker"]

T = TypeVar("T")
R = TypeVar("R")


class ExecutorError(RuntimeError):
    """The executor cannot start (Ray not installed, a cluster address that does not answer)."""


class Executor(Protocol):
    """Runs `fn(item)` for every item; yields results as they complete (any order)."""

    name: str
    workers: int

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]: ...

    def close(self) -> None: ...


def one_thread_per_worker() -> None:
    """Each worker process computes with one thread: N processes on N cores run ~4× faster than N processes
    that each spread over every core (measured on this project's 2-core machines)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    try:
        import cv2  # noqa: PLC0415 - only where installed (it is a core dependency, but keep this generic)

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass
    try:
        import torch  # noqa: PLC0415 - optional

        torch.set_num_threads(1)
    except ImportError:
        pass


class LocalExecutor:
    """`workers == 1`: in this process, one item at a time (no pickling, easiest to debug). More: a pool of
    spawned processes with at most `workers` items in flight, so a cancelled run leaves little half-done."""

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self.name = "serial" if workers == 1 else f"processes×{workers}"
        self._pool: ProcessPoolExecutor | None = None

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        if self.workers == 1:
            for item in items:
                yield fn(item)
            return
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=one_thread_per_worker)
        yield from _bounded(self._pool.submit, fn, items, in_flight=2 * self.workers)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _bounded(submit: Callable[..., Future[Any]], fn: Callable[[T], R], items: Iterable[T],
             in_flight: int) -> Iterator[R]:
    """Submit at most `in_flight` items at a time and yield results as they complete. Pending futures are
    cancelled when the consumer stops early (Ctrl-C, an error), so no work is queued that nobody will read."""
    it = iter(items)
    pending: set[Future[Any]] = set()
    try:
        for item in it:
            pending.add(submit(fn, item))
            if len(pending) >= in_flight:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    yield f.result()
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                yield f.result()
    finally:
        for f in pending:
            f.cancel()


class RayExecutor:
    """Items as Ray tasks (one CPU each), at most twice the cluster's CPUs in flight. `address=None` starts a
    local cluster with `num_cpus` CPUs (or joins the one `RAY_ADDRESS` names); an address joins that
    cluster. The function and its items are shipped by Ray; results come back to the caller."""

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        try:
            import ray  # noqa: PLC0415 - optional extra: pip install 'limner[ray]'
        except ImportError as e:
            raise ExecutorError("Ray is not installed: pip install 'limner[ray]'") from e
        self._ray = ray
        self._started_here = not ray.is_initialized()
        if self._started_here:
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "configure_logging": False}
            if address is not None:
                kwargs["address"] = address
            elif num_cpus is not None:
                kwargs["num_cpus"] = num_cpus
            try:
                ray.init(**kwargs)
            except Exception as e:
                raise ExecutorError(f"cannot start or join the Ray cluster"
                                    f"{f' at {address}' if address else ''}: {str(e).splitlines()[0]}") from e
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.name = f"ray×{self.workers}"

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        ray = self._ray
        remote = ray.remote(num_cpus=1, max_retries=2)(_call_with_one_thread)
        it = iter(items)
        pending: list[Any] = []
        try:
            for item in it:
                pending.append(remote.remote(fn, item))
                if len(pending) >= 2 * self.workers:
                    done, pending = ray.wait(pending, num_returns=1)
                    yield ray.get(done[0])
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                yield ray.get(done[0])
        finally:
            for ref in pending:
                ray.cancel(ref)

    def close(self) -> None:
        if self._started_here and self._ray.is_initialized():
            self._ray.shutdown()


def _call_with_one_thread(fn: Callable[[T], R], item: T) -> R:
    one_thread_per_worker()
    return fn(item)


def make_executor(workers: int = 1, *, ray: bool = False, ray_address: str | None = None) -> Executor:
    """Local processes by default; Ray when asked (`ray=True`, or an address)."""
    if ray or ray_address:
        return RayExecutor(address=ray_address, num_cpus=workers if ray_address is None and workers > 1 else None)
    return LocalExecutor(workers)
