"""The dataset: `pairs.parquet` (one row per preference pair) and a data card, written from the cluster records.

Written at the end of a build and rewritten on every resume, from the records alone, in a deterministic
order (clusters by key, pairs base first, then by winner and loser), so a resumed or parallel build writes
the same bytes as a plain one. `datasets.load_dataset("parquet", data_files=DIR + "/pairs.parquet")` loads
it, and `limner train apo --data DIR` trains on it directly (paths are relative to DIR).

Columns (docs/data.md has the full table): prompt, winner, loser, distance (APO's); then cluster_id, tag,
source_prompt, seed, pair ("base": positive vs one of its negatives; "filter": found by the pair filter),
winner_id, loser_id, winner_prompt, loser_prompt, perturbations (JSON), distance_estimated, verdicts (JSON),
winner_tools, loser_tools, winner_seed, loser_seed, mask.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from limner.data.orchestra import ClusterRecord, Member, load_records
from limner.files import atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = ["MANIFEST", "dataset_rows", "difference_mask", "write_dataset"]

MANIFEST = "pairs.parquet"
MASKS = "masks"
#: A pixel differs when any channel moves by more than this (0-255); editors' blemishes stay under it.
MASK_THRESHOLD = 24


def difference_mask(winner: Image.Image, loser: Image.Image, *, threshold: int = MASK_THRESHOLD,
                    grow: int = 9) -> Image.Image:
    """Where winner and loser differ (L image, 255 = differs), grown by a max filter of `grow` px."""
    a = np.asarray(winner.convert("RGB"), np.int16)
    b = np.asarray(loser.convert("RGB"), np.int16)
    mask = (np.abs(a - b).max(axis=2) > threshold).astype(np.uint8) * 255
    out = Image.fromarray(mask, mode="L")
    return out.filter(ImageFilter.MaxFilter(grow)) if grow > 1 else out


def _verdicts(w: Member, loser: Member, failed: list[str], pair: str) -> str:
    return json.dumps({"winner_own": w.verdict, "loser_own": loser.verdict,
                       "loser_vs_winner": {"failed": failed}, "pair": pair}, sort_keys=True)


def dataset_rows(records: list[ClusterRecord]) -> list[dict[str, Any]]:
    """One row per valid pair of every cluster (deterministic order), without masks."""
    rows: list[dict[str, Any]] = []
    for rec in sorted(records, key=lambda r: r.key):
        if rec.status != "ok":
            continue
        members = {m.id: m for m in rec.members}
        judged = sorted(rec.pairs, key=lambda p: (not p.base, p.winner, p.loser))
        for p in judged:
            if not p.valid or p.winner not in members or p.loser not in members:
                continue
            w, lo = members[p.winner], members[p.loser]
            rows.append({
                "prompt": w.prompt, "winner": w.image, "loser": lo.image, "distance": float(p.distance),
                "cluster_id": rec.cluster_id, "tag": rec.tag, "source_prompt": rec.prompt, "seed": rec.seed,
                "pair": "base" if p.base else "filter", "winner_id": w.id, "loser_id": lo.id,
                "winner_prompt": w.prompt, "loser_prompt": lo.prompt,
                "perturbations": json.dumps({"winner": w.perturbations, "loser": lo.perturbations}, sort_keys=True),
                "distance_estimated": False,
                "verdicts": _verdicts(w, lo, p.failed, p.reason),
                "winner_tools": list(w.tools), "loser_tools": list(lo.tools),
                "winner_seed": w.seed, "loser_seed": lo.seed, "mask": None,
            })
    return rows


def _schema() -> Any:
    import pyarrow as pa  # noqa: PLC0415 - optional (the data/train extra): only writing Parquet needs it

    s, i, f, b = pa.string(), pa.int64(), pa.float64(), pa.bool_()
    return pa.schema([
        ("prompt", s), ("winner", s), ("loser", s), ("distance", f), ("cluster_id", s), ("tag", s),
        ("source_prompt", s), ("seed", i), ("pair", s), ("winner_id", s), ("loser_id", s), ("winner_prompt", s),
        ("loser_prompt", s), ("perturbations", s), ("distance_estimated", b), ("verdicts", s),
        ("winner_tools", pa.list_(s)), ("loser_tools", pa.list_(s)), ("winner_seed", i), ("loser_seed", i),
        ("mask", s),
    ])


def _parquet_bytes(rows: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa  # noqa: PLC0415 - optional, see _schema
    import pyarrow.parquet as pq  # noqa: PLC0415

    table = pa.Table.from_pylist(rows, schema=_schema())
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def card(records: list[ClusterRecord], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The data card: counts, yields (overall, per tag, per perturbation kind), distances, reasons."""
    by_status = Counter(r.status for r in records)
    tags: dict[str, Counter[str]] = {}
    reasons: Counter[str] = Counter()
    per_kind: dict[str, Counter[str]] = {}
    discard_reasons: Counter[str] = Counter()
    negatives = []
    truth_exact = truth_n = 0
    for r in records:
        tags.setdefault(r.tag, Counter())[r.status] += 1
        if r.status != "ok":
            reasons[_reason_class(r.reason or "")] += 1
            continue
        negs = [m for m in r.members if m.id != "pos"]
        negatives.append(len(negs))
        for m in negs:
            per_kind.setdefault(m.kind, Counter())["kept"] += 1
            if m.truth is not None:
                truth_n += 1
                truth_exact += bool(m.truth.get("fails_exactly") and m.truth.get("passes_own"))
        for d in r.discarded:
            per_kind.setdefault(d.kind, Counter())["discarded"] += 1
            discard_reasons[_discard_class(d.reason)] += 1
    base = sum(row["pair"] == "base" for row in rows)
    extra = len(rows) - base
    hist = Counter(int(row["distance"]) for row in rows)
    ok = by_status.get("ok", 0)
    return {
        "clusters": len(records), "verified_positives": ok, "no_positive": by_status.get("no_positive", 0),
        "errors": by_status.get("error", 0), "positive_yield": ok / len(records) if records else 0.0,
        "negatives": sum(negatives), "negatives_per_cluster": sum(negatives) / ok if ok else 0.0,
        "pairs": len(rows), "base_pairs": base, "filter_pairs": extra,
        "pair_filter_gain": (len(rows) / base) if base else 0.0,
        "distance_histogram": {str(k): hist[k] for k in sorted(hist)},
        "per_perturbation": {k: {"kept": c["kept"], "discarded": c["discarded"],
                                 "yield": c["kept"] / max(1, c["kept"] + c["discarded"])}
                             for k, c in sorted(per_kind.items())},
        "per_tag": {t: {"clusters": sum(c.values()), "verified": c["ok"],
                        "yield": c["ok"] / max(1, sum(c.values()))} for t, c in sorted(tags.items())},
        "no_positive_reasons": dict(reasons.most_common()),
        "discard_reasons": dict(discard_reasons.most_common()),
        "truth_exact_negatives": (truth_exact / truth_n) if truth_n else None,
        "simulated": truth_n > 0,
    }


