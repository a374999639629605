"""Training the brain on TRL: trajectory SFT, DPO on CAPO pairs, and GRPO with whole agent episodes.

    trainer = PlannerTrainer(PlannerConfig(method="sft", model="HuggingFaceTB/SmolLM2-135M-Instruct",
                                           data_dir="data/sft", output_dir="out/sft"))
    result = trainer.train()          # LoRA adapter + tokenizer in result.output_dir

- **sft**: TRL's `SFTTrainer` on conversational examples (``messages``, with ``tool_calls`` and ``tools``
  for whole episodes), loss on the assistant turns only (the tokenizer's template must mark them: a
  template without tool calls or generation marks is replaced by limner's ChatML template, which renders
  plain conversations exactly as ChatML does);
- **dpo**: TRL's `DPOTrainer` on the conversational preference rows of `limner.data.capo`;
- **grpo**: TRL's `GRPOTrainer` with a `rollout_func` that plays whole multi-turn episodes (given by the
  caller: `limner.data.rollouts.agent_rollout` runs the real agent loop with the policy as its brain, so
  this layer does not import the agent). Rewards: the final image's evaluator score and the share of the
  policy's judgments that matched the evaluator's (GenAgent's pointwise and pairwise rewards), read from
  the rollout's fields `final_score` and `reflection_accuracy`.

A model given as a ``.gguf`` file (or `gguf_file=`) is dequantised by transformers (needs `gguf`).
Everything heavy is imported when a trainer is built.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase, TrainerCallback
from trl import DPOConfig, DPOTrainer, GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer

from limner.train.errors import DatasetError
from limner.train.planner_config import PlannerConfig, PlannerConfigError

__all__ = ["CHATML_TEMPLATE", "PlannerOutput", "PlannerTrainer", "load_model", "load_tokenizer",
           "reward_final_score", "reward_reflection_accuracy", "with_chat_template"]

Rollout = Callable[[list[Any], Any], dict[str, Any]]

#: ChatML with tool calls and generation marks (for loss on assistant turns only). Plain conversations
#: render exactly as SmolLM2's / Qwen's ChatML does.
CHATML_TEMPLATE = (
    "{%- if tools %}{{- '<|im_start|>system\\nTools: ' + (tools | tojson) + '<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}{% generation %}{{- message['content'] or '' }}"
    "{%- if message['tool_calls'] %}{{- '<tool_call>' + (message['tool_calls'] | map(attribute='function') | list"
    " | tojson) + '</tool_call>' }}{%- endif %}{{- '<|im_end|>' }}{% endgeneration %}{{- '\\n' }}"
    "{%- else %}{{- '<|im_start|>' + message['role'] + '\\n' + (message['content'] or '') + '<|im_end|>\\n' }}"
    "{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


@dataclass
class PlannerOutput:
    output_dir: Path
    global_step: int
    losses: list[float]
    wall_s: float
    examples: int


def with_chat_template(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """`tokenizer`, given limner's ChatML template when its own cannot mark assistant turns or tool calls."""
    tpl = tokenizer.chat_template or ""
    if "generation" not in tpl or "tool_calls" not in tpl:
        if "<|im_start|>" not in tokenizer.get_vocab():
            tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
        tokenizer.chat_template = CHATML_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = "<|im_end|>"
    return tokenizer


def _gguf(config: PlannerConfig) -> tuple[str, dict[str, Any]]:
    path = Path(config.model)
    if path.suffix == ".gguf":
        return str(path.parent), {"gguf_file": path.name}
    return config.model, ({"gguf_file": config.gguf_file} if config.gguf_file else {})


def load_tokenizer(config: PlannerConfig) -> PreTrainedTokenizerBase:
    where, kw = _gguf(config)
    return with_chat_template(AutoTokenizer.from_pretrained(where, **kw))


def load_model(config: PlannerConfig) -> Any:
    """The base model in float32 (a GGUF file is dequantised)."""
    where, kw = _gguf(config)
    model = AutoModelForCausalLM.from_pretrained(where, dtype=torch.float32, **kw)
    if kw:  # the weights are plain float32 now; transformers still marks the model "quantized" and refuses it
        dequantised(model)
    return model


def dequantised(model: Any) -> Any:
    """Drop the GGUF quantisation marker from a model whose weights transformers already dequantised."""
    model.hf_quantizer = None
    with contextlib.suppress(AttributeError):
        model.is_quantized = False
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    return model


def reward_final_score(completions: list[Any], final_score: list[float], **_: Any) -> list[float]:
    """Pointwise reward: the evaluator's score of the episode's final image."""
    return [float(s) for s in final_score]


def reward_reflection_accuracy(completions: list[Any], reflection_accuracy: list[float], **_: Any) -> list[float]:
    """Pairwise reward: the share of the policy's judgments (right/wrong) that matched the evaluator's."""
    return [float(a) for a in reflection_accuracy]


class _Losses(TrainerCallback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kw: Any) -> None:
        if logs and "loss" in logs:
            self.losses.append(float(logs["loss"]))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise DatasetError(f"{path}:{n}: not JSON ({e.msg})") from None
    return rows


