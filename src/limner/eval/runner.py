"""Run a benchmark: draw every image of the prompt list, judge it, write it where the benchmark expects it.

    job = EvalJob.build(suite, config, out, images_per_prompt=4, generator="alder")   # or agent=True
    summary = run_eval(job, suite, out, executor=make_executor(2))

One work item is one image: (prompt, sample j, seed + j). Workers draw and judge; the results (the PNG's
bytes and a JSON record) come back to this process, which writes the image and then its record, each
atomically. So:
- **resume**: an item is done when its record is on disk; a re-run (the same command) skips those and redoes
  only what was in flight when the run died — no finished image is drawn twice, none is lost;
- **shards** (`--shard i/n`: prompts with index % n == i) write disjoint files, into one folder or several,
  and their records merge into exactly the unsharded run's;
- the scores are a pure function of the records (`limner.eval.report`), so a resumed, sharded or parallel
  run scores byte-for-byte like a plain one.

Reproducibility comes first: routing does not learn during an evaluation (the matrices are frozen at the
start and their digest written into the protocol), and the judge is the configured checker alone (no LLM
brain's opinion): the judge scores the image against the benchmark's own statement of the prompt (GenEval's
metadata; for T2I-CompBench, the offline reader's scene, whose unread parts make an image fail).
"""

from __future__ import annotations

import datetime as _dt
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from limner.agent.evaluator import Evaluator, EvaluatorError
from limner.config import LimnerConfig
from limner.eval.executor import Executor, LocalExecutor
from limner.eval.protocol import EvalProtocol, Shard, json_digest, protocol_differences
from limner.eval.suites import CompBenchSuite, EvalPrompt, GenEvalSuite
from limner.files import atomic_write_bytes, atomic_write_json
from limner.perf.persistence import load_matrices
from limner.runs import MemoryStore
from limner.tools.base import Tool, ToolError
from limner.tools.registry import ToolRegistry, default_checker
from limner.tools.sandbox.world import WorldTruth, grade_truth
from limner.types import EvaluationStep, Scene, ToolCall, ToolStep

__all__ = ["EvalError", "EvalJob", "EvalSummary", "ItemRecord", "load_records", "protocol_files", "run_eval",
           "truth_passed"]

Suite = GenEvalSuite | CompBenchSuite
LIMNER_DIR = "limner"  # limner's own files inside an output folder (protocol, records, reports)


class EvalError(RuntimeError):
    """The evaluation cannot start or continue (a folder holding another protocol, no judge); one line."""


class ItemRecord(BaseModel):
    """What limner knows about one image of the run: where it is, the verdict, and (sandbox) the truth."""

    model_config = ConfigDict(extra="forbid")

    key: str
    prompt_index: int
    sample: int
    prompt: str
    tag: str
    seed: int
    status: Literal["ok", "error", "skipped"]
    reason: str | None = Field(default=None, description="why an item has no judged image (error, skipped)")
    image: str | None = Field(default=None, description="path relative to the output folder")
    passed: bool = False
    score: float = 0.0
    coverage: float = 0.0
    unsupported: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list, description="failed checks, 'target kind: evidence'")
    verdict: dict[str, Any] | None = None
    truth_passed: bool | None = Field(default=None, description="sandbox only: the world's ground truth (SIMULATED)")
    passed_at_round: dict[str, bool] | None = Field(default=None, description="agent: the judge on its best image after r rounds")
    rounds_used: int | None = None
    tool_calls: int | None = None
    time_s: float = 0.0


