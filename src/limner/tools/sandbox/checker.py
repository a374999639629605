"""The sandbox checker: judge an image against a Scene from its pixels only.

It never sees what a painter meant to draw or what the world's ground truth says; it gets the picture
(a PIL image, an array, or a PNG path) and the `Scene`, and returns a `Verdict` with one `Check` per
element attribute and per relation, each with a score, a box and a readable reason. That makes it usable
on any PNG, and lets `benchmarks/sandbox.py` measure its own accuracy against the world's ground truth.

Conventions (see docs/checker.md); they are those of the world's truth grader (`world.grade_truth`),
so the checker's accuracy can be measured check by check:
- presence: at least one instance found; `count` is checked exactly when the scene asks for a count
  other than one (GenEval's counting); a negated element is an `absence` check.
- colour: `count` instances carry it (all found ones if fewer were found); texture: every found one.
- Several elements of one class ("a red apple and a green apple") share that class's detections:
  each detection goes to the element whose attributes it matches.
- 2D relations between multi-instance elements compare group centroids (the mean of the instances'
  box centres, GenEval-style), with a dead zone of 5 % of the image side; `on`: subject higher and
  some pair overlapping or touching; `next to`: nearest gap under 20 % of the short side. One rule
  for the truth and the checker: `limner.geometry.relation_holds_boxes` with `GENEVAL_THRESHOLDS`.
- depth: for every overlapping (subject, object) pair, the object whose outline ink is visible in the
  overlap is in front; no overlap means no visible depth order (fails).
- text: OCR (rapidocr) of the image; exact match ignoring case and spacing against a read line or a run
  of consecutive lines.
- global score = 1 when every check passes, else 0 (GenEval's all-or-nothing per prompt);
  `Verdict.score = lam · global + (1 − lam) · mean(local)`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from limner.geometry import centroid, nearest_gap, paste_mask, relation_holds_boxes
from limner.tools.base import Tool, ToolError
from limner.tools.ocr import normalise_text, read_text
from limner.tools.sandbox.artwork import TEXTURE_NAMES
from limner.tools.sandbox.colour_reader import read_texture
from limner.tools.sandbox.detect import Detection, Detector, get_detector
from limner.tools.sandbox.segment import darkness, estimate_background, load_rgb
from limner.types import (
    SPATIAL_2D,
    SPATIAL_3D,
    Box,
    Check,
    Element,
    Relation,
    Scene,
    ToolCall,
    ToolResult,
    Verdict,
)

__all__ = ["SandboxChecker", "check_image", "check_image_timed", "relation_holds_boxes"]

EVALUATOR = "sandbox-checker"


# ----------------------------------------------------------------------------------------------------
# Assigning detections to elements
# ----------------------------------------------------------------------------------------------------


def _assign(elements: list[Element], dets: list[Detection]) -> dict[str, list[Detection]]:
    """Give each detection of a class to one element of that class (by matching colour/texture)."""
    out: dict[str, list[Detection]] = {e.id: [] for e in elements}
    by_cls: dict[str, list[Element]] = {}
    for e in elements:
        by_cls.setdefault(e.cls, []).append(e)
    for d in sorted(dets, key=lambda d: -d.score):
        group = by_cls.get(d.cls)
        if not group:
            continue
        if len(group) == 1:
            out[group[0].id].append(d)
            continue

        def fit(e: Element, d: Detection = d) -> tuple[int, int]:
            attr = (e.color is None or e.color == d.color) + (e.texture is None or e.texture == d.texture)
            exact = (e.color is not None and e.color == d.color) + (
                e.texture is not None and e.texture == d.texture
            )
            need = max(e.count, 1) - len(out[e.id]) if not e.negated else -1
            return (attr * 2 + exact, need)

        best = max(group, key=fit)
        out[best.id].append(d)
    return out


# ----------------------------------------------------------------------------------------------------
# The checks
# ----------------------------------------------------------------------------------------------------


def _names(dets: list[Detection], e: Element) -> str:
    cols = [d.color or "?" for d in dets]
    return f"{len(dets)} {e.cls}" + (f" ({', '.join(cols)})" if dets else "")


def _element_checks(e: Element, dets: list[Detection]) -> list[Check]:
    box = Box.union([d.box for d in dets])
    found = len(dets)
    if e.negated:
        return [
            Check(
                target=e.id, kind="absence", passed=found == 0, score=1.0 if found == 0 else 0.0,
                dimension="numeracy", box=box,
                evidence=f"found {_names(dets, e)}, expected none" if found else f"no {e.cls} found, as expected",
            )
        ]
    checks = [
        Check(
            target=e.id, kind="presence", passed=found > 0, score=1.0 if found else 0.0, box=box,
            dimension="non_spatial",
            evidence=f"found {_names(dets, e)}" if found else f"no {e.cls} found, expected {max(1, e.count)}",
        )
    ]
    if e.count != 1:
        ok = found == e.count
        checks.append(
            Check(
                target=e.id, kind="count", passed=ok, dimension="numeracy", box=box,
                score=max(0.0, 1.0 - abs(found - e.count) / max(1, e.count)),
                evidence=f"found {_names(dets, e)}, expected {e.count}",
            )
        )
    # Attributes are judged on what was found: `count` instances carry the colour (all of them if fewer
    # were found), so a missing object is the count check's failure, not the colour check's.
    need = min(max(1, e.count), max(1, found))
    if e.color is not None:
        good = sum(d.color == e.color for d in dets)
        checks.append(
            Check(
                target=e.id, kind="color", passed=found > 0 and good >= need, score=min(1.0, good / need),
                dimension="color", box=box, evidence=f"found {_names(dets, e)}, expected {need} {e.color}",
            )
        )
    if e.texture is not None:
        good = sum(d.texture == e.texture for d in dets)
        seen = ", ".join(d.texture or "plain" for d in dets) or "nothing"
        checks.append(
            Check(
                target=e.id, kind="texture", passed=found > 0 and good == found,
                score=good / found if found else 0.0, dimension="texture", box=box,
                evidence=f"{e.cls} textures read: {seen}; expected {e.texture}",
            )
        )
    return checks


def _relation_check(r: Relation, subj: list[Detection], obj: list[Detection], rgb: np.ndarray) -> Check:
    dim = r.dimension
    kind = "depth" if r.predicate in SPATIAL_3D else "position"
    box = Box.union([d.box for d in subj + obj])
    if not subj or not obj:
        missing = r.subject if not subj else r.object
        return Check(
            target=r.id, kind=kind, passed=False, score=0.0, dimension=dim, box=box,
            evidence=f"cannot judge '{r.predicate}': {missing} not found",
        )
    if r.predicate in SPATIAL_2D:
        h, w = rgb.shape[:2]
        a, b = [d.box for d in subj], [d.box for d in obj]
        ok = relation_holds_boxes(r.predicate, a, b, w, h)
        (ax, ay), (bx, by) = centroid(a), centroid(b)
        if r.predicate == "next to":
            how = f"nearest gap {nearest_gap(a, b):.0f}px"
        else:
            how = f"centre of {r.subject} at ({ax:.0f},{ay:.0f}), of {r.object} at ({bx:.0f},{by:.0f})"
        return Check(
            target=r.id, kind=kind, passed=ok, score=1.0 if ok else 0.0, dimension=dim, box=box,
            evidence=f"{r.subject} {r.predicate} {r.object} {'holds' if ok else 'does not hold'}: {how}",
        )
    pairs = [(x, y) for x in subj for y in obj if x.box.overlaps(y.box)]
    if not pairs:
        return Check(
            target=r.id, kind=kind, passed=False, score=0.0, dimension=dim, box=box,
            evidence=f"{r.subject} and {r.object} do not overlap, so neither is seen {r.predicate} the other",
        )
    ink = darkness(rgb) > 0.5
    want_front = r.predicate == "in front of"
    right = 0
    reasons = []
    for x, y in pairs:
        front_is_subject, how = _subject_in_front(x, y, ink)
        right += front_is_subject == want_front
        reasons.append(how)
    ok = right == len(pairs)
    return Check(
        target=r.id, kind=kind, passed=ok, score=right / len(pairs), dimension=dim, box=box,
        evidence=f"{r.subject} {r.predicate} {r.object} holds for {right}/{len(pairs)} overlapping pairs ({reasons[0]})",
    )


def _own_outline(det: Detection, detector: Detector, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(silhouette, outline) of the detection's artwork at its place, image-sized."""
    rgba = np.asarray(detector.artwork.render(det.cls, det.size).convert("RGBA"))
    sil = rgba[..., 3] > 127
    outline = sil & (darkness(rgba[..., :3]) > 0.5)
    return paste_mask(sil, det.box.x0, det.box.y0, shape), paste_mask(outline, det.box.x0, det.box.y0, shape)


