"""Injected tool faults through the real CLI: each fault in a painter and in an editor that the router ranks
first, so every generation or repair meets it and the agent's fallback must carry the run.

`run_fault(fault, where, tmp)` runs one `limner generate` in this process (typer's CliRunner: same code as
the command line, minus the interpreter start) and returns what happened: faults injected (from the tool's
log), whether the run survived (finished, final image written and readable, every injected fault recorded
as a failed tool step or judged by the checker, no traceback) and why not.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from typer.testing import CliRunner

from limner.cli import app
from limner.types import EvaluationStep, ToolStep, parse_step
from reliability.killer import compare, env_with, kill_points, kill_resume

#: The faulty tool outranks every other of its kind: it is always tried first.
_TOP = {"color": 0.99, "texture": 0.99, "spatial_2d": 0.99, "spatial_3d": 0.99, "non_spatial": 0.99,
        "numeracy": 0.99, "text": 0.99}
_TOP_EDIT = {"add": 0.99, "remove": 0.99, "replace": 0.99, "attribute": 0.99, "action": 0.99}

#: A prompt the sandbox reads fully, that the painters rarely draw right at once: repairs happen.
PROMPT = "two red apples to the left of a blue cup"
_LOW = {k: 0.2 for k in _TOP}
_LOW_EDIT = {k: 0.2 for k in _TOP_EDIT}
#: The agent's time-out in these runs (a cold sandbox painter takes ~0.5 s); the `hang` fault sleeps past it.
TOOL_TIMEOUT_S = 2.0


def fault_config(path: Path, fault: str, where: str, log: Path, times: int | None = None) -> Path:
    """A config whose painter (`where='generate'`) or editor (`where='edit'`) ranked first injects `fault`.
    Written as JSON (YAML's subset); the static router keeps the declared ranking for the whole run."""
    opts = {"fault": fault, "log": str(log), "hang_s": TOOL_TIMEOUT_S * 2, **({"times": times} if times else {})}

    def tool(name: str, kind: str, profile: str, scores: dict[str, float], faulty: bool) -> dict[str, Any]:
        if faulty:
            cls = "FaultyPainter" if kind == "painter" else "FaultyEditor"
            return {"name": name, "backend": f"reliability.faults:{cls}", "scores": scores,
                    "options": {"profile": profile, **opts}}
        return {"name": name, "backend": "sandbox", "type": kind, "scores": scores, "options": {"profile": profile}}

    tools = [
        tool("faulty" if where == "generate" else "cedar", "painter", "p-cedar", _TOP, where == "generate"),
        tool("alder", "painter", "p-alder", _LOW, False),
        tool("faulty-ed" if where == "edit" else "gorse", "editor", "e-gorse", _TOP_EDIT, where == "edit"),
        tool("fern", "editor", "e-fern", _LOW_EDIT, False),
        {"name": "checker", "backend": "sandbox", "type": "checker"},
    ]
    config = {"agent": {"rounds": 3, "tool_timeout_s": TOOL_TIMEOUT_S, "max_fallbacks": 3},
              "perf": {"learn": False, "updater": "static"}, "tools": tools}
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    return path


@dataclass
class FaultOutcome:
    fault: str
    where: str
    injected: int = 0
    survived: bool = False
    exit_code: int | None = None
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"fault": self.fault, "where": self.where, "injected": self.injected, "survived": self.survived,
                "exit_code": self.exit_code, "problems": self.problems}


def run_fault(fault: str, where: str, tmp: Path, *, seed: int = 1, prompt: str = PROMPT) -> FaultOutcome:
    """One `limner generate` whose first-ranked painter or editor injects `fault`; see the module doc."""
    tmp.mkdir(parents=True, exist_ok=True)
    log = tmp / "faults.log"
    cfg = fault_config(tmp / "faulty.yaml", fault, where, log)
    out = tmp / "runs"
    res = CliRunner().invoke(app, ["generate", prompt, "--out", str(out), "--seed", str(seed), "--run-id", "f",
                                   "--config", str(cfg), "--json"])
    outcome = FaultOutcome(fault, where, exit_code=res.exit_code)
    outcome.injected = len(log.read_text().splitlines()) if log.exists() else 0
    outcome.problems = judge_run(out / "f", res)
    outcome.survived = not outcome.problems
    return outcome