class EvalJob(BaseModel):
    """Everything a worker needs to draw and judge an item, picklable and JSON-able."""

    model_config = ConfigDict(extra="forbid")

    protocol: EvalProtocol
    config: dict[str, Any]
    generator: str | None = None
    judge: str | None = None
    matrices: dict[str, dict[str, Any]] | None = None

    @classmethod
    def build(
        cls, suite: Suite, config: LimnerConfig, *, images_per_prompt: int, generator: str | None = None,
        agent: bool = False, rounds: int | None = None, judge: str | None = None, shard: Shard | None = None,
    ) -> EvalJob:
        """The job and its protocol. Exactly one of `generator` (a configured tool of kind generate) and
        `agent` (the whole loop, `rounds` rounds)."""
        if (generator is None) == (not agent):
            raise ValueError("say what draws the images: a generator name, or the agent")
        if images_per_prompt < 1:
            raise ValueError(f"images per prompt must be at least 1, got {images_per_prompt}")
        rounds = rounds or config.agent.rounds
        # Frozen routing: an evaluation measures a fixed system; learning between items would make scores
        # depend on item order, worker count and shards.
        config = config.model_copy(update={"perf": config.perf.model_copy(update={"learn": False})})
        tools = {t.name: t for t in config.tools if t.enabled}
        registry = ToolRegistry.from_config(config)
        built = registry.by_name()
        if generator is not None:
            if generator not in tools:
                raise ValueError(f"no tool named {generator!r} in the config (tools: {', '.join(tools)})")
            if built[generator].kind != "generate":
                raise ValueError(f"{generator!r} is a tool of kind {built[generator].kind!r}, not a generator")
        checker = _pick_judge(built, judge)
        matrices = None
        if agent:
            found = load_matrices(config.perf_store_path)
            matrices = {kind: m.to_dict() for kind, m in sorted(found.items())}
        config_json = config.model_dump(mode="json", exclude={"out_dir"})
        drawing = ({"tool": tools[generator].model_dump(mode="json")} if generator is not None else
                   {"tools": [t.model_dump(mode="json") for t in tools.values()],
                    "brain": config.brain.model_dump(mode="json"), "agent": config.agent.model_dump(mode="json")})
        judge_cfg = tools.get(checker.name)
        protocol = EvalProtocol(
            benchmark=suite.benchmark, benchmark_version=suite.version, category=suite.category,
            prompt_list=suite.prompt_list(), images_per_prompt=images_per_prompt, seed=config.seed,
            width=config.width, height=config.height, mode="agent" if agent else "generator", generator=drawing,
            config_sha256=json_digest({k: config_json[k] for k in ("tools", "brain", "agent", "width", "height",
                                                                    "device") if k in config_json}),
            rounds=rounds if agent else None, rewriting=agent, learning=False,
            matrices_sha256=json_digest(matrices) if agent else None,
            judge={"tool": checker.name,
                   "config": judge_cfg.model_dump(mode="json") if judge_cfg is not None else "built-in sandbox checker",
                   "lam": config.agent.lam, "brain_opinion": False,
                   "against": "GenEval metadata" if suite.benchmark == "geneval" else "limner's offline reader"},
            simulated=all(t.backend == "sandbox" for t in tools.values()), shard=shard,
            created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        )
        if agent:
            config = config.model_copy(update={"agent": config.agent.model_copy(update={"rounds": rounds})})
        return cls(protocol=protocol, config=config.model_dump(mode="json"), generator=generator,
                   judge=judge, matrices=matrices)


def _pick_judge(tools: dict[str, Tool], judge: str | None) -> Tool:
    if judge is not None:
        if judge not in tools:
            raise ValueError(f"no tool named {judge!r} to judge with (tools: {', '.join(tools)})")
        if tools[judge].kind != "check":
            raise ValueError(f"{judge!r} is a tool of kind {tools[judge].kind!r}, not a checker")
        return tools[judge]
    checker = default_checker(tools)
    if checker is None:
        raise EvalError("no checker to judge with: add a tool of type checker (e.g. vlm_checker) to the config")
    return checker


# ----------------------------------------------------------------------------------------------------
# The worker side: one item in, (record, PNG bytes) out
# ----------------------------------------------------------------------------------------------------


