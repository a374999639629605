"""APOTrainer on tiny random pipelines built from config (no downloads): SD- and SDXL-style UNets
(ε-prediction) and SD3- and FLUX-style transformers (flow matching), each saved with `save_pretrained` and
loaded by path, exactly as a user's model directory would be."""

from __future__ import annotations

import json
import math
import string
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import (
    AutoencoderKL,
    DDPMScheduler,
    DiffusionPipeline,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    FluxPipeline,
    FluxTransformer2DModel,
    SD3Transformer2DModel,
    StableDiffusion3Pipeline,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from PIL import Image
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    T5Config,
    T5EncoderModel,
    T5Tokenizer,
)
from typer.testing import CliRunner

from limner.train.apo import APOTrainer, pack_latents, unpack_latents
from limner.train.apo_config import APOConfig, APOConfigError
from limner.train.apo_data import CachedPairDataset, DatasetError, PairBatchSampler, collate, load_pairs
from limner.train.cli import app

torch.set_num_threads(1)
SIZE = 32  # pixels; the tiny VAEs downsample by 2 → 16×16 latents


# --- tiny pipelines -----------------------------------------------------------------------------------
def _clip_tokenizer():
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in string.ascii_lowercase + string.digits:
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)


def _clip_encoder(vocab_size: int, projection: bool = False):
    config = CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32, intermediate_size=37, num_attention_heads=4,
        num_hidden_layers=1, vocab_size=vocab_size, projection_dim=32, max_position_embeddings=16)
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config)


def _t5():
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -1.0)]
    vocab += [(c, -2.0) for c in string.ascii_lowercase + string.digits]
    tokenizer = T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=16)
    encoder = T5EncoderModel(T5Config(
        vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=37, num_layers=1, num_heads=4,
        relative_attention_num_buckets=8, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1))
    return tokenizer, encoder


def _vae(**extra):
    return AutoencoderKL(block_out_channels=(8, 16), in_channels=3, out_channels=3, latent_channels=4,
                         down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                         norm_num_groups=8, sample_size=SIZE, **extra)


def build_sd(path: Path) -> None:
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(16, 32), layers_per_block=1, sample_size=SIZE // 2, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, norm_num_groups=8, attention_head_dim=8)
    tokenizer = _clip_tokenizer()
    scheduler = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                              steps_offset=1, clip_sample=False)
    StableDiffusionPipeline(vae=_vae(), text_encoder=_clip_encoder(len(tokenizer)), tokenizer=tokenizer, unet=unet,
                            scheduler=scheduler, safety_checker=None, feature_extractor=None,
                            requires_safety_checker=False).save_pretrained(path)


def build_sdxl(path: Path) -> None:
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(16, 32), layers_per_block=1, sample_size=SIZE // 2, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, projection_class_embeddings_input_dim=80,  # 6 time ids × 8 + pooled 32
        cross_attention_dim=64, norm_num_groups=8)
    tokenizer = _clip_tokenizer()
    scheduler = EulerDiscreteScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                       steps_offset=1, timestep_spacing="leading")
    StableDiffusionXLPipeline(vae=_vae(), text_encoder=_clip_encoder(len(tokenizer)), tokenizer=tokenizer,
                              text_encoder_2=_clip_encoder(len(tokenizer), projection=True),
                              tokenizer_2=_clip_tokenizer(), unet=unet, scheduler=scheduler).save_pretrained(path)


def build_sd3(path: Path) -> None:
    torch.manual_seed(0)
    transformer = SD3Transformer2DModel(
        sample_size=SIZE // 2, patch_size=1, in_channels=4, out_channels=4, num_layers=1, attention_head_dim=8,
        num_attention_heads=4, caption_projection_dim=32, joint_attention_dim=32, pooled_projection_dim=64)
    tokenizer = _clip_tokenizer()
    tokenizer_3, text_encoder_3 = _t5()
    StableDiffusion3Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0), vae=_vae(shift_factor=0.0609, scaling_factor=1.5035),
        text_encoder=_clip_encoder(len(tokenizer), projection=True), tokenizer=tokenizer,
        text_encoder_2=_clip_encoder(len(tokenizer), projection=True), tokenizer_2=_clip_tokenizer(),
        text_encoder_3=text_encoder_3, tokenizer_3=tokenizer_3, transformer=transformer).save_pretrained(path)


