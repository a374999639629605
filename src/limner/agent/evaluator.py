"""The Self-Evaluator: score = λ·global + (1−λ)·mean(local), one local check per element and relation.

The local checks come from a tool of kind "check" (the sandbox's pixel-only checker, or any other checker
tool); the global score is the checker's own unless the brain has eyes (a VLM judge), in which case the
VLM's global alignment score replaces it and the verdict is recombined with the same λ. The evaluator never
sees what a tool meant to draw, only the image.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PIL import Image

from limner.llm.brain import Brain
from limner.tools.base import Tool, ToolError
from limner.types import Scene, ToolCall, Verdict

__all__ = ["Evaluation", "Evaluator", "EvaluatorError", "unchecked_parts"]


class EvaluatorError(RuntimeError):
    """The checker could not judge the image."""


@dataclass
class Evaluation:
    verdict: Verdict
    tool_s: float  # time spent inside the checker / judge (tool time, not orchestration)
    tokens: int | None = None
    note: str = ""
    error: str | None = None


class Evaluator:
    def __init__(self, checker: Tool, lam: float = 0.5, brain: Brain | None = None) -> None:
        if checker.kind != "check":
            raise ValueError(f"evaluator needs a tool of kind 'check', got {checker.name!r} of kind {checker.kind!r}")
        self.checker = checker
        self.lam = lam
        self.brain = brain

    def __call__(self, image: Image.Image, scene: Scene) -> Evaluation:
        t0 = time.perf_counter()
        call = ToolCall(tool=self.checker.name, params={"scene": scene.model_dump(mode="json"), "lam": self.lam})
        try:
            result = self.checker(call, image=image)
        except ToolError as e:
            raise EvaluatorError(f"checker {self.checker.name!r} failed: {e}") from e
        raw = result.meta.get("verdict")
        if raw is None:
            raise EvaluatorError(f"checker {self.checker.name!r} returned no verdict (meta['verdict'])")
        verdict = Verdict.model_validate(raw)
        missing = unchecked_parts(scene, verdict)
        if missing:  # the score stays the checker's; only the count of parts (coverage, passed) changes
            verdict = verdict.model_copy(update={"unsupported": [*verdict.unsupported, *missing]})
        tokens, note, error = result.meta.get("tokens"), "", None
        # A VLM checker already gave a global alignment score; a second VLM opinion would cost a call and
        # overwrite it. The brain judges only when the checker looked at pixels without language.
        vlm_checked = verdict.evaluator.startswith("vlm:")
        judgement = self.brain.judge(image, scene) if self.brain is not None and not vlm_checked else None
        if judgement is not None and judgement.score is not None:
            verdict = Verdict.combine(judgement.score, verdict.checks, lam=self.lam,
                                      unsupported=list(verdict.unsupported),
                                      evaluator=f"{verdict.evaluator}+{self.brain.name}-judge")
            tokens = (tokens or 0) + (judgement.tokens or 0) or None
            note = f"global score by the {self.brain.name} judge: {judgement.reasoning}"
        elif judgement is not None:
            tokens, error = (tokens or 0) + (judgement.tokens or 0) or None, judgement.error
            note = error or ""
        return Evaluation(verdict=verdict, tool_s=time.perf_counter() - t0, tokens=tokens, note=note, error=error)




def unchecked_parts(scene: Scene, verdict: Verdict) -> list[str]:
    """Parts the scene asks for that the checker neither checked nor named unsupported, each named.

    A checker that silently skips a part (the sandbox checker has no eyes for styles) would
    otherwise let a verdict claim more than it checked. The unit is the element, the relation, the
    background and the style: an element counts as accounted for when some check targets it or an
    unsupported entry starts with its id ("e0: the sandbox cannot draw ..."); its attributes are the
    checker's to judge or name (both the sandbox and the VLM checker do).
    """
    checked = {(c.target, c.kind) for c in verdict.checks}
    targets = {c.target for c in verdict.checks}
    named = {u.split(": ", 1)[0] for u in verdict.unsupported if ": " in u}
    who = verdict.evaluator or "the checker"
    out = [f"{e.id}: '{e.noun}' not checked by {who}" for e in scene.elements
           if e.id not in targets and e.id not in named]
    out += [f"{r.id}: '{r.predicate}' not checked by {who}" for r in scene.relations
            if r.id not in targets and r.id not in named]
    for kind, value in (("background", scene.background), ("style", scene.style)):
        if value and ("scene", kind) not in checked and not any(u.startswith(kind) for u in verdict.unsupported):
            out.append(f"{kind} '{value}' not checked by {who}")
    return out
