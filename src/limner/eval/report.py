"""Scores of an evaluation run, computed from its records alone; JSON, Markdown and PNG reports; comparison.

GenEval's own summary (`evaluation/summary_scores.py`): per tag, the share of correct images; overall, the
mean of the tag accuracies; "% correct images" (image level) and "% correct prompts" (a prompt counts when
any of its images is correct). limner reports the same figures, each with its standard error (binomial for
a share, √Σse²/T for the mean of T tag accuracies), so two runs' differences can be read against noise.

T2I-CompBench's official metrics (BLIP-VQA, UniDet, CLIPScore, 3-in-1) need their models; limner reports its
own per category: the mean verdict score (λ·global + (1−λ)·mean local), the pass rate, and the share of
prompts its judge could read completely. They are **not** the official metric: a published row beside them
is marked so.

The scores depend on the records only (sorted by key): a resumed, sharded or parallel run scores exactly
like a plain one. Times are reported apart.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from limner.eval.protocol import EvalProtocol, protocol_differences
from limner.eval.runner import LIMNER_DIR, EvalError, ItemRecord, load_records, protocol_files
from limner.eval.suites import GENEVAL_TAGS
from limner.files import atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = ["EvalRun", "compare_runs", "load_run", "published_rows", "report_markdown", "score_records",
           "write_report"]

#: T2I-CompBench category -> the column of the published-scores CSV
_COMPBENCH_COLUMN = {"3d_spatial": "spatial_3d"}


class EvalRun:
    """One evaluation, possibly spread over several folders (shards): its protocol and its records."""

    def __init__(self, dirs: Sequence[Path], protocol: EvalProtocol, records: dict[str, ItemRecord],
                 shards: list[str]) -> None:
        self.dirs = list(dirs)
        self.protocol = protocol
        self.records = records
        self.shards = shards

    @property
    def label(self) -> str:
        g = self.protocol.generator
        who = f"agent ({self.protocol.rounds} rounds)" if self.protocol.mode == "agent" else g["tool"]["name"]
        return f"{who} · {self.dirs[0].name}"


def load_run(dirs: Sequence[Path], ignore: frozenset[str] = frozenset()) -> EvalRun:
    """The run held by `dirs` (one folder, or the folders of its shards). Every protocol file found must agree
    (but the shard); records of the same item must agree too."""
    protocols: list[tuple[Path, EvalProtocol]] = []
    for d in dirs:
        files = protocol_files(Path(d))
        if not files:
            raise EvalError(f"{d}: not a limner evaluation folder (no {LIMNER_DIR}/protocol*.json)")
        for f in files:
            try:
                protocols.append((f, EvalProtocol.model_validate_json(f.read_text(encoding="utf-8"))))
            except (OSError, ValueError) as e:
                raise EvalError(f"{f}: not a limner protocol ({str(e).splitlines()[0]})") from None
    first = protocols[0][1]
    for f, p in protocols[1:]:
        diffs = protocol_differences(first, p, ignore)
        if diffs:
            raise EvalError(f"{f} has another protocol than {protocols[0][0]}: {'; '.join(diffs[:3])}")
    records: dict[str, ItemRecord] = {}
    for d in dirs:
        for key, r in load_records(Path(d)).items():
            if key in records and _scored(records[key]) != _scored(r):
                raise EvalError(f"item {key} was judged differently in two folders; not one run")
            records.setdefault(key, r)
    shards = sorted({str(p.shard) for _, p in protocols if p.shard is not None})
    return EvalRun([Path(d) for d in dirs], first, dict(sorted(records.items())), shards)


def _scored(r: ItemRecord) -> tuple[Any, ...]:
    return (r.status, r.passed, r.score, r.coverage, r.truth_passed)


def _share(values: Sequence[bool]) -> dict[str, Any]:
    n = len(values)
    p = sum(values) / n if n else 0.0
    return {"accuracy": p, "se": math.sqrt(p * (1 - p) / n) if n else 0.0, "correct": sum(values), "n": n}


def _rate(values: Sequence[bool]) -> dict[str, Any]:
    """The share of True among `values` (a rate of events, e.g. disagreements), with its standard error."""
    s = _share(values)
    return {"rate": s["accuracy"], "se": s["se"], "count": s["correct"], "n": s["n"]}


def _mean(values: Sequence[float]) -> dict[str, Any]:
    n = len(values)
    m = sum(values) / n if n else 0.0
    var = sum((v - m) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return {"mean": m, "se": math.sqrt(var / n) if n else 0.0, "n": n}


def _geneval_scores(records: list[ItemRecord], passed: Any) -> dict[str, Any]:
    by_tag: dict[str, list[bool]] = defaultdict(list)
    by_prompt: dict[int, list[bool]] = defaultdict(list)
    for r in records:
        by_tag[r.tag].append(passed(r))
        by_prompt[r.prompt_index].append(passed(r))
    order = [t for t in GENEVAL_TAGS if t in by_tag] + sorted(set(by_tag) - set(GENEVAL_TAGS))
    tags = {t: _share(by_tag[t]) for t in order}
    overall = sum(v["accuracy"] for v in tags.values()) / len(tags) if tags else 0.0
    overall_se = math.sqrt(sum(v["se"] ** 2 for v in tags.values())) / len(tags) if tags else 0.0
    return {"overall": overall, "overall_se": overall_se, "tags": tags,
            "image_level": _share([passed(r) for r in records]),
            "prompt_level": _share([any(v) for v in by_prompt.values()])}


def _compbench_scores(records: list[ItemRecord], category: str | None) -> dict[str, Any]:
    by_prompt: dict[int, list[ItemRecord]] = defaultdict(list)
    for r in records:
        by_prompt[r.prompt_index].append(r)
    return {"category": category, "score": _mean([r.score for r in records]),
            "pass_rate": _share([r.passed for r in records]),
            "fully_read": _share([not rs[0].unsupported for rs in by_prompt.values()]),
            "note": "limner's judge, not T2I-CompBench's official metric"}


def score_records(protocol: EvalProtocol, records: Iterable[ItemRecord]) -> dict[str, Any]:
    """Every figure of the report that depends on what was judged (no times): a pure function of the records."""
    rs = sorted(records, key=lambda r: r.key)
    judged = [r for r in rs if r.status != "skipped"]
    out: dict[str, Any] = {
        "images": len(rs), "judged": len(judged), "errors": sum(r.status == "error" for r in rs),
        "skipped": [{"prompt": r.prompt, "reason": r.reason} for r in rs if r.status == "skipped" and r.sample == 0],
        "coverage_mean": sum(r.coverage for r in judged) / len(judged) if judged else 0.0,
        "images_with_unchecked_parts": sum(bool(r.unsupported) for r in judged if r.status == "ok"),
    }
    if protocol.benchmark == "geneval":
        out["geneval"] = _geneval_scores(judged, lambda r: r.passed)
    else:
        out["t2i_compbench"] = _compbench_scores(judged, protocol.category)
    with_truth = [r for r in judged if r.status == "ok"]
    if with_truth and all(r.truth_passed is not None for r in with_truth):
        # Errors count as failures for the truth too: the image was not drawn.
        truth = _geneval_scores(judged, lambda r: bool(r.truth_passed)) if protocol.benchmark == "geneval" \
            else {"pass_rate": _share([bool(r.truth_passed) for r in judged])}
        out["truth"] = {**truth, "simulated": True,
                        "judge_truth_disagreement": _rate([r.passed != bool(r.truth_passed) for r in judged]),
                        "note": "the sandbox world's ground truth (what the painter really drew): SIMULATED"}
    tifa = [r for r in judged if r.status == "ok" and r.verdict is not None
            and str(r.verdict.get("evaluator", "")).startswith("soft_tifa")]
    if tifa and len(tifa) == sum(r.status == "ok" for r in judged):
        out["soft_tifa"] = {
            "atom_score": _mean([sum(c["score"] for c in r.verdict["checks"]) / len(r.verdict["checks"])
                                 for r in tifa if r.verdict and r.verdict["checks"]]),
            "prompt_score": _mean([r.verdict["global_score"] for r in tifa if r.verdict]),
            "note": "GenEval 2's Soft-TIFA: atom level (AM) and prompt level (GM), each averaged over images",
        }
    rounds = [r.passed_at_round for r in judged if r.passed_at_round is not None]
    if rounds and len(rounds) == len(judged):
        budget = sorted({int(k) for pr in rounds for k in pr})
        out["rounds"] = {str(k): _share([pr.get(str(k), False) for pr in rounds])["accuracy"] for k in budget}
    return out


def build_report(run: EvalRun) -> dict[str, Any]:
    records = list(run.records.values())
    expected = run.protocol.prompt_list["prompts"] * run.protocol.images_per_prompt
    return {
        "protocol": run.protocol.model_dump(mode="json", exclude={"shard", "created"}),
        "protocol_sha256": run.protocol.digest(),
        "folders": [str(d) for d in run.dirs], "shards": run.shards,
        "complete": len(records) == expected, "expected_images": expected,
        "scores": score_records(run.protocol, records),
        "time": {"image_s_mean": sum(r.time_s for r in records) / len(records) if records else 0.0},
        "simulated": run.protocol.simulated,
    }


# ----------------------------------------------------------------------------------------------------
# Published scores
# ----------------------------------------------------------------------------------------------------


def published_rows(benchmark: str, models: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Scores other people published (shipped CSVs, `resources/published/README.md`), for the table beside a
    run: never measured by limner, and their protocol may differ. `models` filters by name (case-insensitive
    substring); None gives every row."""
    name = "geneval.csv" if benchmark == "geneval" else "t2i_compbench.csv"
    text = resources.files("limner.resources").joinpath("published", name).read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    if models:
        wanted = [m.lower() for m in models]
        rows = [r for r in rows if any(w in r["model"].lower() for w in wanted)]
    return rows


