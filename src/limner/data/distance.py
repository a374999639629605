"""Compositional distance between two prompts when only their text is known.

Between a cluster's scenes the distance is exact (`perturb.scene_distance`: the scenes share element ids).
Between two texts it is an estimate, and marked so: with an LLM brain, the model counts the atomic edits
(AgentComp's Distance Estimator agent); otherwise both texts are read by the offline reader and their scenes
compared with elements aligned by order of mention — exact only when both readings are complete and the
order is the same, so it is marked estimated too.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field

from limner.data.perturb import scene_distance
from limner.llm.brain import Brain
from limner.reading.prompt import parse_prompt

__all__ = ["DistanceEstimate", "estimate_distance"]


@dataclass(frozen=True)
class DistanceEstimate:
    distance: float
    estimated: bool
    by: str  # "llm", "reader"
    note: str = ""


class _DistanceAnswer(BaseModel):
    distance: int = Field(ge=0, description="number of atomic compositional edits")
    reasoning: str = ""


_ESTIMATE = ("Count the atomic compositional edits that turn the first image description into the second. "
             "Atomic: change one attribute (colour, material, shape, size), add or remove one object kind, "
             "change one object count, change or remove one spatial relation, change one text. Swapping two "
             "colours is two edits. Answer the count and one sentence of reasoning.")


def estimate_distance(a: str, b: str, *, brain: Brain | None = None) -> DistanceEstimate:
    """The number of atomic edits between two prompts, always marked estimated (see the module doc)."""
    agent_of, ask = getattr(brain, "_agent", None), getattr(brain, "_ask", None)
    note = ""
    if agent_of is not None and ask is not None:
        answer, _, err = ask(agent_of(_DistanceAnswer, _ESTIMATE), f"First: {a}\nSecond: {b}")
        if answer is not None:
            return DistanceEstimate(float(answer.distance), True, "llm", answer.reasoning)
        note = f"LLM estimate failed ({err}); the reader's estimate instead; "
    sa, sb = parse_prompt(a), parse_prompt(b)
    unread = len(sa.unsupported) + len(sb.unsupported)
    return DistanceEstimate(float(scene_distance(sa, sb) + abs(len(sa.unsupported) - len(sb.unsupported))), True,
                            "reader", note + ("elements aligned by order of mention"
                                              + (f"; {unread} unread part(s)" if unread else "")))
