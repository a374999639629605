"""Checker vs truth on random painted scenes that each ask for a contact relation (a quick diagnostic).

The acceptance run (`benchmarks/sandbox.py`, `checker_painted`) draws random scenes of which only some ask
for a contact relation (support, containment, attachment, wearing, riding), so a change to how the detector
finds a small object on a large one needs ~100 scenes per seed to show. This script draws only scenes that
ask for one (the benchmark's own generator, `limner.eval.painted.PaintedStream`, with a filter), has every
sandbox painter draw each (optionally with the planner's repair, as the benchmark does), judges every picture
with the checker and with the world's truth, prints the rates per dimension (all dimensions, so regressions elsewhere show)
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

from limner.eval.painted import PaintedStream, judged_rows
from limner.types import Scene, relation_kind

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
    sb._set_threads(a.threads)
    tally: dict[str, list[tuple[bool, bool]]] = {}
    times: list[float] = []
    dumped = 0
    if a.out is not None:
        a.out.mkdir(parents=True, exist_ok=True)
    log = a.rows.open("w") if a.rows is not None else None
    dims = set(a.dump.split(","))
    stream = PaintedStream(a.scenes, a.seed, a.size, rng_key=99, accept=_asks_contact, edits=a.edits, first_index=1)
    t0 = time.perf_counter()
    for pic in stream:
        tag = f"s{pic.scene_index} {pic.painted_by}" + (f" -> {pic.tool}" if pic.source == "editor" else "")
        times.append(pic.check_s)
        judged = judged_rows(pic.verdict, pic.scene, pic.truth)
        for d, said, truth, e in judged:
            tally.setdefault(d, []).append((said, truth))
            if log is not None:
                log.write(json.dumps({"tag": tag, "dim": d, "checker": said, "truth": truth, "evidence": e}) + "\n")
        bad = [r for r in judged if r[0] in dims and r[1] != r[2]]
        if bad and a.out is not None:
            dumped += 1
            pic.image.save(a.out / f"{dumped:03d}.png")
            (a.out / f"{dumped:03d}.json").write_text(json.dumps({
                "tag": tag, "prompt": pic.scene.prompt, "scene": pic.scene.model_dump(mode="json"),
                "objects": [o.model_dump(mode="json", include={"cls", "box", "z", "visible", "element_id"})
                            for o in pic.truth.objects],
                "bad": [{"dim": d, "checker": c, "truth": t, "evidence": e} for d, c, t, e in bad]}, indent=1))
        if pic.source == "painter" and pic.tool == stream.painters[-1].name and pic.scene_index % 10 == 0:
            print(f"{pic.scene_index}/{a.scenes} scenes, {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    if log is not None:
        log.close()
    for d in sorted(tally):
        r = sb.rates(tally[d])
        print(f"{d:12s} " + " ".join(f"{key}={v:.3f}" if isinstance(v, float) else f"{key}={v}"
                                     for key, v in r.items()))
    ms = np.asarray(times) * 1000
    print(f"check ms: median {np.median(ms):.0f} p95 {np.percentile(ms, 95):.0f}; {len(ms)} images; "
          f"{dumped} dumped; {time.perf_counter() - t0:.0f}s")


def _asks_contact(scene: Scene) -> bool:
    return any(relation_kind(r.predicate) in CONTACT for r in scene.relations)


if __name__ == "__main__":
    main()
