"""Tools as services: `limner serve` (in-process uvicorn on 127.0.0.1) and the `remote` tool backend.

Every served tool here is a sandbox tool (SIMULATED). The servers run in this process, except the replica
that one test SIGKILLs mid-call (a `limner serve` child process).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from limner.agent.worker import Worker, default_routers
from limner.config import ToolConfig, load_config
from limner.runs import MemoryStore
from limner.serve.app import ServeOptions, ToolServer, run_in_thread
from limner.serve.testing import SlowPainter, spawn_server, wait_ready
from limner.tools.base import ToolError
from limner.tools.registry import build_tool, resolve_tool_class
from limner.tools.remote import decode_multipart, decode_result, encode_call, encode_multipart, encode_result
from limner.tools.sandbox import Painter
from limner.types import Subtask, ToolCall, ToolStep
from tests.local_server import dead_url

SANDBOX = {t.name: t for t in load_config("sandbox").tools}


def remote(name: str, url: str | list[str], kind: str = "generate", **options: Any) -> Any:
    return build_tool(ToolConfig(name=name, backend="remote", type=kind, options={"url": url, **options}))


def pixels(image: Any) -> tuple[str, tuple[int, int], bytes]:
    return image.mode, image.size, image.tobytes()


@pytest.fixture(scope="module")
def urls() -> Iterator[dict[str, str]]:
    """alder (painter), fern (editor), checker: each served by its own in-process server."""
    servers = {n: ToolServer(build_tool(SANDBOX[n]), ServeOptions(max_queue=16)) for n in ("alder", "fern", "checker")}
    ctxs = {n: run_in_thread(s) for n, s in servers.items()}
    try:
        yield {n: c.__enter__() for n, c in ctxs.items()}
    finally:
        for c in ctxs.values():
            c.__exit__(None, None, None)


def raw(url: str, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
        ) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


# ----------------------------------------------------------------------------------------------------
# the wire format
# ----------------------------------------------------------------------------------------------------


def test_multipart_keeps_binary_parts_byte_for_byte() -> None:
    nasty = b"\r\n--limner-x\r\n\x00\xff\r\n\r\n--"
    body, ctype = encode_multipart({"a": (nasty, "application/octet-stream"), "b": (b"", "text/plain")})
    assert decode_multipart(body, ctype) == {"a": nasty, "b": b""}
    with pytest.raises(ValueError, match="truncated"):
        decode_multipart(body[:-10], ctype)
    with pytest.raises(ValueError, match="multipart"):
        decode_multipart(body, "application/json")


def test_a_result_crosses_the_wire_with_its_image_and_truth() -> None:
    painter = build_tool(SANDBOX["alder"])
    result = painter(ToolCall(tool="alder", prompt="two red apples", seed=2))
    back = decode_result(*encode_result(result))
    assert pixels(back.image) == pixels(result.image)
    assert back.ground_truth == result.ground_truth and back.ground_truth is not None
    assert back.meta == result.meta and back.tool == "alder"
    body, ctype = encode_call(ToolCall(tool="x", prompt="p"), image=result.image)
    assert set(decode_multipart(body, ctype)) == {"call", "image"}


def test_remote_backend_is_registered_with_one_type_per_kind() -> None:
    assert resolve_tool_class("remote", "edit").kind == "edit"
    assert resolve_tool_class("remote", "check").kind == "check"
    with pytest.raises(LookupError, match="generate"):
        resolve_tool_class("remote", "painter")
    with pytest.raises(ValueError, match="http"):
        remote("r", "ftp://host/x")


# ----------------------------------------------------------------------------------------------------
# same as local
# ----------------------------------------------------------------------------------------------------


def test_remote_painter_draws_the_same_pixels_and_truth_as_the_local_one(urls: dict[str, str]) -> None:
    local = build_tool(SANDBOX["alder"])
    r = remote("alder", urls["alder"])
    for seed, prompt in enumerate(["two red apples to the left of a blue cup", "a yellow banana", "three cups"]):
        call = ToolCall(tool="alder", prompt=prompt, seed=seed)
        a, b = local(call), r(call)
        assert pixels(a.image) == pixels(b.image)
        assert a.ground_truth == b.ground_truth
        assert b.meta["remote"]["url"] == urls["alder"] and b.tool == "alder"
    other = r(ToolCall(tool="alder", prompt="a yellow banana", seed=99))
    assert pixels(other.image) != pixels(local(ToolCall(tool="alder", prompt="a yellow banana", seed=1)).image)


def test_the_spec_comes_from_the_server_so_routing_ranks_remote_like_local(urls: dict[str, str]) -> None:
    local = {n: build_tool(SANDBOX[n]) for n in ("alder", "birch")}
    mixed = {"alder": remote("alder", urls["alder"]), "birch": local["birch"]}
    spec = mixed["alder"].spec
    assert spec.backend == "remote" and spec.simulated
    assert (spec.scores, spec.cost, spec.dims) == (local["alder"].spec.scores, local["alder"].spec.cost,
                                                   local["alder"].spec.dims)
    sub = Subtask(id="s0", kind="generate", instruction="x", weights={"color": 1.0, "spatial_2d": 0.5})
    rank = [Worker(t, default_routers(t)).rank(sub) for t in (local, mixed)]
    assert rank[0] == rank[1]
    assert mixed["alder"].readiness().reason is None


def test_an_agent_with_every_tool_remote_runs_exactly_like_the_local_one(urls: dict[str, str]) -> None:
    from limner.agent.loop import Agent  # noqa: PLC0415 - keep module import light

    names = {"alder": "generate", "fern": "edit", "checker": "check"}
    local_cfg = load_config(None, tools=[SANDBOX[n].model_dump() for n in names], perf={"learn": False},
                            agent={"rounds": 2}, seed=4)
    remote_cfg = local_cfg.model_copy(update={"tools": [
        ToolConfig(name=n, backend="remote", type=k, options={"url": urls[n]}) for n, k in names.items()]})
    runs = []
    for cfg in (local_cfg, remote_cfg):
        store = MemoryStore()
        Agent(cfg).run("two red apples to the left of a blue cup", store=store)
        runs.append(store)
    a, b = runs
    assert [s.type for s in a.steps] == [s.type for s in b.steps]
    assert [s.call.tool for s in a.steps if isinstance(s, ToolStep)] == \
        [s.call.tool for s in b.steps if isinstance(s, ToolStep)]
    assert {k: pixels(v) for k, v in a.images.items()} == {k: pixels(v) for k, v in b.images.items()}


# ----------------------------------------------------------------------------------------------------
# failures
# ----------------------------------------------------------------------------------------------------


def test_a_served_tools_tool_error_comes_back_as_a_tool_error(urls: dict[str, str]) -> None:
    checker = remote("checker", urls["checker"], kind="check")
    image = build_tool(SANDBOX["alder"])(ToolCall(tool="alder", prompt="a red apple")).image
    with pytest.raises(ToolError, match=r"needs params\['scene'\]"):
        checker(ToolCall(tool="checker"), image=image)
    assert checker.stats["tool_errors"] == 1 and checker.stats["retries"] == 0


def test_a_dead_remote_tool_fails_over_to_the_next_ranked_tool() -> None:
    top = {"color": 0.99, "spatial_2d": 0.99}
    dead = build_tool(ToolConfig(name="far", backend="remote", type="generate", scores=top,
                                 options={"url": dead_url().removesuffix("/v1"), "retries": 1,
                                          "connect_timeout_s": 1, "spec_timeout_s": 1}))
    tools = {"far": dead, "birch": build_tool(SANDBOX["birch"])}
    worker = Worker(tools, default_routers(tools))
    sub = Subtask(id="s0", kind="generate", instruction="a red apple", weights={"color": 1.0})
    attempts = list(worker.attempts(sub, prompt="a red apple", seed=0, width=256, height=256))
    assert [(a.call.tool, a.result.ok) for a in attempts] == [("far", False), ("birch", True)]
    assert "2 tries failed" in attempts[0].result.error and "ToolError" in attempts[0].result.error
    assert "no replica is ready" in (dead.readiness(timeout_s=1).reason or "")


def test_a_down_replica_is_skipped_and_the_call_retried_on_another(urls: dict[str, str]) -> None:
    r = remote("alder", [dead_url().removesuffix("/v1"), urls["alder"]], retries=1, connect_timeout_s=1)
    local = build_tool(SANDBOX["alder"])
    for seed in range(3):
        call = ToolCall(tool="alder", prompt="a blue cup", seed=seed)
        assert pixels(r(call).image) == pixels(local(call).image)
    assert r.stats["completed"] == 3 and r.stats["retries"] >= 1 and r.stats["failed"] == 0


def test_a_replica_killed_mid_call_loses_and_doubles_no_step(tmp_path: Path) -> None:
    """Two replicas of a sleep-bound painter: one is a `limner serve` child process, SIGKILLed while it draws;
    its call is retried on the other. Each agent run's steps and images equal a local run's."""
    from limner.agent.loop import Agent  # noqa: PLC0415

    cfg_path = tmp_path / "slow.yaml"
    slow = {"name": "slow", "backend": "limner.serve.testing:SlowPainter", "type": "painter",
            "options": {"profile": "p-alder", "delay_s": 1.5}}
    cfg_path.write_text(json.dumps({"tools": [slow]}))
    child = spawn_server("slow", cfg_path, log_dir=tmp_path)
    survivor = ToolServer(SlowPainter("slow", profile="p-alder", delay_s=0.2), ServeOptions())
    try:
        with run_in_thread(survivor) as url:
            wait_ready([child], timeout_s=60)
            checker = {"name": "checker", "backend": "sandbox", "type": "checker"}
            cfg = load_config(None, perf={"learn": False}, agent={"rounds": 1}, tools=[
                {"name": "slow", "backend": "remote", "type": "generate",
                 "options": {"url": [child.url, url], "retries": 2, "connect_timeout_s": 1}}, checker])
            ref_cfg = load_config(None, perf={"learn": False}, agent={"rounds": 1},
                                  tools=[{**slow, "options": {"profile": "p-alder", "delay_s": 0}}, checker])
            prompts = ["a red apple", "a blue cup"]
            stores: list[MemoryStore] = [MemoryStore(), MemoryStore()]
            agents = [Agent(cfg.model_copy(update={"seed": i})) for i in range(2)]
            for a in agents:
                _ = [t.spec for t in a.tools.values()]
            threads = [threading.Thread(target=agents[i].run, args=(prompts[i],), kwargs={"store": stores[i]})
                       for i in range(2)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 20
            while json.loads(raw(child.url, "GET", "/stats")[2])["in_system"] < 1:  # the child is drawing
                assert time.monotonic() < deadline
                time.sleep(0.02)
            child.kill()
            for t in threads:
                t.join(timeout=60)
            for i, store in enumerate(stores):
                ref = MemoryStore()
                Agent(ref_cfg.model_copy(update={"seed": i})).run(prompts[i], store=ref)
                assert [s.type for s in store.steps] == [s.type for s in ref.steps]
                tool_steps = [s for s in store.steps if isinstance(s, ToolStep)]
                assert len(tool_steps) == 1 and tool_steps[0].result.ok
                assert {k: pixels(v) for k, v in store.images.items()} == {k: pixels(v) for k, v in ref.images.items()}
            tries = [s.result.meta["remote"]["tries"] for st in stores for s in st.steps if isinstance(s, ToolStep)]
            assert sorted(tries) == [1, 2]  # the killed replica's call was sent again, once
            assert survivor.stats.completed == 2
    finally:
        child.stop()


# ----------------------------------------------------------------------------------------------------
# queue, readiness, time-outs
# ----------------------------------------------------------------------------------------------------


def test_a_full_queue_answers_429_and_the_client_waits_as_told_dropping_nothing() -> None:
    server = ToolServer(SlowPainter("alder", profile="p-alder", delay_s=0.3), ServeOptions(max_queue=0))
    local = build_tool(SANDBOX["alder"])
    with run_in_thread(server) as url:
        r = remote("alder", url, max_wait_s=30)
        busy = threading.Thread(target=r, args=(ToolCall(tool="alder", prompt="a red apple"),))
        busy.start()
        while server.stats.accepted < 1:
            time.sleep(0.01)
        body, ctype = encode_call(ToolCall(tool="alder", prompt="a blue cup"))
        status, headers, _ = raw(url, "POST", "/call", body, {"Content-Type": ctype})
        assert status == 429 and headers["x-limner-error"] == "queue_full" and int(headers["retry-after"]) >= 1
        busy.join()
        results: dict[int, Any] = {}

        def one(i: int) -> None:
            results[i] = r(ToolCall(tool="alder", prompt="a blue cup", seed=i))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i in range(3):
            assert pixels(results[i].image) == pixels(local(ToolCall(tool="alder", prompt="a blue cup", seed=i)).image)
        assert r.stats["completed"] == 4 and r.stats["rejected"] >= 1
        assert r.stats["sent"] == r.stats["accepted"] + r.stats["rejected"]
        assert server.stats.completed == 4 and server.stats.rejected == r.stats["rejected"] + 1
        assert max(res.meta["remote"]["waited_s"] for res in results.values()) >= 1.0  # Retry-After honoured
        # a client that may not wait that long gives up with a ToolError
        impatient = remote("alder", url, max_wait_s=0)
        busy = threading.Thread(target=r, args=(ToolCall(tool="alder", prompt="a red apple", seed=9),))
        busy.start()
        while server._in_system < 1:
            time.sleep(0.01)
        with pytest.raises(ToolError, match="queue stayed full"):
            impatient(ToolCall(tool="alder", prompt="a red apple"))
        busy.join()


class GatedPainter(Painter):
    """A painter whose setup() waits for the test to open the gate."""

    gate = threading.Event()

    def setup(self) -> None:
        assert self.gate.wait(20)
        super().setup()


def test_ready_only_after_setup() -> None:
    GatedPainter.gate.clear()
    server = ToolServer(GatedPainter("alder", profile="p-alder"), ServeOptions())
    with run_in_thread(server, wait_ready=False) as url:
        assert raw(url, "GET", "/health")[0] == 200
        assert raw(url, "GET", "/ready")[0] == 503
        r = remote("alder", url, max_wait_s=0)
        assert "no replica is ready" in (r.readiness().reason or "")
        body, ctype = encode_call(ToolCall(tool="alder", prompt="a red apple"))
        status, headers, _ = raw(url, "POST", "/call", body, {"Content-Type": ctype})
        assert status == 503 and headers["x-limner-error"] == "not_ready"
        GatedPainter.gate.set()
        deadline = time.monotonic() + 20
        while raw(url, "GET", "/ready")[0] != 200:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert r.readiness().reason is None
        assert r(ToolCall(tool="alder", prompt="a red apple")).image is not None


class BrokenPainter(Painter):
    """A painter whose setup() fails (weights missing, say)."""

    def setup(self) -> None:
        raise RuntimeError("no weights at /models/x")


def test_a_failed_setup_is_reported_and_not_waited_for() -> None:
    server = ToolServer(BrokenPainter("alder", profile="p-alder"), ServeOptions())
    with run_in_thread(server) as url:
        status, headers, body = raw(url, "GET", "/ready")
        assert status == 503 and headers["x-limner-error"] == "setup_failed" and b"no weights" in body
        r = remote("alder", url, retries=0, max_wait_s=60)
        t0 = time.monotonic()
        with pytest.raises(ToolError, match="no weights"):
            r(ToolCall(tool="alder", prompt="a red apple"))
        assert time.monotonic() - t0 < 5


def test_a_server_that_is_not_a_limner_tool_is_a_tool_error_not_a_crash() -> None:
    from fastapi import FastAPI  # noqa: PLC0415
    from fastapi.responses import PlainTextResponse  # noqa: PLC0415

    from tests.local_server import serve  # noqa: PLC0415

    fake = FastAPI()
    fake.get("/ready")(lambda: {"ok": True})
    fake.get("/spec")(lambda: {"something": "else"})
    fake.post("/call")(lambda: PlainTextResponse("hello"))
    with serve(fake) as v1:
        r = remote("alder", v1.removesuffix("/v1"), retries=0)
        assert "not a limner tool's spec" in (r.readiness().reason or "")
        with pytest.raises(ToolError, match="unreadable answer"):
            r(ToolCall(tool="alder", prompt="a red apple"))


def test_a_request_past_its_time_out_is_a_504_and_then_a_tool_error() -> None:
    server = ToolServer(SlowPainter("alder", profile="p-alder", delay_s=1.0), ServeOptions(timeout_s=0.2))
    with run_in_thread(server) as url:
        r = remote("alder", url, retries=0)
        t0 = time.monotonic()
        with pytest.raises(ToolError, match="504"):
            r(ToolCall(tool="alder", prompt="a red apple"))
        assert time.monotonic() - t0 < 0.9
        assert server.stats.timed_out == 1


def test_a_kind_mismatch_is_named() -> None:
    server = ToolServer(build_tool(SANDBOX["birch"]), ServeOptions())
    with run_in_thread(server) as url:
        reason = remote("birch", url, kind="edit").readiness().reason
    assert reason is not None and "configured as type 'edit'" in reason


# ----------------------------------------------------------------------------------------------------
# the token
# ----------------------------------------------------------------------------------------------------


def test_the_token_is_required_and_never_leaks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    from typer.testing import CliRunner  # noqa: PLC0415

    from limner.cli.main import app  # noqa: PLC0415

    secret = "s3cr3t-token-7f1c9a"
    monkeypatch.setenv("SERVE_TEST_TOKEN", secret)
    caplog.set_level("DEBUG")
    server = ToolServer(build_tool(SANDBOX["alder"]), ServeOptions(token_env="SERVE_TEST_TOKEN"))
    with run_in_thread(server) as url:
        assert raw(url, "GET", "/health")[0] == 200
        for path in ("/ready", "/spec", "/stats"):
            assert raw(url, "GET", path)[0] == 401
        body, ctype = encode_call(ToolCall(tool="alder", prompt="a red apple"))
        status, _, answer = raw(url, "POST", "/call", body, {"Content-Type": ctype, "Authorization": "Bearer nope"})
        assert status == 401 and secret.encode() not in answer
        anonymous = remote("alder", url)
        with pytest.raises(ToolError, match="refused the token") as e:
            anonymous(ToolCall(tool="alder", prompt="a red apple"))
        assert secret not in str(e.value)
        r = remote("alder", url, token_env="SERVE_TEST_TOKEN")
        assert r(ToolCall(tool="alder", prompt="a red apple")).image is not None
        auth = {"Authorization": f"Bearer {secret}"}
        seen = [raw(url, "GET", p, headers=auth)[2].decode() for p in ("/spec", "/stats", "/ready")]
        seen += [repr(r), r.spec.model_dump_json(), json.dumps(r.options), r.opts.model_dump_json()]
        cfg = tmp_path / "remote.yaml"
        cfg.write_text(json.dumps({"perf": {"learn": False}, "agent": {"rounds": 1}, "tools": [
            {"name": "alder", "backend": "remote", "type": "generate",
             "options": {"url": url, "token_env": "SERVE_TEST_TOKEN"}},
            {"name": "checker", "backend": "sandbox", "type": "checker"}]}))
        res = CliRunner().invoke(app, ["generate", "a red apple", "--config", str(cfg), "--out", str(tmp_path / "runs"),
                                       "--run-id", "tok", "--json"])
        assert res.exit_code in (0, 1), res.output
        run_dir = tmp_path / "runs" / "tok"
        manifest = (run_dir / "manifest.json").read_text()
        assert '"backend": "remote"' in manifest and url in manifest  # the remote tool is recorded
        seen += [manifest, (run_dir / "trajectory.jsonl").read_text(), res.output]
    out, err_ = capfd.readouterr()
    seen += [out, err_, caplog.text]
    assert server.stats.unauthorized >= 5
    assert all(secret not in s for s in seen)


# ----------------------------------------------------------------------------------------------------
# the CLI and the batch runner
# ----------------------------------------------------------------------------------------------------


def test_limner_serve_is_a_command() -> None:
    from typer.testing import CliRunner  # noqa: PLC0415

    from limner.cli.main import app  # noqa: PLC0415

    res = CliRunner().invoke(app, ["serve", "--help"])
    assert res.exit_code == 0 and "--max-queue" in res.output and "--token-env" in res.output
    res = CliRunner().invoke(app, ["serve", "no-such-tool", "--port", "1"])
    assert res.exit_code != 0


def test_the_batch_runner_returns_every_run_once(urls: dict[str, str]) -> None:
    from limner.eval.executor import LocalExecutor  # noqa: PLC0415
    from limner.serve.batch import run_batch  # noqa: PLC0415

    tools = [{"name": "alder", "backend": "remote", "type": "generate", "options": {"url": urls["alder"]}},
             {"name": "checker", "backend": "sandbox", "type": "checker"}]
    cfg = load_config(None, tools=tools, perf={"learn": False}, agent={"rounds": 1})
    results = list(run_batch(["a red apple", "a blue cup", ""], cfg, executor=LocalExecutor(1)))
    assert sorted(r.index for r in results) == [0, 1, 2]
    ok = [r for r in results if r.status == "ok"]
    assert len(ok) == 2 and all(r.png and r.steps[-1] == "final" for r in ok)
    assert all(c["replica"] == urls["alder"] for r in ok for c in r.tool_calls)
    assert next(r for r in results if r.status == "error").error.startswith("ValueError")
