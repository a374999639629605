"""The records every layer of limner speaks in.

A prompt becomes a `Scene` (Analyst), the scene becomes `Subtask`s (Planner), a subtask becomes a
`ToolCall` to a tool described by a `ToolSpec` (Worker), the tool answers with a `ToolResult`, and the
Evaluator judges the image against the scene in a `Verdict` made of one `Check` per element and relation.
Each phase is logged as a typed `Step`; the ordered steps of a run are its `Trajectory`.

All of them are pydantic v2 models whose JSON form round-trips exactly (`Model.model_validate_json(
m.model_dump_json()) == m`). In-memory images ride along on `ToolResult.image` but are never serialised:
the run store writes them to disk and records the path.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

# ----------------------------------------------------------------------------------------------------
# Vocabularies
# ----------------------------------------------------------------------------------------------------

#: Generator dimensions: the 7 T2I-CompBench categories plus rendered text.
GEN_DIMS: tuple[str, ...] = (
    "color",
    "shape",
    "texture",
    "spatial_2d",
    "spatial_3d",
    "non_spatial",
    "numeracy",
    "text",
)
#: Editor dimensions, after ImgEdit-Bench.
EDIT_DIMS: tuple[str, ...] = ("add", "remove", "replace", "attribute", "background", "style", "action")
ALL_DIMS: tuple[str, ...] = GEN_DIMS + EDIT_DIMS
#: Retoucher dimensions: the defect taxonomy's groups (limner.data.blemish.DIMENSIONS), what the `retouch`
#: routing matrix is profiled on. Kept out of ALL_DIMS (what planners and tool configs name); only the
#: retoucher's own subtasks weight them.
DEFECT_DIMS: tuple[str, ...] = ("geometry", "surface", "line", "text")
#: Every dimension a performance matrix may have.
ROUTED_DIMS: tuple[str, ...] = ALL_DIMS + tuple(d for d in DEFECT_DIMS if d not in ALL_DIMS)

ToolKind = Literal["generate", "edit", "inpaint", "check", "detect", "ocr", "retouch"]
SubtaskKind = Literal["generate", "edit", "inpaint", "retouch"]

#: Relations with a geometric reading; anything else (e.g. "holding", "playing with") is an action.
SPATIAL_2D = ("left of", "right of", "above", "below", "next to", "on")
SPATIAL_3D = ("in front of", "behind")
#: Contact relations (T2I-CompBench's non-spatial and complex prompts): containment ("in": the subject lies
#: inside the object), attachment ("holding": the object touches the subject beside it; "with" reads so),
#: "wearing" (the object sits on the subject's upper half) and "riding" (the subject sits on the object,
#: overlapping it). Each has one geometric rule over boxes (`limner.geometry.relation_holds_boxes`).
CONTACT = ("in", "holding", "wearing", "riding")
#: Actions the world draws and judges through a fixed arrangement of agent and object (a *proxy*, not the
#: action itself): canonical action predicate -> the geometric relation that stands for it. "A man playing
#: a guitar" is drawn and judged as the man holding the guitar; "a dog chasing a ball" as the dog next to
#: it. An action not here has no proxy: the checker names it unsupported and the truth never passes it.
ACTION_PROXIES: dict[str, str] = {
    "with": "holding", "carrying": "holding", "playing": "holding", "playing with": "holding", "eating": "holding",
    "drinking": "holding", "reading": "holding", "hugging": "holding", "using": "holding",
    "throwing": "holding", "catching": "holding", "pushing": "holding", "pulling": "holding",
    "petting": "holding", "feeding": "holding", "cutting": "holding", "brushing": "holding",
    "chasing": "next to", "looking at": "next to", "watching": "next to", "following": "next to",
    "walking": "next to", "kicking": "next to", "sniffing": "next to", "talking to": "next to",
}

_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class _Record(BaseModel):
    """Strict base: unknown fields are errors, so a typo in a hand-written file is caught, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=True)


def relation_dimension(predicate: str) -> str:
    """The performance dimension a relation exercises (used for W_task and per-dimension scores)."""
    if predicate in SPATIAL_2D:
        return "spatial_2d"
    if predicate in SPATIAL_3D:
        return "spatial_3d"
    return "non_spatial"


def relation_geometry(predicate: str) -> str | None:
    """The geometric relation that decides `predicate` in a picture: itself for the 2D, 3D and contact
    relations, the proxy of an action (`ACTION_PROXIES`), None when there is none (then nobody judges it)."""
    if predicate in SPATIAL_2D or predicate in SPATIAL_3D or predicate in CONTACT:
        return predicate
    return ACTION_PROXIES.get(predicate)


