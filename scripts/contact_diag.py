"""Checker vs truth on random painted scenes that each ask for a contact relation (a quick diagnostic).

The acceptance run (`benchmarks/sandbox.py`, `checker_painted`) draws random scenes of which only some ask
for a contact relation (support, containment, attachment, wearing, riding), so a change to how the detector
finds a small object on a large one needs ~100 scenes per seed to show. This script draws only scenes that
ask for one (the same generator, `random_scene` with `WORLD_PREDICATES`), has every sandbox painter draw
each (optionally with the planner's repair, as the benchmark does), judges every picture with the checker
and with the world's truth, prints the rates per dimension (all dimensions, so regressions elsewhere show)
and the checker's time, and with `--out` dumps each picture where a contact check disagrees with the truth
(PNG + JSON of the prompt, the truth's objects and the disagreeing checks). SIMULATED.

    PYTHONPATH=src python scripts/contact_diag.py --scenes 40 --seed 0 --out /tmp/contact_diag
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import sandbox as sb

from limner.config import load_config
from limner.tools.base import ToolError
from limner.tools.registry import ToolRegistry
from limner.tools.sandbox.world import WORLD_PREDICATES, WorldTruth, random_scene
from limner.types import ToolCall, relation_kind

CONTACT = ("support", "containment", "attachment", "wearing", "riding")

def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=40, help="random scenes, each asking for a contact relation")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--edits", action="store_true", help="also judge one planner repair of each picture")
    ap.add_argument("--out", type=Path, help="dump disagreements here (PNG + JSON)")
    ap.add_argument("--rows", type=Path, help="write every judged check here (JSON lines), to compare runs")
    ap.add_argument("--dump", default=",".join(CONTACT), help="dimensions whose disagreements are dumped")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    scenes, seed, size, edits, out, rows, dump, threads = (
        a.scenes, a.seed, a.size, a.edits, a.out, a.rows, a.dump, a.threads)
    sb._set_threads(threads)
    reg = ToolRegistry.from_config(load_config("sandbox"))
    painters = reg.tools(kind="generate")
    editors = reg.tools(kind="edit") + reg.tools(kind="inpaint")
    rng = np.random.default_rng([seed, 99])
    tally: dict[str, list[tuple[bool, bool]]] = {}
    times: list[float] = []
    dumped = 0
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    log = rows.open("w") if rows is not None else None
    dims = set(dump.split(","))

    def judge(image, scene, truth, tag: str):
        nonlocal dumped
        t = time.perf_counter()
        judged, verdict = sb._judge_pair(image, scene, truth)
        times.append(time.perf_counter() - t)
        for d, a, b, e in judged:
            tally.setdefault(d, []).append((a, b))
            if log is not None:
                log.write(json.dumps({"tag": tag, "dim": d, "checker": a, "truth": b, "evidence": e}) + "\n")
        bad = [r for r in judged if r[0] in dims and r[1] != r[2]]
        if bad and out is not None:
            dumped += 1
            image.save(out / f"{dumped:03d}.png")
            (out / f"{dumped:03d}.json").write_text(json.dumps({
                "tag": tag, "prompt": scene.prompt, "scene": scene.model_dump(mode="json"),
                "objects": [o.model_dump(mode="json", include={"cls", "box", "z", "visible", "element_id"})
                            for o in truth.objects],
                "bad": [{"dim": d, "checker": a, "truth": b, "evidence": e} for d, a, b, e in bad]}, indent=1))
        return verdict

    i = k = 0
    t0 = time.perf_counter()
    while i < scenes:
        scene = random_scene(rng, predicates=WORLD_PREDICATES, p_relation=0.7, p_shape=0.25)
        if not any(relation_kind(r.predicate) in CONTACT for r in scene.relations):
            continue
        i += 1
        for p in painters:
            res = p(ToolCall(tool=p.name, prompt=scene.prompt, seed=seed * 1000 + i, width=size, height=size))
            truth = WorldTruth.model_validate(res.ground_truth)
            verdict = judge(res.image, scene, truth, f"s{i} {p.name}")
            if not edits:
                continue
            job = sb._edit_call(editors, scene, verdict, truth, k, rng)
            k += 1
            if job is None:
                continue
            tool, call, mask = job
            try:
                o = tool(call, image=res.image, mask=mask)
            except ToolError:
                continue
            if o.image is None or o.ground_truth is None:
                continue
            judge(o.image, scene, WorldTruth.model_validate(o.ground_truth), f"s{i} {p.name} -> {tool.name}")
        if i % 10 == 0:
            print(f"{i}/{scenes} scenes, {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    for d in sorted(tally):
        r = sb.rates(tally[d])
        print(f"{d:12s} " + " ".join(f"{key}={v:.3f}" if isinstance(v, float) else f"{key}={v}"
                                     for key, v in r.items()))
    ms = np.asarray(times) * 1000
    print(f"judge ms: median {np.median(ms):.0f} p95 {np.percentile(ms, 95):.0f}; {len(ms)} images; "
          f"{dumped} dumped; {time.perf_counter() - t0:.0f}s")


if __name__ == "__main__":
    main()
