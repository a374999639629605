"""Classic real tools: rapidocr OCR, OpenCV inpainting, the mediapipe defect probe (heuristics, errors)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from limner.config import load_config
from limner.tools.base import ToolError
from limner.tools.classic import TOOL_TYPES, Cv2Inpaint, MediapipeProbe, OcrTool, face_defects, hand_defects
from limner.tools.registry import ToolRegistry
from limner.types import ToolCall


def _sign(text: str, size: tuple[int, int] = (320, 120)) -> Image.Image:
    img = Image.new("RGB", size, "white")
    ImageDraw.Draw(img).text((20, 30), text, fill="black", font=ImageFont.load_default(size=40))
    return img


@pytest.mark.skipif(importlib.util.find_spec("rapidocr") is None, reason="rapidocr not installed")
def test_ocr_reads_text_and_respects_box() -> None:
    tool = OcrTool("ocr", threads=1)
    img = Image.new("RGB", (640, 120), "white")
    img.paste(_sign("OPEN"), (0, 0))
    img.paste(_sign("CLOSED"), (320, 0))
    res = tool(ToolCall(tool="ocr"), image=img)
    assert "OPEN" in res.meta["text"] and "CLOSED" in res.meta["text"]
    right = tool(ToolCall(tool="ocr", params={"box": {"x0": 320, "y0": 0, "x1": 640, "y1": 120}}), image=img)
    assert right.meta["text"] == "CLOSED"
    assert all(line["box"]["x0"] >= 320 for line in right.meta["lines"])  # boxes in full-image coordinates
    with pytest.raises(ToolError, match="needs an input image"):
        tool(ToolCall(tool="ocr"))
    with pytest.raises(ToolError, match="not a box"):
        tool(ToolCall(tool="ocr", params={"box": {"x0": 5}}), image=img)


@pytest.mark.parametrize("method", ["telea", "ns"])
def test_cv2_inpaint_removes_a_masked_object(method: str) -> None:
    img = Image.new("RGB", (64, 64), (40, 160, 40))
    ImageDraw.Draw(img).ellipse((24, 24, 40, 40), fill=(220, 20, 20))
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((22, 22, 42, 42), fill=255)
    tool = Cv2Inpaint("fill", method=method, radius=3)
    res = tool(ToolCall(tool="fill"), image=img, mask=mask)
    out = np.asarray(res.image).astype(int)
    assert res.image.size == (64, 64)
    assert np.abs(out[32, 32] - (40, 160, 40)).max() < 30, "red disc should be filled with the green around it"
    assert (out[:16] == (40, 160, 40)).all(), "pixels far from the mask are untouched"
    assert res.meta["method"] == method and 0 < res.meta["masked_fraction"] < 0.2


def test_cv2_inpaint_needs_a_mask_and_checks_options() -> None:
    with pytest.raises(ToolError, match="needs a mask"):
        Cv2Inpaint("fill")(ToolCall(tool="fill"), image=Image.new("RGB", (8, 8)))
    with pytest.raises(ValueError, match="method"):
        Cv2Inpaint("fill", method="fast")


def _hand(scale: float = 100.0) -> list[tuple[float, float]]:
    """A plausible open right hand: wrist at the bottom, five fingers fanning upwards."""
    pts = [(0.0, 0.0)] * 21
    pts[0] = (0.0, 0.0)
    bases = {1: (-0.35, -0.25), 5: (-0.25, -0.9), 9: (0.0, -1.0), 13: (0.22, -0.95), 17: (0.42, -0.8)}
    lengths = {1: (0.35, 0.3, 0.25), 5: (0.45, 0.27, 0.2), 9: (0.5, 0.3, 0.22), 13: (0.45, 0.28, 0.2), 17: (0.35, 0.22, 0.18)}
    for base, (bx, by) in bases.items():
        pts[base] = (bx, by)
        ang = math.atan2(by, bx)
        x, y = bx, by
        for k, seg in enumerate(lengths[base], start=1):
            x, y = x + seg * math.cos(ang), y + seg * math.sin(ang)
            pts[base + k] = (x, y)
    return [(x * scale, y * scale) for x, y in pts]


def test_hand_defects_pass_a_plausible_hand_and_flag_broken_ones() -> None:
    assert hand_defects(_hand()) == []
    long = _hand()
    long[8] = (long[7][0], long[7][1] - 200.0)  # index fingertip two palms away
    assert any("index" in f and "elongated" in f for f in hand_defects(long))
    collapsed = _hand()
    collapsed[12] = collapsed[11]
    assert any("middle" in f and "collapsed" in f for f in hand_defects(collapsed))
    assert any("uncertain" in f for f in hand_defects(_hand(), score=0.3))
    with pytest.raises(ValueError, match="21"):
        hand_defects(_hand()[:20])


def test_face_defects_flag_asymmetry() -> None:
    pts = [(50.0, 50.0)] * 478
    pts[1], pts[33], pts[263] = (50.0, 60.0), (30.0, 40.0), (70.0, 40.0)
    assert face_defects(pts) == []
    pts[263] = (130.0, 40.0)
    assert face_defects(pts) and "asymmetric" in face_defects(pts)[0]


def test_mediapipe_probe_requires_a_model_and_explains_a_missing_package(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="hand_model"):
        MediapipeProbe("probe")
    probe = MediapipeProbe("probe", hand_model=str(tmp_path / "hand_landmarker.task"))
    assert probe.kind == "detect"
    if importlib.util.find_spec("mediapipe") is None:
        with pytest.raises(ToolError, match="needs mediapipe"):
            probe(ToolCall(tool="probe"), image=Image.new("RGB", (32, 32)))
    else:
        with pytest.raises(ToolError, match="not found"):
            probe(ToolCall(tool="probe"), image=Image.new("RGB", (32, 32)))


def test_classic_preset_builds_through_the_registry() -> None:
    cfg = load_config("classic")
    reg = ToolRegistry.from_config(cfg)
    built = {name: reg.get(name) for name in reg.names if reg.config(name).backend == "classic"}
    assert {type(t) for t in built.values()} >= {OcrTool, Cv2Inpaint}
    fill = next(t for t in built.values() if isinstance(t, Cv2Inpaint))
    img = Image.new("RGB", (32, 32), "blue")
    res = fill(ToolCall(tool=fill.name), image=img, mask=Image.new("L", (32, 32), 255))
    assert res.image.size == (32, 32)
    assert set(TOOL_TYPES) == {"ocr", "cv2_inpaint", "mediapipe_probe"}


def test_unavailable_reason_explains_without_loading(tmp_path: Path) -> None:
    probe = MediapipeProbe("probe", face_model=str(tmp_path / "face.task"))
    reason = probe.unavailable_reason()
    assert reason is not None and ("mediapipe" in reason or "not found" in reason)
    assert Cv2Inpaint("fill").unavailable_reason() is None