def _discard_class(reason: str) -> str:
    if reason.startswith("edit "):
        return "an edit was not carried out (no editor passed the instruction and preservation)"
    if reason.startswith("against the positive's scene: "):
        return "against the positive's scene: " + reason.split(": ", 2)[1].split(":")[0]
    return reason.split(":")[0]


def _reason_class(reason: str) -> str:
    if reason.startswith("coverage incomplete"):
        return "coverage incomplete (the reader cannot check part of the prompt)"
    if reason.startswith("no verified positive"):
        return "checks still failing after the agent's rounds"
    if reason.startswith("the prompt names nothing"):
        return "empty scene"
    return reason.split(":")[0]


def _card_md(c: dict[str, Any]) -> str:
    lines = ["# Data card", "", (f"- clusters: {c['clusters']}; verified positives: {c['verified_positives']} "
             f"({c['positive_yield']:.1%}); no positive: {c['no_positive']}; errors: {c['errors']}"),
             f"- kept negatives: {c['negatives']} ({c['negatives_per_cluster']:.2f} per cluster)",
             (f"- pairs: {c['pairs']} (base {c['base_pairs']}, pair filter +{c['filter_pairs']}; "
             f"{c['pair_filter_gain']:.2f}× the base pairs)")]
    if c["truth_exact_negatives"] is not None:
        lines.append(f"- kept negatives failing exactly the intended checks by the world's truth (SIMULATED): "
                     f"{c['truth_exact_negatives']:.1%}")
    lines += ["", "## Distance histogram", "", "| distance | pairs |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in c["distance_histogram"].items()]
    lines += ["", "## Per perturbation", "", "| kind | kept | discarded | yield |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['kept']} | {v['discarded']} | {v['yield']:.2f} |" for k, v in c["per_perturbation"].items()]
    lines += ["", "## Per tag", "", "| tag | clusters | verified | yield |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['clusters']} | {v['verified']} | {v['yield']:.2f} |" for k, v in c["per_tag"].items()]
    lines += ["", "## Why no positive", ""] + [f"- {k}: {v}" for k, v in c["no_positive_reasons"].items()]
    lines += ["", "## Why negatives were discarded", ""] + [f"- {k}: {v}" for k, v in c["discard_reasons"].items()]
    return "\n".join(lines) + "\n"


def write_dataset(out: Path, *, masks: bool = False) -> dict[str, Any]:
    """Write `pairs.parquet`, `card.json` and `card.md` into `out` from its records (and, with `masks`, one
    difference mask per pair under `masks/`). Returns the card."""
    out = Path(out)
    records = list(load_records(out).values())
    rows = dataset_rows(records)
    if masks:
        for row in rows:
            rel = f"{MASKS}/{Path(row['winner']).parent.name}/{row['winner_id']}-{row['loser_id']}.png"
            if not (out / rel).is_file():
                with Image.open(out / row["winner"]) as w, Image.open(out / row["loser"]) as lo:
                    m = difference_mask(w, lo)
                buf = io.BytesIO()
                m.save(buf, format="PNG")
                atomic_write_bytes(out / rel, buf.getvalue())
            row["mask"] = rel
    atomic_write_bytes(out / MANIFEST, _parquet_bytes(rows))
    c = card(sorted(records, key=lambda r: r.key), rows)
    atomic_write_json(out / "card.json", c)
    atomic_write_text(out / "card.md", _card_md(c))
    return c
