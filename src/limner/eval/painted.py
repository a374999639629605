"""Painted-then-edited pictures of random sandbox scenes, each judged by the checker (SIMULATED).

The checker is measured where it matters: on the sandbox painters' pictures, with their hidden profiles'
errors and blemishes, and on one repair of each picture that the rule planner would ask for, made by an
editor or inpainter. `benchmarks/sandbox.py` (`checker_painted`), `scripts/contact_diag.py` and the checker
regression harness (`scripts/checker_regression.py`) all draw their pictures here.

Why one generator: which repair is asked for depends on the checker's verdict on the painted picture, so
two copies of the loop drift apart one fix at a time. The scenes and the repair choices draw from two random
streams: when they shared one, a checker change that altered one verdict altered the repair choice and with
it every later scene, so two versions of the checker were measured on different samples (the painters'
pictures of a seed are now the same whatever the checker and the planner do).

    stream = PaintedStream(n_scenes=12, seed=0)
    for pic in stream:                       # painter pictures, each followed by its repair (if any)
        rows = judged_rows(pic.verdict, pic.scene, pic.truth)
    stream.edits, stream.edit_failures
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image

from limner.config import load_config
from limner.imaging import box_mask
from limner.llm.rule_brain import repair_subtask
from limner.tools.base import ToolError
from limner.tools.registry import ToolRegistry
from limner.tools.sandbox.checker import check_image
from limner.tools.sandbox.world import WORLD_PREDICATES, WorldTruth, grade_truth, random_scene
from limner.types import Scene, ToolCall, Verdict

__all__ = [
    "PAINTED_DIM",
    "RELATION_DIM",
    "PaintedStream",
    "Picture",
    "compared_rows",
    "judge",
    "judged_rows",
    "png_roundtrip",
    "repair_call",
]

#: Check kind -> the `checker_painted` dimension it is reported under (BENCHMARKS.md names).
PAINTED_DIM: dict[str, str] = {
    "presence": "presence", "absence": "presence", "count": "count", "color": "colour", "position": "relation",
    "depth": "depth", "texture": "texture", "text": "text", "shape": "shape", "size": "size",
    "background": "background",
}

#: Relation kind (`types.relation_kind`) -> its own `checker_painted` dimension; directional and "next to"
#: relations stay under "relation", depth under "depth".
RELATION_DIM: dict[str, str] = {
    "support": "support", "containment": "containment", "attachment": "attachment", "wearing": "wearing",
    "riding": "riding", "action": "action",
}

#: One judged check: (dimension, checker passed, truth passed, the checker's evidence).
Row = tuple[str, bool, bool, str]


def png_roundtrip(image: Image.Image) -> Image.Image:
    """The image as a decoder gives it back from PNG: the checker sees pixels, nothing else."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return Image.open(io.BytesIO(buf.getvalue()))


def judge(image: Image.Image, scene: Scene) -> Verdict:
    """The checker's verdict on the PNG round trip of `image`, OCR on (as every caller here measures it)."""
    return check_image(png_roundtrip(image), scene, ocr=True)


def judged_rows(verdict: Verdict, scene: Scene, truth: WorldTruth) -> list[Row]:
    """(dimension, checker passed, truth passed, evidence) for every checker check the truth also grades."""
    return compared_rows(verdict, scene, truth)[0]


def compared_rows(verdict: Verdict, scene: Scene, truth: WorldTruth) -> tuple[list[Row], list[tuple[str, bool]]]:
    """`judged_rows`, and (dimension, truth passed) for every part the truth grades that the checker made no
    check of (it named it unchecked: a texture it cannot read, a relation it has no geometry for), from one
    grading by the truth. The second list lies outside the rates of the first, so a benchmark reports its
    size beside them: a checker that declined more would otherwise look more accurate."""
    graded = grade_truth(scene, truth)
    want = {(c.target, c.kind): c.passed for c in graded}
    kinds = {r.id: r.kind for r in scene.relations}

    def dim_of(target: str, kind: str) -> str | None:
        return RELATION_DIM.get(kinds.get(target) or "") or PAINTED_DIM.get(kind)

    judged: list[Row] = [(d, c.passed, want[(c.target, c.kind)], c.evidence) for c in verdict.checks
                         if (d := dim_of(c.target, c.kind)) is not None and (c.target, c.kind) in want]
    made = {(c.target, c.kind) for c in verdict.checks}
    unjudged = [(d, c.passed) for c in graded
                if (d := dim_of(c.target, c.kind)) is not None and (c.target, c.kind) not in made]
    return judged, unjudged


