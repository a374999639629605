"""Checks on what an LLM's answer *means*, beyond its schema.

A schema-valid answer can still be nonsense: a 135M model constrained to the Scene schema wrote classes
like "redefinable" and empty element lists, and an empty scene has nothing to check, so it "passed"
(shared/notes/llm-server-trial.md). Each check returns the reason an answer is wrong (fed back to the model
as a retry, then counted as a validation failure) or None:

- a reading has at least one object that is not negated;
- every object's class or noun is named by the prompt (a word of the prompt, singular or plural);
- when the rule-based reader reads the whole prompt (nothing unsupported), the answer names the same
  object classes: the LLM may refine counts, colours and relations, but not invent or drop objects where
  the rules are sure; where the rules are not sure (unsupported parts) the LLM is the only reader;
- a plan's subtasks match the action asked for (a redraw starts with a generation, a repair edits).
"""

from __future__ import annotations

import re

from pydantic import ValidationError

from limner.reading.prompt import parse_prompt, plural
from limner.types import Element, Relation, Scene, Subtask

__all__ = ["plan_problem", "scene_problem"]

_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> str:
    return " " + " ".join(_WORD.findall(text.lower())) + " "


def _named(prompt_words: str, phrase: str) -> bool:
    """Whether the prompt names `phrase` (singular or plural, as whole words)."""
    phrase = " ".join(_WORD.findall(phrase.lower()))
    if not phrase:
        return False
    forms = {phrase, plural(phrase), phrase + "s", phrase + "es"}
    return any(f" {f} " in prompt_words for f in forms)


def scene_problem(prompt: str, elements: list[Element], relations: list[Relation]) -> str | None:
    """Why this reading of `prompt` cannot be right, or None."""
    try:
        Scene(prompt=prompt or "-", elements=elements, relations=relations)
    except ValidationError as e:
        return f"the scene is inconsistent: {e.errors()[0]['msg']}"
    if not any(not e.negated for e in elements):
        return "the scene has no object to draw; list every object the prompt asks for"
    words = _words(prompt)
    stray = [e.cls for e in elements if not (_named(words, e.cls) or _named(words, e.noun))]
    if stray:
        return (f"the prompt does not name {', '.join(repr(s) for s in stray)}; "
                "use only objects the prompt asks for, with the prompt's own words")
    rule = parse_prompt(prompt)
    if rule.elements and not rule.unsupported:
        want = {e.cls for e in rule.elements}
        got = {e.cls for e in elements}
        if want != got:
            return (f"the prompt names the objects {sorted(want)}; the scene has {sorted(got)}")
    return None


def plan_problem(subtasks: list[Subtask], action: str, element_ids: set[str]) -> str | None:
    """Why this plan cannot carry out `action`, or None."""
    if not subtasks:
        return "the plan has no subtask"
    kinds = [s.kind for s in subtasks]
    if action == "regenerate" and kinds[0] != "generate":
        return "a redraw starts with one 'generate' subtask for the whole scene"
    if action == "repair" and "generate" in kinds:
        return "a repair edits the image ('edit' or 'inpaint' subtasks), it does not generate a new one"
    unknown = sorted({i for s in subtasks for i in s.element_ids} - element_ids)
    if unknown:
        return f"unknown element ids {unknown}; the scene's ids are {sorted(element_ids)}"
    return None
