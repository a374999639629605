"""The bad-input corpus and its runner: every case through the real command line, counted.

Cases are data (`data/`): `prompts.jsonl` (one prompt a line, with the expected outcome), `configs/*.yaml`
(the expectation in the file's first comment line), `images/` with `images.tsv` (each image is judged by
`limner check` and edited by `limner edit`), large images written at run time (`make_images.large_images`),
and `cases.jsonl` (any other command line: run ids, flags, environment, perf stores, training data, links in
run directories; `setup` names a function below that prepares the case's directory).

Each case runs in this process through typer's CliRunner, exactly as `limner.cli.main()` runs it (an
exception that escapes the app is what `main()` would print: one line for a user error, else a traceback),
or, for the large images, in a subprocess whose peak memory and time are measured. A case is **handled**
when nothing escaped as a traceback, and:

- `expect: ok`: the command finished with a result (exit 0, or 1 for a verdict that does not pass);
- `expect: error`: it exited non-zero with one clear line on stderr (`error: ...`, the last line), or a usage error;
- `expect: either`: one of the two;

and it stayed within `MAX_CASE_S` seconds (and `MAX_CASE_MB` for subprocess cases).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from limner.cli import app
from limner.cli.main import USER_ERRORS
from reliability.make_images import large_images

DATA = Path(__file__).parent / "data"
MAX_CASE_S = 60.0
MAX_CASE_MB = 1500.0
#: generate runs of the corpus: one round, no learning (bounded time, nothing shared between cases)
QUICK_ENV = {"LIMNER_PERF__LEARN": "false"}
CHECK_PROMPT = "a red apple to the left of a blue cup"
EDIT_INSTRUCTION = "make the apple green"


@dataclass
class Case:
    id: str
    kind: str
    args: list[str]
    expect: str
    note: str = ""
    setup: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    subprocess: bool = False


@dataclass
class Result:
    id: str
    kind: str
    expect: str
    note: str
    exit_code: int | None
    handled: bool
    traceback: bool
    why: str
    message: str
    seconds: float
    peak_mb: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------------------------------
# The cases
# ----------------------------------------------------------------------------------------------------


def load_cases(large_dir: Path | None = None) -> list[Case]:
    """Every case of the corpus (the large images only when `large_dir` is given: they are written there)."""
    cases: list[Case] = []
    gen = ["--out", "{tmp}/runs", "--rounds", "1"]
    for line in (DATA / "prompts.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        cases.append(Case(f"prompt:{row['id']}", "prompt", ["generate", row["prompt"], *gen], row["expect"], row["note"],
                          env=dict(QUICK_ENV)))
    for path in sorted((DATA / "configs").glob("*.yaml")):
        head = path.read_bytes().split(b"\n", 2)
        expect = head[0].decode("ascii").split(":", 1)[1].strip()
        note = head[1].decode("utf-8", "replace").split(":", 1)[1].strip() if len(head) > 1 else ""
        cases.append(Case(f"config:{path.stem}", "config", ["generate", "a cat", *gen, "--config", str(path)], expect,
                          note, env=dict(QUICK_ENV)))
    images: list[tuple[Path, str, str, bool]] = []
    for line in (DATA / "images" / "images.tsv").read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, expect, note = line.split("\t")
        images.append((DATA / "images" / name, expect, note, False))
    if large_dir is not None:
        images += [(path, expect, note, True) for path, expect, note in large_images(large_dir).values()]
    for path, expect, note, big in images:
        cases.append(Case(f"check:{path.name}", "image", ["check", str(path), "--prompt", CHECK_PROMPT], expect, note,
                          subprocess=big))
        cases.append(Case(f"edit:{path.name}", "image", ["edit", str(path), EDIT_INSTRUCTION, "--out", "{tmp}/runs"],
                          expect, note, env={**QUICK_ENV, "LIMNER_AGENT__ROUNDS": "1"}, subprocess=big))
    for line in (DATA / "cases.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        cases.append(Case(f"cli:{row['id']}", "cli", row["args"], row["expect"], row["note"], row.get("setup"),
                          {**QUICK_ENV, **row.get("env", {})}))
    return cases


# ----------------------------------------------------------------------------------------------------
# Setups: what a case's directory holds before the command runs
# ----------------------------------------------------------------------------------------------------


def _finished_run(tmp: Path) -> Path:
    res = CliRunner().invoke(app, ["generate", "a red apple", "--out", str(tmp / "runs"), "--run-id", "r1", "--rounds", "1"],
                             env=QUICK_ENV)
    assert res.exit_code == 0, res.output
    return tmp / "runs" / "r1"


def _reopened(run: Path) -> None:
    """Mark a finished run as interrupted so that `--resume` reads it again."""
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["status"] = "interrupted"
    (run / "manifest.json").write_text(json.dumps(manifest))


def _symlinked_trajectory(tmp: Path) -> None:
    run = _finished_run(tmp)
    _reopened(run)
    precious = tmp / "precious.txt"
    precious.write_text("a file of the user's that a resume must not truncate\n")
    (run / "trajectory.jsonl").unlink()
    (run / "trajectory.jsonl").symlink_to(precious)


def _symlinked_images(tmp: Path) -> None:
    run = _finished_run(tmp)
    _reopened(run)
    elsewhere = tmp / "elsewhere"
    shutil.move(run / "images", elsewhere)
    (run / "images").symlink_to(elsewhere, target_is_directory=True)


def _symlinked_run_outside(tmp: Path) -> None:
    run = _finished_run(tmp)
    _reopened(run)
    shutil.move(run, tmp / "outside")
    (tmp / "runs" / "r2").symlink_to(tmp / "outside", target_is_directory=True)


def _corrupt_manifest(tmp: Path) -> None:
    (_finished_run(tmp) / "manifest.json").write_bytes(b"\x00garbage{")


def _torn_trajectory(tmp: Path) -> None:
    run = _finished_run(tmp)
    _reopened(run)
    lines = (run / "trajectory.jsonl").read_bytes().splitlines(keepends=True)
    (run / "trajectory.jsonl").write_bytes(b"".join(lines[:3]) + lines[3][: len(lines[3]) // 2])


def _foreign_trajectory(tmp: Path) -> None:
    run = _finished_run(tmp)
    _reopened(run)
    lines = (run / "trajectory.jsonl").read_text().splitlines(keepends=True)
    (run / "trajectory.jsonl").write_text(lines[0] + lines[0])  # two analysis steps: not what the loop expects


def _unborn_run(tmp: Path) -> None:
    (tmp / "runs" / "r1" / "images").mkdir(parents=True)


def _a_file(tmp: Path) -> None:
    (tmp / "file.txt").write_text("not a directory\n")


def _readonly_dir(tmp: Path) -> None:
    (tmp / "ro").mkdir()
    (tmp / "ro").chmod(0o500)


def _huge_config(tmp: Path) -> None:
    (tmp / "huge.yaml").write_text("# padding\n" * 200_000 + "seed: 1\n")


def _corrupt_perf_store(tmp: Path) -> None:
    (tmp / "perf.sqlite").write_bytes(b"this is not a database" * 100)


def _corrupt_perf_in_runs(tmp: Path) -> None:
    (tmp / "runs").mkdir()
    (tmp / "runs" / "perf.sqlite").write_bytes(b"this is not a database" * 100)


def _bad_json(tmp: Path) -> None:
    (tmp / "bad.json").write_text('{"format": "limner.perf.store/1", "matrix": ')


def _empty_perf_store(tmp: Path) -> None:
    from limner.perf.store import PerfStore  # noqa: PLC0415 - only this setup needs it

    PerfStore(tmp / "p.sqlite").close()


def _prompts_file(tmp: Path) -> None:
    (tmp / "prompts.txt").write_text("a red apple\n")


def _apo_missing_files(tmp: Path) -> None:
    (tmp / "pairs").mkdir()
    rows = [{"prompt": "a cat", "winner": "w0.png", "loser": "l0.png", "distance": 1.0}]
    (tmp / "pairs" / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _apo_bad_jsonl(tmp: Path) -> None:
    (tmp / "pairs").mkdir()
    (tmp / "pairs" / "pairs.jsonl").write_text('{"prompt": "a cat", "winner": "w0.png"\n')


SETUPS: dict[str, Callable[[Path], Any]] = {
    "finished_run": _finished_run, "symlinked_trajectory": _symlinked_trajectory,
    "symlinked_images": _symlinked_images, "symlinked_run_outside": _symlinked_run_outside,
    "corrupt_manifest": _corrupt_manifest, "torn_trajectory": _torn_trajectory,
    "foreign_trajectory": _foreign_trajectory, "unborn_run": _unborn_run, "a_file": _a_file,
    "readonly_dir": _readonly_dir, "huge_config": _huge_config, "corrupt_perf_store": _corrupt_perf_store,
    "corrupt_perf_in_runs": _corrupt_perf_in_runs, "bad_json": _bad_json, "empty_perf_store": _empty_perf_store,
    "prompts_file": _prompts_file, "apo_missing_files": _apo_missing_files, "apo_bad_jsonl": _apo_bad_jsonl,
}


# ----------------------------------------------------------------------------------------------------
# Running a case
# ----------------------------------------------------------------------------------------------------


def _fill(args: list[str], tmp: Path) -> list[str]:
    return [a.replace("{tmp}", str(tmp)).replace("{data}", str(DATA)) for a in args]


def _message_lines(stderr: str) -> list[str]:
    """stderr without the notes a run may print before its error (skipped tools, downscaled images)."""
    return [line for line in stderr.strip().splitlines()
            if line.strip() and not line.startswith(("note:", "skipping tool"))]


def judge(case: Case, exit_code: int | None, stdout: str, stderr: str, escaped: BaseException | None,
          seconds: float, peak_mb: float | None = None) -> Result:
    """Classify one finished case (see the module doc). Pure: unit-tested on made-up outputs."""
    tb = "Traceback (most recent call last)" in stdout + stderr
    message = ""
    if escaped is not None and not isinstance(escaped, SystemExit):
        if isinstance(escaped, USER_ERRORS) and "\n" not in str(escaped):
            exit_code, message = 2, f"error: {escaped}"  # what main() prints for it
        else:
            tb = True
            message = "".join(traceback.format_exception_only(type(escaped), escaped)).strip()
    lines = _message_lines(stderr)
    if not message and lines:
        message = lines[-1]
    usage = "Usage:" in stderr or "No such command" in stderr or "No such option" in stderr
    if tb:
        handled, why = False, "traceback"
    elif seconds > MAX_CASE_S:
        handled, why = False, f"took {seconds:.0f} s"
    elif peak_mb is not None and peak_mb > MAX_CASE_MB:
        handled, why = False, f"peak memory {peak_mb:.0f} MB"
    else:
        finished = exit_code in (0, 1) and (exit_code == 0 or case.kind == "image" or bool(stdout.strip()))
        # the last line is the error (library warnings may come before it); it must be one line
        one_line = message.startswith("error:") and (not lines or lines[-1] == message)
        refused = exit_code not in (0, None) and (one_line or usage)
        if case.expect == "ok":
            handled, why = finished, "finished" if finished else f"exit {exit_code}: {message}"
        elif case.expect == "either":
            handled = finished or refused
            why = "finished" if finished else ("one-line error" if refused else f"exit {exit_code}: {message}")
        else:
            handled = refused
            why = ("usage error" if usage else "one-line error") if refused else (
                f"exit {exit_code}, expected an error" if exit_code == 0 else f"exit {exit_code} with {len(lines)} lines")
    return Result(case.id, case.kind, case.expect, case.note, exit_code, handled, tb, why, message[:300],
                  round(seconds, 3), None if peak_mb is None else round(peak_mb, 1))


def run_case(case: Case, tmp: Path) -> Result:
    """Prepare the case's directory, run it (in process, or in a subprocess) and judge it."""
    tmp.mkdir(parents=True, exist_ok=True)
    if case.setup:
        SETUPS[case.setup](tmp)
    args = _fill(case.args, tmp)
    if case.subprocess:
        return _run_subprocess(case, args)
    t0 = time.perf_counter()
    res = CliRunner().invoke(app, args, env=case.env or None)
    return judge(case, res.exit_code, res.stdout, res.stderr, res.exception, time.perf_counter() - t0)


