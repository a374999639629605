"""The PerfGuard/GenAgent loop: Analyst → Planner → Worker → Self-Evaluator → reflection → repair.

Entry points the CLI calls (`limner generate / edit / check`):

    run_generate(prompt, config, store, progress=print) -> FinalStep
    run_edit(image_path, instruction, config, store, progress=None) -> FinalStep
    check(image_path, prompt, config) -> Verdict

`Agent` (loop.py) is the loop itself; `run(prompt, stream=True)` yields the typed steps.
"""

from __future__ import annotations

from limner.agent.analyst import Analyst, geneval_mismatch, matches_geneval
from limner.agent.evaluator import Evaluator
from limner.agent.loop import Agent, AgentError, MemoryStore, check, run_edit, run_generate
from limner.agent.planner import Planner
from limner.agent.worker import Worker, WorkerError

__all__ = [
    "Agent", "AgentError", "Analyst", "Evaluator", "MemoryStore", "Planner", "Worker", "WorkerError", "check",
    "geneval_mismatch", "matches_geneval", "run_edit", "run_generate",
]