class _Worker:
    """What a process builds once per job and reuses for every item it is given."""

    def __init__(self, job: EvalJob) -> None:
        from limner.agent.loop import Agent  # noqa: PLC0415 - the agent only where the job runs it
        from limner.perf.matrix import PerformanceMatrix  # noqa: PLC0415

        self.job = job
        self.config = LimnerConfig.model_validate(job.config)
        self.tools = ToolRegistry.from_config(self.config).by_name()
        self.checker = _pick_judge(self.tools, job.judge)
        self.judge = Evaluator(self.checker, lam=self.config.agent.lam)
        self.agent = None
        if job.generator is None:
            matrices = {k: PerformanceMatrix.from_dict(v) for k, v in (job.matrices or {}).items()}
            self.agent = Agent(self.config, tools=self.tools, matrices=matrices, checker=self.checker)

    def run(self, prompt: EvalPrompt, sample: int, scene: Scene) -> tuple[ItemRecord, bytes | None]:
        seed = self.job.protocol.seed + sample
        base = {"key": item_key(prompt.index, sample), "prompt_index": prompt.index, "sample": sample,
                "prompt": prompt.text, "tag": prompt.tag, "seed": seed}
        t0 = time.perf_counter()
        try:
            if self.agent is None:
                image, truth, extra = self._draw(prompt.text, seed)
            else:
                image, truth, extra = self._agent(prompt.text, seed, scene)
            verdict = self.judge(image, scene).verdict
        except (ToolError, EvaluatorError) as e:
            return ItemRecord(**base, status="error", reason=_first_line(e), time_s=time.perf_counter() - t0), None
        except Exception as e:  # noqa: BLE001 - a tool's bug must not end an overnight run; recorded, not hidden
            return ItemRecord(**base, status="error", reason=f"{type(e).__name__}: {_first_line(e)}",
                              time_s=time.perf_counter() - t0), None
        buf = io.BytesIO()
        image.save(buf, format="PNG", compress_level=1)
        record = ItemRecord(
            **base, status="ok", passed=verdict.passed, score=verdict.score, coverage=verdict.coverage,
            unsupported=list(verdict.unsupported),
            failed=[f"{c.target} {c.kind}: {c.evidence}" for c in verdict.checks if not c.passed],
            verdict=verdict.model_dump(mode="json"),
            truth_passed=truth_passed(scene, truth), time_s=time.perf_counter() - t0, **extra,
        )
        return record, buf.getvalue()

    def _draw(self, prompt: str, seed: int) -> tuple[Image.Image, dict[str, Any] | None, dict[str, Any]]:
        assert self.job.generator is not None
        tool = self.tools[self.job.generator]
        result = tool(ToolCall(tool=tool.name, prompt=prompt, seed=seed, width=self.config.width,
                               height=self.config.height))
        if result.image is None:
            raise ToolError(f"{tool.name} returned no image")
        return result.image.convert("RGB"), result.ground_truth, {}

    def _agent(self, prompt: str, seed: int, scene: Scene) -> tuple[Image.Image, dict[str, Any] | None, dict[str, Any]]:
        assert self.agent is not None
        self.agent.config = self.config.model_copy(update={"seed": seed})
        store = MemoryStore()
        final = self.agent.run(prompt, store=store)
        image = store.images[final.image_path].convert("RGB")
        evals = [s for s in store.steps if isinstance(s, EvaluationStep)]
        judged: dict[str, bool] = {}
        at: dict[str, bool] = {}
        for r in range(1, (self.job.protocol.rounds or 1) + 1):
            upto = [s for s in evals if s.round < r]
            if not upto:
                at[str(r)] = False
                continue
            best = max(upto, key=lambda s: s.verdict.score)  # the first of equal scores, as the loop keeps
            if best.image_path not in judged:
                judged[best.image_path] = self.judge(store.images[best.image_path], scene).verdict.passed
            at[str(r)] = judged[best.image_path]
        truth = store.truths.get(final.image_path.removesuffix(".png") + ".truth.json")
        extra = {"passed_at_round": at, "rounds_used": 1 + max((s.round for s in evals), default=0),
                 "tool_calls": sum(isinstance(s, ToolStep) for s in store.steps)}
        return image, truth, extra


def truth_passed(scene: Scene, truth: dict[str, Any] | None) -> bool | None:
    """Sandbox only: whether the world's ground truth of an image passes every check of `scene`; None
    without a truth (a real model's image)."""
    if truth is None:
        return None
    return all(c.passed for c in grade_truth(scene, WorldTruth.from_json(truth)))


_WORKERS: dict[str, _Worker] = {}


def run_unit(unit: tuple[str, EvalJob, EvalPrompt, int, dict[str, Any]]) -> tuple[dict[str, Any], bytes | None]:
    """Draw and judge one item (module-level so that processes and Ray can ship it). `unit[0]` is the job's
    digest, computed once by the caller: a worker keys what it built for the job by it."""
    digest, job, prompt, sample, scene = unit
    worker = _WORKERS.get(digest)
    if worker is None:
        worker = _WORKERS[digest] = _Worker(job)
    record, png = worker.run(prompt, sample, Scene.model_validate(scene))
    return record.model_dump(mode="json"), png


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


# ----------------------------------------------------------------------------------------------------
# The caller side: plan, resume, dispatch, write
# ----------------------------------------------------------------------------------------------------


def item_key(prompt_index: int, sample: int) -> str:
    return f"{prompt_index:05d}_{sample:05d}"


def protocol_files(out: Path) -> list[Path]:
    return sorted((out / LIMNER_DIR).glob("protocol*.json"))


