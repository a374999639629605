"""The evaluation harness: the benchmarks' layouts, resume, shards, protocol checks, reports (sandbox, SIMULATED)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from limner.cli.main import app
from limner.config import load_config
from limner.eval import (
    CompBenchSuite,
    EvalError,
    EvalJob,
    GenEvalSuite,
    LocalExecutor,
    RayExecutor,
    Shard,
    compare_runs,
    load_records,
    load_run,
    published_rows,
    run_eval,
    write_report,
)
from limner.eval.report import score_records

PLUGINS = str(Path(__file__).parent / "plugins")
runner = CliRunner()


@pytest.fixture(scope="module")
def metadata(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two prompts of each GenEval tag from the shipped dev metadata (12 lines)."""
    src = resources.files("limner.resources").joinpath("geneval_metadata_dev.jsonl").read_text(encoding="utf-8")
    rows, seen = [], {}
    for line in src.splitlines():
        tag = json.loads(line)["tag"]
        if seen.get(tag, 0) < 2:
            seen[tag] = seen.get(tag, 0) + 1
            rows.append(line)
    path = tmp_path_factory.mktemp("meta") / "metadata.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _run(metadata: Path, out: Path, n: int = 1, shard: Shard | None = None, **kw) -> object:
    suite = GenEvalSuite(metadata)
    job = EvalJob.build(suite, load_config("sandbox"), images_per_prompt=n, shard=shard, **(kw or {"generator": "alder"}))
    return run_eval(job, suite, out)


def test_geneval_layout_is_read_as_genevals_evaluator_reads_it(metadata: Path, tmp_path: Path) -> None:
    out = tmp_path / "alder"
    summary = _run(metadata, out, n=2)
    assert summary.ran == 24 and summary.done_before == 0 and summary.errors == 0
    suite = GenEvalSuite(metadata)
    assert suite.check_layout(out, suite.prompts, 2) == []
    # GenEval's evaluate_images.py: digit folders, json.load(metadata.jsonl), samples/<digits>.png
    folders = sorted(p.name for p in out.iterdir() if p.is_dir() and p.name.isdigit())
    assert folders == [f"{i:05d}" for i in range(12)]
    lines = metadata.read_text().splitlines()
    for i, folder in enumerate(folders):
        assert json.loads((out / folder / "metadata.jsonl").read_text()) == json.loads(lines[i])
        names = sorted(os.listdir(out / folder / "samples"))
        assert names == ["00000.png", "00001.png"] and all(re.match(r"\d+\.png", n) for n in names)
    # a missing image is what the format check reports
    (out / "00003" / "samples" / "00001.png").unlink()
    assert suite.check_layout(out, suite.prompts, 2) == ["00003/samples: 1 images, expected 2"]


