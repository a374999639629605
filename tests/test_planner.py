"""The brain trainers on TRL (limner.train.planner) with a tiny random causal LM and an offline tokenizer:
each method runs a few steps, the loss is finite (and falls on a fixed batch), and the output reloads.

DPO and GRPO are `slow` (run them with `python -m pytest -m slow tests/test_planner.py`)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from peft import PeftModel
from transformers import AutoTokenizer

from limner.config import load_config
from limner.data.rollouts import agent_rollout, prompt_text
from limner.data.trajectories import analyst_example, parse_example
from limner.llm.prompts import PLAN, PlanAnswer, answer_json, chat, json_hint
from limner.reading import parse_prompt
from limner.train.planner import CHATML_TEMPLATE, PlannerTrainer, with_chat_template
from limner.train.planner_config import PlannerConfig, PlannerConfigError
from limner.types import Subtask
from tests.planner_tiny import tiny_model, tiny_tokenizer

PROMPTS = ["a red apple left of a blue cup", "two dogs and a green bench", "a photo of a cat",
           "three purple vases"]


@pytest.fixture(scope="module")
def tok():
    ex = [analyst_example(p, parse_prompt(p)) for p in PROMPTS]
    texts = [m["content"] for e in ex for m in e["messages"]] + [PLAN, "right", "wrong because", "generate"]
    return with_chat_template(tiny_tokenizer(texts))


def _cfg(tmp: Path, method: str, **kw: object) -> PlannerConfig:
    base: dict[str, object] = {"method": method, "model": "tiny", "data_dir": str(tmp), "output_dir": str(tmp / "out"),
                               "max_steps": 12, "learning_rate": 5e-3, "logging_steps": 2,
                               "per_device_train_batch_size": 4, "max_length": 1024}
    base.update(kw)
    return PlannerConfig(**base)  # type: ignore[arg-type]


def _reload(out: Path, tok) -> None:
    base = tiny_model(tok)
    model = PeftModel.from_pretrained(base, str(out))
    tok2 = AutoTokenizer.from_pretrained(str(out))
    ids = tok2.apply_chat_template([{"role": "user", "content": "Prompt: a cat"}], add_generation_prompt=True,
                                   return_tensors="pt", return_dict=True)["input_ids"]
    assert torch.isfinite(model(ids).logits).all()


def test_template_renders_chatml_and_marks_assistant_turns(tok) -> None:
    assert tok.chat_template == CHATML_TEMPLATE
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}, {"role": "assistant", "content": "A"}]
    text = tok.apply_chat_template(msgs, tokenize=False)
    assert text == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n"
    mask = tok.apply_chat_template(msgs, return_assistant_tokens_mask=True, return_dict=True)["assistant_masks"]
    assert 0 < sum(mask) < len(mask)


def test_sft_loss_falls_and_adapter_reloads(tmp_path: Path, tok) -> None:
    rows = [analyst_example(p, parse_prompt(p)) for p in PROMPTS]
    assert all(parse_example(r) for r in rows)
    (tmp_path / "analyst.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = PlannerTrainer(_cfg(tmp_path, "sft", subsets=("analyst",)), model=tiny_model(tok), tokenizer=tok).train()
    assert res.global_step == 12 and all(math.isfinite(x) for x in res.losses)
    assert res.losses[-1] < res.losses[0]  # the same 4 examples every step: the loss must fall
    _reload(res.output_dir, tok)


@pytest.mark.slow  # ~20 s idle, a minute on a loaded machine: python -m pytest -m slow tests/test_planner.py
def test_dpo_on_preference_pairs(tmp_path: Path, tok) -> None:
    rows = []
    for p in PROMPTS:
        scene = parse_prompt(p)
        good = Subtask(id="r0-generate", kind="generate", instruction=p, element_ids=[e.id for e in scene.elements])
        bad = good.model_copy(update={"instruction": "a cat"})
        rows.append({"prompt": chat(PLAN + json_hint(PlanAnswer), f"Prompt: {p}"),
                     "chosen": [{"role": "assistant", "content": answer_json(PlanAnswer(subtasks=[good]))}],
                     "rejected": [{"role": "assistant", "content": answer_json(PlanAnswer(subtasks=[bad]))}]})
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = PlannerTrainer(_cfg(tmp_path, "dpo", max_steps=10), model=tiny_model(tok), tokenizer=tok).train()
    assert all(math.isfinite(x) for x in res.losses) and res.losses[-1] < res.losses[0]
    _reload(res.output_dir, tok)


@pytest.mark.slow  # whole sandbox episodes per rollout: python -m pytest -m slow tests/test_planner.py
def test_grpo_rollouts_are_whole_agent_episodes(tmp_path: Path, tok) -> None:
    rollout = agent_rollout(load_config(None), rounds=2, max_new_tokens=24)
    seen: list[dict] = []

    def spy(prompts, trainer):
        out = rollout(prompts, trainer)
        seen.append(out)
        return out

    cfg = _cfg(tmp_path, "grpo", max_steps=2, per_device_train_batch_size=2, num_generations=2,
               max_completion_length=512, logging_steps=1)
    res = PlannerTrainer(cfg, model=tiny_model(tok), tokenizer=tok, rollout=spy,
                         prompts=[chat("s", "Prompt: " + p)[1:] for p in PROMPTS[:2]]).train()
    assert res.global_step == 2 and all(math.isfinite(x) for x in res.losses)
    out = seen[0]
    for ids, lp, mask in zip(out["completion_ids"], out["logprobs"], out["env_mask"], strict=True):
        assert len(ids) == len(lp) == len(mask) and 1 in mask  # the policy spoke at least once
    assert all(0 <= s <= 1 for s in out["final_score"])
    _reload(res.output_dir, tok)


def test_prompt_text_and_config_errors(tmp_path: Path) -> None:
    assert prompt_text([{"role": "user", "content": "Prompt: a cat"}]) == "a cat"
    with pytest.raises(PlannerConfigError, match="method"):
        PlannerConfig(method="ppo", model="m", data_dir=str(tmp_path), output_dir="o")  # type: ignore[arg-type]
    with pytest.raises(PlannerConfigError, match="num_generations"):
        PlannerConfig(method="grpo", model="m", data_dir=str(tmp_path), output_dir="o", num_generations=1)


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner  # noqa: PLC0415 - only this test drives the CLI

    from limner.cli.main import app  # noqa: PLC0415

    res = CliRunner().invoke(app, ["train", "planner", "--method", "ppo", "--data", str(tmp_path), "--model", "m",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "method='ppo'" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(app, ["train", "planner", "--method", "dpo", "--data", str(tmp_path), "--model", "m",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "pairs.jsonl not found" in res.output
