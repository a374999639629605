"""The tiny text-to-image pipeline: a word-level text encoder, a pixel-space diffusers UNet, a scheduler.

Saved as a directory that reads like a diffusers pipeline, so `APOTrainer` loads its denoiser and
scheduler with the same `from_pretrained` calls it uses for Stable Diffusion:

    model_index.json        {"_class_name": "LimnerTinyPipeline", "unet": [...], "scheduler": [...], ...}
    unet/                   UNet2DConditionModel.save_pretrained (safetensors)
    scheduler/              DDPMScheduler (v-prediction)
    text_encoder/           config.json + model.safetensors (`TinyTextEncoder`, trained jointly)

Design choices and why (measured in docs/apo_proof.md and the trial notes):
- pixel space (no VAE): 32×32×3 is already small; a VAE would be another model to train on 2 cores;
- v-prediction: the ε-prediction trial gave tinted backgrounds and collapsed colours after 34 minutes;
- 4 levels 16/32/64/64, cross-attention only at 8×8 and 4×4: the cheapest UNet that still binds words
  to places (~1.7M parameters, ~0.35 s per batch-32 step on two idle cores).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DConditionModel
from safetensors.torch import load_file, save_file
from torch import nn

from limner.files import atomic_write_text
from limner.train.tiny.world import COLOURS, SHAPES, SIZE

__all__ = [
    "PIPELINE_CLASS",
    "TEXT_ENCODER_WEIGHT_NAME",
    "VOCAB",
    "TextEncoderConfig",
    "TinyPipeline",
    "TinyTextEncoder",
    "build_unet",
    "new_scheduler",
]

PIPELINE_CLASS = "LimnerTinyPipeline"
#: A fine-tuned text encoder's weights, saved next to a LoRA (APOConfig.train_text_encoder).
TEXT_ENCODER_WEIGHT_NAME = "text_encoder.safetensors"
#: Word vocabulary; index 0 pads (and the all-pad sequence is the unconditional prompt for guidance).
VOCAB: tuple[str, ...] = ("<pad>", "a", "left", "right", "of", *COLOURS, *SHAPES)


@dataclass(frozen=True)
class TextEncoderConfig:
    vocab: tuple[str, ...] = VOCAB
    max_length: int = 8
    width: int = 64
    layers: int = 2
    heads: int = 4


class TinyTextEncoder(nn.Module):
    """Word embeddings + positions + a small transformer; outputs (B, max_length, width) token states."""

    def __init__(self, config: TextEncoderConfig | None = None) -> None:
        super().__init__()
        self.config = config or TextEncoderConfig()
        c = self.config
        self.embed = nn.Embedding(len(c.vocab), c.width)
        self.position = nn.Parameter(torch.zeros(1, c.max_length, c.width))
        layer = nn.TransformerEncoderLayer(c.width, c.heads, 2 * c.width, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.width)
        self._index = {w: i for i, w in enumerate(c.vocab)}

    def tokenize(self, prompts: list[str]) -> torch.Tensor:
        """Word ids, padded to max_length; an unknown word is an error (this world has 15 words)."""
        rows = []
        for prompt in prompts:
            words = prompt.lower().split()
            unknown = [w for w in words if w not in self._index]
            if unknown or len(words) > self.config.max_length:
                raise ValueError(f"prompt {prompt!r} has words outside the tiny vocabulary {unknown} or is "
                                 f"longer than {self.config.max_length} words")
            ids = [self._index[w] for w in words]
            rows.append(ids + [0] * (self.config.max_length - len(ids)))
        return torch.tensor(rows, dtype=torch.long, device=self.position.device)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids) + self.position
        return self.norm(self.encoder(x))

    def encode(self, prompts: list[str]) -> torch.Tensor:
        return self(self.tokenize(prompts))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()},
                  directory / "model.safetensors")
        atomic_write_text(directory / "config.json", json.dumps(asdict(self.config), indent=1))

    @classmethod
    def load(cls, directory: Path) -> TinyTextEncoder:
        raw = json.loads((directory / "config.json").read_text())
        config = TextEncoderConfig(**{**raw, "vocab": tuple(raw["vocab"])})
        model = cls(config)
        model.load_state_dict(load_file(directory / "model.safetensors"))
        return model


def build_unet(cross_attention_dim: int = 64) -> UNet2DConditionModel:
    """4 levels (32, 16, 8, 4 px), 16/32/64/64 channels, cross-attention at the two lowest levels."""
    return UNet2DConditionModel(
        sample_size=SIZE, in_channels=3, out_channels=3, layers_per_block=1,
        block_out_channels=(16, 32, 64, 64),
        down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        cross_attention_dim=cross_attention_dim, attention_head_dim=8, norm_num_groups=8,
    )


def new_scheduler() -> DDPMScheduler:
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                         prediction_type="v_prediction", clip_sample=True)


class TinyPipeline:
    """Text encoder + UNet + scheduler, with DDIM sampling under classifier-free guidance."""

    def __init__(self, text_encoder: TinyTextEncoder, unet: UNet2DConditionModel, scheduler: DDPMScheduler) -> None:
        self.text_encoder, self.unet, self.scheduler = text_encoder, unet, scheduler

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @classmethod
    def new(cls, seed: int = 0) -> TinyPipeline:
        torch.manual_seed(seed)
        return cls(TinyTextEncoder(), build_unet(), new_scheduler())

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.unet.save_pretrained(directory / "unet", safe_serialization=True)
        self.scheduler.save_pretrained(directory / "scheduler")
        self.text_encoder.save(directory / "text_encoder")
        index = {"_class_name": PIPELINE_CLASS, "_diffusers_version": "limner",
                 "unet": ["diffusers", "UNet2DConditionModel"], "scheduler": ["diffusers", "DDPMScheduler"],
                 "text_encoder": ["limner", "TinyTextEncoder"]}
        atomic_write_text(directory / "model_index.json", json.dumps(index, indent=1))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> TinyPipeline:
        directory = Path(directory)
        if not (directory / "model_index.json").is_file():
            raise FileNotFoundError(f"{str(directory)!r} is not a saved tiny pipeline (no model_index.json)")
        return cls(TinyTextEncoder.load(directory / "text_encoder"),
                   UNet2DConditionModel.from_pretrained(directory / "unet"),
                   DDPMScheduler.from_pretrained(directory / "scheduler"))

    # The two calls APOTrainer's cache builder makes on any pipeline (apo_data.encode_prompts/images).
    @torch.no_grad()
    def encode_prompt(self, prompts: list[str]) -> torch.Tensor:
        return self.text_encoder.encode(prompts)

    @torch.no_grad()
    def sample(self, prompts: list[str], seeds: list[int], *, steps: int = 20, guidance: float = 3.0,
               batch_size: int = 64) -> torch.Tensor:
        """Images in [−1, 1], (N, 3, 32, 32); sample i starts from the noise of seeds[i] (fixed seeds make
        before/after comparisons paired)."""
        self.unet.eval()
        self.text_encoder.eval()
        ddim = DDIMScheduler.from_config(self.scheduler.config)
        ddim.set_timesteps(steps)
        out = []
        for start in range(0, len(prompts), batch_size):
            chunk, chunk_seeds = prompts[start : start + batch_size], seeds[start : start + batch_size]
            noise = torch.stack([torch.randn(3, SIZE, SIZE, generator=torch.Generator().manual_seed(s))
                                 for s in chunk_seeds]).to(self.device)
            cond = self.text_encoder.encode(chunk)
            uncond = self.text_encoder(torch.zeros_like(self.text_encoder.tokenize(chunk)))
            embeds = torch.cat([uncond, cond])
            x = noise
            for t in ddim.timesteps:
                pred = self.unet(torch.cat([x, x]), t, encoder_hidden_states=embeds).sample
                p_uncond, p_cond = pred.chunk(2)
                x = ddim.step(p_uncond + guidance * (p_cond - p_uncond), t, x).prev_sample
            out.append(x.clamp(-1, 1).cpu())
        return torch.cat(out)