def judge_run(run: Path, res: Any) -> list[str]:
    """What is wrong with a run that met faults: [] when it finished cleanly and recorded every fault."""
    problems: list[str] = []
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        problems.append(f"exception escaped: {type(res.exception).__name__}: {res.exception}")
    if "Traceback" in res.output:
        problems.append("a traceback was printed")
    if res.exit_code not in (0, 1):
        problems.append(f"exit code {res.exit_code}: {res.output.strip().splitlines()[-1:]}")
    manifest = json.loads((run / "manifest.json").read_text()) if (run / "manifest.json").is_file() else {}
    if manifest.get("status") != "done":
        problems.append(f"manifest status {manifest.get('status')!r}: {manifest.get('error')}")
    final = run / "final.png"
    if not final.is_file():
        problems.append("no final.png")
    else:
        try:
            with Image.open(final) as im:
                im.load()
                if min(im.size) < 8 or im.size[0] * im.size[1] > 40_000_000:
                    problems.append(f"final.png is {im.size}")
        except OSError as e:
            problems.append(f"final.png unreadable: {e}")
    traj = run / "trajectory.jsonl"
    steps = [parse_step(line) for line in traj.read_text().splitlines()] if traj.is_file() else []
    faulty = [s for s in steps if isinstance(s, ToolStep) and s.call.tool.startswith("faulty")]
    for s in faulty:  # every answer of the faulty tool is either a recorded failure or judged before use
        if s.result.ok and not any(isinstance(e, EvaluationStep) and e.image_path == s.result.image_path for e in steps):
            problems.append(f"step {s.index}: an answer of {s.call.tool} was used without being judged")
    if steps and res.exit_code == 0 and res.stdout.strip():
        summary = json.loads(res.stdout.strip().splitlines()[-1])
        last_eval = [e for e in steps if isinstance(e, EvaluationStep) and e.image_path == steps[-1].image_path]
        if summary.get("passed") and not (last_eval and last_eval[-1].verdict.passed):
            problems.append("reported passed without a passing verdict of the final image")
    return problems


def faults_env() -> dict[str, str]:
    """Environment for a subprocess that loads the fault tools (tests/ on PYTHONPATH)."""
    tests = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": tests + os.pathsep + os.environ.get("PYTHONPATH", "")}


# ----------------------------------------------------------------------------------------------------
# The flaky endpoint, through the LLM brain and the OpenAI-compatible image tool
# ----------------------------------------------------------------------------------------------------

#: The environment variable the flaky runs read their key from, and the key: a secret that must never leak.
KEY_ENV = "LIMNER_RELIABILITY_KEY"
SECRET = "sk-test-SECRET-7f3a9c1e5b2d4f6a8c0e"


def flaky_config(path: Path, url: str, where: str, *, timeout_s: float = 1.5) -> Path:
    """`where='brain'`: the LLM brain on the flaky endpoint (sandbox tools); `where='images'`: an
    OpenAI-compatible image generator on it, ranked first, with the sandbox painters behind it."""
    sandbox = [
        {"name": "cedar", "backend": "sandbox", "type": "painter", "scores": _LOW, "options": {"profile": "p-cedar"}},
        {"name": "gorse", "backend": "sandbox", "type": "editor", "scores": _TOP_EDIT, "options": {"profile": "e-gorse"}},
        {"name": "checker", "backend": "sandbox", "type": "checker"},
    ]
    config: dict[str, Any] = {"agent": {"rounds": 2, "tool_timeout_s": 30}, "perf": {"learn": False, "updater": "static"},
                              "tools": sandbox}
    if where == "brain":
        config["brain"] = {"kind": "llm", "base_url": url, "model": "flaky-model", "api_key_env": KEY_ENV,
                           "max_retries": 1, "timeout_s": timeout_s}
    else:
        config["tools"] = [{"name": "remote", "backend": "openai", "type": "images", "scores": _TOP,
                            "options": {"base_url": url, "model": "flaky-image", "api_key_env": KEY_ENV,
                                        "max_retries": 1, "timeout_s": timeout_s}}, *sandbox]
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    return path


