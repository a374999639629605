"""The distortion-saliency model: image + prompt in, S ∈ [0,1]^{H×W} out (Agentic Retoucher's perception).

Architecture, as the paper describes it and small enough to train on two CPU cores:

- **image encoder**: a light convolutional stem (three stride-2 stages) whose last stage is a grid of
  tokens at 1/8 resolution; its two earlier stages are kept as skip features, because defects are a few
  pixels wide and a decoder that only sees 1/8-resolution tokens cannot draw them. With
  `image_encoder="<id or path>"` a pretrained transformers vision model (ViT, SigLIP, CLIP vision) adds its
  patch tokens, projected and resampled onto the same grid.
- **text encoder**: hashed word embeddings and a transformer layer (no vocabulary file: a word's id is its
  CRC32 modulo the table size), or a pretrained transformers text encoder (T5, CLIP text) by id/path.
- **fusion**: image tokens attend to each other (context: a defect is what does not fit its surroundings)
  and then to the prompt's tokens (cross-attention: what the prompt asks for is not a defect). A learned
  "null" text token is always present, so an empty prompt (the prompt-blind ablation) is well defined.
- **decoder**: upsampling with the skip features back to full resolution, one logit per pixel, sigmoid.

`SaliencyModel.save_pretrained(dir)` writes `config.json` + `model.safetensors` (frozen pretrained
encoders are not copied: the config names them); `SaliencyModel.from_pretrained(dir)` reads them back.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn

from limner.files import atomic_write_text

__all__ = ["CONFIG_NAME", "WEIGHTS_NAME", "HashTokenizer", "SaliencyModel", "SaliencyModelConfig", "images_to_tensor"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


@dataclass
class SaliencyModelConfig:
    """Shape of the model. The defaults train on two CPU cores in minutes (≈ 0.5 M parameters)."""

    image_size: int = 128
    channels: tuple[int, int, int] = (16, 32, 64)
    dim: int = 64
    heads: int = 4
    vocab_size: int = 2048
    max_words: int = 32
    text_layers: int = 1
    fusion_layers: int = 1
    #: the pooled prompt also scales and shifts the decoder's full-resolution channels (FiLM). Cross-
    #: attention alone reaches the 1/8-resolution tokens only, and the decoder's skip features — where a
    #: few-pixel scribble is seen — then never learn to depend on the prompt; asking for "scribbles" must
    #: be able to switch the scribble detector off. False for models saved before it existed.
    text_film: bool = False
    #: defect categories for the prompt gate (empty: none). The decoder also names each pixel's category,
    #: and the prompt opens a gate per category; S = σ(logit) · (1 − Σ_k P(k | pixel) · gate_k(prompt)). An
    #: effect the prompt asks for ("covered in scribbles") is then switched off where the pixel looks like
    #: that category. The gate is trained on which categories the prompt asked for (the data's `requested`
    #: column), the category head on the defect regions; left to the saliency loss alone the gate became a
    #: per-category calibration knob that ignored the words.
    gate_categories: tuple[str, ...] = ()
    #: transformers id or local path of a pretrained vision encoder (ViT / SigLIP / CLIP vision), or None
    image_encoder: str | None = None
    #: transformers id or local path of a pretrained text encoder (T5 / CLIP text), or None
    text_encoder: str | None = None
    freeze_encoders: bool = True
    #: the perception threshold τ_s chosen on the validation split by the trainer (None until trained)
    threshold: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SaliencyModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown saliency model config keys: {unknown}")
        data = dict(data)
        for key in ("channels", "gate_categories"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)


class HashTokenizer:
    """Words → ids by CRC32 (stable across processes and machines, unlike `hash`); 0 is padding."""

    def __init__(self, vocab_size: int, max_words: int) -> None:
        self.vocab_size, self.max_words = vocab_size, max_words

    def __call__(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.zeros(len(prompts), self.max_words, dtype=torch.long)
        for i, p in enumerate(prompts):
            words = re.findall(r"[a-z0-9]+", p.lower())[: self.max_words]
            for j, w in enumerate(words):
                ids[i, j] = 1 + zlib.crc32(w.encode()) % (self.vocab_size - 1)
        return ids, ids != 0


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(4, cout), nn.GELU())


class _FusionBlock(nn.Module):
    """Self-attention over image tokens, cross-attention to the text tokens, a feed-forward layer."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.n1, self.n2, self.n3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor, text: torch.Tensor, text_pad: torch.Tensor) -> torch.Tensor:
        h = self.n1(x)
        x = x + self.self_attn(h, h, h, need_weights=False)[0]
        x = x + self.cross_attn(self.n2(x), text, text, key_padding_mask=text_pad, need_weights=False)[0]
        return x + self.ff(self.n3(x))


