"""The APO proof's parts: the two-object world and its exact checker, the tiny pixel-space pipeline
(limner.train.tiny), its resumable pretraining, and the trainer's additions it needs (the "pixel" family,
`loss_type="sft"`, `loss_mask`). The whole experiment runs as a slow smoke test at the end."""

from __future__ import annotations

import importlib.util
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_apo import tiny_apo_config, write_tiny_apo

from limner.train.apo import APOTrainer
from limner.train.apo_config import APOConfig, APOConfigError
from limner.train.apo_data import CachedPairDataset, DatasetError, collate
from limner.train.tiny.evaluate import Sample, load_lora, mean_se, paired_se, sample_and_check
from limner.train.tiny.model import TinyPipeline, TinyTextEncoder
from limner.train.tiny.pretrain import PretrainConfig, pretrain
from limner.train.tiny.world import (
    MAX_EDITS,
    PERTURBATIONS,
    Obj,
    Scene,
    all_pairs,
    caption,
    check,
    edit_list,
    parse_caption,
    perturb,
    render,
    split_pairs,
)

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]


# --- the world ---------------------------------------------------------------------------------------
def test_checker_is_exact_on_renders_and_rejects_every_other_scene():
    rng = random.Random(7)
    scenes = all_pairs()
    assert len(scenes) == 108
    for i, scene in enumerate(scenes):
        image = render(scene, rng)
        assert check(image, scene).correct, scene
        other = scenes[(i + 1 + rng.randrange(len(scenes) - 1)) % len(scenes)]
        verdict = check(image, other)
        assert not verdict.correct and verdict.edits >= 1, (scene, other)


def test_edits_count_swaps_missing_and_extra_objects():
    red_sq, blue_ci, green_tr = Obj("red", "square"), Obj("blue", "circle"), Obj("green", "triangle")
    scene = Scene(red_sq, blue_ci)
    assert edit_list((red_sq, blue_ci), scene) == []
    swapped = edit_list((Obj("blue", "square"), Obj("red", "circle")), scene)
    assert [e["kind"] for e in swapped] == ["colour", "colour"]  # a colour swap is two edits
    assert [e["kind"] for e in edit_list((red_sq,), scene)] == ["missing"]
    assert [e["kind"] for e in edit_list((red_sq, green_tr, blue_ci), scene)] == ["extra"]
    assert len(edit_list((), scene)) == 2
    blank = Image.new("RGB", (32, 32))
    assert check(blank, scene).edits == 2 <= MAX_EDITS and check(blank, scene).reason == "0 objects"


def test_checker_reads_mixed_colours_and_touching_objects():
    scene = Scene(Obj("red", "square"), Obj("blue", "square"))
    pixels = np.zeros((32, 32, 3), np.uint8)
    pixels[10:16, 4:14] = (230, 30, 30)
    pixels[16:22, 4:14] = (240, 220, 30)  # the left object half red, half yellow: a binding error
    pixels[10:22, 20:30] = (40, 70, 240)
    verdict = check(Image.fromarray(pixels), scene)
    assert verdict.seen[0].colour == "mixed" and verdict.edits == 1 and not verdict.correct
    pixels[10:22, 4:16] = (230, 30, 30)
    pixels[10:22, 16:28] = (40, 70, 240)  # touching: one blob of two colours far apart, split by colour
    assert check(Image.fromarray(pixels), scene).correct


def test_captions_round_trip_and_the_split_holds_out_combinations_only():
    for scene in all_pairs():
        assert parse_caption(caption(scene, "left")) == scene == parse_caption(caption(scene, "right"))
    with pytest.raises(ValueError, match="not a caption"):
        parse_caption("a purple square left of a blue circle")
    train, held = split_pairs()
    assert len(train) == 84 and len(held) == 24 and not set(train) & set(held)
    assert {s.left for s in train} == {s.left for s in all_pairs()}  # every object seen in training