#: The kind of a relation, by its geometry: what the checker benchmark reports each under.
RELATION_KINDS: dict[str, str] = {
    "left of": "directional", "right of": "directional", "above": "directional", "below": "directional",
    "in front of": "depth", "behind": "depth", "next to": "near", "on": "support", "in": "containment",
    "holding": "attachment", "wearing": "wearing", "riding": "riding",
}


def relation_kind(predicate: str) -> str | None:
    """"support", "containment", "attachment", ... for a predicate (an action proxied by its geometry is
    `action`), None when the world has no geometry for it."""
    geometry = relation_geometry(predicate)
    if geometry is None:
        return None
    return "action" if predicate in ACTION_PROXIES and predicate not in _ATTACHMENTS else RELATION_KINDS[geometry]


#: Proxied predicates that are attachments, not actions ("a man with a hat", "a woman carrying a bag").
_ATTACHMENTS = ("with", "carrying")


# ----------------------------------------------------------------------------------------------------
# The scene: a prompt read into checkable parts
# ----------------------------------------------------------------------------------------------------


class Element(_Record):
    """One object kind in the scene, with the attributes the prompt binds to it.

    `count == 0` with `negated=True` means "no X" / "without X": the evaluator checks absence.
    `text` is text the object must carry (a sign that says "OPEN").
    """

    id: str
    noun: str = Field(description="the words of the prompt that named the object, e.g. 'apples'")
    cls: str = Field(description="canonical object class, e.g. 'apple'")
    count: int = Field(default=1, ge=0, le=100)
    color: str | None = None
    texture: str | None = None
    shape: str | None = None
    size: str | None = None
    text: str | None = None
    negated: bool = False
    qualities: list[str] = Field(
        default_factory=list,
        description="other words the prompt says the object is ('rusty', 'heavy', 'warm'): read, not judged",
    )
    states: list[str] = Field(
        default_factory=list,
        description="what the object does or how it is placed, with no second object ('fluttering', "
        "'swam gracefully', 'hung'): read, not judged",
    )
    parts: list[str] = Field(
        default_factory=list,
        description="parts of the object the prompt names, with their words ('handle', 'rubber sole'): read, not "
        "judged",
    )

    @field_validator("id")
    @classmethod
    def _valid_id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError(f"element id {v!r} must match {_ID.pattern}")
        return v

    @model_validator(mode="after")
    def _negation_means_absent(self) -> Element:
        if self.negated and self.count != 0:
            raise ValueError(f"negated element {self.id!r} must have count 0, got {self.count}")
        return self


class Relation(_Record):
    """`subject predicate object`, both ends referring to element ids ("e0 left of e1")."""

    subject: str
    predicate: str
    object: str

    @property
    def dimension(self) -> str:
        return relation_dimension(self.predicate)

    @property
    def kind(self) -> str | None:
        """support, containment, attachment, action...; None when the world has no geometry for it."""
        return relation_kind(self.predicate)

    @property
    def id(self) -> str:
        return f"{self.subject}:{self.predicate.replace(' ', '_')}:{self.object}"


class Scene(_Record):
    """The structured, checkable reading of a prompt (what the Analyst produces)."""

    prompt: str
    elements: list[Element] = Field(default_factory=list)
    relations: list[Relation] = Field(default_factory=list)
    background: str | None = None
    style: str | None = None
    unsupported: list[str] = Field(
        default_factory=list, description="parts of the prompt the scene cannot represent, named, not dropped"
    )
    assumptions: list[str] = Field(
        default_factory=list,
        description="where the prompt was silent and the reader chose (a plural without a number is read as 2): "
        "checked as chosen, which is stricter than the prompt, so not an unchecked part",
    )
    moods: list[str] = Field(
        default_factory=list,
        description="abstract and mood words of the prompt ('beauty', 'a cozy atmosphere'): read, not judged",
    )
    context: list[str] = Field(
        default_factory=list,
        description="classes known to be in the picture that nothing here judges (an edit's untouched objects): "
        "a checker may use them to explain what it sees; no check is made on them",
    )

    @model_validator(mode="after")
    def _relations_refer_to_elements(self) -> Scene:
        ids = [e.id for e in self.elements]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate element ids: {ids}")
        for r in self.relations:
            for end in (r.subject, r.object):
                if end not in ids:
                    raise ValueError(f"relation {r.id!r} refers to unknown element {end!r}; known: {ids}")
        return self

    def element(self, element_id: str) -> Element:
        for e in self.elements:
            if e.id == element_id:
                return e
        raise KeyError(element_id)

    @property
    def unjudged_readings(self) -> list[str]:
        """The parts of the prompt the reader read into the scene but that no checker judges (an element's
        qualities, states and parts; the scene's moods), each named. A checker adds them to its verdict's
        unchecked parts, so a prompt that asks for them never passes: it is read, yet its coverage is
        incomplete. Empty for a scene without such parts."""
        out: list[str] = []
        for e in self.elements:
            for kind, words in (("quality", e.qualities), ("state", e.states), ("part", e.parts)):
                out += [f"{e.id}: {kind} '{w}' of {e.noun} is read but not judged" for w in words]
        out += [f"mood '{m}' is read but not judged" for m in self.moods]
        return out

    @property
    def dimensions(self) -> list[str]:
        """Generator dimensions this scene exercises, in GEN_DIMS order."""
        dims: set[str] = set()
        for e in self.elements:
            if e.color:
                dims.add("color")
            if e.texture:
                dims.add("texture")
            if e.shape:
                dims.add("shape")
            if e.count != 1 or e.negated:
                dims.add("numeracy")
            if e.text:
                dims.add("text")
        dims.update(r.dimension for r in self.relations)
        return [d for d in GEN_DIMS if d in dims]


