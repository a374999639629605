"""`APOConfig`: every knob of the APO trainer in one dataclass (TRL style).

Fields are grouped by purpose and carry their help text as metadata, so the YAML file, the CLI and the
docs describe the same thing. `__post_init__` validates everything it can without loading a model, and
every error quotes the bad value. Unknown YAML keys are rejected (with the closest known name), so a typo
never silently falls back to a default.

    config = APOConfig.from_yaml("apo.yaml", model="path/or/id", data_dir="pairs/", output_dir="out/")
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# Choices live here (not in losses.py) so reading a config never imports torch.
BETA_SCHEDULES = ("linear", "constant", "exponential")
BETA_DIRECTIONS = ("increasing", "decreasing")
MIXED_PRECISIONS = ("no", "fp16", "bf16")
WEIGHTING_SCHEMES = ("logit_normal", "uniform", "mode", "sigma_sqrt", "cosmap")
LR_SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine")
REPORT_TO = ("none", "tensorboard", "wandb")


class APOConfigError(ValueError):
    """The APO configuration is invalid; the message names the field and quotes the value."""


def _help(text: str, default: Any) -> Any:
    """A dataclass field with its help text (immutable defaults only)."""
    return field(default=default, metadata={"help": text})


@dataclass
class APOConfig:
    """Configuration of `APOTrainer`. Defaults follow AgentComp §7.1 where the paper states a value."""

    # --- where things are ---------------------------------------------------------------------------
    model: str = _help("Diffusers pipeline id on the Hub or a local directory saved with `save_pretrained`.", "")
    data_dir: str = _help("Directory with `pairs.parquet` or `pairs.jsonl` and the images (docs/apo.md).", "")
    output_dir: str = _help("Where the LoRA, checkpoints, logs and (by default) the cache are written.", "")
    revision: str | None = _help("Model revision (branch, tag or commit) when `model` is a Hub id.", None)
    variant: str | None = _help("Weights variant, e.g. 'fp16', when the repository has one.", None)

    # --- LoRA ---------------------------------------------------------------------------------------
    lora_rank: int = _help("LoRA rank r (the paper uses 32 for every model).", 32)
    lora_alpha: float | None = _help("LoRA alpha; None means alpha = rank (scale 1).", None)
    lora_dropout: float = _help("Dropout on the LoRA branch.", 0.0)
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["to_q", "to_k", "to_v", "to_out.0"],
        metadata={"help": "Module names that get a LoRA adapter (attention projections by default)."},
    )

    # --- APO loss -----------------------------------------------------------------------------------
    beta_base: float = _help(
        "β_base in β(d) = β_base·f(d), in the paper's −½ convention (scripts without the ½ use β/2). "
        "Diffusion-DPO used 5000 for SD 1.5/SDXL; AgentComp used 100 for FLUX.",
        5000.0,
    )
    beta_schedule: str = _help("f(d): 'linear' (paper), 'exponential', or 'constant' (plain Diffusion-DPO).", "linear")
    beta_f_min: float = _help("f at the small end of the schedule (paper: 0.5).", 0.5)
    beta_f_max: float = _help("f at the large end of the schedule (paper: 1.0).", 1.0)
    beta_direction: str = _help(
        "'increasing': β grows with distance, small distance → small β (paper's best); 'decreasing': reverse.",
        "increasing",
    )

    # --- flow matching (SD3 / FLUX) -----------------------------------------------------------------
    weighting_scheme: str = _help(
        "Timestep density and loss weighting for flow matching (diffusers' SD3/FLUX training schemes).",
        "logit_normal",
    )
    logit_mean: float = _help("Mean of the logit-normal timestep density.", 0.0)
    logit_std: float = _help("Standard deviation of the logit-normal timestep density.", 1.0)
    mode_scale: float = _help("Scale of the 'mode' timestep density.", 1.29)
    guidance_scale: float = _help("FLUX guidance-embedding value during training (paper: fixed to 1).", 1.0)

    # --- data and cache -----------------------------------------------------------------------------
    resolution: int | None = _help(
        "Resize (shorter side) and centre-crop every image to this square size; None keeps the sizes, "
        "which must then be equal across the dataset.",
        None,
    )
    max_sequence_length: int | None = _help("T5 prompt length for SD3/FLUX; None uses the pipeline's default.", None)
    cache_dir: str | None = _help("Latent/text-embedding cache; None means `<output_dir>/cache`.", None)
    encode_batch_size: int = _help("Images per VAE call while building the cache.", 8)
    dataloader_num_workers: int = _help("Worker processes that read the cache during training.", 0)

    # --- optimisation -------------------------------------------------------------------------------
    max_steps: int = _help("Optimizer steps to train for.", 1000)
    per_device_train_batch_size: int = _help("Preference pairs per device per micro-batch.", 4)
    gradient_accumulation_steps: int = _help("Micro-batches per optimizer step.", 1)
    learning_rate: float = _help("Adam learning rate (paper: 1e-4, no warm-up).", 1e-4)
    adam_beta1: float = _help("Adam β1.", 0.9)
    adam_beta2: float = _help("Adam β2.", 0.999)
    adam_epsilon: float = _help("Adam ε.", 1e-8)
    weight_decay: float = _help("Decoupled weight decay (AdamW).", 0.0)
    lr_scheduler: str = _help("Learning-rate schedule (diffusers.optimization.get_scheduler names).", "constant")
    lr_warmup_steps: int = _help("Warm-up steps for the schedules that have one.", 0)
    max_grad_norm: float | None = _help("Gradient clipping norm (paper: 1.0); None disables clipping.", 1.0)
    gradient_checkpointing: bool = _help("Recompute activations in backward to save memory (slower).", False)
    mixed_precision: str = _help("'no', 'fp16' or 'bf16' (paper: bf16); frozen weights are cast to it.", "no")
    use_cpu: bool = _help(
        "Train on the CPU even when an accelerator is present; needed for multi-process CPU runs (gloo).", False
    )
    seed: int = _help("Seeds the data order, the noise and the timesteps (all derived per sample).", 0)

    # --- logging and checkpoints --------------------------------------------------------------------
    logging_steps: int = _help("Average the metrics over this many steps and log them.", 10)
    save_steps: int = _help("Write a resumable checkpoint every this many steps (0: only at the end).", 500)
    save_total_limit: int | None = _help("Keep at most this many checkpoints (oldest removed); None: all.", 3)
    resume_from_checkpoint: str | None = _help("'latest' or a checkpoint directory to continue from.", None)
    report_to: str = _help("Also send metrics to 'tensorboard' or 'wandb' via accelerate; 'none' to skip.", "none")

    def __post_init__(self) -> None:
        self.lora_target_modules = list(self.lora_target_modules)
        self._check_choice("beta_schedule", BETA_SCHEDULES)
        self._check_choice("beta_direction", BETA_DIRECTIONS)
        self._check_choice("weighting_scheme", WEIGHTING_SCHEMES)
        self._check_choice("mixed_precision", MIXED_PRECISIONS)
        self._check_choice("lr_scheduler", LR_SCHEDULERS)
        self._check_choice("report_to", REPORT_TO)
        for name in ("lora_rank", "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps",
                     "encode_batch_size", "logging_steps"):
            self._check(getattr(self, name) >= 1, name, "must be a positive integer")
        for name in ("save_steps", "lr_warmup_steps", "dataloader_num_workers"):
            self._check(getattr(self, name) >= 0, name, "must be ≥ 0")
        for name in ("beta_base", "learning_rate", "adam_epsilon", "logit_std"):
            self._check(getattr(self, name) > 0, name, "must be > 0")
        self._check(self.lora_alpha is None or self.lora_alpha > 0, "lora_alpha", "must be > 0 or None")
        self._check(0 <= self.lora_dropout < 1, "lora_dropout", "must be in [0, 1)")
        self._check(bool(self.lora_target_modules), "lora_target_modules", "must name at least one module")
        self._check(0 < self.beta_f_min <= self.beta_f_max, "beta_f_min",
                    f"must satisfy 0 < beta_f_min ≤ beta_f_max (beta_f_max={self.beta_f_max!r})")
        self._check(0 <= self.weight_decay, "weight_decay", "must be ≥ 0")
        self._check(0 <= self.adam_beta1 < 1 and 0 <= self.adam_beta2 < 1, "adam_beta1",
                    f"and adam_beta2={self.adam_beta2!r} must be in [0, 1)")
        self._check(self.max_grad_norm is None or self.max_grad_norm > 0, "max_grad_norm", "must be > 0 or None")
        self._check(self.resolution is None or (self.resolution >= 8 and self.resolution % 8 == 0),
                    "resolution", "must be None or a positive multiple of 8")
        self._check(self.max_sequence_length is None or self.max_sequence_length >= 1,
                    "max_sequence_length", "must be None or ≥ 1")
        self._check(self.save_total_limit is None or self.save_total_limit >= 1,
                    "save_total_limit", "must be None or ≥ 1")

    # --- construction helpers -----------------------------------------------------------------------
    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> APOConfig:
        """Build from a mapping, rejecting unknown keys with a suggestion."""
        known = cls.field_names()
        unknown = [k for k in values if k not in known]
        if unknown:
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(key, known, n=1)
                hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise APOConfigError(f"unknown APO config keys: {', '.join(hints)}")
        try:
            return cls(**values)
        except TypeError as err:  # a value of the wrong shape, e.g. a list where a number belongs
            raise APOConfigError(f"invalid APO config: {err}") from None

    @classmethod
    def from_yaml(cls, path: str | Path | None, **overrides: Any) -> APOConfig:
        """Read a YAML mapping (may be None for defaults) and apply `overrides` (e.g. CLI flags) on top."""
        values: dict[str, Any] = {}
        if path is not None:
            path = Path(path)
            try:
                loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise APOConfigError(f"config file {str(path)!r} does not exist") from None
            except yaml.YAMLError as err:
                raise APOConfigError(f"config file {str(path)!r} is not valid YAML: {err}") from None
            if loaded is not None and not isinstance(loaded, dict):
                raise APOConfigError(f"config file {str(path)!r} must hold a mapping, got {type(loaded).__name__}")
            values.update(loaded or {})
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    # --- validation helpers -------------------------------------------------------------------------
    def _check(self, ok: bool, name: str, why: str) -> None:
        if not ok:
            raise APOConfigError(f"{name}={getattr(self, name)!r} {why}")

    def _check_choice(self, name: str, choices: tuple[str, ...]) -> None:
        value = getattr(self, name)
        if value not in choices:
            raise APOConfigError(f"{name}={value!r} is unknown; should be one of {list(choices)}")

    def check_paths(self) -> None:
        """The three locations are required to train (but not to build or inspect a config)."""
        for name in ("model", "data_dir", "output_dir"):
            if not getattr(self, name):
                raise APOConfigError(f"{name} is empty; set it in the config file or on the command line")
