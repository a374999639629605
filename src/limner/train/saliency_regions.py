"""The offline reasoning agent's classifier: a defect region (image crop + mask) → its category.

Agentic Retoucher reasons about each detected region with a fine-tuned VLM. Offline, limner trains a small
CNN on the blemish dataset's regions instead: the input is a square crop around the region (RGB plus the
region's mask as a fourth channel, with half the region's size again as context) and two scalars the crop
cannot show: the region's size relative to the image and whether the prompt asks for text. Masks are
dilated by a random radius during training, because at inference they come from the thresholded and
dilated saliency map, not from the exact ground truth.

    trainer = RegionTrainer(config)          # the SaliencyConfig's classifier_* fields
    out = trainer.train()                    # writes OUT/regions/{config.json, model.safetensors}
    clf = RegionClassifier.from_pretrained(OUT / "regions"); clf.classify(image, masks, prompt)
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn

from limner.files import atomic_write_json, atomic_write_text
from limner.train.errors import SaliencyConfigError
from limner.train.saliency_config import SaliencyConfig

__all__ = ["CONTEXTS", "RegionClassifier", "RegionTrainOutput", "RegionTrainer", "crop_region", "crops_of",
           "prompt_has_text", "region_features"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def prompt_has_text(prompt: str) -> bool:
    """Does the prompt ask for rendered text (a quoted word, or "says"/"text"/"reads")?"""
    p = prompt.lower()
    return '"' in p or " says " in p or " text" in p or " reads " in p


#: Crop sides relative to the region's box: close up (the defect's texture) and wide (what is next to it:
#: a ghost copy is told from a warp by the original beside it).
CONTEXTS: tuple[float, ...] = (1.5, 3.5)


def crop_region(image: np.ndarray, mask: np.ndarray, size: int, context: float = 1.5) -> np.ndarray:
    """(4, size, size) uint8: the square around the mask's box (× `context`), RGB and the mask."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return np.zeros((4, size, size), np.uint8)
    cx, cy = (xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2
    side = max(12.0, context * max(xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()))
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    s = round(side)
    pad = s
    rgba = np.concatenate([image, (mask.astype(np.uint8) * 255)[..., None]], axis=-1)
    padded = cv2.copyMakeBorder(rgba, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    crop = padded[y0 + pad:y0 + pad + s, x0 + pad:x0 + pad + s]
    crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop.transpose(2, 0, 1))


def crops_of(image: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    """The classifier's input: one crop per context in `CONTEXTS`, stacked on the channel axis."""
    return np.concatenate([crop_region(image, mask, size, c) for c in CONTEXTS])


def region_features(mask: np.ndarray, prompt: str) -> np.ndarray:
    """The scalars beside the crop: sqrt of the area share, box aspect (log), prompt asks for text."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return np.zeros(3, np.float32)
    bw, bh = xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()
    return np.asarray([np.sqrt(mask.mean()) * 4, np.log(bw / bh), float(prompt_has_text(prompt))], np.float32)


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(4, cout), nn.GELU())


class RegionClassifier(nn.Module):
    """A small CNN over (crop, features) → logits over `categories`."""

    def __init__(self, categories: list[str], crop_size: int = 32, width: int = 32) -> None:
        super().__init__()
        self.categories, self.crop_size, self.width = list(categories), crop_size, width
        w = width
        self.body = nn.Sequential(_block(4 * len(CONTEXTS), w, 1), _block(w, w, 2), _block(w, 2 * w, 2), _block(2 * w, 3 * w, 2))
        self.head = nn.Sequential(nn.Linear(6 * w + 3, 64), nn.GELU(), nn.Linear(64, len(categories)))

    def forward(self, crops: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        h = self.body(crops)
        pooled = torch.cat([h.mean((2, 3)), h.amax((2, 3)), feats], dim=1)
        return self.head(pooled)

    @torch.no_grad()
    def classify(self, image: Image.Image, masks: list[np.ndarray], prompt: str) -> list[tuple[str, float]]:
        """(category, probability) for each region mask (full-image booleans) of `image`."""
        if not masks:
            return []
        self.eval()
        arr = np.asarray(image.convert("RGB"))
        crops = torch.from_numpy(np.stack([crops_of(arr, m, self.crop_size) for m in masks])).float() / 255
        feats = torch.from_numpy(np.stack([region_features(m, prompt) for m in masks]))
        probs = F.softmax(self(crops, feats), dim=1)
        best = probs.max(dim=1)
        return [(self.categories[int(i)], float(p)) for p, i in zip(best.values, best.indices, strict=True)]

    def save_pretrained(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{WEIGHTS_NAME}.tmp"
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, tmp)
        tmp.replace(directory / WEIGHTS_NAME)
        atomic_write_text(directory / CONFIG_NAME, json.dumps(
            {"categories": self.categories, "crop_size": self.crop_size, "width": self.width}, indent=1) + "\n")
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> RegionClassifier:
        directory = Path(directory)
        if not (directory / CONFIG_NAME).is_file() or not (directory / WEIGHTS_NAME).is_file():
            raise FileNotFoundError(f"{directory} holds no region classifier ({CONFIG_NAME} + {WEIGHTS_NAME})")
        cfg = json.loads((directory / CONFIG_NAME).read_text(encoding="utf-8"))
        model = cls(cfg["categories"], cfg["crop_size"], cfg["width"])
        model.load_state_dict(load_file(directory / WEIGHTS_NAME))
        return model.eval()


def _rle_mask(region: dict[str, Any], w: int, h: int) -> np.ndarray:
    x0, y0, x1, y1 = region["box"]
    values = np.zeros(len(region["rle"]), dtype=bool)
    values[1::2] = True
    out = np.zeros((h, w), bool)
    out[y0:y1, x0:x1] = np.repeat(values, region["rle"]).reshape(y1 - y0, x1 - x0)
    return out


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0:
        return mask
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), k) > 0


def region_examples(data_dir: str | Path, split: str, crop_size: int, *, radius: tuple[int, int] = (1, 4),
                    seed: int = 0, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Crops (N, 4·contexts, S, S) uint8, features (N, 3) and categories of every region of a split's images."""
    import pyarrow.parquet as pq  # noqa: PLC0415 - optional (the train extra)

    path = Path(data_dir) / f"{split}.parquet"
    if not path.is_file():
        raise SaliencyConfigError(f"{path} not found: build the data with `limner data blemish --out {data_dir}`")
    table = pq.read_table(path, columns=["prompt", "image", "regions"])
    n = table.num_rows if limit is None else min(limit, table.num_rows)
    rng = np.random.default_rng([seed, 31])
    crops, feats, cats = [], [], []
    for row in table.slice(0, n).to_pylist():
        arr = np.asarray(Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB"))
        h, w = arr.shape[:2]
        for region in json.loads(row["regions"]):
            m = dilate(_rle_mask(region, w, h), int(rng.integers(radius[0], radius[1] + 1)))
            crops.append(crops_of(arr, m, crop_size))
            feats.append(region_features(m, row["prompt"] or ""))
            cats.append(region["category"])
    if not crops:
        return np.zeros((0, 4 * len(CONTEXTS), crop_size, crop_size), np.uint8), np.zeros((0, 3), np.float32), []
    return np.stack(crops), np.stack(feats), cats


@dataclass
class RegionTrainOutput:
    model_dir: Path
    steps: int
    train_minutes: float
    val_accuracy: float
    categories: list[str]


class RegionTrainer:
    """Cross-entropy on the train split's regions (two dilation draws per region); accuracy on val."""

    def __init__(self, config: SaliencyConfig, categories: list[str] | None = None) -> None:
        self.config = config
        torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed + 1)
        parts = [region_examples(config.data_dir, "train", config.crop_size, seed=config.seed + k)
                 for k in range(config.classifier_draws)]
        self.crops = np.concatenate([p[0] for p in parts])
        self.feats = np.concatenate([p[1] for p in parts])
        labels = [c for p in parts for c in p[2]]
        if not labels:
            raise SaliencyConfigError(f"{config.data_dir}: the train split has no regions to learn categories from")
        self.categories = categories or sorted(set(labels))
        index = {c: i for i, c in enumerate(self.categories)}
        self.labels = np.asarray([index[c] for c in labels])
        vc, vf, vcat = region_examples(config.data_dir, "val", config.crop_size, radius=(2, 2), seed=config.seed)
        keep = [i for i, c in enumerate(vcat) if c in index]
        self.val = (vc[keep], vf[keep], np.asarray([index[vcat[i]] for i in keep], dtype=np.int64))
        self.model = RegionClassifier(self.categories, config.crop_size, config.classifier_width)

    def accuracy(self, crops: np.ndarray, feats: np.ndarray, labels: np.ndarray) -> float:
        if len(labels) == 0:
            return float("nan")
        self.model.eval()
        with torch.no_grad():
            pred = [self.model(torch.from_numpy(crops[i:i + 256]).float() / 255,
                               torch.from_numpy(feats[i:i + 256])).argmax(1).numpy()
                    for i in range(0, len(labels), 256)]
        return float((np.concatenate(pred) == labels).mean())

    def train(self, on_step: Callable[[int, dict[str, float] | None], None] | None = None) -> RegionTrainOutput:
        cfg = self.config
        opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.classifier_lr, weight_decay=1e-4)
        steps = cfg.classifier_steps
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.classifier_lr, total_steps=max(1, steps))
        rng = np.random.default_rng([cfg.seed, 37])
        t0, c0 = time.perf_counter(), time.process_time()
        self.model.train()
        for step in range(1, steps + 1):
            idx = rng.integers(0, len(self.labels), cfg.classifier_batch_size)
            x = torch.from_numpy(self.crops[idx]).float() / 255
            if rng.random() < 0.5:  # mirror: defects have no handedness (text crops mirror too, rarely matters)
                x = x.flip(3)
            logits = self.model(x, torch.from_numpy(self.feats[idx]))
            loss = F.cross_entropy(logits, torch.from_numpy(self.labels[idx]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if on_step is not None:
                on_step(step, {"loss": float(loss.detach())})
        minutes, cpu_minutes = (time.perf_counter() - t0) / 60, (time.process_time() - c0) / 60
        acc = self.accuracy(*self.val)
        model_dir = self.model.save_pretrained(Path(cfg.output_dir) / "regions")
        atomic_write_json(Path(cfg.output_dir) / "regions_metrics.json",
                          {"val_accuracy": acc, "steps": steps, "train_minutes": minutes, "train_cpu_minutes": cpu_minutes,
                           "train_regions": len(self.labels) // self.config.classifier_draws, "categories": self.categories})
        return RegionTrainOutput(model_dir=model_dir, steps=steps, train_minutes=minutes, val_accuracy=acc,
                                 categories=self.categories)