# ----------------------------------------------------------------------------------------------------
# Plans, tools and their calls
# ----------------------------------------------------------------------------------------------------


class Box(_Record):
    """Pixel box, x1/y1 exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    @model_validator(mode="after")
    def _ordered(self) -> Box:
        if self.x1 < self.x0 or self.y1 < self.y0:
            raise ValueError(f"box corners out of order: {self}")
        return self

    @property
    def area(self) -> int:
        return (self.x1 - self.x0) * (self.y1 - self.y0)

    @property
    def center(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2

    def intersection(self, other: Box) -> Box | None:
        """The overlap of the two boxes, or None when they do not overlap (touching edges do not count)."""
        x0, y0 = max(self.x0, other.x0), max(self.y0, other.y0)
        x1, y1 = min(self.x1, other.x1), min(self.y1, other.y1)
        return Box(x0=x0, y0=y0, x1=x1, y1=y1) if x1 > x0 and y1 > y0 else None

    def overlaps(self, other: Box) -> bool:
        return self.intersection(other) is not None

    def iou(self, other: Box) -> float:
        """Intersection over union (0 for disjoint boxes; empty boxes count as area 1)."""
        inter = self.intersection(other)
        if inter is None:
            return 0.0
        return inter.area / max(1, self.area + other.area - inter.area)

    def gap(self, other: Box) -> int:
        """Chebyshev gap between the boxes: 0 or less when they touch or overlap."""
        return max(max(self.x0, other.x0) - min(self.x1, other.x1), max(self.y0, other.y0) - min(self.y1, other.y1))

    @staticmethod
    def union(boxes: Sequence[Box]) -> Box | None:
        """The smallest box holding all `boxes` (None for none)."""
        if not boxes:
            return None
        return Box(x0=min(b.x0 for b in boxes), y0=min(b.y0 for b in boxes),
                   x1=max(b.x1 for b in boxes), y1=max(b.y1 for b in boxes))


class Subtask(_Record):
    """One step of the plan: what to do, to which elements, and which skills it needs (W_task)."""

    id: str
    kind: SubtaskKind
    instruction: str
    element_ids: list[str] = Field(default_factory=list)
    weights: dict[str, float] = Field(default_factory=dict, description="W_task over performance dimensions")
    region: Box | None = None

    @field_validator("weights")
    @classmethod
    def _known_non_negative(cls, w: dict[str, float]) -> dict[str, float]:
        for k, v in w.items():
            if k not in ROUTED_DIMS:
                raise ValueError(f"unknown dimension {k!r}; expected one of {list(ROUTED_DIMS)}")
            if v < 0:
                raise ValueError(f"weight for {k!r} is negative: {v}")
        return w


class ToolSpec(_Record):
    """A tool's declared contract: what it is, what it is profiled on and what it costs.

    `dims` are the performance dimensions the tool has (or can have) a matrix column for.
    """

    name: str
    kind: ToolKind
    backend: str
    description: str = ""
    dims: list[str] = Field(default_factory=list)
    cost: float = Field(default=1.0, ge=0, description="relative cost of one call (money, GPU-seconds)")
    simulated: bool = False
    scores: dict[str, float] = Field(
        default_factory=dict,
        description="declared per-dimension skill in [0, 1] (profiled or published): the matrix prior for this tool",
    )
    family: str | None = Field(
        default=None, description="base model this tool is a variant of; the router shares evidence within a family"
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError(f"tool name {v!r} must match {_ID.pattern}")
        return v

    @field_validator("dims")
    @classmethod
    def _known_dims(cls, dims: list[str]) -> list[str]:
        unknown = [d for d in dims if d not in ALL_DIMS]
        if unknown:
            raise ValueError(f"unknown dimensions {unknown}; expected some of {list(ALL_DIMS)}")
        return dims

    @field_validator("scores")
    @classmethod
    def _valid_scores(cls, scores: dict[str, float]) -> dict[str, float]:
        return check_scores(scores)


def check_scores(scores: dict[str, float]) -> dict[str, float]:
    """Per-dimension scores: known dimensions, values in [0, 1]."""
    for k, v in scores.items():
        if k not in ALL_DIMS:
            raise ValueError(f"unknown dimension {k!r} in scores; expected one of {list(ALL_DIMS)}")
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"score for {k!r} must be in [0, 1], got {v}")
    return scores


class ToolCall(_Record):
    """A serialisable request to a tool. Images are referenced by path relative to the run directory."""

    tool: str
    subtask_id: str | None = None
    prompt: str = Field(default="", description="text-to-image prompt, or the edit instruction")
    seed: int = 0
    width: int = Field(default=512, ge=16, le=4096)
    height: int = Field(default=512, ge=16, le=4096)
    input_image: str | None = None
    mask: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class ToolResult(_Record):
    """What a tool returned. `image` and `ground_truth` stay in memory; the run store persists them."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    tool: str
    ok: bool = True
    error: str | None = None
    image_path: str | None = None
    duration_s: float = 0.0
    meta: dict[str, Any] = Field(default_factory=dict)
    image: Any = Field(default=None, exclude=True, repr=False)
    ground_truth: dict[str, Any] | None = Field(
        default=None,
        exclude=True,
        repr=False,
        description="sandbox only: what was really drawn; saved beside the image for benchmarks, never read by tools",
    )


