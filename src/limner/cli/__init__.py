"""limner's command line (typer + rich): the top layer, a thin shell over the library.

`main.py` holds the app and the generate / edit / check / tools commands; each other module is one
command group (`perf.py`: `limner perf ...`). `python -m limner.cli` runs the same app.
"""

from __future__ import annotations

from limner.cli.main import app, main

__all__ = ["app", "main"]