def run_flaky(endpoint: Any, url: str, script: list[str], where: str, tmp: Path, *,
              prompt: str = "a cat") -> FaultOutcome:
    """One `limner generate` against the flaky endpoint playing `script`; see `run_fault`."""
    tmp.mkdir(parents=True, exist_ok=True)
    cfg = flaky_config(tmp / "flaky.json", url, where)
    endpoint.load(script)
    res = CliRunner().invoke(app, ["generate", prompt, "--out", str(tmp / "runs"), "--run-id", "f",
                                   "--config", str(cfg), "--json"], env={KEY_ENV: SECRET})
    outcome = FaultOutcome("+".join(dict.fromkeys(script)), where, exit_code=res.exit_code)
    outcome.injected = endpoint.injected
    outcome.problems = judge_run(tmp / "runs" / "f", res)
    outcome.survived = not outcome.problems
    (tmp / "output.txt").write_text(res.output, encoding="utf-8")  # scanned for secrets
    return outcome


# ----------------------------------------------------------------------------------------------------
# Killed and resumed `limner generate`
# ----------------------------------------------------------------------------------------------------

PLUGINS = str(Path(__file__).resolve().parents[1] / "plugins")
TESTS = str(Path(__file__).resolve().parents[1])
#: A prompt whose runs take several rounds (generation, repairs, retries): many kill points.
KILL_PROMPT = "three purple clocks above a green bus"
_TIMING = ("started_at", "duration_s")


def step_key(line: str) -> str:
    """A trajectory line without its timings: equal keys mean the same step with the same content."""
    step = json.loads(line)
    for k in _TIMING:
        step.pop(k, None)
    if isinstance(step.get("result"), dict):
        step["result"].pop("duration_s", None)
    return json.dumps(step, sort_keys=True)


def trajectory_items(run: Path) -> Callable[[], list[str]]:
    """`done_items` of a generate run: its durable trajectory steps (complete lines only)."""
    def read() -> list[str]:
        path = run / "trajectory.jsonl"
        if not path.is_file():
            return []
        lines = path.read_bytes().split(b"\n")[:-1]  # the part after the last newline is torn
        return [step_key(line.decode("utf-8")) for line in lines if line.strip()]
    return read


def kill_config(path: Path, calls: Path, delay_s: float = 0.25) -> Path:
    config = {"agent": {"rounds": 3}, "perf": {"learn": False}, "tools": [
        {"name": "slowpoke", "backend": "slow_backend:SlowPainter", "scores": _TOP,
         "options": {"delay_s": delay_s, "calls_file": str(calls), "profile": "p-birch"}},
        {"name": "alder", "backend": "sandbox", "type": "painter", "scores": _LOW, "options": {"profile": "p-alder"}},
        {"name": "fern", "backend": "sandbox", "type": "editor", "options": {"profile": "e-fern"}},
        {"name": "gorse", "backend": "sandbox", "type": "editor", "options": {"profile": "e-gorse"}},
        {"name": "checker", "backend": "sandbox", "type": "checker"}]}
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def generate_kill_resume(tmp: Path, *, kills: int, seed: int, rng: random.Random,
                         prompt: str = KILL_PROMPT) -> dict[str, Any]:
    """An uninterrupted `limner generate` and the same run killed `kills` times and resumed (`--resume`):
    items lost / duplicated, whether the resumed run equals the uninterrupted one (steps without timings, and
    final.png byte for byte), and how many painter calls were redone (work in flight when a kill landed)."""
    env = env_with([PLUGINS, TESTS])
    results: dict[str, Any] = {}
    runs: dict[str, Path] = {}
    for arm in ("reference", "killed"):
        root = tmp / arm
        root.mkdir(parents=True, exist_ok=True)
        cfg = kill_config(root / "slow.json", root / "calls.txt")
        base = [sys.executable, "-m", "limner.cli", "generate", prompt, "--out", str(root / "runs"), "--config", str(cfg),
                "--seed", str(seed), "--run-id", "r"]
        run = runs[arm] = root / "runs" / "r"

        def command(base: list[str] = base, run: Path = run) -> list[str]:
            return [*base, "--resume"] if run.is_dir() else base

        if arm == "reference":
            res = subprocess.run(base, env=env, capture_output=True, text=True, timeout=120, check=False)
            results["reference_rc"] = res.returncode
            continue
        points = kill_points(len(trajectory_items(runs["reference"])()), kills, rng)
        report = kill_resume(command, trajectory_items(run), kills=kills, rng=rng, env=env, points=points)
        results.update(kills=report.kills, exited_early=report.exited_early, items_at_kill=report.items_at_kill,
                       final_rc=report.final_rc, seconds=round(report.seconds, 2))
        if report.final_rc != 0:
            results["final_stderr"] = report.final_stderr
    ref_items, got = trajectory_items(runs["reference"])(), trajectory_items(runs["killed"])()
    results.update(compare(ref_items, got))
    indices = [json.loads(k)["index"] for k in got]
    results["indices_contiguous"] = indices == list(range(len(indices)))
    finals = [(runs[a] / "final.png").read_bytes() if (runs[a] / "final.png").is_file() else b"" for a in runs]
    results["final_identical"] = bool(finals[0]) and finals[0] == finals[1]
    results["identical"] = results["final_identical"] and results["lost"] == 0 and results["extra"] == 0
    calls = [line for line in (tmp / "killed" / "calls.txt").read_text().splitlines()] if (tmp / "killed" / "calls.txt").exists() else []
    ref_calls = (tmp / "reference" / "calls.txt").read_text().splitlines() if (tmp / "reference" / "calls.txt").exists() else []
    results["painter_calls"] = {"reference": len(ref_calls), "killed": len(calls), "redone": len(calls) - len(ref_calls)}
    return results


