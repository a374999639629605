"""Ray Serve deployments of served tools and the agent batch runner on Ray tasks (slow: a local Ray cluster).

Run with `python -m pytest -m slow tests/test_serve_ray.py` (needs the `serve` extra).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")
pytest.importorskip("fastapi")

from limner.config import ToolConfig, load_config
from limner.eval.executor import RayExecutor
from limner.serve.batch import run_batch
from limner.serve.ray import DeploymentOptions, deploy
from limner.serve.testing import free_port
from limner.tools.registry import build_tool
from limner.types import ToolCall

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "PYTHONPATH": _abs_pythonpath()}})
    try:
        yield
    finally:
        serve.shutdown()
        ray.shutdown()


def _abs_pythonpath() -> str:
    """This process's PYTHONPATH with absolute entries: Ray's workers may start in another directory."""
    return os.pathsep.join(os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)


def pixels(image: Any) -> tuple[str, tuple[int, int], bytes]:
    return image.mode, image.size, image.tobytes()


def test_two_ray_serve_replicas_answer_like_the_local_tool_and_the_batch_runs_as_ray_tasks(cluster: None) -> None:
    cfg = ToolConfig(name="slow", backend="limner.serve.testing:SlowPainter", type="painter",
                     options={"profile": "p-alder", "delay_s": 0.3})
    url = deploy(cfg, DeploymentOptions(num_replicas=2, num_cpus=0), port=free_port())
    r = build_tool(ToolConfig(name="slow", backend="remote", type="generate", options={"url": url}))
    local = build_tool(cfg.model_copy(update={"options": {"profile": "p-alder", "delay_s": 0.0}}))
    for seed in range(4):
        call = ToolCall(tool="slow", prompt="two red apples", seed=seed)
        res = r(call)
        assert res.meta["remote"]["url"] == url
        assert pixels(res.image) == pixels(local(call).image)
    assert r.readiness().reason is None and r.spec.simulated
    config = load_config(None, perf={"learn": False}, agent={"rounds": 1}, tools=[
        {"name": "slow", "backend": "remote", "type": "generate", "options": {"url": url}},
        {"name": "checker", "backend": "sandbox", "type": "checker"}])
    results = list(run_batch(["a red apple", "a blue cup"], config, executor=RayExecutor()))
    assert sorted(x.index for x in results) == [0, 1] and all(x.status == "ok" for x in results)


def test_the_serve_benchmark_quick_run_prints_its_json(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, str(REPO / "benchmarks" / "serve.py"), "--json", "--quick", "--delay", "0.5",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=900, cwd=tmp_path, check=False,
                         env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout.strip().splitlines()[-1])
    m = report["metrics"]
    assert report["benchmark"] == "serve" and report["simulated"]
    assert m["same_as_local"]["calls_identical"] == m["same_as_local"]["calls"] > 0
    assert m["failover"]["completed"] == m["failover"]["steps_identical"] == m["failover"]["runs"]
    assert m["backpressure"]["dropped"] == 0 and m["backpressure"]["server"]["rejected"] > 0
    assert m["throughput"]["ratio"] > 1.2


def test_a_bad_deployment_file_is_one_line_naming_the_field(tmp_path: Path) -> None:
    from typer.testing import CliRunner  # noqa: PLC0415

    from limner.cli.main import app  # noqa: PLC0415

    bad = tmp_path / "deploy.yaml"
    bad.write_text("num_replicas: 0\nnum_gpus: 1\n")
    res = CliRunner().invoke(app, ["serve", "alder", "--deployment", str(bad), "--port", "1"])
    assert res.exit_code == 2 and "num_replicas" in res.output
