"""One tool over HTTP: the request handling (`ToolServer`), its FastAPI app, and uvicorn in a thread.

`ToolServer` owns one built tool and everything between a request and the tool: the bearer token check,
the bounded queue (a full one answers 429 with `Retry-After`), the request time-out (504), and the
translation of the wire format (`limner.tools.remote`) into a tool call and back. Its handlers take a
Starlette `Request` and return a `Response`, so the same object answers behind FastAPI/uvicorn
(`make_app`, `limner serve`) and inside a Ray Serve replica (`limner.serve.ray`).

Routes: `GET /health` (the process answers), `GET /ready` (200 only once the tool's `setup()` is done, else
503), `GET /spec` (the tool's `ToolSpec` and published scores), `GET /stats` (counters), `POST /call`.
`/health` needs no token; every other route does when a token is configured.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from limner.tools.base import Tool, ToolError
from limner.tools.remote import (
    ERROR_HEADER,
    SERVER_HEADER,
    VERSION_HEADER,
    WIRE_VERSION,
    decode_multipart,
    encode_result,
    read_png,
)
from limner.types import ToolCall

__all__ = ["ServeOptions", "ToolServer", "make_app", "run_in_thread", "run_uvicorn"]

log = logging.getLogger("limner.serve")


class ServeOptions(BaseModel):
    """How one served tool takes requests (`limner serve` flags; Ray Serve deployments take the same)."""

    model_config = ConfigDict(extra="forbid")

    max_queue: int = Field(default=8, ge=0, description="requests waiting beyond those running; more get 429")
    concurrency: int = Field(default=1, ge=1, description="calls of the tool at once (1 for one model on one GPU)")
    timeout_s: float = Field(default=300.0, gt=0, description="a request's time in queue and tool; then 504")
    token_env: str | None = Field(default=None, description="environment variable holding the bearer token")


class _Stats:
    def __init__(self) -> None:
        self.received = self.accepted = self.rejected = self.completed = 0
        self.tool_errors = self.timed_out = self.failed = self.unauthorized = 0
        self.durations: list[float] = []

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if k != "durations"}
        out["mean_duration_s"] = round(sum(self.durations) / len(self.durations), 4) if self.durations else None
        return out


class ToolServer:
    """Serves one tool. Build it, call `start_loading()` (the app's lifespan does), route requests to it."""

    def __init__(self, tool: Tool, options: ServeOptions | None = None) -> None:
        self.tool = tool
        self.options = options or ServeOptions()
        self._token: bytes | None = None
        if self.options.token_env:
            token = os.environ.get(self.options.token_env, "")
            if not token:
                raise ValueError(f"the token variable {self.options.token_env} is not set or empty")
            self._token = token.encode()
        self.stats = _Stats()
        self._pool = ThreadPoolExecutor(max_workers=self.options.concurrency, thread_name_prefix=f"serve-{tool.name}")
        self._sem: asyncio.Semaphore | None = None
        self._in_system = 0  # requests admitted and not yet answered (queued + running); event-loop thread only
        self._ready = threading.Event()
        self._load_error: str | None = None
        self._loading = False
        self._load_lock = threading.Lock()
        self.identity = f"{socket.gethostname()}:{os.getpid()}"  # which replica answered (X-Limner-Server)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start_loading(self, *, wait: bool = False) -> None:
        """Run the tool's `setup()` in the background (once); `/ready` answers 200 when it is done."""
        with self._load_lock:
            if self._loading:
                start = False
            else:
                self._loading = start = True
        if start:
            thread = threading.Thread(target=self._load, name=f"serve-setup-{self.tool.name}", daemon=True)
            thread.start()
            if wait:
                thread.join()

    def _load(self) -> None:
        try:
            self.tool.ensure_loaded()
        except Exception as e:  # noqa: BLE001 - reported on /ready, the server stays up to say why
            self._load_error = f"{type(e).__name__}: {e}"[:500]
            log.error("setup of %s failed: %s", self.tool.name, self._load_error)
            return
        self._ready.set()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- helpers -----------------------------------------------------------------------------------

    @staticmethod
    def _error(status: int, kind: str, message: str, retry_after: float | None = None) -> JSONResponse:
        headers = {ERROR_HEADER: kind, VERSION_HEADER: WIRE_VERSION}
        if retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
        return JSONResponse({"error": kind, "message": message}, status_code=status, headers=headers)

    def _authorised(self, request: Request) -> bool:
        if self._token is None:
            return True
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self._token)

    def _retry_after(self) -> float:
        """How long until a queue slot is likely free: the mean call time × the queue ahead / concurrency."""
        recent = self.stats.durations[-20:]
        mean = sum(recent) / len(recent) if recent else 1.0
        ahead = max(1, self._in_system - self.options.concurrency + 1)
        return mean * ahead / self.options.concurrency

    # -- routes ------------------------------------------------------------------------------------

    async def dispatch(self, request: Request) -> Response:
        """Route by method and path (what a Ray Serve replica's `__call__` does; FastAPI routes by itself)."""
        path = request.url.path.rstrip("/") or "/"
        routes = {("GET", "/health"): self.health, ("GET", "/ready"): self.ready_route,
                  ("GET", "/spec"): self.spec_route, ("GET", "/stats"): self.stats_route,
                  ("POST", "/call"): self.call_route}
        handler = routes.get((request.method, path))
        if handler is None:
            return self._error(404, "bad_request", f"no route {request.method} {path}")
        return await handler(request)

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "tool": self.tool.name})

    async def ready_route(self, request: Request) -> Response:
        if not self._authorised(request):
            return self._unauthorised()
        if self.ready:
            return JSONResponse({"ready": True, "tool": self.tool.name})
        if self._load_error:
            return self._error(503, "setup_failed", f"setup failed: {self._load_error}")
        return self._error(503, "not_ready", "the tool is loading", retry_after=1)

    async def spec_route(self, request: Request) -> Response:
        if not self._authorised(request):
            return self._unauthorised()
        return JSONResponse({"spec": self.tool.spec.model_dump(mode="json"),
                             "published_scores": getattr(self.tool, "published_scores", None),
                             "wire": WIRE_VERSION})

    async def stats_route(self, request: Request) -> Response:
        if not self._authorised(request):
            return self._unauthorised()
        return JSONResponse({**self.stats.as_dict(), "in_system": self._in_system, "ready": self.ready,
                             "max_queue": self.options.max_queue, "concurrency": self.options.concurrency})

    def _unauthorised(self) -> Response:
        self.stats.unauthorized += 1
        resp = self._error(401, "unauthorized", "a valid bearer token is required")
        resp.headers["WWW-Authenticate"] = "Bearer"
        return resp

    async def call_route(self, request: Request) -> Response:
        t0 = time.monotonic()
        self.stats.received += 1
        if not self._authorised(request):
            return self._unauthorised()
        if not self.ready:
            if self._load_error:
                return self._error(503, "setup_failed", f"setup failed: {self._load_error}")
            self.stats.rejected += 1
            return self._error(503, "not_ready", "the tool is loading", retry_after=1)
        if self._in_system >= self.options.concurrency + self.options.max_queue:
            self.stats.rejected += 1
            return self._error(429, "queue_full", f"queue full ({self.options.max_queue} waiting)",
                               retry_after=self._retry_after())
        try:
            call, image, mask = self._parse(await request.body(), request.headers.get("content-type", ""))
        except ValueError as e:
            return self._error(400, "bad_request", str(e)[:1000])
        self.stats.accepted += 1
        self._in_system += 1
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.options.concurrency)
        sem = self._sem
        loop = asyncio.get_running_loop()
        remaining = self.options.timeout_s
        try:
            try:
                await asyncio.wait_for(sem.acquire(), timeout=remaining)
            except TimeoutError:
                self.stats.timed_out += 1
                return self._error(504, "timeout", f"waited {remaining:g} s in the queue")
            fut = loop.run_in_executor(self._pool, self._call_tool, call, image, mask)
            fut.add_done_callback(lambda _f: sem.release())  # the slot is free when the tool is, not before
            try:
                result = await asyncio.wait_for(asyncio.shield(fut), timeout=max(0.01, remaining - (time.monotonic() - t0)))
            except TimeoutError:
                self.stats.timed_out += 1
                return self._error(504, "timeout", f"the tool did not answer within {remaining:g} s")
            except ToolError as e:
                self.stats.tool_errors += 1
                return self._error(422, "tool_error", str(e)[:2000])
            except ValueError as e:
                self.stats.failed += 1
                return self._error(400, "bad_request", str(e)[:1000])
            except Exception as e:
                self.stats.failed += 1
                log.exception("tool %s failed", self.tool.name)
                return self._error(500, "internal", f"{type(e).__name__}: {e}"[:1000])
            try:
                body, ctype = encode_result(result)
            except (TypeError, ValueError) as e:
                self.stats.failed += 1
                return self._error(500, "internal", f"result cannot be sent: {e}"[:1000])
            self.stats.completed += 1
            self.stats.durations.append(result.duration_s)
            del self.stats.durations[:-100]
            return Response(body, media_type=ctype, headers={VERSION_HEADER: WIRE_VERSION, SERVER_HEADER: self.identity})
        finally:
            self._in_system -= 1

    def _parse(self, body: bytes, content_type: str) -> tuple[ToolCall, Any, Any]:
        parts = decode_multipart(body, content_type)
        if "call" not in parts:
            raise ValueError("the request has no 'call' part (a ToolCall as JSON)")
        call = ToolCall.model_validate_json(parts["call"])
        # one endpoint serves one tool: the call is addressed by the URL, under whatever name the client uses
        call = call.model_copy(update={"tool": self.tool.name})
        image = read_png(parts["image"], "image") if "image" in parts else None
        mask = read_png(parts["mask"], "mask") if "mask" in parts else None
        return call, image, mask

    def _call_tool(self, call: ToolCall, image: Any, mask: Any) -> Any:
        return self.tool(call, image=image, mask=mask)


