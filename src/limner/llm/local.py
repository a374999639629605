"""A transformers causal LM as a pydantic-ai model, in process: run a fine-tuned brain without a server.

`LLMBrain(local_model(model, tokenizer), output_mode="json")` sends the model exactly the conversation it
would get from an OpenAI-compatible server (instructions as the system turn, the question, and on a retry
the model's previous answer and the reason it was rejected), rendered by the tokenizer's chat template,
decoded greedily up to `max_new_tokens`. Used by the benchmark to judge a model before and after SFT on
the same footing; to serve one to other processes use vLLM or llama.cpp (docs/planner.md).

torch is imported when the model generates (the `train` extra).
"""

from __future__ import annotations

from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    SystemPromptPart,
    TextPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

__all__ = ["local_model", "to_chat"]


def to_chat(messages: list[ModelMessage], instructions: str | None) -> list[dict[str, str]]:
    """pydantic-ai's messages as chat turns (text only)."""
    chat: list[dict[str, str]] = [{"role": "system", "content": instructions}] if instructions else []
    for m in messages:
        if isinstance(m, ModelRequest):
            for part in m.parts:
                if isinstance(part, SystemPromptPart) and not instructions:
                    chat.insert(0, {"role": "system", "content": part.content})
                elif isinstance(part, UserPromptPart):
                    content = part.content if isinstance(part.content, str) else " ".join(
                        c for c in part.content if isinstance(c, str))
                    chat.append({"role": "user", "content": content})
                elif isinstance(part, RetryPromptPart):
                    chat.append({"role": "user", "content": part.model_response()})
        elif isinstance(m, ModelResponse):
            text = "".join(p.content for p in m.parts if isinstance(p, TextPart))
            chat.append({"role": "assistant", "content": text})
    return chat


def local_model(model: Any, tokenizer: Any, *, max_new_tokens: int = 160, name: str = "local") -> FunctionModel:
    """A pydantic-ai model answering with `model.generate` (greedy), for json/text output modes; its raw
    replies are kept in `.replies`."""
    stop = tokenizer.convert_tokens_to_ids("<|im_end|>")
    eos = stop if isinstance(stop, int) and stop != tokenizer.unk_token_id else tokenizer.eos_token_id

    replies: list[str] = []

    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        import torch  # noqa: PLC0415 - the `train` extra, only when a local model really answers

        chat = to_chat(messages, info.instructions)
        enc = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        enc = {k: v.to(model.device) for k, v in enc.items()}
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eos,
                                 pad_token_id=tokenizer.pad_token_id or eos, top_p=None, top_k=None, temperature=None)
        new = out[0, enc["input_ids"].shape[1]:]
        text = tokenizer.decode(new, skip_special_tokens=True).strip()
        replies.append(text)
        return ModelResponse(parts=[TextPart(text)], model_name=name,
                             usage=RequestUsage(input_tokens=int(enc["input_ids"].shape[1]), output_tokens=len(new)))

    fm = FunctionModel(answer, model_name=name)
    fm.replies = replies  # type: ignore[attr-defined]  # every raw reply, in order (for reports of how it fails)
    return fm
