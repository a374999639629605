"""Benchmark the agent: prompt reading, and GenEval-style accuracy over rounds (SIMULATED sandbox world).

    python benchmarks/agent.py --json                 # full: all GenEval dev prompts, all CompBench prompts
    python benchmarks/agent.py --json --quick         # 36 prompts (6 per GenEval tag), for smoke tests
    python benchmarks/agent.py --metadata FILE.jsonl --compbench-dir DIR --config sandbox

Metrics (shared/BENCHMARKS.md):
- analyst_exact: share of metadata prompts whose Scene matches include/exclude (classes, counts, colours,
  positions); compbench_*: every `*.txt` prompt list in --compbench-dir parsed, errors, fully supported share
  (the train lists: `*_train.txt`; in a folder with none, every list without a `val`/`test` part in its name).
- compbench_heldout_*: the same on the held-out `*_val.txt` lists (T2I-CompBench's val split; the reader's word
  lists were grown from the train prompts only); compbench_heldout_gap: train minus held-out fully supported,
  overall and per category.
- compbench_world_supported: the share the world also draws and judges whole (`checker.unjudged_parts`);
  compbench_accuracy: truth accuracy per category of the best single painter and of the agent at 3 rounds
  on a mixed sample of the world-supported prompts (`--compbench-per-category`).
- accuracy: GenEval-style (a prompt counts when every check passes), judged twice: by the pixel-only
  checker and by the world's ground truth (what the tool really drew, saved beside each image).
  `best_single`: every painter one-shot on every prompt, the best painter by checker accuracy.
  `rounds`: the agent's best image after 1, 2, 3, 5 rounds. One 5-round run per prompt is recorded and the
  best image among the evaluations of rounds < R is read off its trajectory: with the rule-based brain a
  run's first R rounds do not depend on the round budget except that the R-th round's reflection says
  "stop", so this equals a separate R-round run (and the performance router learns from one sequence).
- overhead_fraction: 1 − (time inside tools: painters, editors, checker) / (agent wall time), over the
  agent runs, which write every step to a real run directory (RunStore, fsync'd). The loop writes through
  a background thread; `overhead_store_wait_fraction` is the share of wall time spent waiting for those
  writes (mostly the final flush), `storage_background_s` the writer's own time (overlapped with tools).

The judging scene comes from the metadata itself (not from the agent's own reading), so a misreading
would count against the agent.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pydantic_ai
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/edit.py, beside this script
from edit import edit_metrics

from limner.agent import Agent, MemoryStore
from limner.agent.analyst import geneval_mismatch
from limner.config import load_config
from limner.eval import scene_from_geneval
from limner.eval.runner import truth_passed as eval_truth_passed
from limner.llm.rule_brain import plural
from limner.profiling import profile_tools
from limner.reading.prompt import parse_prompt
from limner.runs import RunStore
from limner.tools.registry import ToolRegistry
from limner.tools.sandbox.checker import unjudged_parts
from limner.tools.sandbox.world import random_scene
from limner.types import AnalysisStep, EvaluationStep, ToolCall, ToolStep
from limner.vocab import GENEVAL_CLASSES, GENEVAL_COLORS

ROUNDS = (1, 2, 3, 5)


REPO = Path(__file__).resolve().parents[1]
FREEFORM = REPO / "tests/data/freeform_prompts.txt"

def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def analyst_metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok, misses = 0, []
    for r in rows:
        why = geneval_mismatch(parse_prompt(r["prompt"]), r)
        ok += why is None
        if why:
            misses.append({"prompt": r["prompt"], "why": why})
    return {"analyst_exact": ok / max(1, len(rows)), "analyst_prompts": len(rows), "analyst_misses": misses[:20]}


Split = Literal["train", "heldout"]
UNKNOWN_NOUN = re.compile(r"object '([^']+)' \(not in the vocabulary\)")


def compbench_lists(directory: Path, split: Split = "train") -> dict[str, Path]:
    """The prompt lists of `directory` for one split, by category.

    `split="heldout"`: the `<category>_val.txt` lists (T2I-CompBench's held-out prompts). `split="train"`:
    the `<category>_train.txt` lists; in a folder with none, every `*.txt` list whose name has no `val` or
    `test` part (`mine.txt`, not `color_val_seen.txt`). So the train figures do not move when held-out
    lists sit beside them, and upstream's folder (with `color.txt`, train and val together) reads as its
    train lists only."""
    files = sorted(Path(p) for p in glob.glob(str(directory / "*.txt")))
    if split == "heldout":
        return {f.stem.removesuffix("_val"): f for f in files if f.stem.endswith("_val")}
    named = {f.stem.removesuffix("_train"): f for f in files if f.stem.endswith("_train")}
    return named or {f.stem: f for f in files if not {"val", "test"} & set(f.stem.split("_"))}


def compbench_metrics(directory: Path, split: Split = "train") -> dict[str, Any]:
    """Reading (`fully_supported`: the reader names nothing unsupported) and the world's support
    (`world_supported`: besides, the sandbox draws every object and its checker judges every part:
    `checker.unjudged_parts` is empty, backgrounds and styles included) of the prompt lists of one split
    (`compbench_lists`). Keys are `compbench_*` for the train split, `compbench_heldout_*` for the held-out
    one; an empty dict when the directory has no list of that split."""
    lists = compbench_lists(directory, split)
    if not lists:
        return {}
    key = "compbench_" if split == "train" else "compbench_heldout_"
    total, errors, full, world = 0, 0, 0, 0
    by_cat: dict[str, dict[str, Any]] = {}
    unsupported: Counter[str] = Counter()
    nouns: Counter[str] = Counter()  # words read as an object the vocabulary does not know
    for cat, f in lists.items():
        n = e = fs = ws = 0
        for line in f.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            n += 1
            try:
                scene = parse_prompt(line.strip())
            except Exception as ex:  # noqa: BLE001 - counted: the metric is "parses without error"
                e += 1
                log(f"parse error on {line!r}: {ex}")
                continue
            fs += not scene.unsupported
            ws += not unjudged_parts(scene)
            unsupported.update(u.split(" ")[0] for u in scene.unsupported)
            nouns.update(m.group(1) for u in scene.unsupported if (m := UNKNOWN_NOUN.match(u)))
        by_cat[cat] = {"prompts": n, "parse_errors": e, "fully_supported": fs / max(1, n),
                       "world_supported": ws / max(1, n)}
        total, errors, full, world = total + n, errors + e, full + fs, world + ws
    return {f"{key}prompts": total, f"{key}parse_errors": errors,
            f"{key}fully_supported": full / max(1, total), f"{key}world_supported": world / max(1, total),
            f"{key}by_category": by_cat, f"{key}unsupported_kinds": dict(unsupported.most_common()),
            f"{key}unknown_nouns": {"distinct": len(nouns), "top": dict(nouns.most_common(20))}}


def compbench_gap(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """Train minus held-out fully-supported share, overall and per category present in both splits
    (positive: the held-out prompts are read less well). None without both splits."""
    if "compbench_fully_supported" not in metrics or "compbench_heldout_fully_supported" not in metrics:
        return None
    train, held = metrics["compbench_by_category"], metrics["compbench_heldout_by_category"]
    return {"overall": metrics["compbench_fully_supported"] - metrics["compbench_heldout_fully_supported"],
            "by_category": {c: train[c]["fully_supported"] - held[c]["fully_supported"]
                            for c in train if c in held}}


def compbench_sample(directory: Path, per_category: int, seed: int) -> dict[str, list[str]]:
    """Up to `per_category` prompts of each train list that the world draws and judges whole
    (`unjudged_parts` empty), drawn with `seed`: the mixed sample of `compbench_accuracy`."""
    rng = np.random.default_rng([seed, 23])
    out: dict[str, list[str]] = {}
    for cat, f in compbench_lists(directory, "train").items():
        lines = [ln.strip() for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip()]
        ok = [p for p in lines if not unjudged_parts(parse_prompt(p))]
        picked = rng.permutation(len(ok))[:per_category]
        out[cat] = [ok[int(i)] for i in picked]
    return out


def compbench_accuracy(sample: dict[str, list[str]], config: Any, seed: int,
                       matrices: dict[str, Any] | None, rounds: int = 3) -> dict[str, Any]:
    """Truth accuracy per category of every painter one-shot (the best by overall truth beside the agent)
    and of the agent at `rounds` rounds, judged against the reader's scene of each prompt by the world's
    ground truth (SIMULATED). A category with no prompt the world supports is reported with 0 prompts."""
    agent = Agent(config, matrices=matrices)
    painters = [n for n, t in agent.tools.items() if t.kind == "generate"]
    single: dict[str, dict[str, int]] = {p: {} for p in painters}
    agent_ok: dict[str, int] = {}
    for cat, prompts in sample.items():
        for prompt in prompts:
            scene = parse_prompt(prompt)
            for p in painters:
                res = agent.tools[p](ToolCall(tool=p, prompt=prompt, seed=seed, width=config.width,
                                              height=config.height))
                single[p][cat] = single[p].get(cat, 0) + truth_passed(scene, res.ground_truth)
            store = MemoryStore()
            final = agent.run(prompt, store=store, rounds=rounds)
            truth = store.truths.get(final.image_path.removesuffix(".png") + ".truth.json")
            agent_ok[cat] = agent_ok.get(cat, 0) + truth_passed(scene, truth)
        log(f"compbench_accuracy: {cat} done ({len(prompts)} prompts)")
    total = sum(len(v) for v in sample.values())
    best = max(painters, key=lambda p: sum(single[p].values()))
    out: dict[str, Any] = {
        cat: {"best_single": single[best].get(cat, 0) / len(ps) if ps else None,
              "agent_3": agent_ok.get(cat, 0) / len(ps) if ps else None, "prompts": len(ps)}
        for cat, ps in sample.items()
    }
    out["overall"] = {"best_single": sum(single[best].values()) / max(1, total),
                      "agent_3": sum(agent_ok.values()) / max(1, total), "prompts": total,
                      "best_single_painter": best,
                      "by_painter": {p: sum(v.values()) / max(1, total) for p, v in single.items()}}
    return out


def truth_passed(scene: Any, truth: dict[str, Any] | None) -> bool:
    """No truth (an image nobody drew here) counts as not passed."""
    return bool(eval_truth_passed(scene, truth))


def profile_painters(config: Any, n_scenes: int, seed: int) -> tuple[Any, list[str]]:
    """PerfGuard seeds its matrix from benchmark scores; here the painters are profiled with limner.perf on
    random sandbox scenes drawn with a different seed (disjoint from the evaluation prompts)."""


    registry = ToolRegistry.from_config(config)
    painters = [t for t in (registry.get(n) for n in registry.names) if t.kind == "generate"]
    rng = np.random.default_rng(10_000 + seed)
    prompts = [random_scene(rng).prompt for _ in range(n_scenes)]
    matrix, _ = profile_tools(painters, prompts, seeds=[10_000 + seed], width=config.width, height=config.height,
                              progress=log)
    return matrix, prompts


def accuracy_metrics(rows: list[dict[str, Any]], config: Any, seed: int, matrices: dict[str, Any] | None) -> dict[str, Any]:
    agent = Agent(config, matrices=matrices)
    painters = [n for n, t in agent.tools.items() if t.kind == "generate"]

    # One-shot painters.
    single: dict[str, dict[str, int]] = {p: {"checker": 0, "truth": 0} for p in painters}
    for i, row in enumerate(rows):
        scene = scene_from_geneval(row)
        for p in painters:
            res = agent.tools[p](ToolCall(tool=p, prompt=row["prompt"], seed=seed, width=config.width,
                                          height=config.height))
            verdict = agent.evaluator(res.image, scene).verdict
            single[p]["checker"] += verdict.passed
            single[p]["truth"] += truth_passed(scene, res.ground_truth)
        if i % 10 == 0:
            log(f"single painters: {i + 1}/{len(rows)}")
    n = max(1, len(rows))
    by_painter = {p: {"checker": v["checker"] / n, "truth": v["truth"] / n} for p, v in single.items()}
    best_name = max(by_painter, key=lambda p: (by_painter[p]["checker"], by_painter[p]["truth"]))

    # The agent, 5 rounds, best image after R rounds read off the trajectory.
    at: dict[int, dict[str, int]] = {r: {"checker": 0, "truth": 0} for r in ROUNDS}
    verdicts: dict[int, list[tuple[bool, bool]]] = {r: [] for r in ROUNDS}  # (checker, truth) per prompt
    wall = tool = 0.0
    storage = [0.0]
    store_wait = 0.0
    rounds_used: Counter[int] = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i, row in enumerate(rows):
            scene = scene_from_geneval(row)
            store = RunStore.create(tmp, prompt=row["prompt"], run_id=f"p{i:04d}", seed=seed, simulated=True)
            _time_storage(store, storage)
            t0 = time.perf_counter()
            agent.run(row["prompt"], store=store, rounds=max(ROUNDS))
            wall += time.perf_counter() - t0
            tool += agent.tool_time_s
            store_wait += agent.store_wait_s
            steps = store.completed_steps()
            store.close()
            evals = [s for s in steps if isinstance(s, EvaluationStep)]
            rounds_used[max(s.round for s in evals) + 1] += 1
            for r in ROUNDS:
                # Judge the image the agent would have returned after r rounds (its best so far) by the
                # metadata scene: checker verdict recomputed on it, and the truth saved beside it.
                upto = [s for s in evals if s.round < r]
                best = max(upto, key=lambda s: s.verdict.score)  # first of equal scores, as the loop keeps
                root = Path(tmp) / f"p{i:04d}"

                with Image.open(root / best.image_path) as im:
                    image = im.convert("RGB")
                said = agent.evaluator(image, scene).verdict.passed
                tpath = root / best.image_path.replace(".png", ".truth.json")
                real = truth_passed(scene, json.loads(tpath.read_text()) if tpath.is_file() else None)
                at[r]["checker"] += said
                at[r]["truth"] += real
                verdicts[r].append((said, real))
            if i % 10 == 0:
                log(f"agent: {i + 1}/{len(rows)}  acc@3 so far checker={at[3]['checker'] / (i + 1):.3f}")
    return {
        "accuracy": {
            "best_single": {"painter": best_name, **by_painter[best_name]},
            "by_painter": by_painter,
            "rounds": {str(r): {"checker": v["checker"] / n, "truth": v["truth"] / n} for r, v in at.items()},
        },
        "disagreement": disagreement(verdicts),
        "prompts": len(rows),
        "overhead_fraction": (wall - tool) / wall if wall else 0.0,
        "overhead_store_wait_fraction": store_wait / wall if wall else 0.0,
        "storage_background_s": storage[0],
        "agent_wall_s": wall,
        "agent_tool_s": tool,
        "rounds_used": {str(k): v for k, v in sorted(rounds_used.items())},
    }


def disagreement(verdicts: dict[int, list[tuple[bool, bool]]]) -> dict[str, Any]:
    """Per round budget: share of prompts whose checker verdict (every check passes) differs from the truth
    verdict on the image the agent would return; split into prompts only the checker passes and prompts
    only the truth passes (shares of all prompts). Two equal overall rates can hide many disagreements."""
    out: dict[str, Any] = {"rounds": {}, "checker_only_pass": {}, "truth_only_pass": {}}
    for r, pairs in sorted(verdicts.items()):
        n = max(1, len(pairs))
        out["rounds"][str(r)] = sum(c != t for c, t in pairs) / n
        out["checker_only_pass"][str(r)] = sum(c and not t for c, t in pairs) / n
        out["truth_only_pass"][str(r)] = sum(t and not c for c, t in pairs) / n
    return out


HARD_RELATIONS = {"left of": "to the left of", "right of": "to the right of", "above": "above", "below": "below"}
NUMBER_WORDS = {2: "two", 3: "three"}


def hard_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """Compositional prompts harder than GenEval's (which have at most two attributes per prompt): a
    counted, coloured group placed relative to another coloured object, in GenEval's metadata format. The
    README's example comes first; the rest are drawn with `seed` from GenEval's classes and colours, and a
    prompt is kept only if the analyst reads it exactly (so this measures the loop, not the reader)."""


    def row(a: str, n_a: int, c_a: str, rel: str, b: str, c_b: str) -> dict[str, Any]:
        prompt = f"{NUMBER_WORDS[n_a]} {c_a} {plural(a)} {HARD_RELATIONS[rel]} a {c_b} {b}"
        return {"tag": "hard", "prompt": prompt,
                "include": [{"class": a, "count": n_a, "color": c_a, "position": [rel, 1]},
                            {"class": b, "count": 1, "color": c_b}]}

    rows = [row("apple", 2, "red", "left of", "cup", "blue")]
    rng = np.random.default_rng([seed, 77])
    while len(rows) < n:
        a, b = (str(x) for x in rng.choice(GENEVAL_CLASSES, size=2, replace=False))
        c_a, c_b = (str(x) for x in rng.choice(GENEVAL_COLORS, size=2, replace=False))
        r = row(a, int(rng.integers(2, 4)), c_a, str(rng.choice(list(HARD_RELATIONS))), b, c_b)
        if geneval_mismatch(parse_prompt(r["prompt"]), r) is None and r["prompt"] not in {x["prompt"] for x in rows}:
            rows.append(r)
    return rows[:n]


HARD_ARMS = {  # arm -> (agent.verify_repairs, perf.explore)
    "verified": (True, False),  # the default loop
    "unverified": (False, False),  # repairs judged once per round (ablation)
    "explore": (True, True),  # generations run top_m + random_n painters and keep the best
}


def hard_prompt_metrics(rows: list[dict[str, Any]], config: Any, seeds: list[int], rounds: int,
                        matrices: dict[str, Any] | None, arms: list[str]) -> dict[str, Any]:
    """Pass rate after `rounds` rounds for each arm (HARD_ARMS), same prompts and seeds; tool calls and
    evaluations per run say what each costs."""

    out: dict[str, Any] = {}
    for arm in arms:
        verify, explore = HARD_ARMS[arm]
        cfg = config.model_copy(update={"agent": config.agent.model_copy(update={"verify_repairs": verify}),
                                        "perf": config.perf.model_copy(update={"explore": explore})})
        agent = Agent(cfg, matrices=matrices)
        passed = truth = tool_calls = evaluations = 0
        t0 = time.perf_counter()
        for row in rows:
            scene = scene_from_geneval(row)
            for s in seeds:
                agent.config = cfg.model_copy(update={"seed": s})
                store = MemoryStore()
                final = agent.run(row["prompt"], store=store, rounds=rounds)
                passed += final.passed
                truth += truth_passed(scene, store.truths.get(final.image_path.removesuffix(".png") + ".truth.json"))
                tool_calls += sum(isinstance(x, ToolStep) for x in store.steps)
                evaluations += sum(isinstance(x, EvaluationStep) for x in store.steps)
        runs = max(1, len(rows) * len(seeds))
        out[arm] = {"checker": passed / runs, "truth": truth / runs, "tool_calls_per_run": tool_calls / runs,
                    "evaluations_per_run": evaluations / runs, "wall_s": time.perf_counter() - t0}
        log(f"hard prompts, {arm}: pass {passed / runs:.3f} (truth {truth / runs:.3f})")
    return {"prompts": len(rows), "seeds": seeds, "rounds": rounds, "examples": [r["prompt"] for r in rows[:5]],
            "pass_rate": out}


def freeform_metrics(path: Path, config: Any, seed: int, rounds: int = 3) -> dict[str, Any]:
    """The agent on free-form prompts the reader cannot fully read (one a line): how many runs end reported
    as passed, how many of those with parts left unchecked or with an empty scene (both must be 0: a verdict
    never claims more than it checked), and how many stopped with every check passing but coverage short."""
    prompts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    agent = Agent(config.model_copy(update={"seed": seed}))
    passed = with_unsupported = empty = checks_only = 0
    coverage: list[float] = []
    for prompt in prompts:
        store = MemoryStore()
        final = agent.run(prompt, store=store, rounds=rounds)
        scene = next(x.scene for x in store.steps if isinstance(x, AnalysisStep))
        verdict = next((x.verdict for x in reversed(store.steps)
                        if isinstance(x, EvaluationStep) and x.image_path == final.image_path), None)
        passed += final.passed
        with_unsupported += final.passed and (verdict is None or bool(verdict.unsupported))
        empty += final.passed and not scene.elements
        checks_only += verdict is not None and verdict.checks_passed and not final.passed
        coverage.append(verdict.coverage if verdict is not None else 0.0)
    log(f"freeform: {passed}/{len(prompts)} passed; {checks_only} stopped with every check passing, parts unchecked")
    return {"prompts": len(prompts), "passed": passed, "passed_with_unsupported": with_unsupported,
            "empty_scene_passed": empty, "checks_passed_not_covered": checks_only, "rounds": rounds,
            "mean_coverage": sum(coverage) / max(1, len(coverage)), "file": str(path)}


def _time_storage(store: Any, total: list[float]) -> None:
    """Accumulate the time the run store spends writing (steps with fsync, PNGs, truth, manifest)."""
    for name in ("append_step", "save_image", "save_truth", "finish"):
        method = getattr(store, name)

        def timed(*a: Any, _m: Any = method, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return _m(*a, **k)
            finally:
                total[0] += time.perf_counter() - t0

        setattr(store, name, timed)


def quick_rows(rows: list[dict[str, Any]], per_tag: int = 6) -> list[dict[str, Any]]:
    by_tag: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if len(by_tag[r["tag"]]) < per_tag:
            by_tag[r["tag"]].append(r)
    return [r for rs in by_tag.values() for r in rs]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object on the last line of stdout")
    ap.add_argument("--quick", action="store_true", help="6 prompts per GenEval tag for the accuracy part")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="directory to also write agent.json into")
    ap.add_argument("--metadata", type=Path, default=REPO / "src/limner/resources/geneval_metadata_dev.jsonl",
                    help="GenEval-format metadata JSONL (default: the shipped dev subset, MIT)")
    ap.add_argument("--compbench-dir", type=Path, default=REPO / "benchmarks/data/t2i-compbench",
                    help="directory of *.txt prompt lists (default: the shipped T2I-CompBench lists, MIT); "
                         "*_val.txt lists are the held-out split (compbench_heldout_*), *_train.txt the train split "
                         "(a folder with no *_train.txt: every list without 'val'/'test' in its name)")
    ap.add_argument("--config", default="sandbox", help="config preset or YAML file (tools, brain, agent)")
    ap.add_argument("--limit", type=int, default=None, help="at most this many prompts for the accuracy part")
    ap.add_argument("--profile-scenes", type=int, default=None,
                    help="profile the painters on this many random sandbox scenes first (0: routers start from "
                         "the perf store or the prior); default 60, 30 with --quick")
    ap.add_argument("--skip-accuracy", action="store_true", help="only the prompt-reading metrics")
    ap.add_argument("--hard", type=int, default=None,
                    help="hard compositional prompts for the verified-repair ablation (default 24, quick 6; 0: skip)")
    ap.add_argument("--hard-seeds", type=int, default=None, help="seeds per hard prompt (default 5, quick 2)")
    ap.add_argument("--hard-arms", default="verified,unverified,explore",
                    help=f"comma-separated arms of the hard-prompt comparison, of {', '.join(HARD_ARMS)}")
    ap.add_argument("--only-hard", action="store_true", help="skip prompt reading and GenEval accuracy")
    ap.add_argument("--edit-per-kind", type=int, default=None,
                    help="edit benchmark items per instruction kind (benchmarks/edit.py; default 8, quick 1; 0: skip)")
    ap.add_argument("--compbench-per-category", type=int, default=None,
                    help="prompts per T2I-CompBench category the world supports for compbench_accuracy "
                         "(default 12, quick 3; 0: skip)")
    ap.add_argument("--freeform", type=Path, default=None,
                    help="free-form prompts, one a line, run through the agent at 3 rounds (default: the bundled "
                         "tests/data/freeform_prompts.txt, run with the accuracy part; given: run even with "
                         "--skip-accuracy)")
    ap.add_argument("--no-freeform", action="store_true", help="skip the free-form prompt part")
    args = ap.parse_args(argv)


    try:
        import torch  # noqa: PLC0415 - optional (the `diffusers` extra): the benchmark runs without it

        torch.set_num_threads(1)
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    config = load_config(args.config, seed=args.seed)
    if args.profile_scenes is None:
        args.profile_scenes = 30 if args.quick else 60
    if not args.metadata.is_file():
        ap.error(f"--metadata {args.metadata} not found")
    rows = [json.loads(line) for line in args.metadata.read_text(encoding="utf-8").splitlines() if line.strip()]
    metrics: dict[str, Any] = {}
    if not args.only_hard:
        metrics.update(analyst_metrics(rows))
        if args.compbench_dir.is_dir():
            metrics.update(compbench_metrics(args.compbench_dir))
            metrics.update(compbench_metrics(args.compbench_dir, "heldout"))
            if (gap := compbench_gap(metrics)) is not None:
                metrics["compbench_heldout_gap"] = gap
    acc_rows = quick_rows(rows) if args.quick else rows
    if args.limit:
        acc_rows = acc_rows[: args.limit]
    if not args.skip_accuracy:
        matrices = None
        if args.profile_scenes > 0:
            t0 = time.perf_counter()
            matrix, _ = profile_painters(config, args.profile_scenes, args.seed)
            matrices = {"generate": matrix}
            metrics["profile"] = {"scenes": args.profile_scenes, "seconds": time.perf_counter() - t0,
                                  "matrix": {t: matrix.column(t) for t in matrix.tools}}
        if not args.only_hard:
            metrics.update(accuracy_metrics(acc_rows, config, args.seed, matrices))
        n_cb = args.compbench_per_category if args.compbench_per_category is not None else (3 if args.quick else 12)
        if n_cb > 0 and not args.only_hard and args.compbench_dir.is_dir():
            metrics["compbench_accuracy"] = compbench_accuracy(
                compbench_sample(args.compbench_dir, n_cb, args.seed), config, args.seed, matrices)
        n_hard = args.hard if args.hard is not None else (6 if args.quick else 24)
        if n_hard > 0:
            n_seeds = args.hard_seeds or (2 if args.quick else 5)
            metrics["hard_prompts"] = hard_prompt_metrics(
                hard_rows(n_hard, args.seed), config, [args.seed + i for i in range(n_seeds)], 3, matrices,
                [a for a in args.hard_arms.split(",") if a],
            )
    n_edit = args.edit_per_kind if args.edit_per_kind is not None else (1 if args.quick else 8)
    if n_edit > 0 and not args.only_hard:
        metrics["edit"] = edit_metrics(config, n_edit, args.seed, log=log)
    if not args.no_freeform and (args.freeform is not None or not (args.skip_accuracy or args.only_hard)):
        metrics["freeform"] = freeform_metrics(args.freeform or FREEFORM, config, args.seed)
    best = metrics.get("accuracy", {}).get("best_single", {}).get("checker")
    at3 = metrics.get("accuracy", {}).get("rounds", {}).get("3", {})
    if best is not None:
        metrics["gain_at_3_rounds"] = at3["checker"] - best
        metrics["checker_vs_truth_at_3"] = abs(at3["checker"] - at3["truth"])

    out = {
        "benchmark": "agent",
        "simulated": True,
        "config": {"preset": args.config, "seed": args.seed, "quick": args.quick, "rounds": list(ROUNDS),
                   "brain": config.brain.kind, "updater": config.perf.updater, "learn": config.perf.learn,
                   "metadata": str(args.metadata), "accuracy_prompts": len(acc_rows),
                   "profile_scenes": args.profile_scenes,
                   "threads": {"torch": 1}},
        "env": {"python": platform.python_version(), "torch": torch_version, "pydantic_ai": pydantic_ai.__version__,
                "cpu_count": os.cpu_count()},
        "metrics": metrics,
    }
    text = json.dumps(out)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "agent.json").write_text(text + "\n")
    if args.json:
        print(text)
    else:
        print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
