"""Sandbox painters for the evaluation harness's tests: one logs every call (prompt and seed) and can take its
time, so a test can kill a run mid-way and count what was drawn twice; one fails on chosen prompts."""

from __future__ import annotations

import time
from typing import Any

from limner.tools.base import ToolError
from limner.tools.sandbox.painters import Painter


class LoggingPainter(Painter):
    def __init__(self, name: str, *, delay_s: float = 0.0, calls_file: str | None = None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.delay_s, self.calls_file = delay_s, calls_file

    def _run(self, call, image, mask):
        if self.delay_s:
            time.sleep(self.delay_s)
        result = super()._run(call, image, mask)
        if self.calls_file:
            with open(self.calls_file, "a") as f:
                f.write(f"{call.prompt}\t{call.seed}\n")
        return result


class FailingPainter(Painter):
    """Raises a ToolError for prompts that contain `fail_on`."""

    def __init__(self, name: str, *, fail_on: str = "clock", **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.fail_on = fail_on

    def _run(self, call, image, mask):
        if self.fail_on in (call.prompt or ""):
            raise ToolError(f"{self.name}: simulated crash on {call.prompt!r}")
        return super()._run(call, image, mask)