def test_perturbations_edit_a_correct_picture_into_exactly_the_intended_other_scene():
    rng = random.Random(3)
    for scene in all_pairs()[::5]:
        image = render(scene, rng)
        for kind, distance in PERTURBATIONS.items():
            edited = perturb(image, scene, kind, rng)
            if kind == "swap_shapes" and scene.left.shape == scene.right.shape:
                assert edited is None  # nothing to swap
                continue
            assert edited is not None and edited.distance == distance and edited.kind == kind
            assert check(edited.image, edited.shows).correct and not check(edited.image, scene).correct
            if kind == "recolour":
                assert len(edited.perturbations) == 1 and edited.perturbations[0]["kind"] == "colour"
                # only the recoloured object moved: the other object's pixels and the background are untouched
                changed = (np.asarray(edited.image).astype(int) - np.asarray(image).astype(int)).any(-1)
                side = edited.perturbations[0]["side"]
                xs = np.nonzero(changed)[1]
                assert xs.size and ((xs < 16).all() if side == "left" else (xs >= 16).all())
            if kind == "swap_colours":
                assert edited.shows == Scene(Obj(scene.right.colour, scene.left.shape),
                                             Obj(scene.left.colour, scene.right.shape))
            if kind == "swap_shapes":
                assert edited.shows == Scene(Obj(scene.left.colour, scene.right.shape),
                                             Obj(scene.right.colour, scene.left.shape))
    with pytest.raises(ValueError, match="should be one of"):
        perturb(image, scene, "blur", rng)
    other = next(s for s in all_pairs() if s != scene)
    assert perturb(image, other, "recolour", rng) is None  # not a picture of that scene
    assert perturb(Image.new("RGB", (32, 32)), scene, "swap_colours", rng) is None


def test_recolouring_moves_a_soft_fringe_in_proportion():
    scene = Scene(Obj("red", "square"), Obj("blue", "square"))
    pixels = np.zeros((32, 32, 3), np.uint8)
    pixels[10:20, 4:14] = (230, 30, 30)
    pixels[10:20, 14] = (115, 15, 15)  # a half-dark anti-aliased edge, read as background
    pixels[10:20, 20:30] = (40, 70, 240)
    edited = perturb(Image.fromarray(pixels), scene, "swap_colours", random.Random(0))
    out = np.asarray(edited.image).astype(int)
    assert tuple(out[15, 8]) == (40, 70, 240) and tuple(out[15, 25]) == (230, 30, 30)
    assert abs(out[15, 14, 2] - 120) <= 2 and out[15, 14, 0] < 40  # the fringe turned half-blue, no red left


# --- the pipeline ----------------------------------------------------------------------------------------
def test_text_encoder_refuses_unknown_words():
    with pytest.raises(ValueError, match="outside the tiny vocabulary"):
        TinyTextEncoder().tokenize(["a purple square left of a blue circle"])


def test_pipeline_saves_loads_and_samples_deterministically(tmp_path):
    pipe = TinyPipeline.new(seed=3)
    pipe.save(tmp_path / "p")
    loaded = TinyPipeline.load(tmp_path / "p")
    prompts = ["a red square left of a blue circle", "a blue circle right of a red square"]
    a = pipe.sample(prompts, [1, 2], steps=3)
    b = loaded.sample(prompts, [1, 2], steps=3)
    assert a.shape == (2, 3, 32, 32) and torch.allclose(a, b, atol=1e-5)
    with pytest.raises(FileNotFoundError):
        TinyPipeline.load(tmp_path / "missing")


def test_pretraining_resumes_where_it_stopped(tmp_path):
    cfg = {"out_dir": str(tmp_path / "pre"), "save_every": 2, "snapshot_every": 4, "batch_size": 4}
    pretrain(PretrainConfig(max_steps=2, **cfg), log=lambda _: None)
    state = json.loads((tmp_path / "pre" / "checkpoint" / "state.json").read_text())
    assert state["step"] == 2
    messages: list[str] = []
    pretrain(PretrainConfig(max_steps=4, **cfg), log=messages.append)
    assert messages[0].startswith("resumed at step 2")
    assert json.loads((tmp_path / "pre" / "done.json").read_text())["step"] == 4
    assert (tmp_path / "pre" / "snapshots" / "step-4" / "model_index.json").is_file()
    straight = tmp_path / "straight"
    pretrain(PretrainConfig(**{**cfg, "out_dir": str(straight)}, max_steps=4), log=lambda _: None)
    a = TinyPipeline.load(tmp_path / "pre" / "pipeline").unet.state_dict()
    b = TinyPipeline.load(straight / "pipeline").unet.state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)  # resumed == uninterrupted


