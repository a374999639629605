"""The agent loop: analyse → plan → route and call → evaluate → reflect, for a few rounds. One file.

PerfGuard's Analyst/Planner/Worker/Self-Evaluator loop with GenAgent's multi-turn reflection:

    agent = Agent(config)                       # tools from config.tools, brain from config.brain
    final = agent.run("a red apple left of a blue cup")
    for step in agent.run(prompt, stream=True): # typed steps, as they happen
        print(step.type, step.reasoning)

Every step is a typed record (`limner.types`: AnalysisStep, PlanStep, ToolStep, EvaluationStep,
ReflectionStep, FinalStep) appended to the run's `trajectory.jsonl` the moment it exists. Resuming a run
replays the recorded steps (no tool is called again) and continues where the record ends.

Policy, in one place (the rules live in the brain, see `limner.llm.rule_brain`):
- round 0 generates the whole prompt with the tool the performance matrix ranks best for the scene's
  dimensions; a tool that fails or times out hands over to the next-ranked one;
- each later round either repairs the best image so far (one edit/inpaint per failed check, nothing else
  is touched) or regenerates with a new seed when repair is the worse bet (most checks failed, the last
  round made things worse, nothing is editable);
- the run stops when the best verdict reaches the goal or after `rounds` rounds, and returns the BEST image
  seen, not the last.
"""

from __future__ import annotations

import functools
import json
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from limner.agent.analyst import Analyst
from limner.agent.evaluator import Evaluator
from limner.agent.planner import Planner
from limner.agent.worker import MATRIX_NAMES, Worker, WorkerError, default_routers, load_matrices
from limner.config import LimnerConfig
from limner.llm import make_brain
from limner.llm.brain import Brain, NextAction
from limner.llm.rule_brain import edit_target, edit_weights
from limner.perf import router_factory, router_options
from limner.tools.base import Tool
from limner.types import (
    AnalysisStep,
    Check,
    EvaluationStep,
    FinalStep,
    PlanStep,
    ReflectionStep,
    Scene,
    Step,
    Subtask,
    ToolStep,
    Verdict,
)

__all__ = ["Agent", "AgentError", "MemoryStore", "check", "run_edit", "run_generate"]


class AgentError(RuntimeError):
    """The run cannot go on (no tool could draw anything, a resumed trajectory does not fit this run)."""


# ----------------------------------------------------------------------------------------------------
# Where steps and images go: the run store, or memory (benchmarks and tests that need no files)
# ----------------------------------------------------------------------------------------------------


