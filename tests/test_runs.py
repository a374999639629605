from __future__ import annotations

import json
import multiprocessing as mp
import os
from pathlib import Path

import pytest
from PIL import Image

from limner.files import atomic_write_bytes
from limner.runs import MemoryStore, RunError, RunStore, RunWriter, redact, run_dir_for, settled_runs
from limner.types import FinalStep, ReflectionStep


def test_create_writes_manifest_and_refuses_duplicates(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path, prompt="a cat", run_id="r1", seed=3, config={"brain": {"api_key": "sk-1"}})
    m = json.loads((tmp_path / "r1" / "manifest.json").read_text())
    assert m["status"] == "running" and m["seed"] == 3 and m["config"]["brain"]["api_key"] == "***"
    assert (tmp_path / "r1" / "trajectory.jsonl").exists()
    store.close()
    with pytest.raises(RunError, match="already exists"):
        RunStore.create(tmp_path, prompt="a cat", run_id="r1")


@pytest.mark.parametrize("bad", ["../evil", "a/b", "..", "", "/abs", ".hidden", "x" * 200])
def test_run_ids_cannot_escape_the_root(tmp_path: Path, bad: str) -> None:
    with pytest.raises(RunError):
        run_dir_for(tmp_path, bad)


def test_paths_inside_the_run_only(tmp_path: Path) -> None:
    with RunStore.create(tmp_path, prompt="p", run_id="r") as store:
        with pytest.raises(RunError):
            store.path("../other/file")
        with pytest.raises(RunError):
            store.save_image(Image.new("RGB", (2, 2)), "../x")


def test_steps_images_and_finish(tmp_path: Path) -> None:
    with RunStore.create(tmp_path, prompt="p", run_id="r") as store:
        rel = store.save_image(Image.new("RGB", (8, 8), "red"), "002")
        store.save_truth({"objects": [{"cls": "apple"}]}, "002")
        store.append_step(ReflectionStep(index=0, reasoning="x"))
        store.append_step(FinalStep(index=1, image_path=rel, score=1.0, passed=True))
        final = store.finish(rel, score=1.0)
        assert final.read_bytes() == (tmp_path / "r" / rel).read_bytes()
    reopened = RunStore.open(tmp_path / "r")
    assert reopened.manifest.status == "done" and reopened.manifest.steps == 2
    assert [s.type for s in reopened.completed_steps()] == ["reflection", "final"]
    assert json.loads((tmp_path / "r/images/002.truth.json").read_text())["objects"][0]["cls"] == "apple"
    assert reopened.load_truth("images/002.truth.json") == {"objects": [{"cls": "apple"}]}
    assert reopened.load_truth("images/003.truth.json") is None


def test_torn_last_line_is_dropped_on_resume(tmp_path: Path) -> None:
    with RunStore.create(tmp_path, prompt="p", run_id="r") as store:
        store.append_step(ReflectionStep(index=0, reasoning="kept"))
    with open(tmp_path / "r" / "trajectory.jsonl", "a") as f:
        f.write('{"type": "reflection", "index": 1, "reas')  # killed mid-write
    store = RunStore.open(tmp_path / "r")
    assert [s.reasoning for s in store.completed_steps()] == ["kept"]
    store.append_step(ReflectionStep(index=1, reasoning="next"))
    assert [s.reasoning for s in store.completed_steps()] == ["kept", "next"]


def test_one_process_per_run(tmp_path: Path) -> None:
    with RunStore.create(tmp_path, prompt="p", run_id="r"), pytest.raises(RunError, match="open in another process"):
        RunStore.open(tmp_path / "r")
    RunStore.open(tmp_path / "r").close()


def test_failure_is_recorded(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), RunStore.create(tmp_path, prompt="p", run_id="r"):
        raise RuntimeError("tool exploded")
    m = RunStore.open(tmp_path / "r").manifest
    assert m.status == "failed" and "tool exploded" in m.error


def test_corrupt_manifest_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "manifest.json").write_text("{not json")
    with pytest.raises(RunError, match="corrupt"):
        RunStore.open(tmp_path / "r")


def _write_forever(path: str) -> None:  # pragma: no cover - runs in a child process
    big_a, big_b = b"A" * 2_000_000, b"B" * 2_000_000
    i = 0
    while True:
        atomic_write_bytes(Path(path), big_a if i % 2 else big_b)
        i += 1


