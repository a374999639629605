"""`limner data blemish`: exact masks, categories in dimensions, splits, resume, external ingest, HF load."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from limner.cli.data import app
from limner.data.blemish import (
    CATEGORIES,
    DIMENSION_OF,
    DIMENSIONS,
    BlemishDataError,
    BlemishJob,
    build_blemish_dataset,
    ingest_external,
    iter_split,
    region_mask,
    render_item,
    split_of,
)
from limner.retouch.reasoning import DIMENSION_OF as REASONING_DIMENSIONS
from limner.tools.sandbox.blemishes import BLEMISH_KINDS
from limner.types import DEFECT_DIMS

pytest.importorskip("pyarrow")

JOB = BlemishJob(n=12, size=96, shard_size=5, rate=1.5, seed=3)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("blemish")
    build_blemish_dataset(JOB, out)
    return out


def _rows(out: Path) -> list[dict]:
    return [r for split in ("train", "val", "test") for r in iter_split(out, split)]


def test_taxonomy_is_grouped_into_the_defect_dimensions() -> None:
    assert set(CATEGORIES) == set(BLEMISH_KINDS)
    assert tuple(DIMENSIONS) == DEFECT_DIMS
    assert REASONING_DIMENSIONS == DIMENSION_OF  # the retoucher states the same grouping below the data layer


def test_masks_are_exactly_the_changed_pixels(built: Path) -> None:
    """Each region's mask is the pixels its blemish changed; the image's mask is their union. With one
    blemish that is exactly the difference to the clean render (several may overlap and partly undo)."""
    rows = {r["id"]: r for r in _rows(built)}
    assert len(rows) == JOB.n
    single = 0
    for index in range(JOB.n):
        item = render_item(JOB, index)
        row = rows[f"{JOB.seed}-{index:07d}"]
        changed = np.abs(np.asarray(item.image, np.int16) - np.asarray(item.clean, np.int16)).max(-1) > 10
        union = np.zeros_like(changed)
        for r in row["regions"]:
            assert r.dimension == DIMENSION_OF[r.category]
            assert r.description.startswith(BLEMISH_KINDS[r.category])
            union |= region_mask(r, JOB.size, JOB.size)
        assert np.array_equal(row["mask"], union)
        assert (changed & ~union).sum() <= 0.05 * max(1, changed.sum())
        if len(row["regions"]) == 1:
            assert np.array_equal(union, changed)
            single += 1
        assert np.array_equal(np.asarray(row["image"]), np.asarray(item.image))
        assert row["prompt"] == item.prompt
    assert single >= 1


def test_splits_are_stable_and_the_card_counts_them(built: Path) -> None:
    card = json.loads((built / "card.json").read_text())
    assert card["images"] == JOB.n and card["simulated"] is True
    for split in ("train", "val", "test"):
        ids = [r["id"] for r in iter_split(built, split)]
        assert all(split_of(i, JOB.splits) == split for i in ids)
        assert card["splits"][split]["images"] == len(ids)
    assert "| dimension | category |" in (built / "card.md").read_text()


def test_resume_redoes_only_missing_shards_and_writes_the_same_bytes(built: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"
    first = build_blemish_dataset(JOB, out, limit=2)
    assert first.ran == 2
    (out / "shards" / "shard-00000.parquet").unlink()
    second = build_blemish_dataset(JOB, out)
    assert second.done_before == 1 and second.ran == 2
    for split in ("train", "val", "test"):
        assert (out / f"{split}.parquet").read_bytes() == (built / f"{split}.parquet").read_bytes()
    with pytest.raises(BlemishDataError, match="other settings"):
        build_blemish_dataset(BlemishJob(n=12, size=64, shard_size=5, seed=3), out)


def test_loads_with_hf_datasets(built: Path) -> None:
    datasets = pytest.importorskip("datasets")
    ds = datasets.load_dataset("parquet", data_files={s: str(built / f"{s}.parquet") for s in ("train", "test")})
    row = ds["train"][0]
    assert Image.open(io.BytesIO(row["image"]["bytes"])).size == (JOB.size, JOB.size)
    assert isinstance(json.loads(row["regions"]), list)


def _external(root: Path) -> None:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    lines = []
    for k in range(3):
        Image.new("RGB", (40, 30), (200, 200, 200)).save(root / "images" / f"p{k}.png")
        m = np.zeros((30, 40), np.uint8)
        m[5:10, 6 + k:12 + k] = 255
        Image.fromarray(m).save(root / "masks" / f"p{k}-0.png")
        lines.append(json.dumps({"image": f"images/p{k}.png", "prompt": f"picture {k}", "split": "test" if k else "train",
                                 "regions": [{"mask": f"masks/p{k}-0.png", "category": "smear" if k else "sixth_finger"}]}))
    (root / "annotations.jsonl").write_text("\n".join(lines) + "\n")


def test_ingest_external_layout(tmp_path: Path) -> None:
    _external(tmp_path / "src")
    card = ingest_external(tmp_path / "src", tmp_path / "out")
    assert card["splits"]["test"]["images"] == 2 and card["splits"]["train"]["images"] == 1
    rows = _rows(tmp_path / "out")
    assert {r["regions"][0].category for r in rows} == {"smear", "sixth_finger"}
    other = next(r for r in rows if r["regions"][0].category == "sixth_finger")
    assert other["regions"][0].dimension == "other" and other["source"] == "external"
    assert other["mask"].sum() == 30


def test_ingest_rejects_bad_layouts(tmp_path: Path) -> None:
    with pytest.raises(BlemishDataError, match="annotations.jsonl"):
        ingest_external(tmp_path, tmp_path / "o1")
    _external(tmp_path / "src")
    (tmp_path / "src" / "annotations.jsonl").write_text('{"image": "../outside.png"}\n')
    with pytest.raises(BlemishDataError, match="outside"):
        ingest_external(tmp_path / "src", tmp_path / "o2")
    (tmp_path / "src" / "annotations.jsonl").write_text('{"prompt": 3}\n')
    with pytest.raises(BlemishDataError, match="line 1"):
        ingest_external(tmp_path / "src", tmp_path / "o3")


def test_cli_builds_resumes_and_reports_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["blemish", "--n", "3", "--size", "64", "--out", str(tmp_path / "d"), "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary["images"] == 3 and summary["ran"] == 1
    again = json.loads(runner.invoke(app, args).stdout.strip().splitlines()[-1])
    assert again["ran"] == 0 and again["done_before"] == 1
    bad = runner.invoke(app, ["blemish", "--ingest", str(tmp_path / "nothing"), "--out", str(tmp_path / "e")])
    assert bad.exit_code == 2 and "annotations.jsonl" in bad.output and "Traceback" not in bad.output
