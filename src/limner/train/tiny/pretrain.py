"""Pretraining the tiny pipeline on rendered scenes: v-prediction, EMA, resumable, capped in wall time.

Why capped in *wall time* as well as steps: on a shared 2-core machine the step rate varies 4× with the
load, and the experiment must finish on a budget; the log records how many steps the time bought.
Everything a resume needs is safetensors + JSON (no pickle): the weights, their EMA, the Adam moments and
the step; the batch of step n is a function of (seed, n), so a resumed run draws the same data.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from limner.files import atomic_write_text
from limner.train.apo_data import seed_for
from limner.train.checkpoint import load_optimizer, save_optimizer
from limner.train.tiny.model import TinyPipeline
from limner.train.tiny.world import Scene, caption, render, split_pairs

__all__ = ["PretrainConfig", "PretrainState", "images_to_tensor", "pretrain"]


@dataclass(frozen=True)
class PretrainConfig:
    out_dir: str
    max_steps: int = 6000
    max_minutes: float = 35.0
    batch_size: int = 32
    learning_rate: float = 1e-3
    warmup_steps: int = 200
    ema_decay: float = 0.999
    uncond_prob: float = 0.1  # prompt dropped this often, for classifier-free guidance
    save_every: int = 250
    snapshot_every: int = 1000  # an EMA pipeline kept at these steps (pick a base of the right strength)
    seed: int = 0


@dataclass
class PretrainState:
    step: int = 0
    seconds: float = 0.0  # training wall time over all sessions
    losses: list[float] | None = None


def images_to_tensor(images: list) -> torch.Tensor:
    """PIL images → (N, 3, H, W) in [−1, 1] (the same mapping as apo_data.load_image)."""
    arrays = np.stack([np.asarray(im.convert("RGB"), np.float32) for im in images])
    return torch.from_numpy(arrays).permute(0, 3, 1, 2) / 127.5 - 1.0


def _batch(train: list[Scene], step: int, cfg: PretrainConfig) -> tuple[torch.Tensor, list[str]]:
    rng = random.Random(seed_for(cfg.seed, "pretrain-batch", step))
    scenes = [rng.choice(train) for _ in range(cfg.batch_size)]
    images = [render(s, rng) for s in scenes]
    prompts = ["" if rng.random() < cfg.uncond_prob else caption(s, rng.choice(("left", "right")))
               for s in scenes]
    return images_to_tensor(images), prompts


def _params(pipe: TinyPipeline) -> dict[str, torch.nn.Parameter]:
    named = {f"unet.{k}": v for k, v in pipe.unet.named_parameters()}
    named.update({f"text.{k}": v for k, v in pipe.text_encoder.named_parameters()})
    return named


def _save(directory: Path, pipe: TinyPipeline, ema: dict[str, torch.Tensor], opt: torch.optim.Optimizer,
          state: PretrainState, cfg: PretrainConfig) -> None:
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    params = _params(pipe)
    save_file({k: v.detach().contiguous() for k, v in params.items()}, tmp / "weights.safetensors")
    save_file({k: v.contiguous() for k, v in ema.items()}, tmp / "ema.safetensors")
    param_groups = save_optimizer(opt, tmp)
    atomic_write_text(tmp / "state.json", json.dumps({**asdict(state), "optimizer_param_groups": param_groups,
                                                      "config": asdict(cfg)}))
    shutil.rmtree(directory, ignore_errors=True)
    tmp.rename(directory)


def _load(directory: Path, pipe: TinyPipeline, ema: dict[str, torch.Tensor], opt: torch.optim.Optimizer) -> PretrainState:
    params = _params(pipe)
    weights = load_file(directory / "weights.safetensors")
    with torch.no_grad():
        for k, p in params.items():
            p.copy_(weights[k])
        ema.update(load_file(directory / "ema.safetensors"))
    raw = json.loads((directory / "state.json").read_text())
    load_optimizer(opt, directory, raw["optimizer_param_groups"])
    return PretrainState(step=raw["step"], seconds=raw["seconds"], losses=raw.get("losses") or [])


def ema_pipeline(pipe: TinyPipeline, ema: dict[str, torch.Tensor]) -> TinyPipeline:
    """A copy of the pipeline holding the EMA weights (what is sampled and saved)."""
    copy = TinyPipeline.new()
    copy.scheduler = pipe.scheduler
    params = _params(copy)
    with torch.no_grad():
        for k, p in params.items():
            p.copy_(ema[k])
    return copy


def pretrain(cfg: PretrainConfig, *, log: Callable[[str], None] = print) -> Path:
    """Train (or resume) to `max_steps` or `max_minutes` of training time; returns the EMA pipeline dir.

    Writes `<out>/checkpoint/` (resumable), `<out>/pipeline/` (EMA weights, a TinyPipeline directory),
    `<out>/snapshots/step-N/` every `snapshot_every` steps and `<out>/log.jsonl`.
    """
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train, _ = split_pairs()
    pipe = TinyPipeline.new(cfg.seed)
    params = _params(pipe)
    ema = {k: v.detach().clone() for k, v in params.items()}
    opt = torch.optim.AdamW(list(params.values()), lr=cfg.learning_rate, weight_decay=0.0)
    state = PretrainState(losses=[])
    if (out / "checkpoint" / "state.json").is_file():
        state = _load(out / "checkpoint", pipe, ema, opt)
        log(f"resumed at step {state.step} ({state.seconds / 60:.1f} min trained)")
    scheduler = pipe.scheduler
    pipe.unet.train()
    pipe.text_encoder.train()
    started, base_seconds, window = time.monotonic(), state.seconds, []
    while state.step < cfg.max_steps and state.seconds < cfg.max_minutes * 60:
        x0, prompts = _batch(train, state.step, cfg)
        g = torch.Generator().manual_seed(seed_for(cfg.seed, "pretrain-noise", state.step))
        noise = torch.randn(x0.shape, generator=g)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (x0.shape[0],), generator=g)
        noisy = scheduler.add_noise(x0, noise, t)
        target = scheduler.get_velocity(x0, noise, t)
        ids = pipe.text_encoder.tokenize([p for p in prompts])
        pred = pipe.unet(noisy, t, encoder_hidden_states=pipe.text_encoder(ids)).sample
        loss = F.mse_loss(pred, target)
        lr = cfg.learning_rate * min(1.0, (state.step + 1) / cfg.warmup_steps)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
        opt.step()
        decay = min(cfg.ema_decay, (1 + state.step) / (10 + state.step))
        with torch.no_grad():
            for k, p in params.items():
                ema[k].mul_(decay).add_(p.detach(), alpha=1 - decay)
        state.step += 1
        state.seconds = base_seconds + time.monotonic() - started
        window.append(loss.item())
        if not math.isfinite(window[-1]):
            raise RuntimeError(f"pretraining diverged at step {state.step} (loss {window[-1]})")
        if state.step % cfg.save_every == 0:
            mean = sum(window) / len(window)
            state.losses = [*(state.losses or []), mean]
            window = []
            _save(out / "checkpoint", pipe, ema, opt, state, cfg)
            ema_pipeline(pipe, ema).save(out / "pipeline")
            with open(out / "log.jsonl", "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"step": state.step, "minutes": state.seconds / 60, "loss": mean}) + "\n")
            log(f"step {state.step}  loss {mean:.4f}  {state.seconds / 60:.1f} min")
            if state.step % cfg.snapshot_every == 0:
                ema_pipeline(pipe, ema).save(out / "snapshots" / f"step-{state.step}")
    _save(out / "checkpoint", pipe, ema, opt, state, cfg)
    ema_pipeline(pipe, ema).save(out / "pipeline")
    atomic_write_text(out / "done.json", json.dumps({"step": state.step, "minutes": state.seconds / 60}))
    log(f"pretraining stopped at step {state.step} after {state.seconds / 60:.1f} min")
    return out / "pipeline"
