"""Perception: where does the image look broken? A distortion-saliency map S ∈ [0,1]^{H×W}.

`Perceiver` wraps the trained model (`limner.train.saliency_model`, trained by `limner train saliency`)
for one image at a time, at the image's own size; `classical_saliency` is the baseline the benchmark
compares it with (local variance and edge energy: what a detector without learning can see).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

__all__ = ["DEFAULT_THRESHOLD", "Perceiver", "RetouchModelError", "classical_saliency", "defect_score"]

#: τ_s when the model carries none (a model trained by `limner train saliency` carries its own).
DEFAULT_THRESHOLD = 0.5


class RetouchModelError(RuntimeError):
    """The retoucher's weights cannot be loaded (missing folder, wrong files, torch not installed)."""


class Perceiver:
    """The saliency model of a `limner train saliency` output folder (its `model/` subfolder, or itself)."""

    def __init__(self, model: Any, threshold: float | None = None) -> None:
        self.model = model
        self.threshold = float(threshold if threshold is not None else
                               (model.config.threshold if model.config.threshold is not None else DEFAULT_THRESHOLD))

    @classmethod
    def load(cls, directory: str | Path, threshold: float | None = None, threads: int | None = None) -> Perceiver:
        try:
            import torch  # noqa: PLC0415 - optional (the train extra): only a trained perceiver needs it

            from limner.train.saliency_model import SaliencyModel  # noqa: PLC0415 - imports torch
        except ImportError as e:
            raise RetouchModelError(f"the retoucher needs torch and safetensors (pip install 'limner[train]'): {e}") from None
        if threads is not None:
            torch.set_num_threads(threads)
        directory = Path(directory)
        path = directory / "model" if (directory / "model").is_dir() else directory
        try:
            return cls(SaliencyModel.from_pretrained(path), threshold)
        except (FileNotFoundError, ValueError, OSError) as e:
            raise RetouchModelError(str(e).splitlines()[0]) from None

    def __call__(self, image: Image.Image, prompt: str) -> np.ndarray:
        return self.model.predict([image.convert("RGB")], [prompt])[0]

    def batch(self, images: list[Image.Image], prompts: list[str]) -> list[np.ndarray]:
        return self.model.predict([im.convert("RGB") for im in images], prompts)


def defect_score(saliency: np.ndarray, threshold: float) -> float:
    """Saliency mass above τ_s per 1000 pixels: 0 for a clean image, larger for more and surer defects."""
    s = np.asarray(saliency, np.float64)
    return float(np.where(s > threshold, s, 0.0).sum() * 1000.0 / s.size)


def classical_saliency(image: Image.Image, window: int = 5) -> np.ndarray:
    """The classical baseline: local standard deviation of the grey image plus its Sobel edge magnitude,
    each scaled to [0, 1], averaged and smoothed. High where the picture is busy, which is where defects
    often are, and also where every outline and texture is."""
    g = np.asarray(image.convert("L"), np.float32) / 255.0
    mean = cv2.blur(g, (window, window))
    var = np.maximum(cv2.blur(g * g, (window, window)) - mean * mean, 0.0)
    std = np.sqrt(var)
    edges = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3))
    out = 0.5 * std / max(float(std.max()), 1e-6) + 0.5 * edges / max(float(edges.max()), 1e-6)
    return cv2.GaussianBlur(out, (0, 0), 1.0)
