"""Crash-resume harness: kill a batch command with SIGKILL at random points, resume it, count what was lost
or done twice, and compare with an uninterrupted run.

Generic on purpose: it knows nothing of what the command does. It is given

- `command()`: the command line to (re)start the batch — start or resume, as the batch's own mechanism wants
  (e.g. `limner generate ... --run-id R` the first time, `... --resume` once the run exists);
- `done_items()`: the items the batch has durably finished so far, read from its outputs, one key per item
  *as recorded* (an item recorded twice appears twice: that is a duplicate).

`kill_resume` starts the command, waits until `done_items()` reaches the next random kill point (`kill_points`,
spread over the run; plus a random delay), sends SIGKILL, and does it again `kills` times; then it lets the
command finish. `compare` then counts items lost (in the reference run, not in the resumed one) and duplicated.
Pointed at `limner generate` today (items: trajectory steps); the same function takes `limner eval` or
`limner data` once they exist (items: the rows of their results file).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class KillRun:
    kills: int = 0  # SIGKILLs that landed on a live process
    exited_early: int = 0  # times the process finished before the kill point came
    items_at_kill: list[int] = field(default_factory=list)  # done items when each kill landed
    final_rc: int | None = None
    final_stderr: str = ""
    items: list[str] = field(default_factory=list)  # done_items() after the final, uninterrupted stretch
    seconds: float = 0.0


def kill_points(total_items: int, kills: int, rng: random.Random) -> list[int]:
    """`kills` kill points spread over a batch of `total_items` (known from an uninterrupted run): sorted item
    counts to wait for before each kill, so that kills land early, midway and late, not only at the start."""
    return sorted(rng.randrange(max(1, total_items)) for _ in range(kills))


def kill_resume(command: Callable[[], Sequence[str]], done_items: Callable[[], list[str]], *, kills: int,
                rng: random.Random, env: dict[str, str] | None = None, max_items_between: int = 2,
                max_delay_s: float = 0.3, timeout_s: float = 120.0, points: list[int] | None = None) -> KillRun:
    """Start, SIGKILL at random points `kills` times, then run to the end. See the module doc. `points`
    (`kill_points`): the item counts to kill at; without them, each kill waits for 0 to `max_items_between`
    new items."""
    out = KillRun()
    t0 = time.perf_counter()
    deadline = time.time() + timeout_s
    attempts = 0
    while out.kills < kills and attempts < kills * 3:
        attempts += 1
        before = len(done_items())
        wanted = max(before, points[out.kills]) if points else before + rng.randint(0, max_items_between)
        delay = rng.uniform(0, max_delay_s)
        proc = subprocess.Popen(list(command()), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None and len(done_items()) < wanted and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            out.kills += 1
            out.items_at_kill.append(len(done_items()))
        else:
            out.exited_early += 1
            if proc.returncode == 0:
                break  # the batch finished before this kill point: nothing left to kill
    res = subprocess.run(list(command()), env=env, capture_output=True, text=True, timeout=max(10, deadline - time.time()),
                         check=False)
    out.final_rc, out.final_stderr = res.returncode, res.stderr[-2000:]
    out.items = done_items()
    out.seconds = time.perf_counter() - t0
    return out


def compare(reference: list[str], resumed: list[str]) -> dict[str, Any]:
    """Items lost (in the reference, missing after resume), duplicated (recorded more than once after resume)
    and extra (after resume, not in the reference)."""
    counts = Counter(resumed)
    ref = set(reference)
    return {
        "items": len(reference),
        "lost": sum(1 for item in ref if item not in counts),
        "duplicated": sum(n - 1 for n in counts.values() if n > 1),
        "extra": sum(1 for item in counts if item not in ref),
    }


def env_with(paths: Sequence[str], **extra: str) -> dict[str, str]:
    """This environment with `paths` put first on PYTHONPATH (plugins for the subprocess) and `extra` set."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")]), **extra}
