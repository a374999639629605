"""Trajectory SFT data: limner's own sandbox runs turned into chat examples a language model learns from.

GenAgent's first training stage is supervised fine-tuning on successful multi-turn trajectories; limner's
runs already record every step (`trajectory.jsonl`), so the data is a reading of those records:

- **analyst** — one turn: the brain's system message and user text for a prompt (`limner.llm.prompts`,
  exactly what `LLMBrain` sends in json mode) → the scene read in a run that passed, as compact JSON;
- **reflection** — what a checked image shows (the checker's observations, with what was expected cut
  out) → ``right`` or ``wrong because <check>: <evidence>; ...``: the judgment GenAgent's reflection makes,
  in both the right and the wrong case, labelled by the evaluator's verdict;
- **episodes** — the whole run as one conversation with tool calls (reading, plan as ``tool_calls`` to the
  tool kinds, the tool's answer as a ``tool`` message with the verdict, the judgment, the next action), in
  the format TRL's SFTTrainer and tool-aware chat templates take (``messages`` + ``tools``).

Every example parses back into limner's types (`parse_example`); `build_sft` refuses to write one that
does not. Runs are collected by `collect_runs` (resumable: a finished run directory is kept, not redone).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel

from limner.agent import Agent
from limner.config import LimnerConfig
from limner.files import atomic_write_text
from limner.llm.episode import AGENT_SYSTEM, observations, say_judgment
from limner.llm.prompts import (
    ANALYSE,
    ANALYSE_COMPACT,
    PlanAnswer,
    SceneAnswer,
    analyse_user,
    answer_json,
    chat,
    json_hint,
    scene_answer,
)
from limner.runs import RunError, RunStore
from limner.types import (
    AnalysisStep,
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

__all__ = [
    "AGENT_SYSTEM",
    "JUDGE_SYSTEM",
    "Judgment",
    "Run",
    "SFTReport",
    "analyst_example",
    "build_sft",
    "collect_runs",
    "episode_example",
    "geneval_split",
    "load_runs",
    "observations",
    "parse_example",
    "parse_judgment",
    "reflection_examples",
    "say_judgment",
    "tool_schemas",
]

Subset = Literal["analyst", "reflection", "episodes"]
SUBSETS: tuple[Subset, ...] = ("analyst", "reflection", "episodes")

JUDGE_SYSTEM = ("You check an image-generation result. Given the prompt and what a detector found in the image, "
                "answer 'right' when the image shows the prompt, else 'wrong because' and the parts that are wrong, "
                "each as '<target> <check>: <what was found>', separated by '; '.")
@dataclass(frozen=True)
class Run:
    """One finished run read back from its directory."""

    run_id: str
    prompt: str
    steps: list[Step]

    @property
    def final(self) -> FinalStep | None:
        return next((s for s in reversed(self.steps) if isinstance(s, FinalStep)), None)

    @property
    def passed(self) -> bool:
        return bool(self.final and self.final.passed)

    @property
    def analysis(self) -> AnalysisStep | None:
        return next((s for s in self.steps if isinstance(s, AnalysisStep)), None)


class Judgment(BaseModel):
    """A reflection's judgment of one image: right, or wrong with the parts that are wrong."""

    right: bool
    because: list[str] = []


# ----------------------------------------------------------------------------------------------------
# Collecting runs
# ----------------------------------------------------------------------------------------------------


