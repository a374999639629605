"""`limner data clusters` end to end on the sandbox: a verified positive, negatives made by editing it and
judged, the pair filter, resume, the unsatisfiable prompt recorded with its reason, and `limner train apo`
reading the result (10 steps, tiny random SD pipeline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from limner.cli.main import app
from limner.config import load_config
from limner.data import ClusterJob, DataError, build_clusters, load_records, read_prompts, write_dataset

PROMPTS = ["a red apple and a blue cup", "A rusty mirror hung above the marble sink."]  # "rusty": read, not judged


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("data")
    (root / "prompts.txt").write_text("\n".join(PROMPTS) + "\n")
    out = root / "ds"
    runner = CliRunner()
    args = ["data", "clusters", "--prompts", str(root / "prompts.txt"), "--out", str(out), "--negatives", "1", "--attempts", "4",
            "--seed", "0", "--json"]
    first = runner.invoke(app, [*args, "--limit", "1"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    return {"root": root, "out": out, "first": json.loads(first.stdout.strip().splitlines()[-1]),
            "second": json.loads(second.stdout.strip().splitlines()[-1])}


def test_clusters_resume_and_record_every_prompt(built):
    first, second, out = built["first"], built["second"], built["out"]
    assert first["ran"] == 1 and second["done_before"] == 1 and second["ran"] == 1 and second["total"] == 2
    records = load_records(out)
    assert len(records) == 2
    by_prompt = {r.prompt: r for r in records.values()}
    lost = by_prompt[PROMPTS[1]]
    assert lost.status == "no_positive" and "coverage incomplete" in (lost.reason or "") and "rusty" in lost.reason
    ok = by_prompt[PROMPTS[0]]
    assert ok.status == "ok", ok.reason
    pos = ok.members[0]
    assert pos.id == "pos" and pos.verdict["passed"] and pos.verdict["coverage"] == 1.0
    negs = ok.members[1:]
    assert negs, [d.reason for d in ok.discarded]
    for m in negs:
        assert m.verdict["passed"] and m.vs_positive["failed"] and m.perturbations and m.distance >= 1
        assert m.vs_positive["exact"] == "fails exactly the intended checks"
        assert (out / m.image).is_file() and m.tools
    for d in ok.discarded:
        assert d.reason  # a discarded negative keeps its reason
    card = second["card"]
    assert card["clusters"] == 2 and card["verified_positives"] == 1
    assert card["base_pairs"] == len(negs) and card["pairs"] >= card["base_pairs"]
    assert (out / "card.md").read_text().startswith("# Data card")


def test_the_folder_refuses_another_job_and_a_rebuild_is_identical(built, tmp_path: Path):
    out = built["out"]
    cfg = load_config("sandbox", seed=0, out_dir=tmp_path / "runs")
    with pytest.raises(DataError, match="other settings"):
        build_clusters(ClusterJob.build(cfg, negatives=5), read_prompts(built["root"] / "prompts.txt"), out)


@pytest.mark.slow
def test_a_fresh_build_writes_the_same_dataset(built, tmp_path: Path):
    cfg = load_config("sandbox", seed=0, out_dir=tmp_path / "runs")
    fresh = tmp_path / "fresh"
    build_clusters(ClusterJob.build(cfg, negatives=1, attempts=4), read_prompts(built["root"] / "prompts.txt"), fresh)
    write_dataset(fresh)
    a = {k: r.model_dump(exclude={"time_s"}) for k, r in load_records(built["out"]).items()}
    b = {k: r.model_dump(exclude={"time_s"}) for k, r in load_records(fresh).items()}
    assert a == b
    assert (built["out"] / "pairs.parquet").read_bytes() == (fresh / "pairs.parquet").read_bytes()


@pytest.mark.slow  # ~20 s on top of the build
def test_apo_trains_ten_steps_on_the_built_dataset(built, tmp_path: Path):
    pytest.importorskip("diffusers")
    from tiny_pipelines import build_tiny_pipeline  # noqa: PLC0415 - the test helper needs torch/diffusers

    from limner.train.cli import app as train_app  # noqa: PLC0415 - the train extra

    model = build_tiny_pipeline("sd", tmp_path / "sd")
    (tmp_path / "apo.yaml").write_text(f"lora_rank: 4\nper_device_train_batch_size: 1\nsave_steps: 0\n"
                                       f"resolution: 32\nlogging_steps: 1\ncache_dir: {tmp_path / 'cache'}\n")
    result = CliRunner().invoke(train_app, ["apo", "--data", str(built["out"]), "--model", str(model),
                                            "--out", str(tmp_path / "lora"), "--config", str(tmp_path / "apo.yaml"),
                                            "--max-steps", "10", "--quiet"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "lora" / "pytorch_lora_weights.safetensors").is_file()
    logs = [json.loads(line) for line in (tmp_path / "lora" / "logs.jsonl").read_text().splitlines()]
    assert max(r.get("step", 0) for r in logs) == 10
