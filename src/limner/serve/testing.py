"""Test and benchmark helpers for serving: a sandbox painter that takes its time (sleep-bound, not CPU-bound).

`SlowPainter` is the sandbox painter it names (`profile`) plus a sleep per call, so a benchmark of replicas
measures waiting, not the machine's cores. It is SIMULATED like every sandbox tool; configure it as
`backend: limner.serve.testing:SlowPainter`. `spawn_server` starts `limner serve` as a child process (a
replica that a test can kill).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from limner.tools.sandbox import Painter
from limner.types import ToolCall, ToolResult

__all__ = ["ServerProcess", "SlowPainter", "free_port", "spawn_server", "wait_ready"]


class SlowPainter(Painter):
    """Sandbox painter that sleeps `delay_s` per call before drawing (simulated; for tests and benchmarks)."""

    def __init__(self, name: str, *, delay_s: float = 0.5, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.delay_s = delay_s

    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        time.sleep(self.delay_s)
        return super()._run(call, image, mask)


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """A `limner serve` child process (a replica a test or benchmark can kill)."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def kill(self) -> None:
        """SIGKILL: the replica dies mid-call, as a crashed host would."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def spawn_server(tool: str, config: str | Path, *, args: list[str] | None = None, log_dir: str | Path | None = None,
                 env: dict[str, str] | None = None) -> ServerProcess:
    """Start `limner serve TOOL --config CONFIG` on a free 127.0.0.1 port in a child process (not waiting)."""
    port = free_port()
    log = Path(log_dir or tempfile.gettempdir()) / f"limner-serve-{tool}-{port}.log"
    cmd = [sys.executable, "-m", "limner.cli", "serve", tool, "--config", str(config), "--port", str(port),
           *(args or [])]
    child_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    with open(log, "wb") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=child_env)
    return ServerProcess(proc, f"http://127.0.0.1:{port}", log)


def wait_ready(servers: list[ServerProcess], timeout_s: float = 60.0, token: str | None = None) -> None:
    """Wait until every server's `/ready` answers 200; raise with its log's tail if one dies or is late."""
    deadline = time.monotonic() + timeout_s
    pending = list(servers)
    while pending:
        for s in list(pending):
            if s.proc.poll() is not None:
                raise RuntimeError(f"server {s.url} exited ({s.proc.returncode}): {s.log.read_text()[-2000:]}")
            req = urllib.request.Request(f"{s.url}/ready",
                                         headers={"Authorization": f"Bearer {token}"} if token else {})
            try:
                with urllib.request.urlopen(req, timeout=1):
                    pending.remove(s)
            except (urllib.error.URLError, OSError):
                pass
        if pending and time.monotonic() > deadline:
            raise RuntimeError(f"servers not ready in {timeout_s:g} s: {[s.url for s in pending]}")
        if pending:
            time.sleep(0.1)