# ----------------------------------------------------------------------------------------------------
# FastAPI + uvicorn
# ----------------------------------------------------------------------------------------------------


def make_app(server: ToolServer) -> Any:
    """The FastAPI app serving `server` (its lifespan starts the tool's `setup()`)."""
    from fastapi import FastAPI  # noqa: PLC0415 - optional extra: pip install 'limner[serve]'

    @asynccontextmanager
    async def lifespan(_app: Any) -> Any:
        server.start_loading()
        yield
        server.close()

    app = FastAPI(title=f"limner tool {server.tool.name}", lifespan=lifespan,
                  description="One limner tool over HTTP; the wire format is in docs/serve.md.")
    app.add_api_route("/health", server.health, methods=["GET"], response_model=None)
    app.add_api_route("/ready", server.ready_route, methods=["GET"], response_model=None)
    app.add_api_route("/spec", server.spec_route, methods=["GET"], response_model=None)
    app.add_api_route("/stats", server.stats_route, methods=["GET"], response_model=None)
    app.add_api_route(
        "/call", server.call_route, methods=["POST"], response_model=None,
        openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["call"],
            "properties": {"call": {"type": "string", "description": "ToolCall JSON"},
                           "image": {"type": "string", "format": "binary"},
                           "mask": {"type": "string", "format": "binary"}}}}}}},
    )
    return app


def run_uvicorn(server: ToolServer, host: str = "127.0.0.1", port: int = 8100, log_level: str = "warning") -> None:
    """Serve until interrupted (what `limner serve` runs). Uvicorn's access log names paths, never headers."""
    import uvicorn  # noqa: PLC0415 - optional extra: pip install 'limner[serve]'

    uvicorn.run(make_app(server), host=host, port=port, log_level=log_level, access_log=False)


@contextmanager
def run_in_thread(server: ToolServer, *, wait_ready: bool = True, timeout_s: float = 30.0) -> Iterator[str]:
    """Serve on a free 127.0.0.1 port in a daemon thread (tests, benchmarks, notebooks); yield the base URL."""
    import uvicorn  # noqa: PLC0415 - optional extra: pip install 'limner[serve]'

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    srv = uvicorn.Server(uvicorn.Config(make_app(server), log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.01)
    if not srv.started:
        raise RuntimeError("the server did not start")
    server.start_loading()
    while wait_ready and not server.ready and not server._load_error and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        srv.should_exit = True
        thread.join(timeout=5)
        sock.close()
