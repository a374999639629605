"""Figures of a performance matrix, drawn on bare matplotlib `Figure`s (no pyplot: no global backend to
select, no figure registry to close), for `limner perf show --heatmap` and the web UI."""

from __future__ import annotations

from matplotlib.figure import Figure

from limner.perf.matrix import PerformanceMatrix

__all__ = ["SOURCE_LEGEND", "SOURCE_LETTER", "matrix_figure"]

#: a cell's source as one letter in the heatmap (`PerformanceMatrix` CELL_SOURCES)
SOURCE_LETTER = {"published": "P", "profiled": "M", "apu": "A", "bayes": "B", "prior": "·"}
SOURCE_LEGEND = "P published · M measured (profiled) · A/B learned (APU/Bayes) · · prior"


def matrix_figure(m: PerformanceMatrix, title: str = "", sources: bool = True) -> Figure:
    """Normalize(M) as a heatmap (what PASM ranks on) with raw values, and each cell's source
    (published / profiled / learned / prior) as a letter, so a user sees what the routing rests on."""
    norm = m.normalized()
    fig = Figure(figsize=(1.2 + 0.9 * len(m.dims), 1.2 + 0.45 * max(len(m.tools), 1)))
    ax = fig.subplots()
    im = ax.imshow(norm.T, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(m.dims)), m.dims, rotation=40, ha="right")
    ax.set_yticks(range(len(m.tools)), m.tools)
    if len(m.tools) * len(m.dims) <= 400:
        for j in range(len(m.tools)):
            for i in range(len(m.dims)):
                tag = f" {SOURCE_LETTER.get(str(m.sources[i, j]), '?')}" if sources else ""
                ax.text(i, j, f"{m.values[i, j]:.2f}{tag}", ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] < 0.5 else "black")
    fig.colorbar(im, ax=ax, label="Normalize(M) (min-max per dimension)")
    ax.set_title((title or "performance matrix") + (f"\n{SOURCE_LEGEND}" if sources else ""), fontsize=9)
    fig.tight_layout()
    return fig
