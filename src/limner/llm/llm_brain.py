"""The LLM brain: the Analyst/Planner/reflection/judge roles on any OpenAI-compatible endpoint.

Works with vLLM, Ollama, llama.cpp's server, or OpenAI itself: one `base_url`, one model name, a key read
from the environment variable the config names (never logged, never written to a run). Through pydantic-ai:

- every answer is **structured output** validated into limner's pydantic types (`Scene`, `Subtask`...);
- an invalid answer (malformed JSON, a schema violation, a relation to an element that does not exist) is
  sent back to the model with the validation error, up to `max_retries` times;
- if the model still fails, or the endpoint is down, the call **falls back to the rule-based brain** and the
  reason is returned in `error`, which the loop writes into the trajectory step. Nothing is lost, the run
  goes on offline.

Images go to the VLM as `data:image/png;base64,...` URLs (`judge`), so no file or public URL is needed.
Tests drive this class with pydantic-ai's `TestModel`/`FunctionModel`; nothing here opens a connection
until a call is made.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from PIL import Image
from pydantic import BaseModel, Field, ValidationError
from pydantic_ai import Agent as PydanticAgent
from pydantic_ai import ModelRetry
from pydantic_ai.exceptions import AgentRunError, ModelAPIError, UserError
from pydantic_ai.messages import ImageUrl
from pydantic_ai.models import Model

from limner.config import BrainConfig
from limner.imaging import image_data_url
from limner.llm.brain import Brain, Judgement, NextAction, Plan, Reading, Reflection
from limner.llm.rule_brain import RuleBrain
from limner.reading.instructions import say_add, say_attribute, say_move, say_recount, say_remove_all
from limner.types import ALL_DIMS, Element, Relation, Scene, Subtask, ToolSpec, Verdict

__all__ = ["LLMBrain"]

#: Failures of the model or the endpoint: recorded and answered by the rule-based brain. Anything else is
#: a bug in limner and propagates. IndexError: pydantic-ai reads `choices[0]` of a reply without checking that
#: the server sent any choice (a 200 with `"choices": []`).
_MODEL_FAILURES = (AgentRunError, ModelAPIError, ValidationError, OSError, TimeoutError, IndexError)


# ----------------------------------------------------------------------------------------------------
# What the model must answer (kept small: every field is something the loop uses)
# ----------------------------------------------------------------------------------------------------


class SceneAnswer(BaseModel):
    """The reading of a prompt. Element ids are e0, e1, ...; relations refer to them."""

    elements: list[Element]
    relations: list[Relation] = Field(default_factory=list)
    background: str | None = None
    style: str | None = None
    unsupported: list[str] = Field(default_factory=list)
    goal: float | None = Field(default=None, ge=0, le=1)


class PlanAnswer(BaseModel):
    subtasks: list[Subtask]
    reasoning: str = ""


class ReflectionAnswer(BaseModel):
    next_action: Literal["repair", "regenerate", "stop"]
    reasoning: str


class JudgeAnswer(BaseModel):
    score: float = Field(ge=0, le=1, description="how well the image shows the scene, 0..1")
    reasoning: str


_ANALYSE = (
    "You read text-to-image prompts into a structured scene. One element per object kind: `cls` is the "
    "canonical object class (singular, e.g. 'apple', 'teddy bear'), `noun` the words of the prompt, `count` "
    "the number asked for (0 with negated=true for 'no X'), colour/texture/shape/size only when the prompt "
    "binds them to that object, `text` for quoted text the object must show. Relations: subject and object "
    "are element ids; spatial predicates are exactly one of 'left of', 'right of', 'above', 'below', "
    "'next to', 'on', 'in front of', 'behind'; anything else (e.g. 'holding') is an action predicate. Name "
    "every part of the prompt you cannot represent in `unsupported`."
)
_PLAN = (
    "You plan the next round of an image-generation agent. Either one 'generate' subtask for the whole "
    "scene, or one 'edit' (or 'inpaint' with a region) subtask per failed check, using instructions like "
    f"'{say_attribute('cat', 'red')}', '{say_add('2 blue cups', 'left of', 'dog')}', '{say_remove_all('forks')}', "
    f"'{say_recount('apples', 3)}', '{say_move('cat', 'left of', 'dog')}'. "
    f"`weights` is W_task over these dimensions: {list(ALL_DIMS)} "
    "(generator dimensions for 'generate', edit dimensions for edits)."
)
_REFLECT = (
    "You decide what an image-generation agent does next given the verdict of the best image so far: 'stop' "
    "when it is good or no rounds are left, 'repair' to edit only what failed, 'regenerate' when too much is "
    "wrong or the last round made it worse."
)
_JUDGE = "Rate from 0 to 1 how faithfully the image shows the described scene (objects, counts, colours, layout, text)."


class LLMBrain(Brain):
    """A brain backed by a pydantic-ai model; every call falls back to `fallback` on model failure."""

    name = "llm"

    def __init__(self, model: Model | str, *, max_retries: int = 2, vision: bool = True,
                 fallback: Brain | None = None) -> None:
        self.model = model
        self._secret: str | None = None  # the API key, scrubbed from every failure reason (`_ask`)
        self.max_retries = max_retries
        self.vision = vision
        self.fallback = fallback or RuleBrain()
        self._analyst = self._agent(SceneAnswer, _ANALYSE)
        self._planner = self._agent(PlanAnswer, _PLAN)
        self._reflector = self._agent(ReflectionAnswer, _REFLECT)
        self._judge = self._agent(JudgeAnswer, _JUDGE)

        @self._analyst.output_validator
        def _scene_is_consistent(answer: SceneAnswer) -> SceneAnswer:
            try:
                Scene(prompt="-", elements=answer.elements, relations=answer.relations)
            except ValidationError as e:
                raise ModelRetry(f"the scene is inconsistent: {e.errors()[0]['msg']}") from None
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
        # Local servers (vLLM, Ollama, llama.cpp) accept any key; the client library insists on one.
        provider = OpenAIProvider(base_url=config.base_url, api_key=key or "not-needed")
        model = OpenAIChatModel(config.model, provider=provider, settings={"timeout": config.timeout_s})
        brain = cls(model, max_retries=config.max_retries, vision=config.vision)
        brain._secret = key.strip() if key and key.strip() else None
        return brain

    def _agent(self, output_type: type[BaseModel], instructions: str) -> PydanticAgent[None, Any]:
        return PydanticAgent(self.model, output_type=output_type, instructions=instructions,
                             retries=self.max_retries, defer_model_check=True)

    def _ask(self, agent: PydanticAgent[None, Any], prompt: Any) -> tuple[Any, int | None, str | None]:
        """(answer, tokens, None) or (None, tokens?, reason) when the model failed after its retries."""
        try:
            result = agent.run_sync(prompt)
        except _MODEL_FAILURES as e:
            first = str(e).splitlines()[0] if str(e) else ""
            if self._secret:  # a server may echo the Authorization header it got into its error message
                first = first.replace(self._secret, "***")
            return None, None, f"{type(e).__name__}: {first[:300]}"
        except UserError:
            raise
        return result.output, result.usage.total_tokens, None

    @staticmethod
    def _fell_back(reason: str) -> str:
        return f"LLM brain failed ({reason}); the rule-based brain answered"

    # -- the roles ----------------------------------------------------------------------------------

    def analyse(self, prompt: str) -> Reading:
        answer, tokens, err = self._ask(self._analyst, f"Prompt: {prompt}")
        if answer is None:
            r = self.fallback.analyse(prompt)
            return Reading(scene=r.scene, goal=r.goal, note=r.note, tokens=tokens, error=self._fell_back(err))
        scene = Scene(prompt=prompt, elements=answer.elements, relations=answer.relations,
                      background=answer.background, style=answer.style, unsupported=answer.unsupported)
        return Reading(scene=scene, goal=answer.goal, note="read by the LLM", tokens=tokens)

    def plan(self, scene: Scene, tools: list[ToolSpec], verdict: Verdict | None = None,
             action: NextAction = "regenerate", round: int = 0) -> Plan:
        failed = [f"{c.target} {c.kind}: {c.evidence}" for c in verdict.failed] if verdict else []
        question = (f"Round {round}, action {action}.\nScene: {scene.model_dump_json(exclude={'prompt'})}\n"
                    f"Prompt: {scene.prompt}\nTool kinds available: {sorted({t.kind for t in tools})}\n"
                    f"Failed checks: {failed or 'none (first round)'}\nUse subtask ids starting with 'r{round}-'.")
        answer, tokens, err = self._ask(self._planner, question)
        if answer is None or not answer.subtasks:
            r = self.fallback.plan(scene, tools, verdict=verdict, action=action, round=round)
            why = err or "the LLM planned no subtask"
            return Plan(subtasks=r.subtasks, reasoning=r.reasoning, tokens=tokens, error=self._fell_back(why))
        return Plan(subtasks=answer.subtasks, reasoning=answer.reasoning, tokens=tokens)

    def reflect(self, scene: Scene, verdict: Verdict, round: int, rounds: int, *,
                last_improved: bool | None = None, tools: list[ToolSpec] | None = None,
                last_action: NextAction | None = None) -> Reflection:
        failed = [f"{c.target}:{c.kind}" for c in verdict.failed]
        question = (f"Prompt: {scene.prompt}\nRound {round + 1} of {rounds} finished. Best score "
                    f"{verdict.score:.3f}. Failed checks: {[f'{c.target} {c.kind}: {c.evidence}' for c in verdict.failed]}.\n"
                    f"The last round ({last_action or 'first drawing'}) improved on the best: {last_improved}.")
        if round + 1 >= rounds:
            return Reflection("stop", failed, f"no rounds left ({rounds})")
        answer, tokens, err = self._ask(self._reflector, question)
        if answer is None:
            r = self.fallback.reflect(scene, verdict, round, rounds, last_improved=last_improved, tools=tools,
                                      last_action=last_action)
            return Reflection(r.next_action, r.failed, r.reasoning, tokens=tokens, error=self._fell_back(err))
        return Reflection(answer.next_action, failed, answer.reasoning, tokens=tokens)

    def judge(self, image: Image.Image, scene: Scene) -> Judgement | None:
        if not self.vision:
            return None
        answer, tokens, err = self._ask(self._judge, [f"Scene: {scene.prompt}", ImageUrl(url=image_data_url(image))])
        if answer is None:  # the checker's own global score stands; the failure is recorded, not fatal
            return Judgement(score=None, tokens=tokens, error=f"VLM judge failed ({err}); the checker's global score is used")
        return Judgement(score=answer.score, reasoning=answer.reasoning, tokens=tokens)
