"""AgentComp's data orchestra: one verified positive per prompt, contrastive negatives made by editing it.

    job = ClusterJob.build(config, negatives=10)
    summary = build_clusters(job, prompts, out, executor=make_executor(2))   # resumable
    write_dataset(out)                                                     # pairs.parquet + card

One work item is one **cluster** (a prompt and its seed). A worker (`run_cluster`, module-level so that local
processes and Ray tasks can ship it) does, for one prompt:

1. **Positive.** The prompt is read into a Scene; a scene with unsupported parts can never be verified
   (coverage incomplete), so it is recorded as `no_positive` with the parts named, without drawing. Else the
   agent loop generates and repairs; the result is judged by the checker: kept only when every check passes
   **and** coverage is complete. Otherwise `no_positive` with the failed checks.
2. **Negatives.** Perturbations of the scene (`limner.data.perturb`) are tried in order until `negatives` are
   kept (at most `attempts` tried). Each is carried out by **editing the positive** with the agent's routed
   edit loop (`Agent.run(image=, instruction=, source=)`: editors and inpainters ranked by the performance
   matrix, each edit verified and judged on preservation of what it was not asked to change), one atomic
   edit after the other. The edited image is then judged twice by the checker: against the perturbed scene
   (must pass everything, coverage complete) and against the positive's scene (must fail exactly the
   perturbed checks and pass all others). A discarded negative keeps its reason.
3. **Pair filter.** Every ordered pair (a, b) of the cluster's members: b is a valid negative of a when the
   checker, judging b's image against a's scene, fails at least one check and only checks a's scene
   states differently from b's (`perturb.diff_targets`). Base pairs (positive vs its negatives) were judged
   in step 2; the others are judged on the part of a's scene that differs from b's (every element of the
   classes involved, and the text elements when a text differs, so the checker assigns detections exactly
   as on the whole scene); the checks a's and b's scenes state alike are b's own, which passed.
4. **Truth** (sandbox only, benchmark-only): every image's world truth rides through the edits
   (`params["_truth_in"]`), and each judgement is repeated with `grade_truth` — recorded, never used to
   keep or drop anything.

Results (a JSON record and the PNG bytes) travel back to the caller, which writes the images and then the
record atomically; a cluster is done when its record is on disk (`load_records`). So a killed build loses only
what was in flight, and a re-run redoes nothing finished. Routing does not learn during a build (matrices
frozen at the start), and every seed is derived from (seed, cluster, negative, edit), so a resumed or
parallel build writes exactly the records of a plain one.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from limner.agent.evaluator import Evaluator
from limner.agent.loop import Agent
from limner.config import LimnerConfig
from limner.data.perturb import (
    Perturbation,
    apply_edits,
    candidates,
    diff_targets,
    exact_failures,
    intended,
    scene_distance,
    scene_prompt,
)
from limner.data.prompts import PromptItem
from limner.eval.executor import Executor, LocalExecutor
from limner.eval.protocol import json_digest
from limner.files import atomic_write_bytes, atomic_write_json, truth_path_of
from limner.llm.rule_brain import edit_target
from limner.perf.matrix import PerformanceMatrix
from limner.perf.persistence import load_matrices
from limner.runs import MemoryStore
from limner.tools.registry import ToolRegistry
from limner.tools.sandbox.world import WorldTruth, grade_truth
from limner.types import Scene, ToolStep, Verdict

__all__ = [
    "BuildSummary",
    "ClusterJob",
    "ClusterRecord",
    "DataError",
    "Member",
    "build_clusters",
    "cluster_key",
    "load_records",
    "run_cluster",
]

RECORDS = "clusters"  # one JSON record per cluster
IMAGES = "images"
JOB_FILE = "job.json"


class DataError(RuntimeError):
    """The build cannot start or continue (a folder holding another job); one line."""


class Member(BaseModel):
    """One image of a cluster: the positive or a kept negative."""

    model_config = ConfigDict(extra="forbid")

    id: str  # "pos", "neg-00", ...
    prompt: str
    scene: dict[str, Any]
    image: str  # path relative to the output folder
    seed: int
    tools: list[str] = Field(default_factory=list)
    kind: str = "positive"
    perturbations: list[dict[str, Any]] = Field(default_factory=list)
    distance: int = 0
    verdict: dict[str, Any] = Field(default_factory=dict, description="the checker on this image vs its own scene")
    vs_positive: dict[str, Any] | None = Field(default=None, description="the checker vs the positive's scene")
    truth: dict[str, Any] | None = Field(default=None, description="sandbox: grade_truth re-check (SIMULATED)")


class Discarded(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    perturbations: list[dict[str, Any]]
    reason: str
    tools: list[str] = Field(default_factory=list)


class PairJudgement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    winner: str
    loser: str
    base: bool
    valid: bool
    distance: int
    failed: list[str] = Field(default_factory=list)
    reason: str = ""
    truth_valid: bool | None = None


class ClusterRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    cluster_id: str
    index: int
    prompt: str
    tag: str
    seed: int
    status: Literal["ok", "no_positive", "error"]
    reason: str | None = None
    members: list[Member] = Field(default_factory=list)
    discarded: list[Discarded] = Field(default_factory=list)
    pairs: list[PairJudgement] = Field(default_factory=list)
    attempted: int = 0
    time_s: float = 0.0


#: Perturbations tried per negative wanted (`ClusterJob.attempts`, `--attempts`): a scene with overlapping
#: objects still loses about half its edits (in docs/data.md's 32-prompt run three clusters used all 30
#: tries and kept 8, 8 and 5). Tries cost only where negatives are hard to make: a cluster stops at
#: `negatives` kept.
ATTEMPTS_PER_NEGATIVE = 3


class ClusterJob(BaseModel):
    """Everything a worker needs, picklable and JSON-able; its digest names the build (resume checks it)."""

    model_config = ConfigDict(extra="forbid")

    config: dict[str, Any]
    negatives: int = 10
    attempts: int = ATTEMPTS_PER_NEGATIVE * 10
    rounds: int = 3
    edit_rounds: int = 1
    pair_filter: bool = True
    matrices: dict[str, dict[str, Any]] | None = None

    @classmethod
    def build(cls, config: LimnerConfig, *, negatives: int = 10, attempts: int | None = None,
              rounds: int | None = None, edit_rounds: int = 1, pair_filter: bool = True) -> ClusterJob:
        """The job of a build; `attempts` (perturbations tried at most per cluster) defaults to
        ATTEMPTS_PER_NEGATIVE × negatives."""
        if negatives < 1:
            raise ValueError(f"negatives must be at least 1, got {negatives}")
        if attempts is not None and attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {attempts}")
        # Frozen routing (as in an evaluation): what a cluster gets must not depend on which clusters a
        # worker built before it.
        config = config.model_copy(update={"perf": config.perf.model_copy(update={"learn": False})})
        found = load_matrices(config.perf_store_path)
        return cls(config=config.model_dump(mode="json", exclude={"out_dir"}), negatives=negatives,
                   attempts=attempts if attempts is not None else ATTEMPTS_PER_NEGATIVE * negatives,
                   rounds=rounds or config.agent.rounds, edit_rounds=edit_rounds, pair_filter=pair_filter,
                   matrices={k: m.to_dict() for k, m in sorted(found.items())})

    def digest(self) -> str:
        return json_digest(self.model_dump(mode="json"))


def cluster_id(prompt: str, seed: int) -> str:
    return hashlib.sha256(f"{prompt}\x00{seed}".encode()).hexdigest()[:12]


def cluster_key(item: PromptItem, seed: int) -> str:
    """A cluster's key is its id, a digest of (prompt, seed): the same prompt built in two lists (or two
    orders) is the same cluster, and records sort the same way whatever the list."""
    return cluster_id(item.text, seed)


def derived_seed(*parts: Any) -> int:
    text = ":".join(str(p) for p in parts)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "little") & 0x7FFFFFFF


# ----------------------------------------------------------------------------------------------------
# The worker side
# ----------------------------------------------------------------------------------------------------


def _checks(v: Verdict) -> list[tuple[str, str, bool]]:
    return [(c.target, c.kind, c.passed) for c in v.checks if c.kind != "global"]


def _failed(v: Verdict) -> list[str]:
    return [f"{c.target} {c.kind}" for c in v.checks if not c.passed and c.kind != "global"]


def _summary(v: Verdict) -> dict[str, Any]:
    return {"passed": v.passed, "score": round(v.score, 6), "coverage": round(v.coverage, 6),
            "failed": _failed(v), "unsupported": list(v.unsupported)}


def _truth_checks(scene: Scene, truth: dict[str, Any] | None) -> list[tuple[str, str, bool]] | None:
    if truth is None:
        return None
    return [(c.target, c.kind, c.passed) for c in grade_truth(scene, WorldTruth.from_json(truth))]


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _subscene(a: Scene, targets: set[str]) -> Scene:
    """The part of `a` the pair filter re-judges: every element of a class involved in `targets` (the checker
    shares a class's detections among its elements), every text element when a text is involved (OCR reads
    for the texts asked), and the relations among those elements."""
    rel_ends = {x for r in a.relations if r.id in targets for x in (r.subject, r.object)}
    involved = {e.cls for e in a.elements if e.id in targets or e.id in rel_ends}
    texts = any(e.text for e in a.elements if e.id in targets)
    kept = [e for e in a.elements if e.cls in involved or (texts and e.text)]
    ids = {e.id for e in kept}
    return Scene(prompt=a.prompt, elements=kept,
                 relations=[r for r in a.relations if r.subject in ids and r.object in ids])


class _Worker:
    """What a process builds once per job and reuses for every cluster it is given."""

    def __init__(self, job: ClusterJob) -> None:
        self.job = job
        self.config = LimnerConfig.model_validate(job.config)
        self.tools = ToolRegistry.from_config(self.config).by_name()
        matrices = {k: PerformanceMatrix.from_dict(v) for k, v in (job.matrices or {}).items()}
        self.agent = Agent(self.config, tools=self.tools, matrices=matrices)
        self.judge = Evaluator(self.agent.checker, lam=self.config.agent.lam)  # no brain opinion: checks only

    def _edit(self, image: Image.Image, truth: dict[str, Any] | None, instruction: str, source: str,
              seed: int) -> tuple[Image.Image | None, dict[str, Any] | None, list[str], str]:
        """One atomic edit through the agent's routed edit loop: (image or None, truth, tools, note)."""
        self.agent.config = self.config.model_copy(update={"seed": seed})
        store = MemoryStore()
        if truth is not None:
            store.truths["images/input.truth.json"] = truth
        final = self.agent.run(edit_target(instruction), store=store, rounds=self.job.edit_rounds, image=image,
                               instruction=instruction, source=source or None)
        tools = [s.call.tool for s in store.steps if isinstance(s, ToolStep) and s.result.image_path == final.image_path]
        if final.image_path == "images/input.png":
            return None, None, tools, final.reasoning
        return store.images[final.image_path], store.truths.get(truth_path_of(final.image_path)), tools, ""

    def run(self, item: PromptItem, key: str) -> tuple[ClusterRecord, dict[str, bytes]]:
        t0 = time.perf_counter()
        seed = int(self.config.seed)
        base = {"key": key, "cluster_id": cluster_id(item.text, seed), "index": item.index, "prompt": item.text,
                "tag": item.tag, "seed": seed}
        scene = (Scene.model_validate(item.scene) if item.scene is not None  # the benchmark's own statement
                 else self.agent.analyst(item.text).scene)
        if scene.unsupported or not scene.elements:
            why = ("coverage incomplete: the reader cannot check " + "; ".join(scene.unsupported)
                   if scene.unsupported else "the prompt names nothing the checker can check (empty scene)")
            return ClusterRecord(**base, status="no_positive", reason=why, time_s=time.perf_counter() - t0), {}
        # What the checker cannot check (a class the world cannot draw, a shape) shows on a blank canvas
        # already: such a prompt can never be verified, so nothing is drawn for it.
        blank = self.judge(Image.new("RGB", (self.config.width, self.config.height), "white"), scene).verdict
        if blank.unsupported:
            return ClusterRecord(**base, status="no_positive", time_s=time.perf_counter() - t0,
                                 reason="coverage incomplete: the checker cannot check "
                                 + "; ".join(blank.unsupported)), {}
        # 1. the positive
        self.agent.config = self.config.model_copy(update={"seed": seed})
        store = MemoryStore()
        final = self.agent.run(item.text, store=store, rounds=self.job.rounds)
        image = store.images[final.image_path].convert("RGB")
        truth = store.truths.get(truth_path_of(final.image_path))
        verdict = self.judge(image, scene).verdict
        if not verdict.passed:
            why = (f"no verified positive after {self.job.rounds} rounds: "
                   + (f"failed {', '.join(_failed(verdict))}" if _failed(verdict) else
                      f"coverage {verdict.coverage:.2f} ({'; '.join(verdict.unsupported)})"))
            return ClusterRecord(**base, status="no_positive", reason=why, time_s=time.perf_counter() - t0), {}
        images: dict[str, bytes] = {}
        members: list[Member] = []
        scenes: dict[str, Scene] = {"pos": scene}
        pixels: dict[str, Image.Image] = {"pos": image}
        truths: dict[str, dict[str, Any] | None] = {"pos": truth}
        pos_tools = [s.call.tool for s in store.steps if isinstance(s, ToolStep) and s.result.ok]
        rel = f"{IMAGES}/{key}/pos.png"
        images[rel] = _png(image)
        tc = _truth_checks(scene, truth)
        members.append(Member(id="pos", prompt=item.text, scene=scene.model_dump(mode="json"), image=rel, seed=seed,
                              tools=pos_tools, verdict=_summary(verdict),
                              truth=None if tc is None else {"passes_own": all(ok for *_, ok in tc)}))
        # 2. the negatives
        rng = np.random.default_rng(derived_seed(seed, item.text, "perturb"))
        discarded: list[Discarded] = []
        pairs: list[PairJudgement] = []
        attempted = 0
        for k, pert in enumerate(candidates(scene, rng, self.job.attempts)):
            if len(members) - 1 >= self.job.negatives:
                break
            attempted += 1
            made = self._negative(item, scene, image, truth, pert, derived_seed(seed, item.text, "neg", k))
            if isinstance(made, Discarded):
                discarded.append(made)
                continue
            neg_image, neg_truth, tools, own, vs_pos, exact_note = made
            nid = f"neg-{len(members) - 1:02d}"
            rel = f"{IMAGES}/{key}/{nid}.png"
            images[rel] = _png(neg_image)
            scenes[nid], pixels[nid], truths[nid] = pert.scene, neg_image, neg_truth
            truth_rec = None
            t_own, t_pos = _truth_checks(pert.scene, neg_truth), _truth_checks(scene, neg_truth)
            if t_own is not None and t_pos is not None:
                exact, why = exact_failures(t_pos, intended(scene, pert))
                truth_rec = {"passes_own": all(ok for *_, ok in t_own), "fails_exactly": exact, "reason": why}
            members.append(Member(id=nid, prompt=scene_prompt(pert.scene), scene=pert.scene.model_dump(mode="json"),
                                  image=rel, seed=derived_seed(seed, item.text, "neg", k), tools=tools,
                                  kind=pert.kind, perturbations=pert.to_json(), distance=pert.distance,
                                  verdict=_summary(own), vs_positive={**_summary(vs_pos), "exact": exact_note},
                                  truth=truth_rec))
            pairs.append(PairJudgement(winner="pos", loser=nid, base=True, valid=True, distance=pert.distance,
                                       failed=_failed(vs_pos), reason=exact_note,
                                       truth_valid=None if truth_rec is None else
                                       truth_rec["fails_exactly"] and truth_rec["passes_own"]))
        # 3. the pair filter
        if self.job.pair_filter:
            pairs.extend(self._pair_filter(scenes, pixels, truths))
        record = ClusterRecord(**base, status="ok", members=members, discarded=discarded, pairs=pairs,
                               attempted=attempted, time_s=time.perf_counter() - t0)
        return record, images

    def _negative(self, item: PromptItem, scene: Scene, image: Image.Image, truth: dict[str, Any] | None,
                  pert: Perturbation, seed: int) -> Discarded | tuple[Any, ...]:
        current, cur_truth, tools = image, truth, []
        source = item.text
        for j, edit in enumerate(pert.edits):
            out, out_truth, used, note = self._edit(current, cur_truth, edit.instruction, source, seed + j)
            tools.extend(used)
            if out is None:
                return Discarded(kind=pert.kind, perturbations=pert.to_json(), tools=tools,
                                 reason=f"edit {edit.instruction!r} not carried out: {note}")
            current, cur_truth = out, out_truth
            partial = apply_edits(scene, pert.edits[: j + 1])
            source = scene_prompt(partial) if partial is not None else ""
        own = self.judge(current, pert.scene).verdict
        if not own.passed:
            return Discarded(kind=pert.kind, perturbations=pert.to_json(), tools=tools,
                             reason="does not show its own (perturbed) scene: "
                             + (", ".join(_failed(own)) or f"coverage {own.coverage:.2f}"))
        vs_pos = self.judge(current, scene).verdict
        exact, why = exact_failures(_checks(vs_pos), intended(scene, pert))
        if not exact:
            return Discarded(kind=pert.kind, perturbations=pert.to_json(), tools=tools,
                             reason=f"against the positive's scene: {why}")
        return current, cur_truth, tools, own, vs_pos, why

    def _pair_filter(self, scenes: dict[str, Scene], pixels: dict[str, Image.Image],
                     truths: dict[str, dict[str, Any] | None]) -> list[PairJudgement]:
        out: list[PairJudgement] = []
        ids = list(scenes)
        for a in ids:
            for b in ids:
                if a == b or a == "pos":  # (pos, neg) pairs were judged as negatives
                    continue
                sa, sb = scenes[a], scenes[b]
                targets = diff_targets(sa, sb)
                dist = scene_distance(sa, sb)
                if not targets:
                    out.append(PairJudgement(winner=a, loser=b, base=False, valid=False, distance=dist,
                                             reason=f"{b}'s scene states everything {a}'s does"))
                    continue
                sub = _subscene(sa, targets)
                v = self.judge(pixels[b], sub).verdict
                failed = [(t, k) for t, k, ok in _checks(v) if not ok]
                stray = [f"{t} {k}" for t, k in failed if t not in targets]
                valid = bool(failed) and not stray and not v.unsupported
                why = ("fails only where the scenes differ" if valid else
                       f"fails outside the difference: {', '.join(stray)}" if stray else
                       f"passes every check of {a}'s scene")
                tv = None
                tc = _truth_checks(sub, truths[b])
                if tc is not None:
                    tf = [t for t, _, ok in tc if not ok]
                    tv = bool(tf) and all(t in targets for t in tf)
                out.append(PairJudgement(winner=a, loser=b, base=False, valid=valid, distance=dist,
                                         failed=[f"{t} {k}" for t, k in failed], reason=why, truth_valid=tv))
        return out


