"""`limner train planner` and `limner train planner-data`: training the agent's brain (docs/planner.md).

    limner train planner-data --prompts prompts.txt --out data/brain [--capo-runs 20]
    limner train planner --method sft|dpo|grpo --data data/brain/sft --model ID_OR_PATH --out out/brain

Registered on the `train` group by `limner.cli.main` (the GRPO rollouts run the agent, which the
`limner.train` layer does not import).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from limner.config import ConfigError, load_config
from limner.train.errors import APOConfigError, DatasetError

__all__ = ["register"]

err = Console(stderr=True)


def _fail(msg: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def planner(
    method: Annotated[str, typer.Option("--method", help="sft (trajectories), dpo (CAPO pairs) or grpo (episodes).")],
    data: Annotated[Path, typer.Option("--data", help="sft: analyst/reflection/episodes.jsonl; dpo: pairs.jsonl; "
                                                      "grpo: prompts.jsonl.")],
    model: Annotated[str, typer.Option("--model", help="Hub id, local directory, or a .gguf file.")],
    out: Annotated[Path, typer.Option("--out", help="Output directory (adapter + tokenizer in out/final).")],
    subsets: Annotated[str, typer.Option("--subsets", help="sft: comma-separated subsets.")] = "analyst,reflection",
    max_steps: Annotated[int, typer.Option("--max-steps", min=1)] = 100,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 4,
    learning_rate: Annotated[float, typer.Option("--lr", min=0.0)] = 2e-4,
    no_lora: Annotated[bool, typer.Option("--no-lora", help="Train every weight instead of a LoRA adapter.")] = False,
    config: Annotated[Path | None, typer.Option("--config", help="limner config (GRPO: the tools of the episodes).")] = None,
    threads: Annotated[int, typer.Option("--threads", min=1, help="torch threads")] = 1,
) -> None:
    """Train the brain on TRL: SFT on trajectories, DPO on CAPO pairs, or GRPO on whole agent episodes."""
    from limner.train.planner_config import PlannerConfig, PlannerConfigError  # noqa: PLC0415 - light, but keeps --help fast

    try:
        cfg = PlannerConfig(method=method, model=model, data_dir=str(data), output_dir=str(out),  # type: ignore[arg-type]
                            subsets=tuple(s.strip() for s in subsets.split(",") if s.strip()), max_steps=max_steps,
                            per_device_train_batch_size=batch_size, learning_rate=learning_rate, lora=not no_lora,
                            threads=threads)
    except PlannerConfigError as e:
        raise _fail(str(e)) from None
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # deferred: torch, transformers, trl and peft take seconds to import (the train extra)
    from limner.train.planner import PlannerTrainer  # noqa: PLC0415

    rollout: Any = None
    if cfg.method == "grpo":
        from limner.data.rollouts import agent_rollout  # noqa: PLC0415 - imports the agent only for GRPO

        try:
            rollout = agent_rollout(load_config(config), rounds=cfg.rounds)
        except ConfigError as e:
            raise _fail(str(e)) from None
    try:
        trainer = PlannerTrainer(cfg, rollout=rollout)
    except (APOConfigError, DatasetError, OSError) as e:
        raise _fail(str(e).splitlines()[0]) from None
    with Progress(TextColumn(f"{cfg.method.upper()}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err) as progress:
        task = progress.add_task("train", total=cfg.max_steps)
        from transformers import TrainerCallback  # noqa: PLC0415 - deferred with the trainer

        class _Bar(TrainerCallback):
            def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                progress.update(task, completed=state.global_step)

        trainer.trainer.add_callback(_Bar())
        result = trainer.train()
    last = f", last loss {result.losses[-1]:.4f}" if result.losses else ""
    typer.echo(f"adapter written to {result.output_dir} after {result.global_step} steps "
               f"({result.wall_s:.0f} s{last})")


def planner_data(
    prompts: Annotated[Path, typer.Option("--prompts", help="Text file, one prompt a line.")],
    out: Annotated[Path, typer.Option("--out", help="Output directory (runs/, sft/, capo/).")],
    config: Annotated[Path | None, typer.Option("--config", help="limner config (default: the sandbox).")] = None,
    capo_runs: Annotated[int, typer.Option("--capo-runs", min=0, help="Runs whose planning steps get CAPO pairs.")] = 20,
    k: Annotated[int, typer.Option("--k", min=2, help="CAPO candidates per planning step.")] = 4,
    beta: Annotated[float, typer.Option("--beta", min=0.0, max=1.0, help="Share of candidates retrieved.")] = 0.5,
    rounds: Annotated[int, typer.Option("--rounds", min=1, max=50)] = 3,
) -> None:
    """Run the agent on PROMPTS (resumable) and write trajectory SFT examples and CAPO preference pairs."""
    from limner.data.capo import CAPOConfig, build_capo  # noqa: PLC0415 - sentence-transformers/torch underneath
    from limner.data.trajectories import build_sft, collect_runs, load_runs  # noqa: PLC0415

    try:
        texts = [t.strip() for t in prompts.read_text(encoding="utf-8").splitlines() if t.strip()]
        cfg = load_config(config)
    except (OSError, ConfigError) as e:
        raise _fail(str(e).splitlines()[0]) from None
    if not texts:
        raise _fail(f"{prompts} holds no prompt")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err) as progress:
        task = progress.add_task("runs", total=len(texts))
        dirs = collect_runs(texts, out / "runs", cfg, rounds=rounds,
                            progress=lambda i, n: progress.update(task, completed=i))
        runs = load_runs(dirs)
        sft = build_sft(runs, out / "sft")
        capo_task = progress.add_task("CAPO", total=None)
        capo = build_capo(runs[:capo_runs], cfg, out / "capo", CAPOConfig(k=k, beta=beta),
                          progress=lambda i, n: progress.update(capo_task, completed=i, total=n))
    typer.echo(f"{len(runs)} runs ({sft.passed_runs} passed): SFT {sft.counts} in {out / 'sft'}; "
               f"CAPO {capo.pairs} pairs from {capo.planning_steps} planning steps ({capo.ties} ties) in {out / 'capo'}")


def register(app: typer.Typer) -> None:
    """Add the brain-training commands to the `train` group."""
    app.command("planner")(planner)
    app.command("planner-data")(planner_data)
