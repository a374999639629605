"""The retoucher's loop: perceive → reason → act, re-perceive, at most `rounds` rounds, keep the best.

    retoucher = Retoucher.from_weights("weights/retouch", tools)        # perception + classifier
    outcome = retoucher.retouch(image, prompt)                          # RetouchOutcome
    for step in retoucher.run(image, prompt, save=store.save_image):    # typed RetouchSteps as they happen
        ...

One round: the saliency map S of the current image is thresholded at τ_s, dilated and split into regions;
the reasoner names each region's defect; for each defect the action step tries the repair options in the
router's order (`action.ranked_options`) and **verifies each repair by re-perceiving**: a repair is kept
only if the saliency inside the region falls (by `min_drop`) and the image's total defect score does not
rise; otherwise it is undone and the next option is tried. The router learns from every verified attempt
(outcome = the share of the region's saliency removed). The loop stops when no region is left, when a
round kept no repair, or after `rounds`; the image with the lowest defect score is returned.

Whether the retouched image may replace the original (the prompt's verdict, preservation) is judged by
the caller, which knows the checker: `limner.agent.loop` (the `--retouch` stage and `limner retouch`).
Every step of one `run` carries the caller's `round_offset` (the agent counts the whole stage as one of its
rounds); the loop's own rounds are named "pass 1..3" in the steps' reasoning.
`single_pass` is the baseline the benchmark compares with: one inpaint of the whole thresholded map.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from limner.perf import Router
from limner.perf.persistence import PerfPersistence
from limner.retouch.action import RepairOption, ranked_options, repair_options, retouch_router, subtask_for
from limner.retouch.perception import Perceiver, defect_score
from limner.retouch.reasoning import FoundRegion, OfflineReasoner, Reasoner, find_regions
from limner.tools.base import Tool, ToolError
from limner.types import Box, Defect, RetouchStep, ToolCall, ToolResult

__all__ = ["RetouchOptions", "RetouchOutcome", "Retoucher", "outside_change", "single_pass"]

SaveImage = Callable[[Image.Image, str], str]
#: The caller's judge of a whole image against the prompt (the checker's verdict score), or None.
Judge = Callable[[Image.Image], float]


@dataclass
class RetouchOptions:
    """The loop's knobs (the paper iterates 2–3 rounds)."""

    rounds: int = 3
    threshold: float | None = None  # τ_s; None: the one the model was calibrated with
    dilate: int = 2
    min_area: int = 6
    max_defects: int = 8
    tries: int = 4  # repair options tried per defect before it is left for the next round
    min_drop: float = 0.3  # a repair must remove this share of the region's saliency to be kept
    margin: int = 16  # px around the region's box a repair may blend into
    outside_tolerance: float = 1.0  # mean change (0-255) a repair may leave outside its grown box
    seed: int = 0


@dataclass
class RetouchOutcome:
    """What the loop did: the best image, its defect score, the defects first found, the rounds run."""

    image: Image.Image
    input_score: float
    score: float
    rounds: int
    defects: list[Defect] = field(default_factory=list)
    repairs_kept: int = 0
    repairs_tried: int = 0
    steps: list[RetouchStep] = field(default_factory=list)
    repaired_boxes: list[Any] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.repairs_kept > 0


def _mask_image(mask: np.ndarray) -> Image.Image:
    return Image.fromarray(mask.astype(np.uint8) * 255, "L")