def eval_kill_resume(tmp: Path, *, kills: int, rng: random.Random, prompts: int = 12) -> dict[str, Any]:
    """`limner eval geneval` (a slow painter, `prompts` GenEval prompts, 1 image each) uninterrupted, and the same
    command SIGKILLed `kills` times at points spread over the batch and run again (the same command resumes):
    items (the per-image records) lost / duplicated, images finished before a kill drawn again (painter calls
    beyond one per image of the reference), and whether records' verdicts and image bytes equal the reference."""
    from limner.eval import load_records  # noqa: PLC0415 - scenarios are imported by tests that need no eval

    env = env_with([PLUGINS, TESTS])
    meta_src = Path(__file__).resolve().parents[2] / "src/limner/resources/geneval_metadata_dev.jsonl"
    results: dict[str, Any] = {}
    roots: dict[str, Path] = {}
    for arm in ("reference", "killed"):
        root = tmp / arm
        root.mkdir(parents=True, exist_ok=True)
        meta = root / "meta.jsonl"
        meta.write_text("\n".join(meta_src.read_text(encoding="utf-8").splitlines()[::23][:prompts]) + "\n",
                        encoding="utf-8")
        cfg = kill_config(root / "slow.json", root / "calls.txt", delay_s=0.15)
        out = roots[arm] = root / "eval"
        cmd = [sys.executable, "-m", "limner.cli", "eval", "geneval", "--metadata", str(meta), "--out", str(out),
               "--generator", "slowpoke", "-n", "1", "--config", str(cfg), "--json"]

        def items(out: Path = out) -> list[str]:
            return sorted(load_records(out)) if (out / "limner").is_dir() else []

        if arm == "reference":
            res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
            results["reference_rc"] = res.returncode
            continue
        report = kill_resume(lambda cmd=cmd: cmd, items, kills=kills, rng=rng, env=env, timeout_s=300,
                             points=kill_points(prompts, kills, rng))
        results.update(kills=report.kills, exited_early=report.exited_early, items_at_kill=report.items_at_kill,
                       final_rc=report.final_rc, seconds=round(report.seconds, 2))
    ref, got = load_records(roots["reference"]), load_records(roots["killed"])
    results.update(compare(sorted(ref), sorted(got)))
    same = all(k in got and (ref[k].passed, ref[k].score, ref[k].failed) == (got[k].passed, got[k].score, got[k].failed)
               and (roots["reference"] / ref[k].image).read_bytes() == (roots["killed"] / got[k].image).read_bytes()
               for k in ref if ref[k].image)
    results["identical"] = same and results["lost"] == 0 and results["extra"] == 0
    calls = [tmp / a / "calls.txt" for a in ("reference", "killed")]
    n_calls = [len(c.read_text().splitlines()) if c.exists() else 0 for c in calls]
    results["painter_calls"] = {"reference": n_calls[0], "killed": n_calls[1], "redone": n_calls[1] - n_calls[0]}
    return results


