"""The agent loop: analyse → plan → route and call → evaluate → reflect, for a few rounds. One file.

PerfGuard's Analyst/Planner/Worker/Self-Evaluator loop with GenAgent's multi-turn reflection:

    agent = Agent(config)                       # tools from config.tools, brain from config.brain
    final = agent.run("a red apple left of a blue cup")
    for step in agent.run(prompt, stream=True): # typed steps, as they happen
        print(step.type, step.reasoning)

Every step is a typed record (`limner.types`: AnalysisStep, PlanStep, ToolStep, EvaluationStep,
ReflectionStep, FinalStep) appended to the run's `trajectory.jsonl` the moment it exists. Resuming a run
replays the recorded steps (no tool is called again) and continues where the record ends. Everything a
run changes lives in its own `_Run`, so one `Agent` can serve several runs, even interleaved streams; only
the routers, which learn, are shared.

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
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

import numpy as np
from PIL import Image

from limner.agent.analyst import Analyst
from limner.agent.evaluator import Evaluator
from limner.agent.planner import Planner
from limner.agent.preservation import (
    Targets,
    element_checks,
    in_context,
    judge,
    pixel_check,
    preserved,
    read_targets,
    untargeted_scene,
    with_preservation,
)
from limner.agent.worker import Attempt, Worker, WorkerError, default_routers
from limner.config import LimnerConfig
from limner.imaging import read_image
from limner.llm import make_brain
from limner.llm.brain import Brain, NextAction
from limner.llm.rule_brain import edit_target, edit_weights
from limner.perf import PerfStore, Router, router_factory, router_options
from limner.perf.matrix import PerformanceMatrix
from limner.perf.persistence import PerfPersistence, load_matrices, open_perf_store
from limner.retouch import Retoucher
from limner.runs import MemoryStore, RunStore, RunWriter, StepStore
from limner.tools.base import Tool
from limner.tools.registry import ToolRegistry, default_checker
from limner.tools.truth import TruthChannel
from limner.types import (
    AnalysisStep,
    Check,
    EvaluationStep,
    FinalStep,
    PlanStep,
    ReflectionStep,
    RetouchStep,
    Scene,
    Step,
    Subtask,
    ToolStep,
    Verdict,
)

__all__ = ["Agent", "AgentError", "MemoryStore", "check", "run_edit", "run_generate", "run_retouch"]

S = TypeVar("S", AnalysisStep, PlanStep, ToolStep, EvaluationStep, ReflectionStep, FinalStep, RetouchStep)


class AgentError(RuntimeError):
    """The run cannot go on (no tool could draw anything, a resumed trajectory does not fit this run)."""


# ----------------------------------------------------------------------------------------------------
# One run's state
# ----------------------------------------------------------------------------------------------------


@dataclass
class _Best:
    """The best image so far: where it is, its verdict, and the pixels once loaded."""

    path: str
    verdict: Verdict
    image: Image.Image | None = None


@dataclass
class _Outcome:
    """What a round of tool calls made: the best image after it, whether any tool produced an image, and
    whether the round improved on the best before it (None when there was nothing before)."""

    best: _Best | None
    produced: bool
    improved: bool | None = None


@dataclass
class _EditJob:
    """What an edit run keeps of the image it edits, to judge preservation: the input (as a candidate), what
    the instruction targets, the input's description if the user gave one, and the input's verdicts
    against the scenes the edits are judged on (each computed once)."""

    input: _Best
    targets: Targets | None
    source: Scene | None
    before: dict[str, Verdict] = field(default_factory=dict)  # scene prompt -> the input's verdict


@dataclass
class _Run:
    """Everything one run changes: where its steps go (store, background writer, truth channel), the
    recorded steps still to replay, the next step's index, and what the run has learned about its tools.
    The `Agent` holds none of it, so one agent can serve two runs at once."""

    store: StepStore
    writer: RunWriter
    truths: TruthChannel
    replay: deque[Step]
    n_recorded: int  # steps 0 .. n-1 are replayed, never written again
    index: int = 0
    last_tool: dict[str, str] = field(default_factory=dict)  # subtask id -> tool of its last good attempt
    ineffective: dict[str, set[str]] = field(default_factory=dict)  # instruction -> tools whose repair did not help
    edit: _EditJob | None = None  # set when the run edits a given image
    scene: Scene | None = None  # what the prompt asks for, once analysed (the objects repairs are told of)
    subtask_kinds: dict[str, str] = field(default_factory=dict)  # subtask id -> its kind, from the plans
    drawn: set[str] = field(default_factory=set)  # images drawn from scratch (not edits of another image)
    tool_s: float = 0.0  # time inside tools (painters, editors, checker)
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def open(cls, store: StepStore) -> _Run:
        replay: deque[Step] = deque(store.completed_steps())
        writer = RunWriter(store)
        return cls(store=store, writer=writer, truths=TruthChannel(store, writer), replay=replay,
                   n_recorded=len(replay))

    # -- replay and record -------------------------------------------------------------------------

    def recorded(self, kind: type[S]) -> S | None:
        """The next recorded step if resuming, checked to be of the expected type."""
        if not self.replay:
            return None
        step = self.replay[0]
        if step.index != self.index:
            raise AgentError(f"cannot resume: recorded step {step.index} where step {self.index} was expected")
        if not isinstance(step, kind):
            raise AgentError(f"cannot resume: step {step.index} of the recorded trajectory is a {step.type!r} step, "
                             f"but the loop expects a {kind.__name__}; the run was made with different settings")
        self.replay.popleft()
        return step

    def replay_or(self, kind: type[S], build: Callable[[int], S]) -> S:
        """The recorded step when resuming, else `build(index)`: a new step, made now. Recorded either way."""
        step = self.recorded(kind)
        return self.emit(step if step is not None else build(self.index))

    def recorded_attempt(self, subtask_id: str | None, only: str | None) -> ToolStep | None:
        """The next recorded tool attempt at `subtask_id` (of tool `only`, if given), or None."""
        head = self.replay[0] if self.replay else None
        if isinstance(head, ToolStep) and head.subtask_id == subtask_id and (only is None or head.call.tool == only):
            return self.recorded(ToolStep)
        return None

    def recorded_tools(self, subtask_id: str) -> list[str]:
        """Tools of the recorded attempts at `subtask_id` still to be replayed, in order."""
        tools: list[str] = []
        for step in self.replay:
            if isinstance(step, ToolStep) and step.subtask_id == subtask_id:
                tools.append(step.call.tool)
            elif not isinstance(step, EvaluationStep):
                break
        return list(dict.fromkeys(tools))

    def emit(self, step: S) -> S:
        """Record `step` (unless it is a replayed one) and move the index past it."""
        if self.is_new(step):
            self.writer.submit(self.store.append_step, step)
        if isinstance(step, ToolStep) and step.result.ok:
            self.last_tool[step.subtask_id or ""] = step.call.tool
            if self.subtask_kinds.get(step.subtask_id or "") == "generate" and step.result.image_path:
                self.drawn.add(step.result.image_path)
        if isinstance(step, PlanStep):
            self.subtask_kinds.update({sub.id: sub.kind for sub in step.subtasks})
        self.index = step.index + 1
        return step

    def is_new(self, step: Step) -> bool:
        return step.index >= self.n_recorded

    # -- images -------------------------------------------------------------------------------------

    def save_image(self, image: Image.Image, stem: str) -> str:
        """Queue the PNG write and return the path the store will write it to."""
        rel = RunStore.image_rel(stem)  # MemoryStore uses the same layout
        self.writer.submit(self.store.save_image, image, stem)
        return rel

    def load_image(self, rel: str) -> Image.Image:
        self.writer.flush()
        return self.store.load_image(rel)

    def image(self, best: _Best) -> Image.Image:
        if best.image is None:
            best.image = self.load_image(best.path)
        return best.image

    def mark_ineffective(self, sub: Subtask) -> None:
        """Reflection on the tools: the tool that just repaired `sub` without helping is not handed the
        same instruction again before every other tool of its kind."""
        if (tool := self.last_tool.get(sub.id)) is not None:
            self.ineffective.setdefault(sub.instruction, set()).add(tool)


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
        routers: dict[str, Router] | None = None,
        matrices: dict[str, PerformanceMatrix] | None = None,
        checker: Tool | None = None,
        perf_store: PerfStore | None = None,
        retoucher: Retoucher | None = None,
    ) -> None:
        """`routers` (tool kind -> perf Router) override everything; else `matrices` (kind ->
        PerformanceMatrix), else the matrices in the perf store at `config.perf_store_path`, else the tools'
        declared scores. With a `perf_store` (a `limner.perf.PerfStore`), what the routers learn is also
        written there, one transaction per update, so the next run — in this process or another — starts
        from it (PerfGuard's APU keeping the matrix true from the agent's own runs). With a `retoucher`
        (`limner.retouch`), the best image's local defects are repaired as the run's last stage."""
        self.config = config
        self.retoucher = retoucher
        self.tools = tools if tools is not None else ToolRegistry.from_config(config).by_name()
        self.brain = brain if brain is not None else make_brain(config.brain)
        producing = {n: t for n, t in self.tools.items() if t.kind in ("generate", "edit", "inpaint")}
        if not producing:
            raise AgentError("no tool that draws or edits is configured; add a painter or text-to-image tool to tools:")
        self.checker = checker or _find_checker(self.tools)
        options = router_options(
            config.perf,
            {n: t.spec.cost for n, t in producing.items()},
            {n: t.spec.family for n, t in producing.items() if t.spec.family},
        )
        self.persistence = (PerfPersistence(perf_store, router_factory(config.perf.updater, **options))
                            if perf_store is not None else None)
        if routers is None:
            routers = default_routers(
                producing, updater=config.perf.updater if config.perf.learn else "static",
                matrices=matrices if matrices is not None else load_matrices(config.perf_store_path), **options,
            )
            if self.persistence is not None:
                self.persistence.restore(routers)
        self.worker = Worker(producing, routers, timeout_s=config.agent.tool_timeout_s,
                             max_fallbacks=config.agent.max_fallbacks)
        self.specs = [t.spec for t in producing.values()]
        self.analyst = Analyst(self.brain, goal=config.agent.goal)
        self.planner = Planner(self.brain, self.specs)
        self.evaluator = Evaluator(self.checker, lam=config.agent.lam, brain=self.brain)
        self.tool_time_s = 0.0  # time inside tools (painters, editors, checker) during the last run to end
        self.store_wait_s = 0.0  # time the last run to end waited for the run store's writes

    # -- public ----------------------------------------------------------------------------------

    @overload
    def run(self, prompt: str, *, stream: Literal[False] = False, store: StepStore | None = None,
            rounds: int | None = None, image: Image.Image | None = None,
            instruction: str | None = None, source: str | None = None) -> FinalStep: ...

    @overload
    def run(self, prompt: str, *, stream: Literal[True], store: StepStore | None = None, rounds: int | None = None,
            image: Image.Image | None = None, instruction: str | None = None,
            source: str | None = None) -> Iterator[Step]: ...

    def run(self, prompt: str, *, stream: bool = False, store: StepStore | None = None, rounds: int | None = None,
            image: Image.Image | None = None, instruction: str | None = None,
            source: str | None = None) -> FinalStep | Iterator[Step]:
        """Generate for `prompt`, or, with `image` and `instruction`, edit the image (then `prompt` describes
        what the edited image must show, and `source`, if given, what the image shows before: its elements
        the instruction does not name must still pass their checks after the edit). With `stream=True`, an
        iterator of steps; otherwise the `FinalStep`. `store` is a `RunStore` (default: in memory). The image an
        `EvaluationStep` or the `FinalStep` names is in the store when the step is yielded."""
        if (image is None) != (instruction is None):
            raise ValueError("editing needs both `image` and `instruction`")
        if source is not None and image is None:
            raise ValueError("`source` describes an image to edit; give `image` and `instruction` too")
        draws = image is None or self.config.agent.allow_redraw  # an edit needs a painter only to redraw
        if draws and not any(t.kind == "generate" for t in self.tools.values()):
            raise AgentError("no tool of kind 'generate' is configured; add a painter or text-to-image tool to tools:")
        if image is not None and not any(t.kind in ("edit", "inpaint") for t in self.tools.values()):
            raise AgentError("no tool of kind 'edit' or 'inpaint' is configured; editing needs one")
        steps = self._steps(prompt, store if store is not None else MemoryStore(), rounds or self.config.agent.rounds,
                            image, instruction, source)
        if stream:
            return steps
        final = None
        for final in steps:
            pass
        return final  # type: ignore[return-value]  # the last step of a run that ends is its FinalStep

    # -- the loop ---------------------------------------------------------------------------------

    def _steps(self, prompt: str, store: StepStore, rounds: int, input_image: Image.Image | None,
               instruction: str | None, source: str | None = None) -> Generator[Step, None, None]:
        if not prompt or not prompt.strip():
            raise ValueError("the prompt is empty; say what the image should show")
        run = _Run.open(store)
        try:
            yield from self._loop(run, prompt, rounds, input_image, instruction, source)
        finally:
            run.writer.close()  # everything recorded so far is on disk, however the run ends
            self.tool_time_s, self.store_wait_s = run.tool_s, run.writer.waited_s

    def _loop(self, run: _Run, prompt: str, rounds: int, input_image: Image.Image | None,
              instruction: str | None, source: str | None = None) -> Generator[Step, None, None]:
        # 1. Analyse: the prompt becomes a Scene (what must be in the image) and a goal.
        analysis = run.replay_or(AnalysisStep, functools.partial(self._analysis, prompt))
        yield analysis
        scene, goal = analysis.scene, analysis.goal
        run.scene = scene

        # Editing: the given image, edited as instructed, is the first candidate.
        best = self._input_candidate(run, input_image) if input_image is not None else None
        if best is not None and instruction is not None:
            run.edit = self._edit_job(best, instruction, source)
        action: NextAction = "regenerate" if best is None else "repair"
        last_round = 0
        for rnd in range(rounds):
            if action == "stop":
                break
            last_round = rnd
            # 2. Plan: a generation, or one targeted repair per failed check of the best image.
            # no edit kept yet, and no redraw asked for: the instruction again
            again = run.edit is not None and best is run.edit.input and action == "repair"
            plan = run.replay_or(PlanStep, functools.partial(self._plan, scene, best, action, rnd, instruction, again))
            yield plan
            if not plan.subtasks and action == "repair":
                # nothing an edit can fix: draw again next round (when editing, only if a redraw is allowed)
                action = "regenerate" if self._gate(run, "regenerate") == "regenerate" else "stop"
                continue

            # 3–4. Route, call and evaluate (λ·global + (1−λ)·mean(local checks)), keeping the best image.
            outcome = yield from self._round(run, plan, action, rnd, scene, best)
            best = outcome.best
            if best is None or not outcome.produced:
                action = self._gate(run, "regenerate")
                yield from self._reflect_failure(run, rnd, "no tool produced a new image this round", action)
                continue

            # 5. Reflect: stop, repair what failed, or draw again.
            reflection = yield from self._reflect(run, scene, goal, best.verdict, rnd, rounds, outcome.improved,
                                                  action)
            action = reflection.next_action

        if best is None:
            raise AgentError("no tool produced an image; see the failed tool steps in the trajectory")
        final, note = self._edit_final(run, best)
        if self.retoucher is not None:  # the retouch stage is one more round; the final step closes it
            last_round += 1
            final = yield from self._retouch(run, final, scene, last_round)
        yield from self._finish(run, final, last_round, note)

    # -- the retouch stage (limner.retouch): local defects of the final image ------------------------

    def retouch(self, image: Image.Image, prompt: str, *, store: StepStore | None = None) -> Iterator[Step]:
        """Only the retouch stage, on a given image: analyse the prompt, judge the image, retouch, finish."""
        if self.retoucher is None:
            raise AgentError("no retoucher is configured")
        return self._retouch_run(prompt, image, store if store is not None else MemoryStore())

    def _retouch_run(self, prompt: str, image: Image.Image, store: StepStore) -> Generator[Step, None, None]:
        run = _Run.open(store)
        try:
            analysis = run.replay_or(AnalysisStep, functools.partial(self._analysis, prompt))
            yield analysis
            path = run.save_image(image, "input")
            step = run.replay_or(EvaluationStep, functools.partial(self._judge, run, path, image, analysis.scene, 0, []))
            yield step
            best = yield from self._retouch(run, _Best(path=path, verdict=step.verdict, image=image), analysis.scene, 1)
            yield from self._finish(run, best, 1)
        finally:
            run.writer.close()
            self.tool_time_s, self.store_wait_s = run.tool_s, run.writer.waited_s

    def _retouch(self, run: _Run, best: _Best, scene: Scene, rnd: int) -> Generator[Step, None, _Best]:
        """Repair the best image's local defects (perceive → reason → act, ≤ 3 rounds); keep the result only
        when the prompt's verdict does not drop and the pixels outside the repaired regions stay put.
        Resuming replays a recorded stage; a stage cut short is run again after what was recorded."""
        assert self.retoucher is not None
        replayed = []
        while run.replay and isinstance(run.replay[0], (RetouchStep, EvaluationStep)):
            replayed.append(run.emit(run.recorded(type(run.replay[0]))))
            yield replayed[-1]
        keep = [s for s in replayed if isinstance(s, RetouchStep) and s.stage == "keep"]
        if keep:
            evals = [s for s in replayed if isinstance(s, EvaluationStep)]
            return _Best(path=keep[-1].image_path, verdict=evals[-1].verdict) if keep[-1].kept and evals else best
        image = run.image(best)
        def judge(candidate: Image.Image) -> float:  # each repair is judged on the prompt, not only re-perceived
            ev = self.evaluator(candidate, scene)
            run.tool_s += ev.tool_s
            return ev.verdict.score

        steps = self.retoucher.run(image, scene.prompt, save=run.save_image, first_index=run.index, round_offset=rnd,
                                   run_id=run.store.run_id, judge=judge)
        outcome = yield from _relay(run, steps)
        t0 = time.perf_counter()
        if not outcome.changed:
            why = "no defect found" if not outcome.defects else "no repair was verified"
            yield run.emit(RetouchStep(index=run.index, round=rnd, stage="keep", kept=False, reasoning=why))
            return best
        path = run.save_image(outcome.image, "retouched")
        step = run.replay_or(EvaluationStep, functools.partial(self._judge, run, path, outcome.image, scene, rnd, []))
        yield step
        moved = pixel_check(image, outcome.image, outcome.repaired_boxes)
        verdict = with_preservation(step.verdict, element_checks(best.verdict, step.verdict) + ([moved] if moved else []))
        kept = verdict.score >= best.verdict.score and preserved(verdict)
        yield run.emit(RetouchStep(
            index=run.index, round=rnd, stage="keep", kept=kept, image_path=path if kept else best.path,
            duration_s=time.perf_counter() - t0,
            reasoning=(f"retouched: defect score {outcome.input_score:.2f} → {outcome.score:.2f}; verdict "
                       f"{best.verdict.score:.3f} → {verdict.score:.3f}; " + ("kept" if kept else "not kept: the "
                       "verdict dropped or pixels outside the repaired regions moved; the image before is kept"))))
        return _Best(path=path, verdict=verdict, image=outcome.image) if kept else best

    # -- 1, 2: analyse and plan ---------------------------------------------------------------------

    def _analysis(self, prompt: str, index: int) -> AnalysisStep:
        t0 = time.perf_counter()
        a = self.analyst(prompt)
        return AnalysisStep(index=index, scene=a.scene, goal=a.goal, reasoning=a.reasoning, tokens=a.tokens,
                            error=a.error, duration_s=time.perf_counter() - t0)

    def _input_candidate(self, run: _Run, image: Image.Image) -> _Best:
        """The image to edit, as the best so far: saved with the run, and judged as failing everything."""
        unjudged = Check(target="scene", kind="global", passed=False, score=0.0,
                         evidence="the input image, before the instruction was applied (not judged)")
        return _Best(path=run.save_image(image, "input"), image=image,
                     verdict=Verdict(score=0.0, global_score=0.0, checks=[unjudged]))

    def _plan(self, scene: Scene, best: _Best | None, action: NextAction, rnd: int, instruction: str | None,
              again: bool, index: int) -> PlanStep:
        """Round 0 of an edit (and any later round while no edit has been kept) applies the instruction;
        otherwise the planner repairs what failed or draws afresh."""
        if instruction is not None and (rnd == 0 or again):
            sub = Subtask(id=f"r{rnd}-edit", kind="edit", instruction=instruction, weights=edit_weights(instruction))
            why = f"apply the instruction: {instruction}" + ("" if rnd == 0 else " (again: no edit was kept)")
            return PlanStep(index=index, round=rnd, subtasks=[sub], reasoning=why)
        t0 = time.perf_counter()
        p = self.planner(scene, best.verdict if best else None, action, rnd)
        return PlanStep(index=index, round=rnd, subtasks=p.subtasks, reasoning=p.reasoning, tokens=p.tokens,
                        error=p.error, duration_s=time.perf_counter() - t0)

    # -- editing a given image: preservation, the redraw gate, the final -----------------------------

    def _edit_job(self, candidate: _Best, instruction: str, source: str | None) -> _EditJob:
        """The preservation context of an edit run: the input candidate, what the instruction targets, and
        the input's description read as a scene (when the user gave one)."""
        return _EditJob(input=candidate, targets=read_targets(instruction),
                        source=self.analyst(source).scene if source else None)

    def _before(self, run: _Run, job: _EditJob, scene: Scene) -> Verdict:
        """The input image judged against `scene` (once per scene: every edit of the run is compared with it)."""
        if scene.prompt not in job.before:
            ev = self.evaluator(run.image(job.input), in_context(scene, job.source))
            run.tool_s += ev.tool_s
            job.before[scene.prompt] = ev.verdict
        return job.before[scene.prompt]

    def _preservation(self, run: _Run, job: _EditJob, image: Image.Image, scene: Scene,
                      verdict: Verdict) -> tuple[Verdict, str]:
        """`verdict` (the edit judged on the instruction) with its preservation checks, and a note of what
        was not judged: the untargeted elements of the input's description still pass, and the pixels
        outside the target region stay close (`limner.agent.preservation`)."""
        if job.targets is None:
            return verdict, "; preservation not judged: the instruction names no object the reader knows"
        kept_scene = untargeted_scene(job.source, job.targets) if job.source is not None else None
        kept = None
        if kept_scene is not None:
            kept_scene = in_context(kept_scene, scene)  # the instruction's objects are there too
            ev = self.evaluator(image, in_context(kept_scene, job.source))
            run.tool_s += ev.tool_s
            kept = (self._before(run, job, kept_scene), ev.verdict)
        why_not = "the input image was not described" if job.source is None else "every element is targeted"
        found = judge(run.image(job.input), image, job.targets, scene, (self._before(run, job, scene), verdict),
                      kept, why_no_kept=why_not)
        note = f"; preservation not judged: {', '.join(found.skipped)}" if found.skipped else ""
        return with_preservation(verdict, found.checks), note

    def _gate(self, run: _Run, action: NextAction) -> NextAction:
        """A redraw while editing would replace the user's image with a new picture drawn from the
        instruction alone: unless `agent.allow_redraw`, the edit is tried again instead."""
        if action == "regenerate" and run.edit is not None and not self.config.agent.allow_redraw:
            return "repair"
        return action

    def _gated_reflection(self, run: _Run, scene: Scene, goal: float, verdict: Verdict, rnd: int, rounds: int,
                          last_improved: bool | None, last_action: NextAction, index: int) -> ReflectionStep:
        step = self._reflection(scene, goal, verdict, rnd, rounds, last_improved, last_action, index)
        gated = self._gate(run, step.next_action)
        if gated == step.next_action:
            return step
        return step.model_copy(update={"next_action": gated, "reasoning": step.reasoning + _redraw_note(gated)})

    def _edit_final(self, run: _Run, best: _Best) -> tuple[_Best, str]:
        """What an edit run returns: the best edit only when it passes (the instruction and preservation);
        otherwise the user's image, unchanged, and why. A generation returns its best image."""
        job = run.edit
        if job is None or best is job.input:
            return best, ("" if job is None else
                          "no edit was kept: every attempt failed or damaged what it was not asked to change; "
                          "the input image is returned unchanged")
        if best.verdict.passed:
            drawn = " — a new picture drawn from the instruction (allow_redraw), not an edit" if best.path in run.drawn else ""
            return best, f"edited image {best.path} (score {best.verdict.score:.3f}, all checks pass){drawn}"
        failed = ", ".join(f"{c.target} {c.kind}" for c in best.verdict.failed)
        return job.input, (f"no edit passed; the input image is returned unchanged (best attempt {best.path}, "
                           f"score {best.verdict.score:.3f}, failed: {failed})")

    # -- 3–4: one round of tool calls and evaluations ---------------------------------------------

    def _round(self, run: _Run, plan: PlanStep, action: NextAction, rnd: int, scene: Scene,
               best: _Best | None) -> Generator[Step, None, _Outcome]:
        """Carry out the round's plan in one of three ways and say what it made."""
        if action == "repair" and best is not None and self.config.agent.verify_repairs:
            # Each repair is checked before the next one builds on it: one that does not raise the score is
            # undone and handed to the next-ranked tool.
            return (yield from self._verified_repairs(run, plan.subtasks, rnd, scene, best))
        if self._explores(plan.subtasks):
            # Exploration: several tools draw the scene, every image is judged, the best is kept and the
            # router learns from the comparison (PerfGuard's APU runs top-m + n tools the same way).
            return (yield from self._explore(run, plan.subtasks[0], rnd, scene, best))
        return (yield from self._chain(run, plan.subtasks, action, rnd, scene, best))

    def _verified_repairs(self, run: _Run, subtasks: list[Subtask], rnd: int, scene: Scene,
                          best: _Best) -> Generator[Step, None, _Outcome]:
        previous = best.verdict.score
        current, produced = best, False
        for k, sub in enumerate(subtasks):
            current, best, made = yield from self._repair(run, sub, rnd, k, current, best, scene)
            produced = produced or made
        return _Outcome(best, produced, best.verdict.score > previous)

    def _repair(self, run: _Run, sub: Subtask, rnd: int, k: int, current: _Best, best: _Best,
                scene: Scene) -> Generator[Step, None, tuple[_Best, _Best, bool]]:
        """One repair subtask on `current`, verified: the edited image is evaluated at once and kept only if
        it scores higher and damaged nothing it was not asked to change (preservation, when editing a given
        image); otherwise it is undone, the tool is marked as not helping with this instruction, and the
        next-ranked tool gets a try (`agent.repair_retries` times). Returns (image the next repair builds on,
        best image so far, whether any tool produced an image)."""
        produced = False
        for attempt in range(1 + self.config.agent.repair_retries):
            image, path = yield from self._work(run, sub, rnd, k, run.image(current), current.path, retry=attempt)
            if image is None or path is None:
                break
            produced = True
            best, verdict = yield from self._evaluate(run, path, image, scene, rnd, best, [sub])
            if verdict.score > current.verdict.score and preserved(verdict):
                return _Best(path=path, verdict=verdict, image=image), best, produced
            run.mark_ineffective(sub)
        return current, best, produced

    def _explores(self, subtasks: list[Subtask]) -> bool:
        return (self.config.perf.explore and len(subtasks) == 1 and subtasks[0].kind == "generate"
                and "generate" in self.worker.routers)

    def _explore(self, run: _Run, sub: Subtask, rnd: int, scene: Scene,
                 best: _Best | None) -> Generator[Step, None, _Outcome]:
        """Run the router's exploration set for a generation (`choose_explore`: the best-ranked tool first,
        then the ones worth learning about), judge every image, keep the best, and update the router once
        with all the outcomes.

        On resume the tools already recorded for this subtask are taken from the trajectory (the router's
        state may differ from the interrupted run's); only the rest of the set is run."""
        previous = best.verdict.score if best else None
        router = self.worker.routers["generate"]
        recorded = run.recorded_tools(sub.id)
        rng = np.random.default_rng([self.config.seed, rnd, 7919])
        names = self.worker.candidates("generate")
        chosen = router.choose_explore(self.worker.routable(sub, router), names, rng) if names else []
        order = recorded + [t for t in chosen if t not in recorded]
        outcomes: dict[str, float] = {}
        dimension_scores: dict[str, dict[str, float]] = {}
        fresh = False
        for j, tool in enumerate(order):
            image, path = yield from self._work(run, sub, rnd, j, None, None, only=tool)
            if image is None or path is None:
                continue
            fresh = fresh or not run.replay  # this image's evaluation is computed now, not replayed
            best, verdict = yield from self._evaluate(run, path, image, scene, rnd, best, [])
            outcomes[tool], dimension_scores[tool] = _learning_signal(verdict)
        if fresh and outcomes and self.config.perf.learn:
            self._update_router(run, sub, router, outcomes, {"dimension_scores": dimension_scores})
        if best is None or not outcomes:
            return _Outcome(best, produced=False)
        return _Outcome(best, True, None if previous is None else best.verdict.score > previous)

    def _chain(self, run: _Run, subtasks: list[Subtask], action: NextAction, rnd: int, scene: Scene,
               best: _Best | None) -> Generator[Step, None, _Outcome]:
        """The subtasks in turn, each on the image the last one made (a generation starts afresh), then one
        evaluation of the result."""
        previous = best.verdict.score if best else None
        image: Image.Image | None = None
        path: str | None = None
        if action == "repair" and best is not None:
            image, path = run.image(best), best.path
        for k, sub in enumerate(subtasks):
            source = image if sub.kind != "generate" else None
            result_image, result_path = yield from self._work(run, sub, rnd, k, source, path if source else None)
            if result_image is not None:
                image, path = result_image, result_path
        if image is None or path is None or (action == "repair" and best is not None and path == best.path):
            return _Outcome(best, produced=False)
        best, _ = yield from self._evaluate(run, path, image, scene, rnd, best, subtasks)
        improved = None if previous is None else best.path == path and best.verdict.score > previous
        if action == "repair" and improved is False:
            for sub in subtasks:  # a repair that did not help is not handed to the same tool again
                run.mark_ineffective(sub)
        return _Outcome(best, True, improved)

    # -- 3. route and call --------------------------------------------------------------------------

    def _work(self, run: _Run, sub: Subtask, rnd: int, k: int, image: Image.Image | None, path: str | None,
              retry: int = 0, only: str | None = None
              ) -> Generator[Step, None, tuple[Image.Image | None, str | None]]:
        """Run one subtask (with fallback); yields ToolSteps; returns (image, path) of the success or (None, None).
        `retry` > 0 is a retry of a repair that did not help: another seed, its own image names. `only`: call
        just that tool, no fallback (exploration)."""
        tried: set[str] = set()
        # Replayed attempts first (resume): no tool is called again.
        while (step := run.recorded_attempt(sub.id, only)) is not None:
            yield run.emit(step)
            tried.add(step.call.tool)
            if step.result.ok and step.result.image_path:
                return run.load_image(step.result.image_path), step.result.image_path
            if only is not None:
                return None, None
        try:  # the worker spends what is left of the fallback budget after the replayed attempts
            attempts = self.worker.attempts(
                sub, prompt=sub.instruction, seed=self.config.seed + 1009 * rnd + k + 101 * retry,
                width=self.config.width, height=self.config.height, image=image, input_path=path, skip=tried,
                avoid=run.ineffective.get(sub.instruction), only=only,
                # The truth of the input rides along (sandbox only); tools never decide from it.
                params=_edit_params(run, path) if image is not None else None,
            )
            for attempt in attempts:
                yield run.emit(self._tool_step(run, sub, rnd, k, retry, attempt))
                if attempt.result.ok:
                    return attempt.result.image, attempt.result.image_path
        except WorkerError as e:
            yield from self._reflect_failure(run, rnd, str(e), self._gate(run, "regenerate"))
        return None, None

    def _tool_step(self, run: _Run, sub: Subtask, rnd: int, k: int, retry: int, attempt: Attempt) -> ToolStep:
        """The step of one attempt; a new image (and its truth) is queued for saving first."""
        result = attempt.result
        run.tool_s += result.duration_s
        if result.ok:
            stem = f"r{rnd}-{k}-{attempt.call.tool}" + (f"-retry{retry}" if retry else "")
            result.image_path = run.save_image(result.image, stem)
            run.truths.keep(result, stem)
        ineffective = sorted(run.ineffective.get(sub.instruction, ()))
        why = (f"{sub.kind} '{sub.instruction}' with {attempt.call.tool} "
               f"(rank {[n for n, _ in attempt.ranking].index(attempt.call.tool) + 1} of {len(attempt.ranking)}"
               + (f"; {', '.join(ineffective)} did not help with this before" if ineffective else "") + ")")
        return ToolStep(index=run.index, round=rnd, subtask_id=sub.id, ranking=attempt.ranking,
                        call=attempt.call.model_copy(update={"params": TruthChannel.public(attempt.call.params)}),
                        result=result, duration_s=result.duration_s,
                        reasoning=why if result.ok else f"{why} failed: {result.error}; trying the next-ranked tool",
                        error=None if result.ok else result.error)

    # -- 4. evaluate --------------------------------------------------------------------------------

    def _evaluate(self, run: _Run, path: str, image: Image.Image, scene: Scene, rnd: int, best: _Best | None,
                  subtasks: list[Subtask]) -> Generator[Step, None, tuple[_Best, Verdict]]:
        """Judge the image at `path`; returns (best image so far, its verdict). The routers learn from a
        verdict made now (not a replayed one) about the tools of `subtasks`. An edit that damaged what it was
        not asked to change never becomes the best image."""
        step = run.replay_or(EvaluationStep, functools.partial(self._judge, run, path, image, scene, rnd, subtasks))
        # A streaming reader (the web UI) shows the judged image as soon as it sees this step: it must be on
        # disk by then. The checker ran long after the PNG was queued, so this rarely waits.
        run.writer.flush()
        yield step
        if best is None or (step.verdict.score > best.verdict.score and preserved(step.verdict)):
            return _Best(path=path, verdict=step.verdict, image=image), step.verdict
        return best, step.verdict

    def _judge(self, run: _Run, path: str, image: Image.Image, scene: Scene, rnd: int, subtasks: list[Subtask],
               index: int) -> EvaluationStep:
        # An edit is judged with the input's other objects as context (`preservation.in_context`).
        ev = self.evaluator(image, in_context(scene, run.edit.source) if run.edit is not None else scene)
        run.tool_s += ev.tool_s
        verdict, kept_note = ev.verdict, ""
        if run.edit is not None and subtasks and all(s.kind != "generate" for s in subtasks):
            verdict, kept_note = self._preservation(run, run.edit, image, scene, verdict)
        failed = [f"{c.target} {c.kind}: {c.evidence}" for c in verdict.failed]
        step = EvaluationStep(index=index, round=rnd, image_path=path, verdict=verdict, duration_s=ev.tool_s,
                              tokens=ev.tokens, error=ev.error,
                              reasoning=(f"score {verdict.score:.3f}; "
                                         + ("all checks pass" if not failed else "failed: " + "; ".join(failed))
                                         + (f"; {ev.note}" if ev.note else "") + kept_note))
        self._learn(run, subtasks, verdict)
        return step

    def _learn(self, run: _Run, subtasks: list[Subtask], verdict: Verdict) -> None:
        """Feed the round's verdict to the routers (APU / Bayesian update) when learning is on."""
        if not self.config.perf.learn or not subtasks:
            return
        local, dims = _learning_signal(verdict)
        for sub in subtasks:
            router = self.worker.routers.get(sub.kind)
            tool = run.last_tool.get(sub.id)
            if router is None or tool is None:
                continue
            self._update_router(run, sub, router, {tool: local}, {"dimension_scores": dims} if sub.kind == "generate" else {})

    def _update_router(self, run: _Run, sub: Subtask, router: Router, outcomes: dict[str, float],
                       evidence: dict[str, Any]) -> None:
        if self.persistence is not None:  # the shared store first: its first update seeds it with the prior
            self.persistence.record(router, sub, outcomes, evidence, run_id=run.store.run_id)
        router.update(sub, outcomes, evidence)

    # -- 5. reflect, and finish ---------------------------------------------------------------------

    def _reflect(self, run: _Run, scene: Scene, goal: float, verdict: Verdict, rnd: int, rounds: int,
                 last_improved: bool | None, last_action: NextAction) -> Generator[Step, None, ReflectionStep]:
        step = run.replay_or(ReflectionStep, functools.partial(
            self._gated_reflection, run, scene, goal, verdict, rnd, rounds, last_improved, last_action))
        yield step
        return step

    def _reflection(self, scene: Scene, goal: float, verdict: Verdict, rnd: int, rounds: int,
                    last_improved: bool | None, last_action: NextAction, index: int) -> ReflectionStep:
        t0 = time.perf_counter()
        if verdict.checks_passed and verdict.score >= goal - 1e-9:  # unsupported parts: no tool can help
            return ReflectionStep(index=index, round=rnd, failed=[], next_action="stop",
                                  reasoning=f"goal {goal:g} met (score {verdict.score:.3f})",
                                  duration_s=time.perf_counter() - t0)
        r = self.brain.reflect(scene, verdict, rnd, rounds, last_improved=last_improved, tools=self.specs,
                               last_action=last_action)
        return ReflectionStep(index=index, round=rnd, failed=r.failed, next_action=r.next_action,
                              reasoning=r.reasoning, tokens=r.tokens, error=r.error,
                              duration_s=time.perf_counter() - t0)

    def _reflect_failure(self, run: _Run, rnd: int, why: str,
                         next_action: NextAction = "regenerate") -> Generator[Step, None, ReflectionStep]:
        step = run.replay_or(ReflectionStep, lambda i: ReflectionStep(
            index=i, round=rnd, next_action=next_action, reasoning=why + _redraw_note(next_action), error=why))
        yield step
        return step

    def _finish(self, run: _Run, best: _Best, last_round: int, note: str = "") -> Generator[Step, None, None]:
        """The final step names the best image (`note`: why it is the one, when editing); a new one also
        finishes the store (final.png, timings), durably, before it is yielded."""
        final = run.replay_or(FinalStep, lambda i: FinalStep(
            index=i, round=last_round, image_path=best.path, score=best.verdict.score, passed=best.verdict.passed,
            reasoning=note or f"best image {best.path} (score {best.verdict.score:.3f}, "
                      f"{'all checks pass' if best.verdict.passed else f'{len(best.verdict.failed)} checks fail'})"))
        if run.is_new(final):
            wall = time.perf_counter() - run.started
            timings = {"wall_s": round(wall, 3), "tool_s": round(run.tool_s, 3),
                       "orchestration_s": round(wall - run.tool_s, 3)}
            run.writer.submit(functools.partial(run.store.finish, best.path, status="done", score=final.score,
                                                passed=final.passed, timings=timings))
            run.writer.flush()
        yield final


