"""The Analyst: a prompt becomes a `Scene` (what must be in the image) and an evaluation goal.

PerfGuard's Analyst parses the input into target semantics s* and an evaluation goal g. Here s* is the
`Scene` and g is the verdict score at which the loop may stop. The reading itself is the brain's job
(rule-based parser offline, an LLM when configured); the Analyst adds the goal and, for measuring how well
prompts are read, compares scenes with GenEval's metadata.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from limner import vocab
from limner.llm.brain import Brain
from limner.types import Scene

__all__ = ["Analysis", "Analyst", "geneval_mismatch", "matches_geneval"]


@dataclass(frozen=True)
class Analysis:
    scene: Scene
    goal: float
    reasoning: str
    tokens: int | None = None
    error: str | None = None


class Analyst:
    """Reads prompts with a brain and sets the goal from the config."""

    def __init__(self, brain: Brain, goal: float = 1.0) -> None:
        self.brain = brain
        self.goal = goal

    def __call__(self, prompt: str) -> Analysis:
        if not prompt or not prompt.strip():
            raise ValueError("the prompt is empty; say what the image should show")
        out = self.brain.analyse(prompt)
        goal = min(self.goal, out.goal) if out.goal is not None else self.goal
        parts = [f"{e.count}×{' '.join(x for x in (e.color, e.texture, e.shape, e.cls) if x)}" for e in out.scene.elements]
        rels = [f"{r.subject} {r.predicate} {r.object}" for r in out.scene.relations]
        reasoning = f"elements: {', '.join(parts) or 'none'}"
        if rels:
            reasoning += f"; relations: {', '.join(rels)}"
        if out.scene.unsupported:
            reasoning += f"; unsupported: {', '.join(out.scene.unsupported)}"
        if out.scene.assumptions:
            reasoning += f"; assumed: {', '.join(out.scene.assumptions)}"
        if out.note:
            reasoning += f"; {out.note}"
        return Analysis(scene=out.scene, goal=goal, reasoning=reasoning, tokens=out.tokens, error=out.error)


# ----------------------------------------------------------------------------------------------------
# GenEval metadata as ground truth for prompt reading
# ----------------------------------------------------------------------------------------------------


def _canonical_color(c: str | None) -> str | None:
    return vocab.COLOR_SYNONYMS.get(c, c) if c else None


def geneval_mismatch(scene: Scene, row: dict[str, Any]) -> str | None:
    """Why `scene` does not match a GenEval metadata row (include/exclude), or None when it matches.

    Elements must match one to one on (class, count, colour) with no texture/shape invented; every
    `position: [predicate, j]` of include[i] must be a relation between the matched elements (either
    direction, with the inverse predicate), and the scene must have no other relations. Excludes of the
    counting kind ("not 3 clocks" next to "2 clocks") are implied by an exact count; other excludes must
    appear as negated elements.
    """
    include = row.get("include", [])
    positive = [e for e in scene.elements if not e.negated]
    want = Counter((i["class"], int(i.get("count", 1)), _canonical_color(i.get("color"))) for i in include)
    got = Counter((e.cls, e.count, e.color) for e in positive)
    if want != got:
        return f"elements differ: want {sorted(want.items(), key=str)}, got {sorted(got.items(), key=str)}"
    for e in positive:
        if e.texture or e.shape:
            return f"invented attribute on {e.id}: texture={e.texture} shape={e.shape}"
    # Assign scene elements to include entries (first free element with the same key, in order).
    free = list(positive)
    assigned: list[str] = []
    for inc in include:
        key = (inc["class"], int(inc.get("count", 1)), _canonical_color(inc.get("color")))
        match = next(e for e in free if (e.cls, e.count, e.color) == key)
        free.remove(match)
        assigned.append(match.id)
    want_rel = set()
    for k, inc in enumerate(include):
        if "position" in inc:
            pred, j = inc["position"]
            want_rel.add((assigned[k], pred, assigned[int(j)]))
    got_rel = set()
    for r in scene.relations:
        inverse = vocab.INVERSE.get(r.predicate)
        triple = (r.subject, r.predicate, r.object)
        if triple not in want_rel and inverse and (r.object, inverse, r.subject) in want_rel:
            triple = (r.object, inverse, r.subject)
        got_rel.add(triple)
    if want_rel != got_rel:
        return f"relations differ: want {sorted(want_rel)}, got {sorted(got_rel)}"
    counted = {(i["class"]) for i in include}
    for exc in row.get("exclude", []):
        if exc["class"] in counted:
            continue  # "two clocks, not three": implied by the exact count
        if not any(e.negated and e.cls == exc["class"] for e in scene.elements):
            return f"exclude {exc} not read as a negated element"
    return None


def matches_geneval(scene: Scene, row: dict[str, Any]) -> bool:
    return geneval_mismatch(scene, row) is None
