"""The `openai` backend: an OpenAI-compatible Images API as generate and edit tools.

`images` posts to `/images/generations`, `image_edit` to `/images/edits` (with an optional mask), through
the official `openai` SDK client that `OpenAISettings` (`tools/openai_client.py`) builds: its time-outs,
its retries (429, 5xx, connection errors, honouring the server's Retry-After) and its error types. This
module adds what the SDK cannot know: which call arguments a compatible server takes, how a reply
becomes an image of the call's size, and one-line `ToolError`s that never carry the key.

The backend's third type, `vlm_checker`, lives in `tools/vlm_checker.py`; it shares `openai_client` with
these tools, not code with this module. The registry looks a type up in both modules (`BACKENDS`).
"""

from __future__ import annotations

import base64
import binascii
import importlib
import importlib.util
import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import urlsplit

from PIL import Image, UnidentifiedImageError
from pydantic import Field

from limner.tools._device import find_published_model, published_dim_scores
from limner.tools.base import Tool, ToolError, parse_options
from limner.tools.openai_client import OpenAISettings, Secret, redact, server_message
from limner.types import EDIT_DIMS, GEN_DIMS, ToolCall, ToolResult

if TYPE_CHECKING:  # pragma: no cover
    import openai

__all__ = ["TOOL_TYPES", "OpenAIImageEdit", "OpenAIImageOptions", "OpenAIImages", "OpenAISettings", "Secret"]

_MAX_IMAGE_BYTES = 64 * 2**20
#: Images API arguments the SDK's methods name; every other option travels in the request's extra body.
_TYPED_ARGS = ("model", "prompt", "n", "size")


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


# ----------------------------------------------------------------------------------------------------
# Replies: SDK objects (built leniently from whatever JSON came back) into images, or clear errors
# ----------------------------------------------------------------------------------------------------


def _decode_b64(b64: str, what: str) -> bytes:
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ToolError(f"{what}: malformed reply (b64_json is not base64)") from None


def _open_image(raw: bytes, what: str) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(raw))
        img.load()
    except (UnidentifiedImageError, OSError):
        raise ToolError(f"{what}: malformed reply (the returned bytes are not an image)") from None
    return img.convert("RGB")


def _first_item(reply: Any, what: str) -> Any:
    """`data[0]` of an Images API reply. The SDK returns the text of a non-JSON reply, and JSON of any
    shape as it came, so each level is checked here."""
    import openai  # noqa: PLC0415 - optional (limner[llm]); loaded with the client before any reply

    if isinstance(reply, str):
        raise ToolError(f"{what}: malformed reply (not JSON): {reply[:200]!r}")
    if not isinstance(reply, openai.types.ImagesResponse):
        raise ToolError(f"{what}: malformed reply (expected a JSON object, got {type(reply).__name__})")
    data = reply.data
    if not isinstance(data, list) or not data or not isinstance(data[0], openai.types.Image):
        raise ToolError(f"{what}: malformed reply (no data[0] in the JSON)")
    return data[0]


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _status_error(what: str, err: openai.APIStatusError, key_env: str) -> str:
    """One line for an HTTP error reply: status, attempts (the SDK numbers its retries in a request
    header), the server's own message, and where the key lives when the server refused it."""
    retries = int(err.response.request.headers.get("x-stainless-retry-count", "0") or 0)
    tries = f" after {retries + 1} attempts" if retries else ""
    detail = server_message(err.body) or err.response.text[:300]
    hint = f" (check the key in ${key_env})" if err.status_code in (401, 403) else ""
    return f"{what}: HTTP {err.status_code}{tries}: {detail}{hint}"


# ----------------------------------------------------------------------------------------------------
# Tools
# ----------------------------------------------------------------------------------------------------


