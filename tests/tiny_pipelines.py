"""Tiny random diffusers pipelines for the diffusers-backend tests and `benchmarks/backends.py`.

`build_tiny_pipeline(kind, path)` builds a randomly initialised pipeline of `kind` and `save_pretrained`s
it to `path`; `TINY_TOOLS[kind]` gives the limner tool type and options that run it. The models are a
few hundred kB, need no download and run a 32–64 px, 2-step call in well under a second on a CPU: they
exercise the real loading and calling code, not image quality.

Test-only: production code never builds random models, so this lives beside the tests, not in
`limner.tools.diffusers`. Weights depend on the order in which modules are constructed after
`torch.manual_seed(seed)`; each builder keeps that order.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import diffusers
import torch
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    T5Config,
    T5EncoderModel,
    T5Tokenizer,
)

__all__ = ["TINY_KINDS", "TINY_TOOLS", "TinyKind", "build_tiny_pipeline"]

TinyKind = Literal["sd", "sd-inpaint", "sd-pix2pix", "sd3", "flux", "flux-kontext", "flux-fill"]
TINY_KINDS: tuple[TinyKind, ...] = ("sd", "sd-inpaint", "sd-pix2pix", "sd3", "flux", "flux-kontext", "flux-fill")

#: The tool type and options that run each tiny pipeline (besides `model`, `steps` and `device`).
TINY_TOOLS: dict[str, tuple[str, dict[str, Any]]] = {
    "sd": ("text2image", {}),
    "sd-inpaint": ("inpaint", {}),
    "sd-pix2pix": ("edit", {"call_kwargs": {"image_guidance_scale": 1.5}}),
    # The tiny SD3 has no T5 encoder: the same option that drops T5 from a real SD3 to save memory.
    "sd3": ("text2image", {"skip_components": ["text_encoder_3", "tokenizer_3"]}),
    "flux": ("text2image", {"call_kwargs": {"max_sequence_length": 32}}),
    # Kontext snaps sizes to its preferred ~1 MP resolutions unless told not to.
    "flux-kontext": ("edit", {"call_kwargs": {"max_sequence_length": 32, "_auto_resize": False}}),
    "flux-fill": ("inpaint", {"call_kwargs": {"max_sequence_length": 32}}),
}

_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789!?.,'-"


def _tiny_tokenizer() -> CLIPTokenizer:
    """A character-level CLIP tokenizer from an in-code vocabulary (no download, no merges needed)."""
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in _CHARS:
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _tiny_t5_tokenizer() -> T5Tokenizer:
    """A character-level T5 (Unigram) tokenizer from an in-code vocabulary."""
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    vocab += [(c, -3.0) for c in _CHARS] + [("\u2581" + c, -2.5) for c in _CHARS]
    return T5Tokenizer(vocab=vocab, extra_ids=0)


def _tiny_clip_config(vocab_size: int) -> CLIPTextConfig:
    return CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32, intermediate_size=37,
        num_attention_heads=4, num_hidden_layers=2, vocab_size=vocab_size, projection_dim=32,
        layer_norm_eps=1e-5,
    )


def _tiny_vae(blocks: tuple[int, ...], **extra: Any) -> diffusers.AutoencoderKL:
    extra.setdefault("latent_channels", 4)
    return diffusers.AutoencoderKL(
        block_out_channels=list(blocks), in_channels=3, out_channels=3, norm_num_groups=2,
        down_block_types=["DownEncoderBlock2D"] * len(blocks), up_block_types=["UpDecoderBlock2D"] * len(blocks),
        layers_per_block=1, **extra,
    )


def _build_sd(kind: TinyKind, tok: CLIPTokenizer, clip: CLIPTextConfig) -> Any:
    """SD 1.x text-to-image, inpainting (9 UNet input channels) or InstructPix2Pix (8)."""
    in_ch = {"sd": 4, "sd-inpaint": 9, "sd-pix2pix": 8}[kind]
    unet = diffusers.UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=16, in_channels=in_ch, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32, norm_num_groups=4,
        attention_head_dim=4,
    )
    scheduler = diffusers.DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
        set_alpha_to_one=False, steps_offset=1,
    )
    cls = {
        "sd": diffusers.StableDiffusionPipeline,
        "sd-inpaint": diffusers.StableDiffusionInpaintPipeline,
        "sd-pix2pix": diffusers.StableDiffusionInstructPix2PixPipeline,
    }[kind]
    return cls(
        unet=unet, scheduler=scheduler, vae=_tiny_vae((4, 8)), text_encoder=CLIPTextModel(clip),
        tokenizer=tok, safety_checker=None, feature_extractor=None, image_encoder=None,
        requires_safety_checker=False,
    )


def _build_sd3(kind: TinyKind, tok: CLIPTokenizer, clip: CLIPTextConfig) -> Any:
    """SD3 with its two CLIP encoders and no T5 (run with `skip_components`, see TINY_TOOLS)."""
    transformer = diffusers.SD3Transformer2DModel(
        sample_size=16, patch_size=1, in_channels=4, num_layers=1, attention_head_dim=8,
        num_attention_heads=4, joint_attention_dim=64, caption_projection_dim=32, pooled_projection_dim=64,
        out_channels=4,
    )
    return diffusers.StableDiffusion3Pipeline(
        transformer=transformer, scheduler=diffusers.FlowMatchEulerDiscreteScheduler(),
        vae=_tiny_vae((4, 8), shift_factor=0.0609, scaling_factor=1.5035, use_quant_conv=False,
                      use_post_quant_conv=False),
        text_encoder=CLIPTextModelWithProjection(clip), tokenizer=tok,
        text_encoder_2=CLIPTextModelWithProjection(clip), tokenizer_2=_tiny_tokenizer(),
        text_encoder_3=None, tokenizer_3=None,
    )


def _build_flux(kind: TinyKind, tok: CLIPTokenizer, clip: CLIPTextConfig) -> Any:
    """FLUX text-to-image, Kontext (editing) or Fill (inpainting), with a tiny T5."""
    t5_tok = _tiny_t5_tokenizer()
    t5 = T5EncoderModel(T5Config(
        vocab_size=len(t5_tok), d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
    ))
    # Packed latents have 4 channels (1 latent channel x 2x2 patches); Fill adds the masked image's
    # packed latents (4) and the packed mask (vae_scale_factor**2 x 4 = 16).
    transformer = diffusers.FluxTransformer2DModel(
        patch_size=1, in_channels=24 if kind == "flux-fill" else 4, out_channels=4, num_layers=1,
        num_single_layers=1, attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
        pooled_projection_dim=32, axes_dims_rope=[4, 4, 8],
    )
    cls = {"flux": diffusers.FluxPipeline, "flux-kontext": diffusers.FluxKontextPipeline,
           "flux-fill": diffusers.FluxFillPipeline}[kind]
    return cls(
        transformer=transformer, scheduler=diffusers.FlowMatchEulerDiscreteScheduler(),
        vae=_tiny_vae((4, 8), latent_channels=1, shift_factor=0.0609, scaling_factor=1.5035,
                      use_quant_conv=False, use_post_quant_conv=False),
        text_encoder=CLIPTextModel(clip), tokenizer=tok, text_encoder_2=t5, tokenizer_2=t5_tok,
    )


_BUILDERS: dict[str, Callable[[TinyKind, CLIPTokenizer, CLIPTextConfig], Any]] = {
    "sd": _build_sd, "sd-inpaint": _build_sd, "sd-pix2pix": _build_sd, "sd3": _build_sd3,
    "flux": _build_flux, "flux-kontext": _build_flux, "flux-fill": _build_flux,
}


def build_tiny_pipeline(kind: TinyKind, path: str | Path, *, seed: int = 0) -> Path:
    """Build a tiny randomly initialised pipeline of `kind` and `save_pretrained` it to `path`."""
    if kind not in _BUILDERS:
        raise ValueError(f"unknown tiny pipeline kind {kind!r}; kinds: {', '.join(TINY_KINDS)}")
    torch.manual_seed(seed)
    tok = _tiny_tokenizer()
    pipe = _BUILDERS[kind](kind, tok, _tiny_clip_config(len(tok)))
    path = Path(path)
    pipe.save_pretrained(path)
    return path
