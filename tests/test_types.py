from __future__ import annotations

import pytest
from PIL import Image
from pydantic import ValidationError

from limner.types import (
    AnalysisStep,
    Box,
    Check,
    Element,
    EvaluationStep,
    FinalStep,
    PlanStep,
    ReflectionStep,
    Relation,
    Scene,
    Subtask,
    ToolCall,
    ToolResult,
    ToolSpec,
    ToolStep,
    Trajectory,
    Verdict,
    parse_step,
)


def _scene() -> Scene:
    return Scene(
        prompt="two red apples to the left of a blue cup",
        elements=[
            Element(id="e0", noun="apples", cls="apple", count=2, color="red"),
            Element(id="e1", noun="cup", cls="cup", color="blue"),
            Element(id="e2", noun="dog", cls="dog", count=0, negated=True),
        ],
        relations=[Relation(subject="e0", predicate="left of", object="e1")],
        background="kitchen",
        unsupported=["in the morning light"],
    )


def _steps() -> list:
    scene = _scene()
    checks = [
        Check(target="e0", kind="count", passed=False, score=0.5, evidence="found 1 apple, expected 2",
              dimension="numeracy", box=Box(x0=1, y0=2, x1=30, y1=40)),
        Check(target="e0:left_of:e1", kind="position", passed=True, score=1.0, evidence="apple x=100 < cup x=300"),
    ]
    call = ToolCall(tool="painter-a", subtask_id="s0", prompt=scene.prompt, seed=3, params={"steps": 2})
    return [
        AnalysisStep(index=0, scene=scene, reasoning="read the prompt"),
        PlanStep(index=1, subtasks=[Subtask(id="s0", kind="generate", instruction=scene.prompt,
                                             element_ids=["e0", "e1"], weights={"color": 0.5, "spatial_2d": 0.5})]),
        ToolStep(index=2, subtask_id="s0", ranking=[("painter-a", 0.8), ("painter-b", 0.4)], call=call,
                 result=ToolResult(tool="painter-a", image_path="images/002.png", duration_s=0.1, meta={"k": [1, 2]})),
        EvaluationStep(index=3, image_path="images/002.png", verdict=Verdict.combine(0.6, checks, lam=0.5)),
        ReflectionStep(index=4, round=1, failed=["e0"], next_action="repair", reasoning="fix the count"),
        FinalStep(index=5, round=1, image_path="images/002.png", score=0.7, passed=False, tokens=12),
    ]


def test_every_step_round_trips_exactly() -> None:
    for step in _steps():
        again = parse_step(step.model_dump_json())
        assert again == step
        assert type(again) is type(step)


def test_trajectory_jsonl_round_trip() -> None:
    traj = Trajectory(run_id="r1", prompt="p", steps=_steps())
    back = Trajectory.from_jsonl("r1", "p", traj.to_jsonl())
    assert back == traj
    assert back.final is not None and back.final.score == 0.7


def test_tool_result_keeps_image_out_of_json() -> None:
    r = ToolResult(tool="t", image=Image.new("RGB", (4, 4)), ground_truth={"objects": []})
    dumped = r.model_dump()
    assert "image" not in dumped and "ground_truth" not in dumped


def test_verdict_combines_global_and_local() -> None:
    checks = [Check(target="e0", kind="presence", passed=True, score=1.0, evidence="ok"),
              Check(target="e1", kind="color", passed=False, score=0.0, evidence="green, expected blue")]
    v = Verdict.combine(0.8, checks, lam=0.25)
    assert v.score == pytest.approx(0.25 * 0.8 + 0.75 * 0.5)
    assert not v.passed and [c.target for c in v.failed] == ["e1"]


def test_scene_dimensions() -> None:
    assert _scene().dimensions == ["color", "spatial_2d", "numeracy"]


@pytest.mark.parametrize(
    "bad",
    [
        lambda: Scene(prompt="x", elements=[Element(id="e0", noun="a", cls="a")],
                      relations=[Relation(subject="e0", predicate="left of", object="e9")]),
        lambda: Scene(prompt="x", elements=[Element(id="e0", noun="a", cls="a"), Element(id="e0", noun="b", cls="b")]),
        lambda: Element(id="e0", noun="dog", cls="dog", count=1, negated=True),
        lambda: Element(id="../x", noun="dog", cls="dog"),
        lambda: Subtask(id="s", kind="generate", instruction="x", weights={"colour": 1.0}),
        lambda: Subtask(id="s", kind="generate", instruction="x", weights={"color": -1.0}),
        lambda: ToolSpec(name="t", kind="generate", backend="x", dims=["smell"]),
        lambda: Box(x0=5, y0=0, x1=1, y1=3),
        lambda: Element(id="e0", noun="a", cls="a", colour="red"),
    ],
)
def test_invalid_records_are_rejected(bad) -> None:
    with pytest.raises(ValidationError):
        bad()
