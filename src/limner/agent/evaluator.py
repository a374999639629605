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

__all__ = ["Evaluation", "Evaluator", "EvaluatorError"]


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
        tokens, note, error = result.meta.get("tokens"), "", None
        # A VLM checker already gave a global alignment score; a second VLM opinion would cost a call and
        # overwrite it. The brain judges only when the checker looked at pixels without language.
        vlm_checked = verdict.evaluator.startswith("vlm:")
        judgement = self.brain.judge(image, scene) if self.brain is not None and not vlm_checked else None
        if judgement is not None and judgement.score is not None:
            verdict = Verdict.combine(judgement.score, verdict.checks, lam=self.lam, unsupported=verdict.unsupported,
                                      evaluator=f"{verdict.evaluator}+{self.brain.name}-judge")
            tokens = (tokens or 0) + (judgement.tokens or 0) or None
            note = f"global score by the {self.brain.name} judge: {judgement.reasoning}"
        elif judgement is not None:
            tokens, error = (tokens or 0) + (judgement.tokens or 0) or None, judgement.error
            note = error or ""
        return Evaluation(verdict=verdict, tool_s=time.perf_counter() - t0, tokens=tokens, note=note, error=error)
