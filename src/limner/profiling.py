"""Own profiling: run each generator over a prompt set, judge every image, fill the matrix from the checks.

A published table says how a model did on someone else's prompts with someone else's judge; a profile
says how *this* tool, with *this* configuration, does under *the evaluator the agent will use*. Each local
check of a verdict carries a dimension (colour, count, position, depth, text...), so a cell is the mean
check score of that tool on that dimension over all prompts and seeds. Dimensions no prompt exercised keep
the uninformative prior and are marked `prior`, never guessed.

Editors and inpainters are profiled on the repairs the agent really asks for (`profile_repairs`): painters
draw the prompts, the checker judges, and every failed check the rule planner can repair becomes an edit
item; a tool's cell on an edit dimension is the share of its items where the targeted check passes after
the edit and nothing that passed before broke.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from limner.imaging import box_mask
from limner.llm.rule_brain import missing_elements, repair_subtask
from limner.perf.matrix import MatrixError, PerformanceMatrix
from limner.reading.prompt import parse_prompt
from limner.tools.base import ToolError
from limner.tools.sandbox.checker import check_image
from limner.types import EDIT_DIMS, GEN_DIMS, Check, Scene, Subtask, ToolCall, Verdict

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
    parse = parse or parse_prompt
    check = check or check_image
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
        _record_tool(report, tool.name, dims, sums, counts, progress)
    meta = {"seed": "profiled", "prompts": len(prompts), "seeds": list(seeds), "checks": report.checks}
    return _profiled_matrix(dims, tools, report, meta), report


def _record_tool(
    report: ProfileReport,
    name: str,
    dims: Sequence[str],
    sums: Mapping[str, float],
    counts: Mapping[str, int],
    progress: Callable[[str], None] | None,
) -> None:
    """A tool's mean score per dimension it was measured on (and how many checks each mean rests on)."""
    report.scores[name] = {d: sums[d] / counts[d] for d in dims if counts[d]}
    report.checks[name] = {d: counts[d] for d in dims if counts[d]}
    if progress:
        progress(f"{name}: " + ", ".join(f"{d} {v:.2f}" for d, v in report.scores[name].items()))


def _profiled_matrix(
    dims: Sequence[str], tools: Sequence[Any], report: ProfileReport, meta: dict[str, Any]
) -> PerformanceMatrix:
    matrix = PerformanceMatrix.empty(dims)
    for tool in tools:
        matrix.add_tool(tool.name, report.scores[tool.name], source="profiled")
    matrix.meta = meta
    return matrix


@dataclass
class RepairItem:
    """One edit to profile with: a drawn image, the scene it must show, and the repair of one failed check."""

    image: Any
    scene: Scene
    subtask: Subtask
    check: Check  # the failed check the edit must make pass
    passed_before: frozenset[tuple[str, str]]  # (target, kind) of the checks that passed before
    width: int = 512
    height: int = 512


def repair_items(
    painters: Sequence[Any],
    prompts: Iterable[str],
    *,
    kind: str,
    seeds: Sequence[int] = (0,),
    parse: Parser | None = None,
    check: Checker | None = None,
    width: int = 512,
    height: int = 512,
    drawn: Mapping[str, str] | None = None,
) -> list[RepairItem]:
    """Draw every prompt × seed with every painter, judge it, and turn each failed check that the rule
    planner repairs with a tool of `kind` ("edit" or "inpaint") into a `RepairItem`.

    `drawn` maps a prompt to the one the painters are given instead (the picture is still judged against
    the prompt): a repair painters seldom need is profiled on pictures drawn without that part, as a painter
    that ignored it would draw them ("a cat on a beach background" drawn as "a cat")."""
    if kind not in ("edit", "inpaint"):
        raise MatrixError(f"repairs are made by 'edit' or 'inpaint' tools, not {kind!r}")
    parse = parse or parse_prompt
    check = check or check_image
    items: list[RepairItem] = []
    for prompt in (p for p in (p.strip() for p in prompts) if p):
        scene = parse(prompt)
        given = (drawn or {}).get(prompt, prompt)
        for painter in painters:
            for seed in seeds:
                try:
                    result = painter(ToolCall(tool=painter.name, prompt=given, seed=seed, width=width,
                                              height=height))
                except ToolError:
                    continue
                if not result.ok or result.image is None:
                    continue
                verdict = check(result.image, scene)
                before = frozenset((c.target, c.kind) for c in verdict.checks if c.passed)
                missing = missing_elements(verdict)  # a contact move waits for its ends, as the planner's
                for k, failed in enumerate(verdict.failed):
                    sub = repair_subtask(failed, scene, f"profile-{k}", can_inpaint=kind == "inpaint",
                                         missing=missing)
                    if sub is not None and sub.kind == kind:
                        items.append(RepairItem(result.image, scene, sub, failed, before, width, height))
    return items


def profile_repairs(
    tools: Sequence[Any],
    items: Sequence[RepairItem],
    *,
    seed: int = 0,
    check: Checker | None = None,
    dims: Sequence[str] = EDIT_DIMS,
    progress: Callable[[str], None] | None = None,
) -> tuple[PerformanceMatrix, ProfileReport]:
    """Every tool makes every item's edit on the same image; an item is done when its targeted check
    passes afterwards and no check that passed before fails (an edit that breaks something else has not
    done its job). A cell is the share of done items on that edit dimension (a count repair weighs on
    both `add` and `remove`); a tool that raises `ToolError` has not done the item."""
    check = check or check_image
    if not items:
        raise MatrixError("no repair items to profile with (the painters' images had nothing to repair)")
    kinds = {it.subtask.kind for it in items}
    wrong = [t.name for t in tools if getattr(t, "kind", None) not in kinds]
    if wrong:
        raise MatrixError(f"the items are {sorted(kinds)} repairs; these tools are of another kind: {wrong}")
    report = ProfileReport()
    for tool in tools:
        sums: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        for it in items:
            mask = box_mask((it.width, it.height), it.subtask.region) if it.subtask.region is not None else None
            call = ToolCall(tool=tool.name, subtask_id=it.subtask.id, prompt=it.subtask.instruction, seed=seed,
                            width=it.width, height=it.height)
            done = 0.0
            try:
                result = tool(call, image=it.image, mask=mask)
                if not result.ok or result.image is None:
                    raise ToolError(result.error or "no image returned")
                after = check(result.image, it.scene)
                report.images += 1
                passing = {(c.target, c.kind) for c in after.checks if c.passed}
                fixed = (it.check.target, it.check.kind) in passing
                done = float(fixed and it.passed_before <= passing)
            except ToolError as e:
                report.failures.setdefault(tool.name, []).append(f"{it.subtask.instruction!r}: {e}")
            for dim in it.subtask.weights:
                if dim in dims:
                    sums[dim] += done
                    counts[dim] += 1
        _record_tool(report, tool.name, dims, sums, counts, progress)
    meta = {"seed": "profiled", "repair_items": len(items), "checks": report.checks}
    return _profiled_matrix(dims, tools, report, meta), report


def _expected_kinds(scene: Scene) -> list[str]:
    """The check kinds a scene would produce, used to charge a failed call on the right dimensions."""
    kinds: list[str] = []
    for e in scene.elements:
        kinds.append("count" if e.count != 1 or e.negated else "presence")
        kinds += [k for k in ("color", "shape", "texture", "text") if getattr(e, k)]
    for r in scene.relations:
        kinds.append({"spatial_2d": "position", "spatial_3d": "depth"}.get(r.dimension, "action"))
    return kinds
