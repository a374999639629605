"""`SaliencyTrainer`: trains the distortion-saliency model (`saliency_model.py`) on a blemish dataset.

    trainer = SaliencyTrainer(SaliencyConfig(data_dir="runs/blemish", output_dir="runs/saliency"))
    out = trainer.train()          # checkpoints, resume, val metrics; out.model_dir holds the final model

The split files are Parquet (`limner.data.blemish`); this module reads them with pyarrow directly, since the
training layer sits below the data package. Data order and prompt dropout are functions of (seed, step),
so a resumed run continues exactly. Checkpoints are safetensors + JSON (no pickle), written atomically.
After training, τ_s is chosen on the validation split (best pixel F1 of `S > τ_s`) and stored in the
model's config, so the retoucher's reasoning step thresholds with the value this model was calibrated for.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file

from limner.files import atomic_write_json
from limner.train.checkpoint import CHECKPOINT_PREFIX, list_checkpoints, load_optimizer, save_optimizer
from limner.train.errors import SaliencyConfigError
from limner.train.saliency_config import SaliencyConfig
from limner.train.saliency_metrics import saliency_loss, saliency_metrics
from limner.train.saliency_model import SaliencyModel, SaliencyModelConfig

__all__ = ["CHECKPOINT_PREFIX", "SaliencyTrainOutput", "SaliencyTrainer", "SplitArrays", "category_maps",
           "choose_threshold",
           "finished_model", "list_checkpoints", "load_split"]

logger = logging.getLogger(__name__)


@dataclass
class SplitArrays:
    """One split in memory, at the model's resolution: images uint8 (N, 3, S, S), masks float (N, S, S)."""

    images: np.ndarray
    masks: np.ndarray
    prompts: list[str]
    regions: list[list[dict[str, Any]]]
    full_masks: list[np.ndarray]
    #: per image, the categories of the effects its prompt asked for (the `requested` column; [] without it)
    requested: list[list[str]] = field(default_factory=list)


def load_split(data_dir: str | Path, split: str, size: int, limit: int | None = None) -> SplitArrays:
    """Decode a split file. Masks are resized by area, so a 1-px defect stays a (fractional) target."""
    import pyarrow.parquet as pq  # noqa: PLC0415 - optional (the train extra)

    path = Path(data_dir) / f"{split}.parquet"
    if not path.is_file():
        raise SaliencyConfigError(f"{path} not found: build the data with `limner data blemish --out {data_dir}`")
    names = pq.read_schema(path).names
    table = pq.read_table(path, columns=["prompt", "image", "mask", "regions",
                                         *(["requested"] if "requested" in names else [])])
    n = table.num_rows if limit is None else min(limit, table.num_rows)
    if n == 0:
        raise SaliencyConfigError(f"{path} has no rows")
    images = np.zeros((n, 3, size, size), np.uint8)
    masks = np.zeros((n, size, size), np.float32)
    prompts, regions, full, requested = [], [], [], []
    for i, row in enumerate(table.slice(0, n).to_pylist()):
        img = Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB")
        m = Image.open(io.BytesIO(row["mask"]["bytes"])).convert("L")
        images[i] = np.asarray(img.resize((size, size), Image.BILINEAR)).transpose(2, 0, 1)
        masks[i] = np.asarray(m.resize((size, size), Image.BOX), np.float32) / 255.0
        full.append(np.asarray(m) > 127)
        prompts.append(row["prompt"] or "")
        regions.append(json.loads(row["regions"]))
        requested.append([r["category"] for r in json.loads(row.get("requested") or "[]")])
    return SplitArrays(images=images, masks=masks, prompts=prompts, regions=regions, full_masks=full,
                       requested=requested)


def category_maps(data: SplitArrays, categories: tuple[str, ...], size: int) -> np.ndarray:
    """Per pixel at the model's resolution, the index of the defect category painted there (-1: none;
    where defects overlap, the later one). The target of the prompt gate's category head."""
    index = {c: k for k, c in enumerate(categories)}
    out = np.full((len(data.images), size, size), -1, np.int64)
    for i, (regions, full) in enumerate(zip(data.regions, data.full_masks, strict=True)):
        h, w = full.shape
        for r in regions:
            if r["category"] not in index:
                continue
            x0, y0, x1, y1 = r["box"]
            values = np.zeros(len(r["rle"]), dtype=bool)
            values[1::2] = True
            m = np.zeros((h, w), bool)
            m[y0:y1, x0:x1] = np.repeat(values, r["rle"]).reshape(y1 - y0, x1 - x0)
            if (h, w) != (size, size):
                m = np.asarray(Image.fromarray(m.astype(np.uint8) * 255).resize((size, size), Image.NEAREST)) > 127
            out[i][m] = index[r["category"]]
    return out


