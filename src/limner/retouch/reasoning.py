"""Reasoning: from a saliency map to named defects (category, dimension, box, mask, description).

The paper's reasoning agent reads each masked region and names what is wrong. Here the masks come from
thresholding S at τ_s, dilating (a repair needs a little margin around what the model marked) and taking
connected components; each region is then named by one of two reasoners behind one interface:

- `OfflineReasoner`: the region classifier trained on the blemish dataset (`limner train saliency`);
- `VLMReasoner`: a vision-language model over an OpenAI-compatible endpoint, asked for one structured
  JSON answer (a category from the taxonomy and a short description per numbered region).
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
from PIL import Image, ImageDraw
from pydantic import BaseModel, Field, ValidationError

from limner.tools.base import ToolError
from limner.tools.openai_client import OpenAISettings, redact
from limner.types import Box, Defect

__all__ = [
    "DEFECT_CATEGORIES", "DIMENSION_OF", "FoundRegion", "OfflineReasoner", "Reasoner", "VLMReasoner", "find_regions",
]

#: The defect taxonomy and its dimensions (the same grouping as `limner.data.blemish.DIMENSIONS`; the data
#: package sits above this layer, so the table is stated here and a test keeps the two equal).
DIMENSION_OF: dict[str, str] = {
    "warped_shape": "geometry", "missing_part": "geometry", "duplicated_fragment": "geometry",
    "smear": "surface", "noise_patch": "surface", "color_bleed": "surface",
    "broken_outline": "line", "stray_marks": "line",
    "melted_text": "text",
}
DEFECT_CATEGORIES: tuple[str, ...] = tuple(DIMENSION_OF)
_DESCRIPTIONS: dict[str, str] = {
    "smear": "a streak where the paint was dragged sideways", "broken_outline": "a gap in an outline",
    "duplicated_fragment": "a ghost copy of part of an object", "missing_part": "a chunk of an object cut away",
    "noise_patch": "a patch of coloured noise", "melted_text": "letters that run into each other",
    "color_bleed": "colour spilling outside an outline", "warped_shape": "part of an object bent into a wave",
    "stray_marks": "dark strokes that belong to nothing",
}


@dataclass
class FoundRegion:
    """A connected region of the thresholded, dilated saliency map."""

    mask: np.ndarray
    box: Box
    saliency: float


def find_regions(saliency: np.ndarray, threshold: float, *, dilate: int = 2, min_area: int = 6,
                 max_regions: int = 8) -> list[FoundRegion]:
    """Binarise S at τ_s, dilate by `dilate` px, split into connected components (largest mass first)."""
    s = np.asarray(saliency, np.float32)
    binary = (s > threshold).astype(np.uint8)
    if dilate > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
        binary = cv2.dilate(binary, k)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    found = []
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] < min_area:
            continue
        m = labels == i
        x, y, w, h = (int(v) for v in stats[i, :4])
        found.append(FoundRegion(mask=m, box=Box(x0=x, y0=y, x1=x + w, y1=y + h), saliency=float(s[m].mean())))
    found.sort(key=lambda r: r.saliency * r.mask.sum(), reverse=True)
    return found[:max_regions]


class Reasoner(Protocol):
    """Names the defect in each region."""

    name: str

    def __call__(self, image: Image.Image, prompt: str, regions: list[FoundRegion]) -> list[Defect]: ...


def _defect(region: FoundRegion, category: str, confidence: float | None, description: str) -> Defect:
    return Defect(category=category, dimension=DIMENSION_OF.get(category, "surface"), box=region.box,
                  area=int(region.mask.sum()), saliency=min(1.0, max(0.0, region.saliency)),
                  confidence=confidence, description=description or _DESCRIPTIONS.get(category, category))


class OfflineReasoner:
    """The region classifier trained on the blemish dataset (`<weights>/regions`)."""

    name = "classifier"

    def __init__(self, classifier: Any) -> None:
        self.classifier = classifier

    @classmethod
    def load(cls, directory: str | Path) -> OfflineReasoner:
        from limner.train.saliency_regions import RegionClassifier  # noqa: PLC0415 - imports torch

        directory = Path(directory)
        path = directory / "regions" if (directory / "regions").is_dir() else directory
        return cls(RegionClassifier.from_pretrained(path))

    def __call__(self, image: Image.Image, prompt: str, regions: list[FoundRegion]) -> list[Defect]:
        named = self.classifier.classify(image, [r.mask for r in regions], prompt)
        return [_defect(r, cat, p, _DESCRIPTIONS.get(cat, cat)) for r, (cat, p) in zip(regions, named, strict=True)]


class _RegionAnswer(BaseModel):
    region: int = Field(ge=1, description="the region's number as drawn on the image")
    category: str = Field(description=f"one of {list(DEFECT_CATEGORIES)}")
    description: str = Field(default="", max_length=200)
    confidence: float | None = Field(default=None, ge=0, le=1)


class VLMAnswer(BaseModel):
    """The structured reply the VLM must give: one entry per numbered region."""

    regions: list[_RegionAnswer]


def _annotated(image: Image.Image, regions: list[FoundRegion]) -> Image.Image:
    """The image with each region's box drawn and numbered, so the VLM can refer to it."""
    out = image.convert("RGB").copy()
    d = ImageDraw.Draw(out)
    for i, r in enumerate(regions, 1):
        d.rectangle((r.box.x0, r.box.y0, r.box.x1, r.box.y1), outline=(255, 0, 255), width=2)
        d.text((r.box.x0 + 2, max(0, r.box.y0 - 11)), str(i), fill=(255, 0, 255))
    return out


