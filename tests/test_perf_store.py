"""Perf store: round trips, evidence in history, export/import, concurrent writers without lost updates, CLI."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from limner.cli.perf import app
from limner.perf.matrix import PerformanceMatrix
from limner.perf.options import RouterOptions
from limner.perf.store import PerfStore, StoreError
from limner.perf.update import BayesRouter, router_factory
from limner.types import Subtask

TOOLS = ["a", "b", "c", "d"]


def seed_matrix() -> PerformanceMatrix:
    return PerformanceMatrix(
        ["color", "numeracy"], TOOLS, [[0.2, 0.4, 0.6, 0.8], [0.8, 0.6, 0.4, 0.2]], [["published"] * 4] * 2
    )


def bayes(matrix: PerformanceMatrix, state: dict[str, Any] | None) -> BayesRouter:
    r = BayesRouter(matrix)
    if state:
        r.load_state_dict(state)
    return r


def sub(i: int = 0, **w: float) -> Subtask:
    return Subtask(id=f"s{i}", kind="generate", instruction="x", weights=w or {"color": 1.0})


def test_put_get_and_update_with_evidence(tmp_path: Path) -> None:
    with PerfStore(tmp_path / "p.sqlite") as s:
        assert s.get() is None
        assert s.put(seed_matrix(), kind="seed") == 1
        assert s.require() == seed_matrix()
        v = s.apply_update(bayes, sub(), {"a": 0.9, "b": 0.1}, {"run_id": "r1", "task": "t1", "note": "hi"})
        assert v == 2 and s.version() == 2
        last = s.history()[-1]
        assert (last.kind, last.updater, last.run_id, last.task) == ("update", "bayes", "r1", "t1")
        assert last.scores == {"a": 0.9, "b": 0.1} and last.evidence["note"] == "hi"
        m = s.require()
        assert m.source("a", "color") == "bayes" and m.get("a", "color") > 0.2
        assert s.state()["updater"] == "bayes"
        with pytest.raises(StoreError, match="no matrix named 'other'"):
            s.require("other")
        with pytest.raises(StoreError, match="seed one first"):
            s.apply_update(bayes, sub(), {"a": 1.0}, name="other")


def test_failed_update_rolls_back(tmp_path: Path) -> None:
    with PerfStore(tmp_path / "p.sqlite") as s:
        s.put(seed_matrix())
        with pytest.raises(Exception, match="finite"):
            s.apply_update(bayes, sub(), {"a": float("nan")})
        assert s.version() == 1 and s.count_updates() == 0


def test_export_import_round_trip(tmp_path: Path) -> None:
    with PerfStore(tmp_path / "p.sqlite") as s:
        s.put(seed_matrix())
        s.apply_update(bayes, sub(), {"a": 0.9, "c": 0.3})
        s.export_json(tmp_path / "e.json")
        exported = s.require()
    with PerfStore(tmp_path / "q.sqlite") as q:
        assert q.import_json(tmp_path / "e.json") == 1
        assert q.require() == exported
        assert q.state()["updater"] == "bayes"
        assert q.history()[-1].kind == "import"
        # a bare matrix JSON imports too
        (tmp_path / "m.json").write_text(seed_matrix().to_json())
        q.import_json(tmp_path / "m.json", name="bare")
        assert q.require("bare") == seed_matrix()
        (tmp_path / "bad.json").write_text("{oops")
        with pytest.raises(StoreError, match="corrupt JSON"):
            q.import_json(tmp_path / "bad.json")
        (tmp_path / "wrong.json").write_text(json.dumps({"format": "nope"}))
        with pytest.raises(StoreError, match="not a limner matrix"):
            q.import_json(tmp_path / "wrong.json")


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.sqlite"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a usable"):
        PerfStore(bad)


def _writer(path: str, worker: int, n: int, seeding: bool = False) -> None:
    rng = np.random.default_rng(worker)
    with PerfStore(path) as s:
        for i in range(n):
            chosen = list(rng.choice(TOOLS, size=2, replace=False))
            s.apply_update(
                bayes,
                sub(i, color=float(rng.random()) + 0.01, numeracy=0.5),
                {t: float(rng.random()) for t in chosen},
                {"run_id": f"w{worker}-{i}"},
                seed=(seed_matrix(), None) if seeding else None,
            )


def _run_writers(path: str, workers: int, n: int, seeding: bool = False) -> None:
    """`workers` processes, each making `n` updates to the store at `path` at once; all must succeed."""
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(path, w, n, seeding)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert all(p.exitcode == 0 for p in procs)


def test_first_runs_seeding_an_empty_store_together_seed_it_once(tmp_path: Path) -> None:
    """Four first runs on an empty store: one seed record, and no update overwritten by a late seed."""
    path = str(tmp_path / "p.sqlite")
    PerfStore(path).close()
    _run_writers(path, 4, 10, seeding=True)
    with PerfStore(path) as s:
        assert s.count_updates(kind="seed") == 1 and s.count_updates() == 40 and s.version() == 41


def test_four_processes_lose_no_update(tmp_path: Path) -> None:
    path = str(tmp_path / "p.sqlite")
    with PerfStore(path) as s:
        s.put(seed_matrix())
    _run_writers(path, 4, 50)
    with PerfStore(path) as s:
        assert s.count_updates() == 200 and s.version() == 201
        history = [r for r in s.history() if r.kind == "update"]
        assert sorted(r.version for r in history) == list(range(2, 202))
        assert len({r.run_id for r in history}) == 200
        # replaying the recorded updates in commit order reproduces the stored matrix exactly
        replay = bayes(seed_matrix(), None)
        for r in history:
            row = s._conn.execute("SELECT subtask_json FROM updates WHERE id = ?", (r.id,)).fetchone()
            replay.update(Subtask.model_validate_json(row[0]), r.scores, r.evidence)
        np.testing.assert_allclose(replay.matrix.values, s.require().values, atol=1e-12)


def test_cli_seed_show_history_export_import(tmp_path: Path) -> None:
    runner = CliRunner()
    store = str(tmp_path / "p.sqlite")
    res = runner.invoke(app, ["seed", "generate", "--store", store, "--models", "sdxl,sd3-medium"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["show", "--store", store, "--heatmap", str(tmp_path / "h.png")])
    assert res.exit_code == 0 and "sdxl" in res.output and (tmp_path / "h.png").stat().st_size > 1000
    assert runner.invoke(app, ["history", "--store", store]).exit_code == 0
    assert runner.invoke(app, ["export", str(tmp_path / "e.json"), "--store", store]).exit_code == 0
    res = runner.invoke(app, ["import", str(tmp_path / "e.json"), "--store", str(tmp_path / "q.sqlite")])
    assert res.exit_code == 0
    # user mistakes: one line, exit 2
    assert runner.invoke(app, ["show", "--store", str(tmp_path / "none.sqlite")]).exit_code == 2
    assert runner.invoke(app, ["seed", "paint", "--store", store]).exit_code == 2
    (tmp_path / "bad.json").write_text("{")
    res = runner.invoke(app, ["import", str(tmp_path / "bad.json"), "--store", store])
    assert res.exit_code == 2 and "corrupt" in res.output


def test_router_factory_resumes_its_own_state_and_ignores_another_updaters(tmp_path: Path) -> None:
    with PerfStore(tmp_path / "p.sqlite") as s:
        s.put(seed_matrix())
        s.apply_update(router_factory("bayes"), sub(), {"a": 0.9, "b": 0.2})
        s.apply_update(router_factory("bayes"), sub(), {"a": 0.9, "b": 0.2})
        assert s.history()[-1].updater == "bayes"
        assert s.state()["obs"][0][0] == 2.0  # the second update resumed the first one's posterior
        before = s.require().normalized()
        s.apply_update(router_factory("apu"), sub(), {"a": 0.1, "b": 0.9})
        assert s.state() == {"updater": "apu", "eta": 0.13, "steps": 1}
        m = s.require()  # APU works on Normalize(M): the stored Bayesian means, normalised, then moved
        assert m.source("b", "color") == "apu" and m.source("c", "color") == "published"
        assert m.values[0, 0] < before[0, 0] and m.values[0, 1] - m.values[0, 0] > before[0, 1] - before[0, 0]


def test_family_state_survives_the_rebuild_per_update(tmp_path: Path) -> None:
    families = {"a": "f", "b": "f", "c": "f"}
    factory = router_factory("bayes", RouterOptions(families=families))
    memory = BayesRouter(seed_matrix(), RouterOptions(families=families))  # the same updates without the store
    with PerfStore(tmp_path / "p.sqlite") as s:
        s.put(seed_matrix())
        for i in range(3):
            outcomes = {"a": 0.9, "d": 0.1}
            s.apply_update(factory, sub(i), outcomes)
            memory.update(sub(i), outcomes, {})
        state = s.state()
        assert state["families"]["f"]["members"] == ["a", "b", "c"]
        np.testing.assert_allclose(s.require().values, memory.matrix.values, atol=1e-12)
        np.testing.assert_allclose(state["families"]["f"]["cov"], memory.skill.family_cov_state["f"], atol=1e-12)


def test_cli_profiles_generators_and_editors_on_the_sandbox(tmp_path: Path) -> None:
    runner = CliRunner()
    store = str(tmp_path / "p.sqlite")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("two red apples to the left of a blue cup\n")
    res = runner.invoke(app, ["profile", "--tools", "birch", "--prompts", str(prompts), "--store", store,
                              "--name", "generate"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["profile", "--tools", "fern,gorse", "--painters", "birch", "--prompts", str(prompts),
                              "--store", store, "--name", "edit"])
    assert res.exit_code == 0, res.output
    assert "repairs to make" in res.output
    with PerfStore(store) as s:
        edit = s.require("edit")
    assert edit.tools == ["fern", "gorse"] and any(edit.source("fern", d) == "profiled" for d in edit.dims)
    res = runner.invoke(app, ["profile", "--tools", "fern", "--prompts", str(prompts), "--store", store])
    assert res.exit_code == 2 and "--painters" in res.output
