"""The agent's brain: one interface, two implementations (rule-based offline, LLM over an OpenAI endpoint).

The loop (`limner.agent.loop`) never knows which brain it talks to. A brain

- **analyses** a prompt into a `Scene` and an evaluation goal (PerfGuard's Analyst),
- **plans** the next subtasks: a first generation, then targeted repairs of what the verdict says failed,
  each with a `W_task` weight vector over the performance dimensions (PerfGuard's Planner),
- **reflects** on a verdict: repair, regenerate or stop, with a readable reason (GenAgent's reflection),
- may **judge** an image globally (a VLM's overall alignment score); `None` means "no opinion", and the
  evaluator then uses its own global score.

Every answer carries the tokens it spent and, when an LLM brain fell back to the rule-based one, the
reason (`error`), so the trajectory records what really happened.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Literal

from PIL import Image

from limner.types import Scene, Subtask, ToolSpec, Verdict

__all__ = ["Brain", "Judgement", "NextAction", "Plan", "Reading", "Reflection"]

NextAction = Literal["repair", "regenerate", "stop"]


@dataclass
class Reading:
    """The Analyst's output: the scene, the goal, and how it was obtained."""

    scene: Scene
    goal: float | None = None
    note: str = ""
    tokens: int | None = None
    error: str | None = None


@dataclass
class Plan:
    subtasks: list[Subtask]
    reasoning: str = ""
    tokens: int | None = None
    error: str | None = None


@dataclass
class Reflection:
    next_action: NextAction
    failed: list[str] = field(default_factory=list)
    reasoning: str = ""
    tokens: int | None = None
    error: str | None = None


@dataclass
class Judgement:
    """A VLM's global score in [0, 1]; `score=None` with `error` when the judge failed (no opinion)."""

    score: float | None
    reasoning: str = ""
    tokens: int | None = None
    error: str | None = None


class Brain(ABC):
    """What the agent loop asks of its reasoning model. Subclasses implement analyse/plan/reflect."""

    name: str = "brain"

    @abstractmethod
    def analyse(self, prompt: str) -> Reading:
        """Read the prompt into a Scene (+ optional goal)."""

    @abstractmethod
    def plan(
        self,
        scene: Scene,
        tools: list[ToolSpec],
        verdict: Verdict | None = None,
        action: NextAction = "regenerate",
        round: int = 0,
    ) -> Plan:
        """The subtasks of the next round. Without a verdict (or with action='regenerate') the plan starts
        with a generation; with action='repair' it targets the failed checks of `verdict` only."""

    @abstractmethod
    def reflect(
        self,
        scene: Scene,
        verdict: Verdict,
        round: int,
        rounds: int,
        *,
        last_improved: bool | None = None,
        tools: list[ToolSpec] | None = None,
        last_action: NextAction | None = None,
    ) -> Reflection:
        """Decide what to do with the best image so far (`verdict` is its verdict): stop (goal met or no
        rounds left), repair its failed checks, or regenerate. `last_improved` says whether the round just
        finished beat the best before it (None after the first round)."""

    def judge(self, image: Image.Image, scene: Scene) -> Judgement | None:
        """A global alignment score from a vision model, or None when this brain has no eyes."""
        return None
