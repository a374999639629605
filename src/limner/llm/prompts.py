"""What the LLM brain says to its model, and the answers it expects, in one place.

The brain (`llm_brain`), the training data (`limner.data.trajectories`, `limner.data.capo`) and the
benchmark all build their messages here, so a model fine-tuned on limner's own runs sees, at serving time,
exactly the messages it was trained on (same instructions, same user text, same compact JSON answers).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from limner.reading.instructions import say_add, say_attribute, say_move, say_recount, say_remove_all
from limner.types import ALL_DIMS, Element, Relation, Scene, Subtask, Verdict

__all__ = [
    "ANALYSE", "ANALYSE_COMPACT", "JUDGE", "PLAN", "REFLECT", "JudgeAnswer", "PlanAnswer", "ReflectionAnswer", "SceneAnswer",
    "analyse_user", "answer_json", "chat", "json_hint", "plan_user", "reflect_user", "scene_answer",
]


class SceneAnswer(BaseModel):
    """The reading of a prompt. Element ids are e0, e1, ...; relations refer to them."""

    elements: list[Element]
    relations: list[Relation] = Field(default_factory=list)
    background: str | None = None
    style: str | None = None
    unsupported: list[str] = Field(default_factory=list)
    moods: list[str] = Field(default_factory=list)
    goal: float | None = Field(default=None, ge=0, le=1)


class PlanAnswer(BaseModel):
    subtasks: list[Subtask]
    reasoning: str = ""


class ReflectionAnswer(BaseModel):
    next_action: Literal["repair", "regenerate", "stop"]
    reasoning: str


class JudgeAnswer(BaseModel):
    score: float = Field(ge=0, le=1, description="how well the image shows the scene, 0..1")
    reasoning: str


ANALYSE = (
    "You read text-to-image prompts into a structured scene. One element per object kind: `cls` is the "
    "canonical object class (singular, e.g. 'apple', 'teddy bear'), `noun` the words of the prompt, `count` "
    "the number asked for (0 with negated=true for 'no X'), colour/texture/shape/size only when the prompt "
    "binds them to that object, `text` for quoted text the object must show. Relations: subject and object "
    "are element ids; spatial predicates are exactly one of 'left of', 'right of', 'above', 'below', "
    "'next to', 'on', 'in front of', 'behind'; anything else (e.g. 'holding') is an action predicate. Other "
    "words about an object go in its `qualities` ('rusty'), `states` (what it does with no second object: "
    "'fluttering') and `parts` ('handle'); abstract and mood words in `moods` ('beauty'). Name "
    "every part of the prompt you cannot represent in `unsupported`."
)
PLAN = (
    "You plan the next round of an image-generation agent. Either one 'generate' subtask for the whole "
    "scene, or one 'edit' (or 'inpaint' with a region) subtask per failed check, using instructions like "
    f"'{say_attribute('cat', 'red')}', '{say_add('2 blue cups', 'left of', 'dog')}', '{say_remove_all('forks')}', "
    f"'{say_recount('apples', 3)}', '{say_move('cat', 'left of', 'dog')}'. "
    f"`weights` is W_task over these dimensions: {list(ALL_DIMS)} "
    "(generator dimensions for 'generate', edit dimensions for edits)."
)
REFLECT = (
    "You decide what an image-generation agent does next given the verdict of the best image so far: 'stop' "
    "when it is good or no rounds are left, 'repair' to edit only what failed, 'regenerate' when too much is "
    "wrong or the last round made it worse."
)
#: The Analyst's instructions for a small model: short (a 135M model's context and a CPU's time are
#: scarce; the json hint's example carries the format). `prompt_style="compact"` in the brain's config.
ANALYSE_COMPACT = ("Read the text-to-image prompt into a scene: one element per object kind (cls: singular class, "
                   "noun: the prompt's words, count, colour only if the prompt gives one) and the relations "
                   "between elements (left of, right of, above, below, next to, in front of, behind).")
JUDGE = "Rate from 0 to 1 how faithfully the image shows the described scene (objects, counts, colours, layout, text)."

#: Per answer type, a one-line example of the compact JSON the json output mode asks for (no schema dump:
#: a small model's context is short, and the server constrains the output to the schema anyway).
_EXAMPLES: dict[type[BaseModel], str] = {
    SceneAnswer: '{"elements": [{"id": "e0", "noun": "red apples", "cls": "apple", "count": 2, "color": "red"}, '
                 '{"id": "e1", "noun": "cup", "cls": "cup"}], "relations": [{"subject": "e0", "predicate": '
                 '"left of", "object": "e1"}]}',
    PlanAnswer: '{"subtasks": [{"id": "r1-fix0", "kind": "edit", "instruction": "make the apple red", '
                '"element_ids": ["e0"], "weights": {"attribute": 1.0}}], "reasoning": "..."}',
    ReflectionAnswer: '{"next_action": "repair", "reasoning": "..."}',
    JudgeAnswer: '{"score": 0.8, "reasoning": "..."}',
}


def json_hint(answer: type[BaseModel]) -> str:
    """The sentence the json output mode appends to a role's instructions."""
    return f" Answer with one JSON object and nothing else, like: {_EXAMPLES[answer]}"


def answer_json(answer: BaseModel) -> str:
    """An answer as the compact JSON a model is trained to write (defaults and nulls left out)."""
    return json.dumps(answer.model_dump(mode="json", exclude_defaults=True, exclude_none=True),
                      ensure_ascii=False, separators=(", ", ": "))


def scene_answer(scene: Scene, goal: float | None = None) -> SceneAnswer:
    return SceneAnswer(elements=scene.elements, relations=scene.relations, background=scene.background,
                       style=scene.style, unsupported=scene.unsupported, moods=scene.moods, goal=goal)


def analyse_user(prompt: str) -> str:
    return f"Prompt: {prompt}"


def plan_user(scene: Scene, tool_kinds: list[str], verdict: Verdict | None, action: str, round: int) -> str:
    failed = [f"{c.target} {c.kind}: {c.evidence}" for c in verdict.failed] if verdict else []
    return (f"Round {round}, action {action}.\nScene: {scene.model_dump_json(exclude={'prompt'}, exclude_defaults=True)}\n"
            f"Prompt: {scene.prompt}\nTool kinds available: {sorted(set(tool_kinds))}\n"
            f"Failed checks: {failed or 'none (first round)'}\nUse subtask ids starting with 'r{round}-'.")


def reflect_user(prompt: str, verdict: Verdict, round: int, rounds: int, last_improved: bool | None,
                 last_action: str | None) -> str:
    return (f"Prompt: {prompt}\nRound {round + 1} of {rounds} finished. Best score {verdict.score:.3f}. "
            f"Failed checks: {[f'{c.target} {c.kind}: {c.evidence}' for c in verdict.failed]}.\n"
            f"The last round ({last_action or 'first drawing'}) improved on the best: {last_improved}.")


def chat(system: str, user: str, assistant: str | None = None) -> list[dict[str, Any]]:
    """A conversation in the chat format TRL and chat templates take."""
    out: list[dict[str, Any]] = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    if assistant is not None:
        out.append({"role": "assistant", "content": assistant})
    return out
