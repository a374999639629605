"""The performance store: the current matrix (and router state) plus every update with its evidence, in SQLite.

Several agents (processes) learn into one file at once. Each update is one read-modify-write inside
`BEGIN IMMEDIATE`: the write lock is taken before the matrix is read, so two writers can never both read
version n and both write n+1 (the lost-update race). WAL lets readers (`limner perf show`) proceed while a
writer holds the lock, and the busy timeout makes a waiting writer retry instead of failing at once.

One `PerfStore` object per thread (sqlite3 connections are not shared across threads); open one per
process, as `limner` does.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from limner.files import atomic_write_text
from limner.perf.matrix import MatrixError, PerformanceMatrix
from limner.types import Subtask

_SCHEMA = """
CREATE TABLE IF NOT EXISTS matrices (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    matrix_json TEXT NOT NULL,
    state_json TEXT,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS updates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at REAL NOT NULL,
    kind TEXT NOT NULL,
    updater TEXT,
    run_id TEXT,
    task TEXT,
    subtask_json TEXT,
    scores_json TEXT,
    evidence_json TEXT
);
CREATE INDEX IF NOT EXISTS updates_by_name ON updates(name, id);
"""
_EXPORT_FORMAT = "limner.perf.store/1"

#: Builds a router from the stored matrix and its saved state (None the first time).
RouterFactory = Callable[[PerformanceMatrix, "Mapping[str, Any] | None"], Any]


class StoreError(RuntimeError):
    """The store file is missing, corrupt or was asked for something it does not hold."""


@dataclass(frozen=True)
class UpdateRecord:
    """One row of history: what was learned, from which run and task, with which scores."""

    id: int
    name: str
    version: int
    created_at: float
    kind: str
    updater: str | None
    run_id: str | None
    task: str | None
    scores: dict[str, float]
    evidence: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "created_at": self.created_at,
            "kind": self.kind,
            "updater": self.updater,
            "run_id": self.run_id,
            "task": self.task,
            "scores": self.scores,
            "evidence": self.evidence,
        }


class PerfStore:
    """SQLite-backed matrix + history. `path` comes from `LimnerConfig.perf_store_path`."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None)
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            _set_wal(self._conn, busy_timeout_s)
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path} is not a usable limner perf store: {e}") from None

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds the database write lock from its first statement."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")

    # -- reading -----------------------------------------------------------------------------------

    def names(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT name FROM matrices ORDER BY name")]

    def get(self, name: str = "default") -> PerformanceMatrix | None:
        row = self._conn.execute("SELECT matrix_json FROM matrices WHERE name = ?", (name,)).fetchone()
        return PerformanceMatrix.from_json(row[0]) if row else None

    def require(self, name: str = "default") -> PerformanceMatrix:
        m = self.get(name)
        if m is None:
            known = ", ".join(self.names()) or "none"
            raise StoreError(f"no matrix named {name!r} in {self.path} (matrices: {known})")
        return m

    def state(self, name: str = "default") -> dict[str, Any] | None:
        row = self._conn.execute("SELECT state_json FROM matrices WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row and row[0] else None

    def version(self, name: str = "default") -> int:
        row = self._conn.execute("SELECT version FROM matrices WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def history(self, name: str = "default", limit: int | None = None) -> list[UpdateRecord]:
        sql = "SELECT id, name, version, created_at, kind, updater, run_id, task, scores_json, evidence_json FROM updates WHERE name = ? ORDER BY id"
        rows = self._conn.execute(sql, (name,)).fetchall()
        if limit is not None:
            rows = rows[-limit:]
        return [
            UpdateRecord(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                r[7],
                json.loads(r[8] or "{}"),
                json.loads(r[9] or "{}"),
            )
            for r in rows
        ]

    def count_updates(self, name: str = "default", kind: str | None = "update") -> int:
        if kind is None:
            return int(
                self._conn.execute("SELECT COUNT(*) FROM updates WHERE name = ?", (name,)).fetchone()[0]
            )
        q = "SELECT COUNT(*) FROM updates WHERE name = ? AND kind = ?"
        return int(self._conn.execute(q, (name, kind)).fetchone()[0])

    # -- writing -----------------------------------------------------------------------------------

    def put(
        self,
        matrix: PerformanceMatrix,
        name: str = "default",
        *,
        state: Mapping[str, Any] | None = None,
        kind: str = "set",
        evidence: Mapping[str, Any] | None = None,
    ) -> int:
        """Replace the matrix (seeding, profiling, import). Recorded in history as `kind`."""
        with self._write() as c:
            version = self._version_in(c, name) + 1
            self._save_in(c, name, version, matrix, state)
            c.execute(
                "INSERT INTO updates (name, version, created_at, kind, evidence_json) VALUES (?, ?, ?, ?, ?)",
                (name, version, time.time(), kind, json.dumps(dict(evidence or {}), default=str)),
            )
        return version

    def apply_update(
        self,
        make_router: RouterFactory,
        subtask: Subtask,
        outcomes: Mapping[str, float],
        evidence: Mapping[str, Any] | None = None,
        name: str = "default",
        *,
        seed: tuple[PerformanceMatrix, Mapping[str, Any] | None] | None = None,
    ) -> int:
        """Read the matrix, let a router learn from `outcomes`, write it back and record the evidence,
        all in one `BEGIN IMMEDIATE` transaction (no lost update between processes). Returns the new version.

        `evidence` may carry `run_id` and `task`; everything in it is stored with the update. `seed`
        (matrix, learner state) is stored first, as a `seed` record, when the store has no such matrix yet:
        in the same transaction, so two first runs cannot both seed and one overwrite the other's update.
        """
        evidence = dict(evidence or {})
        with self._write() as c:
            if seed is not None and self._version_in(c, name) == 0:
                self._save_in(c, name, 1, seed[0], seed[1])
                c.execute(
                    "INSERT INTO updates (name, version, created_at, kind, evidence_json) VALUES (?, 1, ?, 'seed', ?)",
                    (name, time.time(), json.dumps({"run_id": evidence.get("run_id")}, default=str)),
                )
            row = c.execute(
                "SELECT version, matrix_json, state_json FROM matrices WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                raise StoreError(
                    f"no matrix named {name!r} in {self.path}; seed one first (limner perf import/profile)"
                )
            version, mjson, sjson = row
            router = make_router(PerformanceMatrix.from_json(mjson), json.loads(sjson) if sjson else None)
            router.update(subtask, dict(outcomes), evidence)
            self._save_in(c, name, version + 1, router.matrix, router.state_dict())
            c.execute(
                "INSERT INTO updates (name, version, created_at, kind, updater, run_id, task, subtask_json, scores_json, evidence_json)"
                " VALUES (?, ?, ?, 'update', ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    version + 1,
                    time.time(),
                    router.state_dict().get("updater"),
                    evidence.get("run_id"),
                    evidence.get("task", subtask.id),
                    subtask.model_dump_json(),
                    json.dumps(dict(outcomes)),
                    json.dumps(evidence, default=str),
                ),
            )
        return version + 1

    @staticmethod
    def _version_in(c: sqlite3.Connection, name: str) -> int:
        row = c.execute("SELECT version FROM matrices WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def _save_in(
        c: sqlite3.Connection,
        name: str,
        version: int,
        matrix: PerformanceMatrix,
        state: Mapping[str, Any] | None,
    ) -> None:
        c.execute(
            "INSERT INTO matrices (name, version, matrix_json, state_json, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET version = excluded.version, matrix_json = excluded.matrix_json,"
            " state_json = excluded.state_json, updated_at = excluded.updated_at",
            (
                name,
                version,
                matrix.to_json(),
                json.dumps(dict(state)) if state is not None else None,
                time.time(),
            ),
        )

    # -- export / import ---------------------------------------------------------------------------

    def export_dict(self, name: str = "default", with_history: bool = True) -> dict[str, Any]:
        return {
            "format": _EXPORT_FORMAT,
            "name": name,
            "version": self.version(name),
            "matrix": self.require(name).to_dict(),
            "state": self.state(name),
            "history": [r.to_dict() for r in self.history(name)] if with_history else [],
        }

    def export_json(self, path: str | Path, name: str = "default", with_history: bool = True) -> None:
        atomic_write_text(Path(path), json.dumps(self.export_dict(name, with_history), indent=1))

    def import_json(self, path: str | Path, name: str | None = None) -> int:
        """Load a matrix from an export (or a bare matrix JSON) as the current matrix; history is appended
        as one `import` record (imported history rows stay in the file, not re-applied)."""
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except OSError as e:
            raise StoreError(f"cannot read {p}: {e.strerror or e}") from None
        except json.JSONDecodeError as e:
            raise StoreError(f"{p} is corrupt JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
        if isinstance(data, dict) and data.get("format") == _EXPORT_FORMAT:
            matrix = PerformanceMatrix.from_dict(data.get("matrix"))
            state, target = data.get("state"), name or data.get("name", "default")
        else:
            try:
                matrix = PerformanceMatrix.from_dict(data)
            except MatrixError as e:
                raise StoreError(f"{p}: {e}") from None
            state, target = None, name or "default"
        return self.put(matrix, target, state=state, kind="import", evidence={"file": str(p)})


def _set_wal(conn: sqlite3.Connection, timeout_s: float) -> None:
    """Switch to WAL, retrying while another process holds the lock.

    Changing the journal mode of a new database needs an exclusive lock that SQLite's busy handler does not
    wait for: two runs creating one store at once got "database is locked" at once (a run marked failed,
    tests/reliability/test_concurrency.py under load). Retried up to the busy timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)