def _film(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """x · (1 + γ) + β per channel, with (γ, β) = `params` (B, 2C)."""
    gamma, beta = params[..., None, None].chunk(2, dim=1)
    return x * (1 + gamma) + beta


class SaliencyModel(nn.Module):
    """Image + prompt → distortion saliency. `forward` returns logits (B, H, W); `predict` returns S."""

    def __init__(self, config: SaliencyModelConfig | None = None, *, image_backbone: nn.Module | None = None,
                 text_backbone: nn.Module | None = None, tokenizer: Any = None) -> None:
        super().__init__()
        self.config = config = config or SaliencyModelConfig()
        c0, c1, c2 = config.channels
        d = config.dim
        self.stem1, self.stem2, self.stem3 = _conv(3, c0, 2), _conv(c0, c1, 2), _conv(c1, c2, 2)
        self.to_tokens = nn.Conv2d(c2, d, 1)
        grid = config.image_size // 8
        self.pos = nn.Parameter(torch.zeros(1, grid * grid, d))
        # text side
        if text_backbone is None and config.text_encoder:
            text_backbone, tokenizer = _load_text_encoder(config.text_encoder)
        self.text_backbone = text_backbone
        self.tokenizer = tokenizer
        if text_backbone is None:
            self.word_emb = nn.Embedding(config.vocab_size, d, padding_idx=0)
            self.word_pos = nn.Parameter(torch.zeros(1, config.max_words, d))
            layer = nn.TransformerEncoderLayer(d, config.heads, 2 * d, dropout=0.0, batch_first=True,
                                               activation="gelu", norm_first=True)
            self.text_layers = nn.TransformerEncoder(layer, config.text_layers, enable_nested_tensor=False)
        else:
            self.text_proj = nn.Linear(_hidden_size(text_backbone), d)
        self.null_token = nn.Parameter(torch.zeros(1, 1, d))
        # optional pretrained image tokens
        if image_backbone is None and config.image_encoder:
            image_backbone = _load_vision_encoder(config.image_encoder)
        self.image_backbone = image_backbone
        if image_backbone is not None:
            self.image_proj = nn.Linear(_hidden_size(image_backbone), d)
        if config.freeze_encoders:
            for bb in (self.text_backbone, self.image_backbone):
                if bb is not None:
                    bb.requires_grad_(False)
        self.fusion = nn.ModuleList(_FusionBlock(d, config.heads) for _ in range(config.fusion_layers))
        self.up2 = _conv(d + c1, c1)
        self.up1 = _conv(c1 + c0, c0)
        if config.text_film:
            # zero-initialised: training starts from the model without FiLM
            self.film2, self.film1 = nn.Linear(d, 2 * c1), nn.Linear(d, 2 * c0)
            for lin in (self.film2, self.film1):
                nn.init.zeros_(lin.weight)
                nn.init.zeros_(lin.bias)
        self.head = nn.Conv2d(c0, 1, 1)
        if config.gate_categories:
            self.cat_head = nn.Conv2d(c0, len(config.gate_categories), 1)
            self.gate = nn.Linear(d, len(config.gate_categories))
            nn.init.zeros_(self.gate.weight)
            nn.init.constant_(self.gate.bias, -3.0)  # closed at the start: S as without the gate
        self.hash_tokenizer = HashTokenizer(config.vocab_size, config.max_words)

    # -- encoders ---------------------------------------------------------------------------------------

    def encode_text(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Text tokens (B, 1 + T, d) with the null token first, and their padding mask (True = pad)."""
        dev = self.null_token.device
        if self.text_backbone is None:
            ids, keep = self.hash_tokenizer(prompts)
            ids, keep = ids.to(dev), keep.to(dev)
            x = self.word_emb(ids) + self.word_pos[:, : ids.shape[1]]
            x = self.text_layers(x, src_key_padding_mask=~keep)
            # padding is masked out of the cross-attention; an all-padding row (an empty prompt) comes back
            # as NaN from torch's inference fast path, and NaN·0 would poison the attention: zero it
            x = x.masked_fill(~keep[..., None], 0.0)
        else:
            ids, keep = self._backbone_ids(prompts)
            ids, keep = ids.to(dev), keep.to(dev)
            out = self.text_backbone(input_ids=ids, attention_mask=keep.long())
            x = self.text_proj(out.last_hidden_state).masked_fill(~keep[..., None], 0.0)
        null = self.null_token.expand(len(prompts), 1, -1)
        pad = torch.cat([torch.zeros(len(prompts), 1, dtype=torch.bool, device=dev), ~keep], dim=1)
        return torch.cat([null, x], dim=1), pad

    def _backbone_ids(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        if self.tokenizer is not None:
            enc = self.tokenizer(prompts, padding="max_length", truncation=True, max_length=self.config.max_words,
                                 return_tensors="pt")
            return enc["input_ids"], enc["attention_mask"].bool()
        # a backbone without a tokenizer (tests' tiny random models): hashed ids inside its vocabulary
        vocab = int(getattr(self.text_backbone.config, "vocab_size", self.config.vocab_size))
        ids, keep = HashTokenizer(vocab, self.config.max_words)(prompts)
        return ids, keep

    def _image_tokens(self, images: torch.Tensor, grid: int) -> torch.Tensor:
        bb = self.image_backbone
        size = int(getattr(bb.config, "image_size", 224))
        px = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
        hidden = bb(pixel_values=px * 2 - 1).last_hidden_state
        n = hidden.shape[1]
        side = int(np.sqrt(n))
        patches = hidden[:, n - side * side:]  # drop CLS / register tokens in front
        patches = self.image_proj(patches).transpose(1, 2).reshape(len(images), -1, side, side)
        patches = F.interpolate(patches, size=(grid, grid), mode="bilinear", align_corners=False)
        return patches.flatten(2).transpose(1, 2)

    # -- forward ----------------------------------------------------------------------------------------

    def forward(self, images: torch.Tensor, prompts: list[str], *, with_categories: bool = False) -> Any:
        """`images`: (B, 3, S, S) floats in [0, 1] at `config.image_size`. Returns logits (B, S, S), and with
        `with_categories` also the per-pixel category logits (B, K, S, S) and the gate's logits (B, K)
        (both None without a gate)."""
        f1 = self.stem1(images)
        f2 = self.stem2(f1)
        f3 = self.stem3(f2)
        b, _, gh, gw = f3.shape
        x = self.to_tokens(f3).flatten(2).transpose(1, 2) + self.pos[:, : gh * gw]
        if self.image_backbone is not None:
            x = x + self._image_tokens(images, gh)
        text, pad = self.encode_text(prompts)
        for block in self.fusion:
            x = block(x, text, pad)
        x = x.transpose(1, 2).reshape(b, -1, gh, gw)
        x = F.interpolate(x, size=f2.shape[-2:], mode="bilinear", align_corners=False)
        x = self.up2(torch.cat([x, f2], dim=1))
        pooled = text.masked_fill(pad[..., None], 0.0).sum(1) / (~pad).sum(1, keepdim=True).clamp(min=1)
        if self.config.text_film:
            x = _film(x, self.film2(pooled))
        x = F.interpolate(x, size=f1.shape[-2:], mode="bilinear", align_corners=False)
        x = self.up1(torch.cat([x, f1], dim=1))
        if self.config.text_film:
            x = _film(x, self.film1(pooled))
        x = F.interpolate(x, size=images.shape[-2:], mode="bilinear", align_corners=False)
        logits = self.head(x)[:, 0]
        cats = gate_logits = None
        if self.config.gate_categories:
            cats = self.cat_head(x)
            gate_logits = self.gate(pooled)
            keep = 1 - (torch.softmax(cats, dim=1) * torch.sigmoid(gate_logits)[..., None, None]).sum(1)
            logits = torch.logit(torch.sigmoid(logits) * keep, eps=1e-6)
        return (logits, cats, gate_logits) if with_categories else logits

    @torch.no_grad()
    def predict(self, images: list[Image.Image], prompts: list[str]) -> list[np.ndarray]:
        """S ∈ [0,1] for each image at the image's own size (the model runs at `config.image_size`)."""
        self.eval()
        x = images_to_tensor(images, self.config.image_size).to(self.null_token.device)
        s = torch.sigmoid(self(x, prompts)).cpu().numpy()
        out = []
        for img, m in zip(images, s, strict=True):
            if img.size != (m.shape[1], m.shape[0]):
                m = np.asarray(Image.fromarray(m.astype(np.float32), "F").resize(img.size, Image.BILINEAR))
            out.append(np.clip(m, 0.0, 1.0))
        return out

    # -- persistence ------------------------------------------------------------------------------------

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Every tensor except frozen pretrained encoders (those are reloaded by id/path)."""
        frozen = ("text_backbone.", "image_backbone.") if self.config.freeze_encoders else ()
        return {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items() if not k.startswith(frozen)}

    def save_pretrained(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{WEIGHTS_NAME}.tmp"
        save_file(self.trainable_state(), tmp, metadata={"format": "pt", "limner": "saliency"})
        tmp.replace(directory / WEIGHTS_NAME)
        atomic_write_text(directory / CONFIG_NAME, json.dumps(self.config.to_dict(), indent=1) + "\n")
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path, **backbones: Any) -> SaliencyModel:
        directory = Path(directory)
        if not (directory / CONFIG_NAME).is_file() or not (directory / WEIGHTS_NAME).is_file():
            raise FileNotFoundError(f"{directory} holds no saliency model ({CONFIG_NAME} + {WEIGHTS_NAME})")
        config = SaliencyModelConfig.from_dict(json.loads((directory / CONFIG_NAME).read_text(encoding="utf-8")))
        model = cls(config, **backbones)
        missing, unexpected = model.load_state_dict(load_file(directory / WEIGHTS_NAME), strict=False)
        frozen = ("text_backbone.", "image_backbone.")
        if unexpected or any(not k.startswith(frozen) for k in missing):
            raise ValueError(f"{directory}: weights do not match the config (missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]})")
        return model.eval()


def images_to_tensor(images: list[Image.Image], size: int) -> torch.Tensor:
    """RGB floats in [0, 1], (B, 3, size, size)."""
    arr = np.stack([np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR)) for im in images])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255)


def _hidden_size(module: nn.Module) -> int:
    cfg = module.config
    for name in ("hidden_size", "d_model", "projection_dim"):
        if getattr(cfg, name, None):
            return int(getattr(cfg, name))
    raise ValueError(f"cannot tell the hidden size of {type(module).__name__}")


def _load_text_encoder(name: str) -> tuple[nn.Module, Any]:
    from transformers import AutoConfig, AutoModel, AutoTokenizer  # noqa: PLC0415 - optional, heavy

    cfg = AutoConfig.from_pretrained(name)
    if cfg.model_type in ("t5", "mt5", "umt5"):
        from transformers import T5EncoderModel  # noqa: PLC0415 - optional, heavy

        model: Any = T5EncoderModel.from_pretrained(name)
    else:
        model = AutoModel.from_pretrained(name)
        model = getattr(model, "text_model", model)  # CLIP / SigLIP: the text tower
    return model, AutoTokenizer.from_pretrained(name)


def _load_vision_encoder(name: str) -> nn.Module:
    from transformers import AutoModel  # noqa: PLC0415 - optional, heavy

    model = AutoModel.from_pretrained(name)
    return getattr(model, "vision_model", model)  # CLIP / SigLIP: the vision tower
