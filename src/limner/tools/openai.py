"""OpenAI-compatible endpoints: shared client settings, and the Images API as generate/edit tools.

`OpenAISettings` is the one place that knows how limner talks to an OpenAI-compatible server (OpenAI,
vLLM, llama.cpp, LocalAI, ...): base URL, model, where the key lives, time-outs and retries. The image
tools here use it through a small synchronous HTTP client (`OpenAIHTTP`); the brains reuse the same
settings through pydantic-ai (`settings.pydantic_ai_model()`), which drives the official `openai` SDK.

Keys: only the *name* of an environment variable is configured (`api_key_env`); the value is read when a
request is made, held in a `Secret` whose repr is `'***'`, sent only in the Authorization header to the
configured base URL, and scrubbed from every error message. It never enters a ToolResult, a log line or
a run directory.

Retries: 429, 408 and 5xx replies, connection errors and time-outs are retried up to `max_retries` times
with exponential backoff and jitter; a `Retry-After` (or `retry-after-ms`) header from the server wins,
capped at `max_backoff_s`. Every other 4xx fails at once: retrying a bad request only costs money.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import importlib.util
import io
import logging
import os
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import urlsplit

from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from limner.tools._device import find_published_model, published_dim_scores
from limner.tools.base import Tool, ToolError
from limner.types import EDIT_DIMS, GEN_DIMS, ToolCall, ToolResult

if TYPE_CHECKING:  # pragma: no cover
    import httpx

    from limner.config import BrainConfig

__all__ = [
    "TOOL_TYPES",
    "OpenAIHTTP",
    "OpenAIImageEdit",
    "OpenAIImageOptions",
    "OpenAIImages",
    "OpenAISettings",
    "Secret",
    "retry_delay",
]

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_MAX_IMAGE_BYTES = 64 * 2**20


class Secret:
    """A string that does not print itself. `reveal()` is the only way to the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:  # pickling would write the value somewhere; refuse
        raise TypeError("Secret values cannot be pickled")


def redact(text: str, secret: Secret | None) -> str:
    """`text` with every occurrence of the secret (and of its Bearer form) replaced by `***`."""
    if secret:
        text = text.replace(secret.reveal(), "***")
    return text


class OpenAISettings(BaseModel):
    """How to reach one OpenAI-compatible endpoint. Holds no secret: only the env var's name."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = "https://api.openai.com/v1"
    model: str
    api_key_env: str = Field(default="OPENAI_API_KEY", description="name of the env var holding the key")
    api_key_required: bool = Field(default=True, description="false for local servers that take no key")
    timeout_s: float = Field(default=120.0, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    backoff_s: float = Field(default=1.0, ge=0, description="first retry delay; doubles per retry")
    max_backoff_s: float = Field(default=60.0, ge=0)
    headers: dict[str, str] = Field(default_factory=dict, description="extra non-secret headers")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url {v!r} must be an http(s) URL such as http://localhost:8000/v1")
        return v.rstrip("/")

    @field_validator("headers")
    @classmethod
    def _no_auth_header(cls, v: dict[str, str]) -> dict[str, str]:
        if any(k.lower() in ("authorization", "api-key", "x-api-key") for k in v):
            raise ValueError("put keys in the environment (api_key_env), not in headers")
        return v

    @classmethod
    def from_brain(cls, brain: BrainConfig) -> OpenAISettings:
        """Settings of the agent's LLM brain (`brain.kind == 'llm'`)."""
        if not brain.model:
            raise ValueError("brain.model is not set")
        return cls(
            base_url=brain.base_url or "https://api.openai.com/v1", model=brain.model,
            api_key_env=brain.api_key_env, api_key_required=brain.base_url is None,
            timeout_s=brain.timeout_s, max_retries=brain.max_retries,
        )

    def api_key(self) -> Secret | None:
        """The key from the environment, read now (so rotating it needs no restart)."""
        value = os.environ.get(self.api_key_env, "").strip()
        if value:
            return Secret(value)
        if self.api_key_required:
            raise ToolError(
                f"the environment variable {self.api_key_env} is not set (it should hold the API key for "
                f"{self.base_url}); set it, or api_key_required: false for a server that needs none"
            )
        return None

    def async_openai_client(self) -> Any:
        """An `openai.AsyncOpenAI` with these settings, for pydantic-ai (its own retries honour Retry-After)."""
        import openai

        key = self.api_key()
        return openai.AsyncOpenAI(
            base_url=self.base_url, api_key=key.reveal() if key else "not-needed", timeout=self.timeout_s,
            max_retries=self.max_retries, default_headers=self.headers or None,
        )

    def pydantic_ai_model(self) -> Any:
        """A pydantic-ai chat model for this endpoint (the brains' entry point)."""
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        return OpenAIChatModel(self.model, provider=OpenAIProvider(openai_client=self.async_openai_client()))


