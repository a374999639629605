"""PASM: the performance matrix M (dimensions × tools) and the routing score S = W_task · Normalize(M)ᵀ.

PerfGuard replaces "what a tool can do" in prose by a number per skill dimension and tool. A subtask
weighs the dimensions it needs (`W_task`), every tool gets the weighted sum of its per-dimension scores
after each dimension has been normalised across tools (min-max), and the Worker tries the best first.

Every cell remembers where its number came from (`published` benchmark table, own `profiled` run, `apu`
or `bayes` update, or an uninformative `prior` for a tool nobody has measured yet), so the heatmap and
history can say how much of the matrix is measured rather than assumed.

Values are kept on a 0–1 scale: published tables are rescaled linearly by the benchmark's nominal scale
(ImgEdit-Bench 1–5 → (v−1)/4; T2I-CompBench is already 0–1), so that profiled and learned cells, which
are evaluator scores in [0, 1], sit on the same scale. The ranking itself only sees min-max normalised
columns, so this rescaling never changes a PASM ranking.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from limner.types import EDIT_DIMS, GEN_DIMS, ROUTED_DIMS

CellSource = Literal["published", "profiled", "apu", "bayes", "prior"]
CELL_SOURCES: tuple[str, ...] = get_args(CellSource)

#: Scores are rounded to this many decimals before ranking, so float noise never decides a tie.
_TIE_DECIMALS = 12
_FORMAT = "limner.perf.matrix/1"

#: Default benchmark versions for `from_published` (the README caveat: versions never mix).
DEFAULT_GENERATOR_VERSION = "T2I-CompBench++ (TPAMI 2025, 8 categories)"
DEFAULT_EDITOR_VERSION = "ImgEdit-Bench basic suite (GPT-4.1 judge)"
PUBLISHED_SCORES_RESOURCE = "published_scores.csv"


class MatrixError(ValueError):
    """A matrix operation got input it cannot use (unknown tool or dimension, bad file). Human-readable."""


def normalize_rows(values: np.ndarray) -> np.ndarray:
    """Min-max normalise each row (dimension) across columns (tools) to [0, 1].

    A row where every tool has the same value carries no information for ranking; it becomes 0.5
    everywhere rather than dividing by zero.
    """
    values = np.asarray(values, dtype=float)
    lo = values.min(axis=1, keepdims=True)
    hi = values.max(axis=1, keepdims=True)
    span = hi - lo
    out = np.full_like(values, 0.5)
    np.divide(values - lo, span, out=out, where=span > 0)
    return out


class PerformanceMatrix:
    """M ∈ R^{d×l}: one row per performance dimension, one column per tool, each cell with its source."""

    def __init__(
        self,
        dims: Sequence[str],
        tools: Sequence[str],
        values: np.ndarray | Sequence[Sequence[float]],
        sources: Sequence[Sequence[str]] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        self.dims: list[str] = list(dims)
        self.tools: list[str] = list(tools)
        _check_names(self.dims, self.tools)
        arr = np.array(values, dtype=float)
        if arr.shape != (len(self.dims), len(self.tools)):
            raise MatrixError(
                f"values have shape {arr.shape}, expected {(len(self.dims), len(self.tools))} (dims × tools)"
            )
        if not np.all(np.isfinite(arr)):
            raise MatrixError("matrix values must be finite numbers (no NaN/inf)")
        self.values = arr
        if sources is None:
            src = np.full(arr.shape, "prior", dtype=object)
        else:
            src = np.array(sources, dtype=object)
            if src.shape != arr.shape:
                raise MatrixError(f"sources have shape {src.shape}, expected {arr.shape}")
            bad = sorted({str(s) for s in src.ravel() if s not in CELL_SOURCES})
            if bad:
                raise MatrixError(f"unknown cell sources {bad}; expected some of {list(CELL_SOURCES)}")
        self.sources = src
        self.meta: dict[str, Any] = dict(meta or {})
        self._index_of: dict[str, int] | None = None

    # ------------------------------------------------------------------------------------------------
    # Construction
    # ------------------------------------------------------------------------------------------------

    @classmethod
    def empty(cls, dims: Sequence[str] = GEN_DIMS) -> PerformanceMatrix:
        return cls(dims, [], np.zeros((len(dims), 0)))

    @classmethod
    def from_published(
        cls,
        kind: Literal["generate", "edit"] = "generate",
        *,
        version: str | None = None,
        models: Sequence[str] | None = None,
        path: str | Path | None = None,
    ) -> PerformanceMatrix:
        """Seed a matrix from the shipped published scores, one benchmark version only.

        `kind="generate"` reads T2I-CompBench (default version: T2I-CompBench++, the only one with
        spatial_3d and numeracy), `kind="edit"` reads ImgEdit-Bench. Versions are never mixed: the same
        images give different numbers under different evaluation code. When a version has several rows for
        one model, a row with `evidence=verified` wins over a `secondary` one, then file order (the file
        lists the official leaderboard before re-runs). `models` selects tool ids (see the `tool_id`
        column); missing cells get the uninformative prior. Values are rescaled to 0–1 by the benchmark's
        nominal scale.
        """
        if kind not in ("generate", "edit"):
            raise MatrixError(f"kind must be 'generate' or 'edit', got {kind!r}")
        rows = load_published_scores(path)
        benchmark = "T2I-CompBench" if kind == "generate" else "ImgEdit-Bench"
        version = version or (DEFAULT_GENERATOR_VERSION if kind == "generate" else DEFAULT_EDITOR_VERSION)
        rows = [r for r in rows if r["benchmark"] == benchmark and r["benchmark_version"] == version]
        if not rows:
            versions = sorted(
                {r["benchmark_version"] for r in load_published_scores(path) if r["benchmark"] == benchmark}
            )
            raise MatrixError(f"no published {benchmark} rows for version {version!r}; versions: {versions}")
        chosen: dict[str, dict[str, tuple[float, str]]] = {}
        # One column never mixes two sources: per tool, the best-ranked row (verified first, then file
        # order) picks the source, and all the tool's cells come from that source.
        source_of: dict[str, tuple[tuple[int, int], str]] = {}
        for i, r in enumerate(rows):
            key = (0 if r["evidence"] == "verified" else 1, i)
            if r["tool_id"] not in source_of or key < source_of[r["tool_id"]][0]:
                source_of[r["tool_id"]] = (key, r["source"])
        for r in rows:
            if r["source"] != source_of[r["tool_id"]][1]:
                continue
            lo, hi = float(r["scale_min"]), float(r["scale_max"])
            chosen.setdefault(r["tool_id"], {})[r["dimension"]] = (
                (float(r["value"]) - lo) / (hi - lo),
                r["source"],
            )
        if models is not None:
            unknown = [m for m in models if m not in chosen]
            if unknown:
                raise MatrixError(
                    f"no published {version!r} scores for {unknown}; available: {sorted(chosen)}"
                )
            chosen = {m: chosen[m] for m in models}
        dims = list(GEN_DIMS[:7] if kind == "generate" else EDIT_DIMS)
        m = cls.empty(dims)
        m.meta = {"seed": "published", "benchmark": benchmark, "version": version, "cell_sources": {}}
        for tool, cells in chosen.items():
            m.add_tool(tool, {d: v for d, (v, _) in cells.items()}, source="published")
            m.meta["cell_sources"][tool] = sorted({s for _, s in cells.values()})
        return m

    # ------------------------------------------------------------------------------------------------
    # Editing
    # ------------------------------------------------------------------------------------------------

    def add_tool(
        self, tool: str, scores: Mapping[str, float] | None = None, source: CellSource = "profiled"
    ) -> None:
        """Add a column. Dimensions without a score get the uninformative prior: the row's current mean
        over the other tools (0.5 when there are none), marked `prior`, so a new tool is ranked as an
        average tool until evidence arrives.
        """
        if tool in self.tools:
            raise MatrixError(f"tool {tool!r} is already in the matrix")
        _check_names(self.dims, [*self.tools, tool])
        scores = dict(scores or {})
        self._check_dims(scores)
        col = np.empty(len(self.dims))
        src = np.empty(len(self.dims), dtype=object)
        for i, d in enumerate(self.dims):
            if d in scores:
                col[i] = _finite(scores[d], f"{tool}/{d}")
                src[i] = source
            else:
                col[i] = float(self.values[i].mean()) if self.tools else 0.5
                src[i] = "prior"
        self.values = np.column_stack([self.values, col]) if self.tools else col[:, None]
        self.sources = np.column_stack([self.sources, src]) if self.tools else src[:, None]
        self.tools.append(tool)

    def get(self, tool: str, dim: str) -> float:
        return float(self.values[self.dim_index(dim), self.tool_index(tool)])

    def source(self, tool: str, dim: str) -> str:
        return str(self.sources[self.dim_index(dim), self.tool_index(tool)])

    def copy(self) -> PerformanceMatrix:
        return PerformanceMatrix(
            self.dims, self.tools, self.values.copy(), self.sources.copy(), dict(self.meta)
        )

    # ------------------------------------------------------------------------------------------------
    # PASM
    # ------------------------------------------------------------------------------------------------

    def normalized(self) -> np.ndarray:
        """Normalize(M): min-max per dimension across all tools of the matrix."""
        return normalize_rows(self.values) if self.tools else self.values.copy()

    def weight_vector(self, weights: Mapping[str, float]) -> np.ndarray:
        """W_task as a vector over `self.dims`, scaled to sum 1.

        Unknown dimension names are errors. Weights on dimensions this matrix does not have (an edit
        dimension on a generator matrix) are errors too: silently dropping them would rank on the rest.
        All-zero or empty weights mean "no particular skill": every dimension counts equally.
        """
        unknown = [k for k in weights if k not in ROUTED_DIMS]
        if unknown:
            raise MatrixError(f"unknown dimensions {unknown}; expected some of {list(ROUTED_DIMS)}")
        missing = [k for k, v in weights.items() if k not in self.dims and v != 0]
        if missing:
            raise MatrixError(f"weights name dimensions {missing} that this matrix lacks; it has {self.dims}")
        w = np.array([_finite(weights.get(d, 0.0), f"weight {d}") for d in self.dims], dtype=float)
        if np.any(w < 0):
            raise MatrixError("weights must be non-negative")
        total = w.sum()
        if total <= 0:
            return np.full(len(self.dims), 1.0 / len(self.dims))
        return w / total

    def scores(
        self, weights: Mapping[str, float], candidates: Sequence[str] | None = None
    ) -> dict[str, float]:
        """S = W_task · Normalize(M)ᵀ for each candidate (default: all tools).

        Normalisation runs over all tools of the matrix, so a tool's score does not depend on which
        other tools happen to be candidates for this subtask.
        """
        w = self.weight_vector(weights)
        s = w @ self.normalized()
        idx = self._candidate_indices(candidates)
        return {self.tools[j]: float(s[j]) for j in idx}

    def rank(
        self, weights: Mapping[str, float], candidates: Sequence[str] | None = None
    ) -> list[tuple[str, float]]:
        """Candidates best first; equal scores (to 1e-12) are ordered by tool name, so ranking is deterministic."""
        return rank_scores(self.scores(weights, candidates))

    # ------------------------------------------------------------------------------------------------
    # Lookup helpers
    # ------------------------------------------------------------------------------------------------

    def tool_index(self, tool: str) -> int:
        # A dict cache keyed on the tool list: list.index would make ranking 200 tools O(l²).
        if self._index_of is None or len(self._index_of) != len(self.tools):
            self._index_of = {t: j for j, t in enumerate(self.tools)}
        try:
            return self._index_of[tool]
        except KeyError:
            raise MatrixError(f"unknown tool {tool!r}; the matrix has {self.tools}") from None

    def dim_index(self, dim: str) -> int:
        try:
            return self.dims.index(dim)
        except ValueError:
            raise MatrixError(f"unknown dimension {dim!r}; the matrix has {self.dims}") from None

    def column(self, tool: str) -> dict[str, float]:
        j = self.tool_index(tool)
        return {d: float(self.values[i, j]) for i, d in enumerate(self.dims)}

    def _candidate_indices(self, candidates: Sequence[str] | None) -> list[int]:
        if candidates is None:
            return list(range(len(self.tools)))
        return [self.tool_index(t) for t in candidates]

    def _check_dims(self, scores: Mapping[str, float]) -> None:
        unknown = [d for d in scores if d not in self.dims]
        if unknown:
            raise MatrixError(f"unknown dimensions {unknown} for this matrix; it has {self.dims}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PerformanceMatrix):
            return NotImplemented
        return (
            self.dims == other.dims
            and self.tools == other.tools
            and np.array_equal(self.values, other.values)
            and np.array_equal(self.sources, other.sources)
        )

    def __repr__(self) -> str:
        return f"PerformanceMatrix(dims={len(self.dims)}, tools={self.tools})"

    # ------------------------------------------------------------------------------------------------
    # JSON
    # ------------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "dims": self.dims,
            "tools": self.tools,
            "values": [[float(v) for v in row] for row in self.values],
            "sources": [[str(s) for s in row] for row in self.sources],
            "meta": self.meta,
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, data: Any) -> PerformanceMatrix:
        if not isinstance(data, dict):
            raise MatrixError(f"a matrix must be a JSON object, got {type(data).__name__}")
        if data.get("format") != _FORMAT:
            raise MatrixError(f"not a limner matrix (format {data.get('format')!r}, expected {_FORMAT!r})")
        missing = [k for k in ("dims", "tools", "values", "sources") if k not in data]
        if missing:
            raise MatrixError(f"matrix JSON lacks keys {missing}")
        dims, tools, values = data["dims"], data["tools"], data["values"]
        if not isinstance(values, list) or not all(isinstance(r, list) for r in values):
            raise MatrixError("matrix 'values' must be a list of rows (one per dimension)")
        if len(tools) == 0:
            values = np.zeros((len(dims), 0))
        try:
            return cls(dims, tools, values, data["sources"] if tools else None, data.get("meta"))
        except (TypeError, ValueError) as e:
            if isinstance(e, MatrixError):
                raise
            raise MatrixError(f"invalid matrix JSON: {e}") from None

    @classmethod
    def from_json(cls, text: str | bytes) -> PerformanceMatrix:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise MatrixError(
                f"matrix JSON is corrupt: {e.msg} at line {e.lineno} column {e.colno}"
            ) from None
        return cls.from_dict(data)



def rank_scores(scores: Mapping[str, float]) -> list[tuple[str, float]]:
    """Sort `{tool: score}` best first; ties (to 1e-12) broken by tool name."""
    return sorted(scores.items(), key=lambda kv: (-round(kv[1], _TIE_DECIMALS), kv[0]))


def load_published_scores(path: str | Path | None = None) -> list[dict[str, str]]:
    """Rows of the shipped `published_scores.csv` (long format: one benchmark cell per row, with source)."""
    if path is None:
        text = (resources.files("limner.resources") / PUBLISHED_SCORES_RESOURCE).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    required = {
        "benchmark",
        "benchmark_version",
        "tool_id",
        "dimension",
        "value",
        "scale_min",
        "scale_max",
        "source",
        "evidence",
    }
    if rows and not required <= set(rows[0]):
        raise MatrixError(f"published scores file lacks columns {sorted(required - set(rows[0]))}")
    return rows


def _check_names(dims: Iterable[str], tools: Iterable[str]) -> None:
    dims, tools = list(dims), list(tools)
    unknown = [d for d in dims if d not in ROUTED_DIMS]
    if unknown:
        raise MatrixError(f"unknown dimensions {unknown}; expected some of {list(ROUTED_DIMS)}")
    for label, names in (("dimensions", dims), ("tools", tools)):
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise MatrixError(f"duplicate {label}: {dupes}")
    bad = [t for t in tools if not isinstance(t, str) or not t]
    if bad:
        raise MatrixError(f"tool names must be non-empty strings, got {bad}")


def _finite(value: Any, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise MatrixError(f"{what}: expected a number, got {value!r}") from None
    if not math.isfinite(v):
        raise MatrixError(f"{what}: expected a finite number, got {value!r}")
    return v
