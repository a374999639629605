"""Training: APO (distance-weighted Diffusion-DPO on diffusers LoRA) and, later, the planner trainers.

Heavy dependencies (torch, diffusers, peft, accelerate) load only when a trainer is used, so importing
`limner.train` stays cheap for the CLI and the sandbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from limner.train.apo_config import APOConfig
from limner.train.errors import APOConfigError, DatasetError

if TYPE_CHECKING:
    from limner.train.apo import APOTrainer, TrainOutput

__all__ = ["APOConfig", "APOConfigError", "APOTrainer", "DatasetError", "TrainOutput"]


def __getattr__(name: str) -> Any:
    """The trainer on first use: `limner.train.apo` imports torch, diffusers and peft (seconds)."""
    if name in ("APOTrainer", "TrainOutput"):
        from limner.train import apo  # noqa: PLC0415 - deferred: it imports torch/diffusers/peft

        return getattr(apo, name)
    raise AttributeError(f"module 'limner.train' has no attribute {name!r}")