def _edit_params(run: _Run, path: str | None) -> dict[str, Any] | None:
    """A tool call's parameters on an image: its truth (private, sandbox only) and the objects it holds as
    `context` ({"cls", "shape"} each), as the checker is told them: when generating, those the prompt asks
    for; when editing, those of the image the user described (`source`), and none without a description (the
    prompt then says what the edit must make, not what the input holds). An editor that perceives only what
    it is told to look for then sees the objects touching the one it edits: told only of the cat, a cat
    sitting on a table matched weakly (the table's strokes in its template's margin) and "make the cat
    black" found no cat. Tools that take no such parameter drop it."""
    params = dict(run.truths.params_for(path) or {})
    source = run.scene if run.edit is None else run.edit.source
    if source is not None:
        known = {(e.cls, e.shape): None for e in source.elements if not e.negated}
        params["context"] = [{"cls": c, "shape": sh} for c, sh in known]
    return params or None


def _redraw_note(action: NextAction) -> str:
    """What a reflection says when editing turned a redraw into another try at the edit."""
    return ("" if action != "repair" else
            "; editing: not redrawing, which would replace the image being edited (allow it with --allow-redraw / "
            "agent.allow_redraw); the edit is tried again")


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


def _relay(run: _Run, steps: Generator[RetouchStep, None, Any]) -> Generator[Step, None, Any]:
    """Record and pass on each step of the retoucher; return what it returns."""
    while True:
        try:
            step = next(steps)
        except StopIteration as stop:
            return stop.value
        yield run.emit(step)


