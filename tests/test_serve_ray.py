"""Ray Serve deployments of served tools and the agent batch runner on Ray tasks (slow: a local Ray cluster).

Run with `python -m pytest -m slow tests/test_serve_ray.py` (needs the `serve` extra).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
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


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}})
    try:
        yield
    finally:
        serve.shutdown()
        ray.shutdown()


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
