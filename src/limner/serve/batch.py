"""Agent runs at scale: fan prompts out over an `Executor` (local processes or Ray tasks), results back here.

    from limner.eval.executor import make_executor
    for r in run_batch(prompts, config, executor=make_executor(ray=True)):   # ray.init() locally, or
        print(r.prompt, r.passed)                                             # ray_address="ray://head:10001"

One prompt is one work item: a worker process builds the agent from the config once (cached per process by
the config's digest) and runs the prompt in memory; the final image (PNG bytes), the verdict and the run's
steps come back to the caller, as they finish. The tools may be local or `remote` (served by `limner serve`
or Ray Serve): then the workers only orchestrate and the painting happens where the models are. Routing does
not learn across items (each run starts from the config's matrices), so a batch gives the same results on
one worker or many.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from limner.agent.loop import Agent
from limner.config import LimnerConfig
from limner.eval.executor import Executor, LocalExecutor
from limner.runs import MemoryStore
from limner.tools.remote import png_bytes
from limner.types import ToolStep

__all__ = ["BatchResult", "run_batch", "run_one"]


class BatchResult(BaseModel):
    """One prompt's run, as it comes back from a worker."""

    model_config = ConfigDict(extra="forbid")

    index: int
    prompt: str
    seed: int
    status: Literal["ok", "error"]
    error: str | None = None
    passed: bool = False
    score: float = 0.0
    steps: list[str] = Field(default_factory=list, description="the run's step types, in order")
    tool_calls: list[dict[str, Any]] = Field(default_factory=list, description="tool, ok, error per tool step")
    png: bytes | None = Field(default=None, description="the final image", repr=False)
    time_s: float = 0.0


_AGENTS: dict[str, Agent] = {}


def _agent_for(config: dict[str, Any]) -> Agent:
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()
    agent = _AGENTS.get(digest)
    if agent is None:
        agent = _AGENTS[digest] = Agent(LimnerConfig.model_validate(config))
    return agent


def run_one(unit: tuple[dict[str, Any], int, str, int]) -> BatchResult:
    """Run the agent on one prompt (module-level, so processes and Ray can ship it)."""
    config, index, prompt, seed = unit
    t0 = time.perf_counter()
    try:
        agent = _agent_for(config)
        agent.config = agent.config.model_copy(update={"seed": seed})
        store = MemoryStore()
        final = agent.run(prompt, store=store)
    except Exception as e:  # noqa: BLE001 - one prompt's failure is its record, not the batch's end
        return BatchResult(index=index, prompt=prompt, seed=seed, status="error",
                           error=f"{type(e).__name__}: {e}"[:500], time_s=time.perf_counter() - t0)
    calls = [{"tool": s.call.tool, "subtask": s.subtask_id, "ok": s.result.ok, "error": s.result.error,
              "image": s.result.image_path, "replica": (s.result.meta.get("remote") or {}).get("url")}
             for s in store.steps if isinstance(s, ToolStep)]
    return BatchResult(index=index, prompt=prompt, seed=seed, status="ok", passed=final.passed, score=final.score,
                       steps=[s.type for s in store.steps], tool_calls=calls,
                       png=png_bytes(store.images[final.image_path]), time_s=time.perf_counter() - t0)


def run_batch(prompts: Iterable[str], config: LimnerConfig, *, executor: Executor | None = None,
              seed: int | None = None) -> Iterator[BatchResult]:
    """Run the agent on every prompt over `executor` (default: in this process); results as they finish.
    `seed` (default: the config's) is the seed of every run, so a prompt gives the same image anywhere."""
    executor = executor or LocalExecutor(1)
    cfg = config.model_dump(mode="json")
    s = config.seed if seed is None else seed
    yield from executor.map_unordered(run_one, [(cfg, i, p, s) for i, p in enumerate(prompts)])
