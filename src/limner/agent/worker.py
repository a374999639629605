"""The Worker: rank the tools for a subtask with the performance matrix (PASM), call the best, fall back.

Ranking is the perf package's job (`limner.perf`: `S = W_task · Normalize(M)ᵀ`, or its Bayesian router);
the Worker only asks a `Router` for the order and walks down it: a tool that raises `ToolError` (or, a bug,
any other exception), returns `ok=False` or an image that cannot be used (none, not an image, undecodable,
smaller than 8×8 or over 40 MP), or runs past `tool_timeout_s` is recorded as a failed attempt and the
next-ranked tool gets the subtask, up to `max_fallbacks` times. Every attempt, failed or not, comes back so the trajectory
loses nothing.

Tool calls run in a daemon worker thread so a hung backend cannot hang the agent: after the time-out the
Worker moves on (Python cannot kill a thread; the abandoned call finishes or dies with the process).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from limner.imaging import MAX_IMAGE_PIXELS, box_mask, working_size
from limner.perf import PerformanceMatrix, Router, make_router
from limner.tools.base import Tool, ToolError
from limner.types import EDIT_DIMS, GEN_DIMS, Subtask, ToolCall, ToolResult

__all__ = ["Attempt", "Worker", "WorkerError", "declared_scores", "default_routers"]

#: Which matrix (dimension set) ranks which tool kind.
_DIMS_OF_KIND: dict[str, tuple[str, ...]] = {"generate": GEN_DIMS, "edit": EDIT_DIMS, "inpaint": EDIT_DIMS}
#: The smallest image side a tool may return: below it no checker can judge the picture.
MIN_RESULT_SIDE = 8


class WorkerError(RuntimeError):
    """No configured tool could do a subtask (none of its kind, or every ranked tool failed)."""


@dataclass
class Attempt:
    """One call of one tool for one subtask."""

    call: ToolCall
    result: ToolResult
    ranking: list[tuple[str, float]] = field(default_factory=list)


def declared_scores(tool: Tool) -> tuple[dict[str, float], str] | None:
    """A tool's own prior for the matrix: scores declared in its config (profiled), else the published
    benchmark scores of its model (T2I-CompBench for generators, ImgEdit-Bench for editors, rescaled to
    [0, 1] from the benchmark's printed scale). None when the tool has neither."""
    if tool.spec.scores:
        return dict(tool.spec.scores), "profiled"
    published: Mapping[str, Any] = getattr(tool, "published_scores", None) or {}
    bench = "t2i_compbench" if tool.kind == "generate" else "imgedit"
    entry = published.get(bench)
    if not entry or not entry.get("dims"):
        return None
    lo, hi = entry.get("scale", (0.0, 1.0))
    return {d: min(1.0, max(0.0, (float(v) - lo) / (hi - lo))) for d, v in entry["dims"].items()}, "published"


def default_routers(
    tools: Mapping[str, Tool], updater: str = "static", matrices: Mapping[str, PerformanceMatrix] | None = None,
    **router_kwargs: Any,
) -> dict[str, Router]:
    """One router per tool kind. `matrices` (kind -> matrix) comes from the perf store when it has one
    (`limner.perf.persistence.load_matrices`); otherwise the matrix starts from what the tools declare
    (`declared_scores`), and a tool that declares nothing joins with perf's uninformative prior (an average
    tool) until it is profiled or the router learns from the agent's own runs."""
    routers: dict[str, Router] = {}
    for kind, dims in _DIMS_OF_KIND.items():
        names = [n for n, t in tools.items() if t.kind == kind]
        if not names:
            continue
        matrix = (matrices or {}).get(kind)
        if matrix is not None:
            matrix = matrix.copy()
        else:
            matrix = PerformanceMatrix.empty(dims)
            for name in names:
                declared = declared_scores(tools[name])
                if declared is not None:
                    scores, source = declared
                    matrix.add_tool(name, {d: v for d, v in scores.items() if d in dims}, source=source)  # type: ignore[arg-type]
        routers[kind] = make_router(updater, matrix, **router_kwargs)  # tools not in the matrix join with the prior
    return routers


class Worker:
    """Routes subtasks to tools and calls them with fallback and time-out."""

    def __init__(
        self,
        tools: Mapping[str, Tool],
        routers: Mapping[str, Router],
        *,
        timeout_s: float = 300.0,
        max_fallbacks: int = 3,
    ) -> None:
        self.tools = dict(tools)
        self.routers = dict(routers)
        self.timeout_s = timeout_s
        self.max_fallbacks = max_fallbacks

    def candidates(self, kind: str) -> list[str]:
        return [n for n, t in self.tools.items() if t.kind == kind]

    def rank(self, subtask: Subtask) -> list[tuple[str, float]]:
        names = self.candidates(subtask.kind)
        if not names:
            return []
        router = self.routers.get(subtask.kind)
        if router is None:
            raise WorkerError(f"no router for {subtask.kind!r} tools; routers: {sorted(self.routers)}")
        return [(n, round(float(s), 6)) for n, s in router.rank(self.routable(subtask, router), names)]

    @staticmethod
    def routable(subtask: Subtask, router: Router) -> Subtask:
        """`subtask` with W_task restricted to the router's dimensions: a published matrix may lack one
        (e.g. text), and then ranking uses the ones it has."""
        dims = getattr(getattr(router, "matrix", None), "dims", None)
        if dims is not None and any(d not in dims for d in subtask.weights):
            return subtask.model_copy(update={"weights": {d: w for d, w in subtask.weights.items() if d in dims}})
        return subtask

    def attempts(
        self,
        subtask: Subtask,
        *,
        prompt: str,
        seed: int,
        width: int,
        height: int,
        image: Image.Image | None = None,
        input_path: str | None = None,
        params: dict[str, Any] | None = None,
        skip: set[str] | None = None,
        avoid: set[str] | None = None,
        only: str | None = None,
    ) -> Iterator[Attempt]:
        """Yield one `Attempt` per tool tried, best-ranked first, until one succeeds or the budget is spent.

        A generator so the loop can log each attempt as it happens. If the last attempt failed, every
        ranked tool (up to 1 + max_fallbacks) failed and the caller decides what to do. `skip` are tools
        already tried for this subtask (resume); `avoid` are tools that ran this very instruction before
        without helping: they are tried last, after every other tool of the kind. `only`: try that one tool
        and no other (exploration runs a chosen set of tools, each on its own).
        """
        ranking = self.rank(subtask)
        if not ranking:
            raise WorkerError(f"no {subtask.kind!r} tool is configured for subtask {subtask.id!r}")
        mask = None
        if subtask.kind == "inpaint":
            if image is None or subtask.region is None:
                raise WorkerError(f"inpaint subtask {subtask.id!r} needs an image and a region")
            mask = box_mask(image.size, subtask.region)
        budget = 1 + self.max_fallbacks - len(skip or ())
        order = [r for r in ranking if r[0] not in (skip or ())]
        order.sort(key=lambda r: r[0] in (avoid or ()))  # stable: the ranking holds within each group
        if only is not None:
            order, budget = [r for r in order if r[0] == only], 1
        for name, _ in order[: max(0, budget)]:
            call = ToolCall(tool=name, subtask_id=subtask.id, prompt=prompt, seed=seed, width=width, height=height,
                            input_image=input_path, params=dict(params or {}))
            result = self._call(self.tools[name], call, image, mask)
            yield Attempt(call=call, result=result, ranking=ranking)
            if result.ok:
                return

    def _call(self, tool: Tool, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        """Call `tool` in a daemon thread; ToolError and time-outs become failed results, bugs propagate."""
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["result"] = tool(call, image=image, mask=mask)
            except BaseException as e:  # noqa: BLE001 - re-raised below in the caller's thread
                box["error"] = e

        t0 = time.perf_counter()
        thread = threading.Thread(target=target, name=f"limner-tool-{tool.name}", daemon=True)
        thread.start()
        thread.join(self.timeout_s)
        elapsed = time.perf_counter() - t0
        if thread.is_alive():
            return ToolResult(tool=tool.name, ok=False, duration_s=elapsed,
                              error=f"timed out after {self.timeout_s:g} s")
        if "error" in box:
            err = box["error"]
            if isinstance(err, ToolError):
                return ToolResult(tool=tool.name, ok=False, duration_s=elapsed, error=f"ToolError: {err}")
            if not isinstance(err, Exception):  # KeyboardInterrupt, SystemExit: the run stops
                raise err
            # A backend that broke its contract (raised something other than ToolError): its failure is
            # recorded with the exception's type and the next-ranked tool goes on, so one tool's bug does
            # not end an overnight run. The step's error names the bug for whoever reads the trajectory.
            first = str(err).splitlines()[0][:300] if str(err) else ""
            return ToolResult(tool=tool.name, ok=False, duration_s=elapsed,
                              error=f"tool crashed ({type(err).__name__}: {first}); not a ToolError: a bug in {tool.name}")
        result: ToolResult = box["result"]
        if result.ok and tool.kind in ("generate", "edit", "inpaint"):
            problem = _image_problem(result)
            if problem is not None:
                return ToolResult(tool=tool.name, ok=False, duration_s=elapsed, error=f"tool returned {problem}")
        result.duration_s = result.duration_s or elapsed
        return result


def _image_problem(result: ToolResult) -> str | None:
    """Why the image a tool returned cannot be used (None when it can): not an image, undecodable, too small
    to judge or too large to hold. An image larger than the working size is downscaled in place (noted in
    `meta`), as a user's image is (`imaging.read_image`)."""
    image = result.image
    if image is None:
        return "no image"
    if not isinstance(image, Image.Image):
        return f"a {type(image).__name__} instead of an image"
    w, h = image.size
    if min(w, h) < MIN_RESULT_SIDE:
        return f"a {w}×{h} image (too small to judge; at least {MIN_RESULT_SIDE}×{MIN_RESULT_SIDE})"
    if w * h > MAX_IMAGE_PIXELS:
        return f"a {w}×{h} image (more than {MAX_IMAGE_PIXELS / 1e6:.0f} MP)"
    try:
        image.load()
    except (OSError, ValueError, SyntaxError) as e:
        return f"an unreadable image ({type(e).__name__}: {e})"
    if working_size((w, h)) != (w, h):
        result.image = image.resize(working_size((w, h)), Image.Resampling.LANCZOS)
        result.meta = {**result.meta, "downscaled_from": [w, h]}
    return None
