"""The same served tools as Ray Serve deployments: replicas, GPUs per replica, autoscaling — Ray's, not ours.

Each replica builds the tool from its `ToolConfig` and runs its `setup()` in the constructor, so Ray Serve
routes requests to a replica only once the tool is loaded; then it answers exactly what `limner serve` does
(the same `ToolServer`: wire format, token, queue, time-out). Ray Serve's proxy puts all replicas behind one
URL and spreads requests over them; a `remote` tool points at that URL like at any other server.

    from limner.serve.ray import DeploymentOptions, deploy
    url = deploy(tool_config, DeploymentOptions(num_replicas=2, num_gpus=1), port=8100)

Autoscaling (`autoscaling`, instead of `num_replicas`) takes Ray Serve's `autoscaling_config` as it is, e.g.
`{min_replicas: 1, max_replicas: 4, target_ongoing_requests: 2}` (docs/serve.md).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from limner.config import ToolConfig
from limner.serve.app import ServeOptions, ToolServer
from limner.tools.registry import build_tool

__all__ = ["DeploymentOptions", "ToolReplica", "deploy", "shutdown"]


class DeploymentOptions(BaseModel):
    """How Ray Serve runs one tool (a `serve:` section per tool in YAML, or `limner serve --ray` flags)."""

    model_config = ConfigDict(extra="forbid")

    num_replicas: int = Field(default=1, ge=1)
    num_gpus: float = Field(default=0.0, ge=0, description="GPUs per replica (fractions share a GPU)")
    num_cpus: float = Field(default=1.0, ge=0, description="CPUs per replica")
    autoscaling: dict[str, Any] | None = Field(
        default=None, description="Ray Serve autoscaling_config (min_replicas, max_replicas, "
        "target_ongoing_requests, ...); replaces num_replicas")
    max_ongoing_requests: int | None = Field(
        default=None, ge=1, description="requests Ray sends one replica at once; default: the tool's "
        "concurrency, so Ray's router holds the rest and gives each to the first replica that is free")
    max_queued_requests: int = Field(
        default=-1, description="requests Ray's router holds before answering 503 (-1: no limit); the "
        "remote client waits and sends again, as on a 429")
    serve: ServeOptions = Field(default_factory=ServeOptions)


class ToolReplica:
    """One Ray Serve replica of one tool (wrapped by `serve.deployment` in `deploy`)."""

    def __init__(self, tool_config: dict[str, Any], serve_options: dict[str, Any]) -> None:
        tool = build_tool(ToolConfig.model_validate(tool_config))
        self.server = ToolServer(tool, ServeOptions.model_validate(serve_options))
        self.server.start_loading(wait=True)  # Ray routes to this replica once the constructor returns

    async def __call__(self, request: Any) -> Any:
        return await self.server.dispatch(request)


def deploy(tool_config: ToolConfig, options: DeploymentOptions | None = None, *, host: str = "127.0.0.1",
           port: int = 8100, route_prefix: str = "/", name: str | None = None, wait_s: float = 120.0) -> str:
    """Deploy `tool_config` on the Ray cluster this process is connected to (`ray.init()` first: locally or
    `ray.init(address=...)`), start Serve's HTTP proxy on `host:port`, and return the tool's base URL once
    `/ready` answers."""
    from ray import serve  # noqa: PLC0415 - optional extra: pip install 'limner[serve]'

    options = options or DeploymentOptions()
    so = options.serve
    kwargs: dict[str, Any] = {
        "name": name or tool_config.name,
        "ray_actor_options": {"num_cpus": options.num_cpus, "num_gpus": options.num_gpus},
        "max_ongoing_requests": options.max_ongoing_requests or so.concurrency,
        "max_queued_requests": options.max_queued_requests,
    }
    if options.autoscaling is not None:
        kwargs["autoscaling_config"] = options.autoscaling
    else:
        kwargs["num_replicas"] = options.num_replicas
    serve.start(http_options={"host": host, "port": port})
    app = serve.deployment(ToolReplica, **kwargs).bind(tool_config.model_dump(mode="json"), so.model_dump())
    serve.run(app, name=name or tool_config.name, route_prefix=route_prefix)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}{route_prefix.rstrip('/')}"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return url
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise RuntimeError(f"the Ray Serve deployment of {tool_config.name!r} did not answer at {url} in {wait_s:g} s")


def shutdown(name: str | None = None) -> None:
    """Remove one application (by name), or shut Serve down."""
    from ray import serve  # noqa: PLC0415 - optional extra

    if name is None:
        serve.shutdown()
    else:
        serve.delete(name)
