"""A tiny APO setup for the trainer tests: a random `TinyPipeline` and a few preference pairs of the tiny
world (winner: a scene; loser: the same scene with its objects swapped, a binding error), and the trainer
config those tests share. Test-only, beside the tests (as `tiny_pipelines.py`)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from limner.train.apo_config import APOConfig
from limner.train.tiny.model import TinyPipeline
from limner.train.tiny.world import Scene, all_pairs, caption, render


def write_tiny_apo(root: Path, n_pairs: int = 4, *, masks: bool = False) -> dict[str, Path]:
    """Save the pipeline to `root/pipe` and `n_pairs` pairs to `root/data` (`pairs.jsonl`). Pair i has
    distance i + 1 with `masks` (and a difference mask: the left half), 2.0 without."""
    TinyPipeline.new(seed=0).save(root / "pipe")
    data = root / "data"
    data.mkdir()
    rng, rows = random.Random(0), []
    for i, scene in enumerate(all_pairs()[:n_pairs]):
        render(scene, rng).save(data / f"{i}_w.png")
        render(Scene(scene.right, scene.left), rng).save(data / f"{i}_l.png")  # a binding error
        row: dict[str, Any] = {"prompt": caption(scene), "winner": f"{i}_w.png", "loser": f"{i}_l.png",
                               "distance": float(i + 1) if masks else 2.0}
        if masks:
            mask = np.zeros((32, 32), np.uint8)
            mask[:, :16] = 255  # the left half differs
            Image.fromarray(mask).save(data / f"{i}_m.png")
            row["mask"] = f"{i}_m.png"
        rows.append(row)
    (data / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"root": root, "pipe": root / "pipe", "data": data}


def tiny_apo_config(tiny: dict[str, Path], out: str, **overrides: Any) -> APOConfig:
    """Two LoRA steps of batch 2 on CPU, output in `tiny["root"] / out`, one shared latent cache."""
    values = {"model": str(tiny["pipe"]), "data_dir": str(tiny["data"]), "output_dir": str(tiny["root"] / out),
              "cache_dir": str(tiny["root"] / "cache"), "lora_rank": 4, "learning_rate": 1e-3,
              "per_device_train_batch_size": 2, "max_steps": 2, "logging_steps": 1, "save_steps": 0,
              "use_cpu": True}
    return APOConfig(**{**values, **overrides})
