"""The rule-based prompt reader: GenEval structure, compositional pieces, and named unsupported parts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from limner import vocab
from limner.agent.analyst import geneval_mismatch
from limner.reading.prompt import canonical_class, parse_prompt, singular

REPO = Path(__file__).resolve().parents[1]
GENEVAL = REPO / "src" / "limner" / "resources" / "geneval_metadata_dev.jsonl"  # shipped copy (MIT)
COMPBENCH = REPO / "benchmarks" / "data" / "t2i-compbench"  # shipped copy (MIT)


def _els(prompt: str) -> list[tuple]:
    return [(e.cls, e.count, e.color, e.texture, e.shape, e.negated) for e in parse_prompt(prompt).elements]


def _rels(prompt: str) -> list[tuple[str, str, str]]:
    s = parse_prompt(prompt)
    return [(s.element(r.subject).cls, r.predicate, s.element(r.object).cls) for r in s.relations]


@pytest.mark.parametrize(("word", "single"), [
    ("sandwichs", "sandwich"), ("sheeps", "sheep"), ("knives", "knife"), ("buses", "bus"), ("skis", "skis"),
    ("people", "person"), ("strawberries", "strawberry"), ("benches", "bench"), ("mice", "mouse")])
def test_singular(word: str, single: str) -> None:
    assert singular(word) == single


def test_multiword_classes_synonyms_and_plurals() -> None:
    assert canonical_class("teddy bears") == ("teddy bear", True)
    assert canonical_class("wine glasses") == ("wine glass", True)
    assert canonical_class("television") == ("tv", False)
    assert _els("a photo of four computer keyboards") == [("computer keyboard", 4, None, None, None, False)]
    assert _els("two women") == [("person", 2, None, None, None, False)]


def test_attributes_bind_to_their_own_noun() -> None:
    assert _els("a red car and a pink elephant") == [
        ("car", 1, "red", None, None, False), ("elephant", 1, "pink", None, None, False)]
    assert _els("a wooden spoon and a leather shoes")[0][3] == "wooden"
    assert _els("a pentagonal jewelry box")[0][:5] == ("jewelry box", 1, None, None, "pentagonal")
    assert _els("a round pizza cutter") == [("pizza cutter", 1, None, None, "round", False)]  # its own class
    assert _els("an orange and a green skis") == [
        ("orange", 1, None, None, None, False), ("skis", 1, "green", None, None, False)]


@pytest.mark.parametrize(("prompt", "rel"), [
    ("a dog right of a teddy bear", ("dog", "right of", "teddy bear")),
    ("a cup on the left of a cat", ("cup", "left of", "cat")),
    ("a chicken on the top of a balloon", ("chicken", "on", "balloon")),
    ("a sheep on the bottom of a backpack", ("sheep", "below", "backpack")),
    ("a giraffe hidden by a phone", ("giraffe", "behind", "cell phone")),
    ("a horse in front of a bowl", ("horse", "in front of", "bowl")),
    ("a cat under a table", ("cat", "below", "table")),
    ("a bird near a tree", ("bird", "next to", "tree")),
    ("a girl holding an umbrella", ("person", "holding", "umbrella")),
    ("A child is playing with a kite at the park.", ("person", "playing with", "kite")),
])
def test_relations(prompt: str, rel: tuple[str, str, str]) -> None:
    assert _rels(prompt) == [rel]


def test_text_negation_background_style() -> None:
    s = parse_prompt('a wooden sign that says "OPEN" next to a red car in the park, watercolor style')
    assert s.elements[0].text == "OPEN" and s.elements[0].texture == "wooden"
    assert s.background == "park" and s.style == "watercolor"
    assert _els("a table with no chairs")[1] == ("chair", 0, None, None, None, True)
    assert _els("a kitchen without a microwave")[-1][-1] is True


def test_unsupported_parts_are_named() -> None:
    s = parse_prompt("The plump, juicy grapes hung low on the vine.")
    # read, but no checker judges it: named in `unjudged_readings`, never dropped (tests/test_reading_descriptive.py)
    assert s.elements[0].qualities == ["plump", "juicy"]
    assert "e0: quality 'plump' of grapes is read but not judged" in s.unjudged_readings
    assert [(r.predicate, s.element(r.object).cls) for r in s.relations] == [("on", "vine")]  # hung on: on
    assert parse_prompt("the zorblax grapes").unsupported == ["attribute 'zorblax' of grapes"]  # not read: named
    apples = parse_prompt("apples on a table")
    assert any("number of" in u for u in apples.assumptions)  # read as 2: checked, stricter than asked
    assert not any("number of" in u for u in apples.unsupported)
    assert any("not in the vocabulary" in u for u in parse_prompt("a zorblax next to a cat").unsupported)
    assert parse_prompt("").elements == []


def test_synonym_targets_are_classes() -> None:
    missing = {k: v for k, v in vocab.CLASS_SYNONYMS.items() if v not in vocab.CLASSES}
    assert not missing


def test_geneval_dev_structure_at_least_98_percent() -> None:
    rows = [json.loads(x) for x in GENEVAL.read_text().splitlines() if x.strip()]
    misses = [r["prompt"] for r in rows if geneval_mismatch(parse_prompt(r["prompt"]), r)]
    assert 1 - len(misses) / len(rows) >= 0.98, misses[:10]


def test_geneval_mismatch_detects_errors() -> None:
    row = {"include": [{"class": "teddy bear", "count": 1}, {"class": "dog", "count": 1, "position": ["right of", 0]}]}
    assert geneval_mismatch(parse_prompt("a dog right of a teddy bear"), row) is None
    assert geneval_mismatch(parse_prompt("a dog left of a teddy bear"), row) is not None
    assert geneval_mismatch(parse_prompt("two dogs right of a teddy bear"), row) is not None


def test_every_compbench_prompt_parses() -> None:
    for f in sorted(COMPBENCH.glob("*_train.txt")):
        for line in f.read_text().splitlines():
            if line.strip():
                parse_prompt(line)


def test_reads_back_the_sandbox_world_descriptions() -> None:
    np = pytest.importorskip("numpy")
    world = pytest.importorskip("limner.tools.sandbox.world")

    def key(s):
        return (sorted((e.cls, e.count, e.color, e.texture, e.text, e.negated) for e in s.elements),
                sorted((s.element(r.subject).cls, r.predicate, s.element(r.object).cls) for r in s.relations),
                s.background)

    rng = np.random.default_rng(7)
    for _ in range(200):
        scene = world.random_scene(rng)
        assert key(parse_prompt(scene.prompt)) == key(scene), scene.prompt


def test_words_in_any_script_are_named_not_dropped() -> None:
    s = parse_prompt("a cat named Félix on a sofa")
    assert any("félix" in u for u in s.unsupported), s.unsupported
    assert any("language not supported" in u for u in parse_prompt("красная кошка слева от собаки").unsupported)
