"""A brain played by an in-process causal LM over one growing conversation: an agent episode as a token
sequence, for agentic RL (GRPO) and for running a fine-tuned model without a server.

GenAgent's agentic RL samples whole multi-turn episodes from the policy against the tools. Here the real
agent loop (`limner.agent.Agent`) drives the episode and this brain is its reasoning: the policy **reads
the prompt** (scene JSON), sees the plan and the tool's verdict as environment turns, and **judges** each
result (``{"judgment": "right" | "wrong because ...", "next_action": ...}``). Plans come from the rule
brain and are shown to the policy as tool calls; an answer that does not parse or means nothing
(`limner.llm.meaning`) is replaced by the rule brain's, and counted (`fallbacks`).

The episode is kept as token ids exactly as generated: each policy turn is sampled conditioned on the ids so
far (never re-rendered), environment turns are tokenized and appended with mask 0, and the log-probability
of every sampled token is kept: what TRL's GRPOTrainer takes from a `rollout_func` (`prompt_ids`,
`completion_ids`, `logprobs`, `env_mask`). Turns are written in ChatML, the format of SmolLM2 and of the
template `limner.train.planner` gives a tokenizer without one.

torch is imported only when a brain is built (the `train` extra).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from limner.llm.brain import Brain, NextAction, Plan, Reading, Reflection
from limner.llm.meaning import scene_problem
from limner.llm.prompts import SceneAnswer, analyse_user, answer_json, scene_answer
from limner.llm.rule_brain import RuleBrain
from limner.types import Scene, ToolSpec, Verdict

__all__ = ["AGENT_SYSTEM", "EpisodeBrain", "EpisodeRecord", "observations", "say_judgment"]

AGENT_SYSTEM = ("You are limner's agent brain. Read the prompt into a scene (JSON), then call the drawing and "
                "editing tools, read each verdict, judge the image ('right' or 'wrong because ...') and decide "
                "the next action: repair, regenerate or stop.")


def observations(verdict: Verdict) -> list[str]:
    """What the checker saw in the image, with what the scene expected cut out (the judge must work it out)."""
    seen: list[str] = []
    for c in verdict.checks:
        obs = c.evidence.split(", expected")[0].strip()
        line = f"{c.target} {c.kind}: {obs}"
        if obs and line not in seen:
            seen.append(line)
    return seen


def say_judgment(verdict: Verdict) -> str:
    """'right', or 'wrong because e0 color: found 1 apple (orange), expected 1 red; ...'."""
    if verdict.passed:
        return "right"
    wrong = [f"{c.target} {c.kind}: {c.evidence}" for c in verdict.failed]
    if not wrong:
        wrong = [f"not checked: {u}" for u in verdict.unsupported] or ["nothing could be checked"]
    return "wrong because " + "; ".join(wrong)


@dataclass
class EpisodeRecord:
    """One episode as tokens, and what the reward needs."""

    prompt_ids: list[int] = field(default_factory=list)
    completion_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    env_mask: list[int] = field(default_factory=list)  # 1: sampled by the policy, 0: written by the environment
    judgments: list[tuple[bool, bool]] = field(default_factory=list)  # (policy said right, evaluator passed)
    turns: int = 0
    fallbacks: int = 0
    texts: list[str] = field(default_factory=list)

    @property
    def reflection_accuracy(self) -> float:
        """Share of the policy's judgments that matched the evaluator's verdict; 0.5 (neutral) when the
        episode asked for none (the first image passed: the loop stops without reflecting)."""
        if not self.judgments:
            return 0.5
        return sum(said == real for said, real in self.judgments) / len(self.judgments)


class EpisodeBrain(Brain):
    """The Analyst and the judge played by `model` (a transformers causal LM) in one ChatML conversation."""

    name = "episode"

    def __init__(self, model: Any, tokenizer: Any, *, max_new_tokens: int = 160, temperature: float = 1.0,
                 sample: bool = True, max_length: int = 2048) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.max_new_tokens, self.temperature, self.sample = max_new_tokens, temperature, sample
        self.max_length = max_length
        self.rules = RuleBrain()
        self.record = EpisodeRecord()
        self._im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")

    # -- tokens ---------------------------------------------------------------------------------------

    def _env(self, text: str) -> None:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if not self.record.prompt_ids:
            self.record.prompt_ids = list(ids)
            return
        self.record.completion_ids += ids
        self.record.logprobs += [0.0] * len(ids)
        self.record.env_mask += [0] * len(ids)

    def _turn(self, role: str, content: str) -> None:
        self._env(f"<|im_start|>{role}\n{content}<|im_end|>\n")

    def _generate(self) -> str:
        """Sample the assistant's next turn after the ids so far; its tokens and log-probs are recorded."""
        import torch  # noqa: PLC0415 - the `train` extra, needed only when a policy really generates

        self._env("<|im_start|>assistant\n")
        context = self.record.prompt_ids + self.record.completion_ids
        room = max(1, min(self.max_new_tokens, self.max_length - len(context)))
        ids = torch.tensor([context], device=self.model.device)
        with torch.no_grad():
            out = self.model.generate(
                ids, attention_mask=torch.ones_like(ids), max_new_tokens=room, do_sample=self.sample,
                temperature=self.temperature if self.sample else None, top_p=None, top_k=None,
                eos_token_id=self._im_end, pad_token_id=self.tokenizer.pad_token_id or self._im_end,
                output_scores=True, return_dict_in_generate=True)
        new = out.sequences[0, len(context):].tolist()
        logps = [float(torch.log_softmax(s[0].float(), -1)[t]) for s, t in zip(out.scores, new, strict=False)]
        if not new or new[-1] != self._im_end:
            new, logps = [*new, self._im_end], [*logps, 0.0]  # cut at the cap: the turn is closed for it
        self.record.completion_ids += new
        self.record.logprobs += logps
        self.record.env_mask += [1] * len(new)
        nl = self.tokenizer("\n", add_special_tokens=False)["input_ids"]
        self.record.completion_ids += nl
        self.record.logprobs += [0.0] * len(nl)
        self.record.env_mask += [0] * len(nl)
        self.record.turns += 1
        text = self.tokenizer.decode(new, skip_special_tokens=True).strip()
        self.record.texts.append(text)
        return text

    # -- the roles ------------------------------------------------------------------------------------

    def analyse(self, prompt: str) -> Reading:
        self.record = EpisodeRecord()
        self._turn("system", AGENT_SYSTEM)
        self._turn("user", analyse_user(prompt))
        text = self._generate()
        try:
            answer = SceneAnswer.model_validate_json(text)
            problem = scene_problem(prompt, answer.elements, answer.relations)
        except (ValidationError, ValueError) as e:
            answer, problem = None, f"not a scene: {str(e).splitlines()[0][:120]}"
        if answer is None or problem:
            self.record.fallbacks += 1
            r = self.rules.analyse(prompt)
            return Reading(scene=r.scene, note="", error=f"policy reading rejected ({problem}); rules read it")
        scene = Scene(prompt=prompt, elements=answer.elements, relations=answer.relations,
                      background=answer.background, style=answer.style, unsupported=answer.unsupported,
                      moods=answer.moods)
        return Reading(scene=scene, note="read by the policy")

    def plan(self, scene: Scene, tools: list[ToolSpec], verdict: Verdict | None = None,
             action: NextAction = "regenerate", round: int = 0) -> Plan:
        plan = self.rules.plan(scene, tools, verdict=verdict, action=action, round=round)
        calls = [{"name": s.kind, "arguments": {"id": s.id, "instruction": s.instruction}} for s in plan.subtasks]
        self._turn("assistant", "<tool_call>" + json.dumps(calls) + "</tool_call>")
        return plan

    def reflect(self, scene: Scene, verdict: Verdict, round: int, rounds: int, *,
                last_improved: bool | None = None, tools: list[ToolSpec] | None = None,
                last_action: NextAction | None = None) -> Reflection:
        rule = self.rules.reflect(scene, verdict, round, rounds, last_improved=last_improved, tools=tools,
                                  last_action=last_action)
        self._turn("tool", "Found in the image:\n" + "\n".join(f"- {s}" for s in observations(verdict)))
        text = self._generate()
        try:
            body = json.loads(text)
            said = str(body["judgment"]).strip().lower()
            action = body["next_action"]
            if action not in ("repair", "regenerate", "stop") or not said.startswith(("right", "wrong")):
                raise ValueError("bad judgment")
        except (ValueError, KeyError, TypeError):
            self.record.fallbacks += 1
            self.record.judgments.append((not verdict.passed, verdict.passed))  # no judgment: counted as wrong
            return Reflection(rule.next_action, rule.failed, rule.reasoning, error="policy judgment rejected; rules decided")
        self.record.judgments.append((said.startswith("right"), verdict.passed))
        if round + 1 >= rounds:
            action = "stop"
        return Reflection(action, rule.failed, said)


def episode_target(prompt: str, scene: Scene) -> str:
    """The analyst answer an episode's first turn is trained towards (SFT warm start for GRPO)."""
    return answer_json(scene_answer(scene))