class Retoucher:
    """Perception, reasoning and the repair tools, wired; `run` is the loop."""

    def __init__(self, perceiver: Perceiver, reasoner: Reasoner, tools: Mapping[str, Tool], *,
                 router: Router | None = None, options: RetouchOptions | None = None,
                 persistence: PerfPersistence | None = None) -> None:
        self.perceiver, self.reasoner = perceiver, reasoner
        self.tools = {n: t for n, t in tools.items() if t.kind in ("inpaint", "edit")}
        if not self.tools:
            raise ValueError("the retoucher needs at least one inpaint or edit tool")
        self.router = router if router is not None else retouch_router(self.tools)
        self.options = options or RetouchOptions()
        self.persistence = persistence
        self._judge: Judge | None = None
        self._judged: float | None = None

    @classmethod
    def from_weights(cls, directory: str | Path, tools: Mapping[str, Tool], **kwargs: Any) -> Retoucher:
        """Perception model and region classifier from a `limner train saliency` output folder."""
        return cls(Perceiver.load(directory), OfflineReasoner.load(directory), tools, **kwargs)

    @property
    def threshold(self) -> float:
        return self.options.threshold if self.options.threshold is not None else self.perceiver.threshold

    def retouch(self, image: Image.Image, prompt: str, **kwargs: Any) -> RetouchOutcome:
        """Run the loop to the end; the outcome (its `steps` hold every step)."""
        gen = self.run(image, prompt, **kwargs)
        while True:
            try:
                next(gen)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]

    def run(self, image: Image.Image, prompt: str, *, save: SaveImage | None = None,
            first_index: int = 0, round_offset: int = 0, run_id: str | None = None, judge: Judge | None = None,
            ) -> Generator[RetouchStep, None, RetouchOutcome]:
        """Yield each `RetouchStep` as it happens; return the `RetouchOutcome`. With `judge` (the prompt's
        verdict score of an image), a repair that lowers it is undone like one that did not help."""
        counter = itertools.count(first_index)
        opts, tau = self.options, self.threshold
        current = image.convert("RGB")
        self._judge = judge
        self._judged = judge(current) if judge is not None else None
        s_map = self.perceiver(current, prompt)
        score = defect_score(s_map, tau)
        out = RetouchOutcome(image=current, input_score=score, score=score, rounds=0)

        def emit(step: RetouchStep) -> RetouchStep:
            out.steps.append(step)
            return step

        path = save(current, "retouch-r0-input") if save else None
        yield emit(RetouchStep(index=next(counter), round=round_offset, stage="perceive", image_path=path,
                               defect_score=score, reasoning=f"defect score {score:.2f} at τ_s={tau:.3f}"))
        for rnd in range(1, opts.rounds + 1):
            regions = find_regions(s_map, tau, dilate=opts.dilate, min_area=opts.min_area,
                                   max_regions=opts.max_defects)
            if not regions:
                break
            out.rounds = rnd
            defects = self.reasoner(current, prompt, regions)
            if rnd == 1:
                out.defects = defects
            yield emit(RetouchStep(index=next(counter), round=round_offset, stage="reason", defects=defects,
                                   reasoning=f"pass {rnd}: {len(defects)} regions named by the {self.reasoner.name}: "
                                             + ", ".join(d.category for d in defects)))
            kept_this_round = 0
            for k, (region, defect) in enumerate(zip(regions, defects, strict=True)):
                repaired = yield from self._repair(current, s_map, prompt, region, defect, rnd, k, counter,
                                                   save, round_offset, run_id, out)
                if repaired is not None:
                    current, s_map = repaired
                    kept_this_round += 1
                    out.repaired_boxes.append(defect.box)
            score = defect_score(s_map, tau)
            if score < out.score:
                out.image, out.score = current, score
            path = save(current, f"retouch-r{rnd}") if save and kept_this_round else None
            yield emit(RetouchStep(index=next(counter), round=round_offset, stage="perceive", image_path=path,
                                   defect_score=score, reasoning=f"pass {rnd}: {kept_this_round} repairs kept; "
                                                                 f"defect score {score:.2f}"))
            if kept_this_round == 0:
                break
        return out

    def _repair(self, image: Image.Image, s_map: np.ndarray, prompt: str, region: FoundRegion, defect: Defect,
                rnd: int, k: int, counter: Any, save: SaveImage | None, round_offset: int, run_id: str | None,
                out: RetouchOutcome) -> Generator[RetouchStep, None, tuple[Image.Image, np.ndarray] | None]:
        """Try the ranked options for one defect; the first verified one is kept."""
        opts = self.options
        ranked = ranked_options(defect, repair_options(defect, prompt, self.tools), self.router)
        ranking = [(f"{o.tool}: {o.instruction}", round(s, 4)) for o, s in ranked]
        before = float(s_map[region.mask].mean())
        total = defect_score(s_map, self.threshold)
        for attempt, (option, _) in enumerate(ranked[:opts.tries]):
            call = ToolCall(tool=option.tool, prompt=option.instruction, seed=opts.seed + 1000 * rnd + 10 * k + attempt,
                            width=image.width, height=image.height, subtask_id=f"retouch-{rnd}-{k}")
            out.repairs_tried += 1
            try:
                result = self.tools[option.tool](call, image=image,
                                                 mask=_mask_image(region.mask) if option.uses_mask else None)
                if not result.ok or result.image is None:
                    raise ToolError(result.error or "no image returned")
            except ToolError as e:
                failed = RetouchStep(index=next(counter), round=round_offset, stage="repair", defects=[defect],
                                     ranking=ranking, call=call, kept=False, error=str(e),
                                     result=ToolResult(tool=option.tool, ok=False, error=str(e)))
                out.steps.append(failed)
                yield failed
                continue
            candidate = result.image.convert("RGB")
            s_new = self.perceiver(candidate, prompt)
            after = float(s_new[region.mask].mean())
            removed = max(0.0, min(1.0, 1.0 - after / max(before, 1e-6)))
            moved = outside_change(image, candidate, region.box, opts.margin)
            kept = (removed >= opts.min_drop and defect_score(s_new, self.threshold) <= total + 1e-9
                    and moved <= opts.outside_tolerance)
            verdict = ""
            if kept and self._judge is not None and self._judged is not None:
                score = self._judge(candidate)
                verdict = f", verdict {self._judged:.3f} → {score:.3f}"
                kept = score >= self._judged - 1e-9
                if kept:
                    self._judged = score
            self._learn(defect, option, removed, run_id)
            path = save(candidate, f"retouch-r{rnd}-{k}-{option.tool}") if save and kept else None
            step = RetouchStep(index=next(counter), round=round_offset, stage="repair", defects=[defect],
                               ranking=ranking, call=call, image_path=path, kept=kept,
                               result=result.model_copy(update={"image_path": path}),
                               reasoning=f"{option.tool} ({'mask' if option.uses_mask else 'instruction'}): region "
                                         f"saliency {before:.2f} → {after:.2f}, mean change outside {moved:.2f}"
                                         f"{verdict}; {'kept' if kept else 'undone'}")
            out.steps.append(step)
            yield step
            if kept:
                out.repairs_kept += 1
                return candidate, s_new
        return None

    def _learn(self, defect: Defect, option: RepairOption, removed: float, run_id: str | None) -> None:
        sub = subtask_for(defect)
        evidence = {"dimension_scores": {option.tool: {defect.dimension: removed}}, "category": defect.category}
        if self.persistence is not None:
            self.persistence.record(self.router, sub, {option.tool: removed}, evidence, run_id=run_id)
        self.router.update(sub, {option.tool: removed}, evidence)


