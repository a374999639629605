"""The sandbox world: limner's embedded, offline, deterministic and SIMULATED image world.

Painters (text-to-image), editors and inpainters with hidden skill profiles draw scenes from OpenMoji
artwork; a pixel-only checker judges them. Every number measured here is about a simulation and is
labelled so (`"simulated": true`). See docs/sandbox.md.

`TOOL_TYPES` maps the preset's `type:` to the Tool class. The checker's OCR engine (rapidocr) is loaded
only when it first reads text, so importing the checker here costs no model load.
"""

from __future__ import annotations

from limner.tools.base import Tool
from limner.tools.sandbox.checker import SandboxChecker
from limner.tools.sandbox.editors import Editor, Inpainter
from limner.tools.sandbox.painters import Painter

TOOL_TYPES: dict[str, type[Tool]] = {
    "painter": Painter,
    "editor": Editor,
    "inpainter": Inpainter,
    "checker": SandboxChecker,
}

__all__ = ["TOOL_TYPES", "Editor", "Inpainter", "Painter", "SandboxChecker"]
