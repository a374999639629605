"""`limner train ...`: thin command-line wrappers over the trainers (the lead mounts `app` as `train`).

    limner train apo --data pairs/ --model path/or/id --out runs/apo [--config apo.yaml] [--max-steps N]
    limner train saliency --data blemish/ --out runs/saliency      # the retoucher's perception + classifier
    accelerate launch --num_processes 8 -m limner.train.cli apo --data pairs/ --model ... --out ...

Flags override the YAML file; the YAML keys are the `APOConfig` field names (docs/apo.md).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from limner.train.apo_config import APOConfig
from limner.train.errors import APOConfigError, DatasetError, SaliencyConfigError
from limner.train.saliency_config import SaliencyConfig

app = typer.Typer(help="Train models from limner's data (APO for diffusion LoRA).", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Keep `apo` a named sub-command whether mounted under `limner train` or run as a module."""


@app.command("apo")
def apo(
    data: Annotated[Path, typer.Option("--data", help="Dataset directory with pairs.parquet or pairs.jsonl.")],
    model: Annotated[str, typer.Option("--model", help="Diffusers pipeline id or local directory.")],
    out: Annotated[Path, typer.Option("--out", help="Output directory (LoRA, checkpoints, logs, cache).")],
    config: Annotated[Path | None, typer.Option("--config", help="YAML file with APOConfig fields.")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Override max_steps.")] = None,
    resume: Annotated[str | None, typer.Option("--resume", help="'latest' or a checkpoint directory.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Train a LoRA with Agent Preference Optimization (distance-weighted Diffusion-DPO)."""
    try:
        cfg = APOConfig.from_yaml(config, model=model, data_dir=str(data), output_dir=str(out),
                                  max_steps=max_steps, resume_from_checkpoint=resume)
    except APOConfigError as err:
        raise typer.BadParameter(str(err)) from None

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The trainer imports torch, diffusers and peft (seconds, the train extra): only when a run starts,
    # so `limner --help` and a config error stay instant.
    from limner.train.apo import APOTrainer  # noqa: PLC0415

    try:
        trainer = APOTrainer(cfg)
    except (APOConfigError, DatasetError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None

    show = trainer.accelerator.is_main_process and not quiet
    if not show:
        result = trainer.train()
    else:
        columns = (TextColumn("APO"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   TextColumn("{task.fields[metrics]}"))
        with Progress(*columns) as progress:
            task = progress.add_task("train", total=cfg.max_steps, completed=trainer.global_step, metrics="")

            def on_step(step: int, logs: dict[str, float] | None) -> None:
                metrics = None
                if logs:
                    metrics = (f"loss {logs['loss']:.4f}  acc {logs['rewards/accuracies']:.2f}  "
                               f"margin {logs['rewards/margins']:.3g}")
                progress.update(task, completed=step, **({"metrics": metrics} if metrics else {}))

            result = trainer.train(on_step=on_step)
    if trainer.accelerator.is_main_process:
        typer.echo(f"LoRA written to {result.lora_dir} after {result.global_step} steps")


@app.command("saliency")
def saliency(
    data: Annotated[Path, typer.Option("--data", help="A `limner data blemish` folder (train/val.parquet).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder: model/, regions/, checkpoints, metrics.json.")],
    config: Annotated[Path | None, typer.Option("--config", help="YAML file with SaliencyConfig fields.")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Override max_steps.")] = None,
    classifier_steps: Annotated[int | None, typer.Option("--classifier-steps", help="Override classifier_steps (0: none).")] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="torch CPU threads (default 1).")] = None,
    image_encoder: Annotated[str | None, typer.Option("--image-encoder", help="Pretrained vision encoder id/path.")] = None,
    text_encoder: Annotated[str | None, typer.Option("--text-encoder", help="Pretrained text encoder id/path.")] = None,
    device: Annotated[str | None, typer.Option("--device", help="torch device (cpu, cuda).")] = None,
    resume: Annotated[str | None, typer.Option("--resume", help="'latest' or a checkpoint directory.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Train the retoucher: the distortion-saliency model (α·MSE + (1−α)·KLD), then the region classifier.
    A finished saliency model in OUT is kept (the command then trains only what is missing)."""
    try:
        cfg = SaliencyConfig.from_yaml(config, data_dir=str(data), output_dir=str(out), max_steps=max_steps,
                                       classifier_steps=classifier_steps, threads=threads, image_encoder=image_encoder,
                                       text_encoder=text_encoder, device=device, resume_from_checkpoint=resume)
    except SaliencyConfigError as err:
        raise typer.BadParameter(str(err)) from None
    # torch loads only when a run starts, so `--help` and config errors stay instant
    from limner.train.saliency import SaliencyTrainer, finished_model  # noqa: PLC0415
    from limner.train.saliency_regions import RegionTrainer  # noqa: PLC0415

    try:
        done = finished_model(cfg)
        if done is None:
            trainer = SaliencyTrainer(cfg)
            with Progress(TextColumn("saliency"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                          TextColumn("{task.fields[metrics]}"), disable=quiet) as progress:
                task = progress.add_task("train", total=cfg.max_steps, completed=trainer.global_step, metrics="")

                def on_step(step: int, logs: dict[str, float] | None) -> None:
                    text = None
                    if logs and "val_auc_judd" in logs:
                        text = f"loss {logs['loss']:.3f}  val AUC-Judd {logs['val_auc_judd']:.3f}  NSS {logs['val_nss']:.2f}"
                    progress.update(task, completed=step, **({"metrics": text} if text else {}))

                result = trainer.train(on_step=on_step)
            done = result.metrics
            typer.echo(f"saliency model written to {result.model_dir} after {result.global_step} steps "
                       f"({result.train_minutes:.1f} min; val AUC-Judd {done['val_auc_judd']:.3f}, τ_s {done['threshold']})")
        else:
            typer.echo(f"saliency model in {out / 'model'} is finished (step {done['step']}); kept")
        if cfg.classifier_steps > 0:
            regions = RegionTrainer(cfg)
            with Progress(TextColumn("regions"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                          disable=quiet) as progress:
                task = progress.add_task("train", total=cfg.classifier_steps)
                reg = regions.train(on_step=lambda step, logs: progress.update(task, completed=step))
            typer.echo(f"region classifier written to {reg.model_dir} ({reg.train_minutes:.1f} min; "
                       f"val accuracy {reg.val_accuracy:.3f})")
    except SaliencyConfigError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None


if __name__ == "__main__":  # `accelerate launch -m limner.train.cli apo ...`
    app()
