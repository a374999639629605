"""The rapidocr wrapper: reads a rendered sandbox sign; the checker's text checks use it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from limner.tools.ocr import normalise_text, read_text, text_matches
from limner.tools.sandbox.checker import check_image
from limner.tools.sandbox.render import render_scene
from limner.types import Element, Scene


def test_normalise_ignores_case_and_spacing():
    assert normalise_text(" Open\tNow ") == "opennow"
    assert text_matches("OPEN NOW", "open now") and text_matches("CAFE", "C A F E")
    assert not text_matches("OPEN", "0PEN")


def test_reads_a_plain_label_with_box():
    image = Image.new("RGB", (320, 120), (235, 240, 245))
    ImageDraw.Draw(image).text((40, 40), "HELLO", fill=(20, 20, 20), font=ImageFont.load_default(36))
    lines = read_text(image)
    assert [t for t, _, _ in lines] == ["HELLO"]
    _text, box, score = lines[0]
    assert 30 <= box.x0 < box.x1 <= 200 and 30 <= box.y0 < box.y1 <= 100 and 0.5 <= score <= 1.0


def test_blank_and_bad_inputs():
    assert read_text(Image.new("RGB", (64, 64), "white")) == []
    with pytest.raises(ValueError, match="shape"):
        read_text(np.zeros((4, 4, 2), dtype=np.uint8))


def test_checker_reads_a_rendered_sign():
    scene = Scene(
        prompt='a sign that says "BAKERY" and a cat',
        elements=[Element(id="e0", noun="sign", cls="sign", text="BAKERY"), Element(id="e1", noun="cat", cls="cat")],
    )
    image, truth = render_scene(scene, seed=1)
    assert [t.text for t in truth.texts] == ["BAKERY"]
    verdict = check_image(image, scene)
    text_check = next(c for c in verdict.checks if c.kind == "text")
    assert text_check.passed, text_check.evidence
    wrong = scene.model_copy(update={"elements": [scene.elements[0].model_copy(update={"text": "BAKER"}),
                                                  scene.elements[1]]})
    miss = next(c for c in check_image(image, wrong).checks if c.kind == "text")
    assert not miss.passed and "BAKERY" in miss.evidence
    no_ocr = check_image(image, scene, ocr=False)
    assert not any(c.kind == "text" for c in no_ocr.checks)
    assert any("OCR disabled" in u for u in no_ocr.unsupported)
