"""Run directories: the durable record of one agent run, written so that nothing is ever half-written.

    runs/<run_id>/
      manifest.json        what ran (prompt, config, versions, seed), its status and its result
      trajectory.jsonl     one typed Step per line, appended (and fsynced) as each step finishes
      images/003.png       images numbered by the step that made them
      images/003.truth.json  sandbox only: what was really drawn (for benchmarks and training data)
      final.png            the best image of the run

Every file is written to a temporary name in the same directory and renamed into place, so a crash
leaves either the old file or the new one. trajectory.jsonl is append-only; a torn last line (the
process died mid-write) is dropped on reopen. `--resume` reopens a run and the agent replays the
recorded steps instead of re-running their tools.

Run ids are validated so that no id can name a path outside the output root.

The agent loop writes through any `StepStore` (this `RunStore`, or `MemoryStore` for runs that need no
files) on a `RunWriter`: one background thread, so PNG encoding and fsyncs overlap the next tool call.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import importlib.metadata as md
import json
import os
import platform
import queue
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, Self

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from limner import __version__
from limner.files import (
    RUN_IMAGES,
    atomic_save_image,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    run_image_path,
    truth_path_of,
)
from limner.types import Step, parse_step

RunStatus = Literal["running", "done", "failed", "interrupted"]
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SECRET_KEY = re.compile(r"(api[_-]?key|token|secret|password|authorization)", re.IGNORECASE)


class RunError(RuntimeError):
    """A run directory cannot be created, opened or resumed. The message says why."""


#: The stores opened inside the innermost `settled_runs()` block (None outside one).
_OPENED: ContextVar[list[RunStore] | None] = ContextVar("limner_opened_runs", default=None)


def redact(obj: Any) -> Any:
    """Replace values of secret-looking keys, recursively: run directories never hold credentials."""
    if isinstance(obj, dict):
        return {k: ("***" if _SECRET_KEY.search(str(k)) and v else redact(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    return obj


# ----------------------------------------------------------------------------------------------------
# Manifest
# ----------------------------------------------------------------------------------------------------


class RunManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str
    kind: str = "generate"
    prompt: str
    status: RunStatus = "running"
    created_at: str
    updated_at: str
    seed: int = 0
    inputs: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict)
    steps: int = 0
    final_image: str | None = None
    summary: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    simulated: bool = Field(default=False, description="true when the images come from the sandbox world")


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


def _versions() -> dict[str, str]:
    out = {"limner": __version__, "python": platform.python_version()}
    for pkg in ("pydantic", "pillow", "numpy", "torch", "diffusers", "transformers", "pydantic-ai-slim"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[pkg] = md.version(pkg)
    return out


def new_run_id(prompt: str) -> str:
    """Sortable, readable and unique: 20261123-171500-two-red-apples-3f9a."""
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:40].strip("-") or "run"
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{slug}-{secrets.token_hex(2)}"


def run_dir_for(out_root: Path, run_id: str) -> Path:
    """The directory of `run_id` under `out_root`; refuses ids that could escape it."""
    if not _RUN_ID.match(run_id) or ".." in run_id:
        raise RunError(f"invalid run id {run_id!r}: use letters, digits, '.', '_' and '-' (no path separators)")
    root = out_root.resolve()
    path = (root / run_id).resolve()
    if path.parent != root:
        raise RunError(f"run id {run_id!r} resolves outside the output root {root}")
    return path


# ----------------------------------------------------------------------------------------------------
# The store
# ----------------------------------------------------------------------------------------------------


class RunStore:
    """One run directory. Holds an exclusive lock while open so two processes never write one run."""

    MANIFEST = "manifest.json"
    TRAJECTORY = "trajectory.jsonl"
    FINAL = "final.png"
    IMAGES = RUN_IMAGES

    def __init__(self, root: Path, manifest: RunManifest) -> None:
        self.root = root
        self.manifest = manifest
        self._lock_fd: int | None = None
        self._acquire_lock()
        opened = _OPENED.get()
        if opened is not None:
            opened.append(self)

    # -- opening ------------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        out_root: str | Path,
        *,
        prompt: str,
        run_id: str | None = None,
        kind: str = "generate",
        seed: int = 0,
        config: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        simulated: bool = False,
    ) -> RunStore:
        out_root = Path(out_root)
        try:
            out_root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunError(f"cannot create output directory {out_root}: {e.strerror or e}") from None
        if not os.access(out_root, os.W_OK):
            raise RunError(f"output directory {out_root} is not writable")
        run_id = run_id or new_run_id(prompt)
        root = run_dir_for(out_root, run_id)
        try:
            root.mkdir()
        except FileExistsError:
            raise RunError(f"run {run_id!r} already exists in {out_root}; use --resume to continue it") from None
        (root / cls.IMAGES).mkdir()
        now = _now()
        manifest = RunManifest(
            run_id=run_id, kind=kind, prompt=prompt, created_at=now, updated_at=now, seed=seed,
            inputs=inputs or {}, config=redact(config or {}), versions=_versions(), simulated=simulated,
        )
        store = cls(root, manifest)
        store._write_manifest()
        (root / cls.TRAJECTORY).touch()
        return store

    @classmethod
    def open(cls, run_dir: str | Path) -> RunStore:
        """Reopen an existing run (for --resume or inspection)."""
        root = Path(run_dir).resolve()
        mpath = root / cls.MANIFEST
        if not mpath.is_file():
            raise RunError(f"{root} is not a limner run directory (no {cls.MANIFEST})")
        # A resume truncates a torn trajectory and rewrites the manifest: through a link, that would change
        # a file outside the run. Run directories hold no links that limner made.
        links = [n for n in (cls.MANIFEST, cls.TRAJECTORY, cls.FINAL, cls.IMAGES, ".lock") if (root / n).is_symlink()]
        if links:
            raise RunError(f"run {root.name!r} holds symbolic links ({', '.join(links)}); limner does not write "
                           "through links in a run directory")
        try:
            manifest = RunManifest.model_validate_json(mpath.read_bytes())
        except ValueError as e:
            raise RunError(f"{mpath} is corrupt: {str(e).splitlines()[0]}") from None
        return cls(root, manifest)

    @classmethod
    def open_or_create(cls, out_root: str | Path, run_id: str | None, *, resume: bool, **kwargs: Any) -> RunStore:
        if resume:
            if not run_id:
                raise RunError("--resume needs --run-id (the id of the run to continue)")
            root = run_dir_for(Path(out_root), run_id)
            if cls._unborn(root):  # killed between claiming its id and writing its manifest: nothing was done
                shutil.rmtree(root)
                return cls.create(out_root, run_id=run_id, **kwargs)
            store = cls.open(root)
            prompt = kwargs.get("prompt")
            if prompt is not None and store.manifest.prompt != prompt:
                store._release_untouched()  # the run stays as it was: resumable with its own prompt
                raise RunError(f"run {run_id!r} was started with a different prompt: {store.manifest.prompt!r}")
            if store.manifest.status == "done":
                return store
            store.manifest.status = "running"
            store._write_manifest()
            return store
        return cls.create(out_root, run_id=run_id, **kwargs)

    @classmethod
    def _unborn(cls, root: Path) -> bool:
        """A run directory `create` made but did not finish (no manifest, and nothing but its empty images
        folder and lock file): the process died in between, before any step. Resuming it starts it."""
        if root.is_symlink() or not root.is_dir() or (root / cls.MANIFEST).exists():
            return False
        entries = {p.name: p for p in root.iterdir()}
        images = entries.get(cls.IMAGES)
        return set(entries) <= {cls.IMAGES, ".lock"} and (images is None or (images.is_dir() and not images.is_symlink()
                                                                            and not any(images.iterdir())))

    def _acquire_lock(self) -> None:
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunError(f"run {self.root.name!r} is open in another process") from None
        self._lock_fd = fd

    def close(self) -> None:
        """Write the manifest's latest step count and release the run."""
        if self._lock_fd is not None and self.root.exists():
            self._write_manifest()
        self._release_lock()

    def _release_untouched(self) -> None:
        """Let go of a run this process must not change (not even by `settled_runs`)."""
        opened = _OPENED.get()
        if opened is not None and self in opened:
            opened.remove(self)
        self._release_lock()

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            self.settle(exc)
        else:
            self.close()

    def settle(self, exc: BaseException) -> None:
        """Close a run that `exc` stopped: still `running` becomes `interrupted` (Ctrl-C, a cancel button)
        or `failed` (anything else, with the error), so no run outlives its process claiming to run.

        Why a method and not only `__exit__`: the CLI, the UI's worker thread and `settled_runs` end runs
        from places a `with` block cannot span; all of them settle a run the same way."""
        if self.manifest.status == "running":
            status: RunStatus = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            self.manifest.status = status
            self.manifest.error = f"{type(exc).__name__}: {exc}"[:500]
            self._write_manifest()
        self.close()

    def __del__(self) -> None:
        self._release_lock()  # no file writes from a finaliser

    # -- paths --------------------------------------------------------------------------------------

    @property
    def run_id(self) -> str:
        return self.manifest.run_id

    def path(self, rel: str) -> Path:
        """Absolute path of a file of this run; refuses anything outside the run directory."""
        p = (self.root / rel).resolve()
        if self.root not in p.parents and p != self.root:
            raise RunError(f"path {rel!r} is outside run {self.run_id!r}")
        return p

    # -- trajectory ---------------------------------------------------------------------------------

    def append_step(self, step: Step) -> None:
        """Append one step durably. A crash mid-append leaves a torn line that `completed_steps` drops.

        The manifest is not rewritten here (its step count is refreshed when the run finishes, fails or is
        closed): the trajectory is the record of progress, and one fsync per step is the cost of durability."""
        line = step.model_dump_json() + "\n"
        with open(self.root / self.TRAJECTORY, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.manifest.steps += 1

    def completed_steps(self) -> list[Step]:
        """Steps recorded so far, in order. Drops (and truncates away) a torn final line."""
        path = self.root / self.TRAJECTORY
        if not path.exists():
            return []
        data = path.read_bytes()
        steps: list[Step] = []
        good = 0
        for raw in data.splitlines(keepends=True):
            if not raw.endswith(b"\n"):
                break
            try:
                steps.append(parse_step(raw))
            except ValueError:
                break
            good += len(raw)
        if good != len(data):
            with open(path, "r+b") as f:
                f.truncate(good)
        self.manifest.steps = len(steps)
        return steps

    # -- images -------------------------------------------------------------------------------------

    @staticmethod
    def image_rel(stem: str) -> str:
        """Where `save_image(image, stem)` puts the image, relative to the run directory."""
        try:
            return run_image_path(stem)
        except ValueError as e:
            raise RunError(str(e)) from None

    def save_image(self, image: Image.Image, stem: str) -> str:
        """Save `images/<stem>.png` atomically and return its path relative to the run directory."""
        rel = self.image_rel(stem)
        atomic_save_image(self.path(rel), image)
        return rel

    def save_truth(self, truth: dict[str, Any], stem: str) -> str:
        """Sandbox ground truth beside its image (benchmarks and training data only)."""
        rel = truth_path_of(self.image_rel(stem))
        atomic_write_json(self.path(rel), truth)
        return rel

    def load_truth(self, rel: str) -> dict[str, Any] | None:
        """The ground truth saved at `rel` (`save_truth`), or None when this run has none there."""
        file = self.path(rel)
        return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else None

    def load_image(self, rel: str) -> Image.Image:
        with Image.open(self.path(rel)) as im:
            return im.convert("RGB")

    # -- manifest -----------------------------------------------------------------------------------

    def _write_manifest(self) -> None:
        self.manifest.updated_at = _now()
        atomic_write_text(self.root / self.MANIFEST, self.manifest.model_dump_json(indent=2) + "\n")

    def update(self, **fields: Any) -> None:
        for k, v in fields.items():
            setattr(self.manifest, k, v)
        self._write_manifest()

    def finish(self, final_image: str, *, status: RunStatus = "done", **summary: Any) -> Path:
        """Copy the chosen image to final.png and mark the run finished."""
        src = self.path(final_image)
        atomic_write_bytes(self.root / self.FINAL, src.read_bytes())
        self.manifest.final_image = self.FINAL
        self.manifest.status = status
        self.manifest.summary.update(summary)
        self._write_manifest()
        return self.root / self.FINAL

    def fail(self, error: str) -> None:
        self.manifest.status = "failed"
        self.manifest.error = error[:2000]
        self._write_manifest()


@contextlib.contextmanager
def settled_runs() -> Iterator[list[RunStore]]:
    """Yields the list of the runs opened inside the block; if the block raises, each of them still
    `running` is marked `interrupted` (Ctrl-C) or `failed` (anything else, with the error) and closed.

    Why: the CLI opens its run deep inside a command, and a run left `running` after the process ended
    lies about its state. The caller reads the list to name the run to resume."""
    opened: list[RunStore] = []
    token = _OPENED.set(opened)
    try:
        yield opened
    except BaseException as e:
        for store in opened:
            store.settle(e)
        raise
    finally:
        _OPENED.reset(token)


# ----------------------------------------------------------------------------------------------------
# What the agent loop writes through: any store, in memory, on a background thread
# ----------------------------------------------------------------------------------------------------


class StepStore(Protocol):
    """What the agent loop needs from a run store: `RunStore` on disk, `MemoryStore` in memory."""

    @property
    def run_id(self) -> str | None: ...

    def append_step(self, step: Step) -> None: ...

    def completed_steps(self) -> list[Step]: ...

    def save_image(self, image: Image.Image, stem: str) -> str: ...

    def save_truth(self, truth: dict[str, Any], stem: str) -> str: ...

    def load_image(self, rel: str) -> Image.Image: ...

    def load_truth(self, rel: str) -> dict[str, Any] | None: ...

    def finish(self, final_image: str, *, status: RunStatus = "done", **summary: Any) -> Any: ...


class MemoryStore:
    """The `StepStore` of runs that need no files (benchmarks, tests): steps, images and truths in dicts,
    under the same relative paths a `RunStore` would write."""

    run_id: str | None = None

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.images: dict[str, Image.Image] = {}
        self.truths: dict[str, dict[str, Any]] = {}
        self.final: str | None = None
        self.summary: dict[str, Any] = {}

    def append_step(self, step: Step) -> None:
        self.steps.append(step)

    def completed_steps(self) -> list[Step]:
        return list(self.steps)

    def save_image(self, image: Image.Image, stem: str) -> str:
        rel = RunStore.image_rel(stem)
        self.images[rel] = image
        return rel

    def save_truth(self, truth: dict[str, Any], stem: str) -> str:
        rel = truth_path_of(RunStore.image_rel(stem))
        self.truths[rel] = truth
        return rel

    def load_image(self, rel: str) -> Image.Image:
        return self.images[rel]

    def load_truth(self, rel: str) -> dict[str, Any] | None:
        return self.truths.get(rel)

    def finish(self, final_image: str, *, status: RunStatus = "done", **summary: Any) -> None:
        self.final = final_image
        self.summary = dict(summary, status=status)


class RunWriter:
    """Writes through a store on one background thread, in call order.

    PNG encoding and fsync'd appends are I/O the agent loop need not wait for: the next tool call runs while
    the last step is written. One FIFO thread keeps the write-ahead order (an image is durable before the
    step that names it), `flush()` waits for everything (before the final step is yielded, before reading
    back, and when the run stops for any reason), and a write error is raised in the loop at the next call.
    A crash loses only steps not yet written, which a resume simply does again.
    """

    def __init__(self, store: StepStore) -> None:
        self.store = store
        self._queue: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.Queue()
        self._error: BaseException | None = None
        self._reported = False  # the error was raised in the caller once; later writes are still skipped
        self.waited_s = 0.0  # time the loop spent waiting for writes (part of the orchestration overhead)
        self._thread = threading.Thread(target=self._work, name="limner-run-writer", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        self._raise()
        self._queue.put((fn, args))

    def flush(self) -> None:
        self._wait()
        self._raise()

    def close(self) -> None:
        self._wait()
        self._queue.put(None)
        self._thread.join()
        self._raise()

    def _wait(self) -> None:
        t0 = time.perf_counter()
        self._queue.join()
        self.waited_s += time.perf_counter() - t0

    def _raise(self) -> None:
        """Re-raise a write error in the caller's thread, once. The error itself stays set, so every write
        queued after the failed one is skipped too: a step must never name an image that was not saved."""
        if self._error is not None and not self._reported:
            self._reported = True
            raise self._error

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            fn, args = item
            try:
                if self._error is None:
                    fn(*args)
            except BaseException as e:  # noqa: BLE001 - handed to the loop's thread by _raise()
                self._error = e
            finally:
                self._queue.task_done()
        self._queue.task_done()