def _cell(row: dict[str, Any], column: str) -> str:
    v = row.get(_COMPBENCH_COLUMN.get(column, column), "")
    return f"{float(v):.3f}" if v not in ("", None) else "—"


# ----------------------------------------------------------------------------------------------------
# Markdown, plots, comparison
# ----------------------------------------------------------------------------------------------------


def _pm(v: dict[str, Any], key: str = "accuracy") -> str:
    return f"{v[key]:.3f} ± {v['se']:.3f}"


def report_markdown(reports: Sequence[dict[str, Any]], labels: Sequence[str],
                    published: Sequence[dict[str, Any]] = ()) -> str:
    """One table: a row per run (and per published model), a column per tag / figure."""
    p = reports[0]["protocol"]
    sim = " — SIMULATED (sandbox world, not real models)" if any(r["simulated"] for r in reports) else ""
    lines = [f"# {p['benchmark_version']}{sim}", ""]
    if p["benchmark"] == "geneval":
        cols = [t for t in GENEVAL_TAGS if any(t in r["scores"]["geneval"]["tags"] for r in reports)]
        lines += ["| run | overall | " + " | ".join(cols) + " | images | prompts (any correct) |",
                  "|---" * (len(cols) + 4) + "|"]
        for r, label in zip(reports, labels, strict=True):
            g = r["scores"]["geneval"]
            cells = [_pm(g["tags"][t]) if t in g["tags"] else "—" for t in cols]
            lines.append(f"| {label} | {g['overall']:.3f} ± {g['overall_se']:.3f} | " + " | ".join(cells)
                         + f" | {_pm(g['image_level'])} | {_pm(g['prompt_level'])} |")
            if "truth" in r["scores"]:
                t = r["scores"]["truth"]
                lines.append(f"| ↳ ground truth (simulated) | {t['overall']:.3f} | "
                             + " | ".join(f"{t['tags'][c]['accuracy']:.3f}" if c in t["tags"] else "—" for c in cols)
                             + f" | {t['image_level']['accuracy']:.3f} | {t['prompt_level']['accuracy']:.3f} |")
        for row in published:
            lines.append(f"| {_published_label(row)} | {_cell(row, 'overall')} | "
                         + " | ".join(_cell(row, c) for c in cols) + " | — | — |")
    else:
        lines += [("| run | category | score (checked parts) | pass rate (all parts checked and passed) "
                   "| prompts fully read | images |"), "|---|---|---|---|---|---|"]
        for r, label in zip(reports, labels, strict=True):
            c = r["scores"]["t2i_compbench"]
            lines.append(f"| {label} | {c['category']} | {_pm(c['score'], 'mean')} | {_pm(c['pass_rate'])} | "
                         f"{c['fully_read']['accuracy']:.3f} | {c['score']['n']} |")
        cat = p.get("category") or ""
        for row in published:
            lines.append(f"| {_published_label(row, 'official metric, not comparable')} | {cat} | "
                         f"{_cell(row, cat)} | — | — | — |")
    lines += ["", "Protocol: " + ", ".join(f"{k}={_brief(p[k])}" for k in (
        "images_per_prompt", "seed", "mode", "rounds", "rewriting", "learning", "width", "height"))
        + f"; judge {p['judge']['tool']} (λ={p['judge']['lam']}, against {p['judge']['against']}); limner "
        f"{p['limner_version']}; prompt list {p['prompt_list']['name']} sha256 {p['prompt_list']['sha256'][:12]}…"]
    for r, label in zip(reports, labels, strict=True):
        s = r["scores"]
        extra = f"; {s['errors']} images not drawn (tool errors)" if s["errors"] else ""
        extra += f"; {len(s['skipped'])} prompts skipped (layout)" if s["skipped"] else ""
        if "truth" in s:
            extra += f"; judge vs truth disagreement {s['truth']['judge_truth_disagreement']['rate']:.3f}"
        lines.append(f"- {label}: {s['judged']} images judged, coverage {s['coverage_mean']:.3f}{extra}"
                     + ("" if r["complete"] else f" — INCOMPLETE ({s['images']} of {r['expected_images']})"))
    return "\n".join(lines) + "\n"