def retry_delay(
    attempt: int, headers: Any | None, *, base_s: float, cap_s: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait before retry number `attempt` (0-based).

    A server's `retry-after-ms` or `Retry-After` (seconds or an HTTP date) is obeyed, capped at `cap_s`.
    Otherwise: `base_s * 2**attempt` with ±50 % jitter, so clients that failed together do not retry
    together.
    """
    if headers is not None:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            try:
                return min(cap_s, max(0.0, float(ms) / 1000))
            except ValueError:
                pass
        ra = headers.get("retry-after")
        if ra is not None:
            try:
                return min(cap_s, max(0.0, float(ra)))
            except ValueError:
                when = email.utils.parsedate_to_datetime(ra) if ra.strip() else None
                if when is not None:
                    return min(cap_s, max(0.0, when.timestamp() - time.time()))
    jitter = (rng or random).uniform(0.5, 1.5)
    return min(cap_s, base_s * (2**attempt) * jitter)


class OpenAIHTTP:
    """A small synchronous client for JSON and multipart POSTs with retries, time-outs and redaction."""

    def __init__(
        self,
        settings: OpenAISettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import httpx

        self.settings = settings
        self._httpx = httpx
        self._sleep = sleep
        self._key = settings.api_key()
        headers = {"User-Agent": "limner", **settings.headers}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key.reveal()}"
        self._client = httpx.Client(
            base_url=settings.base_url + "/",
            headers=headers,
            timeout=httpx.Timeout(settings.timeout_s, connect=min(settings.connect_timeout_s, settings.timeout_s)),
            transport=transport,
            follow_redirects=False,  # a redirect would carry the Authorization header elsewhere
        )
        self.attempts = 0

    def __repr__(self) -> str:
        return f"OpenAIHTTP(base_url={self.settings.base_url!r}, model={self.settings.model!r})"

    def close(self) -> None:
        self._client.close()

    def _fail(self, message: str) -> ToolError:
        return ToolError(redact(message, self._key))

    def post(self, path: str, *, json: dict[str, Any] | None = None, data: dict[str, Any] | None = None,
             files: dict[str, tuple[str, bytes, str]] | None = None) -> dict[str, Any]:
        """POST to `base_url/path` and return the JSON object of a 2xx reply, retrying transient failures."""
        httpx = self._httpx
        s = self.settings
        what = f"POST {path}"
        for attempt in range(s.max_retries + 1):
            self.attempts += 1
            last = attempt == s.max_retries
            try:
                resp = self._client.post(path.lstrip("/"), json=json, data=data, files=files)
            except httpx.TimeoutException:
                if last:
                    raise self._fail(f"{what} timed out after {s.timeout_s:g} s ({attempt + 1} attempt(s))") from None
                delay = retry_delay(attempt, None, base_s=s.backoff_s, cap_s=s.max_backoff_s)
                log.warning("%s timed out; retry %d/%d in %.1f s", what, attempt + 1, s.max_retries, delay)
                self._sleep(delay)
                continue
            except httpx.TransportError as e:
                if last:
                    raise self._fail(f"{what}: cannot reach {s.base_url}: {type(e).__name__}: {e}") from None
                delay = retry_delay(attempt, None, base_s=s.backoff_s, cap_s=s.max_backoff_s)
                log.warning("%s: %s; retry %d/%d in %.1f s", what, type(e).__name__, attempt + 1, s.max_retries, delay)
                self._sleep(delay)
                continue
            if resp.status_code in RETRY_STATUSES and not last:
                delay = retry_delay(attempt, resp.headers, base_s=s.backoff_s, cap_s=s.max_backoff_s)
                log.warning("%s: HTTP %d; retry %d/%d in %.1f s", what, resp.status_code, attempt + 1,
                            s.max_retries, delay)
                resp.close()
                self._sleep(delay)
                continue
            return self._parse(resp, what, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _parse(self, resp: httpx.Response, what: str, attempt: int) -> dict[str, Any]:
        if resp.status_code >= 400:
            detail = _error_detail(resp)
            hint = f" (check the key in ${self.settings.api_key_env})" if resp.status_code in (401, 403) else ""
            tries = f" after {attempt + 1} attempts" if attempt else ""
            raise self._fail(f"{what}: HTTP {resp.status_code}{tries}: {detail}{hint}")
        try:
            body = resp.json()
        except ValueError:
            raise self._fail(f"{what}: malformed reply (not JSON): {resp.text[:200]!r}") from None
        if not isinstance(body, dict):
            raise self._fail(f"{what}: malformed reply (expected a JSON object, got {type(body).__name__})")
        return body

    def get_bytes(self, url: str) -> bytes:
        """Download a result URL. The Authorization header is sent only to the configured host."""
        same_host = urlsplit(url).netloc == urlsplit(self.settings.base_url).netloc
        try:
            if same_host:
                resp = self._client.get(url)
            else:
                resp = self._httpx.get(url, timeout=self.settings.timeout_s, follow_redirects=True)
        except self._httpx.HTTPError as e:
            raise self._fail(f"GET result image: {type(e).__name__}: {e}") from None
        if resp.status_code >= 400:
            raise self._fail(f"GET result image: HTTP {resp.status_code}")
        if len(resp.content) > _MAX_IMAGE_BYTES:
            raise self._fail("GET result image: larger than 64 MiB")
        return resp.content


def _error_detail(resp: Any) -> str:
    try:
        body = resp.json()
        err = body.get("error", body) if isinstance(body, dict) else body
        msg = err.get("message") if isinstance(err, dict) else err
        return str(msg)[:300]
    except ValueError:
        return resp.text[:300]


# ----------------------------------------------------------------------------------------------------
# Image tools
# ----------------------------------------------------------------------------------------------------


class OpenAIImageOptions(OpenAISettings):
    """Options of the image tools: endpoint settings plus what the Images API takes."""

    model: str = "gpt-image-1"
    size: str | None = Field(default=None, description="fixed 'WxH' the API accepts; default: the call's size")
    quality: str | None = None
    style: str | None = None
    response_format: Literal["b64_json", "url"] | None = Field(
        default=None, description="set 'b64_json' for dall-e/compatible servers; gpt-image-1 always returns b64"
    )
    send_seed: bool = Field(default=False, description="send call.seed (honoured by some compatible servers)")
    extra_body: dict[str, Any] = Field(default_factory=dict)
    resize_to_call: bool = Field(default=True, description="resize the reply to the call's width x height")
    published_as: str | None = None


def _decode_image(item: dict[str, Any], http: OpenAIHTTP, what: str) -> Image.Image:
    if "b64_json" in item and isinstance(item["b64_json"], str):
        try:
            raw = base64.b64decode(item["b64_json"], validate=True)
        except (binascii.Error, ValueError):
            raise ToolError(f"{what}: malformed reply (b64_json is not base64)") from None
    elif "url" in item and isinstance(item["url"], str):
        raw = http.get_bytes(item["url"])
    else:
        raise ToolError(f"{what}: malformed reply (data[0] has neither b64_json nor url)")
    try:
        img = Image.open(io.BytesIO(raw))
        img.load()
    except (UnidentifiedImageError, OSError):
        raise ToolError(f"{what}: malformed reply (the returned bytes are not an image)") from None
    return img.convert("RGB")


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


class _OpenAIImageTool(Tool):
    backend: ClassVar[str] = "openai"
    path: ClassVar[str]

    def __init__(
        self, name: str, *, description: str = "", dims: list[str] | None = None, cost: float = 1.0, **options: Any
    ) -> None:
        super().__init__(name, description=description, dims=dims, cost=cost, **options)
        try:
            self.opts = OpenAIImageOptions.model_validate(options)
        except ValidationError as e:
            raise ValueError(f"tool {name!r}: invalid openai options: {e}") from None
        self._http: OpenAIHTTP | None = None

    @property
    def published_scores(self) -> dict[str, dict[str, Any]]:
        key = self.opts.published_as or find_published_model(self.opts.model)
        return published_dim_scores(key, self.kind) if key else {}

    def unavailable_reason(self) -> str | None:
        """Why this tool cannot run here (missing package or key), or None. Sends nothing."""
        if importlib.util.find_spec("httpx") is None:
            return "missing package httpx: pip install 'limner[llm]'"
        if self.opts.api_key_required and not os.environ.get(self.opts.api_key_env, "").strip():
            return f"environment variable {self.opts.api_key_env} is not set"
        return None

    def setup(self) -> None:
        settings = OpenAISettings.model_validate(self.opts.model_dump(include=set(OpenAISettings.model_fields)))
        self._http = OpenAIHTTP(settings)

    def unload(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        super().unload()

    def _fields(self, call: ToolCall) -> dict[str, Any]:
        o = self.opts
        fields: dict[str, Any] = {"model": o.model, "prompt": call.prompt, "n": 1,
                                  "size": o.size or f"{call.width}x{call.height}"}
        for k in ("quality", "style", "response_format"):
            if getattr(o, k) is not None:
                fields[k] = getattr(o, k)
        if o.send_seed:
            fields["seed"] = call.seed
        fields.update(o.extra_body)
        return fields

    def _finish(self, call: ToolCall, body: dict[str, Any]) -> ToolResult:
        http = self._http
        assert http is not None
        what = f"tool {self.name!r}"
        data = body.get("data")
        if not isinstance(data, list) or not data or not isinstance(data[0], dict):
            raise ToolError(f"{what}: malformed reply (no data[0] in the JSON)")
        image = _decode_image(data[0], http, what)
        returned = list(image.size)
        if self.opts.resize_to_call and image.size != (call.width, call.height):
            image = image.resize((call.width, call.height), Image.Resampling.LANCZOS)
        meta: dict[str, Any] = {"model": self.opts.model, "returned_size": returned, "seed_sent": self.opts.send_seed}
        revised = data[0].get("revised_prompt")
        if isinstance(revised, str):
            meta["revised_prompt"] = revised[:2000]
        return ToolResult(tool=self.name, image=image, meta=meta)

    def _client(self) -> OpenAIHTTP:
        if self._http is None:
            self.setup()
        assert self._http is not None
        return self._http


class OpenAIImages(_OpenAIImageTool):
    """Text-to-image through an OpenAI-compatible Images API (`POST /images/generations`)."""

    kind = "generate"
    default_dims = GEN_DIMS

    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        body = self._client().post("images/generations", json=self._fields(call))
        return self._finish(call, body)


class OpenAIImageEdit(_OpenAIImageTool):
    """Instruction editing through an OpenAI-compatible Images API (`POST /images/edits`).

    An optional limner mask (white = change) is sent as the API's mask: a PNG whose transparent pixels
    mark where to edit.
    """

    kind = "edit"
    default_dims = EDIT_DIMS

    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        assert image is not None
        fields = self._fields(call)
        files: dict[str, tuple[str, bytes, str]] = {"image": ("image.png", _png(image.convert("RGB")), "image/png")}
        if mask is not None:
            alpha = mask.convert("L").resize(image.size).point(lambda v: 0 if v >= 128 else 255)
            rgba = image.convert("RGBA")
            rgba.putalpha(alpha)
            files["mask"] = ("mask.png", _png(rgba), "image/png")
        data = {k: v if isinstance(v, str) else str(v) for k, v in fields.items()}
        body = self._client().post("images/edits", data=data, files=files)
        return self._finish(call, body)


from limner.tools.vlm_checker import VLMChecker  # here, not at the top: it imports this module lazily

TOOL_TYPES: dict[str, type[Tool]] = {
    "images": OpenAIImages, "image_edit": OpenAIImageEdit, "vlm_checker": VLMChecker,
}
