"""The VLM checker: statements from the scene, structured answers validated and retried, the Verdict it
builds, errors without the key, the presets that configure it, and a full agent round judged by it.

No network: the model is pydantic-ai's FunctionModel (a fake VLM that reads the statements, and the image,
from the request), or the real OpenAI client against an in-process fake chat-completions server on
127.0.0.1 (FastAPI + uvicorn in a thread), as in tests/test_backends_openai.py.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from local_server import dead_url, serve
from PIL import Image
from pydantic_ai.messages import (
    ImageUrl,
    ModelMessage,
    ModelResponse,
    RetryPromptPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from typer.testing import CliRunner

from limner.agent import Agent, MemoryStore
from limner.agent.evaluator import EvaluatorError
from limner.agent.loop import _find_checker
from limner.cli import app
from limner.config import LimnerConfig, ToolConfig, load_config
from limner.reading import parse_prompt
from limner.tools.base import Tool, ToolError
from limner.tools.registry import ToolRegistry, resolve_tool_class
from limner.tools.vlm_checker import VLMChecker, statements
from limner.types import Check, Element, Relation, Scene, ToolCall, ToolResult, Verdict

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
except ImportError:  # pragma: no cover - the HTTP tests skip
    Request = Any  # type: ignore[misc,assignment]

KEY = "sk-limner-vlm-test-SECRET-fedcba9876543210"
ENV = "LIMNER_TEST_VLM_KEY"
PROMPT = "two red apples left of a blue cup and no dog"
SCENE = parse_prompt(PROMPT)
IMAGE = Image.new("RGB", (32, 32), "red")


def _call(scene: Scene = SCENE, **params: Any) -> ToolCall:
    return ToolCall(tool="vlm", params={"scene": scene.model_dump(mode="json"), **params})


# -- a fake VLM: reads the listed statements (and the image) from the request ----------------------


def _request(messages: list[ModelMessage]) -> tuple[list[tuple[str, str]], list[str]]:
    """The (target, kind) pairs listed in the LAST user prompt, and every image URL sent."""
    texts: list[str] = []
    urls: list[str] = []
    for m in messages:
        for part in getattr(m, "parts", []):
            content = getattr(part, "content", None)
            items = content if isinstance(content, list) else [content]
            for item in items:
                if isinstance(item, str) and "Statements (" in item:
                    texts.append(item)
                elif isinstance(item, ImageUrl):
                    urls.append(item.url)
    keys = re.findall(r"target=(\S+) kind=(\w+)", texts[-1]) if texts else []
    return list(dict.fromkeys(keys)), urls


def _png(url: str) -> Image.Image:
    assert url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


Answer = Callable[[list[tuple[str, str]], Image.Image, int], Any]


def fake_vlm(answer: Answer) -> tuple[FunctionModel, list[list[ModelMessage]]]:
    """FunctionModel whose reply is `answer(keys, image, n)` (a dict, or a raw string of arguments)."""
    calls: list[list[ModelMessage]] = []

    def fn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        calls.append(messages)
        keys, urls = _request(messages)
        payload = answer(keys, _png(urls[-1]), len(calls))
        args = payload if isinstance(payload, str) else json.dumps(payload)
        return ModelResponse(parts=[ToolCallPart(tool_name=info.output_tools[0].name, args=args)])

    return FunctionModel(fn, model_name="fake-vl"), calls


def _all_pass(
    keys: list[tuple[str, str]], fail: dict[tuple[str, str], float] | None = None, global_score: float = 0.9
) -> dict[str, Any]:
    fail = fail or {}
    checks = [
        {
            "target": t,
            "kind": k,
            "passed": (t, k) not in fail,
            "score": fail.get((t, k), 1.0),
            "evidence": f"{k} of {t} as seen",
        }
        for t, k in keys
    ]
    return {"checks": checks, "global_score": global_score, "summary": "mostly right"}


def _retry_texts(messages: list[ModelMessage]) -> list[str]:
    """What was fed back to the model (a failed output tool call is answered by a tool-return part)."""
    return [
        str(p.content)
        for m in messages
        for p in getattr(m, "parts", [])
        if isinstance(p, (RetryPromptPart, ToolReturnPart))
    ]


# -- statements ------------------------------------------------------------------------------------


def test_statements_cover_every_part_of_the_scene_with_kinds_and_dimensions() -> None:
    scene = Scene(
        prompt="-",
        elements=[
            Element(
                id="e0",
                noun="mugs",
                cls="mug",
                count=3,
                color="blue",
                texture="wooden",
                shape="round",
                size="small",
                text="HOT",
            ),
            Element(id="e1", noun="cat", cls="cat"),
            Element(id="e2", noun="dogs", cls="dog", count=0, negated=True),
        ],
        relations=[
            Relation(subject="e0", predicate="left of", object="e1"),
            Relation(subject="e1", predicate="behind", object="e0"),
            Relation(subject="e1", predicate="holding", object="e0"),
        ],
        background="beach",
        style="watercolor",
    )
    got = [(s.target, s.kind, s.dimension) for s in statements(scene)]
    assert got == [
        ("e0", "presence", "non_spatial"),
        ("e0", "count", "numeracy"),
        ("e0", "color", "color"),
        ("e0", "texture", "texture"),
        ("e0", "shape", "shape"),
        ("e0", "size", None),
        ("e0", "text", "text"),
        ("e1", "presence", "non_spatial"),
        ("e2", "absence", "numeracy"),
        ("e0:left_of:e1", "position", "spatial_2d"),
        ("e1:behind:e0", "depth", "spatial_3d"),
        ("e1:holding:e0", "action", "non_spatial"),
        ("scene", "background", None),
        ("scene", "style", None),
    ]
    texts = {(s.target, s.kind): s.text for s in statements(scene)}
    assert "exactly 3" in texts[("e0", "count")] and '"HOT"' in texts[("e0", "text")]
    assert texts[("e2", "absence")].startswith("there is no dog")
    zero = Scene(prompt="-", elements=[Element(id="e0", noun="cats", cls="cat", count=0)])
    assert [(s.kind, s.dimension) for s in statements(zero)] == [("absence", "numeracy")]


# -- the verdict -----------------------------------------------------------------------------------


def test_correct_answer_becomes_the_verdict() -> None:
    model, calls = fake_vlm(lambda keys, img, n: _all_pass(keys, {("e1", "color"): 0.2}, global_score=0.6))
    res = VLMChecker("vlm", chat_model=model)(_call(lam=0.3), image=IMAGE)
    v = Verdict.model_validate(res.meta["verdict"])
    assert len(calls) == 1
    assert [(c.target, c.kind) for c in v.checks] == [
        ("e0", "presence"),
        ("e0", "count"),
        ("e0", "color"),
        ("e1", "presence"),
        ("e1", "color"),
        ("e2", "absence"),
        ("e0:left_of:e1", "position"),
    ]
    assert [c.target for c in v.failed] == ["e1"] and v.failed[0].kind == "color"
    assert v.failed[0].evidence == "color of e1 as seen" and v.failed[0].dimension == "color"
    assert v.checks[-1].dimension == "spatial_2d"
    assert v.lam == 0.3 and v.global_score == 0.6
    assert v.score == pytest.approx(0.3 * 0.6 + 0.7 * (6 + 0.2) / 7)
    assert v.evaluator == "vlm:fake-vl"
    assert res.meta["summary"] == "mostly right" and res.meta["tokens"] > 0 and res.meta["retried_for"] == []
    _, urls = _request(calls[0])
    assert _png(urls[0]).getpixel((3, 3)) == (255, 0, 0)  # the image itself went to the model


def test_lam_defaults_and_unsupported_are_kept() -> None:
    scene = SCENE.model_copy(update={"unsupported": ["in the style of a dream"]})
    model, _ = fake_vlm(lambda keys, img, n: _all_pass(keys, global_score=1.0))
    v = Verdict.model_validate(
        VLMChecker("vlm", chat_model=model, lam=0.8)(_call(scene), image=IMAGE).meta["verdict"]
    )
    assert v.lam == 0.8 and v.unsupported == ["in the style of a dream"] and v.score == 1.0
    assert v.checks_passed and not v.passed and v.coverage < 1.0  # the unsupported part was not checked


def test_scene_json_string_and_empty_scene() -> None:
    model, _ = fake_vlm(lambda keys, img, n: {"checks": [], "global_score": 0.25})
    call = ToolCall(tool="vlm", params={"scene": Scene(prompt="something").model_dump_json()})
    v = Verdict.model_validate(VLMChecker("vlm", chat_model=model)(call, image=IMAGE).meta["verdict"])
    assert v.checks == [] and v.score == 0.25


def test_answer_missing_a_relation_is_retried_then_accepted() -> None:
    def answer(keys: list[tuple[str, str]], img: Image.Image, n: int) -> dict[str, Any]:
        return _all_pass([k for k in keys if k[1] != "position"] if n == 1 else keys)

    model, calls = fake_vlm(answer)
    res = VLMChecker("vlm", chat_model=model)(_call(), image=IMAGE)
    assert len(calls) == 2
    fed_back = _retry_texts(calls[1])
    assert any("missing statements: e0:left_of:e1/position" in t for t in fed_back)
    v = Verdict.model_validate(res.meta["verdict"])
    assert ("e0:left_of:e1", "position") in [(c.target, c.kind) for c in v.checks]
    assert len(res.meta["retried_for"]) == 1 and res.meta["requests"] == 2


def test_unknown_repeated_and_blank_answers_are_sent_back() -> None:
    def answer(keys: list[tuple[str, str]], img: Image.Image, n: int) -> dict[str, Any]:
        good = _all_pass(keys)
        if n == 1:
            good["checks"] += [
                {"target": "e9", "kind": "color", "passed": True, "score": 1, "evidence": "x"},
                dict(good["checks"][0]),
            ]
            good["checks"][1]["evidence"] = "  "
        return good

    model, calls = fake_vlm(answer)
    VLMChecker("vlm", chat_model=model)(_call(), image=IMAGE)
    (text,) = _retry_texts(calls[1])
    assert "unknown target/kind (not in the list): e9/color" in text
    assert "answered twice: e0/presence" in text and "empty evidence: e0/count" in text


@pytest.mark.parametrize("reply", ["{not json", "missing"])
def test_persistently_malformed_answer_raises_tool_error(reply: str) -> None:
    def answer(keys: list[tuple[str, str]], img: Image.Image, n: int) -> Any:
        return reply if reply != "missing" else _all_pass(keys[:2])

    model, calls = fake_vlm(answer)
    with pytest.raises(ToolError, match=r"no valid verdict after 3 answer\(s\)") as err:
        VLMChecker("vlm", chat_model=model, answer_retries=2)(_call(), image=IMAGE)
    assert len(calls) == 3
    assert "\n" not in str(err.value)
    if reply == "missing":
        assert "last problem: missing statements: e0/color" in str(err.value)


def test_scores_outside_the_unit_interval_are_rejected() -> None:
    def answer(keys: list[tuple[str, str]], img: Image.Image, n: int) -> dict[str, Any]:
        return _all_pass(keys, global_score=1.5 if n == 1 else 0.5)

    model, calls = fake_vlm(answer)
    v = Verdict.model_validate(VLMChecker("vlm", chat_model=model)(_call(), image=IMAGE).meta["verdict"])
    assert len(calls) == 2 and v.global_score == 0.5


def test_bad_calls_are_tool_errors() -> None:
    model, calls = fake_vlm(lambda keys, img, n: _all_pass(keys))
    tool = VLMChecker("vlm", chat_model=model)
    with pytest.raises(ToolError, match="needs an image"):
        tool(_call())
    with pytest.raises(ToolError, match=r"needs params\['scene'\]"):
        tool(ToolCall(tool="vlm"), image=IMAGE)
    with pytest.raises(ToolError, match="not a valid Scene"):
        tool(
            ToolCall(tool="vlm", params={"scene": {"prompt": "x", "elements": [{"id": "bad id!"}]}}),
            image=IMAGE,
        )
    with pytest.raises(ToolError, match=r"params\['lam'\] must be a number in \[0, 1\]"):
        tool(_call(lam=2), image=IMAGE)
    assert calls == []


def test_large_images_are_downscaled_before_sending() -> None:
    seen: list[tuple[int, int]] = []
    model, _ = fake_vlm(lambda keys, img, n: seen.append(img.size) or _all_pass(keys))
    VLMChecker("vlm", chat_model=model, max_image_side=256)(
        _call(), image=Image.new("RGB", (1024, 512), "red")
    )
    assert seen == [(256, 128)]


# -- options, availability, registration, presets --------------------------------------------------


def test_options_are_validated_at_construction() -> None:
    with pytest.raises(ValueError, match="options.model is required"):
        VLMChecker("vlm")
    with pytest.raises(ValueError, match="temprature"):
        VLMChecker("vlm", model="m", temprature=0)
    with pytest.raises(ValueError, match="must be an http"):
        VLMChecker("vlm", model="m", base_url="localhost:8000")
    with pytest.raises(ValueError, match="not in headers"):
        VLMChecker("vlm", model="m", headers={"Authorization": "Bearer x"})
    assert (
        VLMChecker("vlm", model="m").spec.kind == "check"
        and VLMChecker("vlm", model="m").spec.backend == "openai"
    )


def test_unavailable_reason_names_a_missing_key_only_where_one_is_needed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    hosted = VLMChecker("vlm", model="gpt-4.1-mini", api_key_env=ENV)
    assert ENV in (hosted.unavailable_reason() or "")
    local = VLMChecker("vlm", model="q", base_url="http://localhost:8000/v1", api_key_env=ENV)
    assert local.unavailable_reason() is None and not local.settings.api_key_required
    strict = VLMChecker(
        "vlm", model="q", base_url="http://localhost:8000/v1", api_key_env=ENV, api_key_required=True
    )
    assert ENV in (strict.unavailable_reason() or "")
    monkeypatch.setenv(ENV, KEY)
    assert hosted.unavailable_reason() is None
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pydantic_ai" else real(name, *a)
    )
    assert "limner[llm]" in (local.unavailable_reason() or "")


REAL_PRESETS = ["sdxl", "sd15", "sd3", "flux", "openai", "vllm"]


@pytest.mark.parametrize("preset", REAL_PRESETS)
def test_every_real_preset_configures_a_vlm_checker(preset: str) -> None:
    assert resolve_tool_class("openai", "vlm_checker") is VLMChecker
    config = load_config(preset)
    registry = ToolRegistry.from_config(config)
    checkers = [t for t in registry.tools() if t.kind == "check"]
    assert len(checkers) == 1 and isinstance(checkers[0], VLMChecker)
    assert _find_checker({n: registry.get(n) for n in registry.names}) is checkers[0]
    tool = checkers[0]
    assert not tool.loaded and tool.settings.model
    if preset == "openai":
        assert tool.settings.base_url == "https://api.openai.com/v1" and tool.settings.api_key_required
    else:
        assert tool.settings.base_url == "http://localhost:8000/v1" and not tool.settings.api_key_required
        assert "Qwen2.5-VL" in tool.settings.model


def test_tools_list_shows_the_checker() -> None:
    res = CliRunner().invoke(app, ["tools", "list", "--config", "sdxl", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.stdout.strip().splitlines()[-1])}
    assert rows["checker"]["kind"] == "check" and rows["checker"]["type"] == "vlm_checker"
    assert rows["checker"]["loadable"] is True and rows["checker"]["simulated"] is False


# -- through HTTP: the real OpenAI client against a fake chat-completions server ---------------------


class FakeChat:
    """A fake `/v1/chat/completions` that judges every listed statement; its mode switches failures."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[dict[str, Any]] = []
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self._chat)

    async def _chat(self, request: Request) -> Any:
        body = await request.json()
        self.requests.append({"headers": dict(request.headers), "body": body})
        if self.mode == "echo-key-401":  # a careless server echoing the credential it rejected
            auth = request.headers.get("authorization", "")
            return JSONResponse({"error": {"message": f"invalid key {auth}"}}, status_code=401)
        if self.mode == "503":
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
        text = json.dumps(body["messages"])
        keys = list(dict.fromkeys(re.findall(r"target=(\S+?) kind=(\w+)", text)))
        answer = _all_pass(keys)
        if self.mode == "chatty":  # prose instead of the structured answer, every time
            message: dict[str, Any] = {"role": "assistant", "content": "The image looks great!"}
        elif body.get("tools"):
            name = body["tools"][0]["function"]["name"]
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": name, "arguments": json.dumps(answer)},
                    }
                ],
            }
        else:
            message = {"role": "assistant", "content": json.dumps(answer)}
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
        }


