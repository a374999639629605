"""A sandbox painter that takes its time and counts its calls: lets a test kill a run mid-way."""

from __future__ import annotations

import time
from typing import Any

from limner.tools.sandbox.painters import Painter


class SlowPainter(Painter):
    def __init__(self, name: str, *, delay_s: float = 0.5, calls_file: str | None = None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.delay_s, self.calls_file = delay_s, calls_file

    def _run(self, call, image, mask):
        if self.calls_file:
            with open(self.calls_file, "a") as f:
                f.write(f"{self.name} {call.seed}\n")
        time.sleep(self.delay_s)
        return super()._run(call, image, mask)
