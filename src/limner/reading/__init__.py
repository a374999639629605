"""Reading prompts and instructions: the shared language of the world, the analyst and the profilers.

It sits below both the brain (`limner.llm`) and the tools (`limner.tools`): a sandbox painter reads a prompt
with the same grammar the analyst uses, and a sandbox editor reads an edit instruction with the same
grammar the planner writes its repairs in (`limner.reading.instructions`), so neither has to import the
other.
"""

from __future__ import annotations

from limner.reading.instructions import EditOp, InstructionError, parse_instruction, read_form
from limner.reading.prompt import canonical_class, parse_prompt, plural, singular

__all__ = [
    "EditOp", "InstructionError", "canonical_class", "parse_instruction", "parse_prompt", "plural", "read_form",
    "singular",
]