# --- the trainer on the tiny pipeline -------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_tiny_apo(tmp_path_factory.mktemp("apo-proof"), masks=True)


config = tiny_apo_config


def batch_of(trainer: APOTrainer) -> dict[str, torch.Tensor]:
    dataset = CachedPairDataset(trainer.cache, trainer.pairs)
    return collate([dataset[(i, 500 + i)] for i in range(len(dataset))])


def test_pixel_family_caches_pixels_text_and_masks(tiny):
    trainer = APOTrainer(config(tiny, "cache-check"))
    assert trainer.family == "pixel"
    batch = batch_of(trainer)
    assert batch["winner"].shape == (4, 3, 32, 32) and batch["prompt_embeds"].shape == (4, 8, 64)
    assert batch["mask"].shape == (4, 1, 32, 32) and batch["mask"][:, :, :, :16].eq(1).all()
    assert batch["mask"][:, :, :, 16:].eq(0).all()
    with Image.open(tiny["data"] / "0_w.png") as im:  # the pixels themselves, in [−1, 1]
        expected = torch.from_numpy(np.asarray(im, np.float32)).permute(2, 0, 1) / 127.5 - 1
    assert torch.allclose(batch["winner"][0], expected)


def _moved(trainer: APOTrainer) -> None:
    """Make the adapter non-zero so policy and reference differ."""
    with torch.no_grad():
        for name, p in trainer.unwrapped.named_parameters():
            if p.requires_grad and "lora_B" in name:
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(len(name)))


def test_sft_loss_is_the_winners_denoising_loss_and_logs_preferences(tiny):
    trainer = APOTrainer(config(tiny, "sft", loss_type="sft", beta_schedule="constant"))
    _moved(trainer)
    with torch.no_grad():
        loss, stats = trainer.compute_loss(batch_of(trainer))
    assert loss.item() == pytest.approx(stats["mse/chosen"].item(), rel=1e-6)
    assert {"apo_loss", "rewards/accuracies", "rewards/margins"} <= set(stats)
    assert stats["apo_loss"].item() != pytest.approx(loss.item())


def test_loss_mask_counts_only_the_differing_pixels(tiny):
    masked = APOTrainer(config(tiny, "masked", loss_mask=True))
    plain = APOTrainer(config(tiny, "plain"))
    for t in (masked, plain):
        _moved(t)
    batch = batch_of(masked)
    with torch.no_grad():
        _, s_mask = masked.compute_loss(batch)
        _, s_plain = plain.compute_loss(batch)
        # An all-ones mask is the plain loss; the half mask counts the left half, divided by the whole image.
        _, s_ones = masked.compute_loss({**batch, "mask": torch.ones_like(batch["mask"])})
        _, s_zero = masked.compute_loss({**batch, "mask": torch.zeros_like(batch["mask"])})
    assert s_ones["loss"].item() == pytest.approx(s_plain["loss"].item(), rel=1e-6)
    assert s_mask["mse/chosen"].item() < s_plain["mse/chosen"].item()
    assert s_zero["loss"].item() == pytest.approx(math.log(2), abs=1e-6)  # nothing differs: no preference


def test_every_arm_trains_and_its_lora_loads_into_the_tiny_pipeline(tiny):
    prompts = [(caption(s), s) for s in all_pairs()[:2]]
    base = TinyPipeline.load(tiny["pipe"])
    before = base.sample([p for p, _ in prompts], [0, 1], steps=2)
    for name, extra in (("sft", {"loss_type": "sft"}), ("dpo", {"beta_schedule": "constant"}),
                        ("apo", {}), ("apo_masked", {"loss_mask": True})):
        trainer = APOTrainer(config(tiny, f"arm-{name}", **extra))
        result = trainer.train()
        logs = [json.loads(line) for line in (result.lora_dir / "logs.jsonl").read_text().splitlines()]
        assert [r["step"] for r in logs] == [1, 2] and "rewards/accuracies" in logs[0]
        pipe = load_lora(TinyPipeline.load(tiny["pipe"]), result.lora_dir, "pytorch_lora_weights.safetensors")
        after = pipe.sample([p for p, _ in prompts], [0, 1], steps=2)
        assert not torch.equal(before, after), name
        trained = TinyPipeline.load(tiny["pipe"])
        trained.unet = trainer.unwrapped
        assert torch.allclose(trained.sample([p for p, _ in prompts], [0, 1], steps=2), after, atol=1e-5)
    assert len(sample_and_check(base, prompts, [0], steps=2)) == 2


