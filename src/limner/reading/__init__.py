"""Reading prompts and instructions: the shared language of the world, the analyst and the profilers.

It sits below both the brain (`limner.llm`) and the tools (`limner.tools`): a sandbox painter reads a prompt
with the same grammar the analyst uses, so neither has to import the other.
"""

from __future__ import annotations

from limner.reading.prompt import canonical_class, parse_prompt, singular

__all__ = ["canonical_class", "parse_prompt", "singular"]
