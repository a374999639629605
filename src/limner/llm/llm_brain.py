"""The LLM brain: the Analyst/Planner/reflection/judge roles on any OpenAI-compatible endpoint.

Works with vLLM, Ollama, llama.cpp's server, or OpenAI itself: one `base_url`, one model name, a key read
from the environment variable the config names (never logged, never written to a run). Through pydantic-ai:

- every answer is **structured output** validated into limner's pydantic types (`Scene`, `Subtask`...), in
  the **output mode** the server supports (`output_mode`): `tool` (the answer tool forced *by name*, which
  servers that ignore `tool_choice: "required"` still honour), `json` (`response_format: json_object` with
  the schema, which llama.cpp's server turns into a grammar; answer parsed from the text) or `native`
  (`response_format: json_schema`, OpenAI and vLLM);
- the answer must also **mean** something (`limner.llm.meaning`): objects the prompt names, at least one,
  the same objects as the rule reading where that reading is complete, a plan that fits the action;
- an invalid answer is sent back to the model with the reason, up to `max_retries` times;
- `max_tokens` caps every answer in the request field all servers honour (`max_tokens`, besides
  pydantic-ai's `max_completion_tokens`, which llama.cpp ignores), and the client does not re-send a
  request that timed out;
- if the model still fails, or the endpoint is down, the call **falls back to the rule-based brain** and the
  reason is returned in `error`, which the loop writes into the trajectory step; `stats` counts requests,
  rejections, retries and fallbacks (the CLI prints them), and a **circuit breaker** stops asking a model
  that failed `breaker_after` times in a row;
- a model that refuses images (a text-only model) turns `vision` off after its first refusal.

Images go to the VLM as `data:image/png;base64,...` URLs (`judge`), so no file or public URL is needed.
Tests drive this class with pydantic-ai's `FunctionModel`; nothing here opens a connection until a call is
made.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any, Literal

from PIL import Image
from pydantic import BaseModel, ValidationError
from pydantic_ai import Agent as PydanticAgent
from pydantic_ai import ModelRetry, NativeOutput, RunContext, TextOutput, ToolOutput
from pydantic_ai.exceptions import (
    AgentRunError,
    ModelAPIError,
    ModelHTTPError,
    UnexpectedModelBehavior,
    UserError,
)
from pydantic_ai.messages import ImageUrl
from pydantic_ai.models import Model
from pydantic_ai.usage import RunUsage

from limner.config import BrainConfig
from limner.imaging import image_data_url
from limner.llm.brain import Brain, Judgement, NextAction, Plan, Reading, Reflection
from limner.llm.health import FELL_BACK, BrainStats, CircuitBreaker
from limner.llm.meaning import plan_problem, scene_problem
from limner.llm.prompts import (
    ANALYSE,
    ANALYSE_COMPACT,
    JUDGE,
    PLAN,
    REFLECT,
    JudgeAnswer,
    PlanAnswer,
    ReflectionAnswer,
    SceneAnswer,
    analyse_user,
    json_hint,
    plan_user,
    reflect_user,
)
from limner.llm.rule_brain import RuleBrain
from limner.types import Scene, ToolSpec, Verdict

__all__ = ["OUTPUT_MODES", "LLMBrain", "OutputMode", "SceneAnswer"]

#: Failures of the model or the endpoint: recorded and answered by the rule-based brain. Anything else is
#: a bug in limner and propagates. IndexError: pydantic-ai reads `choices[0]` of a reply without checking that
#: the server sent any choice (a 200 with `"choices": []`).
_MODEL_FAILURES = (AgentRunError, ModelAPIError, ValidationError, OSError, TimeoutError, IndexError)

OutputMode = Literal["tool", "json", "native"]
PromptStyle = Literal["full", "compact"]
OUTPUT_MODES: tuple[str, ...] = ("tool", "json", "native")
_TOOL = "final_result"
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


def _parser(answer: type[BaseModel]) -> TextOutput[Any]:
    """json mode: the reply's text, parsed into `answer` (a parse error goes back to the model)."""

    def parse(text: str) -> Any:
        body = _FENCE.sub("", text.strip())
        start, end = body.find("{"), body.rfind("}")
        try:
            return answer.model_validate(json.loads(body[start:end + 1] if start >= 0 else body))
        except json.JSONDecodeError as e:
            raise ModelRetry(f"not JSON ({e.msg} at character {e.pos}); answer with one JSON object") from None
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(x) for x in first["loc"]) or "answer"
            raise ModelRetry(f"{where}: {first['msg']} ({e.error_count()} problem(s)); answer with one JSON "
                             "object of the asked shape") from None

    return TextOutput(parse)


