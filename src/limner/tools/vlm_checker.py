"""A real checker: a vision-language model judges an image against a Scene, statement by statement.

Works with any OpenAI-compatible chat endpoint that takes images (vLLM serving Qwen2.5-VL, Ollama,
llama.cpp's server, OpenAI). The contract is the sandbox checker's (`tools/sandbox/checker.py`):

    call = ToolCall(tool=name, params={"scene": <Scene JSON or dict>, "lam": 0.5})
    result = checker(call, image=image)          # result.meta["verdict"]: Verdict JSON

How it judges. The scene is turned into a fixed list of checkable statements, one per element attribute
the scene asks for (presence, or absence for a negated element; count when it is not one; colour,
texture, shape, size, text) and one per relation (position, depth or action), plus the background and
style when the scene names them. The model gets the image (a PNG data URL, no file or public URL needed)
and that list, and must answer in ONE structured reply (pydantic-ai structured output): for every
statement `passed`, a `score` in [0, 1] and a one-sentence `evidence`, then a global alignment score.

Why a fixed list rather than "tell me what is wrong": the Evaluator, the planner's repairs and the
performance matrix all need one check per element and relation with a known `kind` and `dimension`; a
free-form critique cannot be routed. So the reply is validated against the list: a missing, unknown or
repeated statement, or an empty evidence, is sent back to the model with the reason (pydantic-ai's
`ModelRetry`), at most `answer_retries` times. Dimensions follow the sandbox checker's conventions
(presence → non_spatial, count/absence → numeracy, relations by `relation_dimension`), so verdicts from
either checker feed the matrix alike.

Failures are `ToolError`s with a one-line reason (endpoint unreachable, HTTP error, no valid reply after
the retries); the API key never appears in them (it is read from the environment variable the options
name, and scrubbed with `limner.tools.openai_client.redact`).

Threads: pydantic-ai's `run_sync` drives the calling thread's own event loop, and an async HTTP
connection pool must not be shared between loops, so each thread gets its own client (cheap: no
connection is opened before the first request).
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from limner.imaging import image_data_url
from limner.tools.base import Tool, ToolError, parse_options
from limner.tools.openai_client import OpenAISettings, Secret, redact, server_message
from limner.types import (
    SPATIAL_2D,
    SPATIAL_3D,
    Check,
    Element,
    Relation,
    Scene,
    ToolCall,
    ToolResult,
    Verdict,
    relation_dimension,
)

__all__ = [
    "TOOL_TYPES",
    "ChatJudgeOptions",
    "CheckAnswer",
    "Statement",
    "VLMChecker",
    "VLMCheckerOptions",
    "VerdictAnswer",
    "lam_param",
    "scene_param",
    "statements",
    "vision_url",
]

OPENAI_HOST = "api.openai.com"
_EVIDENCE_CHARS = 300

# pydantic-ai (the `llm` extra) is imported inside the methods that use it, so a configuration listing this
# checker can be read, validated and listed where the extra is not installed (`unavailable_reason` says so).


# ----------------------------------------------------------------------------------------------------
# What is asked: one statement per checkable part of the scene
# ----------------------------------------------------------------------------------------------------

AnswerKind = Literal[
    "presence",
    "absence",
    "count",
    "color",
    "texture",
    "shape",
    "size",
    "text",
    "position",
    "depth",
    "action",
    "background",
    "style",
]


@dataclass(frozen=True)
class Statement:
    """One thing the image must show, as the model is asked to verify it."""

    target: str  # element id, relation id, or "scene"
    kind: AnswerKind
    dimension: str | None
    text: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.target, self.kind)


def _the(e: Element) -> str:
    return f"the {e.cls}" if e.count <= 1 else f"every {e.cls}"


def _element_statements(e: Element) -> list[Statement]:
    if e.negated or e.count == 0:
        return [
            Statement(e.id, "absence", "numeracy", f"there is no {e.cls} ('{e.noun}') anywhere in the image")
        ]
    out = [Statement(e.id, "presence", "non_spatial", f"at least one {e.cls} ('{e.noun}') is visible")]
    if e.count != 1:
        out.append(
            Statement(e.id, "count", "numeracy", f"the number of {e.cls} instances is exactly {e.count}")
        )
    if e.color:
        out.append(Statement(e.id, "color", "color", f"{_the(e)} is {e.color}"))
    if e.texture:
        out.append(Statement(e.id, "texture", "texture", f"{_the(e)} is {e.texture} (material or texture)"))
    if e.shape:
        out.append(Statement(e.id, "shape", "shape", f"{_the(e)} is {e.shape} in shape"))
    if e.size:
        out.append(Statement(e.id, "size", None, f"{_the(e)} is {e.size}"))
    if e.text:
        out.append(
            Statement(
                e.id, "text", "text", f'the {e.cls} shows the text "{e.text}" (spelling exact, case aside)'
            )
        )
    return out


def _relation_statement(r: Relation, scene: Scene) -> Statement:
    s, o = scene.element(r.subject), scene.element(r.object)
    kind: AnswerKind = (
        "depth" if r.predicate in SPATIAL_3D else "position" if r.predicate in SPATIAL_2D else "action"
    )
    return Statement(
        r.id,
        kind,
        relation_dimension(r.predicate),
        f"the {s.cls} ({r.subject}) is {r.predicate} the {o.cls} ({r.object})",
    )


def statements(scene: Scene) -> list[Statement]:
    """Everything the scene asks for, in scene order: elements, relations, then background and style."""
    out = [st for e in scene.elements for st in _element_statements(e)]
    out += [_relation_statement(r, scene) for r in scene.relations]
    if scene.background:
        out.append(Statement("scene", "background", None, f"the background is {scene.background}"))
    if scene.style:
        out.append(Statement("scene", "style", None, f"the image is in {scene.style} style"))
    return out


# ----------------------------------------------------------------------------------------------------
# What the model must answer
# ----------------------------------------------------------------------------------------------------


class CheckAnswer(BaseModel):
    target: str = Field(
        description="the statement's target, exactly as listed (e.g. 'e0' or 'e0:left_of:e1')"
    )
    kind: AnswerKind = Field(description="the statement's kind, exactly as listed")
    passed: bool = Field(description="true if the statement is true of the image")
    score: float = Field(ge=0, le=1, description="how fully the statement holds: 0 not at all, 1 exactly")
    evidence: str = Field(description="one short sentence: what you see that decides it")


class VerdictAnswer(BaseModel):
    """The whole judgement of one image: every listed statement once, then the global alignment."""

    checks: list[CheckAnswer]
    global_score: float = Field(
        ge=0, le=1, description="how faithfully the whole image shows the prompt, 0..1"
    )
    summary: str = Field(default="", description="one sentence on the image as a whole")


@dataclass
class _Asked:
    """The statements of one call (the validator's reference) and the problems found in earlier replies."""

    statements: list[Statement]
    problems: list[str] = field(default_factory=list)

    def problem_with(self, answer: VerdictAnswer) -> str | None:
        expected = {st.key for st in self.statements}
        seen: set[tuple[str, str]] = set()
        repeated, unknown, blank = [], [], []
        for a in answer.checks:
            key = (a.target, a.kind)
            if key not in expected:
                unknown.append(f"{a.target}/{a.kind}")
            elif key in seen:
                repeated.append(f"{a.target}/{a.kind}")
            elif not a.evidence.strip():
                blank.append(f"{a.target}/{a.kind}")
            seen.add(key)
        missing = [f"{st.target}/{st.kind} ({st.text})" for st in self.statements if st.key not in seen]
        parts = [
            f"{what}: {', '.join(items)}"
            for what, items in (
                ("missing statements", missing),
                ("unknown target/kind (not in the list)", unknown),
                ("answered twice", repeated),
                ("empty evidence", blank),
            )
            if items
        ]
        if not parts:
            return None
        return (
            "; ".join(parts)
            + ". Answer every listed statement exactly once, with its target and kind as listed."
        )


_INSTRUCTIONS = (
    "You are a strict visual inspector for a text-to-image system. You get an image and a numbered list of "
    "statements about it. Judge each statement only from what is visible in the image: count every instance "
    "when a number is asked, read text letter by letter, and treat left/right/above/below from the viewer's "
    "point of view. For EVERY statement give one entry in `checks` with its target and kind copied exactly, "
    "`passed`, `score` (0..1, how fully it holds) and one short sentence of `evidence`. Then give "
    "`global_score` (0..1): how faithfully the whole image shows the prompt."
)


def _question(scene: Scene, asked: list[Statement]) -> str:
    lines = [f"{i}. target={st.target} kind={st.kind}: {st.text}" for i, st in enumerate(asked, 1)]
    listed = "\n".join(lines) if lines else "(no statements: give only the global score)"
    return f"Prompt: {scene.prompt}\nStatements ({len(asked)}):\n{listed}"


# ----------------------------------------------------------------------------------------------------
# The tool
# ----------------------------------------------------------------------------------------------------


class ChatJudgeOptions(BaseModel):
    """Endpoint and answering options every VLM judge over an OpenAI-compatible chat endpoint takes.

    Shared by `vlm_checker` (one structured verdict per image) and `soft_tifa` (`limner.tools.soft_tifa`: one
    yes/no question per atom), so both are configured, validated and keyed the same way."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = "https://api.openai.com/v1"
    model: str | None = Field(
        default=None, description="the served model name, e.g. Qwen/Qwen2.5-VL-7B-Instruct"
    )
    api_key_env: str = Field(default="OPENAI_API_KEY", description="name of the env var holding the key")
    api_key_required: bool | None = Field(
        default=None,
        description="default: required for OpenAI's API only; other servers get the key if it is set",
    )
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10, description="HTTP retries (429, 5xx, connection errors)")
    headers: dict[str, str] = Field(default_factory=dict, description="extra non-secret headers")
    answer_retries: int = Field(
        default=2, ge=0, le=10, description="re-asks after an invalid or incomplete reply"
    )
    max_image_side: int = Field(
        default=1024, ge=64, le=8192, description="larger images are downscaled first"
    )
    temperature: float | None = Field(default=0.0, ge=0, le=2, description="None: the server's default")
    lam: float = Field(default=0.5, ge=0, le=1, description="λ when the call gives none")

    def key_required(self) -> bool:
        if self.api_key_required is not None:
            return self.api_key_required
        return urlsplit(self.base_url).hostname == OPENAI_HOST

    def endpoint(self, tool: str, what: str, model: str) -> OpenAISettings:
        """The `OpenAISettings` these options describe; a bad base URL or header is a one-line
        `ValueError` naming the tool, raised when the tool is built rather than on its first call."""
        try:
            return OpenAISettings(
                base_url=self.base_url,
                model=model,
                api_key_env=self.api_key_env,
                api_key_required=self.key_required(),
                timeout_s=self.timeout_s,
                max_retries=self.max_retries,
                headers=self.headers,
            )
        except ValidationError as e:
            raise ValueError(f"tool {tool!r}: invalid {what} options: {e}") from None


class VLMCheckerOptions(ChatJudgeOptions):
    """Options of the `vlm_checker` tool (the `options:` of its `tools:` entry)."""

    output_mode: Literal["tool", "native", "prompted"] = Field(
        default="tool",
        description="structured output by tool call, by response_format json_schema, or by prompt",
    )


def scene_param(call: ToolCall, who: str) -> Scene:
    """The Scene a judge is asked about (`params['scene']`, as JSON text or a dict); `who` names the tool
    in the one-line `ToolError` a missing or invalid scene gives."""
    raw = call.params.get("scene")
    if raw is None:
        raise ToolError(f"{who} needs params['scene'] (a Scene as JSON)")
    try:
        return Scene.model_validate_json(raw) if isinstance(raw, (str, bytes)) else Scene.model_validate(raw)
    except (ValueError, json.JSONDecodeError) as e:
        raise ToolError(f"{who}: params['scene'] is not a valid Scene: {e}") from None


def lam_param(call: ToolCall, default: float, who: str) -> float:
    """λ of the verdict (`params['lam']`, else `default`), checked to lie in [0, 1]."""
    try:
        lam = float(call.params.get("lam", default))
    except (TypeError, ValueError):
        lam = -1.0
    if not 0.0 <= lam <= 1.0:
        got = call.params.get("lam")
        raise ToolError(f"{who}: params['lam'] must be a number in [0, 1], got {got!r}")
    return lam


def vision_url(image: Image.Image, max_side: int) -> str:
    """The image as the PNG data URL a vision model gets, downscaled so that its longer side is at most
    `max_side` (a judge needs no more pixels, and every pixel is paid for in tokens)."""
    img = image.convert("RGB")
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image_data_url(img)


class VLMChecker(Tool):
    """Judges an image against a Scene with a vision-language model over an OpenAI-compatible endpoint.

    `chat_model` injects a ready pydantic-ai model (tests: `FunctionModel`/`TestModel`; notebooks: any
    provider); then no endpoint options are needed and `model` is optional.
    """

    kind = "check"
    backend: ClassVar[str] = "openai"
    default_dims = ()

    def __init__(
        self,
        name: str,
        *,
        description: str = "",
        dims: list[str] | None = None,
        cost: float = 1.0,
        chat_model: Any = None,
        **options: Any,
    ) -> None:
        super().__init__(name, description=description, dims=dims, cost=cost, **options)
        self.opts = parse_options(VLMCheckerOptions, name, options, "vlm_checker")
        if chat_model is None and not self.opts.model:
            raise ValueError(
                f"tool {name!r}: options.model is required (the model name the server serves, "
                "e.g. gpt-4.1-mini or Qwen/Qwen2.5-VL-7B-Instruct)"
            )
        self._chat_model = chat_model
        self.settings = self._settings()  # validates base_url/headers now, not on the first call
        self._agent: Any = None
        self._local = threading.local()

    # -- configuration ---------------------------------------------------------------------------

    def _settings(self) -> OpenAISettings:
        return self.opts.endpoint(self.name, "vlm_checker", self.opts.model or "injected")

    @property
    def model_name(self) -> str:
        if self._chat_model is not None and not self.opts.model:
            return str(getattr(self._chat_model, "model_name", type(self._chat_model).__name__))
        return self.settings.model

    def unavailable_reason(self) -> str | None:
        """Why this checker cannot run here (missing package or key), or None. Sends nothing."""
        if self._chat_model is not None:
            return None
        if importlib.util.find_spec("pydantic_ai") is None or importlib.util.find_spec("openai") is None:
            return "missing package pydantic-ai-slim[openai]: pip install 'limner[llm]'"
        return self.settings.missing_key()

    # -- lifecycle -------------------------------------------------------------------------------

    def setup(self) -> None:
        try:  # optional (limner[llm]), see the note at the top of the module
            from pydantic_ai import (  # noqa: PLC0415
                Agent,
                ModelRetry,
                NativeOutput,
                PromptedOutput,
                RunContext,
                ToolOutput,
            )
        except ImportError:
            raise ToolError(f"checker {self.name!r} needs pydantic-ai: pip install 'limner[llm]'") from None
        wrap = {"tool": ToolOutput, "native": NativeOutput, "prompted": PromptedOutput}[self.opts.output_mode]
        settings: dict[str, Any] = {"timeout": self.opts.timeout_s}
        if self.opts.temperature is not None:
            settings["temperature"] = self.opts.temperature
        agent = Agent(
            None,
            output_type=wrap(VerdictAnswer),
            instructions=_INSTRUCTIONS,
            deps_type=_Asked,
            retries=self.opts.answer_retries,
            model_settings=settings,
            defer_model_check=True,
        )

        @agent.output_validator
        def _answers_every_statement(ctx: RunContext[_Asked], answer: VerdictAnswer) -> VerdictAnswer:
            problem = ctx.deps.problem_with(answer)
            if problem is not None:
                ctx.deps.problems.append(problem)
                raise ModelRetry(problem)
            return answer

        self._agent = agent

    def unload(self) -> None:
        self._agent = None
        self._local = threading.local()  # each thread's client is dropped with its loop's connections
        super().unload()

    def _model(self) -> Any:
        """This thread's pydantic-ai model (the injected one if any).

        The key is read when a thread's client is built, so a rotated key is picked up after `unload()`."""
        if self._chat_model is not None:
            return self._chat_model
        model = getattr(self._local, "model", None)
        if model is None:
            # api_key() raises a ToolError naming the variable when a needed key is missing.
            self._local.key = self.settings.api_key()
            model = self.settings.pydantic_ai_model()
            self._local.model = model
        return model

    # -- the call --------------------------------------------------------------------------------

    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        if image is None:
            raise ToolError(f"checker {self.name!r} needs an image to judge")
        scene = self._scene(call)
        lam = self._lam(call)
        asked = _Asked(statements(scene))
        answer, usage = self._ask(scene, image, asked)
        by_key = {(a.target, a.kind): a for a in answer.checks}
        checks = []
        for st in asked.statements:
            a = by_key[st.key]
            checks.append(
                Check(
                    target=st.target,
                    kind=st.kind,
                    passed=a.passed,
                    score=a.score,
                    evidence=" ".join(a.evidence.split())[:_EVIDENCE_CHARS],
                    dimension=st.dimension,
                )
            )
        verdict = Verdict.combine(
            answer.global_score,
            checks,
            lam=lam,
            unsupported=[*scene.unsupported, *scene.unjudged_readings],
            evaluator=f"vlm:{self.model_name}",
        )
        meta: dict[str, Any] = {
            "verdict": verdict.model_dump(mode="json"),
            "model": self.model_name,
            "summary": " ".join(answer.summary.split())[:_EVIDENCE_CHARS],
            "tokens": usage.total_tokens,
            "requests": usage.requests,
            "retried_for": asked.problems,
        }
        return ToolResult(tool=self.name, meta=meta)

    def _scene(self, call: ToolCall) -> Scene:
        return scene_param(call, f"checker {self.name!r}")

    def _lam(self, call: ToolCall) -> float:
        return lam_param(call, self.opts.lam, f"checker {self.name!r}")

    def _image_url(self, image: Image.Image) -> str:
        return vision_url(image, self.opts.max_image_side)

    def _ask(self, scene: Scene, image: Image.Image, asked: _Asked) -> tuple[VerdictAnswer, Any]:
        # optional (limner[llm]): loaded by setup() already, imported here for the names
        from pydantic_ai.exceptions import (  # noqa: PLC0415
            AgentRunError,
            ModelAPIError,
            ModelAuthenticationError,
            ModelConnectionError,
            ModelHTTPError,
            ModelTimeoutError,
            UnexpectedModelBehavior,
        )
        from pydantic_ai.messages import ImageUrl  # noqa: PLC0415

        model = self._model()
        where = f"checker {self.name!r} ({self.model_name} at {self.settings.base_url})"
        prompt = [_question(scene, asked.statements), ImageUrl(url=self._image_url(image))]
        try:
            result = self._agent.run_sync(prompt, model=model, deps=asked)
        except UnexpectedModelBehavior as e:
            why = asked.problems[-1] if asked.problems else _first_line(e)
            raise self._fail(
                f"{where}: no valid verdict after {self.opts.answer_retries + 1} answer(s); "
                f"last problem: {why}"
            ) from None
        except (ModelHTTPError, ModelAuthenticationError) as e:
            status = getattr(e, "status_code", None)
            auth = status in (401, 403) or isinstance(e, ModelAuthenticationError)
            hint = f" (check the key in ${self.settings.api_key_env})" if auth else ""
            raise self._fail(f"{where}: HTTP {status or '?'}: {_http_detail(e)}{hint}") from None
        except (ModelConnectionError, ModelTimeoutError) as e:
            raise self._fail(
                f"{where}: cannot reach the endpoint ({type(e).__name__}: {_first_line(e)}; "
                f"is the server running?)"
            ) from None
        except ModelAPIError as e:
            raise self._fail(f"{where}: cannot get an answer: {type(e).__name__}: {_first_line(e)}") from None
        except AgentRunError as e:
            raise self._fail(f"{where}: {type(e).__name__}: {_first_line(e)}") from None
        except (OSError, TimeoutError) as e:
            raise self._fail(
                f"{where}: cannot reach the endpoint: {type(e).__name__}: {_first_line(e)}"
            ) from None
        return result.output, result.usage

    def _fail(self, message: str) -> ToolError:
        """A ToolError whose text cannot carry the key, whatever the server or the SDK put in it."""
        text = " ".join(message.split())
        now = os.environ.get(self.settings.api_key_env, "").strip()
        for key in (getattr(self._local, "key", None), Secret(now) if now else None):
            text = redact(text, key)
        return ToolError(text)


def _http_detail(e: Any) -> str:
    """The server's own error message when the body carries one (OpenAI: {"error": {"message": ...}})."""
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        msg = server_message(body)
        if msg:
            return msg
    return " ".join(str(body).split())[:300] if body else _first_line(e)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:400]


TOOL_TYPES: dict[str, type[Tool]] = {"vlm_checker": VLMChecker}
