"""`APOConfig.train_text_encoder` on the tiny pixel pipeline: the word encoder trains with the LoRA, the
reference keeps the frozen encoder, the trained encoder is saved beside the adapter and sampling uses it
(a LoRA evaluated with the *old* encoder would be a silent train/sample mismatch), checkpoints resume it,
and other families are refused with a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tiny_apo import tiny_apo_config, write_tiny_apo

from limner.train.apo import APOTrainer, read_model_index
from limner.train.apo_config import APOConfig, APOConfigError
from limner.train.apo_data import CachedPairDataset, collate
from limner.train.tiny.evaluate import load_lora
from limner.train.tiny.model import TEXT_ENCODER_WEIGHT_NAME, TinyPipeline
from limner.train.tiny.world import all_pairs, caption

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_tiny_apo(tmp_path_factory.mktemp("apo-text"))


def config(tiny: dict[str, Path], out: str, **overrides) -> APOConfig:
    return tiny_apo_config(tiny, out, **{"train_text_encoder": True, **overrides})


def test_untrained_text_encoder_gives_the_frozen_loss_and_the_reference_stays_frozen(tiny):
    frozen = APOTrainer(config(tiny, "frozen", train_text_encoder=False))
    trained = APOTrainer(config(tiny, "trained"))
    dataset = CachedPairDataset(trained.cache, trained.pairs)
    batch = collate([dataset[(i, 100 + i)] for i in range(len(dataset))])
    assert batch["input_ids"].dtype == torch.int64 and batch["input_ids"].shape == (4, 8)
    with torch.no_grad():
        _, a = frozen.compute_loss(batch)
        _, b = trained.compute_loss(batch)
        assert torch.allclose(a["mse/chosen"], b["mse/chosen"], atol=1e-6)  # same encoder weights so far
        for p in trained.text_encoder.parameters():  # now only the policy's encoder changes
            p.add_(0.05 * torch.randn_like(p))
        _, c = trained.compute_loss(batch)
    assert not torch.allclose(a["mse/chosen"], c["mse/chosen"])
    assert torch.allclose(a["mse/ref_chosen"], c["mse/ref_chosen"])  # the reference: cached, frozen embeddings


def test_text_encoder_trains_saves_and_is_what_sampling_uses(tiny):
    before = TinyPipeline.load(tiny["pipe"])
    trainer = APOTrainer(config(tiny, "arm", loss_type="sft", text_encoder_learning_rate=1e-2))
    assert [g["lr"] for g in trainer.optimizer.param_groups] == [1e-3, 1e-2]
    result = trainer.train()
    moved = [not torch.equal(p, q) for p, q in zip(trainer.text_encoder.parameters(),
                                                   before.text_encoder.parameters(), strict=True)]
    assert all(moved)
    assert (result.lora_dir / TEXT_ENCODER_WEIGHT_NAME).is_file()
    prompts, seeds = [caption(s) for s in all_pairs()[:2]], [0, 1]
    loaded = load_lora(TinyPipeline.load(tiny["pipe"]), result.lora_dir, "pytorch_lora_weights.safetensors")
    live = TinyPipeline.load(tiny["pipe"])
    live.unet, live.text_encoder = trainer.unwrapped, trainer.text_encoder
    assert torch.allclose(loaded.sample(prompts, seeds, steps=2), live.sample(prompts, seeds, steps=2), atol=1e-5)
    # Without the saved encoder the LoRA alone samples something else: the encoder is part of the result.
    unet_only = TinyPipeline.load(tiny["pipe"])
    unet_only.unet = trainer.unwrapped
    assert not torch.allclose(unet_only.sample(prompts, seeds, steps=2), live.sample(prompts, seeds, steps=2),
                              atol=1e-5)


def test_checkpoints_resume_the_text_encoder(tiny):
    first = APOTrainer(config(tiny, "resume"))
    first.train()
    checkpoint = Path(first.output_dir) / "checkpoint-2"
    again = APOTrainer(config(tiny, "resume", max_steps=3, resume_from_checkpoint=str(checkpoint)))
    assert again.global_step == 2
    for p, q in zip(again.text_encoder.parameters(), first.text_encoder.parameters(), strict=True):
        assert torch.equal(p, q)
    assert len(again.optimizer.state_dict()["state"]) == len(first.optimizer.state_dict()["state"])


def test_other_families_are_refused(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    with pytest.raises(APOConfigError, match="train_text_encoder=True is implemented for limner's tiny"):
        read_model_index(APOConfig(model=str(tmp_path), train_text_encoder=True))
    with pytest.raises(APOConfigError, match="text_encoder_learning_rate=0.0"):
        APOConfig(text_encoder_learning_rate=0.0)
