"""Checker regression harness: does a change to the sandbox checker leave every verdict as it was? (SIMULATED)

A speed-up of the checker (caches, vectorised loops) must not change a single verdict. This harness keeps
a fixed set of judged pictures and re-checks them:

    # 1. draw and record: painted + edited pictures of random scenes, from the generator the benchmark's
    #    `checker_painted` section uses (`limner.eval.painted.PaintedStream`, seed --seed), each saved as
    #    NNN.png + NNN.json (its scene) with the checker's verdict in verdicts.jsonl
    PYTHONPATH=src python scripts/checker_regression.py record --out /tmp/checker_reg --scenes 24 --seed 5
    # 2. after a change (or with another PYTHONPATH): re-check every saved picture and compare
    PYTHONPATH=src python scripts/checker_regression.py compare /tmp/checker_reg
    # 3. is the checker right? per dimension against the world's truth, e.g. with a detector setting off/on,
    #    on the pictures whose scene asks for a relation kind; --against counts the checks that changed
    PYTHONPATH=src python scripts/checker_regression.py accuracy /tmp/checker_reg --only wearing --write a.jsonl
    PYTHONPATH=src python scripts/checker_regression.py accuracy /tmp/checker_reg --only wearing \
        --set neighbour_mask_max=-1 --against a.jsonl
    # 4. the recorded verdicts as rows, judging nothing again: the baseline of an A/B of a code change (record
    #    with the old code, then `accuracy --against` with the new)
    PYTHONPATH=src python scripts/checker_regression.py rows /tmp/checker_reg --write old.jsonl

`compare` judges each PNG as the benchmark does (OCR on) and compares the whole verdict (score, every
check's kind, target, pass, score, evidence and box, the unsupported parts) with the recorded one; it
prints each difference, the CPU time per check (`time.process_time`, first check of each picture in
this process) and exits 1 if any verdict differs. The folder also suits `scripts/checker_cpu_time.py
--reuse --out DIR` (warm CPU time, OCR off). Pictures are never drawn again by `compare`: the saved
pixels are the fixture.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from limner.eval.painted import PaintedStream, compared_rows
from limner.files import atomic_write_text
from limner.tools import ocr
from limner.tools.sandbox.checker import check_image
from limner.tools.sandbox.detect import Detector, DetectorConfig
from limner.tools.sandbox.world import WorldTruth
from limner.types import Scene, Verdict, relation_kind

VERDICTS = "verdicts.jsonl"


def record(out: Path, scenes: int, seed: int, size: int) -> None:
    """Draw the pictures, save them with their scenes, and write each one's verdict."""
    out.mkdir(parents=True, exist_ok=True)
    rows: list[str] = []
    t0 = time.perf_counter()
    for n, pic in enumerate(PaintedStream(scenes, seed, size)):
        name = f"{n:03d}"
        pic.image.save(out / f"{name}.png")  # the generator judged the PNG round trip: the same pixels
        atomic_write_text(out / f"{name}.json", pic.scene.model_dump_json())
        atomic_write_text(out / f"{name}.truth.json", pic.truth.model_dump_json())  # for `accuracy`
        rows.append(json.dumps({"file": name, "scene_index": pic.scene_index, "source": pic.source,
                                "tool": pic.tool, "painted_by": pic.painted_by,
                                "verdict": pic.verdict.model_dump(mode="json")}))
        if (n + 1) % 20 == 0:
            print(f"{n + 1} pictures, {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    atomic_write_text(out / VERDICTS, "\n".join(rows) + "\n")
    atomic_write_text(out / "meta.json", json.dumps({"scenes": scenes, "seed": seed, "size": size,
                                                     "pictures": len(rows), "generator": "PaintedStream"}))
    sources = [json.loads(r)["source"] for r in rows]
    print(f"recorded {len(rows)} pictures ({sources.count('painter')} painted, {sources.count('editor')} edited) "
          f"in {out}, {time.perf_counter() - t0:.0f}s")


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two verdict dumps, in words (empty: identical)."""
    out = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new))
           if k != "checks" and old.get(k) != new.get(k)]
    a, b = old.get("checks", []), new.get("checks", [])
    if len(a) != len(b):
        out.append(f"{len(a)} checks -> {len(b)}")
    for ca, cb in zip(a, b, strict=False):
        if ca != cb:
            keys = [k for k in sorted(set(ca) | set(cb)) if ca.get(k) != cb.get(k)]
            out.append(f"{ca.get('kind')} {ca.get('target')}: " + "; ".join(
                f"{k} {ca.get(k)!r} -> {cb.get(k)!r}" for k in keys))
    return out


def compare(folder: Path, limit: int | None, write: Path | None) -> int:
    """Re-check every saved picture; print the differences and the CPU time per check. 0 = all identical."""
    rows = [json.loads(line) for line in (folder / VERDICTS).read_text().splitlines() if line.strip()]
    if not rows:
        raise SystemExit(f"{folder / VERDICTS} holds no verdicts; run `record` first")
    rows = rows[:limit] if limit else rows
    ms: list[float] = []
    differ = checks = 0
    fresh: list[str] = []
    t0 = time.perf_counter()
    for n, row in enumerate(rows):
        name = row["file"]
        scene = Scene.model_validate_json((folder / f"{name}.json").read_text())
        image = Image.open(folder / f"{name}.png")
        t = time.process_time()
        verdict: Verdict = check_image(image, scene, ocr=True)
        ms.append((time.process_time() - t) * 1000)
        new = verdict.model_dump(mode="json")
        fresh.append(json.dumps({**row, "verdict": new}))
        checks += len(new["checks"])
        diff = _differences(row["verdict"], new)
        if diff:
            differ += 1
            print(f"DIFFERS {name} ({row['source']} {row['tool']}): " + " | ".join(diff))
        if (n + 1) % 20 == 0:
            print(f"{n + 1}/{len(rows)} pictures, {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    if write is not None:
        atomic_write_text(write, "\n".join(fresh) + "\n")
    v = np.asarray(ms)
    print(f"{len(rows)} pictures, {checks} checks: {differ} verdicts differ; CPU per check (OCR on) median "
          f"{np.median(v):.0f} ms, p90 {np.percentile(v, 90):.0f} ms, mean {v.mean():.0f} ms; "
          f"{time.perf_counter() - t0:.0f}s wall")
    return 1 if differ else 0


def _rates(pairs: list[tuple[bool, bool]]) -> str:
    fails = [c for c, t in pairs if not t]
    passes = [c for c, t in pairs if t]
    fp = sum(fails) / len(fails) if fails else float("nan")
    ff = sum(not c for c in passes) / len(passes) if passes else float("nan")
    return (f"n {len(pairs):4d}  base rate fail {len(fails) / max(1, len(pairs)):.3f}  false pass {fp:.3f}  "
            f"false fail {ff:.3f}  balanced accuracy {1 - (fp + ff) / 2:.3f}")


@dataclasses.dataclass
class _Tally:
    """Checker-vs-truth rows per dimension, and the parts the checker named unchecked (outside the rates)."""

    per_dim: dict[str, list[tuple[bool, bool]]] = dataclasses.field(default_factory=dict)
    unjudged: dict[str, list[bool]] = dataclasses.field(default_factory=dict)
    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def add(self, name: str, verdict: Verdict, scene: Scene, truth: WorldTruth) -> None:
        judged, declined = compared_rows(verdict, scene, truth)
        for dim, checker, truth_passed, evidence in judged:
            self.per_dim.setdefault(dim, []).append((checker, truth_passed))
            self.rows.append({"file": name, "dim": dim, "checker": checker, "truth": truth_passed,
                              "evidence": evidence})
        for dim, truth_passed in declined:
            self.unjudged.setdefault(dim, []).append(truth_passed)

    def report(self, write: Path | None) -> None:
        for dim, pairs in sorted(self.per_dim.items()):
            left = self.unjudged.get(dim, [])
            print(f"  {dim:12s} {_rates(pairs)}  unjudged {len(left)} ({sum(left)} truth pass)")
        if write is not None:
            atomic_write_text(write, "".join(json.dumps(r) + "\n" for r in self.rows))


def recorded_rows(folder: Path, write: Path | None) -> int:
    """The rows `accuracy --write` writes, from the verdicts `record` saved (no picture is judged again): the
    baseline of an A/B, taken with the code that recorded the folder. Rates per dimension as `accuracy` prints."""
    lines = [json.loads(line) for line in (folder / VERDICTS).read_text().splitlines() if line.strip()]
    if not lines:
        raise SystemExit(f"{folder / VERDICTS} holds no verdicts; run `record` first")
    tally = _Tally()
    for line in lines:
        name = line["file"]
        scene = Scene.model_validate_json((folder / f"{name}.json").read_text())
        truth = WorldTruth.model_validate_json((folder / f"{name}.truth.json").read_text())
        tally.add(name, Verdict.model_validate(line["verdict"]), scene, truth)
    print(f"{len(lines)} recorded verdicts in {folder}")
    tally.report(write)
    return 0


def accuracy(folder: Path, only: set[str] | None, overrides: dict[str, str], write: Path | None,
             against: Path | None) -> int:
    """Judge every recorded picture (with its truth) by the checker *and* the world's truth, per dimension.

    Where `compare` asks "did any verdict change", this asks "is the checker right": an A/B of a checker
    change on the very same pictures (run it with each code, or with `--set` detector overrides, and
    `--against` the other run's `--write` rows to count the checks that changed for the better or worse).
    `only` keeps the pictures whose scene asks for one of these relation kinds (`types.relation_kind`).
    """
    base = DetectorConfig()
    fields = {f.name: f.type for f in dataclasses.fields(base)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise SystemExit(f"unknown detector setting(s): {', '.join(unknown)}")
    detector = Detector(dataclasses.replace(base, **{k: type(getattr(base, k))(v) for k, v in overrides.items()}))
    tally = _Tally()
    n = 0
    for truth_file in sorted(folder.glob("*.truth.json")):
        name = truth_file.name.removesuffix(".truth.json")
        scene = Scene.model_validate_json((folder / f"{name}.json").read_text())
        if only is not None and not ({relation_kind(r.predicate) for r in scene.relations} & only):
            continue
        n += 1
        truth = WorldTruth.model_validate_json(truth_file.read_text())
        image = Image.open(folder / f"{name}.png").convert("RGB")
        tally.add(name, check_image(image, scene, ocr=True, detector=detector), scene, truth)
    print(f"{n} pictures judged in {folder}")
    tally.report(write)
    if against is not None:
        old: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for line in against.read_text().splitlines():
            r = json.loads(line)
            old.setdefault((r["file"], r["dim"]), []).append(r)
        new: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in tally.rows:
            new.setdefault((r["file"], r["dim"]), []).append(r)
        better = worse = 0
        for key, rs in new.items():
            for was, now in zip(old.get(key, []), rs):
                if was["checker"] != now["checker"]:
                    right = now["checker"] == now["truth"]
                    better, worse = better + right, worse + (not right)
                    if not right:
                        print(f"  worse: {key[0]} {key[1]}: {was['evidence'][:80]} -> {now['evidence'][:80]}")
        print(f"checks changed against {against}: {better} for the better, {worse} for the worse")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record", help="draw, save and judge the fixed pictures")
    rec.add_argument("--out", type=Path, required=True)
    rec.add_argument("--scenes", type=int, default=24, help="random scenes; each painter draws each, + repairs")
    rec.add_argument("--seed", type=int, default=5)
    rec.add_argument("--size", type=int, default=512)
    cmp_ = sub.add_parser("compare", help="re-check the saved pictures against their recorded verdicts")
    cmp_.add_argument("folder", type=Path)
    cmp_.add_argument("--limit", type=int, default=None, help="only the first N pictures")
    cmp_.add_argument("--write", type=Path, default=None, help="also write the fresh verdicts (JSON lines)")
    acc = sub.add_parser("accuracy", help="judge the saved pictures by the checker and the world's truth")
    acc.add_argument("folder", type=Path)
    acc.add_argument("--only", default=None, help="comma-separated relation kinds (e.g. wearing,support)")
    acc.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="a DetectorConfig override, e.g. --set neighbour_mask_max=-1 (repeatable)")
    acc.add_argument("--write", type=Path, default=None, help="write every judged check (JSON lines)")
    acc.add_argument("--against", type=Path, default=None, help="rows of another run: count changed checks")
    rows = sub.add_parser("rows", help="the recorded verdicts as `accuracy --write` rows, judging nothing again")
    rows.add_argument("folder", type=Path)
    rows.add_argument("--write", type=Path, default=None, help="write every recorded check (JSON lines)")
    a = ap.parse_args(argv)
    cv2.setNumThreads(1)  # as benchmarks/sandbox.py runs the checker
    ocr.configure(threads=1)
    if a.cmd == "record":
        record(a.out, a.scenes, a.seed, a.size)
        return 0
    if a.cmd == "rows":
        return recorded_rows(a.folder, a.write)
    if a.cmd == "accuracy":
        bad = [kv for kv in a.set if "=" not in kv]
        if bad:
            raise SystemExit(f"--set takes KEY=VALUE, got {bad[0]!r}")
        only = set(a.only.split(",")) if a.only else None
        return accuracy(a.folder, only, dict(kv.split("=", 1) for kv in a.set), a.write, a.against)
    return compare(a.folder, a.limit, a.write)


if __name__ == "__main__":
    raise SystemExit(main())