#: Fewest pixels two silhouettes must share before the outline rule decides which one is in front.
MIN_OCCLUSION_PX = 40


def _subject_in_front(a: Detection, b: Detection, ink: np.ndarray) -> tuple[bool, str]:
    """Is `a` in front of `b`? Where their silhouettes overlap, only the front one's outline is drawn.

    When the silhouettes barely overlap (boxes touching at a corner), falls back to the sandbox's
    perspective: the nearer object is drawn larger and lower.
    """
    det = get_detector()
    sil_a, out_a = _own_outline(a, det, ink.shape)
    sil_b, out_b = _own_outline(b, det, ink.shape)
    both = sil_a & sil_b
    if both.sum() >= MIN_OCCLUSION_PX:
        seen = cv2.dilate(ink.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        # outline pixels of each object inside the shared area, and how many of them are really there
        ra, rb = out_a & both & ~out_b, out_b & both & ~out_a
        va = float((seen & ra).sum() / ra.sum()) if ra.sum() >= 5 else None
        vb = float((seen & rb).sum() / rb.sum()) if rb.sum() >= 5 else None
        if va is not None and vb is not None and abs(va - vb) > 0.1:
            return va > vb, f"outline visibility where they overlap {va:.2f} vs {vb:.2f}"
        if va is not None and vb is None:
            return va > 0.6, f"its outline is {'visible' if va > 0.6 else 'hidden'} in the overlap ({va:.2f})"
        if vb is not None and va is None:
            return vb <= 0.6, f"the other's outline is {'visible' if vb > 0.6 else 'hidden'} in the overlap ({vb:.2f})"
    lower_a = a.box.y1 + 0.25 * (a.box.y1 - a.box.y0)
    lower_b = b.box.y1 + 0.25 * (b.box.y1 - b.box.y0)
    return lower_a >= lower_b, "by size and height in the picture"


# ----------------------------------------------------------------------------------------------------
# Text
# ----------------------------------------------------------------------------------------------------


def find_plates(rgb: np.ndarray) -> list[Box]:
    """Boxes of white, roughly rectangular plates (signs, labels) where sandbox text is written.

    Reading a crop around a plate is ~8x faster than reading the whole image and does not mistake the
    emoji for letters (shared/notes/ocr-trial.md); busy backgrounds also hide text from the full-image
    text detector.
    """
    white = (rgb.min(axis=2) >= 248).astype(np.uint8)
    n, _labels, stats, _ = cv2.connectedComponentsWithStats(white, connectivity=4)
    h, w = white.shape
    out: list[Box] = []
    for i in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        if area < 120 or bw < 24 or bh < 10 or bw < 1.2 * bh:
            continue
        if x == 0 or y == 0 or x + bw >= w or y + bh >= h:  # a white background, not a plate
            continue
        if bw * bh > 0.25 * w * h or area < 0.45 * bw * bh:
            continue
        m = max(4, bh // 4)
        out.append(Box(x0=max(0, x - m), y0=max(0, y - m), x1=min(w, x + bw + m), y1=min(h, y + bh + m)))
    return out


def _read_scene_text(rgb: np.ndarray, wanted: list[str]) -> list[tuple[str, Box, float]]:
    """OCR lines (image coordinates): plate crops first, the whole image only if a wanted text is unread."""
    lines: list[tuple[str, Box, float]] = []
    for plate in find_plates(rgb)[:8]:
        crop = Image.fromarray(np.ascontiguousarray(rgb[plate.y0 : plate.y1, plate.x0 : plate.x1]))
        upscale = 2.0 if crop.height < 48 else 1.0  # small text reads better enlarged (ocr-trial.md)
        for text, b, score in read_text(crop, upscale=upscale):
            lines.append((text, Box(x0=b.x0 + plate.x0, y0=b.y0 + plate.y0, x1=b.x1 + plate.x0, y1=b.y1 + plate.y0), score))
    read = {normalise_text(t) for t, _, _ in lines}
    if all(normalise_text(t) in read for t in wanted):
        return lines
    return lines + [ln for ln in read_text(Image.fromarray(rgb)) if not any(_same_line(ln[1], o[1]) for o in lines)]


def _same_line(a: Box, b: Box) -> bool:
    inter = a.intersection(b)
    return inter is not None and inter.area >= 0.5 * min(a.area, b.area)


def _text_check(e: Element, lines: list[tuple[str, Box, float]], box: Box | None) -> Check:
    want = normalise_text(e.text or "")
    ordered = sorted(lines, key=lambda ln: (ln[1].y0 // 8, ln[1].x0))
    texts = [normalise_text(t) for t, _, _ in ordered]
    hit: Box | None = None
    for i in range(len(texts)):
        joined = ""
        for j in range(i, len(texts)):
            joined += texts[j]
            if joined == want:
                hit = Box.union([ln[1] for ln in ordered[i : j + 1]])
                break
            if len(joined) >= len(want):
                break
        if hit:
            break
    read = " | ".join(t for t, _, _ in ordered) or "no text"
    return Check(
        target=e.id, kind="text", passed=hit is not None, score=1.0 if hit else 0.0, dimension="text",
        box=hit or box, evidence=f"read: {read}; expected {e.text!r}",
    )


# ----------------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------------


@dataclass
class CheckTimings:
    """Where a checker call spent its time (ms); returned by `check_image_timed` for benchmarks."""

    segment_ms: float = 0.0
    detect_ms: float = 0.0
    ocr_ms: float = 0.0
    total_ms: float = 0.0


def check_image(
    image: Image.Image | np.ndarray | str,
    scene: Scene,
    *,
    lam: float = 0.5,
    ocr: bool = True,
    detector: Detector | None = None,
    open_set: bool = False,
) -> Verdict:
    """Judge `image` against `scene` from pixels only. See the module docstring for the conventions.

    `ocr=False` skips text checks (they are then listed as unsupported). `open_set=True` searches every
    class the sandbox can draw instead of only the scene's (slower; sees unexpected objects too).
    """
    return check_image_timed(image, scene, lam=lam, ocr=ocr, detector=detector, open_set=open_set)[0]


def check_image_timed(
    image: Image.Image | np.ndarray | str,
    scene: Scene,
    *,
    lam: float = 0.5,
    ocr: bool = True,
    detector: Detector | None = None,
    open_set: bool = False,
) -> tuple[Verdict, CheckTimings]:
    """`check_image` plus where the time went."""
    t_start = time.perf_counter()
    timings = CheckTimings()
    rgb = load_rgb(image)
    detector = detector or get_detector()

    # 1. Split what can be judged from what cannot.
    elements, unsupported = _judgeable(scene, set(detector.classes))
    # 2. Perceive.
    assigned = _assign(elements, _perceive(detector, rgb, elements, open_set, timings))
    # 3. Judge elements, relations, text.
    checks: list[Check] = []
    for e in elements:
        checks.extend(_element_checks(e, assigned[e.id]))
    checks += _relation_checks(scene, {e.id for e in elements}, assigned, rgb, unsupported)
    texts = [e for e in scene.elements if e.text and not e.negated]
    if texts and ocr:
        t0 = time.perf_counter()
        lines = _read_scene_text(rgb, [e.text or "" for e in texts])
        timings.ocr_ms = (time.perf_counter() - t0) * 1000
        for e in texts:
            checks.append(_text_check(e, lines, Box.union([d.box for d in assigned.get(e.id, [])])))
    elif texts:
        unsupported.extend(f"{e.id}: text {e.text!r} not read (OCR disabled)" for e in texts)

    # 4. Combine.
    global_score = 1.0 if all(c.passed for c in checks) else 0.0
    verdict = Verdict.combine(global_score, checks, lam, unsupported=unsupported, evaluator=EVALUATOR)
    timings.total_ms = (time.perf_counter() - t_start) * 1000
    return verdict, timings


def _judgeable(scene: Scene, supported: set[str]) -> tuple[list[Element], list[str]]:
    """(elements the sandbox can see, what the checker cannot judge, said in words)."""
    unsupported = list(scene.unsupported)
    elements: list[Element] = []
    for e in scene.elements:
        if e.cls in supported:
            elements.append(e)
        else:
            unsupported.append(f"{e.id}: the sandbox cannot draw or see '{e.cls}' ({e.noun!r})")
        for attr in ("shape", "size"):
            if getattr(e, attr) is not None:
                unsupported.append(f"{e.id}: {attr} '{getattr(e, attr)}' is not checked by the sandbox checker")
    return elements, unsupported


def _perceive(
    detector: Detector, rgb: np.ndarray, elements: list[Element], open_set: bool, timings: CheckTimings
) -> list[Detection]:
    """Background model, then the detections of the scene's classes (every class if `open_set`), with
    colours, and textures where the scene asks about texture. Fills the segment/detect timings."""
    t0 = time.perf_counter()
    bg = estimate_background(rgb)
    timings.segment_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    classes = None if open_set else sorted({e.cls for e in elements})
    textures: dict[str, tuple[str, ...]] = {}
    for e in elements:
        if e.texture:
            textures[e.cls] = (*textures.get(e.cls, ()), e.texture)
    dets = detector.detect(rgb, classes, background=bg, textures=textures) if (classes is None or classes) else []
    if any(e.texture for e in elements):
        _read_textures(detector, rgb, dets, elements, bg.fill)
    timings.detect_ms = (time.perf_counter() - t0) * 1000
    return dets


def _relation_checks(
    scene: Scene, judged_ids: set[str], assigned: dict[str, list[Detection]], rgb: np.ndarray,
    unsupported: list[str],
) -> list[Check]:
    """One check per spatial relation between judged elements; the rest is added to `unsupported`."""
    checks: list[Check] = []
    for r in scene.relations:
        if r.subject not in judged_ids or r.object not in judged_ids:
            unsupported.append(f"{r.id}: relation involves an element the sandbox cannot see")
        elif r.predicate not in SPATIAL_2D and r.predicate not in SPATIAL_3D:
            unsupported.append(f"{r.id}: '{r.predicate}' is not a spatial relation the checker can judge")
        else:
            checks.append(_relation_check(r, assigned[r.subject], assigned[r.object], rgb))
    return checks


def _read_textures(
    detector: Detector, rgb: np.ndarray, dets: list[Detection], elements: list[Element], fill: np.ndarray
) -> None:
    wanted = {e.cls for e in elements if e.texture}
    for d in dets:
        if d.cls in wanted:
            d.texture, _ = read_texture(detector.artwork, d, rgb, fill, list(TEXTURE_NAMES))


# ----------------------------------------------------------------------------------------------------
# The tool
# ----------------------------------------------------------------------------------------------------


class SandboxChecker(Tool):
    """Pixel-only checker of the sandbox world (simulated): judges an image against a Scene.

    Call with `ToolCall(tool=name, params={"scene": <Scene JSON or dict>, "lam": 0.5, "ocr": true})` and the
    image; the Verdict comes back in `result.meta["verdict"]` (JSON form).
    """

    kind = "check"
    backend = "sandbox"
    simulated = True
    default_dims = ()

    def setup(self) -> None:
        get_detector()

    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        if image is None:
            raise ToolError(f"checker {self.name!r} needs an image to judge")
        raw = call.params.get("scene")
        if raw is None:
            raise ToolError(f"checker {self.name!r} needs params['scene'] (a Scene as JSON)")
        try:
            scene = Scene.model_validate_json(raw) if isinstance(raw, (str, bytes)) else Scene.model_validate(raw)
        except (ValueError, json.JSONDecodeError) as e:
            raise ToolError(f"checker {self.name!r}: params['scene'] is not a valid Scene: {e}") from e
        lam = float(call.params.get("lam", self.options.get("lam", 0.5)))
        ocr = bool(call.params.get("ocr", self.options.get("ocr", True)))
        try:
            verdict = check_image(image, scene, lam=lam, ocr=ocr)
        except ValueError as e:
            raise ToolError(f"checker {self.name!r}: {e}") from e
        return ToolResult(tool=self.name, meta={"verdict": verdict.model_dump(mode="json"), "simulated": True})
