"""The brains: the rule-based planner/reflection rules, and the LLM brain driven by pydantic-ai's
FunctionModel (never the network): structured output, retries with the error fed back, fallback."""

from __future__ import annotations

import json
from typing import Any

import pytest
from PIL import Image
from pydantic_ai.messages import (
    ModelMessage,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from limner.agent import Agent, MemoryStore
from limner.config import BrainConfig
from limner.llm import RuleBrain, make_brain
from limner.llm.llm_brain import LLMBrain
from limner.llm.rule_brain import edit_target, edit_weights, generation_weights, plural
from limner.reading import parse_prompt
from limner.types import Check, ToolSpec, Verdict
from tests.test_agent import PROMPT, FakeChecker, FakePainter, _config

TOOLS = [ToolSpec(name="p", kind="generate", backend="x"), ToolSpec(name="e", kind="edit", backend="x")]


def _verdict(checks: list[Check]) -> Verdict:
    return Verdict.combine(float(all(c.passed for c in checks)), checks)


# -- rule-based ----------------------------------------------------------------------------------


def test_generation_weights_follow_the_scene() -> None:
    w = generation_weights(parse_prompt("a red apple to the left of two blue cups"))
    assert set(w) == {"color", "spatial_2d", "numeracy", "non_spatial"} and abs(sum(w.values()) - 1) < 1e-5
    assert w["color"] > w["spatial_2d"]
    assert generation_weights(parse_prompt("a photo of a cat")) == {"non_spatial": 1.0}
    assert generation_weights(parse_prompt("")) == {}


def test_repair_plan_targets_only_failed_checks() -> None:
    scene = parse_prompt("a red apple left of a blue cup and three dogs")
    checks = [
        Check(target="e0", kind="presence", passed=True, score=1, evidence=""),
        Check(target="e0", kind="color", passed=False, score=0, evidence="green"),
        Check(target="e2", kind="count", passed=False, score=0.6, evidence="2"),
        Check(target="e0:left_of:e1", kind="position", passed=False, score=0, evidence="right"),
        Check(target="e1", kind="presence", passed=True, score=1, evidence=""),
    ]
    plan = RuleBrain().plan(scene, TOOLS, verdict=_verdict(checks), action="repair", round=1)
    assert [s.instruction for s in plan.subtasks] == [
        "change the number of dogs to 3", "make the apple red", "move the apple left of the cup"]
    assert all(s.kind == "edit" and s.id.startswith("r1-") for s in plan.subtasks)
    assert plan.subtasks[1].weights == {"attribute": 1.0}


def test_a_misplaced_group_is_fixed_by_moving_the_single_object() -> None:
    def failed_position(prompt: str) -> list[str]:
        scene = parse_prompt(prompt)
        rel = scene.relations[0]
        check = Check(target=rel.id, kind="position", passed=False, score=0, evidence="")
        return [s.instruction for s in RuleBrain().plan(scene, TOOLS, verdict=_verdict([check]),
                                                        action="repair", round=1).subtasks]

    assert failed_position("two red apples to the left of a blue cup") == ["move the cup right of the apples"]
    assert failed_position("three dogs above a bench") == ["move the bench below the dogs"]
    assert failed_position("a cat to the right of two cars") == ["move the cat right of the cars"]
    assert failed_position("two cats in front of a car") == ["move the cats in front of the car"]


def test_reflection_rules() -> None:
    brain, scene = RuleBrain(), parse_prompt("a cat and a dog and a cup")
    one = _verdict([Check(target="e0", kind="presence", passed=False, score=0, evidence=""),
                    Check(target="e1", kind="presence", passed=True, score=1, evidence=""),
                    Check(target="e2", kind="presence", passed=True, score=1, evidence="")])
    assert brain.reflect(scene, one, 0, 3, tools=TOOLS).next_action == "repair"
    assert brain.reflect(scene, one, 2, 3, tools=TOOLS).next_action == "stop"
    assert brain.reflect(scene, one, 0, 3, tools=TOOLS[:1]).next_action == "regenerate"
    assert brain.reflect(scene, one, 0, 3, last_improved=False, tools=TOOLS).next_action == "regenerate"
    most = _verdict([Check(target=f"e{i}", kind="presence", passed=False, score=0, evidence="") for i in range(3)])
    assert brain.reflect(scene, most, 0, 3, tools=TOOLS).next_action == "regenerate"


def test_edit_grammar() -> None:
    assert edit_weights("make the cat red") == {"attribute": 1.0}
    assert edit_weights("remove all forks") == {"remove": 1.0}
    assert edit_weights("change the background to beach") == {"background": 1.0}
    assert edit_target("make the cat red") == "red cat"
    assert parse_prompt(edit_target("replace the cat with a dog")).elements[1].negated
    assert plural("bus") == "buses" and plural("teddy bear") == "teddy bears" and plural("skis") == "skis"


# -- LLM brain -------------------------------------------------------------------------------------


def _answers(*payloads: Any):
    """A FunctionModel that answers each request with the next payload (dict -> output tool call)."""
    calls: list[list[ModelMessage]] = []

    def fn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        calls.append(messages)
        p = payloads[min(len(calls) - 1, len(payloads) - 1)]
        args = p if isinstance(p, str) else json.dumps(p)
        return ModelResponse(parts=[ToolCallPart(tool_name=info.output_tools[0].name, args=args)])

    return FunctionModel(fn), calls


GOOD = {"elements": [{"id": "e0", "noun": "cat", "cls": "cat", "count": 2, "color": "black"},
                     {"id": "e1", "noun": "sofa", "cls": "couch"}],
        "relations": [{"subject": "e0", "predicate": "on", "object": "e1"}]}


def test_llm_structured_output() -> None:
    model, calls = _answers(GOOD)
    r = LLMBrain(model).analyse("two black cats on a sofa")
    assert r.error is None and r.tokens and len(calls) == 1
    assert r.scene.prompt == "two black cats on a sofa" and r.scene.elements[0].count == 2
    assert r.scene.relations[0].predicate == "on"


def test_llm_invalid_answer_is_retried_with_the_error() -> None:
    bad = {"elements": GOOD["elements"], "relations": [{"subject": "e0", "predicate": "on", "object": "e9"}]}
    model, calls = _answers("{not json", bad, GOOD)
    r = LLMBrain(model, max_retries=2).analyse("two black cats on a sofa")
    assert r.error is None and len(calls) == 3
    fed_back = [str(p.content) for m in calls[-1] for p in getattr(m, "parts", [])
                if isinstance(p, (RetryPromptPart, ToolReturnPart))]
    assert any("Invalid JSON" in c for c in fed_back)  # each validation error was fed back to the model
    assert any("unknown element 'e9'" in c for c in fed_back)


def test_llm_failure_falls_back_to_rules_with_reason() -> None:
    model, calls = _answers({"elements": [{"id": "bad id!", "noun": "x", "cls": "x"}]})
    r = LLMBrain(model, max_retries=1).analyse("a red apple")
    assert len(calls) == 2
    assert r.error and "rule-based brain answered" in r.error
    assert r.scene == parse_prompt("a red apple")


def test_llm_failure_reason_lands_in_the_trajectory() -> None:
    model, _ = _answers("nonsense")
    brain = LLMBrain(model, max_retries=0, vision=False)
    store = MemoryStore()
    tools = {t.name: t for t in [FakePainter("p"), FakeChecker("c")]}
    final = Agent(_config(), tools=tools, brain=brain).run(PROMPT, store=store)
    assert final.passed
    assert "rule-based brain answered" in (store.steps[0].error or "")
    assert "rule-based brain answered" in (store.steps[1].error or "")


def test_failed_vlm_judge_is_recorded_and_the_checker_score_stands() -> None:
    model, _ = _answers("nonsense")
    store = MemoryStore()
    tools = {t.name: t for t in [FakePainter("p"), FakeChecker("c")]}
    final = Agent(_config(), tools=tools, brain=LLMBrain(model, max_retries=0, vision=True)).run(PROMPT, store=store)
    ev = next(s for s in store.steps if s.type == "evaluation")
    assert "VLM judge failed" in (ev.error or "") and final.score == 1.0


def test_llm_plan_and_judge_with_image_as_data_url() -> None:
    plan = {"subtasks": [{"id": "r1-a", "kind": "edit", "instruction": "make the cat red",
                          "weights": {"attribute": 1.0}}], "reasoning": "fix colour"}
    model, _ = _answers(plan)
    p = LLMBrain(model).plan(parse_prompt("a red cat"), TOOLS, action="repair", round=1)
    assert p.error is None and p.subtasks[0].instruction == "make the cat red"

    seen: list[str] = []

    def fn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.extend(str(getattr(part, "content", "")) for m in messages for part in getattr(m, "parts", []))
        return ModelResponse(parts=[ToolCallPart(tool_name=info.output_tools[0].name,
                                                 args={"score": 0.75, "reasoning": "close"})])

    j = LLMBrain(FunctionModel(fn)).judge(Image.new("RGB", (8, 8), "red"), parse_prompt("a red cat"))
    assert j is not None and j.score == 0.75
    assert any("data:image/png;base64," in s for s in seen)


def test_make_brain_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(make_brain(BrainConfig()), RuleBrain)
    monkeypatch.setenv("MY_KEY", "sk-test")
    brain = make_brain(BrainConfig(kind="llm", model="m", base_url="http://127.0.0.1:9/v1", api_key_env="MY_KEY",
                                   max_retries=0, timeout_s=0.5))
    assert isinstance(brain, LLMBrain)
    r = brain.analyse("a cat")  # nothing listens on port 9: a connection error, then the fallback
    assert r.error and r.scene.elements[0].cls == "cat"


def test_text_reply_without_structure_falls_back() -> None:
    def fn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart("I think it is a cat")])

    r = LLMBrain(FunctionModel(fn), max_retries=1).analyse("a cat")
    assert r.error and r.scene.elements[0].cls == "cat"


def test_rule_reflection_alternates_when_a_round_did_not_help() -> None:
    """A repair that did not help → draw again; a new drawing that did not help → repair the best image."""
    brain = RuleBrain()
    scene = brain.analyse("a red apple and a blue cup").scene
    failed = Check(target="e0", kind="color", passed=False, score=0.0, evidence="green, expected red")
    ok = Check(target="e1", kind="presence", passed=True, score=1.0, evidence="found 1 cup")
    verdict = Verdict.combine(0.0, [failed, ok, ok.model_copy(update={"kind": "color"})])
    after_repair = brain.reflect(scene, verdict, 1, 5, last_improved=False, last_action="repair")
    after_redraw = brain.reflect(scene, verdict, 2, 5, last_improved=False, last_action="regenerate")
    improving = brain.reflect(scene, verdict, 2, 5, last_improved=True, last_action="regenerate")
    assert (after_repair.next_action, after_redraw.next_action, improving.next_action) == ("regenerate", "repair", "repair")
