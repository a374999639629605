"""The agent's brain: a rule-based offline brain and an LLM brain behind one interface.

`make_brain(config.brain)` returns the brain the config asks for: `RuleBrain` (kind "rule", the offline
default) or `LLMBrain` (kind "llm": any OpenAI-compatible endpoint through pydantic-ai, validated and
retried, falling back to the rule-based brain with the reason recorded).
"""

from __future__ import annotations

from limner.config import BrainConfig
from limner.llm.brain import Brain, Judgement, Plan, Reading, Reflection
from limner.llm.rule_brain import RuleBrain

__all__ = ["Brain", "Judgement", "Plan", "Reading", "Reflection", "RuleBrain", "make_brain"]


def make_brain(config: BrainConfig | None = None) -> Brain:
    """The brain `config.kind` names. Building an LLM brain opens no connection (that happens per call)."""
    if config is None or config.kind == "rule":
        return RuleBrain()
    if config.kind == "llm":
        # deferred: pydantic-ai is the optional `llm` extra; the offline default must import without it
        from limner.llm.llm_brain import LLMBrain  # noqa: PLC0415

        return LLMBrain.from_config(config)
    raise ValueError(f"unknown brain kind {config.kind!r}; expected 'rule' or 'llm'")