@pytest.fixture(scope="module")
def chat_server() -> Iterator[tuple[FakeChat, str]]:
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    fake = FakeChat()
    with serve(fake.app) as url:
        yield fake, url


@pytest.fixture
def chat(chat_server: tuple[FakeChat, str], monkeypatch: pytest.MonkeyPatch) -> tuple[FakeChat, str]:
    fake, url = chat_server
    fake.mode = "ok"
    fake.requests.clear()
    monkeypatch.setenv(ENV, KEY)
    return fake, url


def _http_checker(url: str, **opts: Any) -> VLMChecker:
    return VLMChecker(
        "vlm",
        **{
            "base_url": url,
            "model": "Qwen/Qwen2.5-VL-7B-Instruct",
            "api_key_env": ENV,
            "api_key_required": True,
            "max_retries": 0,
            "timeout_s": 5.0,
            **opts,
        },
    )


def test_http_round_trip_sends_key_statements_and_image(chat: tuple[FakeChat, str]) -> None:
    fake, url = chat
    tool = _http_checker(url)
    for _ in range(2):  # the same tool twice: its client is reused across calls
        res = tool(_call(), image=Image.new("RGB", (2048, 1024), "red"))
        v = Verdict.model_validate(res.meta["verdict"])
        assert v.passed and len(v.checks) == 7 and v.evaluator == "vlm:Qwen/Qwen2.5-VL-7B-Instruct"
        assert res.meta["tokens"] == 120 and KEY not in json.dumps(res.meta)
    req = fake.requests[-1]
    assert req["headers"]["authorization"] == f"Bearer {KEY}"
    body = req["body"]
    assert body["model"] == "Qwen/Qwen2.5-VL-7B-Instruct" and body["temperature"] == 0.0
    assert (
        body["tool_choice"] == "required"
    )  # vLLM >= 0.8.3 serves this by guided decoding, no tool parser needed
    content = body["messages"][-1]["content"]
    image = next(p["image_url"]["url"] for p in content if p["type"] == "image_url")
    assert _png(image).size == (1024, 512)
    assert "target=e0:left_of:e1 kind=position" in next(p["text"] for p in content if p["type"] == "text")
    # Another thread runs its own event loop: it gets its own client, and works as well.
    done: list[ToolResult] = []
    worker = threading.Thread(target=lambda: done.append(tool(_call(), image=IMAGE)))
    worker.start()
    worker.join(timeout=10)
    assert len(done) == 1 and Verdict.model_validate(done[0].meta["verdict"]).passed


