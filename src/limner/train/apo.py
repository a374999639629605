"""`APOTrainer`: AgentComp's Agent Preference Optimization on LoRA weights of a diffusers denoiser.

APO is Diffusion-DPO with β scaled per pair by the compositional distance (losses.py has the equation).
One trainer covers the two ways diffusers models are trained:

- ε / v-prediction UNets (SD 1.x/2.x, SDXL with its pooled embeds and added time ids): DDPM noising,
  uniform integer timesteps, target ε (or v).
- limner's tiny pixel-space pipeline (limner.train.tiny, family "pixel"): a UNet like SD's on raw pixels,
  no VAE, a small word-level text encoder; what docs/apo_proof.md trains from scratch on a CPU.
- flow matching transformers (SD3/3.5, FLUX): z_t = (1−σ)·x0 + σ·noise, target noise − x0, timesteps from
  the scheduler's sigmas under diffusers' SD3 densities and weightings; FLUX's guidance embedding is fixed
  (1.0 by default, as the paper requires).

Two switches make the baselines and the variant of docs/apo_proof.md with the same data, steps and seeds:
`loss_type="sft"` (plain fine-tuning on the winners), `beta_schedule="constant"` (Diffusion-DPO) and
`loss_mask=True` (the denoising error counted only where winner and loser differ).

The winner and the loser of a pair share noise and timestep. The reference is the same network with the
adapter disabled, run under no_grad, so no second copy of the weights is held. The VAE and the text
encoders run once (apo_data.py caches their outputs as safetensors) and are freed before training — except
the tiny pipeline's word encoder under `train_text_encoder`, which trains beside the LoRA (the reference
keeps its cached, frozen embeddings).

Run it (the same code under one process or `accelerate launch`):

    limner train apo --data pairs/ --model stabilityai/stable-diffusion-xl-base-1.0 --out runs/apo --config apo.yaml
    accelerate launch --num_processes 8 -m limner.train.cli apo --data pairs/ --model ... --out ...
"""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import diffusers
import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs
from diffusers import DDPMScheduler, DiffusionPipeline, FlowMatchEulerDiscreteScheduler, FluxPipeline
from diffusers.optimization import get_scheduler
from diffusers.training_utils import (
    cast_training_params,
    compute_density_for_timestep_sampling,
    compute_loss_weighting_for_sd3,
)
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict
from safetensors.torch import load_file, save_file

from limner.train.apo_config import APOConfig, APOConfigError
from limner.train.apo_data import (
    CachedPairDataset,
    DatasetError,
    Family,
    LatentCache,
    PairBatchSampler,
    build_cache,
    cache_fingerprint,
    collate,
    find_manifest,
    load_pairs,
    seed_for,
)
from limner.train.checkpoint import CHECKPOINT_PREFIX, list_checkpoints, load_optimizer, save_optimizer
from limner.train.losses import apo_loss, distance_scale, implicit_accuracy
from limner.train.tiny.model import PIPELINE_CLASS as TINY_PIPELINE
from limner.train.tiny.model import TEXT_ENCODER_WEIGHT_NAME, TinyPipeline, TinyTextEncoder

logger = logging.getLogger(__name__)

# Pipeline class → (family, denoiser component). Anything else is refused with the list below.
SUPPORTED_PIPELINES: dict[str, tuple[Family, str]] = {
    "StableDiffusionPipeline": ("sd", "unet"),
    "StableDiffusionXLPipeline": ("sdxl", "unet"),
    "StableDiffusion3Pipeline": ("sd3", "transformer"),
    "FluxPipeline": ("flux", "transformer"),
    TINY_PIPELINE: ("pixel", "unet"),
}
# The diffusers class whose LoRA format a family's adapter is saved in (its own pipeline class otherwise):
# the tiny pipeline's UNet is a UNet2DConditionModel, so SD's `unet_lora_layers` format fits it.
LORA_FORMAT = {"pixel": "StableDiffusionPipeline"}
WEIGHT_DTYPES = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
LORA_WEIGHT_NAME = "pytorch_lora_weights.safetensors"
TEXT_PREFIX = "text_encoder."  # its parameters' names in a checkpoint's adapter.safetensors


