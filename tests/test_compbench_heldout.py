"""The shipped T2I-CompBench held-out (val) lists, and the benchmark reading them apart from the train lists.

The train figures (`compbench_*`) must not move because held-out lists sit in the same folder, and the
held-out figures (`compbench_heldout_*`) must come from the `_val` lists alone: the reader's vocabulary was
grown from the train prompts, so mixing the two would hide exactly the gap the held-out lists measure.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
LISTS = REPO / "benchmarks" / "data" / "t2i-compbench"

CATEGORIES = ("3d_spatial", "color", "complex", "non_spatial", "numeracy", "shape", "spatial", "texture")
# sha256 of the shipped copies (benchmarks/data/t2i-compbench/README.md says where they come from)
VAL_SHA256 = {
    "3d_spatial": "c9953597315f36a5fcb41291bb19bdc6ab5f64a0fa760d691b4854a73f5d1fe9",
    "color": "c735840f3de605316c72203af5e32ef88dc95a541333eaef1f42d6e155647651",
    "complex": "e23a7dfb80d4a4ee7c5aef7cfe2cfc26e061870b6f094c90441558b0281c5872",
    "non_spatial": "68ba50936349eb6c2b49ca69136260a895cbea447f8e5a3452f80ddae22c9056",
    "numeracy": "dad8df141604b70ba7554bec724e3db0a80023680769b5c514854ea2d2527bbe",
    "shape": "dc98faeea2781da992f036c3afcbe965e844bafa8fafc0c4a66f54a06f0cb5e0",
    "spatial": "ae35e77cafeffb077e463854aba7dbeaf44e60010c663e81b7d3ba1a3338831d",
    "texture": "fa60c83f215a8753a3795d1aceba0a1576777ac816c9f1a617de8d7c1e21342b",
}


@pytest.fixture(scope="module")
def agent() -> ModuleType:
    sys.path.insert(0, str(REPO / "benchmarks"))
    import agent  # noqa: PLC0415 - the benchmark script is imported here only, from its folder

    return agent


def _prompts(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def test_the_shipped_val_lists_are_the_recorded_ones(agent: ModuleType) -> None:
    val, train = agent.compbench_lists(LISTS, "heldout"), agent.compbench_lists(LISTS, "train")
    assert sorted(val) == sorted(train) == list(CATEGORIES)
    for cat, path in val.items():
        assert path.name == f"{cat}_val.txt"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == VAL_SHA256[cat], path.name
        assert b"\r" not in path.read_bytes()  # LF, as the train lists
        prompts = _prompts(path)
        assert len(prompts) == 300, (path.name, len(prompts))
    for path in train.values():
        assert path.name.endswith("_train.txt") and len(_prompts(path)) == 700


def test_train_and_heldout_are_counted_apart(agent: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "color_train.txt").write_text("a red car and a blue bench\na green apple\n", encoding="utf-8")
    (tmp_path / "color_val.txt").write_text("a red car\na zorblax and a blue bench\n", encoding="utf-8")
    (tmp_path / "shape_val.txt").write_text("a round clock\n", encoding="utf-8")
    (tmp_path / "color_val_seen.txt").write_text("a zorblax\n", encoding="utf-8")  # neither split
    (tmp_path / "color.txt").write_text("a zorblax\n", encoding="utf-8")  # upstream's train + val in one
    train = agent.compbench_metrics(tmp_path)
    held = agent.compbench_metrics(tmp_path, "heldout")
    assert train["compbench_prompts"] == 2 and train["compbench_fully_supported"] == 1.0
    assert set(train["compbench_by_category"]) == {"color"}
    assert not any(k.startswith("compbench_heldout") for k in train)
    assert held["compbench_heldout_prompts"] == 3
    assert held["compbench_heldout_by_category"]["color"]["fully_supported"] == 0.5
    assert held["compbench_heldout_by_category"]["shape"]["prompts"] == 1
    assert held["compbench_heldout_fully_supported"] == pytest.approx(2 / 3)
    assert held["compbench_heldout_unsupported_kinds"] == {"object": 1}
    assert held["compbench_heldout_unknown_nouns"] == {"distinct": 1, "top": {"zorblax": 1}}
    assert train["compbench_unknown_nouns"] == {"distinct": 0, "top": {}}
    gap = agent.compbench_gap({**train, **held})
    assert gap == {"overall": pytest.approx(1 / 3), "by_category": {"color": 0.5}}
    assert agent.compbench_gap(train) is None
    # the accuracy sample draws from the train lists only
    assert set(agent.compbench_sample(tmp_path, 5, 0)) == {"color"}


def test_a_folder_without_split_names_is_all_train(agent: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("a red car\n", encoding="utf-8")
    (tmp_path / "mine_test.txt").write_text("a zorblax\n", encoding="utf-8")
    assert agent.compbench_metrics(tmp_path)["compbench_by_category"] == {
        "mine": {"prompts": 1, "parse_errors": 0, "fully_supported": 1.0, "world_supported": 1.0}}
    assert agent.compbench_metrics(tmp_path, "heldout") == {}


def test_every_heldout_prompt_parses(agent: ModuleType) -> None:
    held = agent.compbench_metrics(LISTS, "heldout")
    assert held["compbench_heldout_prompts"] == 2400 and held["compbench_heldout_parse_errors"] == 0