class _OpenAIImageTool(Tool):
    backend: ClassVar[str] = "openai"

    def __init__(
        self, name: str, *, description: str = "", dims: list[str] | None = None, cost: float = 1.0, **options: Any
    ) -> None:
        super().__init__(name, description=description, dims=dims, cost=cost, **options)
        self.opts = parse_options(OpenAIImageOptions, name, options, "openai")
        self._sdk: openai.OpenAI | None = None
        self._key: Secret | None = None

    @property
    def published_scores(self) -> dict[str, dict[str, Any]]:
        key = self.opts.published_as or find_published_model(self.opts.model)
        return published_dim_scores(key, self.kind) if key else {}

    def unavailable_reason(self) -> str | None:
        """Why this tool cannot run here (missing package or key), or None. Sends nothing."""
        if importlib.util.find_spec("openai") is None:
            return "missing package openai: pip install 'limner[llm]'"
        return self.opts.missing_key()

    # -- lifecycle ----------------------------------------------------------------------------------

    def setup(self) -> None:
        """Read the key now (a missing one is a ToolError naming the variable) and build the SDK client."""
        settings = OpenAISettings.model_validate(self.opts.model_dump(include=set(OpenAISettings.model_fields)))
        self._key = settings.api_key()
        self._sdk = settings.openai_client(self._key)

    def unload(self) -> None:
        if self._sdk is not None:
            self._sdk.close()
            self._sdk = None
        self._key = None  # read again on the next setup: a rotated key is picked up
        super().unload()

    def _client(self) -> openai.OpenAI:
        if self._sdk is None:
            self.setup()
        assert self._sdk is not None
        return self._sdk

    # -- requests -----------------------------------------------------------------------------------

    def _arguments(self, call: ToolCall) -> dict[str, Any]:
        """Keyword arguments of the SDK's images method: the typed ones, the rest as the extra body."""
        o = self.opts
        fields: dict[str, Any] = {"model": o.model, "prompt": call.prompt, "n": 1,
                                  "size": o.size or f"{call.width}x{call.height}"}
        for k in ("quality", "style", "response_format"):
            if getattr(o, k) is not None:
                fields[k] = getattr(o, k)
        if o.send_seed:
            fields["seed"] = call.seed
        fields.update(o.extra_body)
        typed = {k: fields.pop(k) for k in _TYPED_ARGS if k in fields}
        return {**typed, "extra_body": fields or None, "extra_headers": self._auth_headers(same_host=True)}

    def _auth_headers(self, *, same_host: bool) -> dict[str, Any] | None:
        """Request headers that keep the Authorization header off a request: no key, or another host."""
        import openai  # noqa: PLC0415 - optional (limner[llm]); loaded with the client

        return None if self._key and same_host else {"Authorization": openai.omit}

    def _fail(self, message: str) -> ToolError:
        return ToolError(redact(message, self._key))

    @contextmanager
    def _sdk_errors(self, what: str) -> Iterator[None]:
        """The SDK's exceptions (after its retries) as one-line ToolErrors without the key."""
        import openai  # noqa: PLC0415 - optional (limner[llm]); loaded with the client

        s = self.opts
        try:
            yield
        except openai.APITimeoutError:
            raise self._fail(f"{what} timed out after {s.timeout_s:g} s ({s.max_retries + 1} attempt(s))") from None
        except openai.APIConnectionError as e:
            cause = e.__cause__ or e
            raise self._fail(f"{what}: cannot reach {s.base_url}: {type(cause).__name__}: {cause}") from None
        except openai.APIStatusError as e:
            raise self._fail(_status_error(what, e, s.api_key_env)) from None
        except ValueError as e:  # a reply that claims to be JSON and is not
            raise self._fail(f"{what}: malformed reply (not JSON): {e}") from None

    def _download(self, url: str, what: str) -> bytes:
        """A result URL's bytes. The key is sent only to the configured host."""
        same_host = urlsplit(url).netloc == urlsplit(self.opts.base_url).netloc
        headers = self._auth_headers(same_host=same_host) or {}
        with self._sdk_errors("GET result image"):
            content: bytes = self._client().get(url, cast_to=bytes, options={"headers": headers})
        if len(content) > _MAX_IMAGE_BYTES:
            raise self._fail(f"{what}: GET result image: larger than 64 MiB")
        return content

    def _finish(self, call: ToolCall, reply: Any) -> ToolResult:
        what = f"tool {self.name!r}"
        item = _first_item(reply, what)
        if isinstance(item.b64_json, str):
            image = _open_image(_decode_b64(item.b64_json, what), what)
        elif isinstance(item.url, str):
            image = _open_image(self._download(item.url, what), what)
        else:
            raise ToolError(f"{what}: malformed reply (data[0] has neither b64_json nor url)")
        returned = list(image.size)
        if self.opts.resize_to_call and image.size != (call.width, call.height):
            image = image.resize((call.width, call.height), Image.Resampling.LANCZOS)
        meta: dict[str, Any] = {"model": self.opts.model, "returned_size": returned, "seed_sent": self.opts.send_seed}
        if isinstance(item.revised_prompt, str):
            meta["revised_prompt"] = item.revised_prompt[:2000]
        return ToolResult(tool=self.name, image=image, meta=meta)


class OpenAIImages(_OpenAIImageTool):
    """Text-to-image through an OpenAI-compatible Images API (`POST /images/generations`)."""

    kind = "generate"
    default_dims = GEN_DIMS

    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        client = self._client()
        with self._sdk_errors("POST images/generations"):
            reply = client.images.generate(**self._arguments(call))
        return self._finish(call, reply)


class OpenAIImageEdit(_OpenAIImageTool):
    """Instruction editing through an OpenAI-compatible Images API (`POST /images/edits`).

    An optional limner mask (white = change) is sent as the API's mask: a PNG whose transparent pixels
    mark where to edit.
    """

    kind = "edit"
    default_dims = EDIT_DIMS

    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        assert image is not None
        files: dict[str, tuple[str, bytes, str]] = {"image": ("image.png", _png(image.convert("RGB")), "image/png")}
        if mask is not None:
            alpha = mask.convert("L").resize(image.size).point(lambda v: 0 if v >= 128 else 255)
            rgba = image.convert("RGBA")
            rgba.putalpha(alpha)
            files["mask"] = ("mask.png", _png(rgba), "image/png")
        client = self._client()
        with self._sdk_errors("POST images/edits"):
            reply = client.images.edit(**files, **self._arguments(call))
        return self._finish(call, reply)


TOOL_TYPES: dict[str, type[Tool]] = {"images": OpenAIImages, "image_edit": OpenAIImageEdit}
