"""APO trainer benchmark: limner (cached latents) vs a diffusers-example-style loop, and DDP vs accumulation.

    python benchmarks/apo.py --json            # the full run quoted in docs/apo.md
    python benchmarks/apo.py --json --quick    # smoke test

1. Speed and memory. A tiny random SD-style pipeline (VAE ×8 down-sampling with 4 levels, a 3-level UNet
   with cross-attention, a 2-layer CLIP text encoder; built from config, no download) whose VAE-encode /
   UNet-forward FLOP ratio is close to SD 1.5's at 512² (both counted, see `flop_ratios`), and a preference
   dataset of PNG pairs. Each side runs in its own process (so peak RSS is its own):
   - limner: `APOTrainer` on a cache built beforehand by a separate process (the normal way to run it:
     the cache is built once; its build time is reported as `cache_build_s`);
   - reference: the loop of diffusers' Diffusion-DPO example: every step reads the PNGs, runs the VAE and
     the text encoder, then the policy and the adapter-disabled reference UNet.
   Same model, LoRA (r=8 on the attention projections), batch (4 pairs) and β. Steps/s is measured after
   warm-up steps, per CPU-second of the single-threaded worker on CPU (robust to other jobs on shared
   cores; the wall-clock rate is reported beside it) and per wall second on CUDA; the two sides alternate
   and each keeps its best of `repeats` runs. Peak memory is the worker's peak RSS on CPU (peak allocated
   on CUDA).
2. Data parallel. `torchrun --nproc_per_node 2` (gloo, CPU) with batch 1 × accumulation 1 per process vs one
   process with batch 1 × accumulation 2, both through `limner train apo` (`python -m limner.train.cli`):
   the per-step losses must agree within `tolerance`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

if TYPE_CHECKING:
    from limner.train.apo_config import APOConfig

# Each side runs in its own process and its peak RSS is a reported figure, so every process imports only
# what it runs: the heavy libraries (diffusers, transformers, peft, accelerate) and limner's trainer and
# config (which pull in those and pydantic) are imported inside the functions that use them (ruff rule
# PLC0415 waived there), never by the reference loop's process.

RESOLUTION = 128
BATCH_PAIRS = 4
LORA_RANK = 8
BETA = 5000.0
TOLERANCE = 1e-4


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- fixtures: a tiny SD pipeline and a dataset ---------------------------------------------------------
def build_pipeline(path: Path, seed: int) -> None:
    from diffusers import (  # noqa: PLC0415 - see the note on imports
        AutoencoderKL,
        DDPMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer  # noqa: PLC0415 - see above

    torch.manual_seed(seed)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in string.ascii_lowercase + string.digits:
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=32)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=64, intermediate_size=128,
        num_attention_heads=4, num_hidden_layers=2, vocab_size=len(vocab), max_position_embeddings=32))
    vae = AutoencoderKL(block_out_channels=(16, 32, 64, 64), in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        layers_per_block=1, norm_num_groups=8, sample_size=RESOLUTION)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64, 144), layers_per_block=2, sample_size=RESOLUTION // 8, in_channels=4,
        out_channels=4, down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=64,
        norm_num_groups=8, attention_head_dim=8)
    scheduler = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, steps_offset=1,
                              clip_sample=False)
    StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                            safety_checker=None, feature_extractor=None,
                            requires_safety_checker=False).save_pretrained(path)


def build_dataset(root: Path, pairs: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(pairs):
        for side in ("w", "l"):
            pixels = (rng.random((RESOLUTION, RESOLUTION, 3)) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / f"{i}_{side}.png")
        rows.append({"prompt": f"red cube {i % 7} left of a blue ball", "winner": f"{i}_w.png",
                     "loser": f"{i}_l.png", "distance": float(1 + i % 4)})
    (root / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def flop_ratios(model: Path) -> dict[str, float]:
    """FLOPs of one VAE encode / one UNet forward (matmul + conv, torch's FlopCounterMode): for the tiny
    model, and for the real SD 1.5 (512²) and SDXL (1024²) architectures instantiated on the meta device
    (no weights). The tiny model is sized so its ratio is the closest we found to SD 1.5's (1.43 vs 1.39):
    the speed-up of caching is mostly this ratio, so a tiny model with a heavier VAE would flatter limner."""
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel  # noqa: PLC0415
    from torch.utils.flop_counter import FlopCounterMode  # noqa: PLC0415 - see the note on imports

    def flops(fn) -> int:
        with FlopCounterMode(display=False) as counter:
            fn()
        return counter.get_total_flops()

    def ratio(vae, unet, pixels: int, device: str, text: tuple[int, int], **unet_kwargs) -> float:
        image = torch.randn(1, 3, pixels, pixels, device=device)
        latents = torch.randn(1, 4, pixels // 8, pixels // 8, device=device)
        context = torch.randn(1, *text, device=device)
        t = torch.tensor([10], device=device)
        return flops(lambda: vae.encode(image)) / flops(lambda: unet(latents, t, context, **unet_kwargs))

    pipe = StableDiffusionPipeline.from_pretrained(model)
    result = {"tiny": ratio(pipe.vae, pipe.unet, RESOLUTION, "cpu", (32, 64))}
    sd_vae = {"block_out_channels": (128, 256, 512, 512), "down_block_types": ("DownEncoderBlock2D",) * 4,
              "up_block_types": ("UpDecoderBlock2D",) * 4, "layers_per_block": 2, "latent_channels": 4}
    with torch.device("meta"):
        vae = AutoencoderKL(**sd_vae)
        sd15 = UNet2DConditionModel(cross_attention_dim=768)  # the default config is SD 1.5's UNet
        sdxl = UNet2DConditionModel(
            block_out_channels=(320, 640, 1280), transformer_layers_per_block=(1, 2, 10),
            attention_head_dim=(5, 10, 20), cross_attention_dim=2048, addition_embed_type="text_time",
            addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816, use_linear_projection=True,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"))
    result["sd15_512"] = ratio(vae, sd15, 512, "meta", (77, 768))
    added = {"text_embeds": torch.randn(1, 1280, device="meta"), "time_ids": torch.randn(1, 6, device="meta")}
    result["sdxl_1024"] = ratio(vae, sdxl, 1024, "meta", (77, 2048), added_cond_kwargs=added)
    return result


# --- workers (each in its own process) ----------------------------------------------------------------
def peak_memory_mb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def clocks() -> tuple[float, float]:
    """(CPU seconds of this process, wall seconds). On CUDA the wall clock after a synchronize is used."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        now = time.perf_counter()
        return now, now
    return time.process_time(), time.perf_counter()


def rates(start: tuple[float, float], end: tuple[float, float], steps: int) -> dict[str, float]:
    """On CPU, `steps_per_s` counts the single-threaded worker's own CPU seconds: on an idle core that is the
    wall time, and unlike the wall time it does not swing with other jobs on shared cores."""
    return {"steps_per_s": steps / (end[0] - start[0]), "steps_per_wall_s": steps / (end[1] - start[1]),
            "peak_mem_mb": peak_memory_mb()}


def config_for(args: argparse.Namespace, out: Path, **extra: object) -> APOConfig:
    from limner.train.apo_config import APOConfig  # noqa: PLC0415 - see the note on imports

    values: dict[str, object] = {
        "model": str(args.model), "data_dir": str(args.data), "output_dir": str(out),
        "cache_dir": str(args.workdir / "cache"), "lora_rank": LORA_RANK, "beta_base": BETA,
        "per_device_train_batch_size": BATCH_PAIRS, "logging_steps": 1, "save_steps": 0, "seed": args.seed,
        "max_steps": args.warmup + args.steps,
    }
    values.update(extra)
    return APOConfig(**values)


def worker_cache(args: argparse.Namespace) -> dict[str, float]:
    from limner.train.apo import APOTrainer  # noqa: PLC0415 - see the note on imports

    start = time.perf_counter()
    APOTrainer(config_for(args, args.workdir / "cache-run", max_steps=1))
    return {"cache_build_s": time.perf_counter() - start}


def worker_limner(args: argparse.Namespace) -> dict[str, float]:
    from limner.train.apo import APOTrainer  # noqa: PLC0415 - see the note on imports

    trainer = APOTrainer(config_for(args, args.workdir / "limner-run"))
    stamps: dict[int, tuple[float, float]] = {}
    trainer.train(on_step=lambda step, logs: stamps.__setitem__(step, clocks()))
    return rates(stamps[args.warmup], stamps[args.warmup + args.steps], args.steps)


def worker_reference(args: argparse.Namespace) -> dict[str, float]:
    """Diffusers' Diffusion-DPO example loop (LoRA variant), no caching: VAE and text encoder every step."""
    import torch.nn.functional as F  # noqa: PLC0415 - see the note on imports
    from diffusers import DDPMScheduler, StableDiffusionPipeline  # noqa: PLC0415 - see the note on imports
    from peft import LoraConfig  # noqa: PLC0415 - see the note on imports

    torch.manual_seed(args.seed)
    pipe = StableDiffusionPipeline.from_pretrained(args.model)
    vae, text_encoder, tokenizer, unet = pipe.vae, pipe.text_encoder, pipe.tokenizer, pipe.unet
    noise_scheduler = DDPMScheduler.from_pretrained(args.model, subfolder="scheduler")
    for module in (vae, text_encoder, unet):
        module.requires_grad_(False)
    unet.add_adapter(LoraConfig(r=LORA_RANK, lora_alpha=LORA_RANK, init_lora_weights="gaussian",
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    params = [p for p in unet.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    rows = [json.loads(line) for line in (args.data / "pairs.jsonl").read_text().splitlines()]
    rng = np.random.default_rng(args.seed)

    def pixels(path: str) -> torch.Tensor:
        with Image.open(args.data / path) as image:
            array = np.asarray(image.convert("RGB"), dtype=np.float32)
        return torch.from_numpy(array).permute(2, 0, 1) / 127.5 - 1

    stamps = []
    for _ in range(args.warmup + args.steps):
        batch = [rows[i] for i in rng.choice(len(rows), BATCH_PAIRS, replace=False)]
        feed = torch.stack([pixels(r["winner"]) for r in batch] + [pixels(r["loser"]) for r in batch])
        with torch.no_grad():
            latents = vae.encode(feed).latent_dist.sample() * vae.config.scaling_factor
            ids = tokenizer([r["prompt"] for r in batch], padding="max_length", truncation=True,
                            max_length=tokenizer.model_max_length, return_tensors="pt").input_ids
            encoder_hidden_states = text_encoder(ids)[0].repeat(2, 1, 1)
        noise = torch.randn_like(latents[:BATCH_PAIRS]).repeat(2, 1, 1, 1)
        timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (BATCH_PAIRS,)).repeat(2)
        noisy = noise_scheduler.add_noise(latents, noise, timesteps)
        pred = unet(noisy, timesteps, encoder_hidden_states).sample
        model_losses = F.mse_loss(pred, noise, reduction="none").mean(dim=(1, 2, 3))
        model_w, model_l = model_losses.chunk(2)
        with torch.no_grad():
            unet.disable_adapters()
            ref_pred = unet(noisy, timesteps, encoder_hidden_states).sample
            unet.enable_adapters()
        ref_losses = F.mse_loss(ref_pred, noise, reduction="none").mean(dim=(1, 2, 3))
        ref_w, ref_l = ref_losses.chunk(2)
        loss = -F.logsigmoid(-0.5 * BETA * ((model_w - model_l) - (ref_w - ref_l))).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        stamps.append(clocks())
    return rates(stamps[args.warmup - 1], stamps[-1], args.steps)


WORKERS = {"cache": worker_cache, "limner": worker_limner, "reference": worker_reference}


# --- orchestration ------------------------------------------------------------------------------------
def child_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "PYTHONWARNINGS": "ignore"}


def run_worker(name: str, args: argparse.Namespace) -> dict[str, float]:
    command = [sys.executable, __file__, "--worker", name, "--model", str(args.model), "--data", str(args.data),
               "--workdir", str(args.workdir), "--seed", str(args.seed), "--steps", str(args.steps),
               "--warmup", str(args.warmup)]
    done = subprocess.run(command, env=child_env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"worker {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ddp_comparison(args: argparse.Namespace, steps: int) -> dict[str, object]:
    """2 processes × accumulation 1 vs 1 process × accumulation 2, through the CLI, on the same data."""
    results = {}
    for name, procs, accumulation in (("two_processes", 2, 1), ("one_process", 1, 2)):
        out = args.workdir / f"ddp-{name}"
        config = args.workdir / f"ddp-{name}.yaml"
        config.write_text(f"lora_rank: {LORA_RANK}\nper_device_train_batch_size: 1\n"
                          f"gradient_accumulation_steps: {accumulation}\nlogging_steps: 1\nsave_steps: 0\n"
                          f"learning_rate: 0.001\nuse_cpu: true\nseed: {args.seed}\n"
                          f"cache_dir: {args.workdir / f'ddp-cache-{name}'}\n")
        cli = ["-m", "limner.train.cli", "apo", "--data", str(args.data), "--model", str(args.model),
               "--out", str(out), "--config", str(config), "--max-steps", str(steps), "--quiet"]
        launcher = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={procs}",
                    f"--master_port={free_port()}"] if procs > 1 else [sys.executable]
        log(f"ddp: {name} ({procs} process(es), accumulation {accumulation})")
        done = subprocess.run(launcher + cli, env=child_env(), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
        logs = [json.loads(line) for line in (out / "logs.jsonl").read_text().splitlines()]
        results[name] = [row["loss"] for row in logs]
    a, b = results["two_processes"], results["one_process"]
    if len(a) != steps or len(b) != steps:
        raise RuntimeError(f"expected {steps} logged steps, got {len(a)} and {len(b)}")
    diff = max(abs(x - y) for x, y in zip(a, b))
    return {"max_abs_loss_diff": diff, "tolerance": TOLERANCE, "within_tolerance": diff <= TOLERANCE,
            "steps": steps, "losses": results}


def environment() -> dict[str, object]:
    # versions only, in the orchestrating process (see the note on imports)
    import accelerate  # noqa: PLC0415
    import diffusers  # noqa: PLC0415
    import peft  # noqa: PLC0415
    import transformers  # noqa: PLC0415

    return {"python": platform.python_version(), "torch": torch.__version__, "diffusers": diffusers.__version__,
            "transformers": transformers.__version__, "peft": peft.__version__,
            "accelerate": accelerate.__version__, "cpu_count": os.cpu_count(),
            "cuda": torch.cuda.is_available()}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last stdout line")
    parser.add_argument("--quick", action="store_true", help="fewer steps, for smoke tests")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="keep the work files here (default: temp dir)")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def measure(args: argparse.Namespace, pairs: int, repeats: int, ddp_steps: int) -> dict[str, object]:
    """Fixtures, FLOP ratios, the cache build, the alternating speed runs and the DDP comparison."""
    log(f"building the tiny pipeline and {pairs} pairs in {args.workdir}")
    build_pipeline(args.model, args.seed)
    build_dataset(args.data, pairs, args.seed)
    ratios = flop_ratios(args.model)
    log("cache (separate process)")
    cache = run_worker("cache", args)
    # Alternate the two sides and keep each one's best run: the cores are shared, so a single
    # sequential pair of runs would compare two different loads.
    runs: dict[str, list[dict[str, float]]] = {"limner": [], "reference": []}
    for round_ in range(repeats):
        for side in ("limner", "reference"):
            log(f"{side} (round {round_ + 1}/{repeats})")
            runs[side].append(run_worker(side, args))
    return {"ratios": ratios, "cache": cache, "runs": runs, "ddp": ddp_comparison(args, ddp_steps)}


def main() -> None:
    args = parse_args()
    if args.worker:
        torch.set_num_threads(1)
        print(json.dumps(WORKERS[args.worker](args)))
        return

    args.steps = args.steps or (6 if args.quick else 30)
    args.warmup = args.warmup or 2
    ddp_steps = 4 if args.quick else 10
    pairs = 16 if args.quick else 32
    repeats = 1 if args.quick else 2
    with tempfile.TemporaryDirectory(prefix="apo-bench-") as tmp:
        args.workdir = (args.out or Path(tmp)).resolve()
        args.workdir.mkdir(parents=True, exist_ok=True)
        args.model, args.data = args.workdir / "model", args.workdir / "data"
        measured = measure(args, pairs, repeats, ddp_steps)
    ratios, cache, runs, ddp = measured["ratios"], measured["cache"], measured["runs"], measured["ddp"]
    limner, reference = (max(runs[side], key=lambda r: r["steps_per_s"]) for side in ("limner", "reference"))

    env = environment()
    result = {
        "benchmark": "apo",
        "simulated": False,
        "config": {"quick": args.quick, "seed": args.seed, "pairs": pairs, "resolution": RESOLUTION,
                   "batch_pairs": BATCH_PAIRS, "lora_rank": LORA_RANK, "beta": BETA, "timed_steps": args.steps,
                   "warmup_steps": args.warmup, "repeats_best_of": repeats, "threads_per_process": 1, "ddp_steps": ddp_steps,
                   "model": "tiny random SD-style pipeline (VAE 16/32/64/64 x1 layer, UNet 32/64/144, CLIP 2x64)",
                   "peak_mem": "torch.cuda.max_memory_allocated" if env["cuda"]
                   else "peak RSS of each worker process",
                   "steps_per_s": "wall clock after cuda.synchronize" if env["cuda"]
                   else "per CPU-second of the single-threaded worker (wall-clock rate in steps_per_wall_s)"},
        "env": env,
        "metrics": {
            "steps_per_s": {"limner": limner["steps_per_s"], "reference": reference["steps_per_s"]},
            "speedup": limner["steps_per_s"] / reference["steps_per_s"],
            "steps_per_wall_s": {"limner": limner["steps_per_wall_s"], "reference": reference["steps_per_wall_s"]},
            "peak_mem_mb": {"limner": limner["peak_mem_mb"], "reference": reference["peak_mem_mb"]},
            "cache_build_s": cache["cache_build_s"],
            "vae_encode_to_unet_forward_flops": ratios,
            "ddp": {"max_abs_loss_diff": ddp["max_abs_loss_diff"], "tolerance": ddp["tolerance"],
                    "within_tolerance": ddp["within_tolerance"], "steps": ddp["steps"]},
        },
        "ddp_losses": ddp["losses"],
        "runs": runs,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