@dataclass
class TrainOutput:
    global_step: int
    lora_dir: Path
    log_history: list[dict[str, float]] = field(default_factory=list)


@contextmanager
def adapter_disabled(model: Any) -> Iterator[None]:
    """The reference network: the same weights with the LoRA branch switched off."""
    model.disable_adapters()
    try:
        yield
    finally:
        model.enable_adapters()


def pack_latents(latents: torch.Tensor) -> torch.Tensor:
    """FLUX token layout: (B, C, H, W) → (B, H/2·W/2, 4C), one token per 2×2 latent patch."""
    b, c, h, w = latents.shape
    x = latents.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5)  # (B, H/2, W/2, C, 2, 2)
    return x.reshape(b, (h // 2) * (w // 2), c * 4)


def unpack_latents(tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Inverse of `pack_latents`: (B, H/2·W/2, 4C) → (B, C, H, W)."""
    b, _, c4 = tokens.shape
    x = tokens.view(b, height // 2, width // 2, c4 // 4, 2, 2).permute(0, 3, 1, 4, 2, 5)  # (B, C, H/2, 2, W/2, 2)
    return x.reshape(b, c4 // 4, height, width)


def read_model_index(config: APOConfig) -> tuple[str, Family, str, dict[str, Any]]:
    """Pipeline class name, family, denoiser component name and the model index (no weights loaded)."""
    try:
        index = DiffusionPipeline.load_config(config.model, revision=config.revision)
    except Exception as err:  # noqa: BLE001 - hub/file errors come in many types; the message is what matters
        raise APOConfigError(f"model={config.model!r} is not a diffusers pipeline directory or id: {err}") from None
    class_name = index.get("_class_name", "")
    if class_name not in SUPPORTED_PIPELINES:
        raise APOConfigError(f"model={config.model!r} is a {class_name or 'unknown'} pipeline; APO supports "
                             f"{sorted(SUPPORTED_PIPELINES)}")
    family, denoiser = SUPPORTED_PIPELINES[class_name]
    if config.train_text_encoder and family != "pixel":
        raise APOConfigError(f"train_text_encoder=True is implemented for limner's tiny pixel pipeline only, not "
                             f"{class_name} (its text encoders are large and frozen in the papers' recipes)")
    if family in ("sd3", "flux") and tuple(config.timestep_fraction) != (0.0, 1.0):
        raise APOConfigError(f"timestep_fraction={config.timestep_fraction!r} applies to DDPM families only; "
                             f"{class_name} draws its timesteps by weighting_scheme")
    return class_name, family, denoiser, index


class APOTrainer:
    """Trains a LoRA on the denoiser with the APO loss. See the module docstring for the method.

    Construction validates the data, builds (or reuses) the cache, loads the denoiser alone, attaches
    the adapter and, if asked, restores a checkpoint; `train()` runs to `config.max_steps`.
    """

    def __init__(self, config: APOConfig, accelerator: Any | None = None) -> None:
        config.check_paths()
        self.config = config
        self.output_dir = Path(config.output_dir)
        self.accelerator = accelerator or Accelerator(
            mixed_precision=config.mixed_precision,
            cpu=config.use_cpu,
            log_with=None if config.report_to == "none" else config.report_to,
            project_dir=str(self.output_dir),
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=False)],
        )
        self.weight_dtype = WEIGHT_DTYPES[config.mixed_precision]
        self.global_step = 0
        self.log_history: list[dict[str, float]] = []

        # 1. Validate the data, then read the model index (both cheap; local mistakes fail before any
        #    network look-up of a model id or anything heavy loads).
        self.pairs = load_pairs(config.data_dir, resolution=config.resolution,
                                require_distance=config.loss_type == "apo" and config.beta_schedule != "constant",
                                require_mask=config.loss_mask)
        self.pipeline_class_name, self.family, self.denoiser_name, self.model_index = read_model_index(config)
        # 2. Encode images and prompts once; the VAE and text encoders are freed afterwards.
        self.cache = self._prepare_cache()
        # 3. The denoiser alone, frozen, with a trainable LoRA.
        self.denoiser = self._load_denoiser()
        self.noise_scheduler = self._load_noise_scheduler()
        self.text_encoder = self._load_text_encoder()  # None unless train_text_encoder
        self.trainable = [p for p in self.denoiser.parameters() if p.requires_grad]
        groups: list[dict[str, Any]] = [{"params": list(self.trainable)}]
        if self.text_encoder is not None:
            text_params = list(self.text_encoder.parameters())
            self.trainable += text_params
            groups.append({"params": text_params, "lr": config.text_encoder_learning_rate or config.learning_rate})
        # 4. Optimizer, schedule, accelerate wrapping, optional resume.
        self.optimizer = torch.optim.AdamW(
            groups, lr=config.learning_rate, betas=(config.adam_beta1, config.adam_beta2),
            eps=config.adam_epsilon, weight_decay=config.weight_decay,
        )
        self.lr_scheduler = get_scheduler(config.lr_scheduler, self.optimizer,
                                          num_warmup_steps=config.lr_warmup_steps,
                                          num_training_steps=config.max_steps)
        self.text_model: Any = None
        if self.text_encoder is None:
            self.model, self.optimizer = self.accelerator.prepare(self.denoiser, self.optimizer)
        else:
            self.model, self.text_model, self.optimizer = self.accelerator.prepare(
                self.denoiser, self.text_encoder, self.optimizer)
        if config.resume_from_checkpoint:
            self.load_checkpoint(self._resolve_checkpoint(config.resume_from_checkpoint))
        if config.report_to != "none":
            self.accelerator.init_trackers("limner-apo", config=config.to_dict())

    # --- setup ----------------------------------------------------------------------------------------
    def _prepare_cache(self) -> LatentCache:
        cfg, acc = self.config, self.accelerator
        fingerprint = cache_fingerprint(find_manifest(cfg.data_dir), {
            "model": cfg.model, "revision": cfg.revision, "variant": cfg.variant, "family": self.family,
            "resolution": cfg.resolution, "max_sequence_length": cfg.max_sequence_length,
            "text_dtype": str(self.weight_dtype),
            # pixel text files hold the token ids since the text encoder can train (older caches rebuild)
            **({"text_files": "embeds+ids"} if self.family == "pixel" else {}),
        })
        cache = LatentCache(cfg.cache_dir or self.output_dir / "cache", fingerprint)
        complete = cache.is_complete(len(self.pairs))
        acc.wait_for_everyone()  # every rank decides before any rank writes
        if complete:
            logger.info("using the cache in %s", cache.dir)
            return cache

        logger.info("building the cache in %s (%d pairs)", cache.dir, len(self.pairs))
        pipe = self._encoding_pipeline()
        build_cache(cache, self.pairs, pipe, self.family, resolution=cfg.resolution,
                    batch_size=cfg.encode_batch_size, max_sequence_length=cfg.max_sequence_length,
                    rank=acc.process_index, world_size=acc.num_processes,
                    progress=lambda done, total: logger.debug("cache %d/%d", done, total))
        del pipe
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        acc.wait_for_everyone()
        if acc.is_main_process:
            cache.mark_complete(len(self.pairs), len({p.prompt for p in self.pairs}))
        acc.wait_for_everyone()
        return cache

    def _encoding_pipeline(self) -> Any:
        """The pipeline without its denoiser: what encodes images and prompts for the cache."""
        cfg = self.config
        if self.family == "pixel":
            pipe = TinyPipeline.load(cfg.model)
            pipe.unet.to(self.accelerator.device)  # only its device is read: the tiny UNet is small
            pipe.text_encoder.to(self.accelerator.device)
            return pipe
        # Skip loading the denoiser, except for an SD3 without T5: it reads the transformer config then.
        sd3_without_t5 = self.family == "sd3" and not (self.model_index.get("text_encoder_3") or [None])[0]
        pipe = DiffusionPipeline.from_pretrained(
            cfg.model, revision=cfg.revision, variant=cfg.variant, dtype=self.weight_dtype,
            **({} if sd3_without_t5 else {self.denoiser_name: None}),
        )
        pipe.to(self.accelerator.device)
        pipe.vae.to(torch.float32)  # encode in full precision: fp16 SDXL VAEs overflow, and it runs once
        return pipe

    def _load_denoiser(self) -> Any:
        cfg = self.config
        class_name = self.model_index[self.denoiser_name][1]
        denoiser = getattr(diffusers, class_name).from_pretrained(
            cfg.model, subfolder=self.denoiser_name, revision=cfg.revision, variant=cfg.variant,
            dtype=self.weight_dtype,
        )
        denoiser.requires_grad_(False)
        denoiser.to(self.accelerator.device)
        torch.manual_seed(seed_for(cfg.seed, "lora-init"))  # the same A matrices on every rank
        lora = LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha or cfg.lora_rank,
                          lora_dropout=cfg.lora_dropout, init_lora_weights="gaussian",
                          target_modules=list(cfg.lora_target_modules))
        try:
            denoiser.add_adapter(lora)
        except ValueError as err:
            raise APOConfigError(f"lora_target_modules={cfg.lora_target_modules!r} do not fit {class_name}: "
                                 f"{err}") from None
        if self.weight_dtype != torch.float32:
            cast_training_params(denoiser, dtype=torch.float32)  # LoRA weights train in fp32
        if cfg.gradient_checkpointing:
            denoiser.enable_gradient_checkpointing()
        denoiser.train()
        return denoiser

    def _load_text_encoder(self) -> TinyTextEncoder | None:
        """The tiny pipeline's word encoder, trainable in fp32, when `train_text_encoder` (else None)."""
        if not self.config.train_text_encoder:
            return None
        encoder = TinyTextEncoder.load(Path(self.config.model) / "text_encoder")
        encoder.to(self.accelerator.device)
        encoder.requires_grad_(True)
        encoder.train()
        return encoder

    def _load_noise_scheduler(self) -> Any:
        kind = FlowMatchEulerDiscreteScheduler if self.family in ("sd3", "flux") else DDPMScheduler
        scheduler = kind.from_pretrained(self.config.model, subfolder="scheduler", revision=self.config.revision)
        if kind is DDPMScheduler and scheduler.config.prediction_type not in ("epsilon", "v_prediction"):
            raise APOConfigError(f"prediction_type={scheduler.config.prediction_type!r} is not supported; "
                                 f"APO trains 'epsilon' or 'v_prediction' UNets")
        return scheduler

    @property
    def unwrapped(self) -> Any:
        return self.accelerator.unwrap_model(self.model)

    # --- the loss -------------------------------------------------------------------------------------
    def _draw(self, draw_ids: torch.Tensor, latent_shape: torch.Size) -> tuple[torch.Tensor, torch.Tensor]:
        """Noise and timestep variable per sample, seeded by its draw id: independent of rank and batching."""
        cfg, noises, draws = self.config, [], []
        for draw_id in draw_ids.tolist():
            generator = torch.Generator().manual_seed(seed_for(cfg.seed, "draw", draw_id))
            noises.append(torch.randn(latent_shape, generator=generator))
            if self.family in ("sd3", "flux"):
                draws.append(compute_density_for_timestep_sampling(
                    cfg.weighting_scheme, 1, logit_mean=cfg.logit_mean, logit_std=cfg.logit_std,
                    mode_scale=cfg.mode_scale, generator=generator))
            else:
                n = self.noise_scheduler.config.num_train_timesteps
                low, high = (round(f * n) for f in cfg.timestep_fraction)
                draws.append(torch.randint(low, max(low + 1, high), (1,), generator=generator).float())
        device = self.accelerator.device
        return torch.stack(noises).to(device), torch.cat(draws).to(device)

    def _noisy_inputs(
        self, x0: torch.Tensor, noise: torch.Tensor, draw: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(noisy latents, model timesteps, regression target, per-sample loss weight or None)."""
        scheduler = self.noise_scheduler
        if self.family in ("sd", "sdxl", "pixel"):
            timesteps = draw.long()
            noisy = scheduler.add_noise(x0, noise, timesteps)
            if scheduler.config.prediction_type == "epsilon":
                target = noise
            else:
                target = scheduler.get_velocity(x0, noise, timesteps)
            return noisy, timesteps, target, None
        # Flow matching: u ∈ [0, 1) picks a training sigma of the scheduler (shift already applied).
        n = scheduler.config.num_train_timesteps
        index = (draw * n).long().clamp(0, n - 1).cpu()
        sigmas = scheduler.sigmas[index].to(x0.device, torch.float32).view(-1, 1, 1, 1)
        timesteps = scheduler.timesteps[index].to(x0.device)
        noisy = (1.0 - sigmas) * x0 + sigmas * noise
        target = noise - x0
        weighting = compute_loss_weighting_for_sd3(self.config.weighting_scheme, sigmas)
        return noisy, timesteps, target, weighting

    def _predict(self, model: Any, noisy: torch.Tensor, timesteps: torch.Tensor,
                 cond: dict[str, torch.Tensor]) -> torch.Tensor:
        noisy = noisy.to(self.weight_dtype)
        embeds = cond["prompt_embeds"].to(self.weight_dtype)
        if self.family in ("sd", "pixel"):
            return model(noisy, timesteps, encoder_hidden_states=embeds).sample
        if self.family == "sdxl":
            added = {"text_embeds": cond["pooled_prompt_embeds"].to(self.weight_dtype),
                     "time_ids": cond["time_ids"].to(self.weight_dtype)}
            return model(noisy, timesteps, encoder_hidden_states=embeds, added_cond_kwargs=added).sample
        pooled = cond["pooled_prompt_embeds"].to(self.weight_dtype)
        if self.family == "sd3":
            return model(hidden_states=noisy, timestep=timesteps, encoder_hidden_states=embeds,
                         pooled_projections=pooled, return_dict=False)[0]
        # FLUX: 2×2 patches as tokens, positional ids for image and text, timestep in [0, 1].
        b, _, h, w = noisy.shape
        image_ids = FluxPipeline._prepare_latent_image_ids(b, h // 2, w // 2, noisy.device, self.weight_dtype)
        text_ids = torch.zeros(embeds.shape[1], 3, device=noisy.device, dtype=self.weight_dtype)
        guidance = None
        if self.unwrapped.config.guidance_embeds:
            guidance = torch.full((b,), self.config.guidance_scale, device=noisy.device, dtype=torch.float32)
        tokens = model(hidden_states=pack_latents(noisy), timestep=timesteps / 1000, guidance=guidance,
                       pooled_projections=pooled, encoder_hidden_states=embeds, txt_ids=text_ids,
                       img_ids=image_ids, return_dict=False)[0]
        return unpack_latents(tokens, h, w)

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """APO loss (or, with loss_type='sft', the winners' denoising loss) of one micro-batch of pairs and
        its detached statistics."""
        cfg, device = self.config, self.accelerator.device
        winners = batch["winner"].to(device, torch.float32)  # (B, C, h, w)
        losers = batch["loser"].to(device, torch.float32)
        b = winners.shape[0]
        noise, draw = self._draw(batch["draw_id"], winners.shape[1:])
        # Winner and loser share noise and timestep: stack them as one batch of 2B.
        x0 = torch.cat([winners, losers])
        noisy, timesteps, target, weighting = self._noisy_inputs(x0, noise.repeat(2, 1, 1, 1), draw.repeat(2))
        cond = {k: v.to(device).repeat(2, *([1] * (v.dim() - 1))) for k, v in batch.items()
                if k in ("prompt_embeds", "pooled_prompt_embeds", "time_ids")}

        with torch.no_grad(), adapter_disabled(self.unwrapped):
            reference = self._predict(self.unwrapped, noisy, timesteps, cond)  # frozen encoder: cached embeds
        if self.text_model is not None:
            if "input_ids" not in batch:
                raise DatasetError("train_text_encoder=True but the cached prompts carry no token ids (rebuild "
                                   "the cache)")
            embeds = self.text_model(batch["input_ids"].to(device))
            cond = {**cond, "prompt_embeds": embeds.repeat(2, 1, 1)}
        prediction = self._predict(self.model, noisy, timesteps, cond)

        mask = None
        if cfg.loss_mask:
            if "mask" not in batch:
                raise DatasetError("loss_mask=True but the cached pairs carry no mask (rebuild the cache)")
            mask = batch["mask"].to(device, torch.float32).repeat(2, 1, 1, 1)  # (2B, 1, h, w), both images

        def per_sample_mse(pred: torch.Tensor) -> torch.Tensor:
            error = (pred.float() - target.float()) ** 2
            if weighting is not None:
                error = weighting * error
            if mask is not None:
                error = error * mask  # still divided by the whole image below: β keeps its scale
            return error.mean(dim=(1, 2, 3))  # (2B,)

        mse, ref_mse = per_sample_mse(prediction), per_sample_mse(reference)
        beta = cfg.beta_base * distance_scale(batch["normalized_distance"].to(device), cfg.beta_schedule,
                                              cfg.beta_f_min, cfg.beta_f_max, cfg.beta_direction)
        out = apo_loss(mse[:b], mse[b:], ref_mse[:b], ref_mse[b:], beta)
        # SFT: the plain denoising loss of the winners; the preference statistics are still logged.
        loss = mse[:b].mean() if cfg.loss_type == "sft" else out.losses.mean() + cfg.sft_weight * mse[:b].mean()
        stats = {
            "loss": loss,
            "apo_loss": out.losses.mean(),
            "rewards/chosen": out.chosen_rewards.mean(),
            "rewards/rejected": out.rejected_rewards.mean(),
            "rewards/margins": out.margins.mean(),
            "rewards/accuracies": implicit_accuracy(out.margins),
            "beta/mean": beta.mean(), "beta/min": beta.min(), "beta/max": beta.max(),
            "mse/chosen": mse[:b].mean(), "mse/rejected": mse[b:].mean(),
            "mse/ref_chosen": ref_mse[:b].mean(), "mse/ref_rejected": ref_mse[b:].mean(),
        }
        return loss, {k: v.detach().float() for k, v in stats.items()}

    # --- the loop -------------------------------------------------------------------------------------
    def _loader(self) -> torch.utils.data.DataLoader:
        cfg, acc = self.config, self.accelerator
        sampler = PairBatchSampler(
            len(self.pairs), cfg.per_device_train_batch_size, seed=cfg.seed,
            accumulation=cfg.gradient_accumulation_steps, world_size=acc.num_processes,
            rank=acc.process_index, start_step=self.global_step, max_steps=cfg.max_steps,
        )
        return torch.utils.data.DataLoader(CachedPairDataset(self.cache, self.pairs), batch_sampler=sampler,
                                           collate_fn=collate, num_workers=cfg.dataloader_num_workers)

    def train(self, on_step: Callable[[int, dict[str, float] | None], None] | None = None) -> TrainOutput:
        """Train to `max_steps`; `on_step(step, logs_or_None)` is called after every optimizer step."""
        cfg, acc = self.config, self.accelerator
        accumulation = cfg.gradient_accumulation_steps
        batches = iter(self._loader())
        window: list[dict[str, float]] = []
        self.model.train()
        if self.text_model is not None:
            self.text_model.train()
        while self.global_step < cfg.max_steps:
            micro_stats = []
            for micro in range(accumulation):
                batch = next(batches)
                # Only LoRA dropout draws from the global RNG: seed it by the global micro-batch index (as
                # the sampler numbers batches) so resume and N-process runs reproduce it.
                g = (self.global_step * accumulation + micro) * acc.num_processes + acc.process_index
                torch.manual_seed(seed_for(cfg.seed, "dropout", g))
                last = micro == accumulation - 1
                with nullcontext() if last else acc.no_sync(self.model):
                    with acc.autocast():
                        loss, stats = self.compute_loss(batch)
                    acc.backward(loss / accumulation)
                micro_stats.append(stats)
            grad_norm = None
            if cfg.max_grad_norm is not None:
                grad_norm = acc.clip_grad_norm_(self.trainable, cfg.max_grad_norm)
            self.optimizer.step()
            self.lr_scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.global_step += 1

            step_stats = self._reduce(micro_stats)
            if grad_norm is not None:
                step_stats["grad_norm"] = float(grad_norm)
            step_stats["learning_rate"] = self.lr_scheduler.get_last_lr()[0]
            window.append(step_stats)
            logs = None
            if self.global_step % cfg.logging_steps == 0 or self.global_step == cfg.max_steps:
                logs = self._log(window)
                window = []
            if cfg.save_steps and self.global_step % cfg.save_steps == 0 and self.global_step < cfg.max_steps:
                self.save_checkpoint()
            if on_step is not None:
                on_step(self.global_step, logs)

        self.save_checkpoint()
        lora_dir = self.save_lora(self.output_dir)
        acc.end_training()
        return TrainOutput(self.global_step, lora_dir, list(self.log_history))

    def _reduce(self, micro_stats: list[dict[str, torch.Tensor]]) -> dict[str, float]:
        """Mean over micro-batches, then over processes (min/max for the β extremes)."""
        keys = list(micro_stats[0])
        local = torch.stack([torch.stack([s[k] for s in micro_stats]) for k in keys])  # (K, micro)
        gathered = self.accelerator.gather(local.unsqueeze(0))  # (world, K, micro)
        reduced = {}
        for i, key in enumerate(keys):
            values = gathered[:, i]
            reduced[key] = float(values.min() if key == "beta/min" else values.max() if key == "beta/max"
                                 else values.mean())
        return reduced

    def _log(self, window: list[dict[str, float]]) -> dict[str, float]:
        logs: dict[str, float] = {}
        for key in window[0]:
            values = [w[key] for w in window if key in w]
            logs[key] = min(values) if key == "beta/min" else max(values) if key == "beta/max" \
                else sum(values) / len(values)
        logs["step"] = self.global_step
        logs["epoch"] = self.global_step * self.config.gradient_accumulation_steps * \
            self.accelerator.num_processes * self.config.per_device_train_batch_size / len(self.pairs)
        self.log_history.append(logs)
        if self.accelerator.is_main_process:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            with open(self.output_dir / "logs.jsonl", "a", encoding="utf-8") as handle:
                handle.write(json.dumps(logs) + "\n")
        if self.config.report_to != "none":
            self.accelerator.log(logs, step=self.global_step)
        logger.info("step %d: %s", self.global_step,
                    ", ".join(f"{k}={v:.4g}" for k, v in logs.items() if k != "step"))
        return logs

    # --- saving and resuming --------------------------------------------------------------------------
    def save_lora(self, directory: str | Path) -> Path:
        """The adapter in diffusers' LoRA format: `pipeline.load_lora_weights(directory)` loads it."""
        directory = Path(directory)
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            model = self.unwrapped
            # PEFT's own key names (`lora_A`/`lora_B`), as diffusers' FLUX/SD3 scripts save them. Not
            # `convert_state_dict_to_diffusers`: it renames attention keys to the old `lora.down/up` form but
            # leaves others (convs, feed-forward) as `lora_A/B`, and diffusers' loader, seeing PEFT keys,
            # then silently drops the renamed attention weights (docs/apo_proof.md, "LoRA everywhere").
            layers = get_peft_model_state_dict(model)
            getattr(diffusers, LORA_FORMAT.get(self.family, self.pipeline_class_name)).save_lora_weights(
                directory, safe_serialization=True, weight_name=LORA_WEIGHT_NAME,
                **{f"{self.denoiser_name}_lora_layers": layers,
                   f"{self.denoiser_name}_lora_adapter_metadata": model.peft_config["default"].to_dict()},
            )
            if self.text_model is not None:  # the whole (tiny) encoder: what sampling must use with the LoRA
                text = self.accelerator.unwrap_model(self.text_model)
                save_file({k: v.detach().cpu().contiguous() for k, v in text.state_dict().items()},
                          directory / TEXT_ENCODER_WEIGHT_NAME)
        self.accelerator.wait_for_everyone()
        return directory

    def _trainable_params(self) -> dict[str, torch.nn.Parameter]:
        """Every trained tensor by name: the adapter's, then the text encoder's under TEXT_PREFIX."""
        params = {name: p for name, p in self.unwrapped.named_parameters() if p.requires_grad}
        if self.text_model is not None:
            text = self.accelerator.unwrap_model(self.text_model)
            params.update({TEXT_PREFIX + name: p for name, p in text.named_parameters()})
        return params

    def _trainable_state(self) -> dict[str, torch.Tensor]:
        return {name: p.detach().cpu() for name, p in self._trainable_params().items()}

    def save_checkpoint(self) -> Path:
        """Adapter, optimizer and schedule state as safetensors + JSON (no pickle), written atomically.

        Data order, noise and dropout are functions of (seed, step), so nothing else is needed to
        continue bit-exactly.
        """
        acc, path = self.accelerator, self.output_dir / f"{CHECKPOINT_PREFIX}{self.global_step}"
        acc.wait_for_everyone()
        if acc.is_main_process:
            tmp = self.output_dir / f".{path.name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            save_file(self._trainable_state(), tmp / "adapter.safetensors")
            param_groups = save_optimizer(self.optimizer, tmp)
            trainer_state = {
                "global_step": self.global_step,
                "world_size": acc.num_processes,
                "optimizer_param_groups": param_groups,
                "lr_scheduler": self.lr_scheduler.state_dict(),
                "log_history": self.log_history,
                "config": self.config.to_dict(),
            }
            (tmp / "trainer_state.json").write_text(json.dumps(trainer_state, indent=1, default=list))
            if path.exists():
                shutil.rmtree(path)
            os.replace(tmp, path)
            self._prune_checkpoints()
        acc.wait_for_everyone()
        self.save_lora(path)  # so any checkpoint can be evaluated with load_lora_weights
        return path

    def _prune_checkpoints(self) -> None:
        limit = self.config.save_total_limit
        checkpoints = list_checkpoints(self.output_dir)
        if limit is not None:
            for old in checkpoints[:-limit]:
                shutil.rmtree(old)

    def _resolve_checkpoint(self, spec: str) -> Path:
        if spec == "latest":
            found = list_checkpoints(self.output_dir)
            if not found:
                raise APOConfigError(f"resume_from_checkpoint='latest' but {str(self.output_dir)!r} has no "
                                     f"{CHECKPOINT_PREFIX}N directory")
            return found[-1]
        path = Path(spec)
        if not (path / "trainer_state.json").is_file():
            raise APOConfigError(f"resume_from_checkpoint={spec!r} is not a checkpoint directory")
        return path

    def load_checkpoint(self, path: str | Path) -> None:
        path = Path(path)
        state = json.loads((path / "trainer_state.json").read_text())
        adapter = load_file(path / "adapter.safetensors")
        params = self._trainable_params()
        if set(adapter) != set(params):
            raise APOConfigError(f"checkpoint {str(path)!r} does not match this LoRA setup "
                                 f"({len(adapter)} saved tensors, {len(params)} trainable)")
        with torch.no_grad():
            for name, param in params.items():
                param.copy_(adapter[name])
        load_optimizer(self.optimizer, path, state["optimizer_param_groups"])
        self.lr_scheduler.load_state_dict(state["lr_scheduler"])
        self.global_step = int(state["global_step"])
        self.log_history = list(state["log_history"])
        if state.get("world_size") != self.accelerator.num_processes:
            logger.warning("resuming a %s-process checkpoint on %d processes: the run continues, but not "
                           "bit-exactly", state.get("world_size"), self.accelerator.num_processes)
        logger.info("resumed from %s at step %d", path, self.global_step)



__all__ = ["TEXT_ENCODER_WEIGHT_NAME", "APOTrainer", "DatasetError", "TrainOutput", "adapter_disabled", "list_checkpoints",
           "pack_latents", "read_model_index", "unpack_latents"]