def collect_runs(prompts: list[str], root: Path, config: LimnerConfig, *, agent: Agent | None = None,
                 rounds: int = 3, progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Run the agent on each prompt under `root/p0000`, ...; a run already finished there is kept (resume)."""
    agent = agent or Agent(config)
    root.mkdir(parents=True, exist_ok=True)
    dirs: list[Path] = []
    for i, prompt in enumerate(prompts):
        run_id = f"p{i:05d}"
        path = root / run_id
        if path.is_dir():
            try:
                with RunStore.open(path) as done:
                    finished = done.manifest.status == "done" and done.manifest.prompt == prompt
            except RunError:
                finished = False
            if finished:
                dirs.append(path)
                continue
            _remove_tree(path)
        with RunStore.create(root, prompt=prompt, run_id=run_id, seed=config.seed, simulated=True,
                             config=config.model_dump(mode="json")) as store:
            agent.run(prompt, store=store, rounds=rounds)
        dirs.append(path)
        if progress is not None:
            progress(i + 1, len(prompts))
    return dirs


def _remove_tree(path: Path) -> None:
    """An unfinished run directory (killed mid-run) is redone from scratch."""
    for p in sorted(path.rglob("*"), reverse=True):
        p.unlink() if p.is_file() or p.is_symlink() else p.rmdir()
    path.rmdir()


def load_runs(dirs: Iterable[Path]) -> list[Run]:
    runs = []
    for d in dirs:
        with RunStore.open(d) as store:
            runs.append(Run(store.manifest.run_id, store.manifest.prompt, store.completed_steps()))
    return runs


# ----------------------------------------------------------------------------------------------------
# Examples
# ----------------------------------------------------------------------------------------------------


def analyst_example(prompt: str, scene: Scene, goal: float | None = None, *, compact: bool = True) -> dict[str, Any]:
    """The Analyst's turn as `LLMBrain` asks it in json mode (compact or full instructions), answered with
    `scene`."""
    system = (ANALYSE_COMPACT if compact else ANALYSE) + json_hint(SceneAnswer)
    return {"kind": "analyst", "prompt_text": prompt,
            "messages": chat(system, analyse_user(prompt),
                             answer_json(scene_answer(scene, goal)))}


def parse_judgment(text: str) -> Judgment:
    """A judgment read back from text ('right' / 'wrong because a; b'); raises ValueError otherwise."""
    t = text.strip()
    if t.lower().rstrip(".") == "right":
        return Judgment(right=True)
    m = re.match(r"(?is)^wrong\b(?:\s+because\s+(.*))?$", t)
    if m is None:
        raise ValueError(f"not a judgment: {t[:80]!r}")
    return Judgment(right=False, because=[p.strip() for p in (m.group(1) or "").split(";") if p.strip()])


def _judge_user(prompt: str, verdict: Verdict) -> str:
    seen = observations(verdict)
    return f"Prompt: {prompt}\nFound in the image:\n" + "\n".join(f"- {s}" for s in seen)


def reflection_examples(run: Run) -> list[dict[str, Any]]:
    """One judgment example per evaluated image of the run ('right' and 'wrong because' cases)."""
    out = []
    for s in run.steps:
        if isinstance(s, EvaluationStep) and s.verdict.checks:
            out.append({"kind": "reflection", "prompt_text": run.prompt, "label_right": s.verdict.passed,
                        "messages": chat(JUDGE_SYSTEM, _judge_user(run.prompt, s.verdict), say_judgment(s.verdict))})
    return out


def tool_schemas(kinds: Iterable[str]) -> list[dict[str, Any]]:
    """JSON schemas of the tools an episode calls: one function per subtask kind, taking a Subtask's fields."""
    params = {"type": "object", "properties": {
        "id": {"type": "string"}, "instruction": {"type": "string"},
        "element_ids": {"type": "array", "items": {"type": "string"}},
        "weights": {"type": "object", "additionalProperties": {"type": "number"}}},
        "required": ["id", "instruction"]}
    return [{"type": "function", "function": {"name": k, "description": f"{k} an image (limner subtask kind '{k}')",
                                              "parameters": params}} for k in sorted(set(kinds))]


def _tool_call(sub: Subtask) -> dict[str, Any]:
    args = {"id": sub.id, "instruction": sub.instruction, "element_ids": sub.element_ids, "weights": sub.weights}
    # arguments as a JSON string: the OpenAI wire format, and one Arrow type for every row of a dataset
    return {"type": "function", "function": {"name": sub.kind, "arguments": json.dumps(args)}}


def episode_example(run: Run) -> dict[str, Any] | None:
    """The run as one conversation with tool calls, or None when it has no analysis or no plan."""
    analysis = run.analysis
    if analysis is None or not any(isinstance(s, PlanStep) for s in run.steps):
        return None
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": AGENT_SYSTEM},
        {"role": "user", "content": analyse_user(run.prompt)},
        {"role": "assistant", "content": answer_json(scene_answer(analysis.scene, analysis.goal))},
    ]
    kinds: set[str] = set()
    for s in run.steps:
        if isinstance(s, PlanStep) and s.subtasks:
            kinds.update(sub.kind for sub in s.subtasks)
            messages.append({"role": "assistant", "content": s.reasoning,
                             "tool_calls": [_tool_call(sub) for sub in s.subtasks]})
            # a tool message answers every call (tool-aware templates expect one per call)
            for sub in s.subtasks:
                messages.append({"role": "tool", "name": sub.kind, "content": _tool_answer(run, s, sub)})
        elif isinstance(s, ReflectionStep):
            verdict = _verdict_before(run, s)
            judged = say_judgment(verdict) if verdict is not None else "wrong because no image was made"
            messages.append({"role": "assistant",
                             "content": json.dumps({"judgment": judged, "next_action": s.next_action})})
    return {"kind": "episodes", "prompt_text": run.prompt, "messages": messages,
            "tools": json.dumps(tool_schemas(kinds))}


