"""`limner serve TOOL`: one configured tool over HTTP, for `remote` tools elsewhere to call (docs/serve.md).

    limner serve alder --config sandbox --port 8100
    LIMNER_TOKEN=... limner serve sdxl --config sdxl --host 0.0.0.0 --port 8100 --token-env LIMNER_TOKEN
    limner serve sdxl --config sdxl --ray --replicas 2 --num-gpus 1 --port 8100   # Ray Serve
    limner serve sdxl --config sdxl --ray-address auto --deployment sdxl-serve.yaml  # autoscaling etc.

Needs the `serve` extra (FastAPI, uvicorn; Ray Serve for --ray).
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from limner.config import format_validation_error, load_config, read_yaml
from limner.serve.app import ServeOptions, ToolServer
from limner.tools.registry import ToolRegistry

app = typer.Typer(help="Serve one configured tool over HTTP (FastAPI + uvicorn, or Ray Serve with --ray).",
                  context_settings={"allow_interspersed_args": True})  # TOOL, then options
err = Console(stderr=True)


@app.callback(invoke_without_command=True)
def serve(
    tool: Annotated[str, typer.Argument(help="Name of a tool in the config.")],
    config: Annotated[str | None, typer.Option("--config", "-c", help="YAML config file or preset name.",
                                               show_default="sandbox")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8100,
    max_queue: Annotated[int, typer.Option("--max-queue", min=0, help="Requests waiting beyond those running; "
                                           "more are answered 429 with Retry-After.")] = 8,
    concurrency: Annotated[int, typer.Option(min=1, help="Calls of the tool at once.")] = 1,
    timeout_s: Annotated[float, typer.Option("--timeout-s", help="A request's limit in queue and tool (504).")] = 300.0,
    token_env: Annotated[str | None, typer.Option("--token-env", help="Require the bearer token held by this "
                                                  "environment variable (never printed).")] = None,
    ray: Annotated[bool, typer.Option("--ray", metavar="", help="Deploy with Ray Serve instead of uvicorn.")] = False,
    ray_address: Annotated[str | None, typer.Option("--ray-address", help="Ray cluster to deploy on (implies --ray).")] = None,
    deployment: Annotated[Path | None, typer.Option("--deployment", help="Ray Serve: YAML of DeploymentOptions "
                                                    "(num_replicas, num_gpus, num_cpus, autoscaling, ...).")] = None,
    replicas: Annotated[int | None, typer.Option(min=1, help="Ray Serve replicas.", show_default="1")] = None,
    num_gpus: Annotated[float | None, typer.Option("--num-gpus", min=0, help="Ray Serve: GPUs per replica.",
                                                   show_default="0")] = None,
    num_cpus: Annotated[float | None, typer.Option("--num-cpus", min=0, help="Ray Serve: CPUs per replica.",
                                                   show_default="1")] = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "warning",
) -> None:
    cfg = load_config(config)
    registry = ToolRegistry.from_config(cfg)
    options = ServeOptions(max_queue=max_queue, concurrency=concurrency, timeout_s=timeout_s, token_env=token_env)
    auth = f"bearer token from ${token_env}" if token_env else "none"
    if ray or ray_address or deployment:
        _serve_ray(registry, tool, options, host, port, ray_address, auth, deployment,
                   {"num_replicas": replicas, "num_gpus": num_gpus, "num_cpus": num_cpus})
        return
    from limner.serve.app import run_uvicorn  # noqa: PLC0415 - needs uvicorn (the serve extra)

    server = ToolServer(registry.get(tool), options)
    err.print(f"serving {tool!r} ({server.tool.kind}) at http://{host}:{port} — queue {max_queue}, "
              f"concurrency {concurrency}, auth: {auth}", highlight=False)
    run_uvicorn(server, host=host, port=port, log_level=log_level)


def _serve_ray(registry: ToolRegistry, tool: str, options: ServeOptions, host: str, port: int,
               address: str | None, auth: str, deployment: Path | None, flags: dict[str, float | None]) -> None:
    try:
        import ray as ray_  # noqa: PLC0415 - optional extra
    except ImportError:
        err.print("[bold red]error:[/] " + escape("Ray Serve is not installed: pip install 'limner[serve]'"))
        raise typer.Exit(2) from None
    from limner.serve.ray import DeploymentOptions, deploy  # noqa: PLC0415 - imports Ray Serve

    data = read_yaml(deployment) if deployment is not None else {}
    data.update({k: v for k, v in flags.items() if v is not None})
    try:
        opts = DeploymentOptions.model_validate({**data, "serve": options.model_dump()})
    except ValidationError as e:
        err.print(f"[bold red]error:[/] {escape(format_validation_error(e, str(deployment or 'flags')))}", highlight=False)
        raise typer.Exit(2) from None
    ray_.init(address=address, include_dashboard=False, configure_logging=False)
    url = deploy(registry.config(tool), opts, host=host, port=port)
    scale = f"autoscaling {opts.autoscaling}" if opts.autoscaling else f"{opts.num_replicas} replicas"
    err.print(f"Ray Serve: {tool!r}, {scale} at {url} ({opts.num_gpus:g} GPU each), auth: {auth}; "
              "Ctrl-C stops", highlight=False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        from ray import serve as ray_serve  # noqa: PLC0415 - optional extra

        ray_serve.shutdown()
        sys.exit(0)
