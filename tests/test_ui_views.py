"""What the web UI shows, without a browser or Gradio: run resolution inside the roots, steps, checks, figures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from limner.agent import Agent
from limner.config import load_config
from limner.perf.matrix import PerformanceMatrix
from limner.runs import RunStore
from limner.types import Box, Check, Verdict
from limner.ui.views import (
    FAIL_COLOUR,
    PASS_COLOUR,
    UIError,
    checks_rows,
    draw_checks,
    history_figure,
    list_runs,
    matrix_figure,
    read_run,
    resolve_run,
    scene_markdown,
    step_line,
)


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    store = RunStore.create(root, run_id="r1", prompt="a red apple", kind="generate", seed=0, config={}, simulated=True)
    store.close()
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "manifest.json").write_text("{}")  # a run-looking folder outside the root
    return root


def test_a_run_is_found_by_id_or_path_inside_the_roots(runs: Path) -> None:
    assert resolve_run([runs], "r1") == (runs / "r1").resolve()
    assert resolve_run([runs], str(runs / "r1")) == (runs / "r1").resolve()


@pytest.mark.parametrize("name", ["../secret", "r1/../../secret", "/etc", "/", "..", "", "r1\0x"])
def test_path_traversal_is_refused(runs: Path, name: str) -> None:
    with pytest.raises(UIError):
        resolve_run([runs], name)


def test_a_run_folder_outside_the_roots_is_refused_by_path(runs: Path) -> None:
    with pytest.raises(UIError, match="outside"):
        resolve_run([runs], str(runs.parent / "secret"))


def test_a_symlink_leading_out_of_the_root_is_refused(runs: Path) -> None:
    os.symlink(runs.parent / "secret", runs / "link")
    with pytest.raises(UIError, match="outside"):
        resolve_run([runs], "link")


def test_listing_and_reading_a_run_skip_a_torn_last_line(runs: Path, tmp_path: Path) -> None:
    cfg = load_config("sandbox", perf={"learn": False})
    store = RunStore.create(runs, run_id="r2", prompt="a blue cup", kind="generate", seed=0, config={}, simulated=True)
    Agent(cfg).run("a blue cup", store=store, rounds=1)
    store.close()
    with open(runs / "r2" / "trajectory.jsonl", "a") as f:
        f.write('{"type": "evaluation", "index": 9')  # killed mid-write
    view = read_run(resolve_run([runs], "r2"))
    assert view.steps and view.steps[-1].type == "final"
    assert view.image("final.png") is not None and view.image("../../secret/manifest.json") is None
    labels = [label for label, _ in list_runs([runs])]
    assert any(label.startswith("r2 — done — a blue cup") for label in labels) and len(labels) == 2
    lines = [step_line(s) for s in view.steps]
    assert lines[0].startswith("analysis: 1 elements") and lines[-1].startswith("final: score")


def test_checks_are_drawn_green_and_red_and_unchecked_parts_listed() -> None:
    verdict = Verdict.combine(1.0, [
        Check(target="e0", kind="presence", passed=True, score=1.0, evidence="found", box=Box(x0=2, y0=20, x1=30, y1=40)),
        Check(target="e1", kind="color", passed=False, score=0.0, evidence="red", box=Box(x0=40, y0=20, x1=60, y1=60)),
    ], unsupported=["riding: not a relation the checker can judge"])
    img = draw_checks(Image.new("RGB", (64, 64), "white"), verdict)
    assert img.getpixel((2, 30)) == PASS_COLOUR and img.getpixel((40, 40)) == FAIL_COLOUR
    rows = checks_rows(verdict)
    assert [r[2] for r in rows] == ["pass", "FAIL", "—"] and rows[2][1] == "not checked"


def test_the_scene_shows_what_was_not_read() -> None:
    from limner.reading import parse_prompt  # noqa: PLC0415

    md = scene_markdown(parse_prompt("un chat rouge à gauche d'un chien bleu"))
    assert "Not read" in md and "chat" in md


def test_matrix_and_history_figures() -> None:
    m = PerformanceMatrix(["color", "numeracy"], ["a", "b"], [[0.2, 0.8], [0.5, 0.5]],
                          sources=[["published", "bayes"], ["prior", "profiled"]])
    fig = matrix_figure(m)
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"0.20 P", "0.80 B", "0.50 ·", "0.50 M"} <= texts
    assert history_figure([]).axes[0].texts[0].get_text() == "no updates yet"


def test_a_cluster_shows_the_positive_then_negatives_by_distance(tmp_path: Path) -> None:
    from limner.data.orchestra import RECORDS, ClusterRecord, Member, PairJudgement  # noqa: PLC0415
    from limner.ui.views import cluster_view, list_clusters, resolve_folder  # noqa: PLC0415

    ds = tmp_path / "pairs"
    (ds / "images" / "c1").mkdir(parents=True)
    (ds / RECORDS).mkdir()
    members = []
    for mid, dist, colour in (("pos", 0, "red"), ("neg-01", 2, "green"), ("neg-00", 1, "blue")):
        Image.new("RGB", (16, 16), colour).save(ds / "images" / "c1" / f"{mid}.png")
        members.append(Member(id=mid, prompt="a red apple", scene={}, image=f"images/c1/{mid}.png", seed=0,
                              distance=dist, kind="positive" if mid == "pos" else "negative",
                              perturbations=[] if mid == "pos" else [{"instruction": f"make the apple {colour}"}]))
    record = ClusterRecord(key="c1", cluster_id="c1", index=0, prompt="a red apple", tag="color", seed=0, status="ok",
                           members=members, attempted=3,
                           pairs=[PairJudgement(winner="pos", loser="neg-00", base=True, valid=True, distance=1),
                                  PairJudgement(winner="neg-00", loser="neg-01", base=False, valid=True, distance=1)])
    (ds / RECORDS / "c1.json").write_text(record.model_dump_json())
    folder = resolve_folder([tmp_path], "pairs")
    assert list_clusters(folder) == [("a red apple — 2 negatives", "c1")]
    note, gallery = cluster_view(folder, "c1")
    assert [caption.split(" ·")[0] for _, caption in gallery] == ["positive", "neg-00", "neg-01"]
    assert gallery[1][0].getpixel((0, 0)) == (0, 0, 255) and "make the apple blue" in gallery[1][1]
    assert "pairs kept 2 (1 positive-vs-negative, 1 added by the pair filter)" in note
    with pytest.raises(UIError, match="outside"):
        resolve_folder([tmp_path / "pairs"], "../")


def test_a_file_is_read_only_inside_the_roots(runs: Path) -> None:
    from limner.ui.views import resolve_file  # noqa: PLC0415

    assert resolve_file([runs], "r1/manifest.json") == (runs / "r1" / "manifest.json").resolve()
    with pytest.raises(UIError, match="outside"):
        resolve_file([runs], "../secret/manifest.json")
    with pytest.raises(UIError, match="no file"):
        resolve_file([runs], "r1")