def _find_checker(tools: dict[str, Tool]) -> Tool:
    """The configured checker, or the tools layer's default (`default_checker`); the agent needs one."""
    checker = default_checker(tools)
    if checker is None:
        raise AgentError("no tool of kind 'check' is configured; the agent needs one to judge its images")
    return checker


# ----------------------------------------------------------------------------------------------------
# Entry points for the CLI: limner generate / edit / check
# ----------------------------------------------------------------------------------------------------


def _drive(steps: Iterator[Step], progress: Callable[[Step], None] | None) -> FinalStep:
    final = None
    for step in steps:
        if progress is not None:
            progress(step)
        final = step
    if not isinstance(final, FinalStep):
        raise AgentError("the run ended without a final step")
    return final


def run_generate(
    prompt: str, config: LimnerConfig, store: StepStore, *, progress: Callable[[Step], None] | None = None,
    agent: Agent | None = None,
) -> FinalStep:
    """Generate an image for `prompt` with the multi-turn agent; steps go to `store` (a RunStore) as they
    happen and to `progress`. If `store` already holds steps (resume), they are replayed, not re-run."""
    agent = agent or Agent(config, perf_store=open_perf_store(config))
    return _drive(agent.run(prompt, stream=True, store=store), progress)


def _open_image(image_path: str | Path) -> Image.Image:
    """The image at its working size (`imaging.read_image`: a huge one is refused or downscaled)."""
    return read_image(image_path)


