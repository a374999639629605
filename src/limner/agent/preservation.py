"""Does an edit keep what it was not asked to change? Pure functions over the images, verdicts and regions.

An instruction editor that recolours the dog may also cut away part of the car; judging the edit only on
"a blue dog" would call that a success. As ImgEdit and GEdit-Bench judge an edit, it is judged twice:

- **the instruction**: the edited image against what the instruction asks for (the agent's usual verdict);
- **preservation**, here:
  - *untargeted elements*: every check of the input's description (`limner edit --source`) on an element
    the instruction does not name, and on a relation between two such elements, that passed on the input
    must still pass on the edit (a check the input already failed is not the edit's fault);
  - *pixels outside the target region*: the mean absolute difference (0–255) outside the box of what the
    instruction targets, before and after, grown by `margin` pixels, stays within `tolerance`. The boxes
    come from the checker's own checks of the targeted elements on both images. Edits of the whole image
    (background, style) have no outside, and are judged on the elements only.

Each finding is a `Check` of kind "preservation", appended to the edit's verdict so that it is recorded in
the trajectory; a failed one scales the score down and makes `passed` false. What could not
be judged is never reported as passed: `skipped` names it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from limner.imaging import box_mask
from limner.reading.instructions import EditOp, InstructionError, parse_instruction
from limner.types import Box, Check, Element, Scene, Verdict

__all__ = [
    "MARGIN",
    "TOLERANCE",
    "Findings",
    "Targets",
    "element_checks",
    "in_context",
    "judge",
    "outside_difference",
    "pixel_check",
    "preserved",
    "read_targets",
    "target_boxes",
    "untargeted_scene",
    "with_preservation",
]

#: Mean absolute difference (0–255, over the pixels and channels outside the target region) an edit may
#: leave. The sandbox's editors leave blemishes (≈0.5–1.5 outside a good edit); a shifted or repainted
#: object outside the region, or a redrawn picture, is far above it.
TOLERANCE = 2.0
#: Pixels the target region's boxes grow by on each side (an edit blends into its surroundings).
MARGIN = 16

#: Edit kinds that change the whole picture: no pixel is "outside" them.
_WHOLE_IMAGE = frozenset({"background", "style"})


@dataclass(frozen=True)
class Targets:
    """What an instruction may change: elements of these classes (and text, for a re-text), or the whole
    image (`whole`: a new background or style)."""

    classes: frozenset[str] = frozenset()
    text: bool = False
    whole: bool = False

    def hits(self, e: Element) -> bool:
        return e.cls in self.classes or (self.text and e.text is not None)


def read_targets(instruction: str) -> Targets | None:
    """The targets of an instruction of the grammar (`limner.reading.instructions`); None when it cannot be
    read, or names no object and no whole-image change ("fix"): then nothing can be called untargeted."""
    try:
        op: EditOp = parse_instruction(instruction)
    except InstructionError:
        return None
    if op.kind in _WHOLE_IMAGE:
        return Targets(whole=True)
    classes = frozenset(c for c in (op.cls, op.new_cls) if c)
    if not classes and op.kind != "retext":
        return None
    return Targets(classes=classes, text=op.kind == "retext")


def untargeted_scene(scene: Scene, targets: Targets) -> Scene | None:
    """The part of the input's description the instruction leaves alone: its untargeted elements and the
    relations between two of them (a moved object's relations may change). None when nothing is left."""
    kept = [e for e in scene.elements if not targets.hits(e)]
    ids = {e.id for e in kept}
    relations = [r for r in scene.relations if r.subject in ids and r.object in ids]
    if not kept:
        return None
    return Scene(prompt=scene.prompt, elements=kept, relations=relations)


def in_context(scene: Scene, known: Scene | None) -> Scene:
    """`scene` with the classes of `known` it does not name as its context (`Scene.context`): an edit is
    judged on what the instruction asks for, yet the picture still holds the input's other objects, and a
    checker that knows they are there explains them as themselves (a bird's head is not a weak "car" that
    fails "no car"). Nothing is judged about them here; preservation judges them on their own."""
    if known is None:
        return scene
    named = {e.cls for e in scene.elements} | set(scene.context)
    extra = [c for c in dict.fromkeys(e.cls for e in known.elements if not e.negated) if c not in named]
    return scene.model_copy(update={"context": [*scene.context, *extra]}) if extra else scene


def element_checks(before: Verdict, after: Verdict) -> list[Check]:
    """One preservation check per check that passed on the input: does it still pass on the edit?"""
    now = {(c.target, c.kind): c for c in after.checks}
    out: list[Check] = []
    for c in before.checks:
        if not c.passed or c.kind == "global":
            continue
        a = now.get((c.target, c.kind))
        ok = a is not None and a.passed
        evidence = (f"untargeted {c.target} {c.kind}: passed on the input, "
                    + ("still passes" if ok else f"fails after the edit ({a.evidence if a else 'not judged'})"))
        out.append(Check(target=f"source:{c.target}", kind="preservation", passed=ok, score=float(ok),
                         evidence=evidence, box=a.box if a is not None else c.box))
    return out


def target_boxes(verdicts: Iterable[Verdict], scene: Scene, targets: Targets) -> list[Box]:
    """Boxes of the targeted elements of `scene` (what the instruction asks for) in the given verdicts'
    checks: where the edit was meant to act, on the input and on the edit."""
    ids = {e.id for e in scene.elements if targets.hits(e)}
    boxes = {(c.box.x0, c.box.y0, c.box.x1, c.box.y1): c.box for v in verdicts for c in v.checks
             if c.target in ids and c.box is not None}
    return [boxes[k] for k in sorted(boxes)]


def outside_difference(before: Image.Image, after: Image.Image, boxes: list[Box], margin: int = MARGIN) -> float | None:
    """Mean absolute difference (0–255) of the pixels outside the boxes grown by `margin`; None when the
    images differ in size or the boxes cover everything."""
    if before.size != after.size:
        return None
    inside = np.zeros((before.size[1], before.size[0]), dtype=bool)
    for b in boxes:
        inside |= np.asarray(box_mask(before.size, b, pad=margin)) > 0
    if inside.all():
        return None
    diff = np.abs(np.asarray(after.convert("RGB"), np.int16) - np.asarray(before.convert("RGB"), np.int16))
    return float(diff[~inside].mean())


def pixel_check(before: Image.Image, after: Image.Image, boxes: list[Box], *, tolerance: float = TOLERANCE,
                margin: int = MARGIN) -> Check | None:
    """The pixels outside the target region as a preservation check (a size change fails it); None when
    the region covers the whole image and there is nothing outside to compare."""
    if before.size != after.size:
        return Check(target="scene", kind="preservation", passed=False, score=0.0,
                     evidence=f"image size changed from {before.size} to {after.size}")
    d = outside_difference(before, after, boxes, margin)
    if d is None:
        return None
    where = f"outside {len(boxes)} target box(es) grown by {margin}px" if boxes else "anywhere (no target box found)"
    ok = d <= tolerance
    return Check(target="scene", kind="preservation", passed=ok, score=float(ok),
                 evidence=f"mean pixel change {where}: {d:.2f} (tolerance {tolerance:g} of 255)")


@dataclass
class Findings:
    """The preservation checks of one edit and what could not be judged, in words."""

    checks: list[Check] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def judge(before: Image.Image, after: Image.Image, targets: Targets, target_scene: Scene,
          target_verdicts: tuple[Verdict, Verdict], kept_verdicts: tuple[Verdict, Verdict] | None, *,
          why_no_kept: str = "the input image was not described", tolerance: float = TOLERANCE,
          margin: int = MARGIN) -> Findings:
    """The preservation findings of one edit: `target_verdicts` are the input and the edit judged against
    what the instruction asks for (`target_scene`), `kept_verdicts` the two judged against the untargeted
    part of the input's description (None: the input was not described)."""
    found = Findings()
    if kept_verdicts is not None:
        found.checks.extend(element_checks(*kept_verdicts))
    else:
        found.skipped.append(f"untargeted elements ({why_no_kept})")
    if targets.whole:
        found.skipped.append("pixels outside the target (the instruction changes the whole image)")
        return found
    check = pixel_check(before, after, target_boxes(target_verdicts, target_scene, targets),
                        tolerance=tolerance, margin=margin)
    if check is None:
        found.skipped.append("pixels outside the target (the target region covers the whole image)")
    else:
        found.checks.append(check)
    return found


def with_preservation(verdict: Verdict, checks: list[Check]) -> Verdict:
    """`verdict` with the preservation checks appended and its score scaled by the share of them that pass:
    damage lowers the score, keeping everything never raises it (a do-nothing edit must not beat the
    input on preservation alone). Every other field is kept."""
    if not checks:
        return verdict
    kept = sum(c.passed for c in checks) / len(checks)
    return verdict.model_copy(update={"checks": [*verdict.checks, *checks], "score": verdict.score * kept})


def preserved(verdict: Verdict) -> bool:
    """Whether no preservation check of `verdict` failed (a verdict without any: nothing was damaged that
    was checked)."""
    return all(c.passed for c in verdict.checks if c.kind == "preservation")
