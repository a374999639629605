"""Real, offline OCR: a small lazy wrapper around `rapidocr` 3.10 (PP-OCRv6 small, weights in the wheel).

Why this shape: the engine takes ~1 s and ~300 MB to load, so it is built once per process, on first
use, behind a lock; calls are serialised by a second lock because one onnxruntime session per model is
shared. Thread counts are explicit (`configure(threads=...)` before first use, default 2) so that a
benchmark can state them. The sandbox checker reads signs with it and `tools/classic.py` exposes it as
a tool. Measured trade-offs are in `shared/notes/ocr-trial.md`: reading a crop around the text (with a
small upscale) is both faster and more accurate than reading the whole image.

    >>> from limner.tools.ocr import read_text
    >>> [(text, box, score) for text, box, score in read_text(image)]   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

import cv2
import numpy as np
from PIL import Image

from limner.types import Box

__all__ = ["OcrLine", "configure", "normalise_text", "read_text", "text_matches"]

#: One read line: (text, box in the input's pixel coordinates, recogniser confidence in [0, 1]).
OcrLine = tuple[str, Box, float]

_engine: Any = None
_load_lock = threading.Lock()
_call_lock = threading.Lock()
_threads = 2


def configure(threads: int = 2) -> None:
    """Set onnxruntime's intra-op thread count. Takes effect only before the engine is first loaded."""
    global _threads
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    _threads = threads


def _load() -> Any:
    global _engine
    if _engine is None:
        with _load_lock:
            if _engine is None:
                # Deferred: importing rapidocr pulls onnxruntime and omegaconf (~1 s), needed only to read text.
                from rapidocr import RapidOCR  # noqa: PLC0415

                logging.getLogger("RapidOCR").setLevel(logging.ERROR)
                _engine = RapidOCR(
                    params={
                        "Global.log_level": "error",
                        "EngineConfig.onnxruntime.intra_op_num_threads": _threads,
                        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                        # "max" bounds the detector's input; "min" (the default) upscales crops to 736 px.
                        "Det.limit_type": "max",
                        "Det.limit_side_len": 960,
                    }
                )
    return _engine


def _to_bgr(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, Image.Image):
        rgb = np.asarray(image.convert("RGB"))
        return np.ascontiguousarray(rgb[:, :, ::-1])
    arr = np.asarray(image)
    if arr.ndim == 2:
        return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an HxW, HxWx3 or HxWx4 array, got shape {arr.shape}")
    return np.ascontiguousarray(arr[:, :, :3])  # arrays are taken as BGR, like OpenCV and rapidocr


def read_text(image: Image.Image | np.ndarray, *, upscale: float = 1.0, min_score: float = 0.5) -> list[OcrLine]:
    """Detect and read the text lines in `image` (a PIL image, or a BGR/grey array such as a crop).

    `upscale` > 1 enlarges the input first (small text reads better at 2x); boxes are returned in the
    input's own coordinates either way. Lines scoring below `min_score` are dropped.
    """
    bgr = _to_bgr(image)
    h, w = bgr.shape[:2]
    if h < 2 or w < 2:
        return []
    if upscale != 1.0:
        bgr = cv2.resize(bgr, (max(2, round(w * upscale)), max(2, round(h * upscale))), interpolation=cv2.INTER_CUBIC)
    engine = _load()
    with _call_lock:
        out = engine(bgr)
    txts = getattr(out, "txts", None)
    boxes = getattr(out, "boxes", None)
    scores = getattr(out, "scores", None)
    if not txts or boxes is None:
        return []
    lines: list[OcrLine] = []
    for text, quad, score in zip(txts, boxes, scores):
        if float(score) < min_score or not str(text).strip():
            continue
        q = np.asarray(quad, dtype=float) / upscale
        box = Box(
            x0=max(0, int(np.floor(q[:, 0].min()))),
            y0=max(0, int(np.floor(q[:, 1].min()))),
            x1=min(w, int(np.ceil(q[:, 0].max()))),
            y1=min(h, int(np.ceil(q[:, 1].max()))),
        )
        lines.append((str(text), box, float(score)))
    return lines


_SPACE = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """The form two texts are compared in: case-folded, all whitespace removed (the checker's 'exact match')."""
    return _SPACE.sub("", text).casefold()


def text_matches(expected: str, read: str) -> bool:
    """Exact match ignoring case and spacing."""
    return normalise_text(expected) == normalise_text(read)
