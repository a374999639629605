"""Crash-resume (issue #30): `limner generate` SIGKILLed at random points and resumed loses no step, records
none twice, and ends exactly as an uninterrupted run with the same seed."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from limner.runs import RunStore
from reliability.killer import compare
from reliability.scenarios import data_kill_resume, eval_kill_resume, generate_kill_resume


def test_generate_killed_twice_resumes_to_the_same_result(tmp_path: Path) -> None:
    r = generate_kill_resume(tmp_path, kills=2, seed=1, rng=random.Random(1))
    assert r["reference_rc"] == 0 and r["final_rc"] == 0, r
    assert r["kills"] + r["exited_early"] >= 1 and r["kills"] >= 1, r
    assert r["lost"] == 0 and r["duplicated"] == 0 and r["extra"] == 0, r
    assert r["indices_contiguous"] and r["final_identical"], r


def test_compare_counts_lost_duplicated_and_extra() -> None:
    assert compare(["a", "b", "c"], ["a", "b", "c"]) == {"items": 3, "lost": 0, "duplicated": 0, "extra": 0}
    assert compare(["a", "b", "c"], ["a", "a", "x"]) == {"items": 3, "lost": 2, "duplicated": 1, "extra": 1}


def test_a_run_killed_while_being_created_is_started_by_resume(tmp_path: Path) -> None:
    (tmp_path / "runs" / "r1" / "images").mkdir(parents=True)  # mkdir done, manifest never written
    store = RunStore.open_or_create(tmp_path / "runs", "r1", resume=True, prompt="a cat")
    assert store.manifest.status == "running" and (tmp_path / "runs" / "r1" / "manifest.json").is_file()
    store.close()
    (tmp_path / "runs" / "r2").mkdir()
    (tmp_path / "runs" / "r2" / "notes.txt").write_text("the user's")  # not an unborn run: left alone
    try:
        RunStore.open_or_create(tmp_path / "runs", "r2", resume=True, prompt="a cat")
    except Exception as e:  # noqa: BLE001
        assert "not a limner run directory" in str(e)
    assert (tmp_path / "runs" / "r2" / "notes.txt").read_text() == "the user's"


def test_an_eval_batch_killed_twice_resumes_losing_and_doubling_nothing(tmp_path: Path) -> None:
    r = eval_kill_resume(tmp_path, kills=2, rng=random.Random(3), prompts=6)
    assert r["reference_rc"] == 0 and r["final_rc"] == 0 and r["kills"] >= 1
    assert (r["items"], r["lost"], r["duplicated"], r["extra"]) == (6, 0, 0, 0)
    assert r["identical"]
    assert r["painter_calls"]["redone"] <= r["kills"]  # at most the image in flight at each kill


@pytest.mark.slow
def test_a_data_build_killed_twice_resumes_to_the_same_dataset(tmp_path: Path) -> None:
    """`limner data clusters` SIGKILLed mid-build: the same command finishes it, nothing lost or written twice."""
    r = data_kill_resume(tmp_path, kills=2, rng=random.Random(5), prompts=4)
    assert r["reference_rc"] == 0 and r["final_rc"] == 0 and r["kills"] >= 1, r
    assert (r["items"], r["lost"], r["duplicated"], r["extra"]) == (4, 0, 0, 0), r
    assert r["identical"], r
