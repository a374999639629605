"""What the web UI shows, as plain functions of limner's typed records (no Gradio here).

The UI renders the same typed steps the CLI prints and the run directory stores; it never re-implements
the loop. Keeping the rendering here, free of the web framework, lets the default test suite check it
without a browser, and keeps the one rule that matters for a server — no path outside the configured
roots can be read — in one small, tested function (`resolve_run`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from PIL import Image, ImageDraw

from limner.data.orchestra import ClusterRecord
from limner.data.orchestra import load_records as load_clusters
from limner.perf.plots import matrix_figure
from limner.perf.store import UpdateRecord
from limner.runs import RunStore
from limner.types import (
    AnalysisStep,
    EvaluationStep,
    FinalStep,
    PlanStep,
    ReflectionStep,
    Scene,
    Step,
    ToolStep,
    Verdict,
    parse_step,
)

__all__ = [
    "RunView",
    "UIError",
    "checks_rows",
    "cluster_view",
    "draw_checks",
    "history_figure",
    "list_clusters",
    "list_runs",
    "matrix_figure",
    "plan_markdown",
    "ranking_rows",
    "read_run",
    "resolve_file",
    "resolve_folder",
    "resolve_run",
    "scene_markdown",
    "step_line",
]

PASS_COLOUR = (22, 163, 74)
FAIL_COLOUR = (220, 38, 38)


class UIError(ValueError):
    """A request the UI refuses, with a one-line message the user sees (never a traceback)."""


# ----------------------------------------------------------------------------------------------------
# Run directories, inside the configured roots only
# ----------------------------------------------------------------------------------------------------


def _inside(roots: Sequence[Path], text: str, what: str) -> list[Path]:
    """The real paths `text` may name (relative to each root, or absolute) that lie inside one of `roots`
    (symlinks resolved); `UIError` when it names nothing or only places outside them."""
    name = (text or "").strip()
    if not name or "\0" in name:
        raise UIError(f"give {what}")
    real_roots = [Path(r).resolve() for r in roots]
    candidates = [Path(name)] if os.path.isabs(name) else [r / name for r in real_roots]
    inside = [c.resolve() for c in candidates
              if any(c.resolve() == r or r in c.resolve().parents for r in real_roots)]
    if not inside:
        raise UIError(f"{name!r} is outside the folders this UI may read")
    return inside


def resolve_run(roots: Sequence[Path], text: str) -> Path:
    """The run directory that `text` names — a run id under a root, or a path — if it lies inside one of
    `roots` (symlinks resolved) and is a run; otherwise `UIError`. Path traversal (`../`, absolute paths
    elsewhere, a symlink leading out) is refused."""
    for real in _inside(roots, text, "a run id or a run directory"):
        if (real / RunStore.MANIFEST).is_file():
            return real
    raise UIError(f"no run {text.strip()!r} in {', '.join(str(Path(r).resolve()) for r in roots)}")


def resolve_file(roots: Sequence[Path], text: str) -> Path:
    """A file named by `text` (relative to a root, or absolute) if it lies inside one of `roots`."""
    for real in _inside(roots, text, "a file"):
        if real.is_file():
            return real
    raise UIError(f"no file {text.strip()!r}")


def list_runs(roots: Sequence[Path], limit: int = 200) -> list[tuple[str, str]]:
    """(label, run dir) of the runs under `roots`, newest first: "id — status — prompt"."""
    found: list[tuple[float, str, str]] = []
    for root in roots:
        root = Path(root).resolve()
        if not root.is_dir():
            continue
        for d in root.iterdir():
            mpath = d / RunStore.MANIFEST
            if not d.is_dir() or not mpath.is_file():
                continue
            try:
                m = json.loads(mpath.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            label = f"{d.name} — {m.get('status', '?')} — {str(m.get('prompt', ''))[:60]}"
            found.append((mpath.stat().st_mtime, label, str(d)))
    found.sort(reverse=True)
    return [(label, path) for _, label, path in found[:limit]]


@dataclass
class RunView:
    """A run read from disk without opening it for writing (no lock taken: it may still be running)."""

    root: Path
    manifest: dict[str, Any]
    steps: list[Step] = field(default_factory=list)

    def image(self, rel: str) -> Image.Image | None:
        """The run's image `rel`, or None when it is outside the run, missing or unreadable (a run killed
        mid-write, a damaged file): the browser shows the steps without it rather than failing the page."""
        path = (self.root / rel).resolve()
        if self.root not in path.parents or not path.is_file():
            return None
        try:
            with Image.open(path) as im:
                return im.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError):
            return None


def read_run(run_dir: Path) -> RunView:
    """Manifest and steps of a run directory; a torn last line (a run killed mid-write) is skipped."""
    try:
        manifest = json.loads((run_dir / RunStore.MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UIError(f"{run_dir.name}: unreadable manifest ({str(e).splitlines()[0]})") from None
    steps: list[Step] = []
    traj = run_dir / RunStore.TRAJECTORY
    if traj.is_file():
        for line in traj.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    steps.append(parse_step(line))
                except ValueError:
                    continue
    return RunView(run_dir, manifest, steps)


# ----------------------------------------------------------------------------------------------------
# Steps as text and tables
# ----------------------------------------------------------------------------------------------------


def scene_markdown(scene: Scene) -> str:
    """The scene as read: elements, relations, text, and — never hidden — what was not read and why."""
    lines = [f"**Prompt:** {scene.prompt}", ""]
    for e in scene.elements:
        attrs = [a for a in (f"×{e.count}" if e.count != 1 else "", e.color or "", e.texture or "", e.shape or "",
                             e.size or "", f'"{e.text}"' if e.text else "") if a]
        neg = "no " if e.negated else ""
        lines.append(f"- `{e.id}` {neg}{e.noun} {' '.join(attrs)}".rstrip())
    for r in scene.relations:
        lines.append(f"- `{r.subject}` **{r.predicate}** `{r.object}`")
    if scene.assumptions:
        lines += ["", "**Assumed:** " + "; ".join(scene.assumptions)]
    if scene.unjudged_readings:
        lines += ["", "**Read, not judged (never counted as checked):**", *[f"- {u}" for u in scene.unjudged_readings]]
    if scene.unsupported:
        lines += ["", "**Not read (never counted as checked):**", *[f"- {u}" for u in scene.unsupported]]
    return "\n".join(lines)


def plan_markdown(step: PlanStep) -> str:
    return "\n".join(f"{i + 1}. **{s.kind}** {s.instruction}"
                     + (f" — skills: {', '.join(f'{d} {w:.2f}' for d, w in s.weights.items())}" if s.weights else "")
                     for i, s in enumerate(step.subtasks)) or "(nothing to do)"


def ranking_rows(step: ToolStep) -> list[list[Any]]:
    """The routed ranking of a tool step: (rank, tool, PASM score, chosen?)."""
    return [[i + 1, name, round(score, 3), "✓" if name == step.call.tool else ""]
            for i, (name, score) in enumerate(step.ranking)]


def checks_rows(verdict: Verdict) -> list[list[Any]]:
    """One row per check (target, kind, pass, score, evidence), then one per part not checked."""
    rows: list[list[Any]] = [[c.target, c.kind, "pass" if c.passed else "FAIL", round(c.score, 3), c.evidence]
                             for c in verdict.checks]
    rows += [["—", "not checked", "—", None, u] for u in verdict.unsupported]
    return rows


def step_line(step: Step) -> str:
    """One line per step, as the CLI prints them."""
    if isinstance(step, AnalysisStep):
        s = step.scene
        extra = f"; not read: {len(s.unsupported)}" if s.unsupported else ""
        return f"analysis: {len(s.elements)} elements, {len(s.relations)} relations{extra}"
    if isinstance(step, PlanStep):
        return f"plan: {len(step.subtasks)} subtasks"
    if isinstance(step, ToolStep):
        status = "ok" if step.result.ok else f"failed: {step.result.error}"
        return f"round {step.round}: {step.call.tool} ({status}, {step.duration_s:.2f}s)"
    if isinstance(step, EvaluationStep):
        return f"round {step.round}: {step.verdict.summary()} {'✓' if step.verdict.passed else '✗'}"
    if isinstance(step, ReflectionStep):
        return f"round {step.round}: reflection → {step.next_action}: {step.reasoning}"
    if isinstance(step, FinalStep):
        return f"final: score {step.score:.2f} {'passed ✓' if step.passed else 'not passed ✗'} ({step.image_path})"
    return str(step.type)


# ----------------------------------------------------------------------------------------------------
# Images and figures
# ----------------------------------------------------------------------------------------------------


def draw_checks(image: Image.Image, verdict: Verdict) -> Image.Image:
    """The image with every located check drawn as a box: green passed, red failed, labelled."""
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    for c in verdict.checks:
        if c.box is None:
            continue
        colour = PASS_COLOUR if c.passed else FAIL_COLOUR
        b = c.box
        draw.rectangle([b.x0, b.y0, max(b.x0, b.x1 - 1), max(b.y0, b.y1 - 1)], outline=colour, width=3)
        label = f"{c.target} {c.kind}"
        tx, ty = b.x0 + 2, max(0, b.y0 - 12)
        draw.rectangle([tx - 2, ty, tx + 6 * len(label) + 2, ty + 11], fill=colour)
        draw.text((tx, ty), label, fill=(255, 255, 255))
    return out


def history_figure(records: Sequence[UpdateRecord], title: str = "") -> Figure:
    """Each tool's observed scores over the matrix's updates (x: update version), one curve per tool."""
    fig = Figure(figsize=(7, 3.2))
    ax = fig.subplots()
    series: dict[str, tuple[list[int], list[float]]] = {}
    for r in sorted(records, key=lambda r: r.version):
        for tool, score in r.scores.items():
            xs, ys = series.setdefault(tool, ([], []))
            xs.append(r.version)
            ys.append(score)
    for tool, (xs, ys) in sorted(series.items()):
        ax.plot(xs, ys, marker=".", label=tool)
    ax.set_xlabel("matrix version (one per update)")
    ax.set_ylabel("observed score")
    ax.set_ylim(0, 1.05)
    ax.set_title(title or "update history")
    if series:
        ax.legend(fontsize=7, ncol=2)
    else:
        ax.text(0.5, 0.5, "no updates yet", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------
# Contrastive clusters (limner data clusters)
# ----------------------------------------------------------------------------------------------------


def resolve_folder(roots: Sequence[Path], text: str) -> Path:
    """A folder named by `text` (relative to a root, or absolute) if it lies inside one of `roots`."""
    for real in _inside(roots, text, "a folder"):
        if real.is_dir():
            return real
    raise UIError(f"no folder {text.strip()!r}")


def list_clusters(dataset: Path) -> list[tuple[str, str]]:
    """(label, key) of the clusters of a `limner data clusters` folder: "prompt — positive? — n negatives"."""
    out = []
    for key, r in sorted(load_clusters(dataset).items()):
        negs = sum(m.id != "pos" for m in r.members)
        state = f"{negs} negatives" if r.status == "ok" else f"{r.status}: {r.reason or ''}"[:60]
        out.append((f"{r.prompt[:60]} — {state}", key))
    return out


def cluster_view(dataset: Path, key: str) -> tuple[str, list[tuple[Image.Image, str]]]:
    """A cluster: the positive, then its negatives by distance (each captioned with its perturbations), and
    a note of the discarded negatives with their reasons and of the pairs the filter kept."""
    record: ClusterRecord | None = load_clusters(dataset).get(key)
    if record is None:
        raise UIError(f"no cluster {key!r} in {dataset.name}")
    members = sorted(record.members, key=lambda m: (m.id != "pos", m.distance, m.id))
    gallery: list[tuple[Image.Image, str]] = []
    for m in members:
        path = (dataset / m.image).resolve()
        if dataset not in path.parents or not path.is_file():
            continue
        try:
            with Image.open(path) as im:
                image = im.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError):
            continue  # a damaged image: the caption list below still names the member
        what = "; ".join(str(p.get("instruction") or f"{p.get('kind')} {p.get('target')}") for p in m.perturbations)
        gallery.append((image, "positive" if m.id == "pos" else f"{m.id} · distance {m.distance} · {what}"))
    kept = sum(p.valid for p in record.pairs)
    base = sum(p.valid and p.base for p in record.pairs)
    lines = [f"**{record.prompt}** ({record.tag}, seed {record.seed}) — {record.status}"
             + (f": {record.reason}" if record.reason else ""),
             (f"{sum(m.id != 'pos' for m in members)} negatives kept of {record.attempted} tried; pairs kept "
              f"{kept} ({base} positive-vs-negative, {kept - base} added by the pair filter)")]
    if record.discarded:
        lines += ["", "**Discarded:**", *[f"- {d.kind}: {d.reason}" for d in record.discarded[:20]]]
    return "\n".join(lines), gallery
