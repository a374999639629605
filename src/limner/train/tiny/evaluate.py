"""Sampling and exact checking of the tiny pipeline: what the base model and every fine-tuned arm are
scored with, and where the model's own samples for preference pairs come from.

Evaluation is paired: every arm samples the same (prompt, seed) list, so the per-sample outcomes of two
arms can be differenced and the standard error of the gain is that of the paired differences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file

from limner.train.tiny.model import TEXT_ENCODER_WEIGHT_NAME, TinyPipeline
from limner.train.tiny.world import Scene, Verdict, caption, check

__all__ = ["Sample", "heldout_prompts", "load_lora", "mean_se", "paired_se", "sample_and_check", "save_grid",
           "to_images"]


@dataclass(frozen=True)
class Sample:
    prompt: str
    scene: Scene
    seed: int
    image: Image.Image
    verdict: Verdict


def heldout_prompts(scenes: list[Scene]) -> list[tuple[str, Scene]]:
    """One caption per scene, the wording alternating ('left of' / 'right of') by position."""
    return [(caption(s, "left" if i % 2 == 0 else "right"), s) for i, s in enumerate(scenes)]


def to_images(pixels: torch.Tensor) -> list[Image.Image]:
    """(N, 3, H, W) in [−1, 1] → RGB PIL images."""
    arrays = ((pixels.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return [Image.fromarray(np.ascontiguousarray(a)) for a in arrays]


def sample_and_check(pipe: TinyPipeline, prompts: list[tuple[str, Scene]], seeds: list[int], *,
                     steps: int = 20, guidance: float = 3.0) -> list[Sample]:
    """Every prompt × every seed, sampled in one batched pass and checked; ordered prompt-major."""
    flat = [(p, s, seed) for p, s in prompts for seed in seeds]
    pixels = pipe.sample([p for p, _, _ in flat], [seed for _, _, seed in flat], steps=steps, guidance=guidance)
    return [Sample(p, s, seed, im, check(im, s)) for (p, s, seed), im in zip(flat, to_images(pixels))]


def load_lora(pipe: TinyPipeline, lora_dir: str | Path, weight_name: str) -> TinyPipeline:
    """Attach an adapter `APOTrainer.save_lora` wrote (SD's `unet_lora_layers` format) to the pipeline's UNet,
    and the fine-tuned text encoder when the run trained one (`APOConfig.train_text_encoder`)."""
    pipe.unet.load_lora_adapter(str(lora_dir), weight_name=weight_name, prefix="unet", adapter_name="default")
    # diffusers builds adapters under accelerate's init_empty_weights, which patches torch globally: a model
    # loaded at the same time in another thread can leave the weights on the meta device (silently a no-op).
    lora = [p for name, p in pipe.unet.named_parameters() if "lora_" in name]
    if not lora or any(p.is_meta for p in lora):
        raise RuntimeError(f"the LoRA in {str(lora_dir)!r} did not load (load models one thread at a time)")
    with safe_open(Path(lora_dir) / weight_name, "pt") as saved:
        stored = sum(1 for key in saved.keys() if key.startswith("unet."))  # noqa: SIM118 - safe_open has no __iter__
    if stored != len(lora):  # a loader that skips keys it does not recognise gives a different model, silently
        raise RuntimeError(f"the LoRA in {str(lora_dir)!r} holds {stored} tensors but {len(lora)} were loaded")
    text = Path(lora_dir) / TEXT_ENCODER_WEIGHT_NAME  # written when the run trained the text encoder too
    if text.is_file():
        pipe.text_encoder.load_state_dict(load_file(text))
    return pipe


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and its standard error (sample standard deviation / √n)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def paired_se(after: list[float], before: list[float]) -> tuple[float, float]:
    """Mean gain and its standard error over paired outcomes (same prompt and seed)."""
    return mean_se([a - b for a, b in zip(after, before, strict=True)])


def save_grid(samples: list[Sample], path: Path, columns: int, scale: int = 3) -> Path:
    """A grid of samples (a green or red bar under each: the checker's verdict), as PNG."""
    size = samples[0].image.width * scale
    rows = math.ceil(len(samples) / columns)
    grid = Image.new("RGB", (columns * (size + 2), rows * (size + 6)), (40, 40, 40))
    for i, sample in enumerate(samples):
        x, y = (i % columns) * (size + 2), (i // columns) * (size + 6)
        grid.paste(sample.image.resize((size, size), Image.Resampling.NEAREST), (x, y))
        bar = Image.new("RGB", (size, 3), (40, 200, 60) if sample.verdict.correct else (220, 40, 40))
        grid.paste(bar, (x, y + size + 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)
    return path