def run_edit(
    image_path: str | Path, instruction: str, config: LimnerConfig, store: StepStore, *,
    progress: Callable[[Step], None] | None = None, agent: Agent | None = None, source: str | None = None,
) -> FinalStep:
    """Edit the image as instructed, through the same loop: the instruction is applied by the best-ranked
    editor, the result is checked against what the instruction asks for and against what it must keep
    (`source`: what the image shows before, e.g. the prompt it was made from), and failures are repaired.
    The final is the user's image, unchanged, when no edit passes (unless `agent.allow_redraw`)."""
    if not instruction or not instruction.strip():
        raise ValueError("the instruction is empty; say what to change")
    image = _open_image(image_path)
    agent = agent or Agent(config, perf_store=open_perf_store(config))
    target = edit_target(instruction)
    return _drive(agent.run(target, stream=True, store=store, image=image, instruction=instruction,
                            source=source or None), progress)


def run_retouch(image_path: str | Path, prompt: str, agent: Agent, store: StepStore, *,
                progress: Callable[[Step], None] | None = None) -> FinalStep:
    """Retouch the image's local defects (`limner retouch`): the prompt says what the image should show."""
    return _drive(agent.retouch(_open_image(image_path), prompt, store=store), progress)


def check(image_path: str | Path, prompt: str, config: LimnerConfig, *, agent: Agent | None = None) -> Verdict:
    """Judge any image against a prompt: the Analyst reads the prompt, the Self-Evaluator checks the pixels.
    Needs only the brain and a checker from the config, no generator."""
    image = _open_image(image_path)
    if agent is not None:
        analyst, evaluator = agent.analyst, agent.evaluator
    else:
        brain = make_brain(config.brain)
        analyst = Analyst(brain, goal=config.agent.goal)
        evaluator = Evaluator(_find_checker(ToolRegistry.from_config(config).by_name()), lam=config.agent.lam,
                              brain=brain)
    return evaluator(image, analyst(prompt).scene).verdict