@pytest.mark.parametrize("mode,expected", [("native", "json_schema"), ("prompted", "json_object")])
def test_output_modes_without_tool_calls(chat: tuple[FakeChat, str], mode: str, expected: str) -> None:
    fake, url = chat
    v = Verdict.model_validate(_http_checker(url, output_mode=mode)(_call(), image=IMAGE).meta["verdict"])
    assert v.passed and len(v.checks) == 7
    body = fake.requests[-1]["body"]
    assert "tools" not in body and body["response_format"]["type"] == expected


def _key_nowhere(caplog: pytest.LogCaptureFixture, *texts: str) -> None:
    for t in [*texts, *(r.getMessage() for r in caplog.records)]:
        assert KEY not in t


def test_http_errors_are_one_line_tool_errors_without_the_key(
    chat: tuple[FakeChat, str], caplog: pytest.LogCaptureFixture
) -> None:
    fake, url = chat
    caplog.set_level(logging.DEBUG)
    tool = _http_checker(url)
    fake.mode = "echo-key-401"
    with pytest.raises(ToolError, match=r"HTTP 401: invalid key Bearer \*\*\* \(check the key in \$") as e401:
        tool(_call(), image=IMAGE)
    fake.mode = "503"
    with pytest.raises(ToolError, match="HTTP 503: overloaded") as e503:
        tool(_call(), image=IMAGE)
    fake.mode = "chatty"
    with pytest.raises(ToolError, match="no valid verdict after 2 answer") as echatty:
        _http_checker(url, answer_retries=1)(_call(), image=IMAGE)
    assert len(fake.requests) == 4  # 401 and 503 are not re-asked; the chatty model was asked twice
    errors = [str(e.value) for e in (e401, e503, echatty)]
    assert all("\n" not in m for m in errors)
    _key_nowhere(caplog, *errors, repr(tool), repr(tool.settings), json.dumps(tool.options))