def choose_threshold(maps: list[np.ndarray], masks: list[np.ndarray]) -> tuple[float, float]:
    """τ_s with the best pooled pixel F1 of `S > τ_s` against the masks, and that F1."""
    s = np.concatenate([m.ravel() for m in maps])
    g = np.concatenate([m.ravel() for m in masks]).astype(bool)
    best = (0.5, -1.0)
    for tau in np.arange(0.05, 0.96, 0.025):
        p = s > tau
        tp = float(np.sum(p & g))
        f1 = 2 * tp / max(1.0, float(p.sum() + g.sum()))
        if f1 > best[1]:
            best = (float(round(tau, 3)), f1)
    return best


@dataclass
class SaliencyTrainOutput:
    model_dir: Path
    global_step: int
    train_minutes: float
    metrics: dict[str, Any]


class SaliencyTrainer:
    """A config, a model, the data; `train()` runs to `max_steps` (or `max_minutes`) and saves the model."""

    def __init__(self, config: SaliencyConfig, model: SaliencyModel | None = None) -> None:
        self.config = config
        torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        self.output_dir = Path(config.output_dir)
        size = model.config.image_size if model is not None else config.image_size
        self.train_data = load_split(config.data_dir, "train", size, config.train_limit)
        self.val_data = load_split(config.data_dir, "val", size, config.val_limit)
        gate = tuple(sorted({r["category"] for rs in self.train_data.regions for r in rs})) if config.prompt_gate else ()
        self.model = model or SaliencyModel(SaliencyModelConfig(
            image_size=config.image_size, channels=config.channels, dim=config.dim,
            fusion_layers=config.fusion_layers, text_film=config.text_film, gate_categories=gate,
            image_encoder=config.image_encoder, text_encoder=config.text_encoder))
        self.model.to(config.device)
        cats = self.model.config.gate_categories
        self.train_categories = category_maps(self.train_data, cats, size) if cats else None
        # the gate's target: which categories each prompt asked for
        self.train_asked = np.asarray([[c in asked for c in cats] for asked in self.train_data.requested],
                                      np.float32).reshape(len(self.train_data.images), len(cats))
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.global_step = 0
        self.elapsed_s = 0.0
        self.cpu_s = 0.0  # this process's CPU time in training: the load-independent cost on a shared machine
        self.log_history: list[dict[str, Any]] = []
        if config.resume_from_checkpoint:
            self.load_checkpoint(self._resolve_checkpoint(config.resume_from_checkpoint))

    def _lr_factor(self, step: int) -> float:
        warm = self.config.warmup_steps
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(1, self.config.max_steps - warm)
        return 0.5 * (1 + np.cos(np.pi * min(1.0, progress)))

    def _batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, list[str], torch.Tensor | None, torch.Tensor]:
        """Batch `step`: epoch permutations and prompt dropout drawn from (seed, epoch/step)."""
        n, bs = len(self.train_data.images), self.config.batch_size
        per_epoch = max(1, n // bs)
        epoch, k = divmod(step, per_epoch)
        order = np.random.default_rng([self.config.seed, epoch]).permutation(n)
        idx = order[k * bs:(k + 1) * bs]
        drop = np.random.default_rng([self.config.seed, 1_000_003, step]).random(len(idx)) < self.config.prompt_dropout
        prompts = ["" if d else self.train_data.prompts[i] for i, d in zip(idx, drop, strict=True)]
        x = torch.from_numpy(self.train_data.images[idx]).float().div_(255)
        y = torch.from_numpy(self.train_data.masks[idx])
        c = None if self.train_categories is None else torch.from_numpy(self.train_categories[idx]).to(self.config.device)
        asked = torch.from_numpy(self.train_asked[idx]).to(self.config.device)
        return x.to(self.config.device), y.to(self.config.device), prompts, c, asked

    def train(self, on_step: Callable[[int, dict[str, float] | None], None] | None = None) -> SaliencyTrainOutput:
        cfg = self.config
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.model.train()
        t0 = time.perf_counter() - self.elapsed_s
        c0 = time.process_time() - self.cpu_s
        running: list[float] = []
        while self.global_step < cfg.max_steps:
            if cfg.max_minutes is not None and (time.perf_counter() - t0) / 60 >= cfg.max_minutes:
                logger.info("time budget of %.1f min reached at step %d", cfg.max_minutes, self.global_step)
                break
            x, y, prompts, cmap, asked = self._batch(self.global_step)
            logits, cat_logits, gate_logits = self.model(x, prompts, with_categories=True)
            loss = saliency_loss(torch.sigmoid(logits), y, cfg.alpha)
            if cat_logits is not None and cmap is not None and bool((cmap >= 0).any()):
                loss = loss + cfg.category_weight * F.cross_entropy(cat_logits, cmap, ignore_index=-1)
            if gate_logits is not None:
                loss = loss + cfg.gate_weight * F.binary_cross_entropy_with_logits(gate_logits, asked)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimizer.step()
            self.scheduler.step()
            self.global_step += 1
            running.append(float(loss.detach()))
            logs = None
            if self.global_step % cfg.eval_steps == 0 or self.global_step == cfg.max_steps:
                logs = {"step": self.global_step, "loss": float(np.mean(running)), **self.evaluate()}
                running = []
                self.log_history.append(logs)
                self.model.train()
            if self.global_step % cfg.save_steps == 0:
                self.elapsed_s, self.cpu_s = time.perf_counter() - t0, time.process_time() - c0
                self.save_checkpoint()
            if on_step is not None:
                on_step(self.global_step, logs if logs is not None else {"loss": running[-1]})
        self.elapsed_s, self.cpu_s = time.perf_counter() - t0, time.process_time() - c0
        return self.finish()

    @torch.no_grad()
    def predict_split(self, data: SplitArrays, prompts: list[str] | None = None, batch: int = 64) -> list[np.ndarray]:
        """S at the model's resolution for every image of a split (`prompts` replaces the split's)."""
        self.model.eval()
        prompts = data.prompts if prompts is None else prompts
        out: list[np.ndarray] = []
        for i in range(0, len(data.images), batch):
            x = torch.from_numpy(data.images[i:i + batch]).float().div_(255).to(self.config.device)
            out.extend(torch.sigmoid(self.model(x, prompts[i:i + batch])).cpu().numpy())
        return out

    def evaluate(self, data: SplitArrays | None = None) -> dict[str, float]:
        data = data or self.val_data
        maps = self.predict_split(data)
        return {f"val_{k}": v for k, v in saliency_metrics(maps, [m > 0 for m in data.masks]).items()}

    def finish(self) -> SaliencyTrainOutput:
        """Pick τ_s on the validation split, write the final model and `metrics.json`."""
        maps = self.predict_split(self.val_data)
        masks = [m > 0 for m in self.val_data.masks]
        tau, f1 = choose_threshold(maps, masks)
        self.model.config.threshold = tau
        model_dir = self.model.save_pretrained(self.output_dir / "model")
        metrics = {"step": self.global_step, "train_minutes": self.elapsed_s / 60,
                   "train_cpu_minutes": self.cpu_s / 60, "threshold": tau,
                   "val_pixel_f1": f1, **{f"val_{k}": v for k, v in saliency_metrics(maps, masks).items()},
                   "threads": self.config.threads, "train_images": len(self.train_data.images)}
        atomic_write_json(self.output_dir / "metrics.json", {"saliency": metrics, "log_history": self.log_history,
                                                             "config": self.config.to_dict()})
        return SaliencyTrainOutput(model_dir=model_dir, global_step=self.global_step,
                                   train_minutes=self.elapsed_s / 60, metrics=metrics)

    # -- checkpoints ------------------------------------------------------------------------------------

    def save_checkpoint(self) -> Path:
        """Weights, optimizer and schedule as safetensors + JSON, renamed into place when complete."""
        path = self.output_dir / f"{CHECKPOINT_PREFIX}{self.global_step}"
        tmp = self.output_dir / f".{path.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_file(self.model.trainable_state(), tmp / "model.safetensors")
        param_groups = save_optimizer(self.optimizer, tmp)
        state = {"global_step": self.global_step, "elapsed_s": self.elapsed_s, "cpu_s": self.cpu_s,
                 "optimizer_param_groups": param_groups, "scheduler": self.scheduler.state_dict(),
                 "log_history": self.log_history, "model_config": self.model.config.to_dict(),
                 "config": self.config.to_dict()}
        (tmp / "trainer_state.json").write_text(json.dumps(state, indent=1, default=list), encoding="utf-8")
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
        for old in list_checkpoints(self.output_dir)[:-self.config.save_total_limit]:
            shutil.rmtree(old)
        return path

    def _resolve_checkpoint(self, spec: str) -> Path:
        if spec == "latest":
            found = list_checkpoints(self.output_dir)
            if not found:
                raise SaliencyConfigError(f"resume_from_checkpoint='latest' but {self.output_dir} has no checkpoint")
            return found[-1]
        path = Path(spec)
        if not (path / "trainer_state.json").is_file():
            raise SaliencyConfigError(f"resume_from_checkpoint={spec!r} is not a checkpoint directory")
        return path

    def load_checkpoint(self, path: Path) -> None:
        state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
        weights = load_file(path / "model.safetensors")
        missing, unexpected = self.model.load_state_dict(weights, strict=False)
        if unexpected or any(not k.startswith(("text_backbone.", "image_backbone.")) for k in missing):
            raise SaliencyConfigError(f"checkpoint {path} does not match this model configuration")
        load_optimizer(self.optimizer, path, state["optimizer_param_groups"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.global_step = int(state["global_step"])
        self.elapsed_s = float(state.get("elapsed_s", 0.0))
        self.cpu_s = float(state.get("cpu_s", 0.0))
        self.log_history = list(state["log_history"])


def finished_model(config: SaliencyConfig) -> dict[str, Any] | None:
    """The saliency metrics of a finished run in `config.output_dir` (its model reached `max_steps`), or None."""
    path = Path(config.output_dir) / "metrics.json"
    if not path.is_file() or not (Path(config.output_dir) / "model" / "model.safetensors").is_file():
        return None
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))["saliency"]
    except (OSError, ValueError, KeyError):
        return None
    return metrics if int(metrics.get("step", 0)) >= config.max_steps else None

