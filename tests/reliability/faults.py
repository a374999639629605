"""Fault-injecting tools: real `Tool` subclasses (sandbox painters and editors) that misbehave on demand.

Configured through the registry like any plugin backend, so the agent's real routing, time-out and fallback
path handles them (tests put `tests/` on PYTHONPATH):

    tools:
      - {name: faulty, backend: 'reliability.faults:FaultyPainter', scores: {...high...},
         options: {profile: p-alder, fault: corrupt, log: /tmp/faults.log}}

`fault` is one of FAULTS. Every injected fault appends one line `<tool> <fault> <seed>` to `log`, so a run in
another process can be counted. `times` (default: every call) limits how many calls misbehave.
"""

from __future__ import annotations

import io
import os
import time
from typing import Any

from PIL import Image

from limner.tools.base import ToolError
from limner.tools.sandbox.editors import Editor
from limner.tools.sandbox.painters import Painter
from limner.types import ToolCall, ToolResult

#: fault -> what the tool does instead of its work
FAULTS: dict[str, str] = {
    "raise": "raises ToolError (the contract for a recoverable failure)",
    "not_ok": "returns ok=False with an error",
    "hang": "sleeps past the agent's tool time-out, then answers",
    "corrupt": "returns a truncated PNG: a PIL image whose pixels cannot be decoded",
    "blank": "returns a uniform white image of the asked size",
    "tiny": "returns a 1x1 image",
    "huge": "returns a 9000x9000 image (81 MP)",
    "wrong_size": "returns a valid image of another size and aspect (300x120)",
    "palette": "returns a palette-mode (P) image with transparency",
    "non_image": "returns bytes where an image should be",
    "no_image": "returns ok=True without an image",
    "crash": "raises RuntimeError (a bug in a backend: not the ToolError contract)",
}


def _corrupt_png(w: int, h: int) -> Image.Image:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (200, 30, 30)).save(buf, format="PNG", compress_level=0)
    return Image.open(io.BytesIO(buf.getvalue()[: len(buf.getvalue()) // 3]))  # lazy: fails when decoded


class _Faulty:
    """Mixin: misbehave as `fault` says, else do the real work."""

    def _setup_fault(self, fault: str, log: str | None, times: int | None, hang_s: float) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; faults: {', '.join(FAULTS)}")
        self.fault, self.log, self.times, self.hang_s = fault, log, times, hang_s
        self.injected = 0

    def _inject(self, call: ToolCall, work: Any) -> ToolResult:
        if self.times is not None and self.injected >= self.times:
            return work()
        self.injected += 1
        if self.log:
            with open(self.log, "a", encoding="utf-8") as f:
                f.write(f"{call.tool} {self.fault} {call.seed} {os.getpid()}\n")
        name, fault = call.tool, self.fault
        w, h = call.width, call.height
        if fault == "raise":
            raise ToolError(f"injected fault in {name}")
        if fault == "crash":
            raise RuntimeError(f"injected crash in {name}")
        if fault == "not_ok":
            return ToolResult(tool=name, ok=False, error="injected: backend said no")
        if fault == "hang":
            time.sleep(self.hang_s)
            return work()
        images: dict[str, Any] = {
            "corrupt": lambda: _corrupt_png(w, h),
            "blank": lambda: Image.new("RGB", (w, h), (255, 255, 255)),
            "tiny": lambda: Image.new("RGB", (1, 1), (255, 0, 0)),
            "huge": lambda: Image.new("RGB", (9000, 9000), (250, 250, 250)),
            "wrong_size": lambda: work().image.resize((300, 120)),
            "palette": lambda: work().image.convert("RGBA").convert("P"),
            "non_image": lambda: b"\x89PNG not really",
            "no_image": lambda: None,
        }
        return ToolResult(tool=name, ok=True, image=images[fault](), meta={"injected": fault})


class FaultyPainter(_Faulty, Painter):
    """A sandbox painter that injects `fault` (see FAULTS)."""

    def __init__(self, name: str, *, fault: str = "raise", log: str | None = None, times: int | None = None,
                 hang_s: float = 2.0, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self._setup_fault(fault, log, times, hang_s)

    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        return self._inject(call, lambda: super(FaultyPainter, self)._run(call, image, mask))


class FaultyEditor(_Faulty, Editor):
    """A sandbox instruction editor that injects `fault` (see FAULTS)."""

    def __init__(self, name: str, *, fault: str = "raise", log: str | None = None, times: int | None = None,
                 hang_s: float = 2.0, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self._setup_fault(fault, log, times, hang_s)

    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        return self._inject(call, lambda: super(FaultyEditor, self)._run(call, image, mask))