def test_unreachable_endpoint_and_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    url = dead_url()
    monkeypatch.setenv(ENV, KEY)
    with pytest.raises(ToolError, match="cannot reach the endpoint") as err:
        _http_checker(url)(_call(), image=IMAGE)
    assert KEY not in str(err.value)
    monkeypatch.delenv(ENV)
    with pytest.raises(ToolError, match=f"environment variable {ENV} is not set"):
        _http_checker(url)(_call(), image=IMAGE)


# -- the agent loop judged by the VLM checker ------------------------------------------------------


class ColourPainter(Tool):
    """Paints the whole canvas one colour: the fake VLM below judges colour from the pixels."""

    kind = "generate"

    def __init__(self, name: str, colour: str, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.colour = colour

    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        return ToolResult(tool=self.name, image=Image.new("RGB", (call.width, call.height), self.colour))


class Recolourer(Tool):
    kind = "edit"

    def __init__(self, name: str, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.instructions: list[str] = []

    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        self.instructions.append(call.prompt)
        colour = call.prompt.rsplit(" ", 1)[-1]  # "make the apple red"
        return ToolResult(tool=self.name, image=Image.new("RGB", image.size, colour))


def _eyes(keys: list[tuple[str, str]], img: Image.Image, n: int) -> dict[str, Any]:
    """A fake VLM that looks: the apple's colour check passes only on a red image."""
    red = img.getpixel((0, 0)) == (255, 0, 0)
    return _all_pass(keys, {} if red else {("e0", "color"): 0.0}, global_score=1.0 if red else 0.5)


def _agent_config(tmp_path: Path) -> LimnerConfig:
    return LimnerConfig(
        tools=[ToolConfig(name="unused", backend="sandbox", type="painter")],
        out_dir=tmp_path,
        width=64,
        height=64,
        agent={"rounds": 3, "tool_timeout_s": 5.0},
        perf={"learn": False},
    )


def test_agent_round_is_judged_and_repaired_through_the_vlm_checker(tmp_path: Path) -> None:
    model, calls = fake_vlm(_eyes)
    editor = Recolourer("recolour")
    tools: dict[str, Tool] = {
        "paint": ColourPainter("paint", "green"),
        "recolour": editor,
        "checker": VLMChecker("checker", chat_model=model),
    }
    store = MemoryStore()
    final = Agent(_agent_config(tmp_path), tools=tools).run("a red apple and a cup", store=store)
    evaluations = [s for s in store.steps if s.type == "evaluation"]
    assert len(evaluations) == 2 and len(calls) == 2
    first, second = (e.verdict for e in evaluations)
    assert first.evaluator == "vlm:fake-vl" and [(c.target, c.kind) for c in first.failed] == [
        ("e0", "color")
    ]
    assert "e0 color: color of e0 as seen" in evaluations[0].reasoning
    assert editor.instructions == ["make the apple red"]
    assert second.passed and second.score == 1.0
    assert final.passed and final.image_path == evaluations[1].image_path


def test_agent_run_stops_with_the_checker_reason_when_the_vlm_is_down(tmp_path: Path) -> None:
    checker = VLMChecker("checker", base_url=dead_url(), model="q", max_retries=0, timeout_s=2)
    tools: dict[str, Tool] = {"paint": ColourPainter("paint", "red"), "checker": checker}
    with pytest.raises(EvaluatorError, match="checker 'checker' failed: .*cannot reach the endpoint"):
        Agent(_agent_config(tmp_path), tools=tools).run("a red apple")


def test_checks_are_valid_records() -> None:
    # A VLM's evidence may be long or multi-line: it is folded to one line and capped.
    model, _ = fake_vlm(
        lambda keys, img, n: {
            "checks": [
                {
                    "target": t,
                    "kind": k,
                    "passed": True,
                    "score": 1.0,
                    "evidence": "line one\nline two " + "x" * 500,
                }
                for t, k in keys
            ],
            "global_score": 1.0,
        }
    )
    v = Verdict.model_validate(VLMChecker("vlm", chat_model=model)(_call(), image=IMAGE).meta["verdict"])
    assert all(isinstance(c, Check) and "\n" not in c.evidence and len(c.evidence) <= 300 for c in v.checks)
