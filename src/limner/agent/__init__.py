"""The PerfGuard/GenAgent loop: Analyst → Planner → Worker → Self-Evaluator → reflection → repair.

Entry points the CLI calls (`limner generate / edit / check`):

    run_generate(prompt, config, store, progress=print) -> FinalStep
    run_edit(image_path, instruction, config, store, progress=None) -> FinalStep
    check(image_path, prompt, config) -> Verdict

`Agent` (loop.py) is the loop itself; `run(prompt, stream=True)` yields the typed steps.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from limner.agent.analyst import Analyst, geneval_mismatch, matches_geneval
from limner.agent.evaluator import Evaluator
from limner.agent.loop import Agent, AgentError, MemoryStore
from limner.agent.planner import Planner
from limner.agent.worker import Worker, WorkerError
from limner.config import LimnerConfig
from limner.types import FinalStep, Step, Verdict

__all__ = [
    "Agent", "AgentError", "Analyst", "Evaluator", "MemoryStore", "Planner", "Worker", "WorkerError", "check",
    "geneval_mismatch", "matches_geneval", "run_edit", "run_generate",
]


def _drive(steps: Any, progress: Callable[[Step], None] | None) -> FinalStep:
    final = None
    for step in steps:
        if progress is not None:
            progress(step)
        final = step
    if not isinstance(final, FinalStep):
        raise AgentError("the run ended without a final step")
    return final


def run_generate(
    prompt: str, config: LimnerConfig, store: Any, *, progress: Callable[[Step], None] | None = None,
    agent: Agent | None = None,
) -> FinalStep:
    """Generate an image for `prompt` with the multi-turn agent; steps go to `store` (a RunStore) as they
    happen and to `progress`. If `store` already holds steps (resume), they are replayed, not re-run."""
    agent = agent or Agent(config)
    return _drive(agent.run(prompt, stream=True, store=store), progress)


def _open_image(image_path: str | Path) -> Image.Image:
    path = Path(image_path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except OSError as e:
        raise ValueError(f"cannot read image {path}: {e}") from None


def run_edit(
    image_path: str | Path, instruction: str, config: LimnerConfig, store: Any, *,
    progress: Callable[[Step], None] | None = None, agent: Agent | None = None,
) -> FinalStep:
    """Edit the image as instructed, through the same loop: the instruction is applied by the best-ranked
    editor, the result is checked against what the instruction asks for, and failures are repaired."""
    from limner.llm.rule_brain import edit_target

    if not instruction or not instruction.strip():
        raise ValueError("the instruction is empty; say what to change")
    image = _open_image(image_path)
    agent = agent or Agent(config)
    target = edit_target(instruction)
    return _drive(agent.run(target, stream=True, store=store, image=image, instruction=instruction), progress)


def check(image_path: str | Path, prompt: str, config: LimnerConfig, *, agent: Agent | None = None) -> Verdict:
    """Judge any image against a prompt: the Analyst reads the prompt, the Self-Evaluator checks the pixels."""
    image = _open_image(image_path)
    agent = agent or Agent(config)
    scene = agent.analyst(prompt).scene
    return agent.evaluator(image, scene).verdict