#: Runs the command and prints its peak memory (KB) on the last line of stderr. A launcher of its own, because
#: a child's ru_maxrss counts the memory of the process it was forked from (Linux keeps the high-water mark
#: across exec): forked from this large process, every case would report this process's size.
_PEAK = ("import resource, subprocess, sys\n"
         "r = subprocess.run(sys.argv[1:], timeout=float(__import__('os').environ['LIMNER_CASE_TIMEOUT']))\n"
         "print(f'\\nPEAK_KB {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', file=sys.stderr)\n"
         "sys.exit(r.returncode)\n")


def _run_subprocess(case: Case, args: list[str]) -> Result:
    """`python -m limner.cli ARGS` with its own peak memory and a hard time limit."""
    env = {**os.environ, **case.env, "LIMNER_CASE_TIMEOUT": str(MAX_CASE_S * 2)}
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", _PEAK, sys.executable, "-m", "limner.cli", *args], env=env,
                         capture_output=True, text=True, timeout=MAX_CASE_S * 3, check=False)
    seconds = time.perf_counter() - t0
    stderr, _, peak = res.stderr.rpartition("\nPEAK_KB ")
    kb = float(peak.strip() or "nan")
    peak_mb = kb / 1024 if sys.platform != "darwin" else kb / 2**20
    return judge(case, res.returncode, res.stdout, stderr, None, seconds, peak_mb)


def run_corpus(cases: list[Case], tmp: Path, log: Callable[[str], None] | None = None) -> list[Result]:
    results = []
    for i, case in enumerate(cases):
        r = run_case(case, tmp / f"case{i:03d}")
        if log is not None and not r.handled:
            log(f"NOT HANDLED {r.id}: {r.why}: {r.message}")
        results.append(r)
    for p in tmp.rglob("*"):  # read-only directories made by setups: let the caller clean up
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o755)
    return results


def summary(results: list[Result]) -> dict[str, Any]:
    largest = [r for r in results if r.peak_mb is not None and r.expect == "ok" and r.handled]
    return {
        "tried": len(results),
        "handled": sum(r.handled for r in results),
        "tracebacks": sum(r.traceback for r in results),
        "by_kind": {k: {"tried": sum(r.kind == k for r in results),
                        "handled": sum(r.handled for r in results if r.kind == k)}
                    for k in sorted({r.kind for r in results})},
        "not_handled": [{"id": r.id, "why": r.why, "message": r.message} for r in results if not r.handled],
        "slowest_s": max((r.seconds for r in results), default=0.0),
        "largest_accepted_peak_mb": max((r.peak_mb for r in largest if r.peak_mb), default=None),
    }



