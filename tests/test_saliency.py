"""The saliency model, its loss and metrics, the trainer (checkpoints, resume), the region classifier, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pyarrow")

from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

from limner.data.blemish import BlemishJob, build_blemish_dataset
from limner.train.cli import app as train_app
from limner.train.errors import SaliencyConfigError
from limner.train.saliency import (
    SaliencyTrainer,
    SplitArrays,
    category_maps,
    choose_threshold,
    list_checkpoints,
)
from limner.train.saliency_config import SaliencyConfig
from limner.train.saliency_metrics import auc_judd, cc, kld, nss, saliency_loss, saliency_metrics
from limner.train.saliency_model import SaliencyModel, SaliencyModelConfig
from limner.train.saliency_regions import RegionClassifier, RegionTrainer, crop_region

TINY = SaliencyModelConfig(image_size=32, channels=(8, 8, 16), dim=16, heads=2, vocab_size=64, max_words=8)


# -- metrics and loss -----------------------------------------------------------------------------------


def _fix() -> np.ndarray:
    m = np.zeros((20, 20), bool)
    m[5:8, 5:9] = True
    return m


def test_auc_judd_is_one_for_a_perfect_map_and_near_half_for_noise() -> None:
    fix = _fix()
    assert auc_judd(fix.astype(float), fix) == pytest.approx(1.0, abs=1e-3)
    noise = np.random.default_rng(0).random((20, 20))
    assert 0.3 < auc_judd(noise, fix) < 0.7
    assert auc_judd(1.0 - fix.astype(float), fix) < 0.1
    assert np.isnan(auc_judd(noise, np.zeros((20, 20), bool)))


def test_nss_cc_kld_reward_maps_on_the_defect() -> None:
    fix = _fix()
    good, flat = fix.astype(float) + 0.001, np.ones((20, 20))
    assert nss(good, fix) > 3 and nss(flat, fix) == 0
    assert cc(good, fix) > 0.99 and cc(flat, fix) == 0
    assert kld(good, fix) < 0.1 < kld(flat, fix)
    m = saliency_metrics([good, flat], [fix, np.zeros_like(fix)])
    assert m["images"] == 1 and m["auc_judd"] > 0.99  # an image without defect has no fixations


def test_loss_mixes_mse_and_kld_and_skips_kld_on_clean_images() -> None:
    target = torch.zeros(2, 8, 8)
    target[0, 2:4, 2:4] = 1
    pred = torch.full((2, 8, 8), 0.5)
    mse = torch.mean((pred - target) ** 2)
    assert saliency_loss(pred, target, alpha=1.0) == pytest.approx(float(mse))
    kld_only = float(saliency_loss(pred, target, alpha=0.0))
    assert kld_only == pytest.approx(kld(pred[0].numpy(), target[0].numpy()), rel=1e-4)  # image 1 is clean
    assert float(saliency_loss(pred, torch.zeros(2, 8, 8), alpha=0.0)) == 0.0
    sharp = target.clone() * 0.9 + 0.05
    assert float(saliency_loss(sharp, target, 0.5)) < float(saliency_loss(pred, target, 0.5))


def test_threshold_is_chosen_by_pixel_f1() -> None:
    fix = _fix()
    s = fix * 0.8 + 0.1
    tau, f1 = choose_threshold([s], [fix])
    assert 0.1 <= tau < 0.9 and f1 == pytest.approx(1.0)


# -- model ----------------------------------------------------------------------------------------------


def test_model_outputs_a_map_per_image_and_handles_empty_prompts(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = SaliencyModel(TINY)
    x = torch.rand(3, 3, 32, 32)
    logits = model(x, ["a red apple", "", "two cats left of a dog"])
    assert logits.shape == (3, 32, 32) and torch.isfinite(logits).all()
    model.eval()  # torch's inference fast path: an all-padding prompt must not turn into NaN
    assert torch.isfinite(model(x, ["", "", "a"])).all()
    maps = model.predict([Image.new("RGB", (50, 40), "white")], ["a cat"])
    assert maps[0].shape == (40, 50) and 0 <= maps[0].min() and maps[0].max() <= 1
    model.config.threshold = 0.42
    model.save_pretrained(tmp_path / "m")
    again = SaliencyModel.from_pretrained(tmp_path / "m")
    assert again.config.threshold == 0.42
    assert torch.equal(again(x, ["a", "b", "c"]), model.eval()(x, ["a", "b", "c"]))
    assert sum(p.numel() for p in SaliencyModel().parameters()) < 1_000_000  # the default stays CPU-sized


def test_prompt_changes_the_map() -> None:
    torch.manual_seed(0)
    model = SaliencyModel(TINY).eval()
    x = torch.rand(1, 3, 32, 32)
    assert not torch.allclose(model(x, ["a red apple"]), model(x, [""]))


def test_pretrained_encoders_from_transformers_configs(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    vit = transformers.ViTModel(transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1,
                                                       num_attention_heads=2, intermediate_size=32))
    text = transformers.CLIPTextModel(transformers.CLIPTextConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1,
                                                                  num_attention_heads=2, intermediate_size=32,
                                                                  max_position_embeddings=16))
    model = SaliencyModel(TINY, image_backbone=vit, text_backbone=text)
    assert not any(p.requires_grad for p in vit.parameters())  # frozen by default
    out = model(torch.rand(2, 3, 32, 32), ["a cat", ""])
    assert out.shape == (2, 32, 32)
    model.save_pretrained(tmp_path / "m")
    saved = load_file(tmp_path / "m" / "model.safetensors")
    assert not any(k.startswith(("image_backbone.", "text_backbone.")) for k in saved)  # named, not copied
    again = SaliencyModel.from_pretrained(tmp_path / "m", image_backbone=vit, text_backbone=text)
    x = torch.rand(1, 3, 32, 32)
    assert torch.allclose(again(x, ["a cat"]), model.eval()(x, ["a cat"]))


# -- trainer --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bl")
    build_blemish_dataset(BlemishJob(n=40, size=64, shard_size=20, splits=(0.6, 0.2, 0.2)), out)
    return out


def _config(data: Path, out: Path, **kw: object) -> SaliencyConfig:
    base: dict[str, object] = {
        "data_dir": str(data), "output_dir": str(out), "image_size": 32, "channels": (8, 8, 16), "dim": 16,
        "batch_size": 4, "max_steps": 6, "eval_steps": 3, "save_steps": 3, "warmup_steps": 2, "classifier_steps": 4,
        "crop_size": 16, **kw}
    return SaliencyConfig(**base)  # type: ignore[arg-type]


def _weights(directory: Path) -> dict[str, torch.Tensor]:
    return load_file(directory / "model" / "model.safetensors")


def test_trainer_writes_model_metrics_and_checkpoints_and_resumes_exactly(data: Path, tmp_path: Path) -> None:
    full = SaliencyTrainer(_config(data, tmp_path / "full")).train()
    assert full.global_step == 6
    metrics = json.loads((tmp_path / "full" / "metrics.json").read_text())["saliency"]
    for key in ("val_auc_judd", "val_nss", "val_cc", "val_kld", "threshold", "train_minutes", "train_cpu_minutes"):
        assert key in metrics
    assert [p.name for p in list_checkpoints(tmp_path / "full")] == ["checkpoint-3", "checkpoint-6"]
    assert SaliencyModel.from_pretrained(tmp_path / "full" / "model").config.threshold == metrics["threshold"]

    class Killed(Exception):
        pass

    def kill_at_3(step: int, logs: object) -> None:
        if step == 3:  # right after the first checkpoint, as a killed run would stop
            raise Killed

    with pytest.raises(Killed):
        SaliencyTrainer(_config(data, tmp_path / "half")).train(on_step=kill_at_3)
    resumed = SaliencyTrainer(_config(data, tmp_path / "half", resume_from_checkpoint="latest"))
    assert resumed.global_step == 3
    resumed.train()
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "half")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_config_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(SaliencyConfigError, match="alpha"):
        SaliencyConfig(data_dir="d", output_dir="o", alpha=2.0)
    with pytest.raises(SaliencyConfigError, match="did you mean 'max_steps'"):
        SaliencyConfig.from_yaml(None, data_dir="d", output_dir="o", max_step=3)
    with pytest.raises(SaliencyConfigError, match="not found"):
        SaliencyTrainer(SaliencyConfig(data_dir=str(tmp_path), output_dir=str(tmp_path / "o")))


def test_region_classifier_trains_saves_and_classifies(data: Path, tmp_path: Path) -> None:
    out = RegionTrainer(_config(data, tmp_path)).train()
    assert 0.0 <= out.val_accuracy <= 1.0 and (tmp_path / "regions" / "model.safetensors").is_file()
    clf = RegionClassifier.from_pretrained(tmp_path / "regions")
    mask = np.zeros((64, 64), bool)
    mask[10:20, 30:40] = True
    [(category, p)] = clf.classify(Image.new("RGB", (64, 64), "white"), [mask], 'a sign that says "OPEN"')
    assert category in out.categories and 0 < p <= 1
    crop = crop_region(np.zeros((64, 64, 3), np.uint8), mask, 16)
    assert crop.shape == (4, 16, 16) and crop[3].max() == 255


def test_cli_trains_both_and_keeps_a_finished_model(data: Path, tmp_path: Path) -> None:
    args = ["saliency", "--data", str(data), "--out", str(tmp_path / "w"), "--max-steps", "2", "--classifier-steps", "2",
            "--quiet"]
    cfg = tmp_path / "c.yaml"
    cfg.write_text("image_size: 32\nchannels: [8, 8, 16]\ndim: 16\nbatch_size: 4\neval_steps: 1\ncrop_size: 16\n")
    first = CliRunner().invoke(train_app, [*args, "--config", str(cfg)])
    assert first.exit_code == 0, first.output
    assert (tmp_path / "w" / "model" / "model.safetensors").is_file() and (tmp_path / "w" / "regions").is_dir()
    again = CliRunner().invoke(train_app, [*args, "--config", str(cfg), "--classifier-steps", "0"])
    assert again.exit_code == 0 and "is finished" in again.output
    bad = CliRunner().invoke(train_app, ["saliency", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "x"),
                                         "--quiet", "--config", str(cfg)])
    assert bad.exit_code == 2 and "not found" in bad.output and "Traceback" not in bad.output


def test_film_lets_the_prompt_reach_full_resolution_and_old_configs_load_without_it(tmp_path: Path) -> None:
    """FiLM starts as the identity (zero init) and, once trained, makes the map depend on the prompt at
    every pixel; configs saved before the option existed load as models without it."""
    torch.manual_seed(0)
    cfg = SaliencyModelConfig(**{**TINY.to_dict(), "text_film": True})
    model = SaliencyModel(cfg).eval()
    plain = SaliencyModel(TINY).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("film")})
    x = torch.rand(2, 3, 32, 32)
    prompts = ["a cup covered in scribbles", "a cup"]
    with torch.no_grad():
        assert torch.allclose(model(x, prompts), plain(x, prompts))
        torch.nn.init.normal_(model.film1.weight, std=0.5)
        a, b = model(x, ["a cup covered in scribbles"] * 2), model(x, ["a cup"] * 2)
    assert (a - b).abs().mean() > 1e-3
    old = {k: v for k, v in TINY.to_dict().items() if k != "text_film"}
    assert SaliencyModelConfig.from_dict(old).text_film is False
    plain.save_pretrained(tmp_path / "old")
    assert SaliencyModel.from_pretrained(tmp_path / "old").config.text_film is False


def test_prompt_gate_lowers_saliency_only_where_a_pixel_looks_like_the_asked_for_category() -> None:
    cfg = SaliencyModelConfig(**{**TINY.to_dict(), "gate_categories": ("smear", "stray_marks")})
    model = SaliencyModel(cfg).eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        # every pixel looks like stray marks; the gate opens for stray marks whatever the prompt says
        model.cat_head.weight.zero_()
        model.cat_head.bias.copy_(torch.tensor([-10.0, 10.0]))
        model.gate.bias.fill_(-10.0)  # closed
        base = torch.sigmoid(model(x, ["a cup"]))
        model.gate.bias.copy_(torch.tensor([-10.0, 10.0]))
        assert torch.sigmoid(model(x, ["a cup"])).max() < 1e-3 * base.max() + 1e-5
        model.gate.bias.copy_(torch.tensor([10.0, -10.0]))  # only smears asked for: stray marks stay
        assert torch.allclose(torch.sigmoid(model(x, ["a cup"])), base, atol=1e-3)
        logits, cats, gates = model(x, ["a cup"], with_categories=True)
    assert cats.shape == (1, 2, 32, 32) and logits.shape == (1, 32, 32) and gates.shape == (1, 2)


def test_category_maps_name_each_defect_pixel() -> None:
    full = np.zeros((8, 8), bool)
    region = {"category": "smear", "box": [2, 2, 4, 4], "rle": [0, 4]}
    data = SplitArrays(images=np.zeros((1, 3, 8, 8), np.uint8), masks=np.zeros((1, 8, 8), np.float32),
                       prompts=[""], regions=[[region, {**region, "category": "unknown"}]], full_masks=[full])
    out = category_maps(data, ("noise_patch", "smear"), 8)
    assert (out[0, 2:4, 2:4] == 1).all() and (out == 1).sum() == 4 and (out[0] == -1).sum() == 60
