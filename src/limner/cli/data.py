"""`limner data ...`: AgentComp's contrastive clusters, as a Parquet dataset `limner train apo` reads.

    limner data clusters --prompts benchmarks/data/t2i-compbench/color_train.txt --out pairs/ --negatives 10
    limner data clusters --prompts prompts.txt --out pairs/ --workers 2          # local processes
    limner data clusters --prompts prompts.txt --out pairs/ --ray --workers 2    # Ray tasks (a local cluster)
    limner data prompts --n 200 --out prompts.txt                                # the prompt writer
    limner data card pairs/                                                      # rewrite dataset + card
    limner data blemish --n 7000 --out blemish/                                  # retoucher data (defects + masks)
    limner data blemish --ingest my_annotations/ --out blemish/                  # image + mask + category folder

Re-running the same `clusters` command resumes: finished clusters are kept, only missing ones are built, and
`pairs.parquet` and the card are rewritten from all the records.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

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

from limner.cli.options import ConfigOpt, JsonOpt, RayAddressOpt, RayOpt, WorkersOpt
from limner.config import load_config
from limner.data import (
    ClusterJob,
    ClusterRecord,
    DataError,
    PromptError,
    build_clusters,
    read_prompts,
    write_dataset,
    write_prompts,
)
from limner.data.blemish import BlemishDataError, BlemishJob, build_blemish_dataset, ingest_external
from limner.eval.executor import ExecutorError, make_executor
from limner.files import atomic_write_text
from limner.llm import make_brain

app = typer.Typer(help="Contrastive training data (AgentComp's orchestra): clusters, pairs, data card.",
                  no_args_is_help=True)
err = Console(stderr=True)



def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@app.callback()
def _group() -> None:
    """Contrastive training data (AgentComp's orchestra)."""


@app.command("clusters")
def clusters(
    prompts: Annotated[list[Path], typer.Option("--prompts", "-p", help="Prompt file: one a line, GenEval JSONL, or a T2I-CompBench list (repeatable).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder (pairs.parquet, images/, clusters/, card).")],
    negatives: Annotated[int, typer.Option("--negatives", "-n", min=1, help="Verified negatives wanted per cluster.")] = 10,
    attempts: Annotated[int | None, typer.Option("--attempts", min=1, help="Perturbations tried at most per cluster.", show_default="3 × negatives")] = None,
    rounds: Annotated[int | None, typer.Option("--rounds", help="Agent rounds for the positive.", show_default="from the config")] = None,
    edit_rounds: Annotated[int, typer.Option("--edit-rounds", min=1, help="Agent rounds per edit of a negative.")] = 1,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of every cluster (with the prompt).", show_default="from the config")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Build at most this many new clusters now.")] = None,
    no_pair_filter: Annotated[bool, typer.Option("--no-pair-filter", metavar="", help="Only positive-vs-negative pairs.")] = False,
    masks: Annotated[bool, typer.Option("--masks", metavar="", help="Write a difference mask per pair (masks/).")] = False,
    workers: WorkersOpt = 1,
    ray: RayOpt = False,
    ray_address: RayAddressOpt = None,
    config: ConfigOpt = None,
    json_mode: JsonOpt = False,
) -> None:
    """Build clusters (verified positive + contrastive negatives) and write the dataset; resumable."""
    try:
        items = read_prompts(prompts)
        cfg = load_config(config, **({"seed": seed} if seed is not None else {}))
        job = ClusterJob.build(cfg, negatives=negatives, attempts=attempts, rounds=rounds, edit_rounds=edit_rounds,
                               pair_filter=not no_pair_filter)
        executor = make_executor(workers, ray=ray, ray_address=ray_address)
    except (ValueError, PromptError, ExecutorError) as e:
        raise _fail(str(e).splitlines()[0]) from None
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("positives {task.fields[pos]} · negatives/cluster {task.fields[neg]}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    seen = [0, 0, 0]
    try:
        with Progress(*columns, console=err, disable=json_mode and not err.is_terminal) as progress:
            task = progress.add_task(f"clusters {out_dir.name}", total=None, pos="–", neg="–")

            def show(done: int, total: int, record: ClusterRecord) -> None:
                seen[0] += 1
                seen[1] += record.status == "ok"
                seen[2] += max(0, len(record.members) - 1)
                progress.update(task, completed=done, total=total, pos=f"{seen[1]}/{seen[0]}",
                                neg=f"{seen[2] / max(1, seen[1]):.1f}")

            summary = build_clusters(job, items, out_dir, executor=executor, progress=show, limit=limit)
    except KeyboardInterrupt:
        executor.close()
        raise _fail(f"interrupted; finished clusters are kept in {out_dir} — run the same command again to resume",
                    code=130) from None
    except (DataError, OSError) as e:
        executor.close()
        raise _fail(str(e).splitlines()[0]) from None
    executor.close()
    card = write_dataset(out_dir, masks=masks)
    result = {"out": str(out_dir), "total": summary.total, "done_before": summary.done_before, "ran": summary.ran,
              "ok": summary.ok, "no_positive": summary.no_positive, "errors": summary.errors,
              "executor": summary.executor, "wall_s": summary.wall_s, "card": card}
    if json_mode:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        sys.stdout.write((out_dir / "card.md").read_text(encoding="utf-8"))
        err.print(f"{summary.ran} clusters built now, {summary.done_before} kept from before; "
                  f"dataset {out_dir / 'pairs.parquet'}", highlight=False)


@app.command("prompts")
def prompts_cmd(
    n: Annotated[int, typer.Option("--n", min=1, help="How many prompts to write.")] = 100,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write them here (one a line); default stdout.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Template draws.")] = 0,
    config: ConfigOpt = None,
) -> None:
    """Compose new compositional prompts (templates over the vocabulary; the LLM brain's when configured)."""
    cfg = load_config(config)
    brain = make_brain(cfg.brain) if cfg.brain.kind != "rule" else None
    items, notes = write_prompts(n, seed=seed, brain=brain)
    for note in notes:
        err.print(note, highlight=False)
    text = "".join(p.text + "\n" for p in items)
    if out is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(out, text)


@app.command("card")
def card_cmd(
    data_dir: Annotated[Path, typer.Argument(help="A dataset folder built by `limner data clusters`.")],
    masks: Annotated[bool, typer.Option("--masks", metavar="", help="Also write a difference mask per pair.")] = False,
    json_mode: JsonOpt = False,
) -> None:
    """Rewrite pairs.parquet and the data card from the folder's records."""
    if not (data_dir / "clusters").is_dir():
        raise _fail(f"{data_dir} holds no cluster records (build it with `limner data clusters`)")
    card = write_dataset(data_dir, masks=masks)
    sys.stdout.write(json.dumps(card) + "\n" if json_mode else (data_dir / "card.md").read_text(encoding="utf-8"))


@app.command("blemish")
def blemish_cmd(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder (train/val/test.parquet, card, shards/).")],
    n: Annotated[int, typer.Option("--n", min=1, help="Images to render (sandbox world).")] = 7000,
    size: Annotated[int, typer.Option("--size", min=32, max=1024, help="Image side in px.")] = 128,
    rate: Annotated[float, typer.Option("--rate", min=0.0, help="Mean blemishes per image (Poisson, at most 4).")] = 2.2,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every image (with its index).")] = 0,
    p_requested: Annotated[float, typer.Option("--p-requested", min=0.0, max=1.0, help="Share of images whose "
                                               "prompt asks for a defect-like effect (not a defect).")] = 0.3,
    ingest: Annotated[Path | None, typer.Option("--ingest", help="Instead of rendering: a folder with "
                                                "annotations.jsonl, images and masks (docs/retouch.md).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Build at most this many new shards now.")] = None,
    workers: WorkersOpt = 1,
    ray: RayOpt = False,
    ray_address: RayAddressOpt = None,
    json_mode: JsonOpt = False,
) -> None:
    """GenBlemish-style retoucher data: images with local defects, exact masks, categories in dimensions,
    prompts and descriptions, split train/val/test. Re-running the same command resumes."""
    try:
        if ingest is not None:
            with Progress(TextColumn("ingest"), BarColumn(), MofNCompleteColumn(), console=err,
                          disable=json_mode and not err.is_terminal) as progress:
                task = progress.add_task("ingest", total=None)
                card = ingest_external(ingest, out_dir, progress=lambda d, t: progress.update(task, completed=d, total=t))
            result = {"out": str(out_dir), "card": card}
        else:
            job = BlemishJob(n=n, size=size, rate=rate, seed=seed, p_requested=p_requested)
            executor = make_executor(workers, ray=ray, ray_address=ray_address)
            columns = (TextColumn("shards"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
            try:
                with Progress(*columns, console=err, disable=json_mode and not err.is_terminal) as progress:
                    task = progress.add_task("shards", total=None)
                    summary = build_blemish_dataset(job, out_dir, executor=executor, limit=limit,
                                                    progress=lambda d, t: progress.update(task, completed=d, total=t))
            finally:
                executor.close()
            card = summary.card
            result = {"out": str(out_dir), "images": summary.images, "shards": summary.shards,
                      "done_before": summary.done_before, "ran": summary.ran, "executor": summary.executor,
                      "wall_s": round(summary.wall_s, 3), "card": card}
    except KeyboardInterrupt:
        raise _fail(f"interrupted; finished shards are kept in {out_dir} — run the same command again to resume",
                    code=130) from None
    except (ValueError, BlemishDataError, ExecutorError, OSError) as e:
        raise _fail(str(e).splitlines()[0]) from None
    if json_mode:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        sys.stdout.write((out_dir / "card.md").read_text(encoding="utf-8"))
