"""Builds tools from configuration, lazily.

A `ToolConfig` names a backend and a type within it; the backend module is imported only when a tool
of it is first asked for, and the tool's weights load only on its first call (`Tool.setup`). So a
config listing SDXL, FLUX and the sandbox costs nothing until a tool is used, and `limner tools list`
can show everything configured without loading anything.

Backends are modules exposing `TOOL_TYPES: dict[str, type[Tool]]`. Built-in backends are listed in
`BACKENDS` (one backend may span several modules, searched in order, each imported only when reached); any other backend may be given as `package.module` (its TOOL_TYPES is used) or
`package.module:ClassName` (that class is the tool) — configs are trusted code, like a diffusers
pipeline's `custom_pipeline`.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from limner.config import LimnerConfig, ToolConfig
from limner.tools.base import Readiness, Tool
from limner.types import ToolKind, ToolSpec

#: backend name -> the modules exposing its TOOL_TYPES, searched in order
BACKENDS: dict[str, tuple[str, ...]] = {
    "sandbox": ("limner.tools.sandbox",),
    "diffusers": ("limner.tools.diffusers",),
    # The VLM judges are configured as `backend: openai` but are their own modules: they share the endpoint
    # settings (`openai_client`) with the image tools, not their code. `soft_tifa` (one yes/no question per
    # atom of the scene) lives with the evaluation harness.
    "openai": ("limner.tools.openai", "limner.tools.vlm_checker", "limner.tools.soft_tifa"),
    "classic": ("limner.tools.classic",),
    "remote": ("limner.tools.remote",),  # a tool served by `limner serve`; `type:` is its kind
}

#: (backend, type, name) of the checker that judges a simulated world when none is configured.
SIMULATED_CHECKER: tuple[str, str, str] = ("sandbox", "checker", "sandbox-checker")


class RegistryError(LookupError):
    """A tool is unknown, or its backend/type cannot be found. The message says which and what exists."""


def resolve_tool_class(backend: str, type_: str) -> type[Tool]:
    """Import the backend and return the Tool subclass for `type_`."""
    if backend in BACKENDS:
        cls = _class_from_modules(backend, BACKENDS[backend], type_)
    else:
        module_name, _, class_name = backend.partition(":")
        module = _import_backend(backend, module_name)
        if class_name:
            cls = getattr(module, class_name, None)
            if cls is None:
                raise RegistryError(f"{module_name} has no class {class_name!r}")
        else:
            cls = _class_from_modules(backend, (module_name,), type_)
    if not (isinstance(cls, type) and issubclass(cls, Tool)):
        raise RegistryError(f"{backend}:{type_} is not a limner Tool subclass")
    return cls


def _class_from_modules(backend: str, modules: tuple[str, ...], type_: str) -> Any:
    """The first `TOOL_TYPES[type_]` among `modules`; later modules are imported only when reached, so a
    backend's optional part (and its extra) costs nothing until it is asked for."""
    seen: list[str] = []
    for module_name in modules:
        types: Mapping[str, Any] = getattr(_import_backend(backend, module_name), "TOOL_TYPES", {})
        if type_ in types:
            return types[type_]
        seen.extend(types)
    raise RegistryError(f"backend {backend!r} has no tool type {type_!r}; types: {', '.join(sorted(seen)) or '(none)'}")