def build_flux(path: Path) -> None:
    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=[4, 4, 8],
        guidance_embeds=True)
    tokenizer = _clip_tokenizer()
    tokenizer_2, text_encoder_2 = _t5()
    FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
                 vae=_vae(use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0609, scaling_factor=1.5035),
                 text_encoder=_clip_encoder(len(tokenizer)), tokenizer=tokenizer, text_encoder_2=text_encoder_2,
                 tokenizer_2=tokenizer_2, transformer=transformer).save_pretrained(path)


def write_dataset(root: Path, n: int = 4, *, size: int = SIZE, seed: int = 0, fmt: str = "jsonl") -> Path:
    """n pairs: the winner a bright square on the left, the loser on the right; distances 1..n."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        for name, x0 in (("w", 2), ("l", size // 2 + 2)):
            pixels = (rng.random((size, size, 3)) * 60).astype(np.uint8)
            pixels[8:20, x0:x0 + 12] = (220, 40 + 40 * i, 40)
            Image.fromarray(pixels).save(root / f"{i}_{name}.png")
        rows.append({"prompt": f"red {i} left", "winner": f"{i}_w.png", "loser": f"{i}_l.png",
                     "distance": float(i + 1), "cluster": i})
    if fmt == "jsonl":
        (root / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        # pyarrow: optional (the train extra); only the parquet variant needs it
        import pyarrow as pa  # noqa: PLC0415
        import pyarrow.parquet as pq  # noqa: PLC0415

        pq.write_table(pa.Table.from_pylist(rows), root / "pairs.parquet")
    return root


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("apo")
    paths = {"root": root, "data": write_dataset(root / "data")}
    for family, build in (("sd", build_sd), ("sdxl", build_sdxl), ("sd3", build_sd3), ("flux", build_flux)):
        paths[family] = root / family
        build(paths[family])
    return paths


def make_config(world: dict[str, Path], family: str, out: str, **overrides) -> APOConfig:
    values = {"model": str(world[family]), "data_dir": str(world["data"]), "output_dir": str(world["root"] / out),
              "cache_dir": str(world["root"] / f"cache-{family}"), "lora_rank": 4, "beta_base": 5000.0,
              "learning_rate": 1e-3, "per_device_train_batch_size": 2, "max_steps": 4, "logging_steps": 1,
              "save_steps": 0, "max_sequence_length": 16 if family in ("sd3", "flux") else None}
    values.update(overrides)
    return APOConfig(**values)


def fixed_batch(trainer: APOTrainer) -> dict[str, torch.Tensor]:
    """Every pair once, with fixed draw ids, read through the trainer's own dataset code."""
    dataset = CachedPairDataset(trainer.cache, trainer.pairs)
    return collate([dataset[(i, 10_000 + i)] for i in range(len(dataset))])