def _tool_answer(run: Run, plan: PlanStep, sub: Subtask) -> str:
    """What the tools made for `sub`: the image of its last good attempt and the verdict after it."""
    tools = [s for s in run.steps if isinstance(s, ToolStep) and s.subtask_id == sub.id and s.index > plan.index]
    good = next((t for t in reversed(tools) if t.result.ok), None)
    if good is None:
        return f"failed: {tools[-1].result.error if tools else 'no tool ran'}"
    ev = next((s for s in run.steps if isinstance(s, EvaluationStep) and s.index > good.index), None)
    if ev is None:
        return f"image {good.result.image_path} by {good.call.tool}"
    return f"image {good.result.image_path} by {good.call.tool}; {ev.verdict.summary()}"


def _verdict_before(run: Run, step: ReflectionStep) -> Verdict | None:
    ev = [s for s in run.steps if isinstance(s, EvaluationStep) and s.index < step.index]
    return max(ev, key=lambda s: s.verdict.score).verdict if ev else None


# ----------------------------------------------------------------------------------------------------
# Parsing back, and writing
# ----------------------------------------------------------------------------------------------------


def parse_example(example: dict[str, Any]) -> list[BaseModel]:
    """Every assistant turn of `example` read back into limner's types; raises ValueError when one does not
    parse (a scene, a subtask, a judgment, a next action)."""
    kind = example["kind"]
    out: list[BaseModel] = []
    for m in example["messages"]:
        if m["role"] != "assistant":
            continue
        content = m.get("content") or ""
        if kind == "reflection":
            out.append(parse_judgment(content))
        elif m.get("tool_calls"):
            subs = [Subtask(kind=c["function"]["name"], **json.loads(c["function"]["arguments"]))
                    for c in m["tool_calls"]]
            out.append(PlanAnswer(subtasks=subs, reasoning=content))
        elif content.lstrip().startswith('{"judgment"'):
            body = json.loads(content)
            out.append(parse_judgment(body["judgment"]))
            if body["next_action"] not in ("repair", "regenerate", "stop"):
                raise ValueError(f"unknown next action {body['next_action']!r}")
        else:
            answer = SceneAnswer.model_validate_json(content)
            out.append(Scene(prompt=example.get("prompt_text") or "-", elements=answer.elements,
                             relations=answer.relations, background=answer.background, style=answer.style,
                             unsupported=answer.unsupported, moods=answer.moods))
    if not out:
        raise ValueError("the example has no assistant turn")
    return out


@dataclass
class SFTReport:
    runs: int
    passed_runs: int
    counts: dict[str, int]
    right: int  # reflection examples labelled 'right'
    wrong: int
    unparsed: int  # examples dropped because they did not parse back (should be 0)


def build_sft(runs: list[Run], out: Path, *, exclude_prompts: Iterable[str] = ()) -> SFTReport:
    """Write analyst.jsonl, reflection.jsonl and episodes.jsonl under `out` from `runs`. Analyst and episode
    examples come from runs that passed (successful trajectories); reflection examples from every evaluated
    image (both labels). Prompts in `exclude_prompts` (held-out evaluation prompts) are left out."""
    banned = {p.strip().lower() for p in exclude_prompts}
    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in SUBSETS}
    unparsed = 0
    for run in runs:
        if run.prompt.strip().lower() in banned:
            continue
        candidates: list[dict[str, Any]] = reflection_examples(run)
        if run.passed and run.analysis is not None:
            candidates.append(analyst_example(run.prompt, run.analysis.scene, None))
            ep = episode_example(run)
            if ep is not None:
                candidates.append(ep)
        for ex in candidates:
            try:
                parse_example(ex)
            except (ValueError, KeyError) as e:  # counted and reported, never written
                del e
                unparsed += 1
                continue
            rows[ex["kind"]].append(ex)
    out.mkdir(parents=True, exist_ok=True)
    for k, items in rows.items():
        atomic_write_text(out / f"{k}.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in items))
    right = sum(r["label_right"] for r in rows["reflection"])
    return SFTReport(runs=len(runs), passed_runs=sum(r.passed for r in runs),
                     counts={k: len(v) for k, v in rows.items()}, right=right,
                     wrong=len(rows["reflection"]) - right, unparsed=unparsed)


def geneval_split(rows: list[dict[str, Any]], n_eval: int, seed: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train rows, held-out rows): a seeded shuffle of GenEval metadata rows; no prompt text is in both."""
    order = np.random.default_rng(seed).permutation(len(rows))
    held = [rows[i] for i in order[:n_eval]]
    seen = {r["prompt"].strip().lower() for r in held}
    train = [rows[i] for i in order[n_eval:] if rows[i]["prompt"].strip().lower() not in seen]
    return train, held