_WORKERS: dict[str, _Worker] = {}


def run_cluster(unit: tuple[ClusterJob, PromptItem, str]) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Build one cluster (module-level so that processes and Ray can ship it). A tool's bug is recorded as
    the cluster's `error`, never hidden and never the end of a long build."""
    job, item, key = unit
    digest = job.digest()
    worker = _WORKERS.get(digest)
    if worker is None:
        worker = _WORKERS[digest] = _Worker(job)
    t0 = time.perf_counter()
    try:
        record, images = worker.run(item, key)
    except Exception as e:  # noqa: BLE001 - recorded with its reason, never dropped in silence
        seed = int(worker.config.seed)
        line = (str(e).strip().splitlines() or [type(e).__name__])[0]
        record = ClusterRecord(key=key, cluster_id=cluster_id(item.text, seed), index=item.index, prompt=item.text,
                               tag=item.tag, seed=seed, status="error", reason=f"{type(e).__name__}: {line}",
                               time_s=time.perf_counter() - t0)
        images = {}
    return record.model_dump(mode="json"), images


# ----------------------------------------------------------------------------------------------------
# The caller side: plan, resume, dispatch, write
# ----------------------------------------------------------------------------------------------------


def load_records(out: Path) -> dict[str, ClusterRecord]:
    """Every finished cluster of the folder, by key. A record whose images are gone is not finished."""
    found: dict[str, ClusterRecord] = {}
    for f in sorted((Path(out) / RECORDS).glob("*.json")):
        try:
            record = ClusterRecord.model_validate_json(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # unreadable: redone (records are written atomically, so this is outside damage)
        if any(not (Path(out) / m.image).is_file() for m in record.members):
            continue
        found[record.key] = record
    return found


@dataclass
class BuildSummary:
    out: Path
    total: int
    done_before: int
    ran: int
    ok: int
    no_positive: int
    errors: int
    executor: str
    wall_s: float


def _settle_job(job: ClusterJob, out: Path) -> None:
    path = out / JOB_FILE
    mine = {"digest": job.digest(), "job": job.model_dump(mode="json")}
    if path.is_file():
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise DataError(f"{path} is not a limner data job; use another --out") from None
        if existing.get("digest") != mine["digest"]:
            old, new = existing.get("job", {}), mine["job"]
            diffs = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise DataError(f"{out} holds a build with other settings ({', '.join(diffs) or 'job'}); "
                            "use another --out, or the same options to resume it")
        return
    atomic_write_json(path, mine)


def plan_items(prompts: list[PromptItem], seed: int) -> list[tuple[PromptItem, str]]:
    """Clusters to build, deduplicated by (prompt, seed): a repeated prompt is built once (the first)."""
    seen: set[str] = set()
    out = []
    for p in prompts:
        cid = cluster_id(p.text, seed)
        if cid in seen:
            continue
        seen.add(cid)
        out.append((p, cluster_key(p, seed)))
    return out


def build_clusters(
    job: ClusterJob, prompts: list[PromptItem], out: Path, *, executor: Executor | None = None,
    progress: Callable[[int, int, ClusterRecord], None] | None = None, limit: int | None = None,
) -> BuildSummary:
    """Build (or resume) the clusters of `prompts` into `out`. `limit` stops after that many new clusters."""
    out = Path(out)
    (out / RECORDS).mkdir(parents=True, exist_ok=True)
    _settle_job(job, out)
    seed = int(job.config.get("seed", 0))
    items = plan_items(prompts, seed)
    done = load_records(out)
    done_before = sum(key in done for _, key in items)
    units = [(job, p, key) for p, key in items if key not in done]
    if limit is not None:
        units = units[:limit]
    own = executor is None
    executor = executor or LocalExecutor(1)
    ran = ok = nopos = errors = 0
    t0 = time.perf_counter()
    try:
        for record_json, images in executor.map_unordered(run_cluster, units):
            record = ClusterRecord.model_validate(record_json)
            for rel, data in sorted(images.items()):
                atomic_write_bytes(out / rel, data)
            atomic_write_json(out / RECORDS / f"{record.key}.json", record.model_dump(mode="json"))
            ran += 1
            ok += record.status == "ok"
            nopos += record.status == "no_positive"
            errors += record.status == "error"
            if progress is not None:
                progress(done_before + ran, len(items), record)
    finally:
        if own:
            executor.close()
    return BuildSummary(out=out, total=len(items), done_before=done_before, ran=ran, ok=ok, no_positive=nopos,
                        errors=errors, executor=executor.name, wall_s=time.perf_counter() - t0)