# --- training behaviour ------------------------------------------------------------------------------
@pytest.mark.parametrize("family", ["sd", "flux"])
def test_loss_decreases_on_a_fixed_batch_and_every_lora_weight_moves(world, family):
    trainer = APOTrainer(make_config(world, family, f"decrease-{family}", beta_base=2000.0,
                                     per_device_train_batch_size=4, max_steps=30))
    batch = fixed_batch(trainer)
    with torch.no_grad():
        before, stats = trainer.compute_loss(batch)
    # Zero-initialised LoRA B: the policy equals the reference, so every margin is 0 and the loss log 2.
    assert before.item() == pytest.approx(math.log(2), abs=1e-6)
    assert stats["rewards/accuracies"].item() == 0.5
    initial = {n: p.detach().clone() for n, p in trainer.unwrapped.named_parameters() if p.requires_grad}

    result = trainer.train()

    with torch.no_grad():
        after, stats = trainer.compute_loss(batch)
    assert after.item() < before.item() - 0.05
    assert stats["rewards/margins"].item() > 0
    moved = [n for n, p in trainer.unwrapped.named_parameters() if p.requires_grad and not torch.equal(p, initial[n])]
    assert len(moved) == len(initial) > 0
    logged = [json.loads(line) for line in (Path(trainer.output_dir) / "logs.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == list(range(1, 31)) == [r["step"] for r in result.log_history]
    assert {"loss", "rewards/margins", "rewards/accuracies", "beta/mean", "beta/min", "beta/max",
            "grad_norm", "learning_rate"} <= set(logged[0])
    # β = 2000·(0.5 + 0.5·d̂) with d̂ = (d − 1)/3 over distances 1..4: the extremes are 1000 and 2000.
    assert min(r["beta/min"] for r in logged) == pytest.approx(1000.0)
    assert max(r["beta/max"] for r in logged) == pytest.approx(2000.0)


def _independent_diffusion_dpo(trainer: APOTrainer, batch: dict[str, torch.Tensor], beta: torch.Tensor,
                               model_dir: Path) -> torch.Tensor:
    """Plain Diffusion-DPO for an ε-prediction UNet, written from the paper: the reference is a fresh copy of
    the base UNet loaded from disk (not the adapter switched off), the noising is done by hand."""
    reference = UNet2DConditionModel.from_pretrained(model_dir, subfolder="unet").eval()
    policy = trainer.unwrapped
    noise, timesteps = trainer._draw(batch["draw_id"], batch["winner"].shape[1:])  # the shared draws
    t = timesteps.long()
    alpha_bar = trainer.noise_scheduler.alphas_cumprod[t].view(-1, 1, 1, 1)
    cond = batch["prompt_embeds"]
    errors = {}
    with torch.no_grad():
        for side in ("winner", "loser"):
            noisy = alpha_bar.sqrt() * batch[side] + (1 - alpha_bar).sqrt() * noise
            for name, net in (("policy", policy), ("ref", reference)):
                pred = net(noisy, t, encoder_hidden_states=cond).sample
                errors[name, side] = ((pred - noise) ** 2).mean(dim=(1, 2, 3))
    model_diff = errors["policy", "winner"] - errors["policy", "loser"]
    ref_diff = errors["ref", "winner"] - errors["ref", "loser"]
    return -torch.nn.functional.logsigmoid(-0.5 * beta * (model_diff - ref_diff)).mean()


@pytest.mark.parametrize("schedule", ["constant", "linear"])
def test_loss_equals_an_independent_diffusion_dpo(world, schedule):
    trainer = APOTrainer(make_config(world, "sd", f"independent-{schedule}", beta_schedule=schedule,
                                     max_steps=3, per_device_train_batch_size=4))
    trainer.train()  # so the policy differs from the reference
    batch = fixed_batch(trainer)
    with torch.no_grad():
        loss, _ = trainer.compute_loss(batch)
    distances = batch["normalized_distance"]
    beta = torch.full_like(distances, 5000.0) if schedule == "constant" else 5000.0 * (0.5 + 0.5 * distances)
    expected = _independent_diffusion_dpo(trainer, batch, beta, world["sd"])
    assert abs(loss.item() - math.log(2)) > 1e-3  # the check below is not the trivial step-0 case
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-6)


def test_flow_matching_loss_equals_an_independent_diffusion_dpo_with_guidance_one(world):
    """FLUX: z_t = (1−σ)·x0 + σ·noise, target noise − x0, reference = a fresh base transformer from disk."""
    trainer = APOTrainer(make_config(world, "flux", "independent-flux", beta_schedule="constant", beta_base=500.0,
                                     max_steps=3, per_device_train_batch_size=4))
    trainer.train()
    batch = fixed_batch(trainer)
    seen_guidance = []
    hook = trainer.unwrapped.register_forward_pre_hook(
        lambda module, args, kwargs: seen_guidance.append(kwargs["guidance"]), with_kwargs=True)
    with torch.no_grad():
        loss, _ = trainer.compute_loss(batch)
    hook.remove()
    assert all(torch.equal(g, torch.ones(8)) for g in seen_guidance) and len(seen_guidance) == 2

    reference = FluxTransformer2DModel.from_pretrained(world["flux"], subfolder="transformer").eval()
    noise, u = trainer._draw(batch["draw_id"], batch["winner"].shape[1:])
    scheduler = trainer.noise_scheduler
    index = (u * scheduler.config.num_train_timesteps).long()
    sigma = scheduler.sigmas[index].view(-1, 1, 1, 1)
    timesteps = scheduler.timesteps[index]
    errors = {}
    with torch.no_grad():
        for side in ("winner", "loser"):
            x0 = batch[side]
            noisy = (1 - sigma) * x0 + sigma * noise
            for name, net in (("policy", trainer.unwrapped), ("ref", reference)):
                pred = trainer._predict(net, noisy, timesteps, batch)
                errors[name, side] = ((pred - (noise - x0)) ** 2).mean(dim=(1, 2, 3))
    inside = -0.5 * 500.0 * ((errors["policy", "winner"] - errors["policy", "loser"])
                             - (errors["ref", "winner"] - errors["ref", "loser"]))
    expected = -torch.nn.functional.logsigmoid(inside).mean()
    assert abs(loss.item() - math.log(2)) > 1e-3
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("family", ["sd", "sdxl", "sd3", "flux"])
def test_saved_lora_loads_into_a_fresh_pipeline_and_reproduces_outputs(world, family):
    # alpha ≠ rank: the saved peft metadata must carry the scale, or the loaded LoRA would be off by 2×.
    trainer = APOTrainer(make_config(world, family, f"lora-{family}", max_steps=2, lora_alpha=8.0))
    result = trainer.train()
    assert (result.lora_dir / "pytorch_lora_weights.safetensors").is_file()

    pipe = DiffusionPipeline.from_pretrained(world[family])
    base = getattr(pipe, trainer.denoiser_name)
    cond = fixed_batch(trainer)  # the cached conditioning of this family (embeds, pooled, time ids)
    noisy = cond["winner"] + torch.randn_like(cond["winner"])
    t = torch.full((len(noisy),), 500.0)
    with torch.no_grad():
        before = trainer._predict(base, noisy, t, cond)
        pipe.load_lora_weights(result.lora_dir)
        loaded = trainer._predict(base, noisy, t, cond)
        trained = trainer._predict(trainer.unwrapped, noisy, t, cond)
    assert not torch.equal(before, trained)  # the adapter does something
    assert torch.equal(loaded, trained)


class _Crash(RuntimeError):
    pass


def _crash_at(step: int):
    def on_step(current: int, logs) -> None:
        if current == step:
            raise _Crash(f"simulated crash after step {step}")
    return on_step


def test_resume_after_a_crash_continues_bit_exactly(world):
    settings = {"max_steps": 4, "save_steps": 2, "lora_dropout": 0.1, "lr_scheduler": "linear", "lr_warmup_steps": 1}
    straight = APOTrainer(make_config(world, "sd", "resume-straight", **settings))
    straight.train()
    crashed = APOTrainer(make_config(world, "sd", "resume-split", **settings))
    with pytest.raises(_Crash):
        crashed.train(on_step=_crash_at(3))  # checkpoint-2 exists, step 3 is lost
    assert (world["root"] / "resume-split" / "checkpoint-2" / "adapter.safetensors").is_file()
    resumed = APOTrainer(make_config(world, "sd", "resume-split", resume_from_checkpoint="latest", **settings))
    assert resumed.global_step == 2
    resumed.train()
    for (name, a), (_, b) in zip(straight.unwrapped.named_parameters(), resumed.unwrapped.named_parameters()):
        assert torch.equal(a, b), name
    assert [r["loss"] for r in straight.log_history] == [r["loss"] for r in resumed.log_history]
    assert [r["learning_rate"] for r in resumed.log_history] == pytest.approx([1e-3, 2e-3 / 3, 1e-3 / 3, 0.0])


# --- data ---------------------------------------------------------------------------------------------
def test_parquet_and_jsonl_manifests_read_the_same(tmp_path):
    a = load_pairs(write_dataset(tmp_path / "a", fmt="jsonl"))
    b = load_pairs(write_dataset(tmp_path / "b", fmt="parquet"))
    assert [(p.prompt, p.normalized_distance) for p in a] == [(p.prompt, p.normalized_distance) for p in b]
    assert [p.normalized_distance for p in a] == pytest.approx([0, 1 / 3, 2 / 3, 1])


def _rewrite(root: Path, edit) -> None:
    rows = [json.loads(line) for line in (root / "pairs.jsonl").read_text().splitlines()]
    rows = edit(rows)
    (root / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.parametrize(("edit", "fragments"), [
    (lambda rows: [], ["holds no pairs", "empty"]),
    (lambda rows: [{**rows[0], "loser": "nope.png"}] + rows[1:], ["row 1:", "nope.png", "does not exist"]),
    (lambda rows: rows[:1] + [{**rows[1], "distance": -1}], ["row 2:", "distance=-1", "negative"]),
    (lambda rows: rows[:1] + [{**rows[1], "distance": "far"}], ["row 2:", "distance='far'", "not a finite number"]),
    (lambda rows: [{k: v for k, v in rows[0].items() if k != "distance"}], ["row 1:", "no 'distance'"]),
    (lambda rows: [{**rows[0], "normalized_distance": 1.5}], ["row 1:", "1.5", "outside [0, 1]"]),
    (lambda rows: [{k: v for k, v in rows[0].items() if k != "winner"}], ["row 1:", "missing field(s) ['winner']"]),
])
def test_bad_data_gives_a_clear_error(tmp_path, edit, fragments):
    root = write_dataset(tmp_path / "d", n=2)
    _rewrite(root, edit)
    with pytest.raises(DatasetError) as info:
        load_pairs(root)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_constant_schedule_accepts_pairs_without_distance(tmp_path):
    root = write_dataset(tmp_path / "d", n=2)
    _rewrite(root, lambda rows: [{k: v for k, v in r.items() if k != "distance"} for r in rows])
    assert [p.normalized_distance for p in load_pairs(root, require_distance=False)] == [1.0, 1.0]


def test_mismatched_sizes_are_refused(tmp_path):
    root = write_dataset(tmp_path / "d", n=2)
    Image.new("RGB", (48, 48)).save(root / "0_l.png")
    with pytest.raises(DatasetError, match=r"row 1: winner '0_w.png' is 32×32 but loser '0_l.png' is 48×48"):
        load_pairs(root)
    Image.new("RGB", (48, 48)).save(root / "0_w.png")  # the pair agrees now, but the dataset does not
    with pytest.raises(DatasetError, match="different sizes"):
        load_pairs(root)
    assert len(load_pairs(root, resolution=32)) == 2


def test_missing_manifest_and_directory(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_pairs(tmp_path / "absent")
    with pytest.raises(DatasetError, match="no manifest"):
        load_pairs(tmp_path)


def test_batches_match_between_one_process_with_accumulation_and_two_ranks():
    one = list(PairBatchSampler(10, 2, seed=3, accumulation=2, world_size=1, rank=0, start_step=0, max_steps=6))
    ranks = [list(PairBatchSampler(10, 2, seed=3, accumulation=1, world_size=2, rank=r, start_step=0, max_steps=6))
             for r in (0, 1)]
    interleaved = [batch for pair in zip(*ranks) for batch in pair]
    assert one == interleaved
    resumed = list(PairBatchSampler(10, 2, seed=3, accumulation=2, world_size=1, rank=0, start_step=4, max_steps=6))
    assert resumed == one[8:]
    assert len({d for batch in one for _, d in batch}) == 24  # every draw id is fresh


def test_timestep_fraction_is_refused_for_flow_matching(world):
    with pytest.raises(APOConfigError, match="timestep_fraction=.*DDPM families only"):
        APOTrainer(make_config(world, "flux", "tf-flux", timestep_fraction=(0.5, 1.0)))


def test_pack_unpack_roundtrip():
    x = torch.randn(2, 4, 6, 8)
    assert pack_latents(x).shape == (2, 12, 16)
    assert torch.equal(unpack_latents(pack_latents(x), 6, 8), x)


# --- config and CLI -----------------------------------------------------------------------------------
def test_config_errors_quote_the_bad_value(tmp_path):
    with pytest.raises(APOConfigError, match=r"beta_schedule='cubic' is unknown"):
        APOConfig(beta_schedule="cubic")
    with pytest.raises(APOConfigError, match=r"lora_rank=0 must be a positive integer"):
        APOConfig(lora_rank=0)
    with pytest.raises(APOConfigError, match=r"beta_f_min=2.0"):
        APOConfig(beta_f_min=2.0)
    (tmp_path / "c.yaml").write_text("learning_rat: 0.1\n")
    with pytest.raises(APOConfigError, match="did you mean 'learning_rate'"):
        APOConfig.from_yaml(tmp_path / "c.yaml")
    (tmp_path / "c.yaml").write_text("beta_base: 100\nlora_rank: 8\n")
    cfg = APOConfig.from_yaml(tmp_path / "c.yaml", lora_rank=16, max_steps=None)
    assert (cfg.beta_base, cfg.lora_rank, cfg.max_steps) == (100, 16, 1000)


# Every field and default of the dataclass APOConfig this model replaced (YAML files and flags rely on them).
_DEFAULTS = {
    "model": "", "data_dir": "", "output_dir": "", "revision": None, "variant": None, "lora_rank": 32,
    "lora_alpha": None, "lora_dropout": 0.0, "lora_target_modules": ["to_q", "to_k", "to_v", "to_out.0"],
    "train_text_encoder": False, "text_encoder_learning_rate": None,
    "beta_base": 5000.0, "beta_schedule": "linear", "beta_f_min": 0.5, "beta_f_max": 1.0,
    "beta_direction": "increasing", "loss_type": "apo", "sft_weight": 0.0, "loss_mask": False, "timestep_fraction": (0.0, 1.0),
    "weighting_scheme": "logit_normal", "logit_mean": 0.0, "logit_std": 1.0,
    "mode_scale": 1.29, "guidance_scale": 1.0, "resolution": None, "max_sequence_length": None, "cache_dir": None,
    "encode_batch_size": 8, "dataloader_num_workers": 0, "max_steps": 1000, "per_device_train_batch_size": 4,
    "gradient_accumulation_steps": 1, "learning_rate": 1e-4, "adam_beta1": 0.9, "adam_beta2": 0.999,
    "adam_epsilon": 1e-8, "weight_decay": 0.0, "lr_scheduler": "constant", "lr_warmup_steps": 0,
    "max_grad_norm": 1.0, "gradient_checkpointing": False, "mixed_precision": "no", "use_cpu": False, "seed": 0,
    "logging_steps": 10, "save_steps": 500, "save_total_limit": 3, "resume_from_checkpoint": None,
    "report_to": "none",
}


def test_config_is_validated_like_limner_config_and_keeps_every_field():
    cfg = APOConfig()
    assert cfg.to_dict() == _DEFAULTS and APOConfig.field_names() == list(_DEFAULTS)
    assert all(f.description for f in APOConfig.model_fields.values())  # TRL-style help on every field
    assert APOConfig.model_fields["lora_rank"].description.startswith("LoRA rank r")
    # One error names every bad field and quotes each bad value.
    with pytest.raises(APOConfigError) as err:
        APOConfig(lora_rank=0, adam_beta2=1.5, mixed_precision="fp8", resolution=12, lora_target_modules=[],
                  max_steps="many")
    text = str(err.value)
    for part in ("lora_rank=0 must be a positive integer", "adam_beta2=1.5 must be in [0, 1)",
                 "mixed_precision='fp8' is unknown", "resolution=12 must be None or a positive multiple of 8",
                 "lora_target_modules=[] must name at least one module", "max_steps='many' is invalid"):
        assert part in text, part
    assert "\n" not in text
    # YAML values are parsed as the field's type; the CLI's None flags leave the file's values alone.
    assert APOConfig.from_dict({"lora_alpha": 16, "use_cpu": "true"}).lora_alpha == 16.0
    assert json.loads(cfg.to_json())["lora_rank"] == 32


def test_bad_target_modules_are_reported(world):
    with pytest.raises(APOConfigError, match="lora_target_modules"):
        APOTrainer(make_config(world, "sd", "bad-targets", lora_target_modules=["no_such_proj"]))


def test_cli_trains_and_reports_bad_data_in_one_line(world, tmp_path):
    runner = CliRunner()
    (tmp_path / "apo.yaml").write_text(f"lora_rank: 4\nper_device_train_batch_size: 2\nsave_steps: 0\n"
                                       f"cache_dir: {world['root'] / 'cache-sd'}\n")
    result = runner.invoke(app, ["apo", "--data", str(world["data"]), "--model", str(world["sd"]),
                                 "--out", str(tmp_path / "out"), "--config", str(tmp_path / "apo.yaml"),
                                 "--max-steps", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "pytorch_lora_weights.safetensors").is_file()

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "pairs.jsonl").write_text("")
    result = runner.invoke(app, ["apo", "--data", str(empty), "--model", str(world["sd"]),
                                 "--out", str(tmp_path / "out2")])
    assert result.exit_code == 2
    assert "empty" in result.output and "Traceback" not in result.output
