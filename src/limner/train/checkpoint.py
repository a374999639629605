"""Checkpoints of limner's trainers: where they are, and the optimizer state as safetensors + JSON.

Why not `torch.save`: a checkpoint may come from someone else (a shared run, a downloaded folder), and
unpickling it can run code. An optimizer's state is tensors per parameter (Adam's step and moments) plus
JSON-able hyper-parameters per group, so it splits cleanly into a safetensors file and a JSON list, and
`load_state_dict` takes it back bit-exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

__all__ = ["CHECKPOINT_PREFIX", "list_checkpoints", "load_optimizer", "save_optimizer"]

OPTIMIZER_FILE = "optimizer.safetensors"
#: a trainer's checkpoints are `<output_dir>/checkpoint-<step>/`, each with a `trainer_state.json` when complete
CHECKPOINT_PREFIX = "checkpoint-"


def save_optimizer(optimizer: torch.optim.Optimizer, directory: Path) -> list[dict[str, Any]]:
    """Write the optimizer's per-parameter tensors to `directory/optimizer.safetensors` (keys "pid.name") and
    return its param groups, for the caller to put in its JSON trainer state."""
    state = optimizer.state_dict()
    tensors = {f"{pid}.{name}": value.detach().cpu().contiguous().reshape(value.shape)
               for pid, per_param in state["state"].items() for name, value in per_param.items()
               if torch.is_tensor(value)}
    save_file(tensors, Path(directory) / OPTIMIZER_FILE)
    return state["param_groups"]


def load_optimizer(optimizer: torch.optim.Optimizer, directory: Path, param_groups: list[dict[str, Any]]) -> None:
    """Restore what `save_optimizer` wrote (with the param groups it returned) into `optimizer`."""
    restored: dict[str, Any] = {"state": {}, "param_groups": param_groups}
    for key, value in load_file(Path(directory) / OPTIMIZER_FILE).items():
        pid, name = key.split(".", 1)
        restored["state"].setdefault(int(pid), {})[name] = value
    optimizer.load_state_dict(restored)


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX)
             and p.name[len(CHECKPOINT_PREFIX):].isdigit() and (p / "trainer_state.json").is_file()]
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX):]))
