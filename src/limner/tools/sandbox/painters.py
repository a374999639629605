"""Sandbox painters: simulated text-to-image tools with hidden, seeded skill profiles.

A painter reads the prompt with the shared rule-based reader (`limner.reading.prompt.parse_prompt`), distorts
the resulting Scene with its hidden profile (`profiles.py`), lays it out, renders it from emoji artwork
and may leave blemishes. Everything random is drawn from one rng seeded by a stable hash of
(painter name, prompt, seed), so the same call gives the same PNG bytes in any process.

Configured in YAML like any tool (see `limner/presets/sandbox.yaml`):

    - {name: alder, backend: sandbox, type: painter, options: {profile: p-alder}}

The ground truth of what was drawn rides on `ToolResult.ground_truth` for benchmarks and training data;
the agent's tools and evaluators never read it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from limner.reading.prompt import parse_prompt
from limner.tools.base import Tool, ToolError
from limner.tools.sandbox.artwork import CLASS_ART, get_artwork, hash_text
from limner.tools.sandbox.blemishes import add_random_blemishes
from limner.tools.sandbox.profiles import (
    PAINTER_PROFILES,
    PainterProfile,
    distort_scene,
    painter_profile,
    with_overrides,
)
from limner.tools.sandbox.render import layout_scene, render_layout
from limner.tools.sandbox.world import TEXT_WORDS, WorldTruth, grade_truth
from limner.types import GEN_DIMS, Element, Relation, Scene, ToolCall, ToolResult


def call_rng(*parts: object) -> np.random.Generator:
    """An rng seeded by a stable hash of its parts (never Python's salted hash())."""
    return np.random.default_rng(hash_text("\x1f".join(str(p) for p in parts)))


def read_prompt(prompt: str) -> Scene:
    """The shared rule-based reader (`limner.reading`, the layer below both the brain and the tools)."""
    return parse_prompt(prompt)


def paint(
    scene: Scene, profile: PainterProfile, rng: np.random.Generator, width: int, height: int, tool: str = ""
) -> tuple[Image.Image, WorldTruth]:
    """Draw `scene` the way a painter with `profile` would: distort, lay out, render, blemish."""
    drawn, notes = distort_scene(scene, profile, rng)
    layout = layout_scene(drawn, rng, width, height)
    image, truth = render_layout(layout, width, height)
    image = add_random_blemishes(image, truth, profile.blemish_rate, rng)
    truth.prompt = scene.prompt
    truth.tool = tool
    truth.notes = notes
    truth.unsupported = sorted(set(truth.unsupported) | set(scene.unsupported))
    return image, truth


class Painter(Tool):
    """Sandbox text-to-image painter (simulated; hidden per-dimension skill profile)."""

    kind: ClassVar = "generate"
    backend: ClassVar[str] = "sandbox"
    default_dims: ClassVar[tuple[str, ...]] = GEN_DIMS
    simulated: ClassVar[bool] = True

    def __init__(self, name: str, *, profile: str | None = None, profile_overrides: dict[str, float] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        unknown = sorted(self.options)
        if unknown:
            raise ValueError(f"painter {name!r}: unknown options {unknown}; expected profile, profile_overrides")
        base = painter_profile(profile or name)
        self.profile = with_overrides(base, profile_overrides or {})
        self.profile_name = profile or name

    def setup(self) -> None:
        get_artwork()  # subsets the font once per process

    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        # 1. read the prompt (the same reader the Analyst uses; the profile supplies the painter's errors)
        try:
            scene = read_prompt(call.prompt)
        except ValueError as e:
            raise ToolError(f"{self.name}: cannot read prompt {call.prompt!r}: {e}") from e
        # 2. draw with this painter's hidden profile, seeded by (painter, prompt, seed)
        rng = call_rng(self.name, call.prompt, call.seed)
        out, truth = paint(scene, self.profile, rng, call.width, call.height, tool=self.name)
        meta = {
            "simulated": True,
            "seed": call.seed,
            "simulated_latency_s": self.profile.latency_s,
            "unsupported": truth.unsupported,
        }
        return ToolResult(tool=self.name, image=out, meta=meta, ground_truth=truth.model_dump(mode="json"))


# ----------------------------------------------------------------------------------------------------
# Calibration: how good is each painter, measured against the world's ground truth
# ----------------------------------------------------------------------------------------------------


def geneval_scene(item: dict[str, Any]) -> Scene:
    """A GenEval metadata record (`include`, `exclude`, `prompt`) as the Scene it asks for."""
    elements, relations = [], []
    for i, inc in enumerate(item["include"]):
        elements.append(Element(id=f"e{i}", noun=inc["class"], cls=inc["class"], count=inc.get("count", 1),
                                color=inc.get("color")))
        if "position" in inc:
            rel, j = inc["position"]
            relations.append(Relation(subject=f"e{i}", predicate=rel, object=f"e{j}"))
    return Scene(prompt=item["prompt"], elements=elements, relations=relations)


def geneval_pass(scene: Scene, truth: WorldTruth, tag: str) -> bool:
    """GenEval's binary verdict from the truth: every include holds (counting: exactly n)."""
    checks = grade_truth(scene, truth)
    ok = all(c.passed for c in checks)
    if tag != "counting":  # GenEval asks for at least `count` objects outside the counting tag
        ok = all(c.passed for c in checks if c.kind != "count")
    return ok


def measure_geneval(painters: list[Painter], items: list[dict[str, Any]], seeds: int = 1,
                    size: int = 256) -> dict[str, dict[str, float]]:
    """Per painter: GenEval tag scores and the overall mean, graded on ground truth (simulated)."""
    out: dict[str, dict[str, float]] = {}
    for p in painters:
        per_tag: dict[str, list[bool]] = {}
        for item in items:
            scene = geneval_scene(item)
            for seed in range(seeds):
                res = p(ToolCall(tool=p.name, prompt=item["prompt"], seed=seed, width=size, height=size))
                truth = WorldTruth.model_validate(res.ground_truth)
                per_tag.setdefault(item["tag"], []).append(geneval_pass(scene, truth, item["tag"]))
        scores = {t: float(np.mean(v)) for t, v in sorted(per_tag.items())}
        scores["overall"] = float(np.mean(list(scores.values())))
        out[p.name] = scores
    return out


def measure_dimensions(painters: list[Painter], prompts: dict[str, list[str]], seeds: int = 1,
                       size: int = 256) -> dict[str, dict[str, float]]:
    """Per painter and dimension: share of that dimension's checks that hold in the truth (simulated).

    `prompts` maps a dimension (GEN_DIMS) to prompts exercising it; each prompt is graded against the
    shared reader's Scene, so a check counts for the dimension it belongs to.
    """
    out: dict[str, dict[str, float]] = {}
    for p in painters:
        row: dict[str, float] = {}
        for dim, plist in prompts.items():
            hits: list[bool] = []
            for prompt in plist:
                scene = _drawable(read_prompt(prompt))
                if not scene.elements:
                    continue
                for seed in range(seeds):
                    res = p(ToolCall(tool=p.name, prompt=prompt, seed=seed, width=size, height=size))
                    truth = WorldTruth.model_validate(res.ground_truth)
                    checks = grade_truth(scene, truth)
                    relevant = [c.passed for c in checks if c.dimension == dim and c.kind != "presence"]
                    if dim == "non_spatial":
                        relevant = [c.passed for c in checks if c.dimension == dim]
                    if relevant:
                        # a dimension's check only counts when the objects it is about were drawn
                        present = all(c.passed for c in checks if c.kind == "presence")
                        hits.append(present and all(relevant))
            row[dim] = float(np.mean(hits)) if hits else float("nan")
        out[p.name] = row
    return out


def measure_latency(painter: Painter, prompts: list[str], size: int = 512) -> float:
    """Median wall time (ms) of a painter call at `size`x`size`, after one warm-up pass over `prompts`."""
    for p in prompts:
        painter(ToolCall(tool=painter.name, prompt=p, seed=0, width=size, height=size))
    times = []
    for i, p in enumerate(prompts):
        t0 = time.perf_counter()
        painter(ToolCall(tool=painter.name, prompt=p, seed=i + 1, width=size, height=size))
        times.append(time.perf_counter() - t0)
    return round(float(np.median(times)) * 1000, 1)


def _drawable(scene: Scene) -> Scene:
    """The part of a scene the world can draw (calibration must not blame painters for unknown nouns)."""
    keep = [e for e in scene.elements if e.cls in CLASS_ART]
    ids = {e.id for e in keep}
    rels = [r for r in scene.relations if r.subject in ids and r.object in ids]
    return scene.model_copy(update={"elements": keep, "relations": rels})


def main(argv: list[str] | None = None) -> None:
    """Print the measured painter matrix as JSON (graded on ground truth; simulated).

    python -c "from limner.tools.sandbox.painters import main; main()" --geneval F.jsonl --compbench DIR
    """
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--geneval", type=Path, required=True, help="GenEval metadata .jsonl")
    ap.add_argument("--compbench", type=Path, required=True, help="folder with T2I-CompBench *_train.txt")
    ap.add_argument("--per-dim", type=int, default=60, help="prompts per dimension")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args(argv)
    painters = [Painter(name.removeprefix("p-"), profile=name) for name in PAINTER_PROFILES]
    items = [json.loads(line) for line in args.geneval.read_text().splitlines() if line.strip()]
    geneval = measure_geneval(painters, items, args.seeds, args.size)
    files = {"color": "color", "shape": "shape", "texture": "texture", "spatial_2d": "spatial",
             "spatial_3d": "3d_spatial", "non_spatial": "non_spatial", "numeracy": "numeracy"}
    rng = np.random.default_rng(0)
    prompts: dict[str, list[str]] = {}
    for dim, stem in files.items():
        lines = [x.strip() for x in (args.compbench / f"{stem}_train.txt").read_text().splitlines() if x.strip()]
        prompts[dim] = [lines[i] for i in rng.choice(len(lines), size=min(args.per_dim, len(lines)), replace=False)]
    prompts["text"] = [f'a sign that says "{w}" next to a {c}' for w, c in
                       zip(TEXT_WORDS, ["cat", "car", "dog", "tree", "cup"] * 4)]
    dims = measure_dimensions(painters, prompts, args.seeds, args.size)
    best = {d: max(dims, key=lambda p: dims[p][d]) for d in GEN_DIMS}
    latency = measure_latency(painters[0], [it["prompt"] for it in items[::7]])
    print(json.dumps({"benchmark": "sandbox_painters", "simulated": True,
                      "config": {"per_dim": args.per_dim, "seeds": args.seeds, "size": args.size},
                      "metrics": {"geneval": geneval, "dimensions": dims, "best_per_dimension": best,
                                  "distinct_best": len(set(best.values())),
                                  "painter_latency_ms_512_median": latency}}, indent=1), file=sys.stdout)