class LLMBrain(Brain):
    """A brain backed by a pydantic-ai model; every call falls back to `fallback` on model failure."""

    name = "llm"

    def __init__(self, model: Model | str, *, max_retries: int = 2, vision: bool = True,
                 fallback: Brain | None = None, output_mode: OutputMode = "tool", max_tokens: int | None = 512,
                 breaker_after: int = 3, breaker_cooldown: int = 20, check_meaning: bool = True,
                 prompt_style: PromptStyle = "full") -> None:
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"output_mode must be one of {OUTPUT_MODES}, got {output_mode!r}")
        self.model = model
        self._secret: str | None = None  # the API key, scrubbed from every failure reason (`_ask`)
        self.max_retries = max_retries
        self.vision = vision
        self.fallback = fallback or RuleBrain()
        self.output_mode: OutputMode = output_mode
        self.max_tokens = max_tokens
        self.check_meaning = check_meaning
        self.stats = BrainStats()
        self._refused = False  # the last failed call was an HTTP error status (e.g. an image part refused)
        self.breaker = CircuitBreaker(open_after=breaker_after, cooldown=breaker_cooldown)
        self.prompt_style = prompt_style
        self._analyst = self._agent(SceneAnswer, ANALYSE if prompt_style == "full" else ANALYSE_COMPACT)
        self._planner = self._agent(PlanAnswer, PLAN)
        self._reflector = self._agent(ReflectionAnswer, REFLECT)
        self._judge = self._agent(JudgeAnswer, JUDGE)

        @self._analyst.output_validator
        def _scene_means_something(ctx: RunContext[dict[str, Any]], answer: SceneAnswer) -> SceneAnswer:
            problem = scene_problem(ctx.deps.get("prompt", ""), answer.elements, answer.relations) \
                if self.check_meaning else _consistency(answer)
            if problem:
                raise ModelRetry(problem)
            return answer

        @self._planner.output_validator
        def _plan_fits(ctx: RunContext[dict[str, Any]], answer: PlanAnswer) -> PlanAnswer:
            problem = plan_problem(answer.subtasks, ctx.deps["action"], ctx.deps["ids"]) if self.check_meaning \
                else (None if answer.subtasks else "the plan has no subtask")
            if problem:
                raise ModelRetry(problem)
            return answer

    @classmethod
    def from_config(cls, config: BrainConfig) -> LLMBrain:
        """An OpenAI-compatible chat model at `config.base_url` (OpenAI's own API when unset)."""
        # deferred: these pull in the `openai` SDK, needed only when a brain is really built from a config
        from pydantic_ai.models.openai import OpenAIChatModel  # noqa: PLC0415
        from pydantic_ai.providers.openai import OpenAIProvider  # noqa: PLC0415

        if not config.model:
            raise ValueError("brain.model is not set (e.g. 'gpt-4o-mini', or the name your server serves)")
        key = os.environ.get(config.api_key_env)
        if key is None and config.base_url is None:
            raise ValueError(f"brain.kind is 'llm' with OpenAI's API but ${config.api_key_env} is not set")
        # Local servers (vLLM, Ollama, llama.cpp) accept any key; the client library insists on one. The
        # client's own re-sends are off: a request that timed out once would time out three times.
        provider = OpenAIProvider(base_url=config.base_url, api_key=key or "not-needed")
        model = OpenAIChatModel(config.model, provider=provider,
                                settings={"timeout": config.timeout_s, "max_retries": 0})
        brain = cls(model, max_retries=config.max_retries, vision=config.vision, output_mode=config.output_mode,
                    max_tokens=config.max_tokens, breaker_after=config.breaker_after,
                    prompt_style=config.prompt_style)
        brain._secret = key.strip() if key and key.strip() else None
        return brain

    def _agent(self, answer: type[BaseModel], instructions: str) -> PydanticAgent[dict[str, Any], Any]:
        extra: dict[str, Any] = {}
        if self.max_tokens:
            extra["max_tokens"] = self.max_tokens
        output: Any
        if self.output_mode == "tool":
            # by name: llama.cpp ignores tool_choice "required" and its chat template never shows the tool
            output = ToolOutput(answer, name=_TOOL)
            extra["tool_choice"] = {"type": "function", "function": {"name": _TOOL}}
        elif self.output_mode == "json":
            output = _parser(answer)
            instructions += json_hint(answer)
            extra["response_format"] = {"type": "json_object", "schema": answer.model_json_schema()}
        else:
            output = NativeOutput(answer)
        settings: dict[str, Any] = {"extra_body": extra}
        if self.max_tokens:
            settings["max_tokens"] = self.max_tokens
        return PydanticAgent(self.model, output_type=output, instructions=instructions, deps_type=dict,
                             retries=self.max_retries, defer_model_check=True, model_settings=settings)

    def _ask(self, agent: PydanticAgent[dict[str, Any], Any], prompt: Any, deps: dict[str, Any] | None = None,
             *, role: str = "other") -> tuple[Any, int | None, str | None]:
        """(answer, tokens, None) or (None, tokens?, reason) when the model failed after its retries."""
        if not self.breaker.allow():
            why = f"circuit open after {self.breaker.failures} failed calls in a row; the model was not asked"
            self.stats.record(role, requests=0, rejected=0, accepted=False, latency_s=None, error="circuit open",
                              skipped=True)
            return None, None, why
        usage = RunUsage()
        t0 = time.perf_counter()
        try:
            result = agent.run_sync(prompt, deps=deps or {}, usage=usage)
        except _MODEL_FAILURES as e:
            first = str(e).splitlines()[0] if str(e) else ""
            cause = e.__cause__
            if isinstance(e, UnexpectedModelBehavior) and cause is not None and str(cause).strip():
                first += f"; last rejection: {str(cause).strip().splitlines()[0][:160]}"  # why, not just "retries"
            if self._secret:  # a server may echo the Authorization header it got into its error message
                first = first.replace(self._secret, "***")
            # the server answered the request with an error status (HTTP 4xx/5xx: e.g. an image part refused)
            self._refused = isinstance(e, ModelHTTPError) or getattr(e, "status_code", None) is not None
            answered = isinstance(e, UnexpectedModelBehavior)  # every request was answered, and rejected
            requests = max(usage.requests, 1)
            self.stats.record(role, requests=requests, rejected=requests if answered else requests - 1,
                              accepted=False, latency_s=time.perf_counter() - t0, error=type(e).__name__)
            self.breaker.failure()
            return None, None, f"{type(e).__name__}: {first[:300]}"
        except UserError:
            raise
        self.breaker.success()
        requests = max(usage.requests, 1)
        self.stats.record(role, requests=requests, rejected=requests - 1, accepted=True,
                          latency_s=time.perf_counter() - t0)
        return result.output, result.usage.total_tokens, None

    @staticmethod
    def _fell_back(reason: str) -> str:
        return f"LLM brain failed ({reason}); {FELL_BACK}"

    # -- the roles ----------------------------------------------------------------------------------

    def analyse(self, prompt: str) -> Reading:
        answer, tokens, err = self._ask(self._analyst, analyse_user(prompt), {"prompt": prompt}, role="analyse")
        if answer is None:
            r = self.fallback.analyse(prompt)
            return Reading(scene=r.scene, goal=r.goal, note=r.note, tokens=tokens, error=self._fell_back(err))
        scene = Scene(prompt=prompt, elements=answer.elements, relations=answer.relations,
                      background=answer.background, style=answer.style, unsupported=answer.unsupported,
                      moods=answer.moods)
        return Reading(scene=scene, goal=answer.goal, note="read by the LLM", tokens=tokens)

    def plan(self, scene: Scene, tools: list[ToolSpec], verdict: Verdict | None = None,
             action: NextAction = "regenerate", round: int = 0) -> Plan:
        question = plan_user(scene, [t.kind for t in tools], verdict, action, round)
        deps = {"action": action, "ids": {e.id for e in scene.elements}}
        answer, tokens, err = self._ask(self._planner, question, deps, role="plan")
        if answer is None:
            r = self.fallback.plan(scene, tools, verdict=verdict, action=action, round=round)
            return Plan(subtasks=r.subtasks, reasoning=r.reasoning, tokens=tokens, error=self._fell_back(err))
        return Plan(subtasks=answer.subtasks, reasoning=answer.reasoning, tokens=tokens)

    def reflect(self, scene: Scene, verdict: Verdict, round: int, rounds: int, *,
                last_improved: bool | None = None, tools: list[ToolSpec] | None = None,
                last_action: NextAction | None = None) -> Reflection:
        failed = [f"{c.target}:{c.kind}" for c in verdict.failed]
        if round + 1 >= rounds:
            return Reflection("stop", failed, f"no rounds left ({rounds})")
        question = reflect_user(scene.prompt, verdict, round, rounds, last_improved, last_action)
        answer, tokens, err = self._ask(self._reflector, question, role="reflect")
        if answer is None:
            r = self.fallback.reflect(scene, verdict, round, rounds, last_improved=last_improved, tools=tools,
                                      last_action=last_action)
            return Reflection(r.next_action, r.failed, r.reasoning, tokens=tokens, error=self._fell_back(err))
        return Reflection(answer.next_action, failed, answer.reasoning, tokens=tokens)

    def judge(self, image: Image.Image, scene: Scene) -> Judgement | None:
        if not self.vision:
            return None
        self._refused = False
        answer, tokens, err = self._ask(self._judge, [f"Scene: {scene.prompt}", ImageUrl(url=image_data_url(image))],
                                        role="judge")
        if answer is None:  # the checker's own global score stands; the failure is recorded, not fatal
            if self._refused:  # the server rejected the image part: a text-only model; do not send images again
                self.vision = False
                err = f"{err}; vision turned off for this brain (the server refused an image)"
            return Judgement(score=None, tokens=tokens, error=f"VLM judge failed ({err}); the checker's global score is used")
        return Judgement(score=answer.score, reasoning=answer.reasoning, tokens=tokens)


def _consistency(answer: SceneAnswer) -> str | None:
    try:
        Scene(prompt="-", elements=answer.elements, relations=answer.relations)
    except ValidationError as e:
        return f"the scene is inconsistent: {e.errors()[0]['msg']}"
    return None
