from __future__ import annotations

import http.server
import sys
import threading
import types

import pytest
from PIL import Image

from limner.config import ToolConfig
from limner.tools import base
from limner.tools.base import Readiness, Tool, ToolError, probe_url
from limner.tools.registry import RegistryError, ToolRegistry, ToolsUnavailable, runnable_tools
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


class BrokenPainter(FakePainter):
    """A painter that cannot run here (as a real one without its weights)."""

    def unavailable_reason(self) -> str | None:
        return "no weights here"


class FakeChecker(FakePainter):
    kind = "check"


def _tools(**classes: type[Tool]) -> dict[str, Tool]:
    return {name: cls(name) for name, cls in classes.items()}


def test_runnable_tools_leaves_out_what_cannot_run() -> None:
    ready, reasons = runnable_tools(_tools(red=FakePainter, broken=BrokenPainter, judge=FakeChecker))
    assert list(ready) == ["red", "judge"] and reasons == {"broken": "no weights here"}


def test_runnable_tools_refuses_a_run_no_generator_or_checker_can_make() -> None:
    with pytest.raises(ToolsUnavailable, match="no generate tool can run here .broken: no weights here"):
        runnable_tools(_tools(broken=BrokenPainter, judge=FakeChecker))

    class BrokenChecker(FakeChecker):
        def unavailable_reason(self) -> str | None:
            return "server down"

    with pytest.raises(ToolsUnavailable, match="the checker 'judge' cannot run here .server down"):
        runnable_tools(_tools(red=FakePainter, judge=BrokenChecker))


def test_readiness_probes_a_tool_server_once_with_a_time_out() -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # any status means the server is there
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        tool = FakeChecker("judge")
        tool.opts = types.SimpleNamespace(base_url=url)  # what the OpenAI-compatible backends carry
        assert tool.readiness(1.0) == Readiness(server=f"answers at {url}")
    finally:
        server.shutdown()
        server.server_close()
    base._PROBES.clear()
    down = tool.readiness(1.0)  # nothing listens there any more
    assert down.reason is not None and down.reason.startswith(f"its server {url} does not answer (no answer within 1 s")
    assert probe_url("not a url") is not None


def test_diffusers_readiness_without_weights_or_downloads_names_the_fix() -> None:
    pytest.importorskip("diffusers")
    from limner.tools.diffusers import DiffusersText2Image  # noqa: PLC0415 - the optional extra, after the skip

    tool = DiffusersText2Image("ghost", model="limner-tests/no-such-model", device="cpu", local_files_only=True)
    found = tool.readiness(1.0)
    assert found.weights == "not here" and found.reason is not None
    assert "downloads are off (options.local_files_only)" in found.reason
    assert "hf download limner-tests/no-such-model" in found.reason