def _protocol_path(out: Path, shard: Shard | None) -> Path:
    name = "protocol.json" if shard is None else f"protocol.shard-{shard.index}-of-{shard.count}.json"
    return out / LIMNER_DIR / name


def load_records(out: Path) -> dict[str, ItemRecord]:
    """Every finished item of the folder, by key. A record whose image is gone is not finished."""
    found: dict[str, ItemRecord] = {}
    for f in sorted((out / LIMNER_DIR / "items").glob("*.json")):
        try:
            record = ItemRecord.model_validate_json(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # unreadable: redone (records are written atomically, so this is outside damage)
        if record.status == "ok" and (record.image is None or not (out / record.image).is_file()):
            continue
        found[record.key] = record
    return found


@dataclass
class EvalSummary:
    out: Path
    protocol: EvalProtocol
    total: int  # items of this run (this shard)
    done_before: int  # finished before this invocation (resume)
    ran: int  # drawn and judged by this invocation
    errors: int
    skipped: int
    executor: str
    wall_s: float


def run_eval(
    job: EvalJob, suite: Suite, out: Path, *, executor: Executor | None = None,
    progress: Callable[[int, int, ItemRecord], None] | None = None, limit: int | None = None,
) -> EvalSummary:
    """Run (or resume) `job` into `out`. `limit` stops after that many new items (tests of resume)."""
    out = Path(out)
    (out / LIMNER_DIR / "items").mkdir(parents=True, exist_ok=True)
    protocol = _settle_protocol(job.protocol, out)
    job = job.model_copy(update={"protocol": protocol})
    shard = protocol.shard
    prompts = [p for p in suite.prompts if shard is None or shard.holds(p.index)]
    n = protocol.images_per_prompt
    done = load_records(out)
    total = len(prompts) * n
    done_before = sum(item_key(p.index, j) in done for p in prompts for j in range(n))
    units = []
    skipped = 0
    digest = json_digest(job.model_dump(mode="json"))
    for p in prompts:
        problem = suite.layout_problem(p)
        todo = [j for j in range(n) if item_key(p.index, j) not in done]
        if problem is not None:
            for j in todo:
                skipped += 1
                _write_record(out, ItemRecord(key=item_key(p.index, j), prompt_index=p.index, sample=j,
                                              prompt=p.text, tag=p.tag, seed=protocol.seed + j, status="skipped",
                                              reason=problem))
            continue
        if todo:
            suite.prepare(out, p)
            scene = suite.scene(p).model_dump(mode="json")
            units.extend((digest, job, p, j, scene) for j in todo)
    if limit is not None:
        units = units[:limit]
    own = executor is None
    executor = executor or LocalExecutor(1)
    ran = errors = 0
    t0 = time.perf_counter()
    by_key = {item_key(p.index, j): p for _, _, p, j, _ in units}
    try:
        for record_json, png in executor.map_unordered(run_unit, units):
            record = ItemRecord.model_validate(record_json)
            if png is not None:
                path = suite.sample_path(out, by_key[record.key], record.sample)
                atomic_write_bytes(path, png)
                record = record.model_copy(update={"image": str(path.relative_to(out))})
            _write_record(out, record)
            ran += 1
            errors += record.status == "error"
            if progress is not None:
                progress(done_before + skipped + ran, total, record)
    finally:
        if own:
            executor.close()
    return EvalSummary(out=out, protocol=protocol, total=total, done_before=done_before, ran=ran, errors=errors,
                       skipped=skipped, executor=executor.name, wall_s=time.perf_counter() - t0)


def _write_record(out: Path, record: ItemRecord) -> None:
    atomic_write_json(out / LIMNER_DIR / "items" / f"{record.key}.json", record.model_dump(mode="json"))


def _settle_protocol(protocol: EvalProtocol, out: Path) -> EvalProtocol:
    """Write the protocol, or check it against the one already there (resume; other shards in the same
    folder). A folder never mixes two protocols."""
    path = _protocol_path(out, protocol.shard)
    for other in protocol_files(out):
        try:
            existing = EvalProtocol.model_validate_json(other.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise EvalError(f"{other} is not a limner protocol ({_first_line(e)}); use another --out") from None
        diffs = protocol_differences(existing, protocol)
        if diffs:
            raise EvalError(f"{out} holds a run with another protocol ({'; '.join(diffs[:3])}); "
                            "use another --out, or the same options to resume it")
        if other == path:
            protocol = protocol.model_copy(update={"created": existing.created})
    if not path.is_file():
        atomic_write_json(path, protocol.model_dump(mode="json"))
    return protocol

