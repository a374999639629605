"""OpenAI-compatible image tools against an in-process fake server (FastAPI + uvicorn on 127.0.0.1).

A real HTTP server in a thread (not a mock transport) so time-outs, headers and multipart bodies go
through the same code path as against a real endpoint. The server's behaviour is switched per test.
"""

from __future__ import annotations

import asyncio
import base64
import email.parser
import email.policy
import io
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from local_server import dead_url, serve

pytest.importorskip("openai")
fastapi = pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from PIL import Image

import limner
from limner.config import BrainConfig, load_config
from limner.runs import RunStore
from limner.tools.base import ToolError
from limner.tools.openai import TOOL_TYPES, OpenAIImageEdit, OpenAIImages
from limner.tools.openai_client import OpenAISettings, Secret
from limner.tools.registry import ToolRegistry
from limner.types import ToolCall, ToolStep

KEY = "sk-limner-test-SECRET-0123456789abcdef"
ENV = "LIMNER_TEST_OPENAI_KEY"


def _png_b64(w: int, h: int, colour: str = "red") -> str:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), colour).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """Form fields and files of a multipart body (stdlib only: python-multipart is not a dependency)."""
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if part.get_filename():
            files[name] = payload
        else:
            fields[name] = payload.decode()
    return fields, files


