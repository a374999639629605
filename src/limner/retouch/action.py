"""Action: for each defect, which tool and which request (mask inpainting or an instruction edit).

The paper's action agent picks the tool per defect: text suits instruction editors (they re-render it),
geometric and surface defects suit mask inpainters. Here the candidates come from the category and the
tools that are configured and available; the order among them comes from the `retouch` performance matrix
(one row per defect dimension, `limner.types.DEFECT_DIMS`), learned from verified repairs by the same
routers as generation and editing (`limner.perf`).

Requests per backend: sandbox inpainters read the instruction grammar ("fix" repaints the masked area from
its surroundings; "fix the cat" also redraws the cat where the mask hits it); real inpainters (OpenCV,
diffusers) get the prompt as what the area should show; instruction editors get 'change the text to "X"'
for melted text, X quoted in the prompt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from limner.perf import PerformanceMatrix, Router, make_router
from limner.reading import InstructionError, parse_prompt
from limner.tools.base import Tool
from limner.types import DEFECT_DIMS, Defect, Subtask

__all__ = ["RepairOption", "ranked_options", "repair_options", "retouch_router", "subtask_for"]

MATRIX_NAME = "retouch"


@dataclass(frozen=True)
class RepairOption:
    """One way to repair a defect: a tool, the request it gets, and whether it gets the region's mask."""

    tool: str
    instruction: str
    uses_mask: bool


def _quoted_words(prompt: str) -> list[str]:
    return [w for w in re.findall(r'"([^"]+)"', prompt) if w.strip()]


def _classes(prompt: str) -> list[str]:
    try:
        scene = parse_prompt(prompt)
    except (InstructionError, ValueError):
        return []
    return list(dict.fromkeys(e.cls for e in scene.elements if e.cls and not e.text))


def repair_options(defect: Defect, prompt: str, tools: Mapping[str, Tool]) -> list[RepairOption]:
    """Every configured, available way to repair `defect`, unordered (the router orders them)."""
    out: list[RepairOption] = []
    usable = {n: t for n, t in tools.items() if t.unavailable_reason() is None}
    if defect.category == "melted_text":
        for word in _quoted_words(prompt)[:1]:
            out += [RepairOption(n, f'change the text to "{word}"', False) for n, t in usable.items() if t.kind == "edit"]
    for name, tool in usable.items():
        if tool.kind != "inpaint":
            continue
        if tool.spec.backend != "sandbox":
            out.append(RepairOption(name, prompt, True))
            continue
        # defects sit on objects: redrawing the object clean is an option beside painting from the surroundings
        out += [RepairOption(name, f"fix the {cls}", True) for cls in _classes(prompt)[:2]]
        out.append(RepairOption(name, "fix", True))
    return out


def subtask_for(defect: Defect) -> Subtask:
    """The routing subtask of a defect: all weight on its dimension."""
    return Subtask(id=f"retouch-{defect.dimension}", kind="retouch", instruction=defect.description,
                   weights={defect.dimension: 1.0}, region=defect.box)


def retouch_router(tools: Mapping[str, Tool], *, updater: str = "bayes",
                   matrix: PerformanceMatrix | None = None) -> Router:
    """A router over the repair tools on the defect dimensions; an unseen tool starts at the uninformative
    prior (0.5), so until repairs are measured the order is the category rule's (see `ranked_options`)."""
    if matrix is None:
        matrix = PerformanceMatrix.empty(DEFECT_DIMS)
        for name, tool in tools.items():
            if tool.kind in ("inpaint", "edit"):
                matrix.add_tool(name)
    matrix.meta.setdefault("name", MATRIX_NAME)
    return make_router(updater, matrix)


def ranked_options(defect: Defect, options: list[RepairOption], router: Router | None) -> list[tuple[RepairOption, float]]:
    """Options best first: by the router's score for the tool on the defect's dimension, then by the category
    rule (instruction edits first for text, object redraws first for geometry — a bent or cut object must be
    redrawn, not painted over — and painting from the surroundings first otherwise), then by name."""
    tools = sorted({o.tool for o in options})
    scores = dict(router.rank(subtask_for(defect), tools)) if router is not None and tools else {}

    def rule(o: RepairOption) -> int:
        if defect.category == "melted_text":
            return 0 if not o.uses_mask else 1
        redraw = o.instruction.startswith("fix the ")
        if defect.dimension == "geometry":
            return 0 if redraw else 1
        return 1 if redraw else 0

    ordered = sorted(options, key=lambda o: (-round(scores.get(o.tool, 0.5), 6), rule(o), o.tool, o.instruction))
    return [(o, scores.get(o.tool, 0.5)) for o in ordered]
