"""Benchmark tools as services (`limner serve`, the `remote` backend, Ray Serve) on 127.0.0.1 — SIMULATED tools.

    python benchmarks/serve.py --json            # everything (about 2-3 minutes on 2 busy cores)
    python benchmarks/serve.py --json --quick    # fewer prompts, no Ray

Metrics:
- `same_as_local`: sandbox painters served in-process and called through `remote` tools: `calls_identical`
  (pixels, mode and the world's truth equal to the local tool's for the same call and seed) of `calls`; and
  whole agent runs with every tool remote (painters, editor, inpainter, checker): `runs_identical` (same step
  types, same tool per step, same pixels for every image) of `runs`.
- `failover`: two `limner serve` replicas (child processes) of a sleep-bound painter; `runs` concurrent agent
  runs; one replica SIGKILLed mid-call. `completed`, `retries` (calls retried on the other replica),
  `steps_identical` (each run's steps and images equal a local reference run's: no step lost or doubled);
  then `next_ranked`: a remote painter whose only replica is dead, and the Worker's attempts (the failed
  remote call, then the next-ranked tool).
- `throughput`: 8 concurrent agent runs (threads, one agent each) against 1 and 2 replicas of a painter that
  sleeps `delay_s` per call (sleep-bound, so the cores are not the limit): wall seconds and the ratio; the
  same through Ray Serve (one URL, 1 and 2 replicas) beside it; `ray_batch`: the 8 prompts fanned out as Ray
  tasks by `limner.serve.batch.run_batch` against the 2 Ray Serve replicas (wall includes Ray's worker
  start-up), and whether its images equal the threads' runs.
- `backpressure`: `clients` concurrent calls on one replica with a queue of `max_queue`: the client's and the
  server's counters (sent, accepted, rejected with 429, completed), waits honoured, nothing dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

import limner
from limner.agent.loop import Agent
from limner.config import ToolConfig, load_config
from limner.runs import MemoryStore
from limner.serve.app import ServeOptions, ToolServer, run_in_thread
from limner.serve.testing import spawn_server, wait_ready
from limner.tools.registry import build_tool
from limner.types import ToolCall, ToolStep

PROMPTS = [
    "two red apples to the left of a blue cup", "a yellow banana above a green book", "three blue cups",
    "a red car to the right of a white dog", "a purple umbrella and a brown bear", "two green bottles",
    "an orange clock below a black cat", "a pink donut next to a blue chair", "a white horse and a red kite",
    "four yellow lemons", "a blue bicycle to the left of a green tree", "a red heart above a yellow star",
]
EASY = ["a red apple", "a blue cup", "a green book", "a yellow banana", "a white dog", "a black cat",
        "a brown bear", "a red car"]
SANDBOX = ["alder", "birch", "cedar", "dogwood", "elm"]


def log(msg: str) -> None:
    print(f"[serve-bench] {msg}", file=sys.stderr, flush=True)


def sandbox_tools() -> dict[str, ToolConfig]:
    return {t.name: t for t in load_config("sandbox").tools}


def _abs_pythonpath() -> str:
    """This process's PYTHONPATH with absolute entries: Ray's workers may start in another directory."""
    return os.pathsep.join(os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)


def pixels(image: Any) -> tuple[str, tuple[int, int], bytes]:
    return image.mode, image.size, image.tobytes()


def run_agent(config: Any, prompt: str, seed: int) -> tuple[list[tuple[str, str | None, bool]], dict[str, Any]]:
    """One agent run in memory: (step type, tool, ok) per step, and the images by path."""
    agent = Agent(config.model_copy(update={"seed": seed}))
    store = MemoryStore()
    agent.run(prompt, store=store)
    steps = [(s.type, s.call.tool if isinstance(s, ToolStep) else None,
              s.result.ok if isinstance(s, ToolStep) else True) for s in store.steps]
    return steps, {k: pixels(v) for k, v in store.images.items()}


# ----------------------------------------------------------------------------------------------------


def same_as_local(n_prompts: int, n_runs: int) -> dict[str, Any]:
    cfgs = sandbox_tools()
    served = ["alder", "birch", "cedar", "dogwood", "elm", "fern", "heath", "checker"]
    servers = {n: ToolServer(build_tool(cfgs[n]), ServeOptions(max_queue=16)) for n in served}
    ctxs = {n: run_in_thread(s) for n, s in servers.items()}
    urls = {n: c.__enter__() for n, c in ctxs.items()}
    try:
        calls = identical = 0
        for name in SANDBOX:
            local = build_tool(cfgs[name])
            remote = build_tool(ToolConfig(name=name, backend="remote", type="generate", options={"url": urls[name]}))
            for i, prompt in enumerate(PROMPTS[:n_prompts]):
                call = ToolCall(tool=name, prompt=prompt, seed=i)
                a, b = local(call), remote(call)
                calls += 1
                identical += pixels(a.image) == pixels(b.image) and a.ground_truth == b.ground_truth
        kinds = {"fern": "edit", "heath": "inpaint", "checker": "check"}
        local_cfg = load_config(None, tools=[cfgs[n].model_dump() for n in served],
                                perf={"learn": False}, agent={"rounds": 3})
        remote_tools = [ToolConfig(name=n, backend="remote", type=kinds.get(n, "generate"),
                                   options={"url": urls[n]}).model_dump() for n in served]
        remote_cfg = local_cfg.model_copy(update={"tools": [ToolConfig.model_validate(t) for t in remote_tools]})
        runs = runs_identical = 0
        steps_total = 0
        for i, prompt in enumerate(PROMPTS[:n_runs]):
            a = run_agent(local_cfg, prompt, seed=i)
            b = run_agent(remote_cfg, prompt, seed=i)
            runs += 1
            steps_total += len(a[0])
            runs_identical += a == b
        stats = {n: s.stats.as_dict()["completed"] for n, s in servers.items()}
    finally:
        for c in ctxs.values():
            c.__exit__(None, None, None)
    return {"calls": calls, "calls_identical": identical, "runs": runs, "runs_identical": runs_identical,
            "run_steps": steps_total, "served_calls": stats}


# ----------------------------------------------------------------------------------------------------


def slow_yaml(root: Path, delay_s: float) -> Path:
    path = root / "slow.yaml"
    path.write_text(yaml.safe_dump({"tools": [
        {"name": "slow", "backend": "limner.serve.testing:SlowPainter", "type": "painter", "cost": 1.0,
         "options": {"profile": "p-alder", "delay_s": delay_s},
         "scores": {"color": 0.72, "texture": 0.7, "spatial_2d": 0.5, "spatial_3d": 0.33, "non_spatial": 0.94,
                    "numeracy": 0.81, "text": 0.33}},
        {"name": "checker", "backend": "sandbox", "type": "checker"}]}))
    return path


def agent_config(urls: list[str], *, rounds: int = 1, extra_tools: list[dict[str, Any]] | None = None,
                 retries: int = 2, scores: dict[str, float] | None = None) -> Any:
    remote = {"name": "slow", "backend": "remote", "type": "generate",
              "options": {"url": urls, "retries": retries, "timeout_s": 60, "connect_timeout_s": 2,
                          "spec_timeout_s": 2}}
    if scores:
        remote["scores"] = scores
    tools = [remote, *(extra_tools or []), {"name": "checker", "backend": "sandbox", "type": "checker"}]
    return load_config(None, tools=tools, perf={"learn": False}, agent={"rounds": rounds, "tool_timeout_s": 120})


def concurrent_runs(config: Any, prompts: list[str]) -> tuple[float, list[Any]]:
    """`len(prompts)` agent runs at once, one thread and one agent each; wall seconds and the results."""
    barrier = threading.Barrier(len(prompts))

    def one(i: int) -> Any:
        agent = Agent(config.model_copy(update={"seed": i}))
        _ = [t.spec for t in agent.tools.values()]
        barrier.wait()
        t0 = time.perf_counter()
        store = MemoryStore()
        agent.run(prompts[i], store=store)
        steps = [(s.type, s.call.tool if isinstance(s, ToolStep) else None,
                  s.result.ok if isinstance(s, ToolStep) else True) for s in store.steps]
        remote = [s.result.meta.get("remote") or {} for s in store.steps if isinstance(s, ToolStep)]
        return t0, time.perf_counter(), steps, {k: pixels(v) for k, v in store.images.items()}, remote

    with ThreadPoolExecutor(len(prompts)) as pool:
        results = list(pool.map(one, range(len(prompts))))
    wall = max(r[1] for r in results) - min(r[0] for r in results)
    return wall, results


def local_reference(prompts: list[str], slow_cfg: Path) -> list[Any]:
    """The same runs with the painter in this process (no sleep): what every remote run must reproduce."""
    tools = [t.model_dump() for t in load_config(slow_cfg).tools]
    tools[0]["options"]["delay_s"] = 0.0
    cfg = load_config(None, tools=tools, perf={"learn": False}, agent={"rounds": 1, "tool_timeout_s": 120})
    return [run_agent(cfg, p, seed=i) for i, p in enumerate(prompts)]


def replicas_part(root: Path, delay_s: float, n_runs: int) -> tuple[dict[str, Any], dict[str, Any]]:
    cfg_path = slow_yaml(root, delay_s)
    log("starting two `limner serve` replicas")
    reps = [spawn_server("slow", cfg_path, args=["--max-queue", "16"], log_dir=root) for _ in range(2)]
    try:
        wait_ready(reps, timeout_s=120)
        urls = [r.url for r in reps]
        prompts = (EASY * 2)[:8]
        ref = local_reference(prompts, cfg_path)
        concurrent_runs(agent_config(urls[:1]), prompts[:2])  # warm-up (imports, artwork, sockets)
        tp: dict[str, Any] = {"delay_s": delay_s, "runs": len(prompts)}
        for n in (1, 2):
            wall, res = concurrent_runs(agent_config(urls[:n]), prompts)
            tp[f"replicas_{n}_s"] = round(wall, 3)
            tp[f"replicas_{n}_identical"] = sum((r[2], r[3]) == (ref[i][0], ref[i][1]) for i, r in enumerate(res))
            log(f"{n} replica(s): {wall:.2f} s")
            tp[f"replicas_{n}_servers"] = len({m.get("server") for r in res for m in r[4]})
        tp["ratio"] = round(tp["replicas_1_s"] / tp["replicas_2_s"], 3)

        # failover: both replicas busy, one SIGKILLed mid-call
        fo_prompts = prompts[:n_runs]
        config = agent_config(urls, retries=2)
        before = json.loads(_get(f"{urls[0]}/stats"))["completed"]
        before_killed = json.loads(_get(f"{urls[1]}/stats"))["completed"]
        at_kill: dict[str, Any] = {}

        def kill() -> None:
            at_kill.update(json.loads(_get(f"{urls[1]}/stats")))
            reps[1].kill()

        killer = threading.Timer(0.5 + delay_s / 2, kill)
        killer.start()
        wall, res = concurrent_runs(config, fo_prompts)
        killer.join()
        fo: dict[str, Any] = {
            "runs": len(fo_prompts), "killed": reps[1].url,
            "killed_replica_in_flight": at_kill.get("in_system"),
            "killed_replica_completed": at_kill.get("completed", 0) - before_killed,
            "completed": sum(1 for r in res if r[2] and r[2][-1][0] == "final"),
            "failed_tool_steps": sum(1 for r in res for (t, _tool, ok) in r[2] if t == "tool" and not ok),
            "retried_calls": sum(1 for r in res for m in r[4] if m.get("tries", 1) > 1),
            "steps_identical": sum((r[2], r[3]) == (ref[i][0], ref[i][1]) for i, r in enumerate(res)),
            "wall_s": round(wall, 3),
        }
        survivor = json.loads(_get(f"{urls[0]}/stats"))
        fo["survivor_completed"] = survivor["completed"] - before
        # the replica is gone: a remote painter with only that replica fails after its retries, and the Worker
        # moves to the next-ranked tool (a local painter)
        top = {"color": 0.99, "texture": 0.99, "spatial_2d": 0.99, "spatial_3d": 0.99, "non_spatial": 0.99,
               "numeracy": 0.99, "text": 0.99}
        low = {k: 0.1 for k in top}
        dead_cfg = agent_config([urls[1]], retries=1, scores=top, extra_tools=[
            {"name": "birch", "backend": "sandbox", "type": "painter", "options": {"profile": "p-birch"}, "scores": low}])
        t0 = time.perf_counter()
        agent = Agent(dead_cfg)
        store = MemoryStore()
        final = agent.run("a red apple", store=store)
        attempts = [{"tool": s.call.tool, "ok": s.result.ok, "error": (s.result.error or "")[:120]}
                    for s in store.steps if isinstance(s, ToolStep)]
        fo["next_ranked"] = {"attempts": attempts, "final_by": attempts[-1]["tool"] if attempts else None,
                             "final_passed": final.passed, "wall_s": round(time.perf_counter() - t0, 3)}
        log(f"failover: {fo}")
    finally:
        for r in reps:
            r.stop()
    return tp, fo


def _get(url: str) -> str:
    import urllib.request  # noqa: PLC0415

    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


# ----------------------------------------------------------------------------------------------------


def ray_part(root: Path, delay_s: float, tp: dict[str, Any]) -> dict[str, Any]:
    try:
        import ray  # noqa: PLC0415
        from ray import serve  # noqa: PLC0415
    except ImportError as e:
        return {"skipped": f"Ray Serve not installed: {e}"}
    from limner.eval.executor import RayExecutor  # noqa: PLC0415
    from limner.serve.batch import run_batch  # noqa: PLC0415
    from limner.serve.ray import DeploymentOptions, deploy  # noqa: PLC0415
    from limner.serve.testing import free_port  # noqa: PLC0415

    cfg_path = slow_yaml(root, delay_s)
    tool_cfg = load_config(cfg_path).tools[0]
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "PYTHONPATH": _abs_pythonpath()}})
    port = free_port()
    try:
        prompts = (EASY * 2)[:8]
        ref = local_reference(prompts, cfg_path)
        for n in (1, 2):
            url = deploy(tool_cfg, DeploymentOptions(num_replicas=n, num_cpus=0),
                         port=port, name="slow")
            if n == 1:
                out["start_s"] = round(time.perf_counter() - t0, 2)
                concurrent_runs(agent_config([url]), prompts[:2])  # warm-up
            else:
                _wait_replicas(serve, "slow", 2)
            wall, res = concurrent_runs(agent_config([url]), prompts)
            out[f"replicas_{n}_s"] = round(wall, 3)
            out[f"replicas_{n}_identical"] = sum((r[2], r[3]) == (ref[i][0], ref[i][1]) for i, r in enumerate(res))
            out[f"replicas_{n}_servers"] = len({m.get("server") for r in res for m in r[4]})
            log(f"Ray Serve {n} replica(s): {wall:.2f} s")
        out["ratio"] = round(out["replicas_1_s"] / out["replicas_2_s"], 3)
        # the agent batch runner: the same 8 prompts as Ray tasks, each run against the Ray Serve URL
        config = agent_config([url])
        t1 = time.perf_counter()
        results = sorted(run_batch(prompts, config, executor=RayExecutor(), seed=None), key=lambda r: r.index)
        out["ray_batch"] = {"runs": len(results), "ok": sum(r.status == "ok" for r in results),
                            "wall_s": round(time.perf_counter() - t1, 3),
                            "errors": [r.error for r in results if r.error][:3]}
        log(f"ray batch: {out['ray_batch']}")
        serve.shutdown()
    finally:
        ray.shutdown()
    return out


def _wait_replicas(serve: Any, app: str, n: int, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = serve.status().applications.get(app)
        if status is not None:
            deps = list(status.deployments.values())
            if deps and all(d.status == "HEALTHY" for d in deps) and sum(
                    d.replica_states.get("RUNNING", 0) for d in deps) >= n:
                return
        time.sleep(0.2)
    raise RuntimeError(f"Ray Serve did not reach {n} replicas")


# ----------------------------------------------------------------------------------------------------


def backpressure(clients: int, max_queue: int, delay_s: float) -> dict[str, Any]:
    from limner.serve.testing import SlowPainter  # noqa: PLC0415

    server = ToolServer(SlowPainter("alder", profile="p-alder", delay_s=delay_s),
                        ServeOptions(max_queue=max_queue, concurrency=1))
    local = build_tool(sandbox_tools()["alder"])
    with run_in_thread(server) as url:
        remote = build_tool(ToolConfig(name="alder", backend="remote", type="generate",
                                       options={"url": url, "max_wait_s": 120}))
        _ = remote.spec
        barrier = threading.Barrier(clients)

        def one(i: int) -> bool:
            call = ToolCall(tool="alder", prompt=EASY[i % len(EASY)], seed=i)
            barrier.wait()
            res = remote(call)
            return pixels(res.image) == pixels(local(call).image) and res.meta["remote"]["waited_s"] >= 0

        t0 = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            ok = list(pool.map(one, range(clients)))
        wall = time.perf_counter() - t0
        srv = server.stats.as_dict()
    return {"clients": clients, "max_queue": max_queue, "delay_s": delay_s, "wall_s": round(wall, 3),
            "client": dict(remote.stats), "server": {k: srv[k] for k in ("received", "accepted", "rejected",
                                                                          "completed", "failed", "timed_out")},
            "images_correct": sum(ok), "dropped": clients - srv["completed"]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--quick", action="store_true", help="fewer prompts; no Ray")
    ap.add_argument("--delay", type=float, default=1.0, help="seconds the slow painter sleeps per call")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="keep the servers' logs and configs here")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    t0 = time.perf_counter()
    metrics: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) if args.out is None else args.out
        root.mkdir(parents=True, exist_ok=True)
        log("same as local")
        metrics["same_as_local"] = same_as_local(3 if args.quick else 10, 2 if args.quick else 6)
        log(f"{metrics['same_as_local']}")
        metrics["throughput"], metrics["failover"] = replicas_part(root, args.delay, 4)
        log("back-pressure")
        metrics["backpressure"] = backpressure(12, 2, 0.3)
        log(f"{metrics['backpressure']}")
        if not (args.quick or args.no_ray):
            log("Ray Serve")
            metrics["throughput"]["ray_serve"] = ray_part(root, args.delay, metrics["throughput"])
    try:
        import ray  # noqa: PLC0415

        ray_version = ray.__version__
    except ImportError:
        ray_version = None
    out = {"benchmark": "serve", "simulated": True,
           "config": {"quick": args.quick, "delay_s": args.delay, "host": "127.0.0.1"},
           "env": {"python": platform.python_version(), "limner": limner.__version__, "ray": ray_version,
                   "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)},
           "metrics": metrics, "wall_s": round(time.perf_counter() - t0, 2)}
    if args.json:
        print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
