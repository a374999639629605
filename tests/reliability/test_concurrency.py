"""Concurrent writers (issue #30): processes learning into one perf store, creating runs in one output root,
and racing for one run id lose nothing and corrupt nothing."""

from __future__ import annotations

from pathlib import Path

from reliability.concurrency import concurrent_generates, perf_store_writers, same_run_twice
from reliability.scenarios import kill_config


def test_four_writer_processes_lose_no_perf_update(tmp_path: Path) -> None:
    r = perf_store_writers(tmp_path, workers=4, n=25)
    assert r["failed_writers"] == 0, r["errors"]
    assert r["recorded"] == r["updates"] == 100 and r["lost"] == 0 and r["duplicated"] == 0, r
    assert r["seeds"] == 1 and r["versions_contiguous"], r


def test_parallel_generates_share_an_output_root_and_a_perf_store(tmp_path: Path) -> None:
    r = concurrent_generates(tmp_path, ["two red apples to the left of a blue cup", "three purple clocks above a green bus"])
    assert r["failed"] == [] and r["finished"] == r["distinct_dirs"] == 2, r
    assert r["updates"] >= 2 and r["lost"] == 0 and r["duplicated"] == 0, r
    assert r["versions_contiguous"] and r["integrity"] == "ok", r


def test_a_second_process_on_the_same_run_is_refused_in_one_line(tmp_path: Path) -> None:
    r = same_run_twice(tmp_path, kill_config(tmp_path / "slow.json", tmp_path / "calls.txt", delay_s=0.4))
    assert r["second_start_refused"] and r["concurrent_resume_refused"], r["outputs"]
    assert r["first_finished"], r