# ----------------------------------------------------------------------------------------------------
# Judgement
# ----------------------------------------------------------------------------------------------------

CheckKind = Literal[
    "presence", "absence", "count", "color", "texture", "shape", "size", "position", "depth", "text",
    "action", "background", "style", "defect", "global", "preservation",
]


class Check(_Record):
    """One local judgement: is this element/relation/attribute as the scene asks? Always with a reason."""

    target: str = Field(description="element id, relation id, or 'scene'")
    kind: CheckKind
    passed: bool
    score: float = Field(ge=0.0, le=1.0)
    evidence: str
    dimension: str | None = None
    box: Box | None = None


class Verdict(_Record):
    """How well an image shows a scene, and how much of the scene was judged at all.

    score = λ·global + (1−λ)·mean(local checks) (the score says nothing about coverage, so figures on fully
    read prompts stay comparable).

    **Parts.** The prompt's parts are the local checks the evaluator made (one per element presence/count,
    attribute, relation, text...) plus the entries of `unsupported`: every part of the prompt that was not
    checked, named with the reason (words the reader could not read, a relation or class the checker cannot
    judge, a language the reader does not speak...). `coverage` = checks / parts, in [0, 1]; a verdict with
    no parts at all (an empty scene) has coverage 0.

    **Passing.** `checks_passed`: every local check passed (what the agent can still improve; the loop stops
    when it holds). `passed`: the image is known to show the prompt, i.e. coverage is complete (nothing
    unsupported) *and* every check passed *and* there was at least one check. An empty scene never passes.
    """

    score: float = Field(ge=0.0, le=1.0)
    global_score: float = Field(ge=0.0, le=1.0)
    checks: list[Check] = Field(default_factory=list)
    lam: float = Field(default=0.5, ge=0.0, le=1.0)
    unsupported: list[str] = Field(
        default_factory=list, description="parts of the prompt that were not checked, each named with its reason"
    )
    evaluator: str = ""

    @property
    def checks_passed(self) -> bool:
        """Every local check passed (vacuously true without checks): nothing left that a tool could fix."""
        return all(c.passed for c in self.checks)

    @property
    def parts(self) -> int:
        """How many parts the prompt was read into: checks made + parts named unsupported."""
        return len(self.checks) + len(self.unsupported)

    @property
    def coverage(self) -> float:
        """Share of the prompt's parts that were checked (0 when there are no parts)."""
        return len(self.checks) / self.parts if self.parts else 0.0

    @property
    def passed(self) -> bool:
        """True only when something was checked, every part was checked and every check passed."""
        return bool(self.checks) and not self.unsupported and self.checks_passed

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def summary(self) -> str:
        """One line for people: "score 0.83 on 5 of 6 parts; not checked: riding"."""
        line = f"score {self.score:.2f} on {len(self.checks)} of {self.parts} parts"
        if self.unsupported:
            line += "; not checked: " + "; ".join(self.unsupported)
        elif not self.checks:
            line += "; nothing to check (the prompt was not read into any part)"
        return line

    @classmethod
    def combine(
        cls, global_score: float, checks: list[Check], lam: float = 0.5, **kwargs: Any
    ) -> Verdict:
        local = sum(c.score for c in checks) / len(checks) if checks else global_score
        return cls(
            score=lam * global_score + (1 - lam) * local, global_score=global_score, checks=checks, lam=lam,
            **kwargs,
        )


