"""Brain-training data from sandbox runs: trajectory SFT examples that parse back into limner's types, and
CAPO preference pairs whose chosen plan really scored higher (limner.data.trajectories / limner.data.capo)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from limner.config import load_config
from limner.data.capo import CAPOConfig, PlanMemory, build_capo, fresh_candidates
from limner.data.trajectories import (
    build_sft,
    collect_runs,
    geneval_split,
    load_runs,
    parse_example,
    parse_judgment,
)
from limner.llm.prompts import PlanAnswer
from limner.reading import parse_prompt
from limner.types import Check, ToolSpec, Verdict

PROMPTS = ["a red apple to the left of a blue cup", "three purple vases and a green bench", "a photo of a cat"]


def bow(texts: list[str]) -> np.ndarray:
    """A bag-of-letters embedder (the MiniLM model is the default; tests need no model)."""
    out = np.array([[t.lower().count(c) for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts], dtype=float)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list:
    root = tmp_path_factory.mktemp("runs")
    dirs = collect_runs(PROMPTS, root, load_config(None), rounds=3)
    assert collect_runs(PROMPTS, root, load_config(None), rounds=3) == dirs  # finished runs are kept (resume)
    return load_runs(dirs)


def test_sft_examples_parse_back(runs: list, tmp_path: Path) -> None:
    report = build_sft(runs, tmp_path, exclude_prompts=[PROMPTS[2]])
    assert report.unparsed == 0 and report.runs == 3
    rows = {k: [json.loads(x) for x in (tmp_path / f"{k}.jsonl").read_text().splitlines()]
            for k in ("analyst", "reflection", "episodes")}
    assert all(r["prompt_text"] != PROMPTS[2] for v in rows.values() for r in v)  # held out
    for kind, items in rows.items():
        for r in items:
            assert parse_example(r), kind
            assert r["messages"][0]["role"] == "system" and r["messages"][-1]["role"] in ("assistant", "tool")
    assert sum(r["label_right"] for r in rows["reflection"]) == report.right
    for ep in rows["episodes"]:
        calls = [m for m in ep["messages"] if m.get("tool_calls")]
        tools = [m for m in ep["messages"] if m["role"] == "tool"]
        assert calls and len(tools) == sum(len(m["tool_calls"]) for m in calls)
        assert {t["function"]["name"] for t in json.loads(ep["tools"])} >= {c["function"]["name"]
                                                                             for m in calls for c in m["tool_calls"]}


def test_judgments_right_and_wrong() -> None:
    assert parse_judgment("right").right
    j = parse_judgment("wrong because e0 color: found 1 apple (green), expected 1 red; e1 presence: none")
    assert not j.right and len(j.because) == 2
    with pytest.raises(ValueError):
        parse_judgment("maybe")


def test_fresh_candidates_vary_the_plan() -> None:
    scene = parse_prompt("a red apple and three blue cups")
    tools = [ToolSpec(name="p", kind="generate", backend="x"), ToolSpec(name="e", kind="edit", backend="x")]
    gen = fresh_candidates(scene, None, "regenerate", 0, tools, 3, np.random.default_rng(0))
    assert [c.source for c in gen] == ["fresh:rules", "fresh:plain-instruction", "fresh:weights"]
    assert gen[1].subtasks[0].instruction == "1 apple and 3 cups"  # attributes dropped
    assert gen[2].subtasks[0].weights != gen[0].subtasks[0].weights
    failed = [Check(target="e0", kind="color", passed=False, score=0, evidence="green"),
              Check(target="e1", kind="count", passed=False, score=0.5, evidence="2")]
    rep = fresh_candidates(scene, Verdict.combine(0.0, failed), "repair", 1, tools, 4, np.random.default_rng(0))
    assert all(s.kind == "edit" for c in rep for s in c.subtasks) and len(rep) >= 2


def test_capo_pairs_are_valid_and_conversational(runs: list, tmp_path: Path) -> None:
    memory = PlanMemory(runs, bow)
    assert memory.steps and all(s.run.passed for s in memory.steps)
    report = build_capo(runs, load_config(None), tmp_path, CAPOConfig(k=3, beta=0.34, max_steps_per_run=1),
                        embed=bow)
    assert report.planning_steps == 3 and report.invalid == 0
    assert report.retrieved >= 1 and report.fresh >= 1  # both sources were run
    pairs = [json.loads(x) for x in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert len(pairs) == report.pairs and report.pairs + report.ties <= report.planning_steps
    for p in pairs:
        assert p["score_chosen"] > p["score_rejected"]
        assert [m["role"] for m in p["prompt"]] == ["system", "user"]
        for side in ("chosen", "rejected"):
            assert p[side][0]["role"] == "assistant"
            assert PlanAnswer.model_validate_json(p[side][0]["content"]).subtasks


def test_geneval_split_is_disjoint() -> None:
    rows = [{"prompt": f"p{i}"} for i in range(20)] + [{"prompt": "p3"}]
    train, held = geneval_split(rows, 5, seed=1)
    assert len(held) == 5 and not ({r["prompt"] for r in train} & {r["prompt"] for r in held})
    assert Counter(r["prompt"] for r in train + held)["p0"] == 1
