"""`SaliencyConfig`: every knob of the saliency trainer (and its region classifier) in one dataclass.

TRL style: one config per trainer, plain fields with their help text, validated on construction, loadable
from YAML (keys = field names). Importing it never imports torch.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from limner.train.errors import SaliencyConfigError

__all__ = ["SaliencyConfig", "SaliencyConfigError"]


@dataclass
class SaliencyConfig:
    """Train the distortion-saliency model on a `limner data blemish` folder; then the region classifier."""

    data_dir: str = field(metadata={"help": "folder with train.parquet / val.parquet (limner data blemish)"})
    output_dir: str = field(metadata={"help": "model/, regions/, checkpoint-N/, metrics.json go here"})
    # model
    image_size: int = field(default=128, metadata={"help": "model input side in px"})
    channels: tuple[int, int, int] = field(default=(16, 32, 64), metadata={"help": "conv stem widths"})
    dim: int = field(default=64, metadata={"help": "token width (fusion, text)"})
    fusion_layers: int = field(default=1, metadata={"help": "self + cross-attention blocks"})
    text_film: bool = field(default=True, metadata={"help": "the pooled prompt also modulates the decoder (FiLM)"})
    prompt_gate: bool = field(default=True, metadata={"help": "per-pixel defect categories + a per-category "
                                                      "gate opened by the prompt (the train split's categories)"})
    category_weight: float = field(default=0.2, metadata={"help": "weight of the per-pixel category loss"})
    gate_weight: float = field(default=0.5, metadata={"help": "weight of the gate's loss (which categories "
                                                      "the prompt asked for: the data's `requested` column)"})
    image_encoder: str | None = field(default=None, metadata={"help": "transformers vision encoder id/path"})
    text_encoder: str | None = field(default=None, metadata={"help": "transformers text encoder id/path"})
    # loss and optimisation
    alpha: float = field(default=0.5, metadata={"help": "loss = α·MSE + (1−α)·KLD"})
    learning_rate: float = field(default=2e-3, metadata={"help": "AdamW peak learning rate (paper: 2e-5 for "
                                                                 "pretrained encoders; this model starts from scratch)"})
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    batch_size: int = 16
    max_steps: int = 2000
    max_minutes: float | None = field(default=None, metadata={"help": "stop early after this wall time"})
    prompt_dropout: float = field(default=0.1, metadata={"help": "share of samples trained with an empty prompt, "
                                                               "so the prompt-blind ablation is in-distribution"})
    seed: int = 0
    threads: int = field(default=1, metadata={"help": "torch CPU threads"})
    device: str = "cpu"
    # bookkeeping
    eval_steps: int = 400
    save_steps: int = 400
    save_total_limit: int = 2
    val_limit: int | None = field(default=300, metadata={"help": "validation images used during training"})
    train_limit: int | None = None
    resume_from_checkpoint: str | None = field(default=None, metadata={"help": "'latest' or a checkpoint dir"})
    # region classifier (the offline reasoning agent)
    classifier_steps: int = 3000
    classifier_batch_size: int = 64
    classifier_lr: float = 3e-3
    crop_size: int = 32
    classifier_width: int = field(default=48, metadata={"help": "channels of the classifier's first stage"})
    classifier_draws: int = field(default=3, metadata={"help": "dilation draws per training region"})

    def __post_init__(self) -> None:
        self.channels = tuple(self.channels)  # type: ignore[assignment]
        checks = [
            ("image_size", self.image_size >= 32 and self.image_size % 8 == 0, "must be ≥ 32 and a multiple of 8"),
            ("alpha", 0.0 <= self.alpha <= 1.0, "must be in [0, 1]"),
            ("learning_rate", self.learning_rate > 0, "must be > 0"),
            ("batch_size", self.batch_size >= 1, "must be a positive integer"),
            ("max_steps", self.max_steps >= 1, "must be a positive integer"),
            ("prompt_dropout", 0.0 <= self.prompt_dropout <= 1.0, "must be in [0, 1]"),
            ("threads", self.threads >= 1, "must be a positive integer"),
            ("eval_steps", self.eval_steps >= 1, "must be a positive integer"),
            ("save_steps", self.save_steps >= 1, "must be a positive integer"),
            ("classifier_steps", self.classifier_steps >= 0, "must be ≥ 0"),
            ("crop_size", self.crop_size >= 8, "must be ≥ 8"),
            ("max_minutes", self.max_minutes is None or self.max_minutes > 0, "must be > 0"),
        ]
        for name, ok, why in checks:
            if not ok:
                raise SaliencyConfigError(f"invalid saliency config: {name}={getattr(self, name)!r} {why}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_yaml(cls, path: str | Path | None, **overrides: Any) -> SaliencyConfig:
        """YAML keys are field names; non-None `overrides` (the CLI's flags) win over the file."""
        data: dict[str, Any] = {}
        if path is not None:
            try:
                data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError) as e:
                raise SaliencyConfigError(f"cannot read {path}: {str(e).splitlines()[0]}") from None
            if not isinstance(data, dict):
                raise SaliencyConfigError(f"{path} must hold a mapping of SaliencyConfig fields")
        data.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                raise SaliencyConfigError(f"unknown saliency config key {key!r}"
                                          + (f" (did you mean {close[0]!r}?)" if close else ""))
        for required in ("data_dir", "output_dir"):
            if required not in data:
                raise SaliencyConfigError(f"saliency config needs {required}")
        try:
            return cls(**data)
        except TypeError as e:
            raise SaliencyConfigError(f"invalid saliency config: {e}") from None
