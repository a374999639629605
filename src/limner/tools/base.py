"""The Tool contract: every generator, editor, inpainter and checker — sandbox or real — implements it.

A tool declares its contract as data (`ToolSpec`: name, kind, profiled dimensions, cost), is cheap to
construct, and loads heavy weights lazily in `setup()` on first use, so a registry of twenty configured
tools costs nothing until one is called. `unload()` gives the memory back.

Calling convention (one for every kind, so the Worker needs no special cases):

    result = tool(call, image=None, mask=None)

`call` is the serialisable `ToolCall` (prompt or instruction, seed, size, params); `image` and `mask`
are PIL images for edit/inpaint tools. Tools return a `ToolResult` with the PIL image in `.image`.
A tool signals its own failure by raising `ToolError`; the Worker records it and falls back to the
next-ranked tool. Any other exception is a bug in the tool: the Worker records it as a failed attempt
named as such and falls back too (an overnight run must outlive one broken backend).
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from typing import Any, ClassVar, TypeVar

from PIL import Image
from pydantic import BaseModel, ConfigDict, ValidationError

from limner.config import describe_validation_error
from limner.types import ToolCall, ToolKind, ToolResult, ToolSpec

_Options = TypeVar("_Options", bound=BaseModel)


def parse_options(model: type[_Options], tool: str, options: dict[str, Any], what: str = "") -> _Options:
    """A tool's `options:` validated into its pydantic model; a bad one is a one-line `ValueError` naming the
    tool (the registry turns it into the config error the user sees)."""
    try:
        return model.model_validate(options)
    except ValidationError as e:
        raise ValueError(f"tool {tool!r}: invalid {what + ' ' if what else ''}options: "
                         f"{describe_validation_error(e)}") from None


class Readiness(BaseModel):
    """What a look at this machine found about one tool, without loading or downloading anything.

    `reason` is why the tool cannot run now (None: it can); `weights` and `server` say where its model is
    and whether its endpoint answers, for tools that have them (None: the tool has none)."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = None
    weights: str | None = None
    server: str | None = None


#: url -> (monotonic time, answer) of recent probes: `tools list` and the pre-run check ask once per endpoint.
_PROBES: dict[str, tuple[float, str | None]] = {}
_PROBE_TTL_S = 30.0


def probe_url(url: str, timeout_s: float = 2.0) -> str | None:
    """None when the server at `url` answers an HTTP GET within `timeout_s` (any status: a 401 or 404 still
    means it is there), else why not, in a few words ("no answer within 2 s: connection refused").
    Sends no credentials; reads no body."""
    now = time.monotonic()
    cached = _PROBES.get(url)
    if cached is not None and now - cached[0] < _PROBE_TTL_S:
        return cached[1]
    answer: str | None = None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=timeout_s):
            pass
    except urllib.error.HTTPError:
        answer = None
    except (urllib.error.URLError, OSError, ValueError) as e:
        cause = getattr(e, "reason", e)
        answer = f"no answer within {timeout_s:g} s: {cause}"
    _PROBES[url] = (now, answer)
    return answer


class ToolError(RuntimeError):
    """A tool could not do what was asked (bad input for it, backend down, time-out). Recoverable."""


class Tool(ABC):
    """Base class for tools. Subclasses set `kind` and implement `_run` (and `setup` if they load weights)."""

    kind: ClassVar[ToolKind]
    backend: ClassVar[str] = "custom"
    default_dims: ClassVar[tuple[str, ...]] = ()
    simulated: ClassVar[bool] = False

    def __init__(
        self,
        name: str,
        *,
        description: str = "",
        dims: list[str] | None = None,
        cost: float = 1.0,
        **options: Any,
    ) -> None:
        self.spec = ToolSpec(
            name=name,
            kind=self.kind,
            backend=self.backend,
            description=description or (self.__doc__ or "").strip().split("\n")[0],
            dims=list(dims if dims is not None else self.default_dims),
            cost=cost,
            simulated=self.simulated,
        )
        self.options = options
        self._loaded = False
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def loaded(self) -> bool:
        return self._loaded

    def unavailable_reason(self) -> str | None:
        """Why this tool cannot run here (missing package, device, model file, API key), or None.

        Must load nothing: `limner tools list` calls it for every configured tool."""
        return None

    @property
    def server_url(self) -> str | None:
        """The endpoint this tool sends its requests to, or None for a tool that runs in this process. Tools
        whose options carry a `base_url` (the OpenAI-compatible backends) report it from there."""
        url = getattr(getattr(self, "opts", None), "base_url", None)
        return str(url).rstrip("/") if url else None

    def readiness(self, timeout_s: float = 2.0) -> Readiness:
        """Whether this tool can run now, looking further than `unavailable_reason`: the configured server
        must answer (a GET of `<base_url>/models` within `timeout_s`). Backends with weights add where they
        are. Loads and downloads nothing; a run checks this before its first round so that a tool that
        cannot work is reported once instead of failing every round."""
        reason = self.unavailable_reason()
        url = self.server_url
        if reason is not None or url is None:
            return Readiness(reason=reason)
        problem = probe_url(f"{url}/models", timeout_s)
        if problem is not None:
            return Readiness(reason=f"its server {url} does not answer ({problem})", server=problem)
        return Readiness(server=f"answers at {url}")

    @property
    def device_spec(self) -> str:
        """The device this tool is configured for ("cpu" for tools that never use an accelerator)."""
        return "cpu"

    def setup(self) -> None:
        """Load weights, clients, fonts. Called once, on first use. Override in heavy tools."""

    def unload(self) -> None:
        """Release what `setup` loaded. Override in heavy tools; the next call loads again."""
        self._loaded = False

    def ensure_loaded(self) -> None:
        with self._lock:
            if not self._loaded:
                self.setup()
                self._loaded = True

    def __call__(
        self, call: ToolCall, image: Image.Image | None = None, mask: Image.Image | None = None
    ) -> ToolResult:
        self._check_inputs(call, image, mask)
        self.ensure_loaded()
        t0 = time.perf_counter()
        result = self._run(call, image, mask)
        result.duration_s = time.perf_counter() - t0
        return result

    def _check_inputs(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> None:
        if call.tool != self.name:
            raise ValueError(f"call addressed to {call.tool!r} was sent to tool {self.name!r}")
        if self.kind in ("edit", "inpaint") and image is None:
            raise ToolError(f"{self.kind} tool {self.name!r} needs an input image")
        if self.kind == "inpaint" and mask is None:
            raise ToolError(f"inpaint tool {self.name!r} needs a mask")
        if self.kind == "generate" and not call.prompt.strip():
            raise ToolError(f"generate tool {self.name!r} got an empty prompt")

    @abstractmethod
    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        """Do the work. Inputs are already validated and weights loaded."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, kind={self.kind!r}, loaded={self._loaded})"
