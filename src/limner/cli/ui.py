"""`limner ui`: the web UI on 127.0.0.1 (Gradio; `pip install 'limner[ui]'`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

err = Console(stderr=True)


def ui(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Where runs started from the UI are written.")] = Path("runs"),
    config: Annotated[str | None, typer.Option("--config", "-c", help="YAML config file or preset name.", show_default="sandbox")] = None,
    root: Annotated[list[Path] | None, typer.Option("--root", help="A folder the run browser may read (repeatable).", show_default="--out")] = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind; anything but 127.0.0.1 exposes the UI to your network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 7860,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Agent runs at once; more wait in a queue.")] = 2,
) -> None:
    """Serve the web UI: run the agent and watch each step, browse and compare runs, see the performance matrix."""
    try:
        from limner.ui.app import UISettings, launch  # noqa: PLC0415 - gradio is an optional extra
    except ImportError as e:
        err.print("[bold red]error:[/] " + escape(f"the UI needs Gradio: pip install 'limner[ui]' ({e})"), highlight=False)
        raise typer.Exit(2) from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]warning:[/] binding {escape(host)}: anyone who can reach this machine can run the agent and read "
                  "the run folders. There is no authentication.", highlight=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    launch(UISettings(config=config, out_dir=out_dir, roots=list(root or []), concurrency=concurrency), host=host,
           port=port)
