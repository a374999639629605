"""A flaky OpenAI-compatible endpoint (FastAPI, served on 127.0.0.1 by `tests/local_server.serve`).

It answers `/v1/chat/completions` (the LLM brain, through pydantic-ai and the `openai` SDK) and
`/v1/images/generations` (the OpenAI-compatible image tools) from a **script** of faults: each request takes
the next entry, and once the script is spent it answers correctly. Faults (FLAKY_FAULTS):

- `malformed`: a 200 whose tool-call arguments are not JSON (the brain must retry or fall back)
- `schema`: valid JSON that violates the answer's schema
- `not_json`: a 200 whose body is HTML
- `empty`: a 200 with no choices / no data
- `429`: rate limited, with `Retry-After: 0`
- `500`: a server error
- `slow`: answers after `slow_s` seconds (past the client's time-out)
- `drop`: the connection is dropped after the response headers
- `echo_key`: a 401 whose message echoes the Authorization header it got (a careless server)

Correct answers are made from the request itself: the brain's output tool schema says which answer is
wanted (scene, plan, reflection, judgement); images are PNGs of the asked size.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import threading
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from PIL import Image

FLAKY_FAULTS = ("malformed", "schema", "not_json", "empty", "429", "500", "slow", "drop", "echo_key")


class Dropped(Exception):
    """Raised inside a streaming body: uvicorn closes the connection mid-response."""


def _quiet_drops(record: logging.LogRecord) -> bool:
    return not (record.exc_info and isinstance(record.exc_info[1], Dropped))


class FlakyEndpoint:
    def __init__(self, slow_s: float = 3.0) -> None:
        self.slow_s = slow_s
        self.script: list[str] = []
        self.served: list[str] = []  # what each request got, in order ("ok" or the fault)
        self.auth_seen: list[str] = []
        self._lock = threading.Lock()
        # a dropped connection is logged by uvicorn with the server's traceback: noise, not limner's
        logging.getLogger("uvicorn.error").addFilter(_quiet_drops)
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self._chat)
        self.app.post("/v1/images/generations")(self._images)
        self.app.get("/v1/models")(self._models)

    def load(self, script: list[str]) -> None:
        with self._lock:
            self.script, self.served = list(script), []

    @property
    def injected(self) -> int:
        return sum(1 for s in self.served if s != "ok")

    def _next(self, request: Request) -> str:
        with self._lock:
            mode = self.script.pop(0) if self.script else "ok"
            self.served.append(mode)
        self.auth_seen.append(request.headers.get("authorization", ""))
        return mode

    async def _models(self) -> Any:
        return {"object": "list", "data": [{"id": "flaky-model", "object": "model"}]}

    async def _fault(self, mode: str, request: Request) -> Response | None:
        if mode == "429":
            return JSONResponse({"error": {"message": "rate limited"}}, status_code=429, headers={"Retry-After": "0"})
        if mode == "500":
            return JSONResponse({"error": {"message": "internal error"}}, status_code=500)
        if mode == "not_json":
            return PlainTextResponse("<html><body>502 bad gateway</body></html>")
        if mode == "echo_key":
            auth = request.headers.get("authorization", "")
            return JSONResponse({"error": {"message": f"invalid api key: {auth}"}}, status_code=401)
        if mode == "slow":
            await asyncio.sleep(self.slow_s)
        if mode == "drop":
            return _DropResponse()
        return None

    async def _chat(self, request: Request) -> Any:
        body = await request.json()
        mode = self._next(request)
        fault = await self._fault(mode, request)
        if fault is not None:
            return fault
        if mode == "empty":
            return {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"], "choices": []}
        tools = body.get("tools") or []
        name = tools[0]["function"]["name"] if tools else "final_result"
        schema = tools[0]["function"].get("parameters", {}) if tools else {}
        if mode == "malformed":
            arguments = '{"elements": [ {"id": "e0", '
        elif mode == "schema":
            arguments = json.dumps({"unexpected": True, "score": "very good"})
        else:
            arguments = json.dumps(_answer(schema, json.dumps(body.get("messages", []))))
        message = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}]}
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}

    async def _images(self, request: Request) -> Any:
        body = await request.json()
        mode = self._next(request)
        fault = await self._fault(mode, request)
        if fault is not None:
            return fault
        if mode == "empty":
            return {"data": []}
        if mode == "malformed":
            return {"data": [{"b64_json": "%%% not base64 %%%"}]}
        if mode == "schema":
            return {"data": [{"unexpected": 1}]}
        w, h = (int(x) for x in str(body.get("size", "64x64")).split("x"))
        buf = io.BytesIO()
        Image.new("RGB", (w, h), (230, 230, 230)).save(buf, format="PNG")
        return {"data": [{"b64_json": base64.b64encode(buf.getvalue()).decode()}]}


class _DropResponse(Response):
    """Sends the headers of a 200 with a body length, then fails: the connection is dropped mid-response."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")]})
        await send({"type": "http.response.body", "body": b'{"id": "chatcmpl', "more_body": True})
        raise Dropped("connection dropped on purpose")


def _answer(schema: dict[str, Any], messages: str) -> dict[str, Any]:
    """A correct answer for the brain's output schema (recognised by its properties)."""
    props = schema.get("properties", {})
    if "elements" in props:  # SceneAnswer: read "a cat" style prompts as one element of the first noun
        return {"elements": [{"id": "e0", "noun": "cat", "cls": "cat", "count": 1}]}
    if "subtasks" in props:  # PlanAnswer: no subtasks -> the rule brain plans (the loop's own fallback)
        return {"subtasks": [], "reasoning": "nothing to add"}
    if "next_action" in props:
        return {"next_action": "stop", "reasoning": "good enough"}
    if "score" in props:
        return {"score": 0.9, "reasoning": "looks right"}
    return {}
