"""`limner eval ...`: GenEval and T2I-CompBench runs in the benchmarks' own layouts, resumable and sharded.

    limner eval geneval --out ev/alder --generator alder                 # the shipped GenEval dev metadata
    limner eval geneval --metadata evaluation_metadata.jsonl --out ev/agent --agent --rounds 3 --workers 2
    limner eval t2i-compbench --category spatial --prompts spatial_val.txt --out ev/spatial --agent
    limner eval geneval ... --shard 0/2          # prompts with index % 2 == 0; run 1/2 elsewhere
    limner eval report ev/shard0 ev/shard1 --out ev/merged --published "SD 1.5"
    limner eval compare ev/alder ev/agent        # refused when the protocols differ (see --ignore)

Re-running the same command resumes: finished images are kept, only missing ones are drawn.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from limner.cli.options import ConfigOpt, JsonOpt, RayAddressOpt, RayOpt, WorkersOpt
from limner.config import load_config
from limner.eval.executor import ExecutorError, make_executor
from limner.eval.protocol import Shard
from limner.eval.report import compare_runs, load_run, plot_report, report_markdown, write_report
from limner.eval.runner import EvalError, EvalJob, EvalSummary, ItemRecord, run_eval
from limner.eval.suites import COMPBENCH_CATEGORIES, CompBenchSuite, GenEvalSuite, SuiteError
from limner.files import atomic_write_bytes, atomic_write_text

app = typer.Typer(help="Benchmark runs (GenEval, T2I-CompBench) with their protocol; resumable, sharded.",
                  no_args_is_help=True)
err = Console(stderr=True)
out = Console()

OutDir = Annotated[Path, typer.Option("--out", "-o", help="Folder for the images (the benchmark's layout) and limner/.")]
GeneratorOpt = Annotated[str | None, typer.Option("--generator", "-g", help="A configured text-to-image tool to evaluate alone.")]
AgentOpt = Annotated[bool, typer.Option("--agent", metavar="", help="Evaluate the whole agent loop instead of one generator.")]
RoundsOpt = Annotated[int | None, typer.Option("--rounds", help="Agent: round budget.", show_default="from the config")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Image j of every prompt uses seed + j.", show_default="from the config")]
JudgeOpt = Annotated[str | None, typer.Option("--judge", help="A configured checker tool to judge with.", show_default="the config's checker")]
ShardOpt = Annotated[str | None, typer.Option("--shard", help="I/N: only prompts with index % N == I (0-based).")]
PublishedOpt = Annotated[list[str] | None, typer.Option("--published", help="Put this model's published scores beside the run (repeatable; 'all').")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _published(models: list[str] | None) -> list[str] | None:
    if not models:
        return None
    return [] if any(m.lower() == "all" for m in models) else models


def _run(suite: GenEvalSuite | CompBenchSuite, out_dir: Path, *, generator: str | None, agent: bool,
         rounds: int | None, seed: int | None, config: str | None, judge: str | None, shard: str | None,
         images_per_prompt: int, workers: int, ray: bool, ray_address: str | None, published: list[str] | None,
         json_mode: bool) -> None:
    try:
        cfg = load_config(config, **({"seed": seed} if seed is not None else {}))
        job = EvalJob.build(suite, cfg, images_per_prompt=images_per_prompt, generator=generator, agent=agent,
                            rounds=rounds, judge=judge, shard=Shard.parse(shard) if shard else None)
        executor = make_executor(workers, ray=ray, ray_address=ray_address)
    except (ValueError, EvalError, ExecutorError) as e:
        raise _fail(str(e).splitlines()[0]) from None
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("pass {task.fields[rate]}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    passed = [0, 0]
    summary: EvalSummary | None = None
    try:
        with Progress(*columns, console=err, disable=json_mode and not err.is_terminal) as progress:
            task = progress.add_task(f"{suite.benchmark} {out_dir.name}", total=None, rate="–")

            def show(done: int, total: int, record: ItemRecord) -> None:
                passed[0] += record.passed
                passed[1] += 1
                progress.update(task, completed=done, total=total, rate=f"{passed[0] / passed[1]:.2f}")

            summary = run_eval(job, suite, out_dir, executor=executor, progress=show)
    except KeyboardInterrupt:
        executor.close()
        raise _fail(f"interrupted; finished images are kept in {out_dir} — run the same command again to resume",
                    code=130) from None
    except (EvalError, SuiteError, OSError) as e:
        executor.close()
        raise _fail(str(e).splitlines()[0]) from None
    executor.close()
    run = load_run([out_dir])
    report = write_report(run, published=_published(published))
    problems = suite.check_layout(out_dir, [p for p in suite.prompts if job.protocol.shard is None
                                            or job.protocol.shard.holds(p.index)], images_per_prompt)
    result = {"out": str(out_dir), "total": summary.total, "done_before": summary.done_before, "ran": summary.ran,
              "errors": summary.errors, "skipped": summary.skipped, "executor": summary.executor,
              "wall_s": summary.wall_s, "layout_problems": problems, "scores": report["scores"],
              "protocol_sha256": report["protocol_sha256"], "simulated": report["simulated"]}
    if json_mode:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        sys.stdout.write((run.dirs[0] / "limner" / "report.md").read_text(encoding="utf-8"))
        out.print(f"{summary.ran} images drawn now, {summary.done_before} kept from before; layout "
                  + ("checked: as the benchmark's tools read it" if not problems else f"PROBLEMS: {problems[:3]}")
                  + f"; report in {run.dirs[0] / 'limner'}", highlight=False)


def _default_metadata() -> Path:
    return Path(str(resources.files("limner.resources").joinpath("geneval_metadata_dev.jsonl")))


@app.command("geneval")
def geneval(
    out_dir: OutDir,
    metadata: Annotated[Path | None, typer.Option("--metadata", help="GenEval metadata JSONL.",
                                                  show_default="the shipped dev subset (282 prompts)")] = None,
    generator: GeneratorOpt = None,
    agent: AgentOpt = False,
    images_per_prompt: Annotated[int, typer.Option("--images-per-prompt", "-n", min=1, help="Images per prompt (GenEval: 4).")] = 4,
    rounds: RoundsOpt = None,
    seed: SeedOpt = None,
    config: ConfigOpt = None,
    judge: JudgeOpt = None,
    shard: ShardOpt = None,
    workers: WorkersOpt = 1,
    ray: RayOpt = False,
    ray_address: RayAddressOpt = None,
    published: PublishedOpt = None,
    json_mode: JsonOpt = False,
) -> None:
    """GenEval: OUT/<index>/metadata.jsonl and OUT/<index>/samples/<j>.png, as GenEval's own evaluator reads
    them; scored here by the configured checker against the metadata (per tag, overall, image and prompt level)."""
    try:
        suite = GenEvalSuite(metadata or _default_metadata())
    except SuiteError as e:
        raise _fail(str(e)) from None
    _run(suite, out_dir, generator=generator, agent=agent, rounds=rounds, seed=seed, config=config, judge=judge,
         shard=shard, images_per_prompt=images_per_prompt, workers=workers, ray=ray, ray_address=ray_address,
         published=published, json_mode=json_mode)


@app.command("t2i-compbench")
def t2i_compbench(
    out_dir: OutDir,
    category: Annotated[str, typer.Option("--category", help=f"One of: {', '.join(COMPBENCH_CATEGORIES)}.")],
    prompts: Annotated[Path, typer.Option("--prompts", help="The category's prompt list (one prompt a line).")],
    generator: GeneratorOpt = None,
    agent: AgentOpt = False,
    images_per_prompt: Annotated[int, typer.Option("--images-per-prompt", "-n", min=1, help="Images per prompt (official: 10).")] = 10,
    rounds: RoundsOpt = None,
    seed: SeedOpt = None,
    config: ConfigOpt = None,
    judge: JudgeOpt = None,
    shard: ShardOpt = None,
    workers: WorkersOpt = 1,
    ray: RayOpt = False,
    ray_address: RayAddressOpt = None,
    published: PublishedOpt = None,
    json_mode: JsonOpt = False,
) -> None:
    """T2I-CompBench: OUT/samples/<prompt>_<NNNNNN>.png; scored by limner's judge (not the official metrics),
    with the share of prompts the offline reader could read completely."""
    try:
        suite = CompBenchSuite(prompts, category)
    except SuiteError as e:
        raise _fail(str(e)) from None
    _run(suite, out_dir, generator=generator, agent=agent, rounds=rounds, seed=seed, config=config, judge=judge,
         shard=shard, images_per_prompt=images_per_prompt, workers=workers, ray=ray, ray_address=ray_address,
         published=published, json_mode=json_mode)


@app.command("report")
def report(
    dirs: Annotated[list[Path], typer.Argument(help="The run's folder, or the folders of its shards.")],
    report_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Where to write report.json/.md/.png.",
                                                    show_default="the first folder's limner/")] = None,
    published: PublishedOpt = None,
    json_mode: JsonOpt = False,
) -> None:
    """Score a run (merging its shards) and write report.json, report.md and report.png."""
    try:
        run = load_run(dirs)
        rep = write_report(run, report_dir, published=_published(published))
    except (EvalError, OSError) as e:
        raise _fail(str(e).splitlines()[0]) from None
    if json_mode:
        sys.stdout.write(json.dumps(rep) + "\n")
    else:
        sys.stdout.write((report_dir or run.dirs[0] / "limner").joinpath("report.md").read_text(encoding="utf-8"))


@app.command("compare")
def compare(
    dirs: Annotated[list[Path], typer.Argument(help="Run folders to put side by side.")],
    ignore: Annotated[list[str] | None, typer.Option("--ignore", help="A protocol field allowed to differ (repeatable).")] = None,
    save: Annotated[Path | None, typer.Option("--out", "-o", help="Also write compare.md, compare.png and compare.json into this folder.")] = None,
    json_mode: JsonOpt = False,
) -> None:
    """A side-by-side table of runs — refused when their protocols differ (prompt list, images per prompt,
    seed, judge...) unless --ignore names the differing fields. What is evaluated may differ."""
    if len(dirs) < 2:
        raise _fail("compare needs at least two run folders")
    try:
        runs = [load_run([d]) for d in dirs]
        reports = compare_runs(runs, frozenset(ignore or ()))
    except (EvalError, OSError) as e:
        raise _fail(str(e).splitlines()[0]) from None
    labels = [r.label for r in runs]
    if json_mode:
        sys.stdout.write(json.dumps({"runs": [{"label": lab, **r} for lab, r in zip(labels, reports, strict=True)]}) + "\n")
    else:
        out.print(_table(reports, labels))
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        atomic_write_text(save / "compare.md", report_markdown(reports, labels))
        atomic_write_bytes(save / "compare.png", plot_report(reports, labels))
        atomic_write_text(save / "compare.json", json.dumps({"runs": [{"label": lab, **r} for lab, r in
                                                                      zip(labels, reports, strict=True)]}, indent=1))


def _table(reports: list[dict[str, Any]], labels: list[str]) -> Table:
    table = Table(title=reports[0]["protocol"]["benchmark_version"] + (" — SIMULATED" if reports[0]["simulated"] else ""))
    table.add_column("run")
    if reports[0]["protocol"]["benchmark"] == "geneval":
        tags = list(reports[0]["scores"]["geneval"]["tags"])
        for c in ("overall", *tags):
            table.add_column(c, justify="right")
        for r, label in zip(reports, labels, strict=True):
            g = r["scores"]["geneval"]
            table.add_row(label, f"{g['overall']:.3f}", *(f"{g['tags'][t]['accuracy']:.3f}" if t in g["tags"] else "—"
                                                         for t in tags))
    else:
        for c in ("score", "pass rate", "fully read"):
            table.add_column(c, justify="right")
        for r, label in zip(reports, labels, strict=True):
            c = r["scores"]["t2i_compbench"]
            table.add_row(label, f"{c['score']['mean']:.3f}", f"{c['pass_rate']['accuracy']:.3f}",
                          f"{c['fully_read']['accuracy']:.3f}")
    return table