def test_scores_follow_genevals_summary_definitions(metadata: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    _run(metadata, out, n=2, generator="birch")
    run = load_run([out])
    report = write_report(run, published=["SD 1.5"])
    g = report["scores"]["geneval"]
    records = list(run.records.values())
    by_tag: dict[str, list[bool]] = {}
    for r in records:
        by_tag.setdefault(r.tag, []).append(r.passed)
    assert set(g["tags"]) == set(by_tag)
    for tag, values in by_tag.items():
        assert g["tags"][tag]["accuracy"] == pytest.approx(sum(values) / len(values))
    assert g["overall"] == pytest.approx(sum(sum(v) / len(v) for v in by_tag.values()) / len(by_tag))
    assert g["image_level"]["accuracy"] == pytest.approx(sum(r.passed for r in records) / len(records))
    any_correct = {}
    for r in records:
        any_correct[r.prompt_index] = any_correct.get(r.prompt_index, False) or r.passed
    assert g["prompt_level"]["accuracy"] == pytest.approx(sum(any_correct.values()) / len(any_correct))
    assert 0 < g["overall"] < 1  # birch is the weakest painter: a test on all-pass data would prove nothing
    assert "truth" in report["scores"] and report["scores"]["truth"]["simulated"] is True
    md = (out / "limner" / "report.md").read_text()
    assert "SIMULATED" in md and "SD 1.5 (published" in md and "protocol may differ" in md
    assert (out / "limner" / "report.png").read_bytes()[:4] == b"\x89PNG"


def test_resume_redoes_no_finished_image_and_scores_identically(metadata: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    _run(metadata, plain, n=1)
    out = tmp_path / "resumed"
    suite = GenEvalSuite(metadata)
    job = EvalJob.build(suite, load_config("sandbox"), images_per_prompt=1, generator="alder")
    first = run_eval(job, suite, out, limit=5)
    assert first.ran == 5
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/samples/*.png")}
    second = run_eval(job, suite, out)
    assert (second.done_before, second.ran) == (5, 7)
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())  # not redrawn
    a, b = load_run([plain]), load_run([out])
    assert score_records(a.protocol, a.records.values()) == score_records(b.protocol, b.records.values())
    assert [p.read_bytes() for p in sorted(plain.glob("*/samples/*.png"))] == \
        [p.read_bytes() for p in sorted(out.glob("*/samples/*.png"))]


def test_two_shards_merge_into_the_unsharded_run(metadata: Path, tmp_path: Path) -> None:
    _run(metadata, tmp_path / "all", n=1)
    _run(metadata, tmp_path / "s0", n=1, shard=Shard(index=0, count=2))
    _run(metadata, tmp_path / "s1", n=1, shard=Shard(index=1, count=2))
    whole, merged = load_run([tmp_path / "all"]), load_run([tmp_path / "s0", tmp_path / "s1"])
    assert json.dumps(score_records(whole.protocol, whole.records.values()), sort_keys=True) == \
        json.dumps(score_records(merged.protocol, merged.records.values()), sort_keys=True)
    assert merged.shards == ["0/2", "1/2"]
    # both shards may also share one folder
    _run(metadata, tmp_path / "one", n=1, shard=Shard(index=0, count=2))
    _run(metadata, tmp_path / "one", n=1, shard=Shard(index=1, count=2))
    shared = load_run([tmp_path / "one"])
    assert score_records(shared.protocol, shared.records.values()) == score_records(whole.protocol, whole.records.values())


def test_a_folder_never_mixes_protocols_and_compare_refuses_different_ones(metadata: Path, tmp_path: Path) -> None:
    _run(metadata, tmp_path / "n1", n=1)
    with pytest.raises(EvalError, match="images_per_prompt"):
        _run(metadata, tmp_path / "n1", n=2)
    _run(metadata, tmp_path / "n2", n=2)
    with pytest.raises(EvalError, match="images_per_prompt"):
        compare_runs([load_run([tmp_path / "n1"]), load_run([tmp_path / "n2"])])
    assert len(compare_runs([load_run([tmp_path / "n1"]), load_run([tmp_path / "n2"])],
                            frozenset({"images_per_prompt"}))) == 2
    # what is evaluated may differ (that is the comparison); shards of one run compare too
    _run(metadata, tmp_path / "cedar", n=1, generator="cedar")
    assert len(compare_runs([load_run([tmp_path / "n1"]), load_run([tmp_path / "cedar"])])) == 2
    _run(metadata, tmp_path / "a", n=1, shard=Shard(index=0, count=2))
    _run(metadata, tmp_path / "b", n=1, shard=Shard(index=1, count=2))
    assert len(compare_runs([load_run([tmp_path / "a"]), load_run([tmp_path / "b"])])) == 2


def test_agent_mode_records_rounds_and_its_protocol(metadata: Path, tmp_path: Path) -> None:
    lines = metadata.read_text().splitlines()
    small = tmp_path / "m.jsonl"
    small.write_text("\n".join(lines[-4:]) + "\n")  # position, color_attr: the hard tags
    out = tmp_path / "agent"
    summary = _run(small, out, n=1, agent=True, rounds=2)
    assert summary.protocol.mode == "agent" and summary.protocol.rounds == 2 and summary.protocol.learning is False
    assert summary.protocol.rewriting is True and summary.protocol.matrices_sha256
    records = list(load_records(out).values())
    assert all(r.passed_at_round is not None and set(r.passed_at_round) == {"1", "2"} for r in records)
    # the image returned is the best of all rounds: the judge's verdict on it is the last round's
    assert all(r.passed == r.passed_at_round["2"] for r in records)
    scores = score_records(summary.protocol, records)
    assert set(scores["rounds"]) == {"1", "2"} and scores["rounds"]["1"] <= scores["rounds"]["2"]


def test_tool_errors_are_recorded_never_counted_as_passed(metadata: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "fail.yaml"
    cfg.write_text("tools:\n  - {name: shaky, backend: 'eval_faults:FailingPainter', options: {fail_on: clock, profile: p-alder}}\n"
                   "  - {name: checker, backend: sandbox, type: checker}\n")
    sys.path.insert(0, PLUGINS)
    try:
        suite = GenEvalSuite(metadata)
        job = EvalJob.build(suite, load_config(cfg), images_per_prompt=1, generator="shaky")
        summary = run_eval(job, suite, tmp_path / "out", executor=LocalExecutor(1))
    finally:
        sys.path.remove(PLUGINS)
    records = load_records(tmp_path / "out")
    failed = [r for r in records.values() if r.status == "error"]
    assert summary.errors == len(failed) >= 1
    assert all("clock" in r.prompt and not r.passed and "simulated crash" in (r.reason or "") for r in failed)
    scores = load_run([tmp_path / "out"])
    assert score_records(scores.protocol, scores.records.values())["errors"] == len(failed)


def test_compbench_layout_and_unlayable_prompts_are_reported(tmp_path: Path) -> None:
    prompts = tmp_path / "spatial.txt"
    prompts.write_text("a cat on the left of a dog\na bird on the right of a/an airplane\na car near a bicycle\n")
    suite = CompBenchSuite(prompts, "spatial")
    job = EvalJob.build(suite, load_config("sandbox"), images_per_prompt=2, generator="cedar")
    summary = run_eval(job, suite, tmp_path / "cb")
    assert summary.skipped == 2 and summary.ran == 4
    names = sorted(os.listdir(tmp_path / "cb" / "samples"))
    assert names == ["a car near a bicycle_000000.png", "a car near a bicycle_000001.png",
                     "a cat on the left of a dog_000000.png", "a cat on the left of a dog_000001.png"]
    assert suite.check_layout(tmp_path / "cb", suite.prompts, 2) == []
    scores = write_report(load_run([tmp_path / "cb"]))["scores"]
    assert scores["skipped"] == [{"prompt": "a bird on the right of a/an airplane",
                                  "reason": "the prompt holds '/', which cannot be in a file name (T2I-CompBench "
                                            "names images by prompt)"}]
    assert scores["t2i_compbench"]["score"]["n"] == 4


def test_shard_and_suite_inputs_are_validated(tmp_path: Path) -> None:
    assert Shard.parse("1/3").holds(4) and not Shard.parse("1/3").holds(3)
    for bad in ("3/3", "a/b", "1", "-1/2"):
        with pytest.raises(ValueError):
            Shard.parse(bad)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a cat", "tag": "single_object"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1: not a GenEval metadata line"):
        GenEvalSuite(bad)
    with pytest.raises(ValueError, match="unknown T2I-CompBench category"):
        CompBenchSuite(bad, "colour")


def test_published_rows_are_the_shipped_csv() -> None:
    rows = published_rows("geneval", ["SD 1.5"])
    assert rows and all("SD 1.5" in r["model"] for r in rows)
    assert any(r["overall"] == "0.43" for r in rows)
    assert published_rows("t2i-compbench", ["SDXL"])


def test_cli_runs_resumes_and_refuses(metadata: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    args = ["eval", "geneval", "--metadata", str(metadata), "--out", str(out), "--generator", "alder", "-n", "1",
            "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary["ran"] == 12 and summary["layout_problems"] == [] and summary["simulated"] is True
    again = runner.invoke(app, args)
    assert json.loads(again.stdout.strip().splitlines()[-1])["ran"] == 0
    changed = runner.invoke(app, [*args[:-3], "-n", "2"])
    assert changed.exit_code == 2 and "another protocol" in changed.output and "Traceback" not in changed.output
    assert runner.invoke(app, [*args, "--shard", "2/2"]).exit_code == 2
    nobody = runner.invoke(app, [*args[:6], "--generator", "no[ray]body"])
    assert nobody.exit_code == 2 and "no[ray]body" in nobody.output  # user text is not read as console markup
    other = tmp_path / "cli2"
    runner.invoke(app, ["eval", "geneval", "--metadata", str(metadata), "--out", str(other), "--generator", "alder",
                        "-n", "2", "--json"])
    refused = runner.invoke(app, ["eval", "compare", str(out), str(other)])
    assert refused.exit_code == 2 and "images_per_prompt" in refused.output
    ok = runner.invoke(app, ["eval", "compare", str(out), str(other), "--ignore", "images_per_prompt",
                             "--out", str(tmp_path / "cmp")])
    assert ok.exit_code == 0, ok.output
    assert {p.name for p in (tmp_path / "cmp").iterdir()} == {"compare.md", "compare.json", "compare.png"}
    merged = runner.invoke(app, ["eval", "report", str(out), "--out", str(tmp_path / "rep"), "--published", "SDXL"])
    assert merged.exit_code == 0 and "SDXL (published" in merged.stdout
    assert runner.invoke(app, ["eval", "report", str(tmp_path)]).exit_code == 2  # not an evaluation folder


def test_a_killed_cli_run_resumes_losing_and_redoing_nothing(metadata: Path, tmp_path: Path) -> None:
    calls = tmp_path / "calls.txt"
    cfg = tmp_path / "slow.yaml"
    cfg.write_text("tools:\n"
                   f"  - {{name: slow, backend: 'eval_faults:LoggingPainter', options: {{delay_s: 0.25, calls_file: '{calls}', profile: p-alder}}}}\n"
                   "  - {name: checker, backend: sandbox, type: checker}\n")
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": PLUGINS + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "limner.cli", "eval", "geneval", "--metadata", str(metadata), "--out", str(out),
           "--generator", "slow", "-n", "1", "--config", str(cfg), "--json"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    items = out / "limner" / "items"
    deadline = time.time() + 90
    while time.time() < deadline and len(list(items.glob("*.json")) if items.is_dir() else []) < 5:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {r.prompt for r in load_records(out).values()}
    assert 5 <= len(finished) < 12
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["done_before"] == len(finished) and summary["done_before"] + summary["ran"] == 12
    drawn = [line.split("\t")[0] for line in calls.read_text().splitlines()]
    assert all(drawn.count(p) == 1 for p in finished)  # no finished image drawn twice
    assert len(load_records(out)) == 12


@pytest.mark.slow
def test_local_processes_and_ray_give_the_serial_scores(metadata: Path, tmp_path: Path) -> None:
    suite = GenEvalSuite(metadata)
    job = EvalJob.build(suite, load_config("sandbox"), images_per_prompt=1, generator="alder")
    run_eval(job, suite, tmp_path / "serial")
    pool = LocalExecutor(2)
    try:
        run_eval(job, suite, tmp_path / "pool", executor=pool)
    finally:
        pool.close()
    runs = [load_run([tmp_path / "serial"]), load_run([tmp_path / "pool"])]
    pytest.importorskip("ray")
    ray = RayExecutor(num_cpus=2)
    try:
        run_eval(job, suite, tmp_path / "ray", executor=ray)
    finally:
        ray.close()
    runs.append(load_run([tmp_path / "ray"]))
    scores = [json.dumps(score_records(r.protocol, r.records.values()), sort_keys=True) for r in runs]
    assert scores[0] == scores[1] == scores[2]
