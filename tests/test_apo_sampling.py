"""What is sampled after fine-tuning is what was trained: a LoRA on any modules (not only attention) loads
into a fresh tiny pipeline whole and samples exactly what the trained UNet samples; a file the loader
cannot read completely is refused, never half-applied; and (slow) fitting one picture through the trainer
makes the sampler draw that picture — the end-to-end check that conditioning, noising, target and LoRA
scale agree between training and sampling (docs/apo_proof.md, "A train/sample check")."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from diffusers.utils import convert_state_dict_to_diffusers
from peft.utils import get_peft_model_state_dict
from PIL import Image
from safetensors.torch import save_file

from limner.train.apo import LORA_WEIGHT_NAME, APOTrainer
from limner.train.apo_config import APOConfig
from limner.train.tiny.evaluate import load_lora
from limner.train.tiny.model import TinyPipeline
from limner.train.tiny.pretrain import images_to_tensor
from limner.train.tiny.world import Scene, all_pairs, caption, render

torch.set_num_threads(1)
EVERYWHERE = ["to_q", "to_k", "to_v", "to_out.0", "conv1", "conv2", "proj_in", "proj_out", "ff.net.2"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("apo-sampling")
    TinyPipeline.new(seed=0).save(root / "pipe")
    data = root / "data"
    data.mkdir()
    scene = all_pairs()[0]
    rng = random.Random(0)
    render(scene, rng).save(data / "w.png")
    render(Scene(scene.right, scene.left), rng).save(data / "l.png")
    (data / "pairs.jsonl").write_text(json.dumps({"prompt": caption(scene), "winner": "w.png", "loser": "l.png"}) + "\n")
    return {"root": root, "pipe": root / "pipe", "data": data, "prompt": caption(scene)}


def trainer(tiny: dict[str, Path], out: str, **overrides) -> APOTrainer:
    values = {"model": str(tiny["pipe"]), "data_dir": str(tiny["data"]), "output_dir": str(tiny["root"] / out),
              "cache_dir": str(tiny["root"] / "cache"), "loss_type": "sft", "beta_schedule": "constant",
              "lora_rank": 4, "lora_alpha": 16.0, "learning_rate": 1e-3, "per_device_train_batch_size": 1,
              "max_steps": 2, "logging_steps": 1, "save_steps": 0, "use_cpu": True}
    return APOTrainer(APOConfig(**{**values, **overrides}))


def test_a_lora_on_every_kind_of_module_loads_whole_and_samples_as_trained(tiny):
    run = trainer(tiny, "everywhere", lora_target_modules=EVERYWHERE)
    result = run.train()
    loaded = load_lora(TinyPipeline.load(tiny["pipe"]), result.lora_dir, LORA_WEIGHT_NAME)
    live = {n: p for n, p in run.unwrapped.named_parameters() if "lora_" in n}
    got = {n: p for n, p in loaded.unet.named_parameters() if "lora_" in n}
    assert set(got) == set(live) and any("attn1.to_q" in n for n in got) and any("conv1" in n for n in got)
    assert all(torch.equal(got[n], live[n]) for n in live)  # the attention adapters too (once dropped)
    trained = TinyPipeline.load(tiny["pipe"])
    trained.unet = run.unwrapped
    prompts, seeds = [tiny["prompt"]] * 2, [0, 1]
    assert torch.allclose(loaded.sample(prompts, seeds, steps=2), trained.sample(prompts, seeds, steps=2), atol=1e-5)


def test_a_lora_file_the_loader_reads_only_in_part_is_refused(tiny, tmp_path):
    """The old save path (`convert_state_dict_to_diffusers`) renamed attention keys only; with conv targets
    the file mixed two key styles and diffusers loaded the convs and skipped the attention silently."""
    run = trainer(tiny, "mixed", lora_target_modules=EVERYWHERE, max_steps=1)
    run.train()
    state = convert_state_dict_to_diffusers(get_peft_model_state_dict(run.unwrapped))
    save_file({f"unet.{k}": v.contiguous() for k, v in state.items()}, tmp_path / LORA_WEIGHT_NAME)
    with pytest.raises(RuntimeError, match=r"holds \d+ tensors but \d+ were loaded"):
        load_lora(TinyPipeline.load(tiny["pipe"]), tmp_path, LORA_WEIGHT_NAME)


@pytest.mark.slow
def test_fitting_one_picture_through_the_trainer_makes_the_sampler_draw_it(tiny):
    run = trainer(tiny, "overfit", lora_rank=8, lora_alpha=8.0, learning_rate=1e-2, max_steps=60,
                  lora_target_modules=[*EVERYWHERE, "conv_in", "conv_out"])
    result = run.train()
    with Image.open(tiny["data"] / "w.png") as picture:
        target = images_to_tensor([picture])
    prompts, seeds = [tiny["prompt"]] * 4, [0, 1, 2, 3]
    base = TinyPipeline.load(tiny["pipe"]).sample(prompts, seeds, steps=10, guidance=1.0)
    tuned = load_lora(TinyPipeline.load(tiny["pipe"]), result.lora_dir, LORA_WEIGHT_NAME).sample(
        prompts, seeds, steps=10, guidance=1.0)
    before, after = ((base - target) ** 2).mean().item(), ((tuned - target) ** 2).mean().item()
    assert after < 0.4 * before, (before, after)