DATA_PROMPTS = ("a red apple", "two blue cups", "a cat to the left of a dog", "a green car", "three yellow bananas",
                "a white clock above a black chair")


def _data_signature(out: Path) -> dict[str, Any]:
    """What two builds of one dataset must share: cluster records without their times, every image's bytes, and
    the Parquet table's rows; plus the pair keys as written (a pair written twice is a duplicate)."""
    import hashlib  # noqa: PLC0415 - local to this scenario

    import pyarrow.parquet as pq  # noqa: PLC0415 - the train extra; only this scenario needs it

    from limner.data import load_records  # noqa: PLC0415 - scenarios are imported by tests that need no data

    records = {k: r.model_dump(mode="json", exclude={"time_s"}) for k, r in load_records(out).items()}
    images = {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
              for p in sorted((out / "images").rglob("*.png"))}
    table = pq.read_table(out / "pairs.parquet").to_pylist() if (out / "pairs.parquet").is_file() else []
    return {"records": records, "images": images, "table": table,
            "pair_keys": [f"{r['cluster_id']}/{r['winner_id']}/{r['loser_id']}" for r in table]}


def data_kill_resume(tmp: Path, *, kills: int, rng: random.Random, prompts: int = 4) -> dict[str, Any]:
    """`limner data clusters` (a few sandbox prompts, 2 negatives each) uninterrupted, and the same command
    SIGKILLed `kills` times at points spread over the build and run again (the same command resumes): clusters
    lost / duplicated, pairs written twice, and whether records (without times), images and the Parquet table
    equal the reference's."""
    env = env_with([PLUGINS, TESTS])
    env["LIMNER_PERF__LEARN"] = "false"
    results: dict[str, Any] = {}
    outs: dict[str, Path] = {}
    for arm in ("reference", "killed"):
        root = tmp / arm
        root.mkdir(parents=True, exist_ok=True)
        (root / "prompts.txt").write_text("\n".join(DATA_PROMPTS[:prompts]) + "\n", encoding="utf-8")
        out = outs[arm] = root / "dataset"
        cmd = [sys.executable, "-m", "limner.cli", "data", "clusters", "-p", str(root / "prompts.txt"), "-o", str(out),
               "-n", "2", "--attempts", "3", "--rounds", "2", "--seed", "5"]

        def items(out: Path = out) -> list[str]:
            return sorted(p.stem for p in (out / "clusters").glob("*.json")) if (out / "clusters").is_dir() else []

        if arm == "reference":
            res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
            results["reference_rc"] = res.returncode
            continue
        report = kill_resume(lambda cmd=cmd: cmd, items, kills=kills, rng=rng, env=env, timeout_s=300,
                             points=kill_points(prompts, kills, rng), max_delay_s=2.0)
        results.update(kills=report.kills, exited_early=report.exited_early, items_at_kill=report.items_at_kill,
                       final_rc=report.final_rc, seconds=round(report.seconds, 2))
        if report.final_rc != 0:
            results["final_stderr"] = report.final_stderr[-2000:]
    ref, got = _data_signature(outs["reference"]), _data_signature(outs["killed"])
    results.update(compare(sorted(ref["records"]), sorted(got["records"])))
    results["pairs_duplicated"] = len(got["pair_keys"]) - len(set(got["pair_keys"]))
    results["duplicated"] += results["pairs_duplicated"]
    results["pairs"] = len(got["table"])
    results["identical"] = (ref["records"] == got["records"] and ref["images"] == got["images"]
                            and ref["table"] == got["table"] and results["lost"] == 0 and results["duplicated"] == 0
                            and results["extra"] == 0)
    return results
