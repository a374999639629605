"""The sandbox world: limner's embedded, offline, deterministic and SIMULATED image world.

Painters (text-to-image), editors and inpainters with hidden skill profiles draw scenes from OpenMoji
artwork; a pixel-only checker judges them. Every number measured here is about a simulation and is
labelled so (`"simulated": true`). See docs/sandbox.md.

`TOOL_TYPES` maps the preset's `type:` to the Tool class; the checker (OCR, template detector) is imported
only when first looked up, so building painters never loads it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from limner.tools.base import Tool
from limner.tools.sandbox.editors import Editor, Inpainter
from limner.tools.sandbox.painters import Painter


class _ToolTypes(Mapping[str, type[Tool]]):
    """`type:` -> Tool class, importing the checker module lazily."""

    _eager: ClassVar[dict[str, type[Tool]]] = {"painter": Painter, "editor": Editor, "inpainter": Inpainter}
    _names: ClassVar[tuple[str, ...]] = ("painter", "editor", "inpainter", "checker")

    def __getitem__(self, key: str) -> type[Tool]:
        if key == "checker":
            from limner.tools.sandbox.checker import SandboxChecker

            return SandboxChecker
        return self._eager[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


TOOL_TYPES: Mapping[str, type[Tool]] = _ToolTypes()

__all__ = ["TOOL_TYPES", "Editor", "Inpainter", "Painter"]


def __getattr__(name: str) -> Any:
    if name == "SandboxChecker":
        return TOOL_TYPES["checker"]
    raise AttributeError(name)
