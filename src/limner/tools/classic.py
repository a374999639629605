"""Real offline tools that need no diffusion model: OCR, OpenCV inpainting, a mediapipe defect probe.

They run on real images, on any CPU, with weights that ship inside their packages (rapidocr) or need
none (OpenCV), so they are the real-world counterparts of sandbox tools that cost nothing to keep
configured:

- `ocr` reads text (rapidocr PP-OCRv6 via `limner.tools.ocr.read_text`); optionally inside a box.
- `cv2_inpaint` fills a masked region from its surroundings (Telea or Navier–Stokes). It cannot draw
  anything new, so it is profiled only on `remove`.
- `mediapipe_probe` finds hands and faces and flags geometry that real anatomy does not have (a finger
  segment longer than the palm, a collapsed finger, a strongly asymmetric face). The flags are
  heuristics for the retoucher to look closer, not a verdict. mediapipe is optional: it is imported on
  first use and its landmark models (`hand_landmarker.task`, `face_landmarker.task`) are given as paths,
  because the wheel ships none.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import cv2
import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from limner.tools import ocr
from limner.tools.base import Tool, ToolError, parse_options
from limner.types import Box, ToolCall, ToolResult

__all__ = ["TOOL_TYPES", "Cv2Inpaint", "MediapipeProbe", "OcrTool", "face_defects", "hand_defects"]


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _ClassicTool(Tool):
    backend: ClassVar[str] = "classic"
    options_model: ClassVar[type[_Options]]

    def __init__(
        self, name: str, *, description: str = "", dims: list[str] | None = None, cost: float = 0.1, **options: Any
    ) -> None:
        super().__init__(name, description=description, dims=dims, cost=cost, **options)
        self.opts = parse_options(self.options_model, name, options)

    #: packages the tool imports on first use
    requires: ClassVar[tuple[str, ...]] = ()

    def unavailable_reason(self) -> str | None:
        """Why this tool cannot load here (a missing package), or None. Loads nothing."""
        missing = [m for m in self.requires if importlib.util.find_spec(m) is None]
        return f"missing packages {missing}" if missing else None

    def _need_image(self, image: Image.Image | None) -> Image.Image:
        if image is None:
            raise ToolError(f"{self.kind} tool {self.name!r} needs an input image")
        return image


# ----------------------------------------------------------------------------------------------------
# OCR
# ----------------------------------------------------------------------------------------------------


class OcrOptions(_Options):
    upscale: float = Field(default=1.0, gt=0, le=4, description="upscale before reading (2 helps small text)")
    min_score: float = Field(default=0.5, ge=0, le=1)
    threads: int | None = Field(default=None, ge=1, description="onnxruntime threads (before first use)")


class OcrTool(_ClassicTool):
    """Read the text in an image (rapidocr, offline). `call.params['box']` limits it to a region."""

    kind = "ocr"
    options_model = OcrOptions
    requires = ("rapidocr", "onnxruntime")
    default_dims = ("text",)

    def setup(self) -> None:
        # rapidocr itself loads on the first read (limner.tools.ocr defers it): say here what is missing
        missing = [m for m in self.requires if importlib.util.find_spec(m) is None]
        if missing:
            raise ToolError(f"OCR needs {missing[0]!r}: pip install rapidocr==3.10.0 onnxruntime")
        if self.opts.threads is not None:
            ocr.configure(threads=self.opts.threads)

    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        image = self._need_image(image).convert("RGB")
        x0 = y0 = 0
        if "box" in call.params:
            try:
                box = Box.model_validate(call.params["box"])
            except ValidationError as e:
                raise ToolError(f"tool {self.name!r}: params.box is not a box: {e}") from None
            x0, y0 = max(0, box.x0), max(0, box.y0)
            image = image.crop((x0, y0, min(image.width, box.x1), min(image.height, box.y1)))
            if image.width == 0 or image.height == 0:
                raise ToolError(f"tool {self.name!r}: params.box lies outside the image")
        lines = ocr.read_text(image, upscale=self.opts.upscale, min_score=self.opts.min_score)
        out = [
            {"text": text, "score": round(float(score), 4),
             "box": {"x0": b.x0 + x0, "y0": b.y0 + y0, "x1": b.x1 + x0, "y1": b.y1 + y0}}
            for text, b, score in lines
        ]
        return ToolResult(tool=self.name, meta={"lines": out, "text": " ".join(d["text"] for d in out)})


# ----------------------------------------------------------------------------------------------------
# OpenCV inpainting
# ----------------------------------------------------------------------------------------------------


class Cv2InpaintOptions(_Options):
    method: Literal["telea", "ns"] = "telea"
    radius: int = Field(default=5, ge=1, le=64, description="neighbourhood radius in pixels")
    dilate: int = Field(default=2, ge=0, le=64, description="grow the mask by this many pixels to cover edges")


class Cv2Inpaint(_ClassicTool):
    """Fill the masked region from its surroundings (OpenCV Telea / Navier–Stokes). White mask = fill."""

    kind = "inpaint"
    options_model = Cv2InpaintOptions
    requires = ("cv2",)
    default_dims = ("remove",)

    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        assert image is not None and mask is not None
        rgb = np.asarray(image.convert("RGB"))
        m = np.asarray(mask.convert("L").resize(image.size, Image.Resampling.NEAREST))
        m = np.where(m >= 128, 255, 0).astype(np.uint8)
        if self.opts.dilate:
            k = 2 * self.opts.dilate + 1
            m = cv2.dilate(m, np.ones((k, k), np.uint8))
        flag = cv2.INPAINT_TELEA if self.opts.method == "telea" else cv2.INPAINT_NS
        filled = cv2.inpaint(np.ascontiguousarray(rgb[:, :, ::-1]), m, self.opts.radius, flag)[:, :, ::-1]
        return ToolResult(
            tool=self.name,
            image=Image.fromarray(np.ascontiguousarray(filled)),
            meta={"method": self.opts.method, "masked_fraction": round(float((m > 0).mean()), 4)},
        )


# ----------------------------------------------------------------------------------------------------
# mediapipe hands / faces
# ----------------------------------------------------------------------------------------------------

#: Hand landmark chains (MediaPipe's 21-point hand model): thumb, index, middle, ring, little.
FINGERS: tuple[tuple[int, ...], ...] = ((1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20))
_FINGER_NAMES = ("thumb", "index", "middle", "ring", "little")


def _dist(a: Sequence[float], b: Sequence[float]) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def hand_defects(
    points: Sequence[Sequence[float]], *, score: float = 1.0, min_score: float = 0.6,
    max_segment: float = 1.2, min_segment: float = 0.03,
) -> list[str]:
    """Anatomical red flags of one 21-landmark hand (coordinates in pixels), as readable phrases.

    A bone segment is measured against the palm (wrist to middle-finger knuckle): real segments are
    roughly 0.2–0.6 palms. Thresholds are deliberately loose so that ordinary poses and foreshortening
    do not trip them; they are heuristics, not tuned on data.
    """
    if len(points) != 21:
        raise ValueError(f"a hand has 21 landmarks, got {len(points)}")
    flags: list[str] = []
    if score < min_score:
        flags.append(f"uncertain hand (handedness confidence {score:.2f} < {min_score})")
    palm = _dist(points[0], points[9])
    if palm <= 1e-6:
        return [*flags, "degenerate hand (zero palm size)"]
    for name, chain in zip(_FINGER_NAMES, FINGERS, strict=True):
        segs = [_dist(points[a], points[b]) / palm for a, b in itertools.pairwise(chain)]
        if max(segs) > max_segment:
            flags.append(f"{name} finger segment {max(segs):.2f}× the palm (elongated)")
        if min(segs) < min_segment:
            flags.append(f"{name} finger segment {min(segs):.3f}× the palm (collapsed)")
    return flags


#: FaceLandmarker indices: nose tip, outer corners of the two eyes.
_NOSE, _EYE_A, _EYE_B = 1, 33, 263


def face_defects(points: Sequence[Sequence[float]], *, max_asymmetry: float = 1.8) -> list[str]:
    """Red flags of one face mesh (478 or 468 landmarks, pixels): eyes very unequally far from the nose."""
    if len(points) <= _EYE_B:
        raise ValueError(f"a face mesh has 468+ landmarks, got {len(points)}")
    a, b = _dist(points[_EYE_A], points[_NOSE]), _dist(points[_EYE_B], points[_NOSE])
    if min(a, b) <= 1e-6:
        return ["degenerate face (eye on the nose)"]
    ratio = max(a, b) / min(a, b)
    return [f"asymmetric face (eye-to-nose distances differ {ratio:.2f}×)"] if ratio > max_asymmetry else []


class MediapipeOptions(_Options):
    hand_model: Path | None = Field(default=None, description="path to hand_landmarker.task")
    face_model: Path | None = Field(default=None, description="path to face_landmarker.task")
    max_hands: int = Field(default=6, ge=1, le=32)
    max_faces: int = Field(default=4, ge=1, le=32)
    min_confidence: float = Field(default=0.5, ge=0, le=1)
    min_hand_score: float = Field(default=0.6, ge=0, le=1, description="below this a hand is flagged uncertain")


class MediapipeProbe(_ClassicTool):
    """Find hands and faces (mediapipe) and flag anatomically implausible ones for the retoucher."""

    kind = "detect"
    options_model = MediapipeOptions
    requires = ("mediapipe",)
    default_dims = ()

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        if self.opts.hand_model is None and self.opts.face_model is None:
            raise ValueError(f"tool {name!r}: set options.hand_model and/or options.face_model (.task files)")
        self._hands: Any = None
        self._faces: Any = None

    def unavailable_reason(self) -> str | None:
        reason = super().unavailable_reason()
        if reason:
            return reason + " (pip install mediapipe)"
        for path in (self.opts.hand_model, self.opts.face_model):
            if path is not None and not path.is_file():
                return f"model file not found: {path}"
        return None

    def setup(self) -> None:
        try:  # optional (pip install mediapipe) and heavy: loaded when a probe is first used
            from mediapipe.tasks.python import BaseOptions, vision  # noqa: PLC0415
        except ImportError:
            raise ToolError(
                f"tool {self.name!r} needs mediapipe, which is not installed (pip install mediapipe); "
                "its landmark models are separate downloads (hand_landmarker.task, face_landmarker.task)"
            ) from None
        o = self.opts
        for path in (o.hand_model, o.face_model):
            if path is not None and not path.is_file():
                raise ToolError(f"tool {self.name!r}: model file not found: {path}")
        if o.hand_model is not None:
            self._hands = vision.HandLandmarker.create_from_options(vision.HandLandmarkerOptions(
                base_options=BaseOptions(model_asset_path=str(o.hand_model)), num_hands=o.max_hands,
                min_hand_detection_confidence=o.min_confidence,
            ))
        if o.face_model is not None:
            self._faces = vision.FaceLandmarker.create_from_options(vision.FaceLandmarkerOptions(
                base_options=BaseOptions(model_asset_path=str(o.face_model)), num_faces=o.max_faces,
                min_face_detection_confidence=o.min_confidence,
            ))

    def unload(self) -> None:
        for det in (self._hands, self._faces):
            if det is not None:
                det.close()
        self._hands = self._faces = None
        super().unload()

    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        import mediapipe as mp  # noqa: PLC0415 - optional; setup() has loaded it (or said it is missing)

        rgb = np.ascontiguousarray(np.asarray(self._need_image(image).convert("RGB")))
        h, w = rgb.shape[:2]
        frame = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        hands, faces, defects = [], [], []
        if self._hands is not None:
            res = self._hands.detect(frame)
            for i, (lms, cats) in enumerate(zip(res.hand_landmarks, res.handedness, strict=True)):
                pts = [(lm.x * w, lm.y * h) for lm in lms]
                score = float(cats[0].score) if cats else 0.0
                box = _box(pts, w, h)
                hands.append({"handedness": cats[0].category_name if cats else "", "score": round(score, 3), "box": box})
                for flag in hand_defects(pts, score=score, min_score=self.opts.min_hand_score):
                    defects.append({"target": f"hand{i}", "kind": "defect", "box": box, "evidence": flag})
        if self._faces is not None:
            res = self._faces.detect(frame)
            for i, lms in enumerate(res.face_landmarks):
                pts = [(lm.x * w, lm.y * h) for lm in lms]
                box = _box(pts, w, h)
                faces.append({"box": box, "landmarks": len(pts)})
                for flag in face_defects(pts):
                    defects.append({"target": f"face{i}", "kind": "defect", "box": box, "evidence": flag})
        return ToolResult(tool=self.name, meta={"hands": hands, "faces": faces, "defects": defects})


def _box(points: Sequence[Sequence[float]], w: int, h: int) -> dict[str, int]:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return {"x0": max(0, int(min(xs))), "y0": max(0, int(min(ys))),
            "x1": min(w, math.ceil(max(xs))), "y1": min(h, math.ceil(max(ys)))}


TOOL_TYPES: dict[str, type[Tool]] = {"ocr": OcrTool, "cv2_inpaint": Cv2Inpaint, "mediapipe_probe": MediapipeProbe}