def _import_backend(backend: str, module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            known = ", ".join(sorted(BACKENDS))
            raise RegistryError(f"unknown tool backend {backend!r}; built-in backends: {known}") from None
        raise RegistryError(
            f"backend {backend!r} needs the package {e.name!r}; install the matching extra "
            f"(e.g. pip install 'limner[diffusers]')"
        ) from None


def build_tool(cfg: ToolConfig, **defaults: Any) -> Tool:
    """Instantiate one tool (cheap: no weights load here). `defaults` fill options the config leaves out."""
    cls = resolve_tool_class(cfg.backend, cfg.type)
    options = {**defaults, **cfg.options}
    tool = cls(name=cfg.name, description=cfg.description, dims=cfg.dims, cost=cfg.cost, **options)
    declared = {k: v for k, v in (("scores", cfg.scores), ("family", cfg.family)) if v}
    if declared:
        tool.spec = ToolSpec.model_validate({**tool.spec.model_dump(), **declared})
    return tool


def default_checker(tools: Mapping[str, Tool]) -> Tool | None:
    """The tool that judges images: the first configured tool of kind "check"; when none is configured and
    every tool is simulated, the sandbox's own pixel-only checker (a simulated world can judge itself, a
    real model cannot); else None. The agent names no backend: this is where the default is chosen."""
    checkers = [t for t in tools.values() if t.kind == "check"]
    if checkers:
        return checkers[0]
    if all(t.spec.simulated for t in tools.values()):
        backend, type_, name = SIMULATED_CHECKER
        return resolve_tool_class(backend, type_)(name)
    return None


class ToolsUnavailable(RegistryError):
    """The configured tools cannot make a run here: no tool of the needed kind, or not the checker, can run.
    The message names each such tool and why."""


def readiness(tools: Mapping[str, Tool], timeout_s: float = 2.0) -> dict[str, Readiness]:
    """What each tool's `readiness()` says, by name (loads and downloads nothing; probes time out)."""
    return {name: tool.readiness(timeout_s) for name, tool in tools.items()}


def runnable_tools(
    tools: Mapping[str, Tool], *, needs: ToolKind | tuple[ToolKind, ...] = "generate", timeout_s: float = 2.0
) -> tuple[dict[str, Tool], dict[str, str]]:
    """The tools that can run here, and why each other one cannot.

    Checked once before a run, so that a tool whose `setup()` cannot succeed (weights absent and no way to
    download them, a server that does not answer) is left out instead of failing every round. Raises
    `ToolsUnavailable` when the run cannot work at all: no configured tool of kind `needs` can run, or the
    checker that would judge the run cannot (a run with no judge would report nothing true). `needs` may name
    several kinds (an edit is done by an editor or an inpainter): one of them must be able to run."""
    kinds = (needs,) if isinstance(needs, str) else needs
    reasons = {name: r.reason for name, r in readiness(tools, timeout_s).items() if r.reason}
    ready = {name: tool for name, tool in tools.items() if name not in reasons}
    problems = []
    wanted = [name for name, tool in tools.items() if tool.kind in kinds]
    if wanted and not any(name in ready for name in wanted):
        problems.append(f"no {' or '.join(kinds)} tool can run here ("
                        + "; ".join(f"{n}: {reasons[n]}" for n in wanted) + ")")
    checker = default_checker(tools)
    if checker is not None and checker.name in reasons:
        problems.append(f"the checker {checker.name!r} cannot run here ({reasons[checker.name]})")
    if problems:
        raise ToolsUnavailable("; ".join(problems))
    return ready, reasons


class ToolRegistry:
    """The configured tools by name. Thread-safe; each tool is constructed once, on first `get`."""

    def __init__(self, configs: list[ToolConfig], **defaults: Any) -> None:
        self._configs = {c.name: c for c in configs if c.enabled}
        self._tools: dict[str, Tool] = {}
        self._defaults = defaults
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: LimnerConfig) -> ToolRegistry:
        """Tools of `config.tools`; `device` is passed to backends that take one (real models)."""
        return cls(config.tools, **({"device": config.device} if config.device != "auto" else {}))

    def add(self, tool: Tool) -> None:
        """Register an already built tool (tests, notebooks, plugins)."""
        with self._lock:
            self._tools[tool.name] = tool
            self._configs.setdefault(
                tool.name, ToolConfig(name=tool.name, backend=tool.backend, type=tool.kind)
            )

    @property
    def names(self) -> list[str]:
        return list(self._configs)

    def __contains__(self, name: object) -> bool:
        return name in self._configs

    def __iter__(self) -> Iterator[str]:
        return iter(self._configs)

    def config(self, name: str) -> ToolConfig:
        try:
            return self._configs[name]
        except KeyError:
            raise RegistryError(f"unknown tool {name!r}; configured: {', '.join(self._configs) or '(none)'}") from None

    def get(self, name: str) -> Tool:
        cfg = self.config(name)
        with self._lock:
            if name not in self._tools:
                self._tools[name] = build_tool(cfg, **self._defaults_for(cfg))
            return self._tools[name]

    def _defaults_for(self, cfg: ToolConfig) -> dict[str, Any]:
        """Registry-wide defaults (e.g. device) go only to tools whose constructor names them."""
        params = inspect.signature(resolve_tool_class(cfg.backend, cfg.type).__init__).parameters
        return {k: v for k, v in self._defaults.items() if k in params and k not in cfg.options}

    def by_name(self) -> dict[str, Tool]:
        """Every configured tool, built (cheap: no weights load), by name in config order."""
        return {n: self.get(n) for n in self._configs}

    def tools(self, kind: ToolKind | None = None) -> list[Tool]:
        return [t for t in (self.get(n) for n in self._configs) if kind is None or t.kind == kind]

    def specs(self, kind: ToolKind | None = None) -> list[ToolSpec]:
        return [t.spec for t in self.tools(kind)]

    def loaded(self) -> list[str]:
        return [n for n, t in self._tools.items() if t.loaded]

    def unload_all(self) -> None:
        for tool in self._tools.values():
            if tool.loaded:
                tool.unload()
