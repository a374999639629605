"""`APOConfig`: every knob of the APO trainer in one validated pydantic model (TRL-style fields).

Fields are grouped by purpose and carry their help text (`APOConfig.model_fields[name].description`), so
the YAML file, the CLI and the docs describe the same thing. Construction validates everything it can
without loading a model, the way `LimnerConfig` does: unknown keys are rejected (with the closest known
name), so a typo never silently falls back to a default, and every error names the field and quotes
the bad value, e.g. ``invalid APO config: lora_rank=0 must be a positive integer``.

    config = APOConfig.from_yaml("apo.yaml", model="path/or/id", data_dir="pairs/", output_dir="out/")
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from limner.train.errors import APOConfigError

__all__ = [
    "BETA_DIRECTIONS", "BETA_SCHEDULES", "LOSS_TYPES", "LR_SCHEDULERS", "MIXED_PRECISIONS", "REPORT_TO",
    "WEIGHTING_SCHEMES", "APOConfig", "APOConfigError", "BetaDirection", "BetaSchedule", "LossType",
]

# Choices live here (not in losses.py) so reading a config never imports torch.
BetaSchedule = Literal["linear", "constant", "exponential"]
BetaDirection = Literal["increasing", "decreasing"]
MixedPrecision = Literal["no", "fp16", "bf16"]
WeightingScheme = Literal["logit_normal", "uniform", "mode", "sigma_sqrt", "cosmap"]
LRScheduler = Literal["constant", "constant_with_warmup", "linear", "cosine"]
ReportTo = Literal["none", "tensorboard", "wandb"]
LossType = Literal["apo", "sft"]

BETA_SCHEDULES: tuple[str, ...] = get_args(BetaSchedule)
BETA_DIRECTIONS: tuple[str, ...] = get_args(BetaDirection)
MIXED_PRECISIONS: tuple[str, ...] = get_args(MixedPrecision)
WEIGHTING_SCHEMES: tuple[str, ...] = get_args(WeightingScheme)
LR_SCHEDULERS: tuple[str, ...] = get_args(LRScheduler)
REPORT_TO: tuple[str, ...] = get_args(ReportTo)
LOSS_TYPES: tuple[str, ...] = get_args(LossType)


def _rule(ok: Callable[[Any], bool], why: str) -> AfterValidator:
    """A field check whose failure reads `<field>=<value> <why>`."""

    def check(value: Any) -> Any:
        if not ok(value):
            raise ValueError(why)
        return value

    return AfterValidator(check)


PositiveInt = Annotated[int, _rule(lambda v: v >= 1, "must be a positive integer")]
NonNegativeInt = Annotated[int, _rule(lambda v: v >= 0, "must be ≥ 0")]
PositiveFloat = Annotated[float, _rule(lambda v: v > 0, "must be > 0")]
NonNegativeFloat = Annotated[float, _rule(lambda v: v >= 0, "must be ≥ 0")]
UnitInterval = Annotated[float, _rule(lambda v: 0 <= v < 1, "must be in [0, 1)")]
OptionalPositive = Annotated[float | None, _rule(lambda v: v is None or v > 0, "must be > 0 or None")]
OptionalAtLeastOne = Annotated[int | None, _rule(lambda v: v is None or v >= 1, "must be None or ≥ 1")]
Resolution = Annotated[
    int | None, _rule(lambda v: v is None or (v >= 8 and v % 8 == 0), "must be None or a positive multiple of 8")
]
ModuleNames = Annotated[list[str], _rule(bool, "must name at least one module")]


def _help(text: str, default: Any) -> Any:
    """A field with its help text (immutable defaults only)."""
    return Field(default=default, description=text)


class APOConfig(BaseModel):
    """Configuration of `APOTrainer`. Defaults follow AgentComp §7.1 where the paper states a value."""

    model_config = ConfigDict(extra="forbid")

    # --- where things are ---------------------------------------------------------------------------
    model: str = _help("Diffusers pipeline id on the Hub or a local directory saved with `save_pretrained`.", "")
    data_dir: str = _help("Directory with `pairs.parquet` or `pairs.jsonl` and the images (docs/apo.md).", "")
    output_dir: str = _help("Where the LoRA, checkpoints, logs and (by default) the cache are written.", "")
    revision: str | None = _help("Model revision (branch, tag or commit) when `model` is a Hub id.", None)
    variant: str | None = _help("Weights variant, e.g. 'fp16', when the repository has one.", None)

    # --- LoRA ---------------------------------------------------------------------------------------
    lora_rank: PositiveInt = _help("LoRA rank r (the paper uses 32 for every model).", 32)
    lora_alpha: OptionalPositive = _help("LoRA alpha; None means alpha = rank (scale 1).", None)
    lora_dropout: UnitInterval = _help("Dropout on the LoRA branch.", 0.0)
    lora_target_modules: ModuleNames = Field(
        default_factory=lambda: ["to_q", "to_k", "to_v", "to_out.0"],
        description="Module names that get a LoRA adapter (attention projections by default).",
    )

    train_text_encoder: bool = _help(
        "Also train the text encoder, fully (family 'pixel' only: limner's tiny pipeline, whose word encoder "
        "has 68k parameters, so an adapter would save nothing). Why: a model that swaps which colour goes "
        "with which shape may hold the error in the prompt's encoding, which a denoiser LoRA cannot change. "
        "The reference stays the frozen encoder (its cached embeddings); the trained encoder is saved next "
        "to the LoRA as `text_encoder.safetensors` and `limner.train.tiny.evaluate.load_lora` loads both.",
        False,
    )
    text_encoder_learning_rate: OptionalPositive = _help(
        "Adam learning rate of the text encoder when `train_text_encoder`; None uses `learning_rate`.", None
    )

    # --- APO loss -----------------------------------------------------------------------------------
    beta_base: PositiveFloat = _help(
        "β_base in β(d) = β_base·f(d), in the paper's −½ convention (scripts without the ½ use β/2). "
        "Diffusion-DPO used 5000 for SD 1.5/SDXL; AgentComp used 100 for FLUX.",
        5000.0,
    )
    beta_schedule: BetaSchedule = _help(
        "f(d): 'linear' (paper), 'exponential', or 'constant' (plain Diffusion-DPO).", "linear"
    )
    beta_f_min: float = _help("f at the small end of the schedule (paper: 0.5).", 0.5)
    beta_f_max: float = _help("f at the large end of the schedule (paper: 1.0).", 1.0)
    beta_direction: BetaDirection = _help(
        "'increasing': β grows with distance, small distance → small β (paper's best); 'decreasing': reverse.",
        "increasing",
    )

    loss_type: LossType = _help(
        "'apo': the preference loss above (plain Diffusion-DPO with beta_schedule='constant'); 'sft': plain "
        "fine-tuning, the denoising loss on the winners alone — the baseline on the same pairs and steps "
        "(the reference pass still runs so implicit accuracy and margins are logged alike).",
        "apo",
    )
    sft_weight: NonNegativeFloat = _help(
        "Add this multiple of the winners' denoising loss to the preference loss (RPO-style, TRL's `rpo_alpha`): "
        "Diffusion-DPO lowers the reward by raising the loser's error faster than the winner's, and the "
        "winner's own error rises too (likelihood displacement); this term holds it down. The preference "
        "gradient is scaled by β/2, so useful values are of the order of β_base/10 to β_base; 0 (default) "
        "is the papers' loss.",
        0.0,
    )
    loss_mask: bool = _help(
        "Restrict the per-sample denoising error to the pair's difference mask (manifest column `mask`: an "
        "image, white where winner and loser differ), so pixels both images share carry no gradient. The "
        "error is still divided by the whole image size, so β keeps its meaning.",
        False,
    )

    timestep_fraction: tuple[float, float] = _help(
        "DDPM families (SD 1.5/2.x, SDXL, pixel): draw training timesteps uniformly from this fraction of "
        "the schedule, e.g. (0.5, 1.0) for the noisier half only, where a sample's composition is decided "
        "(which colour lands on which object); the default (0, 1) is the whole schedule, as in the papers.",
        (0.0, 1.0),
    )

    # --- flow matching (SD3 / FLUX) -----------------------------------------------------------------
    weighting_scheme: WeightingScheme = _help(
        "Timestep density and loss weighting for flow matching (diffusers' SD3/FLUX training schemes).",
        "logit_normal",
    )
    logit_mean: float = _help("Mean of the logit-normal timestep density.", 0.0)
    logit_std: PositiveFloat = _help("Standard deviation of the logit-normal timestep density.", 1.0)
    mode_scale: float = _help("Scale of the 'mode' timestep density.", 1.29)
    guidance_scale: float = _help("FLUX guidance-embedding value during training (paper: fixed to 1).", 1.0)

    # --- data and cache -----------------------------------------------------------------------------
    resolution: Resolution = _help(
        "Resize (shorter side) and centre-crop every image to this square size; None keeps the sizes, "
        "which must then be equal across the dataset.",
        None,
    )
    max_sequence_length: OptionalAtLeastOne = _help(
        "T5 prompt length for SD3/FLUX; None uses the pipeline's default.", None
    )
    cache_dir: str | None = _help("Latent/text-embedding cache; None means `<output_dir>/cache`.", None)
    encode_batch_size: PositiveInt = _help("Images per VAE call while building the cache.", 8)
    dataloader_num_workers: NonNegativeInt = _help("Worker processes that read the cache during training.", 0)

    # --- optimisation -------------------------------------------------------------------------------
    max_steps: PositiveInt = _help("Optimizer steps to train for.", 1000)
    per_device_train_batch_size: PositiveInt = _help("Preference pairs per device per micro-batch.", 4)
    gradient_accumulation_steps: PositiveInt = _help("Micro-batches per optimizer step.", 1)
    learning_rate: PositiveFloat = _help("Adam learning rate (paper: 1e-4, no warm-up).", 1e-4)
    adam_beta1: UnitInterval = _help("Adam β1.", 0.9)
    adam_beta2: UnitInterval = _help("Adam β2.", 0.999)
    adam_epsilon: PositiveFloat = _help("Adam ε.", 1e-8)
    weight_decay: Annotated[float, _rule(lambda v: v >= 0, "must be ≥ 0")] = _help(
        "Decoupled weight decay (AdamW).", 0.0
    )
    lr_scheduler: LRScheduler = _help(
        "Learning-rate schedule (diffusers.optimization.get_scheduler names).", "constant"
    )
    lr_warmup_steps: NonNegativeInt = _help("Warm-up steps for the schedules that have one.", 0)
    max_grad_norm: OptionalPositive = _help("Gradient clipping norm (paper: 1.0); None disables clipping.", 1.0)
    gradient_checkpointing: bool = _help("Recompute activations in backward to save memory (slower).", False)
    mixed_precision: MixedPrecision = _help(
        "'no', 'fp16' or 'bf16' (paper: bf16); frozen weights are cast to it.", "no"
    )
    use_cpu: bool = _help(
        "Train on the CPU even when an accelerator is present; needed for multi-process CPU runs (gloo).", False
    )
    seed: int = _help("Seeds the data order, the noise and the timesteps (all derived per sample).", 0)

    # --- logging and checkpoints --------------------------------------------------------------------
    logging_steps: PositiveInt = _help("Average the metrics over this many steps and log them.", 10)
    save_steps: NonNegativeInt = _help("Write a resumable checkpoint every this many steps (0: only at the end).", 500)
    save_total_limit: OptionalAtLeastOne = _help(
        "Keep at most this many checkpoints (oldest removed); None: all.", 3
    )
    resume_from_checkpoint: str | None = _help("'latest' or a checkpoint directory to continue from.", None)
    report_to: ReportTo = _help(
        "Also send metrics to 'tensorboard' or 'wandb' via accelerate; 'none' to skip.", "none"
    )

    def __init__(self, **values: Any) -> None:
        """Validate `values`; any problem is one `APOConfigError` listing every bad field."""
        try:
            super().__init__(**values)
        except ValidationError as err:
            raise APOConfigError("invalid APO config: " + "; ".join(_describe(e) for e in err.errors())) from None

    @model_validator(mode="after")
    def _f_range(self) -> APOConfig:
        if not 0 < self.beta_f_min <= self.beta_f_max:
            raise ValueError(f"beta_f_min={self.beta_f_min!r} must satisfy 0 < beta_f_min ≤ beta_f_max "
                             f"(beta_f_max={self.beta_f_max!r})")
        low, high = self.timestep_fraction
        if not 0 <= low < high <= 1:
            raise ValueError(f"timestep_fraction={self.timestep_fraction!r} must satisfy 0 ≤ low < high ≤ 1")
        return self

    # --- construction helpers -----------------------------------------------------------------------
    @classmethod
    def field_names(cls) -> list[str]:
        return list(cls.model_fields)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> APOConfig:
        """Build from a mapping; unknown keys are errors that suggest the closest field name."""
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | Path | None, **overrides: Any) -> APOConfig:
        """Read a YAML mapping (may be None for defaults) and apply `overrides` (e.g. CLI flags) on top."""
        values: dict[str, Any] = dict(_read_yaml(Path(path))) if path is not None else {}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(values)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def check_paths(self) -> None:
        """The three locations are required to train (but not to build or inspect a config)."""
        for name in ("model", "data_dir", "output_dir"):
            if not getattr(self, name):
                raise APOConfigError(f"{name} is empty; set it in the config file or on the command line")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise APOConfigError(f"config file {str(path)!r} does not exist") from None
    except yaml.YAMLError as err:
        raise APOConfigError(f"config file {str(path)!r} is not valid YAML: {err}") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise APOConfigError(f"config file {str(path)!r} must hold a mapping, got {type(loaded).__name__}")
    return loaded or {}


def _describe(err: ErrorDetails) -> str:
    """One validation error as `field=value why` (or the unknown key with the closest field name)."""
    name = ".".join(str(part) for part in err["loc"])
    if err["type"] == "extra_forbidden":
        close = difflib.get_close_matches(name, APOConfig.field_names(), n=1)
        return f"{name!r} is not a field" + (f" (did you mean {close[0]!r}?)" if close else "")
    if err["type"] == "value_error":
        why = str(err.get("ctx", {}).get("error", err["msg"]))
        return why if not name else f"{name}={err['input']!r} {why}"  # no name: a rule across fields
    if err["type"] == "literal_error":
        return f"{name}={err['input']!r} is unknown; should be one of {err.get('ctx', {}).get('expected')}"
    return f"{name}={err['input']!r} is invalid ({err['msg']})"
