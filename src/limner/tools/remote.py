"""The `remote` backend: a tool served by `limner serve` (or a Ray Serve deployment of it), called over HTTP.

A remote tool is configured like any other, with the kind it must have as its `type`:

    - {name: alder, backend: remote, type: generate,
       options: {url: [http://gpu-a:8100, http://gpu-b:8100], timeout_s: 120, retries: 2, token_env: LIMNER_TOKEN}}

Its `ToolSpec` (description, dims, scores, cost, simulated, family) comes from the server's `GET /spec`, so
the router ranks it exactly as it would rank the same tool in this process; a value set in the local config
(`dims`, `scores`, `family`, a `description`, a `cost` other than 1) wins over the server's.

**The wire format** (version 1, documented in docs/serve.md). `POST /call` takes `multipart/form-data`: a
part `call` (the `ToolCall` as JSON) and, for edit and inpaint tools, parts `image` and `mask` (PNG bytes).
A success is `200` with a `multipart/form-data` body: a part `result` (the `ToolResult` as JSON, with its
`ground_truth`, which the sandbox's benchmarks need) and a part `image` (PNG) when the tool drew one. A
failure is a JSON body `{"error": kind, "message": ...}` with the kind also in the `X-Limner-Error` header:
`tool_error` (422: the tool raised `ToolError`; the client raises `ToolError`, so the Worker falls back to
the next-ranked tool), `queue_full` (429 + `Retry-After`), `not_ready` (503 + `Retry-After`: still loading),
`setup_failed` (503: loading failed; the client tries another replica), `timeout` (504), `bad_request`
(400), `unauthorized` (401), `internal` (500).

**Replicas, retries, back-pressure.** `url` may list several replicas: each call goes to the least busy one
(calls in flight from this process; ties in turn). A connection error, a time-out or a 5xx is retried on
another replica, up to `retries` more tries; a replica that failed is avoided for a few seconds. A 429 or 503
is not a failure: the client waits what `Retry-After` says (at most `retry_after_cap_s` at a time, at most
`max_wait_s` in all) — another replica that is not full is tried at once — and sends the call again, so a
full queue drops nothing. When every try is spent the call raises `ToolError`. A retried call repeats one
tool call, not a step of the run: the Worker sees one call and records one attempt.

The bearer token is read from the environment variable `token_env` names, at each call; it is sent in the
`Authorization` header only and never appears in the spec, the options, a message or a log.

Standard library only (`http.client`): an agent on a laptop needs no extra package to use remote tools.
"""

from __future__ import annotations

import http.client
import io
import itertools
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, field_validator

from limner.tools.base import Readiness, Tool, ToolError, parse_options
from limner.types import EDIT_DIMS, GEN_DIMS, ToolCall, ToolKind, ToolResult, ToolSpec

__all__ = [
    "ERROR_HEADER",
    "WIRE_VERSION",
    "RemoteOptions",
    "RemoteTool",
    "decode_multipart",
    "decode_result",
    "encode_call",
    "encode_multipart",
    "encode_result",
    "png_bytes",
    "read_png",
]

WIRE_VERSION = "1"
ERROR_HEADER = "X-Limner-Error"
VERSION_HEADER = "X-Limner-Wire"
SERVER_HEADER = "X-Limner-Server"

# ----------------------------------------------------------------------------------------------------
# The wire format (shared with limner.serve, which imports it from here: the layers point one way)
# ----------------------------------------------------------------------------------------------------