def test_atomic_write_never_shows_a_torn_file(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"B" * 2_000_000)
    proc = mp.get_context("spawn").Process(target=_write_forever, args=(str(target),))
    proc.start()
    try:
        for _ in range(200):
            data = target.read_bytes()
            assert data in (b"A" * 2_000_000, b"B" * 2_000_000)
    finally:
        proc.kill()
        proc.join()
    leftovers = [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    assert len(leftovers) <= 1  # at most the temp file of the write that was killed


def test_redact_nested() -> None:
    assert redact({"a": [{"token": "t", "x": 1}], "OPENAI_API_KEY": "k", "api_key_env": "OPENAI_API_KEY"}) == {
        "a": [{"token": "***", "x": 1}], "OPENAI_API_KEY": "***", "api_key_env": "***",
    }


@pytest.mark.parametrize("on_disk", [True, False])
def test_the_writer_writes_in_call_order_and_flush_waits(tmp_path: Path, on_disk: bool) -> None:
    store = RunStore.create(tmp_path, prompt="p", run_id="r") if on_disk else MemoryStore()
    writer = RunWriter(store)
    for i in range(20):
        writer.submit(store.append_step, ReflectionStep(index=i, reasoning=str(i)))
    writer.submit(store.save_truth, {"n": 1}, "000")
    writer.flush()
    assert [s.index for s in store.completed_steps()] == list(range(20))
    assert store.load_truth("images/000.truth.json") == {"n": 1}
    writer.close()
    assert writer.waited_s >= 0.0
    if isinstance(store, RunStore):
        store.close()


def test_a_write_error_is_raised_in_the_caller_and_later_writes_are_skipped() -> None:
    store = MemoryStore()
    writer = RunWriter(store)

    def full_disk(step: ReflectionStep) -> None:
        raise OSError("no space left on device")

    writer.submit(full_disk, ReflectionStep(index=0))
    writer.submit(store.append_step, ReflectionStep(index=1))
    with pytest.raises(OSError, match="no space"):
        writer.flush()
    assert store.steps == []  # nothing after the failed write was written out of order
    writer.submit(store.append_step, ReflectionStep(index=2))  # queued after the error was reported
    writer.close()
    assert store.steps == []  # still skipped: a later step could name an image that was never saved


@pytest.mark.parametrize(("error", "status"), [(KeyboardInterrupt, "interrupted"), (ValueError, "failed")])
def test_settled_runs_never_leaves_a_run_running(tmp_path: Path, error: type[BaseException], status: str) -> None:
    with pytest.raises(error), settled_runs() as opened:
        RunStore.create(tmp_path, prompt="a cat", run_id="r1")
        raise error("stop")
    assert [s.run_id for s in opened] == ["r1"]
    m = json.loads((tmp_path / "r1" / "manifest.json").read_text())
    assert m["status"] == status and m["error"] == f"{error.__name__}: stop"
    RunStore.open(tmp_path / "r1").close()  # the lock was released


@pytest.mark.parametrize(("error", "status"), [(KeyboardInterrupt("cancelled"), "interrupted"),
                                             (OSError("disk full"), "failed")])
def test_settle_marks_a_stopped_run_and_releases_it(tmp_path: Path, error: BaseException, status: str) -> None:
    """The UI's worker thread ends runs outside any `with` block: it must leave the same record as Ctrl-C."""
    store = RunStore.create(tmp_path, prompt="a cat", run_id="r1")
    store.settle(error)
    m = json.loads((tmp_path / "r1" / "manifest.json").read_text())
    assert m["status"] == status and m["error"] == f"{type(error).__name__}: {error}"
    RunStore.open(tmp_path / "r1").close()


def test_settled_runs_leaves_a_finished_run_as_it_is(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), settled_runs():
        store = RunStore.create(tmp_path, prompt="a cat", run_id="r1")
        store.save_image(Image.new("RGB", (8, 8)), "000")
        store.finish("images/000.png")
        raise KeyboardInterrupt
    assert json.loads((tmp_path / "r1" / "manifest.json").read_text())["status"] == "done"


def test_resume_with_another_prompt_leaves_the_run_untouched(tmp_path: Path) -> None:
    RunStore.create(tmp_path, prompt="a cat", run_id="r1").update(status="interrupted")
    before = (tmp_path / "r1" / "manifest.json").read_text()
    with pytest.raises(RunError, match="different prompt"), settled_runs():
        RunStore.open_or_create(tmp_path, "r1", resume=True, prompt="a dog")
    assert (tmp_path / "r1" / "manifest.json").read_text() == before
    RunStore.open_or_create(tmp_path, "r1", resume=True, prompt="a cat").close()