class FakeServer:
    """Scenario-driven fake of the Images API; records what it was sent."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[dict[str, Any]] = []
        self.app = FastAPI()
        self.app.post("/v1/images/generations")(self._generations)
        self.app.post("/v1/images/edits")(self._edits)
        self.app.get("/files/{name}")(self._file)

    async def _reply(self, request: Request, size: str) -> Response:
        n = len(self.requests)
        w, h = (int(x) for x in size.split("x"))
        mode = self.mode
        if mode == "429-then-ok" and n == 1:
            return JSONResponse({"error": {"message": "rate limited"}}, status_code=429, headers={"Retry-After": "0"})
        if mode == "429-wait-1s-then-ok" and n == 1:
            return JSONResponse({"error": {"message": "rate limited"}}, status_code=429, headers={"Retry-After": "1"})
        if mode == "503-always":
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503, headers={"retry-after-ms": "1"})
        if mode == "slow":
            await asyncio.sleep(1.5)
        if mode == "malformed":
            return JSONResponse({"data": [{"unexpected": True}]})
        if mode == "not-json":
            return PlainTextResponse("<html>bad gateway</html>")
        if mode == "bad-b64":
            return JSONResponse({"data": [{"b64_json": "%%%not base64%%%"}]})
        if mode == "echo-key-401":  # a careless server echoing the credential it rejected
            auth = request.headers.get("authorization", "")
            return JSONResponse({"error": {"message": f"invalid key {auth}"}}, status_code=401)
        if mode == "url":
            base = str(request.base_url).rstrip("/")
            return JSONResponse({"data": [{"url": f"{base}/files/{w}x{h}.png"}]})
        return JSONResponse({"data": [{"b64_json": _png_b64(w, h), "revised_prompt": "a red square"}]})

    async def _generations(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append({"path": "generations", "headers": dict(request.headers), "body": body})
        return await self._reply(request, body.get("size", "64x64"))

    async def _edits(self, request: Request) -> Response:
        fields, files = _parse_multipart(request.headers["content-type"], await request.body())
        self.requests.append({"path": "edits", "headers": dict(request.headers), "body": fields, "files": files})
        return await self._reply(request, str(fields.get("size", "64x64")))

    async def _file(self, name: str) -> Response:
        w, h = (int(x) for x in name.removesuffix(".png").split("x"))
        return Response(base64.b64decode(_png_b64(w, h, "blue")), media_type="image/png")


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeServer, str]]:
    fake = FakeServer()
    with serve(fake.app) as url:
        yield fake, url


@pytest.fixture
def fake(server: tuple[FakeServer, str], monkeypatch: pytest.MonkeyPatch) -> tuple[FakeServer, str]:
    srv, url = server
    srv.mode = "ok"
    srv.requests.clear()
    monkeypatch.setenv(ENV, KEY)
    return srv, url


def _tool(url: str, cls: type = OpenAIImages, **opts: Any) -> Any:
    opts = {"base_url": url, "api_key_env": ENV, "model": "fake-image-1", "timeout_s": 5.0, **opts}
    return cls("img", **opts)


CALL = ToolCall(tool="img", prompt="a red square", seed=7, width=64, height=48)


def test_generate_success_sends_key_model_and_size(fake: tuple[FakeServer, str]) -> None:
    srv, url = fake
    res = _tool(url)(CALL)
    assert res.ok and res.image.size == (64, 48) and res.image.getpixel((5, 5)) == (255, 0, 0)
    assert res.meta["revised_prompt"] == "a red square"
    (req,) = srv.requests
    assert req["headers"]["authorization"] == f"Bearer {KEY}"
    assert req["body"] == {"model": "fake-image-1", "prompt": "a red square", "n": 1, "size": "64x48"}


def test_seed_and_extra_fields_are_sent_only_when_configured(fake: tuple[FakeServer, str]) -> None:
    srv, url = fake
    _tool(url, send_seed=True, size="1024x1024", quality="low", extra_body={"steps": 4})(CALL)
    body = srv.requests[-1]["body"]
    assert body["seed"] == 7 and body["size"] == "1024x1024" and body["quality"] == "low" and body["steps"] == 4


def test_url_replies_are_downloaded(fake: tuple[FakeServer, str]) -> None:
    srv, url = fake
    srv.mode = "url"
    res = _tool(url, response_format="url")(CALL)
    assert res.image.getpixel((1, 1)) == (0, 0, 255)
    assert srv.requests[-1]["body"]["response_format"] == "url"


@pytest.mark.parametrize("mode", ["malformed", "not-json", "bad-b64"])
def test_malformed_replies_raise_tool_error(fake: tuple[FakeServer, str], mode: str) -> None:
    srv, url = fake
    srv.mode = mode
    with pytest.raises(ToolError, match="malformed reply"):
        _tool(url)(CALL)
    assert len(srv.requests) == 1, "a malformed 200 reply must not be retried"


def test_429_is_retried_honouring_retry_after(fake: tuple[FakeServer, str]) -> None:
    srv, url = fake
    srv.mode = "429-then-ok"
    tool = _tool(url, max_retries=2)
    t0 = time.perf_counter()
    res = tool(CALL)
    assert res.ok and len(srv.requests) == 2
    assert time.perf_counter() - t0 < 3.0


def test_the_server_retry_after_wins_over_the_backoff(fake: tuple[FakeServer, str]) -> None:
    srv, url = fake
    srv.mode = "429-wait-1s-then-ok"  # the SDK's own first backoff is at most 0.5 s
    t0 = time.perf_counter()
    res = _tool(url, max_retries=1)(CALL)
    assert res.ok and len(srv.requests) == 2
    assert 1.0 <= time.perf_counter() - t0 < 4.0


def test_5xx_gives_up_after_max_retries(fake: tuple[FakeServer, str]) -> None:
    srv, url = fake
    srv.mode = "503-always"
    with pytest.raises(ToolError, match=r"HTTP 503 after 3 attempts.*overloaded"):
        _tool(url, max_retries=2)(CALL)
    assert len(srv.requests) == 3


def test_timeout_raises_tool_error(fake: tuple[FakeServer, str]) -> None:
    srv, url = fake
    srv.mode = "slow"
    t0 = time.perf_counter()
    with pytest.raises(ToolError, match="timed out after 0.3 s"):
        _tool(url, timeout_s=0.3, max_retries=0)(CALL)
    assert time.perf_counter() - t0 < 1.4


def test_edit_sends_image_and_transparent_mask(fake: tuple[FakeServer, str]) -> None:
    srv, url = fake
    image = Image.new("RGB", (64, 48), "white")
    mask = Image.new("L", (64, 48), 0)
    mask.paste(255, (0, 0, 32, 48))  # left half: change
    call = CALL.model_copy(update={"prompt": "make it red"})
    res = _tool(url, OpenAIImageEdit)(call, image=image, mask=mask)
    assert res.image.size == (64, 48)
    req = srv.requests[-1]
    assert req["path"] == "edits" and req["body"]["prompt"] == "make it red"
    sent = Image.open(io.BytesIO(req["files"]["mask"]))
    assert sent.mode == "RGBA"
    assert sent.getpixel((5, 5))[3] == 0 and sent.getpixel((60, 5))[3] == 255  # transparent = edit here


def test_edit_without_image_is_a_tool_error(fake: tuple[FakeServer, str]) -> None:
    _, url = fake
    with pytest.raises(ToolError, match="needs an input image"):
        _tool(url, OpenAIImageEdit)(CALL)


def test_missing_key_names_the_variable_not_a_value(fake: tuple[FakeServer, str], monkeypatch: pytest.MonkeyPatch) -> None:
    _, url = fake
    monkeypatch.delenv(ENV)
    assert ENV in _tool(url).unavailable_reason()
    with pytest.raises(ToolError, match=ENV):
        _tool(url)(CALL)
    # Servers that take no key work without one, and get no Authorization header.
    srv, _ = fake
    _tool(url, api_key_required=False)(CALL)
    assert "authorization" not in srv.requests[-1]["headers"]


def test_key_never_reaches_logs_errors_results_or_run_dirs(
    fake: tuple[FakeServer, str], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    srv, url = fake
    caplog.set_level(logging.DEBUG)
    tool = _tool(url, max_retries=1)
    srv.mode = "429-then-ok"
    res = tool(CALL)
    srv.mode = "echo-key-401"
    with pytest.raises(ToolError) as err:
        tool(CALL)
    assert "***" in str(err.value) and "HTTP 401" in str(err.value) and ENV in str(err.value)
    texts = [str(err.value), repr(err.value), caplog.text, repr(tool), repr(tool._sdk), res.model_dump_json(),
             json.dumps(res.meta), repr(tool.opts), tool.opts.model_dump_json(), repr(tool.spec)]
    # A real run directory holding this config, the tool step (call + result) and the image.
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(
        f"tools:\n  - {{name: img, backend: openai, type: images, options: {{base_url: '{url}', api_key_env: {ENV}}}}}\n"
    )
    cfg = load_config(cfg_file)
    with RunStore.create(tmp_path / "runs", prompt=CALL.prompt, config=cfg.model_dump(mode="json")) as store:
        res.image_path = store.save_image(res.image, "step1")
        store.append_step(ToolStep(index=0, call=CALL, result=res))
        store.finish(res.image_path)
    files = [p for p in (tmp_path / "runs").rglob("*") if p.is_file()]
    assert len(files) >= 3
    texts += [p.read_bytes().decode("latin-1") for p in files]
    for text in texts:
        assert KEY not in text
        assert KEY[8:24] not in text


def test_settings_validation_and_secret_repr() -> None:
    with pytest.raises(ValueError, match="http"):
        OpenAISettings(model="m", base_url="localhost:8000")
    with pytest.raises(ValueError, match="api_key_env"):
        OpenAISettings(model="m", headers={"Authorization": "Bearer x"})
    s = Secret(KEY)
    assert KEY not in repr(s) and KEY not in str(s) and s.reveal() == KEY
    with pytest.raises(ValueError, match="unknown_option"):
        OpenAIImages("img", unknown_option=1)


def test_settings_from_brain_and_pydantic_ai_model(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pydantic_ai")
    monkeypatch.setenv(ENV, KEY)
    brain = BrainConfig(kind="llm", model="qwen", base_url="http://127.0.0.1:9/v1", api_key_env=ENV)
    s = OpenAISettings.from_brain(brain)
    assert s.base_url == "http://127.0.0.1:9/v1" and s.model == "qwen" and not s.api_key_required
    model = s.pydantic_ai_model()
    assert model.model_name == "qwen"
    assert KEY not in repr(s)


def test_registry_builds_openai_tools(fake: tuple[FakeServer, str], tmp_path: Path) -> None:
    _, url = fake
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(
        "tools:\n"
        f"  - {{name: img, backend: openai, type: images, options: {{base_url: '{url}', api_key_env: {ENV}, model: m}}}}\n"
        f"  - {{name: ed, backend: openai, type: image_edit, options: {{base_url: '{url}', api_key_env: {ENV}}}}}\n"
    )
    reg = ToolRegistry.from_config(load_config(cfg_file))
    assert isinstance(reg.get("img"), TOOL_TYPES["images"]) and reg.get("ed").kind == "edit"
    assert reg.get("img")(CALL).image.size == (64, 48)
    assert reg.get("ed").published_scores["imgedit"]["dims"]["add"] == 4.61  # gpt-image-1, official leaderboard


def test_unreachable_endpoint_is_a_one_line_tool_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, KEY)
    with pytest.raises(ToolError, match=r"cannot reach http://127\.0\.0\.1") as err:
        _tool(dead_url(), max_retries=0)(CALL)
    assert "\n" not in str(err.value) and KEY not in str(err.value)


def test_the_openai_backend_spans_two_modules_imported_only_when_reached() -> None:
    """`backend: openai, type: vlm_checker` resolves through the registry, but the image tools' module
    neither imports the checker's nor is imported by it (the backends contract), and resolving an image tool
    does not load the checker's module (pydantic-ai) at all."""
    code = (
        "import sys; from limner.tools.registry import resolve_tool_class as r; "
        "from limner.tools.openai import OpenAIImages; "
        "assert r('openai', 'images') is OpenAIImages; "
        "assert 'limner.tools.vlm_checker' not in sys.modules; "
        "from limner.tools.vlm_checker import VLMChecker; assert r('openai', 'vlm_checker') is VLMChecker"
    )
    src = str(Path(limner.__file__).resolve().parents[1])  # this tree's package, not an installed copy
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, env={**os.environ, "PYTHONPATH": src})