def test_sft_weight_adds_the_winners_denoising_loss(tiny):
    plain = APOTrainer(config(tiny, "w0"))
    held = APOTrainer(config(tiny, "w5", sft_weight=5.0))
    batch = next(iter(plain._loader()))  # the same pairs, noise and timesteps for both
    loss0, stats0 = plain.compute_loss(batch)
    loss5, stats5 = held.compute_loss(batch)
    assert torch.allclose(loss0, stats0["apo_loss"]) and torch.allclose(stats0["apo_loss"], stats5["apo_loss"])
    assert torch.allclose(loss5, stats5["apo_loss"] + 5.0 * stats5["mse/chosen"], rtol=1e-5)
    with pytest.raises(APOConfigError, match="sft_weight"):
        config(tiny, "w-bad", sft_weight=-1.0)


def test_timesteps_are_drawn_from_the_asked_share_of_the_schedule(tiny):
    whole = APOTrainer(config(tiny, "t-all"))
    noisy = APOTrainer(config(tiny, "t-noisy", timestep_fraction=(0.5, 1.0)))
    ids = torch.arange(64)
    _, t_all = whole._draw(ids, torch.Size([3, 32, 32]))
    noise_a, t_noisy = noisy._draw(ids, torch.Size([3, 32, 32]))
    assert t_all.min() < 500 <= t_noisy.min() and t_noisy.max() < 1000
    assert torch.equal(noise_a, whole._draw(ids, torch.Size([3, 32, 32]))[0])  # same noise, other timesteps
    with pytest.raises(APOConfigError, match="timestep_fraction"):
        config(tiny, "t-bad", timestep_fraction=(0.7, 0.2))


def test_mask_and_loss_type_errors_are_clear(tiny, tmp_path):
    with pytest.raises(APOConfigError, match="loss_type='dpo' is unknown"):
        APOConfig(loss_type="dpo")
    data = tmp_path / "nomask"
    data.mkdir()
    for name in ("0_w.png", "0_l.png"):
        (data / name).write_bytes((tiny["data"] / name).read_bytes())
    (data / "pairs.jsonl").write_text(json.dumps({"prompt": "a red square left of a green circle",
                                                  "winner": "0_w.png", "loser": "0_l.png", "distance": 1}) + "\n")
    with pytest.raises(DatasetError, match="no 'mask'"):
        APOTrainer(config(tiny, "nomask", data_dir=str(data), loss_mask=True))
    # SFT needs no distance at all.
    (data / "pairs.jsonl").write_text(json.dumps({"prompt": "a red square left of a green circle",
                                                  "winner": "0_w.png", "loser": "0_l.png"}) + "\n")
    trainer = APOTrainer(config(tiny, "nodist", data_dir=str(data), loss_type="sft", per_device_train_batch_size=1,
                                cache_dir=str(tmp_path / "c")))
    assert trainer.pairs[0].normalized_distance == 1.0


def test_standard_errors():
    assert mean_se([1.0, 0.0, 1.0, 0.0]) == pytest.approx((0.5, math.sqrt(1 / 3 / 4)))
    assert paired_se([1.0, 1.0], [0.0, 0.0]) == (1.0, 0.0)


