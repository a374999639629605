"""The Tool contract: every generator, editor, inpainter and checker — sandbox or real — implements it.

A tool declares its contract as data (`ToolSpec`: name, kind, profiled dimensions, cost), is cheap to
construct, and loads heavy weights lazily in `setup()` on first use, so a registry of twenty configured
tools costs nothing until one is called. `unload()` gives the memory back.

Calling convention (one for every kind, so the Worker needs no special cases):

    result = tool(call, image=None, mask=None)

`call` is the serialisable `ToolCall` (prompt or instruction, seed, size, params); `image` and `mask`
are PIL images for edit/inpaint tools. Tools return a `ToolResult` with the PIL image in `.image`.
A tool signals its own failure by raising `ToolError`; the Worker records it and falls back to the
next-ranked tool. Other exceptions are bugs and propagate.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar, TypeVar

from PIL import Image
from pydantic import BaseModel, ValidationError

from limner.types import ToolCall, ToolKind, ToolResult, ToolSpec

_Options = TypeVar("_Options", bound=BaseModel)


def parse_options(model: type[_Options], tool: str, options: dict[str, Any], what: str = "") -> _Options:
    """A tool's `options:` validated into its pydantic model; a bad one is a one-line `ValueError` naming the
    tool (the registry turns it into the config error the user sees)."""
    try:
        return model.model_validate(options)
    except ValidationError as e:
        raise ValueError(f"tool {tool!r}: invalid {what + ' ' if what else ''}options: {e}") from None


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
