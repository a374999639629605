from __future__ import annotations

import sys
import types

import pytest
from PIL import Image

from limner.config import ToolConfig
from limner.tools.base import Tool, ToolError
from limner.tools.registry import RegistryError, ToolRegistry
from limner.types import ToolCall, ToolResult

SETUPS: list[str] = []


class FakePainter(Tool):
    """A flat-colour painter for registry tests."""

    kind = "generate"
    backend = "fake"
    default_dims = ("color",)

    def __init__(self, name: str, *, colour: str = "red", device: str = "cpu", **kw) -> None:
        super().__init__(name, **kw)
        self.colour, self.device = colour, device

    def setup(self) -> None:
        SETUPS.append(self.name)

    def _run(self, call, image, mask) -> ToolResult:
        return ToolResult(tool=self.name, image=Image.new("RGB", (call.width, call.height), self.colour))


@pytest.fixture(autouse=True)
def fake_backend(monkeypatch: pytest.MonkeyPatch):
    mod = types.ModuleType("fake_limner_backend")
    mod.TOOL_TYPES = {"painter": FakePainter}
    monkeypatch.setitem(sys.modules, "fake_limner_backend", mod)
    SETUPS.clear()


def _reg(**defaults) -> ToolRegistry:
    return ToolRegistry(
        [
            ToolConfig(name="red", backend="fake_limner_backend", type="painter"),
            ToolConfig(name="blue", backend="fake_limner_backend", type="painter", options={"colour": "blue"}),
            ToolConfig(name="off", backend="fake_limner_backend", type="painter", enabled=False),
        ],
        **defaults,
    )


def test_tools_build_lazily_and_load_on_first_call() -> None:
    reg = _reg()
    assert reg.names == ["red", "blue"]
    tool = reg.get("blue")
    assert reg.get("blue") is tool and SETUPS == [] and reg.loaded() == []
    res = tool(ToolCall(tool="blue", prompt="x", width=16, height=16))
    assert res.image.getpixel((0, 0)) == (0, 0, 255) and res.duration_s >= 0
    tool(ToolCall(tool="blue", prompt="y", width=16, height=16))
    assert SETUPS == ["blue"] and reg.loaded() == ["blue"]
    reg.unload_all()
    assert reg.loaded() == []


def test_specs_and_defaults_pass_only_to_tools_that_take_them() -> None:
    reg = _reg(device="cuda:1", unknown_default=1)
    assert reg.get("red").device == "cuda:1"
    assert [s.name for s in reg.specs(kind="generate")] == ["red", "blue"]
    assert reg.specs(kind="edit") == []


def test_unknown_names_backends_and_types() -> None:
    reg = _reg()
    with pytest.raises(RegistryError, match="unknown tool 'green'"):
        reg.get("green")
    with pytest.raises(RegistryError, match="unknown tool backend"):
        ToolRegistry([ToolConfig(name="x", backend="no_such_backend_mod", type="p")]).get("x")
    with pytest.raises(RegistryError, match="no tool type 'sculptor'"):
        ToolRegistry([ToolConfig(name="x", backend="fake_limner_backend", type="sculptor")]).get("x")


def test_input_checks_before_loading() -> None:
    tool = _reg().get("red")
    with pytest.raises(ToolError, match="empty prompt"):
        tool(ToolCall(tool="red", prompt="  "))
    with pytest.raises(ValueError, match="addressed to"):
        tool(ToolCall(tool="blue", prompt="x"))
    assert SETUPS == []