class MemoryStore:
    """The subset of `limner.runs.RunStore` the loop uses, kept in memory."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.images: dict[str, Image.Image] = {}
        self.truths: dict[str, dict[str, Any]] = {}
        self.final: str | None = None
        self.summary: dict[str, Any] = {}

    def append_step(self, step: Step) -> None:
        self.steps.append(step)

    def completed_steps(self) -> list[Step]:
        return list(self.steps)

    def save_image(self, image: Image.Image, stem: str) -> str:
        rel = f"images/{stem}.png"
        self.images[rel] = image
        return rel

    def save_truth(self, truth: dict[str, Any], stem: str) -> str:
        rel = f"images/{stem}.truth.json"
        self.truths[rel] = truth
        return rel

    def load_image(self, rel: str) -> Image.Image:
        return self.images[rel]

    def finish(self, final_image: str, *, status: str = "done", **summary: Any) -> None:
        self.final = final_image
        self.summary = dict(summary, status=status)


class _Writer:
    """Writes through the store on one background thread, in call order.

    PNG encoding and fsync'd appends are I/O the loop need not wait for: the next tool call runs while the
    last step is written. One FIFO thread keeps the write-ahead order (an image is durable before the step
    that names it), `flush()` waits for everything (before the final step is yielded, before reading back,
    and when the run stops for any reason), and a write error is raised in the loop at the next call. A
    crash loses only steps not yet written, which a resume simply does again.
    """

    def __init__(self, store: Any) -> None:
        self.store = store
        self._queue: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.Queue()
        self._error: BaseException | None = None
        self.waited_s = 0.0  # time the loop spent waiting for writes (part of the orchestration overhead)
        self._thread = threading.Thread(target=self._work, name="limner-run-writer", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        self._raise()
        self._queue.put((fn, args))

    def flush(self) -> None:
        t0 = time.perf_counter()
        self._queue.join()
        self.waited_s += time.perf_counter() - t0
        self._raise()

    def close(self) -> None:
        t0 = time.perf_counter()
        self._queue.join()
        self.waited_s += time.perf_counter() - t0
        self._queue.put(None)
        self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            fn, args = item
            try:
                if self._error is None:
                    fn(*args)
            except BaseException as e:  # noqa: BLE001 - handed to the loop's thread by _raise()
                self._error = e
            finally:
                self._queue.task_done()
        self._queue.task_done()


@dataclass
class _Best:
    path: str
    verdict: Verdict
    image: Image.Image | None = None


# ----------------------------------------------------------------------------------------------------
# The agent
# ----------------------------------------------------------------------------------------------------


class Agent:
    """Tools, brain, router and checker wired from one config; `run()` is the loop."""

    def __init__(
        self,
        config: LimnerConfig,
        *,
        tools: dict[str, Tool] | None = None,
        brain: Brain | None = None,
        routers: dict[str, Any] | None = None,
        matrices: dict[str, Any] | None = None,
        checker: Tool | None = None,
        perf_store: Any = None,
    ) -> None:
        """`routers` (tool kind -> perf Router) override everything; else `matrices` (kind ->
        PerformanceMatrix), else the matrices in the perf store at `config.perf_store_path`, else the tools'
        declared scores. With a `perf_store` (a `limner.perf.PerfStore`), what the routers learn is also
        written there, one transaction per update, so the next run — in this process or another — starts
        from it (PerfGuard's APU keeping the matrix true from the agent's own runs)."""
        self.config = config
        if tools is None:
            from limner.tools.registry import ToolRegistry

            registry = ToolRegistry.from_config(config)
            tools = {n: registry.get(n) for n in registry.names}
        self.tools = tools
        self.brain = brain if brain is not None else make_brain(config.brain)
        producing = {n: t for n, t in tools.items() if t.kind in ("generate", "edit", "inpaint")}
        if not any(t.kind == "generate" for t in producing.values()):
            raise AgentError("no tool of kind 'generate' is configured; add a painter or text-to-image tool to tools:")
        self.checker = checker or _find_checker(tools)
        self._router_options = router_options(
            config.perf,
            {n: t.spec.cost for n, t in producing.items()},
            {n: t.spec.family for n, t in producing.items() if t.spec.family},
        )
        if routers is None:
            matrices = matrices if matrices is not None else load_matrices(config.perf_store_path)
            routers = default_routers(
                producing, updater=config.perf.updater if config.perf.learn else "static", matrices=matrices,
                **self._router_options,
            )
            if perf_store is not None:
                _restore_router_states(routers, perf_store)
        self.perf_store = perf_store
        self.matrix_sources = {k: "store" if k in (matrices or {}) else "prior" for k in routers}
        self.worker = Worker(producing, routers, timeout_s=config.agent.tool_timeout_s,
                             max_fallbacks=config.agent.max_fallbacks)
        self.specs = [t.spec for t in producing.values()]
        self.analyst = Analyst(self.brain, goal=config.agent.goal)
        self.planner = Planner(self.brain, self.specs)
        self.evaluator = Evaluator(self.checker, lam=config.agent.lam, brain=self.brain)
        self.tool_time_s = 0.0  # time inside tools (painters, editors, checker) during the last run
        self.store_wait_s = 0.0  # time the last run waited for the run store's writes

    # -- public ----------------------------------------------------------------------------------

    def run(self, prompt: str, *, stream: bool = False, store: Any = None, rounds: int | None = None,
            image: Image.Image | None = None, instruction: str | None = None) -> Any:
        """Generate for `prompt`, or, with `image` and `instruction`, edit the image (then `prompt` describes
        what the edited image must show). With `stream=True`, an iterator of steps; otherwise the
        `FinalStep`. `store` is a `RunStore` (default: in memory)."""
        if (image is None) != (instruction is None):
            raise ValueError("editing needs both `image` and `instruction`")
        steps = self._steps(prompt, store if store is not None else MemoryStore(), rounds or self.config.agent.rounds,
                            image, instruction)
        if stream:
            return steps
        final = None
        for final in steps:
            pass
        return final

    # -- the loop ---------------------------------------------------------------------------------

    def _steps(self, prompt: str, store: Any, rounds: int, input_image: Image.Image | None,
               instruction: str | None) -> Iterator[Step]:
        if not prompt or not prompt.strip():
            raise ValueError("the prompt is empty; say what the image should show")
        self._writer = _Writer(store)
        try:
            yield from self._loop(prompt, store, rounds, input_image, instruction)
        finally:
            self._writer.close()  # everything recorded so far is on disk, however the run ends
            self.store_wait_s = self._writer.waited_s

    def _loop(self, prompt: str, store: Any, rounds: int, input_image: Image.Image | None,
              instruction: str | None) -> Iterator[Step]:
        started = time.perf_counter()
        self.tool_time_s = 0.0
        self._replay: deque[Step] = deque(store.completed_steps())
        self._n_recorded = len(self._replay)  # steps 0 .. n-1 are replayed, never written again
        self._last_tool: dict[str, str] = {}
        self._ineffective: dict[str, set[str]] = {}  # instruction -> tools whose repair did not help
        self._truths: dict[str, dict[str, Any]] = {}
        self._store = store
        self._index = 0

        # 1. Analyse: the prompt becomes a Scene (what must be in the image) and a goal.
        step = self._recorded(AnalysisStep)
        if step is None:
            t0 = time.perf_counter()
            a = self.analyst(prompt)
            step = AnalysisStep(index=self._index, scene=a.scene, goal=a.goal, reasoning=a.reasoning,
                                tokens=a.tokens, error=a.error, duration_s=time.perf_counter() - t0)
        yield self._emit(step)
        scene, goal = step.scene, step.goal

        best: _Best | None = None
        action: NextAction = "regenerate"
        last_improved: bool | None = None
        if input_image is not None:  # editing: the given image, edited as instructed, is the first candidate
            unjudged = Check(target="scene", kind="global", passed=False, score=0.0,
                             evidence="the input image, before the instruction was applied (not judged)")
            best = _Best(path=self._save_image(input_image, "input"), image=input_image,
                         verdict=Verdict(score=0.0, global_score=0.0, checks=[unjudged]))
            action = "repair"

        last_round = 0
        for rnd in range(rounds):
            if action == "stop":
                break
            last_round = rnd
            # 2. Plan: a generation, or one targeted repair per failed check of the best image.
            plan = self._recorded(PlanStep)
            if plan is None and instruction is not None and rnd == 0:
                sub = Subtask(id="r0-edit", kind="edit", instruction=instruction, weights=edit_weights(instruction))
                plan = PlanStep(index=self._index, round=0, subtasks=[sub], reasoning=f"apply the instruction: {instruction}")
            if plan is None:
                t0 = time.perf_counter()
                p = self.planner(scene, best.verdict if best else None, action, rnd)
                plan = PlanStep(index=self._index, round=rnd, subtasks=p.subtasks, reasoning=p.reasoning,
                                tokens=p.tokens, error=p.error, duration_s=time.perf_counter() - t0)
            yield self._emit(plan)
            if not plan.subtasks and action == "repair":
                action = "regenerate"  # nothing an edit can fix: draw again next round
                continue

            # 3–4. Route, call and evaluate (λ·global + (1−λ)·mean(local checks)), keeping the best image.
            previous = best.verdict.score if best else None
            if action == "repair" and best is not None and self.config.agent.verify_repairs:
                # Each repair is checked before the next one builds on it: one that does not raise the
                # score is undone and handed to the next-ranked tool.
                current, produced = best, False
                for k, sub in enumerate(plan.subtasks):
                    current, best, made = yield from self._repair(sub, rnd, k, current, best, scene)
                    produced = produced or made
                if not produced:
                    yield from self._reflect_failure(rnd, "no tool produced a new image this round")
                    action = "regenerate"
                    last_improved = False
                    continue
                last_improved = best.verdict.score > previous
            elif self._explores(plan.subtasks):
                # Exploration: several tools draw the scene, every image is judged, the best is kept and the
                # router learns from the comparison (PerfGuard's APU runs top-m + n tools the same way).
                best, produced = yield from self._explore(plan.subtasks[0], rnd, scene, best)
                if not produced:
                    yield from self._reflect_failure(rnd, "no tool produced a new image this round")
                    action = "regenerate"
                    last_improved = False
                    continue
                last_improved = None if previous is None else best.verdict.score > previous
            else:
                image: Image.Image | None = None
                path: str | None = None
                if action == "repair" and best is not None:
                    image, path = self._image(best), best.path
                for k, sub in enumerate(plan.subtasks):
                    source = image if sub.kind != "generate" else None
                    result_image, result_path = yield from self._work(sub, rnd, k, source, path if source else None)
                    if result_image is not None:
                        image, path = result_image, result_path
                if path is None or (action == "repair" and best is not None and path == best.path):
                    yield from self._reflect_failure(rnd, "no tool produced a new image this round")
                    action = "regenerate"
                    last_improved = False
                    continue
                best, _ = yield from self._evaluate(path, image, scene, rnd, best, plan.subtasks)
                last_improved = None if previous is None else best.path == path and best.verdict.score > previous
                if action == "repair" and last_improved is False:
                    # Reflection on the tools: a repair that did not help is not handed to the same tool again.
                    for sub in plan.subtasks:
                        if (tool := self._last_tool.get(sub.id)) is not None:
                            self._ineffective.setdefault(sub.instruction, set()).add(tool)

            # 5. Reflect: stop, repair what failed, or draw again.
            reflection = yield from self._reflect(scene, best.verdict, rnd, rounds, goal, last_improved, action)
            action = reflection.next_action

        if best is None:
            raise AgentError("no tool produced an image; see the failed tool steps in the trajectory")
        final = self._recorded(FinalStep)
        if final is None:
            final = FinalStep(index=self._index, round=last_round, image_path=best.path,
                              score=best.verdict.score, passed=best.verdict.passed,
                              reasoning=f"best image {best.path} (score {best.verdict.score:.3f}, "
                                        f"{'all checks pass' if best.verdict.passed else f'{len(best.verdict.failed)} checks fail'})")
            wall = time.perf_counter() - started
            self._emit(final)
            timings = {"wall_s": round(wall, 3), "tool_s": round(self.tool_time_s, 3),
                       "orchestration_s": round(wall - self.tool_time_s, 3)}
            self._writer.submit(functools.partial(store.finish, best.path, status="done", score=final.score,
                                                  passed=final.passed, timings=timings))
            self._writer.flush()
            yield final
        else:
            yield self._emit(final)

    # -- phases -------------------------------------------------------------------------------------

    def _explores(self, subtasks: list[Subtask]) -> bool:
        return (self.config.perf.explore and len(subtasks) == 1 and subtasks[0].kind == "generate"
                and hasattr(self.worker.routers.get("generate"), "choose_explore"))

    def _explore(self, sub: Subtask, rnd: int, scene: Scene, best: _Best | None):
        """Run the router's exploration set for a generation (`choose_explore`: the best-ranked tool first,
        then the ones worth learning about), judge every image, keep the best, and update the router once
        with all the outcomes. Returns (best image so far, whether any tool produced an image).

        On resume the tools already recorded for this subtask are taken from the trajectory (the router's
        state may differ from the interrupted run's); only the rest of the set is run."""
        router = self.worker.routers["generate"]
        recorded = self._recorded_tools(sub.id)
        rng = np.random.default_rng([self.config.seed, rnd, 7919])
        names = self.worker.candidates("generate")
        chosen = router.choose_explore(self.worker.routable(sub, router), names, rng) if names else []
        order = recorded + [t for t in chosen if t not in recorded]
        outcomes: dict[str, float] = {}
        dimension_scores: dict[str, dict[str, float]] = {}
        fresh = False
        for j, tool in enumerate(order):
            image, path = yield from self._work(sub, rnd, j, None, None, only=tool)
            if image is None:
                continue
            fresh = fresh or not self._replay  # this image's evaluation is computed now, not replayed
            best, verdict = yield from self._evaluate(path, image, scene, rnd, best, [])
            outcomes[tool], dimension_scores[tool] = _learning_signal(verdict)
        if fresh and outcomes and self.config.perf.learn:
            self._update_router(sub, router, outcomes, {"dimension_scores": dimension_scores})
        return best, bool(outcomes)

    def _recorded_tools(self, subtask_id: str) -> list[str]:
        """Tools of the recorded attempts at `subtask_id` still to be replayed, in order."""
        tools: list[str] = []
        for step in self._replay:
            if isinstance(step, ToolStep) and step.subtask_id == subtask_id:
                tools.append(step.call.tool)
            elif not isinstance(step, EvaluationStep):
                break
        return list(dict.fromkeys(tools))

    def _repair(self, sub: Subtask, rnd: int, k: int, current: _Best, best: _Best, scene: Scene):
        """One repair subtask on `current`, verified: the edited image is evaluated at once and kept only if
        it scores higher; otherwise it is undone, the tool is marked as not helping with this instruction,
        and the next-ranked tool gets a try (`agent.repair_retries` times). Returns (image the next repair
        builds on, best image so far, whether any tool produced an image)."""
        produced = False
        for attempt in range(1 + self.config.agent.repair_retries):
            image, path = yield from self._work(sub, rnd, k, self._image(current), current.path, retry=attempt)
            if image is None:
                break
            produced = True
            best, verdict = yield from self._evaluate(path, image, scene, rnd, best, [sub])
            if verdict.score > current.verdict.score:
                return _Best(path=path, verdict=verdict, image=image), best, produced
            if (tool := self._last_tool.get(sub.id)) is not None:
                self._ineffective.setdefault(sub.instruction, set()).add(tool)
        return current, best, produced

    def _work(self, sub: Subtask, rnd: int, k: int, image: Image.Image | None, path: str | None,
              retry: int = 0, only: str | None = None):
        """Run one subtask (with fallback); yields ToolSteps; returns (image, path) of the success or (None, None).
        `retry` > 0 is a retry of a repair that did not help: another seed, its own image names. `only`: call
        just that tool, no fallback (exploration)."""
        seed = self.config.seed + 1009 * rnd + k + 101 * retry
        tried: set[str] = set()
        # Replayed attempts first (resume): no tool is called again.
        while (self._replay and isinstance(self._replay[0], ToolStep) and self._replay[0].subtask_id == sub.id
               and (only is None or self._replay[0].call.tool == only)):
            step = self._recorded(ToolStep)
            yield self._emit(step)
            tried.add(step.call.tool)
            if step.result.ok and step.result.image_path:
                return self._load_image(step.result.image_path), step.result.image_path
            if only is not None:
                return None, None
        if len(tried) > self.config.agent.max_fallbacks:
            return None, None
        # Sandbox only: the world's truth of the input rides along so the editor can return the truth of its
        # output (for benchmarks and training data). Tools never decide from it; the agent never reads it.
        truth_in = self._truth_of(path) if image is not None else None
        try:
            attempts = self.worker.attempts(
                sub, prompt=sub.instruction, seed=seed, width=self.config.width, height=self.config.height,
                image=image, input_path=path, skip=tried, avoid=self._ineffective.get(sub.instruction), only=only,
                params={"_truth_in": truth_in} if truth_in is not None else None,
            )
            for attempt in attempts:
                result = attempt.result
                self.tool_time_s += result.duration_s
                if result.ok:
                    stem = f"r{rnd}-{k}-{attempt.call.tool}" + (f"-retry{retry}" if retry else "")
                    result.image_path = self._save_image(result.image, stem)
                    if result.ground_truth is not None:
                        self._writer.submit(self._store.save_truth, result.ground_truth, stem)
                        result.meta.setdefault("truth_path", result.image_path.removesuffix(".png") + ".truth.json")
                        self._truths[result.image_path] = result.ground_truth
                ineffective = sorted(self._ineffective.get(sub.instruction, ()))
                why = (f"{sub.kind} '{sub.instruction}' with {attempt.call.tool} "
                       f"(rank {[n for n, _ in attempt.ranking].index(attempt.call.tool) + 1} of {len(attempt.ranking)}"
                       + (f"; {', '.join(ineffective)} did not help with this before" if ineffective else "") + ")")
                # Private "_" params (the sandbox truth channel) stay out of the trajectory.
                public = {k: v for k, v in attempt.call.params.items() if not k.startswith("_")}
                step = ToolStep(index=self._index, round=rnd, subtask_id=sub.id, ranking=attempt.ranking,
                                call=attempt.call.model_copy(update={"params": public}), result=result,
                                duration_s=result.duration_s,
                                reasoning=why if result.ok else f"{why} failed: {result.error}; trying the next-ranked tool",
                                error=None if result.ok else result.error)
                yield self._emit(step)
                if result.ok:
                    return result.image, result.image_path
        except WorkerError as e:
            yield from self._reflect_failure(rnd, str(e))
        return None, None

    def _evaluate(self, path: str, image: Image.Image | None, scene: Scene, rnd: int, best: _Best | None,
                  subtasks: list[Subtask] | None = None):
        step = self._recorded(EvaluationStep)
        if step is None:
            image = image if image is not None else self._load_image(path)
            ev = self.evaluator(image, scene)
            self.tool_time_s += ev.tool_s
            failed = [f"{c.target} {c.kind}: {c.evidence}" for c in ev.verdict.failed]
            step = EvaluationStep(index=self._index, round=rnd, image_path=path, verdict=ev.verdict,
                                  duration_s=ev.tool_s, tokens=ev.tokens, error=ev.error,
                                  reasoning=(f"score {ev.verdict.score:.3f}; "
                                             + ("all checks pass" if not failed else "failed: " + "; ".join(failed))
                                             + (f"; {ev.note}" if ev.note else "")))
            self._learn(subtasks or [], ev.verdict)
        yield self._emit(step)
        if best is None or step.verdict.score > best.verdict.score:
            return _Best(path=path, verdict=step.verdict, image=image), step.verdict
        return best, step.verdict

    def _reflect(self, scene: Scene, verdict: Verdict, rnd: int, rounds: int, goal: float,
                 last_improved: bool | None, last_action: NextAction | None = None):
        step = self._recorded(ReflectionStep)
        if step is None:
            t0 = time.perf_counter()
            if verdict.passed and verdict.score >= goal - 1e-9:
                r_action, r_failed, why, tokens, err = "stop", [], f"goal {goal:g} met (score {verdict.score:.3f})", None, None
            else:
                r = self.brain.reflect(scene, verdict, rnd, rounds, last_improved=last_improved, tools=self.specs,
                                       last_action=last_action)
                r_action, r_failed, why, tokens, err = r.next_action, r.failed, r.reasoning, r.tokens, r.error
            step = ReflectionStep(index=self._index, round=rnd, failed=r_failed, next_action=r_action,
                                  reasoning=why, tokens=tokens, error=err, duration_s=time.perf_counter() - t0)
        yield self._emit(step)
        return step

    def _reflect_failure(self, rnd: int, why: str):
        step = self._recorded(ReflectionStep)
        if step is None:
            step = ReflectionStep(index=self._index, round=rnd, next_action="regenerate", reasoning=why, error=why)
        yield self._emit(step)
        return step

    def _learn(self, subtasks: list[Subtask], verdict: Verdict) -> None:
        """Feed the round's verdict to the routers (APU / Bayesian update) when learning is on."""
        if not self.config.perf.learn or not subtasks:
            return
        local, dims = _learning_signal(verdict)
        for sub in subtasks:
            router = self.worker.routers.get(sub.kind)
            tool = self._last_tool.get(sub.id)
            if router is None or tool is None:
                continue
            self._update_router(sub, router, {tool: local}, {"dimension_scores": dims} if sub.kind == "generate" else {})

    def _update_router(self, sub: Subtask, router: Any, outcomes: dict[str, float], evidence: dict[str, Any]) -> None:
        if self.perf_store is not None:
            self._persist(sub, router, outcomes, evidence)
        router.update(sub, outcomes, evidence)

    def _persist(self, sub: Subtask, router: Any, outcomes: dict[str, float], evidence: dict[str, Any]) -> None:
        """Write one update to the shared perf store: read-modify-write in one transaction, so concurrent
        runs lose nothing. The first run of a store seeds it with the matrix it started from."""
        name = MATRIX_NAMES[sub.kind]
        if self.perf_store.get(name) is None:
            self.perf_store.put(router.matrix, name, state=router.state_dict(), kind="seed",
                                evidence={"run_id": getattr(self._store, "run_id", None)})
        factory = router_factory(self.config.perf.updater, **self._router_options)
        self.perf_store.apply_update(factory, sub, outcomes,
                                     {**evidence, "run_id": getattr(self._store, "run_id", None), "task": sub.id},
                                     name=name)

    # -- bookkeeping --------------------------------------------------------------------------------

    def _recorded(self, kind: type) -> Any:
        """The next recorded step if resuming, checked to be of the expected type."""
        if not self._replay:
            return None
        step = self._replay[0]
        if step.index != self._index:
            raise AgentError(f"cannot resume: recorded step {step.index} where step {self._index} was expected")
        if not isinstance(step, kind):
            raise AgentError(f"cannot resume: step {step.index} of the recorded trajectory is a {step.type!r} step, "
                             f"but the loop expects a {kind.__name__}; the run was made with different settings")
        self._replay.popleft()
        return step

    def _emit(self, step: Step) -> Step:
        if step.index >= self._n_recorded:
            self._writer.submit(self._store.append_step, step)
        if isinstance(step, ToolStep) and step.result.ok:
            self._last_tool[step.subtask_id or ""] = step.call.tool
        self._index = step.index + 1
        return step

    def _truth_of(self, image_path: str | None) -> dict[str, Any] | None:
        """The saved world truth of an image of this run (sandbox), or None."""
        if image_path is None:
            return None
        if image_path in self._truths:
            return self._truths[image_path]
        rel = image_path.removesuffix(".png") + ".truth.json"
        self._writer.flush()
        if isinstance(self._store, MemoryStore):
            return self._store.truths.get(rel)
        try:
            file = self._store.path(rel)
        except (AttributeError, ValueError, RuntimeError):
            return None
        return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else None

    def _save_image(self, image: Image.Image, stem: str) -> str:
        """Queue the PNG write and return the path the store will write it to."""
        from limner.runs import RunStore

        rel = RunStore.image_rel(stem)  # MemoryStore uses the same layout
        self._writer.submit(self._store.save_image, image, stem)
        return rel

    def _load_image(self, rel: str) -> Image.Image:
        self._writer.flush()
        return self._store.load_image(rel)

    def _image(self, best: _Best) -> Image.Image:
        if best.image is None:
            best.image = self._load_image(best.path)
        return best.image


def _learning_signal(verdict: Verdict) -> tuple[float, dict[str, float]]:
    """What a router learns from a verdict: the mean local check score — the quantity the matrix cells are
    profiled on (the λ-mixed score would read every imperfect image as a much worse tool) — and the mean
    check score per performance dimension."""
    dims: dict[str, list[float]] = {}
    for c in verdict.checks:
        if c.dimension:
            dims.setdefault(c.dimension, []).append(c.score)
    local = sum(c.score for c in verdict.checks) / len(verdict.checks) if verdict.checks else verdict.score
    return local, {d: sum(v) / len(v) for d, v in dims.items()}


def _restore_router_states(routers: dict[str, Any], perf_store: Any) -> None:
    """Give each router the learner state stored with its matrix (a Bayesian router's posterior), so
    confidence carries over between runs. A state from another updater or tool set is ignored."""
    from limner.perf.matrix import MatrixError

    for kind, router in routers.items():
        state = perf_store.state(MATRIX_NAMES[kind])
        if state and hasattr(router, "load_state_dict"):
            try:
                router.load_state_dict(state)
            except (MatrixError, KeyError, ValueError, TypeError):
                pass


def _find_checker(tools: dict[str, Tool]) -> Tool:
    checkers = [t for t in tools.values() if t.kind == "check"]
    if checkers:
        return checkers[0]
    if all(t.spec.simulated for t in tools.values()):
        from limner.tools.sandbox.checker import SandboxChecker

        return SandboxChecker("sandbox-checker")
    raise AgentError("no tool of kind 'check' is configured; the agent needs one to judge its images")


ProgressFn = Callable[[Step], None]


# ----------------------------------------------------------------------------------------------------
# Entry points for the CLI: limner generate / edit / check
# ----------------------------------------------------------------------------------------------------


def _drive(steps: Any, progress: Callable[[Step], None] | None) -> FinalStep:
    final = None
    for step in steps:
        if progress is not None:
            progress(step)
        final = step
    if not isinstance(final, FinalStep):
        raise AgentError("the run ended without a final step")
    return final


def open_perf_store(config: LimnerConfig) -> Any:
    """The shared performance store the CLI's runs learn into (`config.perf_store_path`), or None when
    learning is off. Benchmarks and tests build `Agent` directly and learn in memory only."""
    if not config.perf.learn or config.perf.updater == "static":
        return None
    from limner.perf.store import PerfStore

    return PerfStore(config.perf_store_path)


def run_generate(
    prompt: str, config: LimnerConfig, store: Any, *, progress: Callable[[Step], None] | None = None,
    agent: Agent | None = None,
) -> FinalStep:
    """Generate an image for `prompt` with the multi-turn agent; steps go to `store` (a RunStore) as they
    happen and to `progress`. If `store` already holds steps (resume), they are replayed, not re-run."""
    agent = agent or Agent(config, perf_store=open_perf_store(config))
    return _drive(agent.run(prompt, stream=True, store=store), progress)


def _open_image(image_path: str | Path) -> Image.Image:
    path = Path(image_path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except OSError as e:
        raise ValueError(f"cannot read image {path}: {e}") from None


def run_edit(
    image_path: str | Path, instruction: str, config: LimnerConfig, store: Any, *,
    progress: Callable[[Step], None] | None = None, agent: Agent | None = None,
) -> FinalStep:
    """Edit the image as instructed, through the same loop: the instruction is applied by the best-ranked
    editor, the result is checked against what the instruction asks for, and failures are repaired."""
    if not instruction or not instruction.strip():
        raise ValueError("the instruction is empty; say what to change")
    image = _open_image(image_path)
    agent = agent or Agent(config, perf_store=open_perf_store(config))
    target = edit_target(instruction)
    return _drive(agent.run(target, stream=True, store=store, image=image, instruction=instruction), progress)


def check(image_path: str | Path, prompt: str, config: LimnerConfig, *, agent: Agent | None = None) -> Verdict:
    """Judge any image against a prompt: the Analyst reads the prompt, the Self-Evaluator checks the pixels.
    Needs only the brain and a checker from the config, no generator."""
    image = _open_image(image_path)
    if agent is not None:
        analyst, evaluator = agent.analyst, agent.evaluator
    else:
        from limner.tools.registry import ToolRegistry

        registry = ToolRegistry.from_config(config)
        brain = make_brain(config.brain)
        analyst = Analyst(brain, goal=config.agent.goal)
        evaluator = Evaluator(_find_checker({n: registry.get(n) for n in registry.names}), lam=config.agent.lam,
                              brain=brain)
    return evaluator(image, analyst(prompt).scene).verdict
