"""The Planner: the brain proposes the round's subtasks; the Planner makes sure the Worker can run them.

PerfGuard's Planner decomposes the task into subtasks matched with tool capabilities. The proposal is the
brain's (rules offline, an LLM when configured); this role checks what any proposal must satisfy before a
tool is called: unique subtask ids, a tool of the subtask's kind configured, element ids that exist, and
W_task only over the dimensions of the subtask's tool kind (generator dimensions for generation, edit
dimensions for edits). A repair subtask whose kind has no tool falls back to the other editing kind
(inpaint <-> edit) rather than being dropped; what cannot be run at all is reported, not silently lost.
"""

from __future__ import annotations

from dataclasses import dataclass

from limner.llm.brain import Brain, NextAction
from limner.types import EDIT_DIMS, GEN_DIMS, Scene, Subtask, ToolSpec, Verdict

__all__ = ["PlanResult", "Planner"]

_DIMS = {"generate": GEN_DIMS, "edit": EDIT_DIMS, "inpaint": EDIT_DIMS, "retouch": EDIT_DIMS}


@dataclass
class PlanResult:
    subtasks: list[Subtask]
    reasoning: str
    tokens: int | None = None
    error: str | None = None


class Planner:
    def __init__(self, brain: Brain, tools: list[ToolSpec]) -> None:
        self.brain = brain
        self.tools = tools
        self.kinds = {t.kind for t in tools}

    def __call__(self, scene: Scene, verdict: Verdict | None, action: NextAction, round: int) -> PlanResult:
        plan = self.brain.plan(scene, self.tools, verdict=verdict, action=action, round=round)
        subtasks, notes = self._runnable(plan.subtasks, scene)
        reasoning = plan.reasoning + (f" ({'; '.join(notes)})" if notes else "")
        return PlanResult(subtasks=subtasks, reasoning=reasoning, tokens=plan.tokens, error=plan.error)

    def _runnable(self, subtasks: list[Subtask], scene: Scene) -> tuple[list[Subtask], list[str]]:
        ids = {e.id for e in scene.elements}
        seen: set[str] = set()
        out: list[Subtask] = []
        notes: list[str] = []
        for s in subtasks:
            if s.id in seen:
                notes.append(f"dropped duplicate subtask id {s.id!r}")
                continue
            seen.add(s.id)
            kind = s.kind
            if kind not in self.kinds:
                alt = {"inpaint": "edit", "edit": "inpaint"}.get(kind)
                if alt in self.kinds:
                    notes.append(f"{s.id}: no {kind} tool, using {alt}")
                    kind = alt
                else:
                    notes.append(f"{s.id}: no {kind} tool configured, skipped")
                    continue
            weights = {d: w for d, w in s.weights.items() if d in _DIMS[kind]}
            if len(weights) != len(s.weights):
                notes.append(f"{s.id}: ignored weights on {sorted(set(s.weights) - set(weights))} (not {kind} dimensions)")
            unknown = [e for e in s.element_ids if e not in ids]
            if unknown:
                notes.append(f"{s.id}: ignored unknown elements {unknown}")
            out.append(s.model_copy(update={
                "kind": kind, "weights": weights, "element_ids": [e for e in s.element_ids if e in ids],
                "region": s.region if kind == "inpaint" else None,
            }))
        return out, notes