def png_bytes(image: Image.Image) -> bytes:
    """Lossless PNG, quickly (compression level 1: the pixels are exact, the bytes a little larger)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def read_png(data: bytes, what: str = "image") -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return im.copy()
    except OSError as e:
        raise ValueError(f"part {what!r} is not a readable image: {e}") from None


def encode_multipart(parts: Mapping[str, tuple[bytes, str]]) -> tuple[bytes, str]:
    """`multipart/form-data` body and its Content-Type for `{name: (data, content type)}`."""
    boundary = f"limner-{uuid.uuid4().hex}"
    out = bytearray()
    for name, (data, ctype) in parts.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n"
                f"Content-Type: {ctype}\r\n\r\n").encode()
        out += data
        out += b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_NAME = re.compile(rb'name="([^"]*)"', re.IGNORECASE)


def decode_multipart(body: bytes, content_type: str) -> dict[str, bytes]:
    """The parts of a `multipart/form-data` body by name. Raises ValueError on a malformed body."""
    if not content_type.lower().startswith("multipart/"):
        raise ValueError(f"expected a multipart body, got Content-Type {content_type!r}")
    m = _BOUNDARY.search(content_type)
    if m is None:
        raise ValueError("multipart Content-Type without a boundary")
    delim = b"\r\n--" + m.group(1).encode()
    segments = (b"\r\n" + body).split(delim)
    if len(segments) < 2 or not segments[-1].startswith(b"--"):
        raise ValueError("multipart body is truncated (no closing boundary)")
    parts: dict[str, bytes] = {}
    for seg in segments[1:-1]:
        head, sep, data = seg.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("multipart part without headers")
        name = _NAME.search(head)
        if name is None:
            raise ValueError("multipart part without a name")
        parts[name.group(1).decode()] = data
    return parts


def encode_call(call: ToolCall, image: Image.Image | None = None, mask: Image.Image | None = None) -> tuple[bytes, str]:
    parts: dict[str, tuple[bytes, str]] = {"call": (call.model_dump_json().encode(), "application/json")}
    if image is not None:
        parts["image"] = (png_bytes(image), "image/png")
    if mask is not None:
        parts["mask"] = (png_bytes(mask), "image/png")
    return encode_multipart(parts)


def encode_result(result: ToolResult) -> tuple[bytes, str]:
    payload = result.model_dump(mode="json")
    payload["ground_truth"] = result.ground_truth
    parts: dict[str, tuple[bytes, str]] = {"result": (json.dumps(payload).encode(), "application/json")}
    if result.image is not None:
        parts["image"] = (png_bytes(result.image), "image/png")
    return encode_multipart(parts)


def decode_result(body: bytes, content_type: str) -> ToolResult:
    parts = decode_multipart(body, content_type)
    if "result" not in parts:
        raise ValueError("response has no 'result' part")
    payload = json.loads(parts["result"])
    truth = payload.pop("ground_truth", None)
    result = ToolResult.model_validate(payload)
    result.ground_truth = truth
    if "image" in parts:
        result.image = read_png(parts["image"])
    return result


# ----------------------------------------------------------------------------------------------------
# The client
# ----------------------------------------------------------------------------------------------------


class RemoteOptions(BaseModel):
    """Options of a remote tool (`options:` in its config)."""

    model_config = ConfigDict(extra="forbid")

    url: list[str] = Field(description="the served tool's base URL, or a list of replicas' URLs")
    timeout_s: float = Field(default=300.0, gt=0, description="one request, sent to answered")
    connect_timeout_s: float = Field(default=5.0, gt=0)
    retries: int = Field(default=2, ge=0, description="more tries after a connection error, time-out or 5xx")
    retry_after_cap_s: float = Field(default=30.0, gt=0, description="longest single wait a 429/503 may ask for")
    max_wait_s: float = Field(default=600.0, ge=0, description="longest total wait on full queues for one call")
    token_env: str | None = Field(default=None, description="environment variable holding the bearer token")
    spec_timeout_s: float = Field(default=5.0, gt=0)

    @field_validator("url", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        urls = [v] if isinstance(v, str) else v
        if not urls:
            raise ValueError("give at least one url")
        out = []
        for u in urls:
            parts = urlsplit(str(u))
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{u!r} is not an http(s) URL")
            out.append(str(u).rstrip("/"))
        return out


#: process-wide bookkeeping shared by every remote tool (several agents in one process share replicas)
_BOOK_LOCK = threading.Lock()
_IN_FLIGHT: dict[str, int] = {}
_AVOID_UNTIL: dict[str, float] = {}
_TURN = itertools.count()
_AVOID_S = 3.0

_KIND_DIMS: dict[str, tuple[str, ...]] = {"generate": GEN_DIMS, "edit": EDIT_DIMS, "inpaint": EDIT_DIMS}


class _Answer:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def error_message(self) -> str:
        try:
            doc = json.loads(self.body)
            return str(doc.get("message") or doc.get("detail") or doc)[:500]
        except (ValueError, AttributeError):
            return self.body[:200].decode(errors="replace")


class RemoteTool(Tool):
    """A tool served over HTTP by `limner serve` (its kind is the config's `type`; its spec, the server's)."""

    backend: ClassVar[str] = "remote"

    def __init__(self, name: str, *, description: str = "", dims: list[str] | None = None, cost: float = 1.0,
                 **options: Any) -> None:
        self._spec_fetched = False
        self._spec_tried_at = -1e9
        self._server_problem: str | None = None
        self._declared: dict[str, Any] = {}
        self._published: dict[str, Any] | None = None
        self._initialised = False
        super().__init__(name, description=description, dims=dims if dims is not None else list(
            _KIND_DIMS.get(self.kind, ())), cost=cost, **options)
        self.opts = parse_options(RemoteOptions, name, options)
        self._declared = {k: v for k, v in (("description", description), ("dims", dims),
                                            ("cost", cost if cost != 1.0 else None)) if v}
        self._spec_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self.stats: dict[str, int] = {"calls": 0, "sent": 0, "accepted": 0, "rejected": 0, "completed": 0,
                                      "tool_errors": 0, "retries": 0, "failed": 0}
        self._initialised = True

    # -- the spec comes from the server ------------------------------------------------------------

    @property  # type: ignore[override]
    def spec(self) -> ToolSpec:
        if self._initialised and not self._spec_fetched and time.monotonic() - self._spec_tried_at > 10.0:
            self.fetch_spec()
        return self._spec

    @spec.setter
    def spec(self, value: ToolSpec) -> None:
        if self._initialised:  # the registry applying the config's scores / family: those win
            self._declared.update({k: getattr(value, k) for k in ("scores", "family") if getattr(value, k)})
        self._spec = value

    @property
    def published_scores(self) -> dict[str, Any] | None:
        _ = self.spec
        return self._published

    @property
    def server_url(self) -> str | None:
        return self.opts.url[0]

    def fetch_spec(self) -> str | None:
        """Ask the replicas for the served tool's spec (first to answer wins); None on success, else why not."""
        with self._spec_lock:
            if self._spec_fetched:
                return None
            self._spec_tried_at = time.monotonic()
            problems = []
            for url in self.opts.url:
                try:
                    ans = self._request("GET", url, "/spec", timeout_s=self.opts.spec_timeout_s)
                except (OSError, http.client.HTTPException) as e:
                    problems.append(f"{url}: {_why(e)}")
                    continue
                if ans.status != 200:
                    problems.append(f"{url}: HTTP {ans.status} {ans.error_message()}")
                    continue
                try:
                    doc = json.loads(ans.body)
                    served = ToolSpec.model_validate(doc["spec"])
                except (ValueError, KeyError, TypeError) as e:
                    problems.append(f"{url}: /spec is not a limner tool's spec ({str(e).splitlines()[0][:120]})")
                    continue
                if served.kind != self.kind:
                    self._server_problem = (f"the server at {url} serves a {served.kind!r} tool, "
                                            f"but {self.name!r} is configured as type {self.kind!r}")
                    return self._server_problem
                merged = {**served.model_dump(), "name": self.name, "backend": self.backend, **self._declared}
                self._spec = ToolSpec.model_validate(merged)
                self._published = doc.get("published_scores")
                self._spec_fetched, self._server_problem = True, None
                return None
            self._server_problem = "no replica answered /spec (" + "; ".join(problems) + ")"
            return self._server_problem

    # -- readiness ---------------------------------------------------------------------------------

    def readiness(self, timeout_s: float = 2.0) -> Readiness:
        """Ready when at least one replica's `/ready` says so (its tool's `setup()` is done)."""
        ready, problems = [], []
        for url in self.opts.url:
            try:
                ans = self._request("GET", url, "/ready", timeout_s=timeout_s)
            except (OSError, http.client.HTTPException) as e:
                problems.append(f"{url}: {_why(e)}")
                continue
            if ans.status == 200:
                ready.append(url)
            elif ans.status == 401:
                problems.append(f"{url}: the server refused the token (set {self.opts.token_env or 'token_env'})")
            else:
                problems.append(f"{url}: HTTP {ans.status} {ans.error_message()}")
        if not ready:
            return Readiness(reason="no replica is ready (" + "; ".join(problems) + ")", server="; ".join(problems))
        problem = self.fetch_spec() if not self._spec_fetched else None
        if problem is not None:
            return Readiness(reason=problem, server=f"ready at {', '.join(ready)}")
        return Readiness(server=f"ready at {', '.join(ready)}" + (f" (down: {'; '.join(problems)})" if problems else ""))

    def setup(self) -> None:
        problem = self.fetch_spec()
        if problem is not None and self._server_problem and "configured as type" in self._server_problem:
            raise ToolError(problem)

    # -- calling -----------------------------------------------------------------------------------

    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        body, ctype = encode_call(call, image, mask)
        with self._stats_lock:
            self.stats["calls"] += 1
        waited = 0.0
        failures: list[str] = []
        busy_until: dict[str, float] = {}
        tries = 0
        while True:
            url = self._pick(busy_until)
            if url is None:  # every replica asked us to wait
                pause = max(0.0, min(busy_until.values()) - time.monotonic())
                if waited + pause > self.opts.max_wait_s:
                    self._count("failed")
                    raise ToolError(f"remote tool {self.name!r}: every replica's queue stayed full for "
                                    f"{waited + pause:.0f} s (max_wait_s={self.opts.max_wait_s:g})")
                time.sleep(pause)
                waited += pause
                continue
            self._count("sent")
            try:
                ans = self._request("POST", url, "/call", body=body, content_type=ctype,
                                    timeout_s=self.opts.timeout_s, book=True)
            except (OSError, http.client.HTTPException) as e:
                failures.append(f"{url}: {_why(e)}")
                self._avoid(url)
            else:
                kind = ans.headers.get(ERROR_HEADER.lower(), "")
                result = None
                if ans.status == 200:
                    try:
                        result = decode_result(ans.body, ans.headers.get("content-type", ""))
                    except (ValueError, KeyError, TypeError) as e:
                        failures.append(f"{url}: unreadable answer ({str(e).splitlines()[0][:120]})")
                if result is not None:
                    self._count("accepted", "completed")
                    result.meta = {**result.meta, "remote": {"url": url, "server": ans.headers.get(
                                                                 SERVER_HEADER.lower()), "tries": tries + 1,
                                                             "waited_s": round(waited, 3),
                                                             "server_duration_s": result.duration_s}}
                    return result.model_copy(update={"tool": self.name})
                if ans.status in (429, 503) and kind != "setup_failed":
                    self._count("rejected")
                    busy_until[url] = time.monotonic() + min(self.opts.retry_after_cap_s,
                                                             _retry_after(ans.headers.get("retry-after")))
                    continue
                if ans.status == 422 or kind == "tool_error":
                    self._count("accepted", "tool_errors")
                    raise ToolError(f"remote {self.name!r} at {url}: {ans.error_message()}")
                if ans.status in (400, 401, 403, 404, 405, 413):
                    self._count("failed")
                    why = "the server refused the token" if ans.status in (401, 403) else ans.error_message()
                    raise ToolError(f"remote {self.name!r} at {url}: HTTP {ans.status}: {why}")
                if ans.status != 200:
                    failures.append(f"{url}: HTTP {ans.status} {ans.error_message()}")
                self._avoid(url)
            tries += 1
            if tries > self.opts.retries:
                self._count("failed")
                raise ToolError(f"remote {self.name!r}: {tries} tries failed: " + "; ".join(failures))
            self._count("retries")
            time.sleep(min(0.05 * 2 ** tries, 1.0))

    def _pick(self, busy_until: dict[str, float]) -> str | None:
        """The least busy replica (calls in flight from this process) that is not full and not recently
        failed; ties in turn. None when every replica asked to wait."""
        now = time.monotonic()
        open_ = [u for u in self.opts.url if busy_until.get(u, 0.0) <= now]
        if not open_:
            return None
        with _BOOK_LOCK:
            healthy = [u for u in open_ if _AVOID_UNTIL.get(u, 0.0) <= now] or open_
            turn = next(_TURN)
            n = len(healthy)
            return min(enumerate(healthy), key=lambda iu: (_IN_FLIGHT.get(iu[1], 0), (iu[0] - turn) % n))[1]

    @staticmethod
    def _avoid(url: str) -> None:
        with _BOOK_LOCK:
            _AVOID_UNTIL[url] = time.monotonic() + _AVOID_S

    def _count(self, *keys: str) -> None:
        with self._stats_lock:
            for k in keys:
                self.stats[k] += 1

    def _headers(self) -> dict[str, str]:
        headers = {VERSION_HEADER: WIRE_VERSION}
        token = os.environ.get(self.opts.token_env) if self.opts.token_env else None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _request(self, method: str, url: str, path: str, *, body: bytes | None = None, content_type: str = "",
                 timeout_s: float, book: bool = False) -> _Answer:
        parts = urlsplit(url)
        conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(parts.hostname, parts.port, timeout=self.opts.connect_timeout_s)  # type: ignore[arg-type]
        headers = self._headers()
        if content_type:
            headers["Content-Type"] = content_type
        if book:
            with _BOOK_LOCK:
                _IN_FLIGHT[url] = _IN_FLIGHT.get(url, 0) + 1
        try:
            conn.connect()
            if conn.sock is not None:
                conn.sock.settimeout(timeout_s)
            conn.request(method, (parts.path or "") + path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return _Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        finally:
            conn.close()
            if book:
                with _BOOK_LOCK:
                    _IN_FLIGHT[url] -= 1


def _why(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return "no answer in time"
    return f"{type(e).__name__}: {e}"[:200]


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value is not None else 1.0
    except ValueError:
        return 1.0


def _remote_type(kind: str) -> type[RemoteTool]:
    return type(f"Remote{kind.capitalize()}", (RemoteTool,), {"kind": kind, "__module__": __name__,
                                                              "__doc__": f"A remote {kind} tool (served over HTTP)."})


_KINDS: tuple[ToolKind, ...] = ("generate", "edit", "inpaint", "check", "detect", "ocr", "retouch")
#: `type:` is the kind the served tool must have.
TOOL_TYPES: dict[str, type[Tool]] = {kind: _remote_type(kind) for kind in _KINDS}