def _published_label(row: dict[str, Any], caveat: str = "protocol may differ") -> str:
    source = row.get("source", "").split(",")[0].strip()
    if source.count("(") > source.count(")"):
        source = source[: source.rindex("(")].strip()
    rewriter = ", rewritten prompts" if row.get("rewriter") == "yes" else ""
    return f"{row['model']} (published{rewriter}: {source}; {caveat})"


def _brief(v: Any) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def plot_report(reports: Sequence[dict[str, Any]], labels: Sequence[str]) -> bytes:
    """PNG: per-tag (or per-category) bars for each run; and accuracy vs rounds for agent runs."""
    import io  # noqa: PLC0415

    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    with_rounds = [(r, lab) for r, lab in zip(reports, labels, strict=True) if "rounds" in r["scores"]]
    fig, axes = plt.subplots(1, 2 if with_rounds else 1, figsize=(11 if with_rounds else 7, 4), squeeze=False)
    ax = axes[0][0]
    p = reports[0]["protocol"]
    if p["benchmark"] == "geneval":
        cols = [t for t in GENEVAL_TAGS if any(t in r["scores"]["geneval"]["tags"] for r in reports)] + ["overall"]
        width = 0.8 / len(reports)
        for i, (r, label) in enumerate(zip(reports, labels, strict=True)):
            g = r["scores"]["geneval"]
            vals = [g["tags"][c]["accuracy"] if c in g["tags"] else 0.0 for c in cols[:-1]] + [g["overall"]]
            errs = [g["tags"][c]["se"] if c in g["tags"] else 0.0 for c in cols[:-1]] + [g["overall_se"]]
            ax.bar([x + i * width for x in range(len(cols))], vals, width, yerr=errs, label=label, capsize=2)
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(cols))], cols, rotation=30, ha="right")
        ax.legend(fontsize=7)
    else:
        vals = [r["scores"]["t2i_compbench"]["score"]["mean"] for r in reports]
        ax.bar(range(len(reports)), vals, tick_label=[lab[:20] for lab in labels])
        ax.set_title(f"T2I-CompBench {p.get('category')} (limner's judge)")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy" + (" (SIMULATED)" if reports[0]["simulated"] else ""))
    if with_rounds:
        ax2 = axes[0][1]
        for r, label in with_rounds:
            ks = sorted(r["scores"]["rounds"], key=int)
            ax2.plot([int(k) for k in ks], [r["scores"]["rounds"][k] for k in ks], marker="o", label=label)
        ax2.set_xticks(sorted({int(k) for r, _ in with_rounds for k in r["scores"]["rounds"]}))
        ax2.set_xlabel("rounds")
        ax2.set_ylabel("image-level accuracy")
        ax2.set_ylim(0, 1.05)
        ax2.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def write_report(run: EvalRun, out: Path | None = None, published: Sequence[str] | None = None) -> dict[str, Any]:
    """report.json, report.md and report.png into `out` (default: the run's first folder's limner/)."""
    report = build_report(run)
    target = out or run.dirs[0] / LIMNER_DIR
    target.mkdir(parents=True, exist_ok=True)
    rows = published_rows(run.protocol.benchmark, published) if published is not None else []
    atomic_write_json(target / "report.json", report)
    atomic_write_text(target / "report.md", report_markdown([report], [run.label], rows))
    atomic_write_bytes(target / "report.png", plot_report([report], [run.label]))
    return report


def compare_runs(runs: Sequence[EvalRun], ignore: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """The runs' reports, side by side — refused when their protocols differ on a field not in `ignore`.
    What is evaluated (the generator, the agent's config and rounds) may differ: that is the comparison.
    Different shards of one run are accepted (the shard is not a protocol field)."""
    for r in runs[1:]:
        diffs = protocol_differences(runs[0].protocol, r.protocol, ignore, same_run=False)
        if diffs:
            raise EvalError(f"not comparable: {runs[0].dirs[0]} and {r.dirs[0]} differ in {'; '.join(diffs)} "
                            "(name the fields to ignore with --ignore, e.g. --ignore images_per_prompt)")
    return [build_report(r) for r in runs]

