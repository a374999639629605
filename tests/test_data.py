"""limner.data without drawing: perturbations, distances, exactness, prompt sources, the dataset writer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from limner.cli.main import app
from limner.data import (
    KINDS,
    ClusterRecord,
    Member,
    PromptError,
    candidates,
    diff_targets,
    estimate_distance,
    exact_failures,
    fully_read,
    read_prompts,
    scene_distance,
    write_dataset,
    write_prompts,
)
from limner.data.orchestra import PairJudgement, plan_items
from limner.data.perturb import RESHAPES, apply_edits, intended, scene_prompt
from limner.data.prompts import PromptItem
from limner.reading.instructions import parse_instruction
from limner.reading.prompt import parse_prompt
from limner.tools.sandbox.artwork import same_shape
from limner.types import Element, Relation, Scene


def _scene() -> Scene:
    return Scene(prompt="p", elements=[
        Element(id="e0", noun="apple", cls="apple", color="red"),
        Element(id="e1", noun="cups", cls="cup", count=2, color="blue"),
        Element(id="e2", noun="sign", cls="sign", text="OPEN"),
    ], relations=[Relation(subject="e0", predicate="left of", object="e1")])


def test_candidates_cover_the_kinds_and_every_instruction_is_in_the_grammar():
    scene = _scene()
    found = candidates(scene, np.random.default_rng(0), limit=40)
    kinds = {p.kind for p in found}
    for k in ("recolor", "drop_attribute", "swap_colors", "count", "relation", "drop_object", "replace_object",
              "retext"):
        assert k in kinds, k
    assert any("+" in p.kind for p in found), "distance-2 compositions fill the budget"
    for p in found:
        assert all(k.split("+")[0] in KINDS for k in [p.kind])
        for e in p.edits:
            parse_instruction(e.instruction)  # raises when outside the grammar
        # the recorded scene is what re-applying the edits gives, and the distance counts them
        assert apply_edits(scene, p.edits) == p.scene
        assert scene_distance(scene, p.scene) == p.distance, (p.kind, p.to_json())
        assert intended(scene, p)
    assert candidates(scene, np.random.default_rng(0), limit=40) == found  # seeded


def test_a_shaped_object_gets_a_reshape_to_an_outline_that_draws_differently():
    scene = Scene(prompt="p", elements=[Element(id="e0", noun="clock", cls="clock", shape="round"),
                                        Element(id="e1", noun="dog", cls="dog")])
    found = [p for p in candidates(scene, np.random.default_rng(3), limit=40) if p.kind == "reshape"]
    assert len(found) == RESHAPES  # perturb.RESHAPES outlines, each its own atomic negative
    afters = [p.edits[0].after for p in found]
    assert not any(same_shape(a, b) for i, a in enumerate(afters) for b in afters[i + 1:])
    for p in found:
        (edit,) = p.edits
        assert edit.before == "round" and not same_shape(edit.after, "round")
        assert parse_instruction(edit.instruction).kind == "reshape"
        assert p.scene.element("e0").shape == edit.after and intended(scene, p) == {("e0", "shape")}
        assert scene_distance(scene, p.scene) == 1 and apply_edits(scene, p.edits) == p.scene


def test_an_add_is_never_a_negative_and_a_single_object_is_never_dropped():
    one = Scene(prompt="p", elements=[Element(id="e0", noun="dog", cls="dog")])
    kinds = {p.kind for p in candidates(one, np.random.default_rng(1), limit=20)}
    assert "drop_object" not in kinds and not any(k.startswith("add") for k in kinds)


def test_scene_distance_counts_atomic_edits():
    s = _scene()
    swap = s.model_copy(update={"elements": [s.elements[0].model_copy(update={"color": "blue"}),
                                             s.elements[1].model_copy(update={"color": "red"}), s.elements[2]]})
    assert scene_distance(s, s) == 0
    assert scene_distance(s, swap) == 2
    dropped = s.model_copy(update={"elements": s.elements[1:], "relations": []})
    assert scene_distance(s, dropped) == 1  # its relation goes with it
    flipped = s.model_copy(update={"relations": [Relation(subject="e0", predicate="right of", object="e1")]})
    assert scene_distance(s, flipped) == 1 and scene_distance(flipped, s) == 1
    assert diff_targets(s, flipped) == {"e0:left_of:e1"}
    assert diff_targets(s, dropped) == {"e0", "e0:left_of:e1"}


def test_exact_failures():
    want = {("e0", "color")}
    assert exact_failures([("e0", "presence", True), ("e0", "color", False)], want)[0]
    ok, why = exact_failures([("e0", "color", False), ("e1", "count", False)], want)
    assert not ok and "e1 count" in why
    ok, why = exact_failures([("e0", "color", True)], want)
    assert not ok and "still pass" in why
    ok, why = exact_failures([("e0", "presence", True)], want)
    assert not ok and "not made" in why
    # kind None: every check of the target must fail
    assert exact_failures([("e0", "presence", False), ("e0", "color", False), ("r", "position", False)],
                          {("e0", None), ("r", None)})[0]
    assert not exact_failures([("e0", "presence", False), ("e0", "color", True)], {("e0", None)})[0]


def _canon(scene: Scene) -> tuple:
    names = {e.id: (e.cls, e.count, e.color, e.texture, e.text) for e in scene.elements}
    return (sorted(names.values()), sorted((names[r.subject], r.predicate, names[r.object]) for r in scene.relations))


def test_scene_prompt_reads_back_to_the_same_scene():
    for p in candidates(_scene(), np.random.default_rng(2), limit=30):
        said = scene_prompt(p.scene)
        assert _canon(parse_prompt(said)) == _canon(p.scene), (said, p.kind)


def test_read_prompts_files(tmp_path: Path):
    (tmp_path / "color_train.txt").write_text("a red cup\n\n# comment\nA  red cup\na blue dog\n")
    (tmp_path / "g.jsonl").write_text(json.dumps({"prompt": "a photo of a cat", "tag": "single_object",
                                                  "include": [{"class": "cat", "count": 1}]}) + "\n"
                                      + json.dumps({"prompt": "a blue dog"}) + "\n")
    items = read_prompts([tmp_path / "color_train.txt", tmp_path / "g.jsonl"])
    assert [(p.index, p.text, p.tag) for p in items] == [(0, "a red cup", "color"), (1, "a blue dog", "color"),
                                                          (2, "a photo of a cat", "single_object")]
    assert items[2].scene is not None and items[0].scene is None
    with pytest.raises(PromptError, match="line 1"):
        (tmp_path / "bad.jsonl").write_text("{nope\n")
        read_prompts(tmp_path / "bad.jsonl")
    with pytest.raises(PromptError, match="does not exist"):
        read_prompts(tmp_path / "missing.txt")


def test_plan_items_dedups_by_prompt_and_seed():
    items = [PromptItem(0, "a red cup"), PromptItem(1, "a blue dog"), PromptItem(2, "a red cup")]
    planned = plan_items(items, seed=0)
    assert [p.text for p, _ in planned] == ["a red cup", "a blue dog"]
    assert plan_items(items, seed=1)[0][1] != planned[0][1]


def test_prompt_writer_writes_readable_distinct_prompts_and_uses_an_llm_when_given():
    items, notes = write_prompts(30, seed=3)
    texts = [p.text for p in items]
    assert len(texts) == 30 == len(set(texts)) and all(fully_read(t) for t in texts)
    assert write_prompts(30, seed=3)[0] == items

    class FakeLLM:  # the two methods limner's LLM brain offers (duck-typed, no network)
        def _agent(self, output_type, instructions):
            return output_type

        def _ask(self, agent, prompt):
            return agent(prompts=["a red cup to the left of a blue dog", "une pomme rouge"]), 10, None

    items, notes = write_prompts(3, seed=0, brain=FakeLLM())  # type: ignore[arg-type]
    assert items[0].text == "a red cup to the left of a blue dog" and items[0].tag == "llm"
    assert any("une pomme" in n for n in notes) and len(items) == 3


def test_estimated_distance_is_marked_estimated():
    d = estimate_distance("a red cup and a blue dog", "a green cup and a blue dog")
    assert d.distance == 1 and d.estimated and d.by == "reader"


def _image(path: Path, colour: tuple[int, int, int], box: tuple[int, int, int, int] | None = None) -> str:
    img = Image.new("RGB", (32, 32), (255, 255, 255))
    if box:
        img.paste(colour, box)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return str(path)


def test_write_dataset_rows_card_masks_and_datasets_loads_it(tmp_path: Path):
    datasets = pytest.importorskip("datasets")
    s = _scene().model_dump(mode="json")
    for key, tag in (("aaa", "color"), ("bbb", "spatial")):
        _image(tmp_path / "images" / key / "pos.png", (255, 0, 0), (0, 0, 8, 8))
        _image(tmp_path / "images" / key / "neg-00.png", (0, 0, 255), (0, 0, 8, 8))
        _image(tmp_path / "images" / key / "neg-01.png", (0, 255, 0), (0, 0, 8, 8))
        members = [Member(id="pos", prompt="P", scene=s, image=f"images/{key}/pos.png", seed=0, tools=["alder"])]
        members += [Member(id=f"neg-0{i}", prompt=f"N{i}", scene=s, image=f"images/{key}/neg-0{i}.png", seed=i,
                           tools=["fern"], kind="recolor", perturbations=[{"kind": "recolor"}], distance=1)
                    for i in range(2)]
        pairs = [PairJudgement(winner="pos", loser="neg-00", base=True, valid=True, distance=1),
                 PairJudgement(winner="pos", loser="neg-01", base=True, valid=True, distance=1),
                 PairJudgement(winner="neg-00", loser="neg-01", base=False, valid=True, distance=1),
                 PairJudgement(winner="neg-01", loser="neg-00", base=False, valid=False, distance=1)]
        rec = ClusterRecord(key=key, cluster_id=key, index=0, prompt="P", tag=tag, seed=0, status="ok",
                            members=members, pairs=pairs)
        (tmp_path / "clusters").mkdir(exist_ok=True)
        (tmp_path / "clusters" / f"{key}.json").write_text(rec.model_dump_json())
    lost = ClusterRecord(key="ccc", cluster_id="ccc", index=2, prompt="Q", tag="complex", seed=0,
                         status="no_positive", reason="coverage incomplete: the reader cannot check words 'hung'")
    (tmp_path / "clusters" / "ccc.json").write_text(lost.model_dump_json())
    card = write_dataset(tmp_path, masks=True)
    assert card["clusters"] == 3 and card["verified_positives"] == 2 and card["base_pairs"] == 4
    assert card["filter_pairs"] == 2 and card["pair_filter_gain"] == 1.5
    assert card["per_tag"]["complex"]["yield"] == 0.0 and card["distance_histogram"] == {"1": 6}
    assert "coverage incomplete" in next(iter(card["no_positive_reasons"]))
    ds = datasets.load_dataset("parquet", data_files=str(tmp_path / "pairs.parquet"), split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == 6
    row = ds[0]
    assert row["winner"] == "images/aaa/pos.png" and row["pair"] == "base" and row["winner_tools"] == ["alder"]
    mask = Image.open(tmp_path / row["mask"])
    assert np.asarray(mask)[2, 2] == 255 and np.asarray(mask)[30, 30] == 0
    first = (tmp_path / "pairs.parquet").read_bytes()
    write_dataset(tmp_path, masks=True)
    assert (tmp_path / "pairs.parquet").read_bytes() == first  # deterministic rewrite
    # a record whose image is gone is not finished: its cluster drops out (and is rebuilt by a resume)
    (tmp_path / "images" / "bbb" / "neg-01.png").unlink()
    assert write_dataset(tmp_path)["clusters"] == 2


def test_llm_distance_estimate_is_marked_estimated_and_falls_back():
    class FakeLLM:
        def __init__(self, fail: bool) -> None:
            self.fail = fail

        def _agent(self, output_type, instructions):
            return output_type

        def _ask(self, agent, prompt):
            return (None, None, "ModelHTTPError: down") if self.fail else (agent(distance=3, reasoning="r"), 5, None)

    d = estimate_distance("a red cup", "two blue dogs", brain=FakeLLM(False))  # type: ignore[arg-type]
    assert (d.distance, d.estimated, d.by) == (3.0, True, "llm")
    d = estimate_distance("a red cup", "a blue cup", brain=FakeLLM(True))  # type: ignore[arg-type]
    assert (d.distance, d.by) == (1.0, "reader") and "failed" in d.note


def test_cli_prompts_writes_a_file(tmp_path: Path):
    result = CliRunner().invoke(app, ["data", "prompts", "--n", "5", "--out", str(tmp_path / "p.txt")])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "p.txt").read_text().splitlines()
    assert len(lines) == 5 and all(fully_read(x) for x in lines)
    result = CliRunner().invoke(app, ["data", "card", str(tmp_path)])
    assert result.exit_code == 2 and "cluster records" in " ".join(result.output.split())