def repair_call(tools: list[Any], scene: Scene, verdict: Verdict, truth: WorldTruth, k: int,
                rng: np.random.Generator) -> tuple[Any, ToolCall, Image.Image | None] | None:
    """The repair the rule planner would ask for (its first failed check; a random check's restatement
    when every check passes), as (tool, call, mask) for the k-th tool of that kind, or None."""
    checks = [c for c in verdict.checks if not c.passed] or list(verdict.checks)
    if not checks:
        return None
    check = checks[0] if not checks[0].passed else checks[int(rng.integers(0, len(checks)))]
    sub = repair_subtask(check, scene, "bench", can_inpaint=True)
    if sub is None:
        return None
    kind = sub.kind
    of_kind = [t for t in tools if t.kind == kind]
    if not of_kind:
        return None
    tool = of_kind[k % len(of_kind)]
    call = ToolCall(tool=tool.name, prompt=sub.instruction, seed=k, width=truth.width, height=truth.height,
                    params={"_truth_in": truth.model_dump(mode="json")})
    mask = box_mask((truth.width, truth.height), sub.region) if kind == "inpaint" and sub.region else None
    return tool, call, mask


@dataclass(frozen=True)
class Picture:
    """One judged picture: a painter's, or an editor's/inpainter's repair of the painter picture before it."""

    scene_index: int  # which accepted scene (its painters' seed is `seed * 1000 + scene_index`)
    scene: Scene
    source: Literal["painter", "editor"]
    tool: str
    image: Image.Image  # as the tool returned it (the verdict is on its PNG round trip)
    truth: WorldTruth
    verdict: Verdict
    check_s: float  # wall seconds of the checker call
    painted_by: str = ""  # the painter whose picture this is, or whose picture was repaired
    instruction: str | None = None  # the repair asked for (editor pictures)


class PaintedStream:
    """Every sandbox painter draws `n_scenes` random scenes; each picture is judged, then repaired once.

    Scenes come from `world.random_scene` (every relation the world draws, shapes on a quarter of the
    objects) on `np.random.default_rng([seed, rng_key])`; `accept` skips scenes (the skipped ones still use
    the stream). Repair choices draw from their own stream (`[seed, rng_key, 1]`), so the scenes do not
    depend on the verdicts. The k-th painted picture's repair (`repair_call`) goes to the k-th tool of its kind
    (rotating editors and inpainters, their side effects included, the truth carried through `_truth_in`).
    `edits=False` judges the painters' pictures only (and leaves the random stream to the scenes).
    After iterating, `edits` and `edit_failures` count the repairs made and the tool errors.
    """

    def __init__(
        self,
        n_scenes: int,
        seed: int,
        size: int = 512,
        *,
        rng_key: int = 22,
        accept: Callable[[Scene], bool] | None = None,
        edits: bool = True,
        first_index: int = 0,
        registry: ToolRegistry | None = None,
    ) -> None:
        if n_scenes < 0:
            raise ValueError(f"n_scenes must be >= 0, got {n_scenes}")
        self.n_scenes, self.seed, self.size = n_scenes, seed, size
        self.rng_key, self.accept, self.with_edits, self.first_index = rng_key, accept, edits, first_index
        registry = registry or ToolRegistry.from_config(load_config("sandbox"))
        self.painters = registry.tools(kind="generate")
        self.editors = registry.tools(kind="edit") + registry.tools(kind="inpaint")
        self.edits = 0
        self.edit_failures = 0

    def __iter__(self) -> Iterator[Picture]:
        rng = np.random.default_rng([self.seed, self.rng_key])
        choices = np.random.default_rng([self.seed, self.rng_key, 1])
        k = 0
        done = 0
        while done < self.n_scenes:
            scene = random_scene(rng, predicates=WORLD_PREDICATES, p_relation=0.7, p_shape=0.25)
            if self.accept is not None and not self.accept(scene):
                continue
            i = self.first_index + done
            done += 1
            for p in self.painters:
                res = p(ToolCall(tool=p.name, prompt=scene.prompt, seed=self.seed * 1000 + i,
                                 width=self.size, height=self.size))
                truth = WorldTruth.model_validate(res.ground_truth)
                verdict, dt = _timed_judge(res.image, scene)
                yield Picture(i, scene, "painter", p.name, res.image, truth, verdict, dt, p.name)
                if not self.with_edits:
                    continue
                job = repair_call(self.editors, scene, verdict, truth, k, choices)
                k += 1
                if job is None:
                    continue
                tool, call, mask = job
                try:
                    out = tool(call, image=res.image, mask=mask)
                except ToolError:
                    self.edit_failures += 1
                    continue
                if out.image is None or out.ground_truth is None:
                    self.edit_failures += 1
                    continue
                self.edits += 1
                edited = WorldTruth.model_validate(out.ground_truth)
                verdict, dt = _timed_judge(out.image, scene)
                yield Picture(i, scene, "editor", tool.name, out.image, edited, verdict, dt, p.name, call.prompt)


def _timed_judge(image: Image.Image, scene: Scene) -> tuple[Verdict, float]:
    t = time.perf_counter()
    verdict = judge(image, scene)
    return verdict, time.perf_counter() - t