class PlannerTrainer:
    """SFT / DPO / GRPO of the brain on TRL; LoRA by default. `train()` writes the adapter and tokenizer."""

    def __init__(self, config: PlannerConfig, *, model: Any = None, tokenizer: PreTrainedTokenizerBase | None = None,
                 rollout: Rollout | None = None, prompts: list[Any] | None = None) -> None:
        torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        if config.method == "grpo" and rollout is None:
            raise PlannerConfigError("GRPO needs a rollout (limner.data.rollouts.agent_rollout)")
        self.config = config
        self.dataset = self._dataset(prompts)  # first: a bad data directory fails before a model loads
        self.tokenizer = with_chat_template(tokenizer if tokenizer is not None else load_tokenizer(config))
        self.model = model if model is not None else load_model(config)
        if len(self.tokenizer) > self.model.get_input_embeddings().weight.shape[0]:
            self.model.resize_token_embeddings(len(self.tokenizer))
        self.losses = _Losses()
        self.trainer = self._trainer(rollout)

    # -- data -------------------------------------------------------------------------------------------

    def _dataset(self, prompts: list[Any] | None) -> Dataset:
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        if cfg.method == "grpo":
            if prompts is None:
                rows = _read_jsonl(Path(cfg.data_dir) / "prompts.jsonl")
                prompts = [r["prompt"] for r in rows]
            if not prompts:
                raise DatasetError("GRPO needs prompts (data_dir/prompts.jsonl, one {'prompt': ...} a line)")
            return Dataset.from_list([{"prompt": p} for p in prompts])
        if cfg.method == "dpo":
            path = Path(cfg.data_dir) / "pairs.jsonl"
            if not path.is_file():
                raise DatasetError(f"{path} not found (build it with limner.data.capo.build_capo)")
            rows = [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in _read_jsonl(path)]
        else:
            rows = []
            for name in cfg.subsets:
                path = Path(cfg.data_dir) / f"{name}.jsonl"
                if not path.is_file():
                    raise DatasetError(f"{path} not found (build it with limner.data.trajectories.build_sft)")
                subset = _read_jsonl(path)
                order = rng.permutation(len(subset))
                subset = [subset[i] for i in order][: cfg.max_examples or None]
                for r in subset:
                    row: dict[str, Any] = {"messages": r["messages"]}
                    if r.get("tools"):
                        row["tools"] = json.loads(r["tools"]) if isinstance(r["tools"], str) else r["tools"]
                    rows.append(row)
            rows = [rows[i] for i in rng.permutation(len(rows))]
        if not rows:
            raise DatasetError(f"no training rows in {cfg.data_dir}")
        return Dataset.from_list(rows)

    # -- TRL ---------------------------------------------------------------------------------------------

    def _common(self) -> dict[str, Any]:
        c = self.config
        return {
            "output_dir": c.output_dir, "max_steps": c.max_steps, "num_train_epochs": c.num_train_epochs,
            "per_device_train_batch_size": c.per_device_train_batch_size,
            "gradient_accumulation_steps": c.gradient_accumulation_steps, "learning_rate": c.learning_rate,
            "logging_steps": c.logging_steps, "seed": c.seed, "report_to": "none",
            "save_strategy": "steps" if c.save_steps else "no", **({"save_steps": c.save_steps} if c.save_steps else {}),
            "dataloader_num_workers": 0, "disable_tqdm": True,
            "bf16": bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported()), **c.extra,
        }

    def _trainer(self, rollout: Rollout | None) -> Any:
        c = self.config
        peft = LoraConfig(r=c.lora_rank, lora_alpha=c.lora_alpha, lora_dropout=c.lora_dropout,
                          target_modules=c.target_modules, task_type="CAUSAL_LM") if c.lora else None
        common = {"model": self.model, "train_dataset": self.dataset, "processing_class": self.tokenizer,
                  "peft_config": peft, "callbacks": [self.losses]}
        if c.method == "sft":
            args = SFTConfig(max_length=c.max_length, assistant_only_loss=True, packing=False, **self._common())
            return SFTTrainer(args=args, **common)
        if c.method == "dpo":
            args = DPOConfig(beta=c.beta, max_length=c.max_length, **self._common())
            return DPOTrainer(args=args, **common)
        args = GRPOConfig(beta=c.beta, num_generations=c.num_generations, max_completion_length=c.max_completion_length,
                          reward_weights=list(c.reward_weights), **self._common())
        return GRPOTrainer(reward_funcs=[reward_final_score, reward_reflection_accuracy], args=args,
                           rollout_func=rollout, **common)

    def train(self) -> PlannerOutput:
        t0 = time.perf_counter()
        self.trainer.train()
        out = Path(self.config.output_dir)
        self.save(out / "final")
        bad = [x for x in self.losses.losses if not math.isfinite(x)]
        if bad:
            raise RuntimeError(f"training diverged: {len(bad)} logged losses are not finite")
        (out / "planner_config.json").write_text(json.dumps(self.config.to_dict(), indent=2, default=str))
        return PlannerOutput(output_dir=out / "final", global_step=self.trainer.state.global_step,
                             losses=list(self.losses.losses), wall_s=time.perf_counter() - t0,
                             examples=len(self.dataset))

    def save(self, directory: Path) -> Path:
        """The adapter (or the full model without LoRA) and the tokenizer, loadable by transformers/peft."""
        self.trainer.save_model(str(directory))
        self.tokenizer.save_pretrained(str(directory))
        return directory
