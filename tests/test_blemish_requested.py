"""Requested effects in the blemish data: defect-like content the prompt asks for is named in the prompt,
is 0 in the saliency target, is recorded apart from the regions, and changes the job's digest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from limner.cli.data import app
from limner.data.blemish import (
    DIMENSION_OF,
    REQUESTED_PHRASES,
    BlemishDataError,
    BlemishJob,
    build_blemish_dataset,
    iter_split,
    region_mask,
    render_item,
    requested_mask,
    write_splits,
)

pq = pytest.importorskip("pyarrow.parquet")

ALWAYS = BlemishJob(n=10, size=96, shard_size=5, rate=1.5, seed=5, p_requested=1.0)


def test_requested_effects_are_named_in_the_prompt_and_are_exactly_the_pixels_they_changed() -> None:
    """With p_requested=1 each image gets effects whose phrase ends the prompt; their pixels are exactly the
    difference to the same image built without them (the effects use their own random stream)."""
    seen = 0
    for index in range(ALWAYS.n):
        item = render_item(ALWAYS, index)
        plain = render_item(ALWAYS.model_copy(update={"p_requested": 0.0}), index)
        if not item.requested:
            continue
        seen += 1
        assert item.prompt == ", ".join([plain.prompt, *(r.phrase for r in item.requested)])
        effect = np.zeros((ALWAYS.size, ALWAYS.size), bool)
        for r in item.requested:
            assert any(r.phrase.endswith(words) for words in REQUESTED_PHRASES[r.category])  # type: ignore[index]
            assert r.dimension == DIMENSION_OF[r.category]
            effect |= region_mask(r, ALWAYS.size, ALWAYS.size)
        changed = np.abs(np.asarray(item.clean, np.int16) - np.asarray(plain.clean, np.int16)).max(-1) > 10
        if len(item.requested) == 1:
            assert np.array_equal(changed, effect)
        # never the same category as a defect of the same image: only the prompt tells them apart
        assert not {r.category for r in item.requested} & {g.category for g in item.regions}
    assert seen >= ALWAYS.n - 2


def test_requested_pixels_are_zero_in_the_mask_and_stored_apart(tmp_path: Path) -> None:
    build_blemish_dataset(ALWAYS, tmp_path)
    rows = [r for s in ("train", "val", "test") for r in iter_split(tmp_path, s)]
    assert sum(bool(r["requested"]) for r in rows) >= ALWAYS.n - 2
    for row in rows:
        union = np.zeros_like(row["mask"])
        for g in row["regions"]:
            union |= region_mask(g, ALWAYS.size, ALWAYS.size)
        assert np.array_equal(row["mask"], union)  # the target is the defects only
        asked = requested_mask(row["requested"], row["mask"])
        assert not (asked & row["mask"]).any()
        if row["requested"]:
            assert asked.any()
            assert all(r.phrase in row["prompt"] for r in row["requested"])
    card = json.loads((tmp_path / "card.json").read_text())
    assert sum(s["requested_images"] for s in card["splits"].values()) == sum(bool(r["requested"]) for r in rows)
    assert "Requested effects" in (tmp_path / "card.md").read_text()


def test_the_same_effect_is_also_an_unrequested_defect_elsewhere() -> None:
    job = BlemishJob(n=400, size=64, seed=1)
    asked: set[str] = set()
    defects: set[str] = set()
    for index in range(job.n):
        item = render_item(job, index)
        asked |= {r.category for r in item.requested}
        defects |= {g.category for g in item.regions}
        if asked == set(REQUESTED_PHRASES) and asked <= defects:
            break
    assert asked == set(REQUESTED_PHRASES)
    assert asked <= defects


def test_the_digest_changes_and_an_old_build_is_not_resumed(tmp_path: Path) -> None:
    job = BlemishJob(n=4, size=64, shard_size=2)
    assert job.digest() != job.model_copy(update={"p_requested": 0.0}).digest()
    old = {k: v for k, v in job.model_dump(mode="json").items() if k != "p_requested"}
    (tmp_path / "shards").mkdir()
    (tmp_path / "job.json").write_text(json.dumps({"kind": "sandbox", "digest": "0123456789abcdef", **old}))
    with pytest.raises(BlemishDataError, match="other settings.*p_requested"):
        build_blemish_dataset(job, tmp_path)


def test_shards_written_before_the_column_read_as_no_requested_effects(tmp_path: Path) -> None:
    build_blemish_dataset(BlemishJob(n=3, size=48, shard_size=3, p_requested=1.0), tmp_path)
    shard = tmp_path / "shards" / "shard-00000.parquet"
    pq.write_table(pq.read_table(shard).drop_columns(["requested"]), shard)
    card = write_splits(tmp_path)
    assert sum(s["requested_images"] for s in card["splits"].values()) == 0
    assert all(r["requested"] == [] for s in ("train", "val", "test") for r in iter_split(tmp_path, s))


def test_cli_takes_the_share_of_requested_effects(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["blemish", "--n", "3", "--size", "48", "--p-requested", "0", "--out",
                                   str(tmp_path / "d"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "d" / "job.json").read_text())["p_requested"] == 0.0
    bad = CliRunner().invoke(app, ["blemish", "--n", "3", "--p-requested", "1.5", "--out", str(tmp_path / "e")])
    assert bad.exit_code != 0
