"""Options that several batch commands share (`limner eval`, `limner data`): one definition each, so a flag
means the same thing, with the same help, wherever it appears."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["ConfigOpt", "JsonOpt", "RayAddressOpt", "RayOpt", "WorkersOpt"]

ConfigOpt = Annotated[str | None, typer.Option("--config", "-c", help="YAML config file or preset name.", show_default="sandbox")]
JsonOpt = Annotated[bool, typer.Option("--json", metavar="", help="Print a JSON summary on stdout.")]
WorkersOpt = Annotated[int, typer.Option("--workers", "-w", min=1, help="Local worker processes (or Ray CPUs for a local Ray cluster).")]
RayOpt = Annotated[bool, typer.Option("--ray", metavar="", help="Run the items as Ray tasks (a local cluster unless --ray-address).")]
RayAddressOpt = Annotated[str | None, typer.Option("--ray-address", help="Join this Ray cluster (implies --ray).")]