def outside_change(before: Image.Image, after: Image.Image, box: Box, margin: int) -> float:
    """Mean absolute change (0–255, all channels) of the pixels outside `box` grown by `margin`: a repair
    that moves pixels elsewhere (a redrawn object shifted, a neighbour disturbed) is undone at once, so
    that one careless repair cannot make the whole retouch fail its preservation check."""
    a = np.asarray(before.convert("RGB"), np.int16)
    b = np.asarray(after.convert("RGB"), np.int16)
    if a.shape != b.shape:
        return float("inf")
    outside = np.ones(a.shape[:2], bool)
    outside[max(0, box.y0 - margin):box.y1 + margin, max(0, box.x0 - margin):box.x1 + margin] = False
    return float(np.abs(a - b)[outside].mean()) if outside.any() else 0.0


def single_pass(perceiver: Perceiver, tool: Tool, image: Image.Image, prompt: str, *, threshold: float | None = None,
                dilate: int = 2, instruction: str = "fix") -> Image.Image:
    """The baseline: one inpaint of the whole thresholded, dilated map, no reasoning, no verification."""
    tau = perceiver.threshold if threshold is None else threshold
    regions = find_regions(perceiver(image, prompt), tau, dilate=dilate, min_area=1, max_regions=10_000)
    if not regions:
        return image
    mask = np.logical_or.reduce([r.mask for r in regions])
    call = ToolCall(tool=tool.name, prompt=instruction if tool.spec.backend == "sandbox" else prompt,
                    width=image.width, height=image.height)
    try:
        result = tool(call, image=image, mask=_mask_image(mask))
    except ToolError:
        return image
    return result.image.convert("RGB") if result.ok and result.image is not None else image
