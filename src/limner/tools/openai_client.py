"""How limner reaches an OpenAI-compatible endpoint: settings, the key, and the official `openai` SDK client.

`OpenAISettings` is the one place that knows how limner talks to an OpenAI-compatible server (OpenAI,
vLLM, llama.cpp, LocalAI, ...): base URL, model, where the key lives, time-outs and retries. Both the
image tools (`tools/openai.py`, through `settings.openai_client()`) and the VLM checker
(`tools/vlm_checker.py`, through pydantic-ai and `settings.pydantic_ai_model()`) drive the official SDK
with it, so neither backend imports the other and there is one HTTP client, not two.

Keys: only the *name* of an environment variable is configured (`api_key_env`); the value is read when a
client is built, held in a `Secret` whose repr is `'***'`, sent only in the Authorization header to the
configured base URL, and scrubbed from every error message (`redact`). It never enters a ToolResult, a
log line or a run directory. A server that takes no key gets no Authorization header at all.

Retries are the SDK's: 408, 409, 429 and 5xx replies, connection errors and time-outs are retried up to
`max_retries` times with exponential backoff (0.5 s doubling to 8 s, with jitter); a server's
`retry-after-ms` or `Retry-After` (seconds or an HTTP date, up to two minutes) wins. Every other 4xx
fails at once: retrying a bad request only costs money.

Importing this module is cheap: `openai` (the `llm` extra) loads when a client is first built, so a
configuration that lists these tools can be inspected where the extra is not installed.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from limner.config import check_env_name
from limner.tools.base import ToolError

if TYPE_CHECKING:  # pragma: no cover
    import openai

    from limner.config import BrainConfig

__all__ = ["OpenAISettings", "Secret", "redact", "server_message"]

#: What a local server that takes no key gets as the SDK's key (the SDK insists on one). The image tools
#: never send it (their requests omit the Authorization header); pydantic-ai's chat requests do.
NO_KEY = "not-needed"


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
    """`text` with every occurrence of the secret (and so of its Bearer form) replaced by `***`."""
    if secret:
        text = text.replace(secret.reveal(), "***")
    return text


def server_message(body: Any) -> str | None:
    """The server's own error message, one line, when a reply body carries one.

    OpenAI-style bodies are `{"error": {"message": ...}}`; the SDK (and pydantic-ai after it) hands over
    either that or its inner `error` object, and some servers send a bare string.
    """
    if not body:
        return None
    err = body.get("error", body) if isinstance(body, dict) else body
    msg = err.get("message") if isinstance(err, dict) else err
    return " ".join(str(msg).split())[:300] if msg else None


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
    headers: dict[str, str] = Field(default_factory=dict, description="extra non-secret headers")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url {v!r} must be an http(s) URL such as http://localhost:8000/v1")
        return v.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, v: str) -> str:
        return check_env_name(v)

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

    def missing_key(self) -> str | None:
        """Why no request can be sent (a needed key is not in the environment), or None. Reads no value."""
        if self.api_key_required and not os.environ.get(self.api_key_env, "").strip():
            return f"environment variable {self.api_key_env} is not set (the key for {self.base_url})"
        return None

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

    def _client_kwargs(self, key: Secret | None) -> dict[str, Any]:
        return {"base_url": self.base_url, "api_key": key.reveal() if key else NO_KEY,
                "max_retries": self.max_retries, "default_headers": self.headers or None}

    def openai_client(self, key: Secret | None) -> openai.OpenAI:
        """A synchronous `openai.OpenAI` for these settings and `key` (from `api_key()`)."""
        import openai  # noqa: PLC0415 - optional (limner[llm]): configs listing these tools load without it

        timeout = openai.Timeout(self.timeout_s, connect=min(self.connect_timeout_s, self.timeout_s))
        return openai.OpenAI(timeout=timeout, **self._client_kwargs(key))

    def async_openai_client(self) -> openai.AsyncOpenAI:
        """An `openai.AsyncOpenAI` with these settings, for pydantic-ai (its own retries honour Retry-After)."""
        import openai  # noqa: PLC0415 - optional (limner[llm]), as above

        return openai.AsyncOpenAI(timeout=self.timeout_s, **self._client_kwargs(self.api_key()))

    def pydantic_ai_model(self) -> Any:
        """A pydantic-ai chat model for this endpoint (the brains' and the VLM checker's entry point)."""
        # pydantic-ai is optional (limner[llm]) and slow to import: loaded only when a model is built.
        from pydantic_ai.models.openai import OpenAIChatModel  # noqa: PLC0415
        from pydantic_ai.providers.openai import OpenAIProvider  # noqa: PLC0415

        return OpenAIChatModel(self.model, provider=OpenAIProvider(openai_client=self.async_openai_client()))
