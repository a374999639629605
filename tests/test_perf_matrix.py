"""PASM matrix: normalisation, scores and ranking on hand examples; JSON; published seeds; bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from limner.perf.matrix import (
    MatrixError,
    PerformanceMatrix,
    load_published_scores,
    normalize_rows,
    rank_scores,
)


def small() -> PerformanceMatrix:
    # color: a .2, b .6, c 1.0 -> normalised 0, .5, 1; numeracy: .9, .1, .5 -> 1, 0, .5
    return PerformanceMatrix(
        ["color", "numeracy"],
        ["a", "b", "c"],
        [[0.2, 0.6, 1.0], [0.9, 0.1, 0.5]],
        [["published"] * 3, ["profiled", "prior", "apu"]],
    )


def test_normalize_rows_min_max_and_constant_row() -> None:
    out = normalize_rows(np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0], [4.0, 0.0, 2.0]]))
    np.testing.assert_allclose(out, [[0, 0.5, 1], [0.5, 0.5, 0.5], [1, 0, 0.5]])


def test_scores_are_weighted_normalised_columns() -> None:
    s = small().scores({"color": 3, "numeracy": 1})  # weights scaled to .75/.25
    assert s == pytest.approx({"a": 0.25, "b": 0.375, "c": 0.875})


def test_rank_best_first_and_candidates() -> None:
    m = small()
    assert [t for t, _ in m.rank({"color": 0.75, "numeracy": 0.25})] == ["c", "b", "a"]
    assert [t for t, _ in m.rank({"numeracy": 1.0})] == ["a", "c", "b"]
    # normalisation is over all tools, so a candidate subset keeps its scores
    assert m.rank({"numeracy": 1.0}, ["b", "c"]) == [("c", 0.5), ("b", 0.0)]


def test_ties_broken_by_name_deterministically() -> None:
    assert rank_scores({"z": 0.5, "a": 0.5, "m": 0.7}) == [("m", 0.7), ("a", 0.5), ("z", 0.5)]
    # float noise below 1e-12 does not decide a tie
    assert [t for t, _ in rank_scores({"b": 0.3, "a": 0.1 + 0.2})] == ["a", "b"]


def test_zero_weights_mean_all_dimensions_count_equally() -> None:
    assert small().scores({}) == pytest.approx({"a": 0.5, "b": 0.25, "c": 0.75})


def test_add_tool_without_scores_gets_row_mean_prior() -> None:
    m = small()
    m.add_tool("new", {"color": 0.3})
    assert m.get("new", "color") == 0.3 and m.source("new", "color") == "profiled"
    assert m.get("new", "numeracy") == pytest.approx(0.5)
    assert m.source("new", "numeracy") == "prior"
    empty = PerformanceMatrix.empty(["color"])
    empty.add_tool("x")
    assert empty.get("x", "color") == 0.5


def test_bad_input_gives_clear_errors() -> None:
    m = small()
    with pytest.raises(MatrixError, match="unknown tool 'nope'"):
        m.rank({"color": 1}, ["a", "nope"])
    with pytest.raises(MatrixError, match="unknown dimensions"):
        m.scores({"colour": 1})
    with pytest.raises(MatrixError, match="lacks"):
        m.scores({"add": 1})
    with pytest.raises(MatrixError, match="non-negative"):
        m.scores({"color": -1})
    with pytest.raises(MatrixError, match="already"):
        m.add_tool("a")
    with pytest.raises(MatrixError, match="shape"):
        PerformanceMatrix(["color"], ["a", "b"], [[1.0]])
    with pytest.raises(MatrixError, match="finite"):
        PerformanceMatrix(["color"], ["a"], [[float("nan")]])
    with pytest.raises(MatrixError, match="duplicate tools"):
        PerformanceMatrix(["color"], ["a", "a"], [[1.0, 2.0]])
    with pytest.raises(MatrixError, match="unknown cell source"):
        PerformanceMatrix(["color"], ["a"], [[0.1]], [["guess"]])


def test_json_round_trip_keeps_values_sources_and_meta() -> None:
    m = small()
    m.meta = {"note": "x"}
    again = PerformanceMatrix.from_json(m.to_json())
    assert again == m and again.meta == {"note": "x"}
    assert again.source("b", "numeracy") == "prior"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "corrupt"),
        ("[1, 2]", "JSON object"),
        (json.dumps({"format": "other"}), "not a limner matrix"),
        (json.dumps({"format": "limner.perf.matrix/1", "dims": ["color"]}), "lacks keys"),
        (
            json.dumps(
                {
                    "format": "limner.perf.matrix/1",
                    "dims": ["color"],
                    "tools": ["a"],
                    "values": [[1, 2]],
                    "sources": [["prior", "prior"]],
                }
            ),
            "shape",
        ),
        (
            json.dumps(
                {
                    "format": "limner.perf.matrix/1",
                    "dims": ["hue"],
                    "tools": ["a"],
                    "values": [[1]],
                    "sources": [["prior"]],
                }
            ),
            "unknown dimensions",
        ),
    ],
)
def test_corrupt_json_is_a_clear_error(text: str, match: str) -> None:
    with pytest.raises(MatrixError, match=match):
        PerformanceMatrix.from_json(text)


def test_published_scores_have_a_source_for_every_number() -> None:
    rows = load_published_scores()
    assert rows and all(r["source"] and r["evidence"] in ("verified", "secondary") for r in rows)
    assert {r["benchmark"] for r in rows} == {"T2I-CompBench", "ImgEdit-Bench"}


def test_from_published_generators_one_version_verified_first() -> None:
    m = PerformanceMatrix.from_published("generate")
    assert m.dims == ["color", "shape", "texture", "spatial_2d", "spatial_3d", "non_spatial", "numeracy"]
    # T2I-CompBench++: the verified CogView4 row (numeracy .4988) wins over the secondary Table XIII copy (.4991)
    assert m.get("sdxl", "numeracy") == pytest.approx(0.4988)
    assert m.get("sdxl", "color") == pytest.approx(0.5879)
    assert set(m.sources.ravel()) == {"published"}
    old = PerformanceMatrix.from_published(
        "generate", version="T2I-CompBench v1 (NeurIPS'23 metrics, original/old evaluation code)"
    )
    assert old.get("sdxl", "color") == pytest.approx(0.6369)  # old code: different number, never mixed
    assert old.source("sdxl", "numeracy") == "prior"  # v1 has no numeracy


def test_from_published_editors_rescaled_and_official_row_first() -> None:
    m = PerformanceMatrix.from_published("edit", models=["bagel", "gpt-4o-image"])
    assert m.tools == ["bagel", "gpt-4o-image"]
    assert m.get("bagel", "add") == pytest.approx((3.81 - 1) / 4)  # current leaderboard, not the 3.56 re-run
    assert m.get("gpt-4o-image", "attribute") == pytest.approx((4.33 - 1) / 4)  # ImgEdit 'adjust'
    with pytest.raises(MatrixError, match="no published"):
        PerformanceMatrix.from_published("edit", models=["nope"])
    with pytest.raises(MatrixError, match="versions"):
        PerformanceMatrix.from_published("generate", version="T2I-CompBench v9")
