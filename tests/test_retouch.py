"""The retoucher: regions, tool choice and routing, the repair loop, the VLM reasoner, the agent stage, the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from limner.agent.loop import Agent
from limner.config import load_config
from limner.data.blemish import BlemishJob, render_item
from limner.retouch import (
    Retoucher,
    VLMReasoner,
    find_regions,
    ranked_options,
    repair_options,
    retouch_router,
    subtask_for,
)
from limner.retouch.reasoning import DIMENSION_OF, FoundRegion
from limner.tools.base import Tool, ToolError
from limner.tools.classic import Cv2Inpaint
from limner.tools.openai_client import OpenAISettings
from limner.tools.registry import ToolRegistry
from limner.types import Box, Defect, RetouchStep, ToolCall, ToolResult, parse_step

try:  # the fake VLM endpoint's web framework (the test extra); its tests skip without it
    from fastapi import FastAPI, Request
except ImportError:  # pragma: no cover
    FastAPI = Request = None  # type: ignore[assignment,misc]

JOB = BlemishJob(n=100, size=128, rate=2.5)


@pytest.fixture(scope="module")
def sandbox_tools() -> dict[str, Tool]:
    return ToolRegistry.from_config(load_config("sandbox")).by_name()


def _item(index: int = 1) -> Any:
    for i in range(index, index + 50):
        item = render_item(JOB, i)
        if item.regions and all(r.category != "melted_text" for r in item.regions):
            return item
    raise AssertionError("no blemished image")


class OraclePerceiver:
    """Test double for the trained model: the map is the difference to the clean render (a perfect detector)."""

    threshold = 0.5

    def __init__(self, clean: Image.Image) -> None:
        self.clean = np.asarray(clean.convert("RGB"), np.int16)

    def __call__(self, image: Image.Image, prompt: str) -> np.ndarray:
        diff = np.abs(np.asarray(image.convert("RGB"), np.int16) - self.clean).max(-1)
        return np.clip(diff / 60.0, 0, 1).astype(np.float32)


class NameEverything:
    name = "fixed"

    def __init__(self, category: str) -> None:
        self.category = category

    def __call__(self, image: Image.Image, prompt: str, regions: list[FoundRegion]) -> list[Defect]:
        return [Defect(category=self.category, dimension=DIMENSION_OF[self.category], box=r.box, area=int(r.mask.sum()),
                       saliency=r.saliency) for r in regions]


class FromClean(Tool):
    """Test double: an inpainter that puts the clean render back inside the mask (a perfect repair)."""

    kind = "inpaint"

    def __init__(self, name: str, clean: Image.Image) -> None:
        super().__init__(name)
        self.clean = clean

    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        assert image is not None and mask is not None
        return ToolResult(tool=self.name, image=Image.composite(self.clean, image, mask))


class DoNothing(Tool):
    """An inpainter that returns its input: every repair it makes must be undone."""

    kind = "inpaint"

    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        return ToolResult(tool=self.name, image=image)


def _defect(category: str) -> Defect:
    return Defect(category=category, dimension=DIMENSION_OF[category], box=Box(x0=1, y0=1, x1=5, y1=5), area=16,
                  saliency=0.8)


# -- reasoning: regions ---------------------------------------------------------------------------------


def test_regions_are_thresholded_dilated_components_largest_first() -> None:
    s = np.zeros((40, 40), np.float32)
    s[5:8, 5:8] = 0.9
    s[20:30, 20:30] = 0.7
    s[35, 35] = 0.95  # one pixel: below min_area even dilated by 0
    regions = find_regions(s, 0.5, dilate=1, min_area=6)
    assert len(regions) == 2
    assert regions[0].box == Box(x0=19, y0=19, x1=31, y1=31)  # the larger mass first, grown by 1 px
    assert regions[1].mask.sum() > 9
    assert find_regions(s, 0.99) == []


# -- action: options and routing ------------------------------------------------------------------------


def test_text_goes_to_instruction_editors_and_geometry_redraws_objects(sandbox_tools: dict[str, Tool]) -> None:
    prompt = 'a photo of a cat and a sign that says "OPEN"'
    tools = {**sandbox_tools, "cv2": Cv2Inpaint("cv2")}
    text = ranked_options(_defect("melted_text"), repair_options(_defect("melted_text"), prompt, tools), None)
    assert not text[0][0].uses_mask and text[0][0].instruction == 'change the text to "OPEN"'
    geometry = ranked_options(_defect("warped_shape"), repair_options(_defect("warped_shape"), prompt, tools), None)
    assert geometry[0][0].instruction == "fix the cat"
    assert any(o.tool == "cv2" and o.instruction == prompt for o, _ in geometry)  # real inpainters get the prompt
    surface = ranked_options(_defect("smear"), repair_options(_defect("smear"), prompt, tools), None)
    assert next(o for o, _ in surface if o.tool != "cv2").instruction == "fix" and all(o.uses_mask for o, _ in surface)


def test_router_learns_which_tool_repairs_a_dimension(sandbox_tools: dict[str, Tool]) -> None:
    router = retouch_router(sandbox_tools)
    d = _defect("noise_patch")
    options = repair_options(d, "two cats", sandbox_tools)
    for _ in range(6):
        router.update(subtask_for(d), {"ivy": 0.95}, {"dimension_scores": {"ivy": {"surface": 0.95}}})
        router.update(subtask_for(d), {"heath": 0.05}, {"dimension_scores": {"heath": {"surface": 0.05}}})
    assert ranked_options(d, options, router)[0][0].tool == "ivy"
    assert router.matrix.get("ivy", "surface") > router.matrix.get("heath", "surface")


# -- the loop -------------------------------------------------------------------------------------------


def test_loop_repairs_verifies_and_keeps_the_best() -> None:
    item = _item()
    tools = {"a-noop": DoNothing("a-noop"), "b-perfect": FromClean("b-perfect", item.clean)}
    retoucher = Retoucher(OraclePerceiver(item.clean), NameEverything("noise_patch"), tools)  # type: ignore[arg-type]
    saved: list[str] = []
    out = retoucher.retouch(item.image, item.prompt, save=lambda im, stem: saved.append(stem) or f"images/{stem}.png")
    assert out.input_score > 0 and out.score == 0
    assert 1 <= out.rounds <= 3 and out.repairs_kept >= len(item.regions) // 2
    stages = [s.stage for s in out.steps]
    assert stages[0] == "perceive" and "reason" in stages and "repair" in stages
    noop = [s for s in out.steps if s.stage == "repair" and s.call is not None and s.call.tool == "noop"]
    assert all(s.kept is False for s in noop)  # a repair that changes nothing is undone
    assert all(isinstance(parse_step(s.model_dump_json()), RetouchStep) for s in out.steps)
    clean_diff = lambda im: int((OraclePerceiver(item.clean)(im, "") > 0.5).sum())
    assert clean_diff(out.image) < clean_diff(item.image)
    assert "retouch-r0-input" in saved
    assert retoucher.router.matrix.get("b-perfect", "surface") > retoucher.router.matrix.get("a-noop", "surface")


def test_loop_with_sandbox_inpainters_is_bounded_and_typed(sandbox_tools: dict[str, Tool]) -> None:
    item = _item(5)
    tools = {"ivy": sandbox_tools["ivy"], "heath": sandbox_tools["heath"]}
    retoucher = Retoucher(OraclePerceiver(item.clean), NameEverything("warped_shape"), tools)  # type: ignore[arg-type]
    out = retoucher.retouch(item.image, item.prompt)
    assert out.rounds <= 3 and out.score <= out.input_score
    repairs = [s for s in out.steps if s.stage == "repair"]
    assert repairs and all(s.call is not None and s.call.tool in tools for s in repairs)
    assert len(repairs) <= 3 * 8 * retoucher.options.tries


def test_a_repair_that_moves_pixels_elsewhere_is_undone() -> None:
    item = _item()

    class Shifty(FromClean):
        def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
            fixed = super()._run(call, image, mask).image
            return ToolResult(tool=self.name, image=Image.fromarray(np.roll(np.asarray(fixed), 9, axis=1)))

    tools = {"shifty": Shifty("shifty", item.clean)}
    out = Retoucher(OraclePerceiver(item.clean), NameEverything("smear"), tools).retouch(item.image, item.prompt)  # type: ignore[arg-type]
    assert out.repairs_kept == 0 and out.repairs_tried >= 1 and out.image is not None
    assert all("mean change outside" in s.reasoning for s in out.steps if s.stage == "repair")


def test_a_repair_that_lowers_the_judged_verdict_is_undone() -> None:
    item = _item()
    tools = {"perfect": FromClean("perfect", item.clean)}
    retoucher = Retoucher(OraclePerceiver(item.clean), NameEverything("smear"), tools)  # type: ignore[arg-type]
    calls: list[int] = []

    def judge(image: Image.Image) -> float:  # the prompt's verdict falls with every change: nothing may stay
        calls.append(1)
        return 1.0 - float(np.abs(np.asarray(image, np.int16) - np.asarray(item.image, np.int16)).mean())

    out = retoucher.retouch(item.image, item.prompt, judge=judge)
    assert out.repairs_kept == 0 and len(calls) >= 2
    assert all("verdict" in s.reasoning for s in out.steps if s.stage == "repair")
    assert retoucher.retouch(item.image, item.prompt, judge=lambda im: 0.5).repairs_kept >= 1


def test_clean_image_is_left_alone(sandbox_tools: dict[str, Tool]) -> None:
    item = _item()
    retoucher = Retoucher(OraclePerceiver(item.clean), NameEverything("smear"), {"ivy": sandbox_tools["ivy"]})  # type: ignore[arg-type]
    out = retoucher.retouch(item.clean, item.prompt)
    assert out.score == 0 and out.rounds == 0 and not out.changed and out.image is not item.image


# -- the VLM reasoner against a fake OpenAI-compatible server -------------------------------------------


class FakeVLM:
    def __init__(self) -> None:
        self.replies: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.app = FastAPI()

        async def chat(request: Request) -> dict[str, Any]:
            body = await request.json()
            self.requests.append(body)
            text = self.replies.pop(0) if self.replies else "{}"
            return {"id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}

        self.app.post("/v1/chat/completions")(chat)


@pytest.fixture(scope="module")
def vlm() -> Iterator[tuple[FakeVLM, str]]:
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    pytest.importorskip("openai")
    from local_server import serve  # noqa: PLC0415 - the tests' helper module

    fake = FakeVLM()
    with serve(fake.app) as url:
        yield fake, url


def _regions() -> list[FoundRegion]:
    m = np.zeros((32, 32), bool)
    m[2:6, 2:6] = True
    return [FoundRegion(mask=m, box=Box(x0=2, y0=2, x1=6, y1=6), saliency=0.7), FoundRegion(mask=~m, box=Box(x0=0, y0=0, x1=32, y1=32), saliency=0.6)]


def test_vlm_reasoner_structured_answer_and_retry(vlm: tuple[FakeVLM, str]) -> None:
    fake, url = vlm
    reasoner = VLMReasoner(OpenAISettings(model="tiny-vl", base_url=url, api_key_required=False))
    fake.replies = ['{"regions": [{"region": 1, "category": "sixth_finger"}]}',  # outside the taxonomy: sent back
                    json.dumps({"regions": [{"region": 1, "category": "smear", "description": "paint dragged", "confidence": 0.8},
                                            {"region": 2, "category": "melted_text"}]})]
    defects = reasoner(Image.new("RGB", (32, 32)), "a cat", _regions())
    assert [d.category for d in defects] == ["smear", "melted_text"]
    assert defects[0].description == "paint dragged" and defects[1].dimension == "text"
    body = fake.requests[-1]
    assert body["response_format"]["type"] == "json_schema"
    assert "invalid" in json.dumps(body["messages"][-1])  # the retry says what was wrong
    fake.replies = ["not json", "still not json"]
    with pytest.raises(ToolError, match="no valid answer"):
        reasoner(Image.new("RGB", (32, 32)), "a cat", _regions())


def test_vlm_reasoner_unreachable_is_a_tool_error() -> None:
    pytest.importorskip("openai")
    from local_server import dead_url  # noqa: PLC0415 - the tests' helper module

    reasoner = VLMReasoner(OpenAISettings(model="m", base_url=dead_url(), api_key_required=False, max_retries=0))
    with pytest.raises(ToolError, match="VLM reasoner"):
        reasoner(Image.new("RGB", (8, 8)), "x", _regions())


# -- the agent's retouch stage --------------------------------------------------------------------------


def test_agent_retouch_stage_is_typed_judged_and_kept_only_when_the_verdict_holds(sandbox_tools: dict[str, Tool]) -> None:
    item = _item()
    cfg = load_config("sandbox")
    retoucher = Retoucher(OraclePerceiver(item.clean), NameEverything("noise_patch"),  # type: ignore[arg-type]
                          {"ivy": sandbox_tools["ivy"], "heath": sandbox_tools["heath"]})
    agent = Agent(cfg, tools=sandbox_tools, retoucher=retoucher)
    steps = list(agent.retouch(item.image, item.prompt))
    kinds = [s.type for s in steps]
    assert kinds[:2] == ["analysis", "evaluation"] and kinds[-1] == "final" and "retouch" in kinds
    keep = [s for s in steps if isinstance(s, RetouchStep) and s.stage == "keep"]
    assert len(keep) == 1
    final = steps[-1]
    evals = [s for s in steps if s.type == "evaluation"]
    if keep[0].kept:
        assert final.image_path == keep[0].image_path and evals[-1].verdict.score >= evals[0].verdict.score
    else:
        assert final.image_path == "images/input.png"
    assert all(parse_step(s.model_dump_json()).type == s.type for s in steps)
    # the whole stage is one round, and the final step closes that round
    assert {s.round for s in steps if isinstance(s, RetouchStep)} == {1} and final.round == 1


class CornerPerceiver:
    """Test double: a defect in the top-left corner of any image."""

    threshold = 0.5

    def __call__(self, image: Image.Image, prompt: str) -> np.ndarray:
        out = np.zeros((image.height, image.width), np.float32)
        out[8:40, 8:40] = 1.0
        return out


def test_generate_with_a_retoucher_counts_the_stage_as_the_last_round(sandbox_tools: dict[str, Tool]) -> None:
    retoucher = Retoucher(CornerPerceiver(), NameEverything("noise_patch"),  # type: ignore[arg-type]
                          {"ivy": sandbox_tools["ivy"], "heath": sandbox_tools["heath"]})
    agent = Agent(load_config("sandbox"), tools=sandbox_tools, retoucher=retoucher)
    steps = list(agent.run("a red apple left of a blue cup", stream=True, rounds=2))
    loop_rounds = {s.round for s in steps if s.type not in ("retouch", "final")}
    stage = {s.round for s in steps if isinstance(s, RetouchStep)}
    assert stage == {max(loop_rounds) + 1} and steps[-1].type == "final" and steps[-1].round == max(loop_rounds) + 1


# -- the CLI --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    from limner.data.blemish import build_blemish_dataset  # noqa: PLC0415 - only this fixture
    from limner.train.saliency import SaliencyTrainer  # noqa: PLC0415 - imports torch
    from limner.train.saliency_config import SaliencyConfig  # noqa: PLC0415
    from limner.train.saliency_regions import RegionTrainer  # noqa: PLC0415

    root = tmp_path_factory.mktemp("tiny")
    build_blemish_dataset(BlemishJob(n=20, size=64, shard_size=20, splits=(0.5, 0.5, 0.0)), root / "data")
    cfg = SaliencyConfig(data_dir=str(root / "data"), output_dir=str(root / "w"), image_size=32, channels=(8, 8, 16),
                         dim=16, batch_size=4, max_steps=2, eval_steps=2, save_steps=2, classifier_steps=2, crop_size=16)
    SaliencyTrainer(cfg).train()
    RegionTrainer(cfg).train()
    return root / "w"


def test_cli_retouch_runs_and_reports_bad_weights(tiny_weights: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner  # noqa: PLC0415

    from limner.cli.main import app  # noqa: PLC0415

    item = _item()
    item.image.save(tmp_path / "in.png")
    args = ["retouch", str(tmp_path / "in.png"), "--prompt", item.prompt, "--out", str(tmp_path / "runs"), "--json"]
    result = CliRunner().invoke(app, [*args, "--weights", str(tiny_weights), "--threshold", "0.3"])
    assert result.exit_code in (0, 1), result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(summary["final_image"]).is_file()
    steps = [json.loads(line) for line in Path(summary["trajectory"]).read_text().splitlines()]
    assert any(s["type"] == "retouch" for s in steps)
    bad = CliRunner().invoke(app, [*args, "--weights", str(tmp_path / "nothing")])
    assert bad.exit_code == 2 and "cannot load the retoucher's model" in bad.output and "Traceback" not in bad.output