def _benchmark_module():
    spec = importlib.util.spec_from_file_location("apo_proof_benchmark", REPO / "benchmarks" / "apo_proof.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_benchmark_helpers_pick_losers_and_flag_over_optimisation():
    bench = _benchmark_module()
    assert bench._spread(list(range(8)), 3) == [0, 4, 7]  # small, middle and large distances
    assert bench._spread([5, 6], 3) == [5, 6]
    logs = [{"step": 10, "rewards/accuracies": 0.6}, {"step": 100, "rewards/accuracies": 0.9}]
    assert bench.over_optimised(logs)
    assert not bench.over_optimised([{"step": 10, "rewards/accuracies": 0.6}, {"step": 110, "rewards/accuracies": 0.99}])
    values = bench.arm_config("apo_masked", 1, bench.argparse.Namespace(
        lr=1e-4, steps=5, batch_pairs=8, lora_rank=8, lora_alpha=None, lora_targets=["to_q", "to_v"],
        timestep_fraction=(0.5, 1.0), sft_weight=100.0, logging_steps=1, lr_scheduler="cosine", lr_warmup_steps=0,
        train_text_encoder=True, text_encoder_lr=None), 2000.0)
    assert values["loss_mask"] is True and values["beta_schedule"] == "linear" and values["beta_base"] == 2000.0
    assert values["timestep_fraction"] == [0.5, 1.0] and values["lora_target_modules"] == ["to_q", "to_v"]
    assert values["sft_weight"] == 100.0
    assert values["lr_scheduler"] == "cosine" and values["train_text_encoder"] is True
    reversed_f = bench.arm_config("apo_decreasing", 1, bench.argparse.Namespace(
        lr=1e-4, steps=5, batch_pairs=8, lora_rank=8, lora_alpha=None, lora_targets=["to_q"],
        timestep_fraction=(0.0, 1.0), sft_weight=0.0, logging_steps=1, lr_scheduler="cosine", lr_warmup_steps=0,
        train_text_encoder=False, text_encoder_lr=None), 5000.0)
    assert reversed_f["beta_direction"] == "decreasing" and reversed_f["beta_schedule"] == "linear"
    assert "apo_decreasing" not in bench.DEFAULT_ARMS  # the four arms run by default


def test_changes_vs_base_count_gains_losses_and_readings(tmp_path):
    bench = _benchmark_module()
    rows = lambda *cr: [{"correct": c, "reason": r} for c, r in cr]
    (tmp_path / "b.json").write_text(json.dumps(rows((1, "ok"), (0, "saw a"), (0, "saw b"), (1, "ok"))))
    (tmp_path / "r.json").write_text(json.dumps(rows((0, "saw c"), (1, "ok"), (0, "saw d"), (1, "ok"))))
    assert bench.changes_vs_base(tmp_path / "b.json", tmp_path / "r.json") == {
        "gained": 1, "lost": 1, "readings_changed": 3}
    p = "a red square left of a blue circle"
    failing = [{"prompt": p, "correct": 0, "reason": r} for r in (
        "saw blue square | red circle", "saw blue circle | red square", "saw red circle | blue square",
        "saw red square | green circle", "3 objects", "saw mixed square | blue circle")]
    (tmp_path / "e.json").write_text(json.dumps([{"prompt": p, "correct": 1, "reason": "ok"}, *failing]))
    assert bench.error_kinds(tmp_path / "e.json") == {
        "colours swapped": 1, "objects on the wrong sides": 1, "shapes swapped": 1, "other attribute errors": 1,
        "wrong object count": 1, "mixed colours": 1}


def test_edited_losers_pair_only_with_their_own_winner_in_the_orchestra_format(tmp_path, monkeypatch):
    bench = _benchmark_module()
    blank = Image.new("RGB", (32, 32))

    def fake_samples(pipe, prompts, seeds, **kw):  # odd seeds draw the scene, even seeds draw nothing
        return [Sample(p, s, seed, image, check(image, s)) for p, s in prompts for seed in seeds
                for image in [render(s, random.Random(seed)) if seed % 2 else blank]]

    monkeypatch.setattr(bench, "sample_and_check", fake_samples)
    monkeypatch.setattr(bench.TinyPipeline, "load", classmethod(lambda cls, path: None))
    args = bench.argparse.Namespace(samples_per_prompt=4, winners_per_prompt=2, losers_per_prompt=3, seed=0,
                                    max_truth_share=0.2, ddim_steps=2, guidance=1.0, losers="edited")
    train = all_pairs()[:3]
    summary = bench.build_pairs(Path("unused"), train, tmp_path / "pairs", args)
    # 3 prompts × 2 winners × 4 perturbations (a shape swap only where the shapes differ: 2 of the 3
    # prompts), each edited loser paired only with the winner it came from
    assert [s.left.shape == s.right.shape for s in train] == [True, False, False]
    assert summary["pairs"] == 22 and summary["losers"] == "edited" and summary["truth_winner_pairs"] == 0
    assert summary["pairs_by_loser_kind"] == {"edited:flip_relation": 6, "edited:recolour": 6,
                                              "edited:swap_colours": 6, "edited:swap_shapes": 4}
    assert summary["distance_histogram"] == {"1": 12, "2": 10} and summary["edited_losers_rejected"] == {}
    assert 0 < summary["mean_difference_mask_share"] < 0.5  # local differences, not the whole picture
    record = json.loads(next((tmp_path / "pairs" / bench.RECORDS).glob("*.json")).read_text())
    losers = {m["id"]: m for m in record["members"] if m["kind"] != "positive"}
    assert len(record["pairs"]) == len(losers) and len(losers) in (6, 8) and {p["winner"] for p in record["pairs"]} == {"pos", "pos-1"}
    args.losers = "own"
    with pytest.raises(SystemExit, match="holds --losers edited pairs"):
        bench.build_pairs(Path("unused"), train, tmp_path / "pairs", args)


def test_acceptance_reads_the_targets_off_the_held_out_numbers():
    bench = _benchmark_module()
    arms = {"apo": {"gain_vs_base": 0.12, "gain_se": 0.02}}
    comparisons = {"apo_minus_dpo": {"diff": 0.01, "se": 0.02}, "apo_minus_sft": {"diff": 0.05, "se": 0.02}}
    got = bench.acceptance(arms, comparisons)
    assert got["apo_gain_vs_base"]["met"] is True
    assert got["apo_beats_dpo"]["met"] is False  # inside its standard error
    assert got["apo_beats_sft"]["met"] is True
    arms["apo"]["gain_vs_base"] = 0.09
    assert bench.acceptance(arms, comparisons)["apo_gain_vs_base"]["met"] is False
    assert bench.acceptance({}, {}) == {"apo_gain_min": 0.10, "apo_gain_vs_base": None, "apo_beats_dpo": None,
                                        "apo_beats_sft": None}  # arms that did not run: neither met nor missed


def test_tables_print_every_arm_comparison_and_run_of_a_report():
    bench = _benchmark_module()
    arm = {"all_correct": 0.25, "se": 0.02, "gain_vs_base": 0.01, "gain_se": 0.005, "per_train_seed": [0.24, 0.26],
           "over_optimised_runs": 0}
    run = {"beta": 5000.0, "all_correct": 0.24, "gain_vs_base": -0.01, "gain_se": 0.004,
           "vs_base": {"gained": 2, "lost": 5}, "max_implicit_accuracy_first_100": 0.6,
           "final_implicit_accuracy": None, "train_s": 12.5, "eval_s": 3.0}
    report = {"metrics": {"arms": {"base": {"all_correct": 0.24, "se": 0.02}, "apo": arm},
                          "comparisons": {"apo_minus_dpo": {"diff": 0.002, "se": 0.001}},
                          "train_prompts": {"arms": {}, "comparisons": {}}, "runs": {"apo-s0": run}}}
    text = bench.tables(report)
    assert "| apo | 0.250 | 0.020 | +0.010 (0.005) | 0.240, 0.260 | 0/2 |" in text
    assert "| apo − dpo | +0.002 | 0.001 |" in text
    assert "| apo-s0 | 5000 | 0.240 (-0.010, 0.004) | 2 / 5 | 0.600 | — | 12.5 | 3.0 |" in text
    assert "Training prompts" not in text  # no training-prompt evaluation: no table


# --- the whole experiment, tiny -----------------------------------------------------------------------------
@pytest.mark.slow
def test_benchmark_quick_prints_the_agreed_json(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "apo_proof.py"), "--json", "--quick",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=1800, check=False,
                          env={"PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["benchmark"] == "apo_proof" and report["simulated"] is False
    metrics = report["metrics"]
    assert set(metrics["arms"]) == {"base", "sft", "dpo", "apo", "apo_masked"}
    assert {"apo_gain_vs_base", "apo_beats_dpo", "apo_beats_sft"} <= set(metrics["acceptance"])
    assert all({"all_correct", "se"} <= set(row) for row in metrics["arms"].values())
    assert metrics["heldout_prompts"] == 24 and metrics["seeds_per_prompt"] == 2 and metrics["train_seeds"] == 1
    assert metrics["pretrain_minutes"] > 0
    assert set(metrics["base_by_guidance"]) == {"1.0", "1.5"} and all(0 <= v <= 1 for v in metrics["base_by_guidance"].values())
    assert Path(report["artifacts"]["curves"]).is_file() and report["artifacts"]["grids"]


def test_sanity_stage_fits_only_the_chosen_prompts_and_judges_the_gain(tiny, tmp_path, monkeypatch):
    bench = _benchmark_module()
    seen = [(caption(s), s) for s in all_pairs()[:2]]
    calls = {}

    def fake_finetune(pipeline, data, run, values, cache, threads):
        calls["rows"] = [json.loads(line) for line in (data / "pairs.jsonl").read_text().splitlines()]
        calls["values"] = values
        return 1.0

    def fake_evaluate(pipeline, lora, prompts, seeds, path, args):
        good = lora is not None  # the fitted model gets every sample right, the base half of them
        rows = [{"prompt": p, "seed": seed, "correct": int(good or seed % 2 == 0), "edits": 0, "reason": ""}
                for p, _ in prompts for seed in seeds]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rows))

    monkeypatch.setattr(bench, "finetune", fake_finetune)
    monkeypatch.setattr(bench, "evaluate", fake_evaluate)
    args = bench.argparse.Namespace(
        sanity_prompts=1, sanity_steps=7, lr=1e-3, steps=300, batch_pairs=2, lora_rank=4, lora_alpha=None,
        lora_targets=["to_q"], timestep_fraction=(0.0, 1.0), sft_weight=0.0, logging_steps=1, lr_scheduler="cosine",
        lr_warmup_steps=0, train_text_encoder=False, text_encoder_lr=None, seed=0, beta=5000.0, threads=1,
        sanity_arm="sft")
    result = bench.sanity_check(tiny["pipe"], tiny["data"], seen, list(range(8)), tmp_path, args)
    assert {r["prompt"] for r in calls["rows"]} == {seen[0][0]} and len(calls["rows"]) == 1
    assert calls["values"]["loss_type"] == "sft" and calls["values"]["max_steps"] == 7
    assert result["base"] == 0.5 and result["sft"] == 1.0 and result["passed"] and result["prompts"] == 1
    # the same few prompts fitted with a preference loss: its own folder, the whole dataset's distances and masks
    args.sanity_arm = "apo_masked"
    result = bench.sanity_check(tiny["pipe"], tiny["data"], seen, list(range(8)), tmp_path, args)
    assert calls["values"]["loss_type"] == "apo" and calls["values"]["loss_mask"] is True
    assert all("mask" in r and 0 <= r["normalized_distance"] <= 1 for r in calls["rows"])
    assert result["arm"] == "apo_masked" and len(list(tmp_path.glob("sanity-apo_masked-1p-7s-*/sft.json"))) == 1
    args.sanity_prompts = 0
    assert bench.sanity_check(tiny["pipe"], tiny["data"], seen, [0], tmp_path, args) is None


