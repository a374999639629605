"""`PlannerConfig`: the knobs of the brain trainer (`limner.train.planner`), validated without loading a model.

One config for the three methods, as TRL's trainers take them: `sft` (trajectory SFT on the chat examples
of `limner.data.trajectories`), `dpo` (CAPO preference pairs of `limner.data.capo`) and `grpo` (agentic RL:
whole agent episodes as rollouts). LoRA is the default: a 135M–8B model trains on one CPU or GPU, and the
adapter is small to ship and to merge for serving.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from limner.train.errors import APOConfigError

__all__ = ["METHODS", "Method", "PlannerConfig", "PlannerConfigError"]

Method = Literal["sft", "dpo", "grpo"]
METHODS: tuple[str, ...] = get_args(Method)


class PlannerConfigError(APOConfigError):
    """A planner-training setting is wrong (the message names the field and the value)."""


@dataclass
class PlannerConfig:
    method: Method
    model: str  # a hub id, a local directory, or a .gguf file (dequantised by transformers)
    data_dir: str
    output_dir: str
    gguf_file: str | None = None  # with `model` a directory/id: the GGUF file inside it
    subsets: tuple[str, ...] = ("analyst", "reflection")  # SFT files read from data_dir (<name>.jsonl)
    lora: bool = True
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    target_modules: str | list[str] = "all-linear"
    learning_rate: float = 2e-4
    max_steps: int = 100
    num_train_epochs: float = 1.0
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    max_length: int = 512
    max_examples: int | None = None  # first N examples of each subset (seeded shuffle first)
    beta: float = 0.1  # DPO / GRPO KL coefficient
    num_generations: int = 4  # GRPO group size
    max_completion_length: int = 256  # GRPO: tokens of one episode beyond its prompt
    rounds: int = 2  # GRPO: agent rounds per episode
    reward_weights: tuple[float, float] = (1.0, 1.0)  # GRPO: (final-image score, reflection accuracy)
    logging_steps: int = 5
    save_steps: int | None = None
    seed: int = 0
    threads: int = 1  # torch threads (CPU)
    extra: dict[str, Any] = field(default_factory=dict)  # passed to TRL's config as is

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise PlannerConfigError(f"invalid planner config: method={self.method!r} must be one of {METHODS}")
        for name in ("lora_rank", "lora_alpha", "max_steps", "per_device_train_batch_size",
                     "gradient_accumulation_steps", "max_length", "num_generations", "max_completion_length",
                     "rounds", "logging_steps", "threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise PlannerConfigError(f"invalid planner config: {name}={value!r} must be a positive integer")
        for name in ("learning_rate", "beta", "num_train_epochs"):
            if not getattr(self, name) > 0:
                raise PlannerConfigError(f"invalid planner config: {name}={getattr(self, name)!r} must be > 0")
        if self.method == "grpo" and self.num_generations < 2:
            raise PlannerConfigError("invalid planner config: num_generations must be ≥ 2 for GRPO (a group)")
        if not Path(self.data_dir).is_dir() and self.method != "grpo":
            raise PlannerConfigError(f"invalid planner config: data_dir={self.data_dir!r} is not a directory")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