def _data_url(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


class VLMReasoner:
    """A VLM over an OpenAI-compatible endpoint, with structured output (JSON schema) and one retry on an
    answer that does not validate. Categories outside the taxonomy are an invalid answer."""

    name = "vlm"

    def __init__(self, settings: OpenAISettings, *, retries: int = 1) -> None:
        self.settings, self.retries = settings, retries

    def _question(self, prompt: str, n: int) -> str:
        cats = ", ".join(f"{c} ({_DESCRIPTIONS[c]})" for c in DEFECT_CATEGORIES)
        return (f"The image was generated for the prompt: {prompt!r}. {n} regions are boxed and numbered in "
                f"magenta. For each region, name the local defect it shows, one of: {cats}; and describe it in "
                "a few words (which object, what is wrong). Answer with JSON only: "
                '{"regions": [{"region": 1, "category": "...", "description": "...", "confidence": 0.9}]}')

    def __call__(self, image: Image.Image, prompt: str, regions: list[FoundRegion]) -> list[Defect]:
        if not regions:
            return []
        import openai  # noqa: PLC0415 - optional (limner[llm]): only the online reasoner needs it

        key = self.settings.api_key()
        client = self.settings.openai_client(key)
        messages: list[dict[str, Any]] = [{"role": "user", "content": [
            {"type": "text", "text": self._question(prompt, len(regions))},
            {"type": "image_url", "image_url": {"url": _data_url(_annotated(image, regions))}}]}]
        schema = {"type": "json_schema", "json_schema": {"name": "defects", "schema": VLMAnswer.model_json_schema()}}
        problem = ""
        for _ in range(self.retries + 1):
            try:
                reply = client.chat.completions.create(model=self.settings.model, messages=messages,
                                                       response_format=schema)  # type: ignore[arg-type]
            except openai.APIError as e:  # connection, HTTP status, time-out (after the SDK's retries)
                raise ToolError(redact(f"VLM reasoner at {self.settings.base_url}: {type(e).__name__}: "
                                       f"{str(e).splitlines()[0] if str(e) else ''}", key)) from None
            text = reply.choices[0].message.content or ""
            try:
                answer = VLMAnswer.model_validate(json.loads(text))
                bad = [a.category for a in answer.regions if a.category not in DIMENSION_OF]
                if bad:
                    raise ValueError(f"categories outside the taxonomy: {bad}")
                by_region = {a.region: a for a in answer.regions}
                return [_defect(r, by_region[i].category, by_region[i].confidence, by_region[i].description)
                        if i in by_region else _defect(r, "smear", 0.0, "not named by the VLM")
                        for i, r in enumerate(regions, 1)]
            except (ValueError, ValidationError) as e:
                problem = str(e).splitlines()[0]
                messages.append({"role": "assistant", "content": text})
                messages.append({"role": "user", "content": f"That answer is invalid ({problem}). Answer again "
                                                            "with JSON only, in the schema asked for."})
        raise ToolError(f"VLM reasoner at {self.settings.base_url}: no valid answer after {self.retries + 1} "
                        f"tries; last problem: {problem}")