def test_a_resumed_run_reports_the_seconds_of_when_it_was_done(tmp_path):
    bench = _benchmark_module()
    path = tmp_path / "timings.json"
    assert bench.remembered_seconds(path, True, {"train_s": 12.34}) == {"train_s": 12.34}
    assert bench.remembered_seconds(path, False, {"train_s": 0.0}) == {"train_s": 12.3}  # reused: as saved
    assert bench.remembered_seconds(path, True, {"train_s": 5.0}) == {"train_s": 5.0}  # done again: new time


def test_a_finished_run_is_reused_only_with_its_own_settings(tmp_path):
    bench = _benchmark_module()
    run = tmp_path / "arms" / "dpo-s0"
    run.mkdir(parents=True)
    (run / bench.LORA_WEIGHT_NAME).write_bytes(b"trained")
    values = {"loss_type": "apo", "beta_base": 5000.0, "lora_target_modules": ["to_q"]}
    (run / "arm.yaml").write_text(bench.yaml.safe_dump({**values, "cache_dir": str(tmp_path / "cache")}))
    assert bench.finetune(tmp_path, tmp_path, run, values, tmp_path / "cache", 1) == 0.0  # same settings: reused
    assert bench.finetune(tmp_path, tmp_path, run, values, tmp_path / "elsewhere", 1) == 0.0  # a seeded folder's cache
    with pytest.raises(SystemExit, match="other settings \\(beta_base\\)"):
        bench.finetune(tmp_path, tmp_path, run, {**values, "beta_base": 2000.0}, tmp_path / "cache", 1)
