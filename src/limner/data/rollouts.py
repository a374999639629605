"""GRPO rollouts that are whole agent episodes: the real loop, the sandbox tools, the policy as the brain.

`agent_rollout(config)` returns the `rollout_func` TRL's GRPOTrainer calls with a batch of prompts (each
already repeated once per generation of its group): for each, a fresh `Agent` runs the prompt for
`rounds` rounds with an `EpisodeBrain` over the trainer's current policy, and the episode's tokens,
log-probabilities and environment mask go back with the two reward signals — the evaluator's score of the
final image and the share of the policy's right/wrong judgments that matched the evaluator
(`limner.train.planner.reward_final_score` / `reward_reflection_accuracy`).
"""

from __future__ import annotations

from typing import Any

from limner.agent import Agent, MemoryStore
from limner.config import LimnerConfig
from limner.llm.episode import EpisodeBrain

__all__ = ["agent_rollout", "prompt_text"]


def prompt_text(prompt: Any) -> str:
    """The image prompt of a GRPO dataset row (a string, or a conversation whose last user turn says it)."""
    if isinstance(prompt, str):
        return prompt.removeprefix("Prompt: ").strip()
    user = [m["content"] for m in prompt if m.get("role") == "user"]
    return str(user[-1]).removeprefix("Prompt: ").strip() if user else ""


def agent_rollout(config: LimnerConfig, *, rounds: int = 2, max_new_tokens: int = 160,
                  temperature: float = 1.0) -> Any:
    """A `rollout_func(prompts, trainer)` playing one agent episode per prompt with the trainer's policy."""

    def rollout(prompts: list[Any], trainer: Any) -> dict[str, Any]:
        model = trainer.model
        was_training = model.training
        model.eval()
        out: dict[str, list[Any]] = {"prompt_ids": [], "completion_ids": [], "logprobs": [], "env_mask": [],
                                     "final_score": [], "reflection_accuracy": [], "policy_fallbacks": []}
        try:
            for p in prompts:
                brain = EpisodeBrain(model, trainer.processing_class, max_new_tokens=max_new_tokens,
                                     temperature=temperature)
                final = Agent(config, brain=brain).run(prompt_text(p), store=MemoryStore(), rounds=rounds)
                rec = brain.record
                out["prompt_ids"].append(rec.prompt_ids)
                out["completion_ids"].append(rec.completion_ids)
                out["logprobs"].append(rec.logprobs)
                out["env_mask"].append(rec.env_mask)
                out["final_score"].append(float(final.score))
                out["reflection_accuracy"].append(rec.reflection_accuracy)
                out["policy_fallbacks"].append(rec.fallbacks)
        finally:
            model.train(was_training)
        return out

    return rollout