# ----------------------------------------------------------------------------------------------------
# Steps and trajectories
# ----------------------------------------------------------------------------------------------------


class _StepBase(_Record):
    index: int = Field(ge=0)
    round: int = Field(default=0, ge=0)
    started_at: float = Field(default_factory=time.time)
    duration_s: float = 0.0
    reasoning: str = ""
    error: str | None = None
    tokens: int | None = Field(default=None, description="LLM tokens spent on this step, when an LLM was used")


class AnalysisStep(_StepBase):
    type: Literal["analysis"] = "analysis"
    scene: Scene
    goal: float = Field(default=1.0, ge=0, le=1, description="verdict score at which the run stops")


class PlanStep(_StepBase):
    type: Literal["plan"] = "plan"
    subtasks: list[Subtask]


class ToolStep(_StepBase):
    type: Literal["tool"] = "tool"
    subtask_id: str | None = None
    ranking: list[tuple[str, float]] = Field(default_factory=list, description="(tool, PASM score), best first")
    call: ToolCall
    result: ToolResult


class EvaluationStep(_StepBase):
    type: Literal["evaluation"] = "evaluation"
    image_path: str
    verdict: Verdict


class ReflectionStep(_StepBase):
    type: Literal["reflection"] = "reflection"
    failed: list[str] = Field(default_factory=list, description="targets of the checks that failed")
    next_action: Literal["repair", "regenerate", "stop"] = "stop"


class FinalStep(_StepBase):
    type: Literal["final"] = "final"
    image_path: str
    score: float = Field(ge=0, le=1)
    passed: bool


class Defect(_Record):
    """A local defect the retoucher found: where, what, how sure (limner.retouch)."""

    category: str
    dimension: str
    box: Box
    area: int = Field(ge=0, description="pixels in the region's mask")
    saliency: float = Field(ge=0, le=1, description="mean distortion saliency inside the region")
    confidence: float | None = Field(default=None, ge=0, le=1, description="the reasoner's probability")
    description: str = ""


class RetouchStep(_StepBase):
    """One stage of the retoucher's perception → reasoning → action loop."""

    type: Literal["retouch"] = "retouch"
    stage: Literal["perceive", "reason", "repair", "keep"]
    image_path: str | None = Field(default=None, description="the image this stage read (perceive) or made")
    defect_score: float | None = Field(default=None, ge=0, description="saliency mass above τ_s (perceive)")
    defects: list[Defect] = Field(default_factory=list)
    ranking: list[tuple[str, float]] = Field(default_factory=list, description="(tool, score), best first")
    call: ToolCall | None = None
    result: ToolResult | None = None
    kept: bool | None = Field(default=None, description="repair: verified and kept; keep: the retouched image won")


Step = Annotated[
    AnalysisStep | PlanStep | ToolStep | EvaluationStep | ReflectionStep | FinalStep | RetouchStep,
    Field(discriminator="type"),
]


class Trajectory(_Record):
    """The ordered steps of one run: what the CLI prints, the UI shows, and the trainers learn from."""

    run_id: str
    prompt: str
    steps: list[Step] = Field(default_factory=list)

    def to_jsonl(self) -> str:
        return "".join(s.model_dump_json() + "\n" for s in self.steps)

    @classmethod
    def from_jsonl(cls, run_id: str, prompt: str, text: str) -> Trajectory:
        steps = [parse_step(line) for line in text.splitlines() if line.strip()]
        return cls(run_id=run_id, prompt=prompt, steps=steps)

    @property
    def final(self) -> FinalStep | None:
        for s in reversed(self.steps):
            if isinstance(s, FinalStep):
                return s
        return None


_STEP_ADAPTER: TypeAdapter[Step] = TypeAdapter(Step)


def parse_step(line: str | bytes) -> Step:
    """Parse one trajectory.jsonl line into its typed step."""
    return _STEP_ADAPTER.validate_json(line)
