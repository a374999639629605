"""Training: APO (distance-weighted Diffusion-DPO on diffusers LoRA) and, later, the planner trainers.

Heavy dependencies (torch, diffusers, peft, accelerate) load only when a trainer is used, so importing
`limner.train` stays cheap for the CLI and the sandbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from limner.train.apo_config import APOConfig, APOConfigError

if TYPE_CHECKING:
    from limner.train.apo import APOTrainer, TrainOutput
    from limner.train.apo_data import DatasetError

__all__ = ["APOConfig", "APOConfigError", "APOTrainer", "DatasetError", "TrainOutput"]


def __getattr__(name: str) -> Any:
    if name in ("APOTrainer", "TrainOutput"):
        from limner.train import apo

        return getattr(apo, name)
    if name == "DatasetError":
        from limner.train.apo_data import DatasetError

        return DatasetError
    raise AttributeError(f"module 'limner.train' has no attribute {name!r}")
