"""Own profiling: run each generator over a prompt set, judge every image, fill the matrix from the checks.

A published table says how a model did on someone else's prompts with someone else's judge; a profile
says how *this* tool, with *this* configuration, does under *the evaluator the agent will use*. Each local
check of a verdict carries a dimension (colour, count, position, depth, text...), so a cell is the mean
check score of that tool on that dimension over all prompts and seeds. Dimensions no prompt exercised keep
the uninformative prior and are marked `prior`, never guessed.

Only generators are profiled here: editors need input images and edit instructions (an edit benchmark),
which this module does not invent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from limner.perf.matrix import MatrixError, PerformanceMatrix
from limner.types import GEN_DIMS, Check, Scene, ToolCall, Verdict

#: How a check kind maps to a performance dimension when the check does not name one itself.
CHECK_KIND_DIMENSION: dict[str, str] = {
    "color": "color",
    "shape": "shape",
    "texture": "texture",
    "count": "numeracy",
    "absence": "numeracy",
    "position": "spatial_2d",
    "depth": "spatial_3d",
    "action": "non_spatial",
    "text": "text",
}

Parser = Callable[[str], Scene]
Checker = Callable[[Any, Scene], Verdict]


@dataclass
class ProfileReport:
    """Per tool and dimension: mean check score and how many checks it rests on; plus tool failures."""

    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    checks: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)
    images: int = 0


def check_dimension(check: Check) -> str | None:
    return check.dimension if check.dimension in GEN_DIMS else CHECK_KIND_DIMENSION.get(check.kind)


def profile_tools(
    tools: Sequence[Any],
    prompts: Iterable[str],
    *,
    seeds: Sequence[int] = (0,),
    parse: Parser | None = None,
    check: Checker | None = None,
    width: int = 512,
    height: int = 512,
    dims: Sequence[str] = GEN_DIMS,
    progress: Callable[[str], None] | None = None,
) -> tuple[PerformanceMatrix, ProfileReport]:
    """Run every tool on every prompt × seed, judge with `check` (default: the sandbox checker on the
    scene `parse` reads, default: limner's rule parser) and return the profiled matrix and the counts.

    `tools` are `limner.tools.base.Tool` objects of kind "generate"; a tool that raises `ToolError` on a
    prompt is recorded in `report.failures` and scores 0 on that prompt's checks (a tool that cannot do
    the job has not done it).
    """
    from limner.tools.base import ToolError

    if parse is None:
        from limner.llm.parser import parse_prompt as parse
    if check is None:
        from limner.tools.sandbox.checker import check_image as check
    prompts = [p for p in (p.strip() for p in prompts) if p]
    if not prompts:
        raise MatrixError("no prompts to profile with")
    non_gen = [t.name for t in tools if getattr(t, "kind", "generate") != "generate"]
    if non_gen:
        raise MatrixError(f"only generators can be profiled with prompts; not generators: {non_gen}")
    scenes = [parse(p) for p in prompts]
    report = ProfileReport()
    for tool in tools:
        sums: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        for prompt, scene in zip(prompts, scenes, strict=True):
            for seed in seeds:
                call = ToolCall(tool=tool.name, prompt=prompt, seed=seed, width=width, height=height)
                try:
                    result = tool(call)
                    if not result.ok or result.image is None:
                        raise ToolError(result.error or "no image returned")
                    verdict = check(result.image, scene)
                    report.images += 1
                    judged = [(check_dimension(c), c.score) for c in verdict.checks]
                except ToolError as e:
                    report.failures.setdefault(tool.name, []).append(f"{prompt!r} seed {seed}: {e}")
                    judged = [(CHECK_KIND_DIMENSION.get(k), 0.0) for k in _expected_kinds(scene)]
                for dim, score in judged:
                    if dim in dims:
                        sums[dim] += score
                        counts[dim] += 1
        report.scores[tool.name] = {d: sums[d] / counts[d] for d in dims if counts[d]}
        report.checks[tool.name] = {d: counts[d] for d in dims if counts[d]}
        if progress:
            progress(
                f"{tool.name}: " + ", ".join(f"{d} {v:.2f}" for d, v in report.scores[tool.name].items())
            )
    matrix = PerformanceMatrix.empty(dims)
    for tool in tools:
        matrix.add_tool(tool.name, report.scores[tool.name], source="profiled")
    matrix.meta = {"seed": "profiled", "prompts": len(prompts), "seeds": list(seeds), "checks": report.checks}
    return matrix, report


def _expected_kinds(scene: Scene) -> list[str]:
    """The check kinds a scene would produce, used to charge a failed call on the right dimensions."""
    kinds: list[str] = []
    for e in scene.elements:
        kinds.append("count" if e.count != 1 or e.negated else "presence")
        kinds += [k for k in ("color", "shape", "texture", "text") if getattr(e, k)]
    for r in scene.relations:
        kinds.append({"spatial_2d": "position", "spatial_3d": "depth"}.get(r.dimension, "action"))
    return kinds
