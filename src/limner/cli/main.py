"""The `limner` command line: a thin layer over the library.

    limner generate "two red apples to the left of a blue cup" --out runs --seed 0
    limner generate "..." --json                    # machine-readable summary on stdout
    limner generate "..." --run-id my-run --resume  # continue an interrupted run
    limner edit photo.png "make the cup blue" --out runs
    limner check image.png --prompt "a red apple" --json
    limner tools list [--config sdxl]
    limner words [--json]                           # what the offline reader and the sandbox understand
    limner perf show | profile | history            # performance matrix (PASM / APU)
    limner train apo --data DIR --model ID --out DIR

User mistakes (empty prompt, unwritable --out, bad config, unreadable image) print one line and exit 2;
set LIMNER_DEBUG=1 to see tracebacks.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from PIL import Image, UnidentifiedImageError
from rich.console import Console
from rich.table import Table

from limner import __version__
from limner.agent.loop import check as check_image
from limner.agent.loop import run_edit, run_generate
from limner.cli.words import words as words_command
from limner.config import ConfigError, LimnerConfig, load_config
from limner.runs import RunError, RunStore
from limner.tools._device import describe_device
from limner.tools.registry import RegistryError, ToolRegistry
from limner.types import (
    AnalysisStep,
    EvaluationStep,
    FinalStep,
    PlanStep,
    ReflectionStep,
    Step,
    ToolStep,
    Verdict,
)

app = typer.Typer(
    name="limner",
    help="Compositional image generation by an agent that knows its tools.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
tools_app = typer.Typer(help="The configured tools.", no_args_is_help=True)
app.add_typer(tools_app, name="tools")
app.command("words")(words_command)

err = Console(stderr=True)
out = Console()

#: Exceptions that mean "the user asked for something that cannot be done": one line, exit 2.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError, LookupError, FileNotFoundError, PermissionError, ConfigError, RunError,
)


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _version_callback(value: bool) -> None:
    if value:
        out.print(f"limner {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """limner: plan, route by measured skill, verify, repair."""


ConfigOpt = Annotated[
    str | None, typer.Option("--config", "-c", help="YAML config file or preset name (sandbox, sdxl, flux, ...).")
]
OutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="Output root for run directories.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Random seed (runs are deterministic under it).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON summary on stdout.")]


def _load(config: str | None, **overrides: Any) -> LimnerConfig:
    cfg = load_config(config, **overrides)
    if cfg.threads:
        os.environ.setdefault("OMP_NUM_THREADS", str(cfg.threads))
        try:
            import torch  # noqa: PLC0415 - optional heavy dependency (the diffusers extra), only when threads are set

            torch.set_num_threads(cfg.threads)
        except ImportError:
            pass
    return cfg


def _validate_prompt(prompt: str, what: str = "prompt") -> str:
    text = prompt.strip()
    if not text:
        raise ValueError(f"the {what} is empty")
    if len(text) > 2000:
        raise ValueError(f"the {what} is {len(text)} characters long; the limit is 2000")
    return text


def _analysis_line(step: AnalysisStep) -> str:
    names = ", ".join(f"{e.count}×{e.color + ' ' if e.color else ''}{e.cls}" for e in step.scene.elements)
    relations = "; ".join(f"{r.subject} {r.predicate} {r.object}" for r in step.scene.relations)
    return f" {names}" + (f" · {relations}" if relations else "")


def _plan_line(step: PlanStep) -> str:
    return " " + " → ".join(f"{s.kind}: {s.instruction}" for s in step.subtasks)


def _tool_line(step: ToolStep) -> str:
    status = "ok" if step.result.ok else f"[red]failed: {step.result.error}[/]"
    return f" {step.call.tool} ({step.result.duration_s * 1000:.0f} ms) {status}"


def _evaluation_line(step: EvaluationStep) -> str:
    v = step.verdict
    line = f" score {v.score:.2f}, {sum(c.passed for c in v.checks)}/{len(v.checks)} checks pass"
    if v.unsupported:
        line += f", {len(v.unsupported)} of {v.parts} parts not checked"
    if v.failed:
        line += " [yellow](" + "; ".join(c.evidence for c in v.failed[:3]) + ")[/]"
    return line


def _reflection_line(step: ReflectionStep) -> str:
    return f" {step.next_action}: {step.reasoning}"


def _final_line(step: FinalStep) -> str:
    return f" {step.image_path} score {step.score:.2f} {'✓' if step.passed else '✗'}"


def _final_verdict(store: RunStore, final: FinalStep) -> Verdict | None:
    """The verdict of the final image (its last evaluation in the run), or None when it was never judged."""
    for step in reversed(store.completed_steps()):
        if isinstance(step, EvaluationStep) and step.image_path == final.image_path:
            return step.verdict
    return None


def _coverage_fields(verdict: Verdict | None) -> dict[str, Any]:
    """What the JSON says about coverage: share of parts checked, the parts not checked, and the counts."""
    if verdict is None:
        return {"coverage": 0.0, "parts": 0, "checked": 0, "unsupported": ["the final image was not judged"]}
    return {"coverage": round(verdict.coverage, 4), "parts": verdict.parts, "checked": len(verdict.checks),
            "unsupported": list(verdict.unsupported)}


def _verdict_line(verdict: Verdict | None, score: float, passed: bool) -> str:
    """"score 0.83 on 5 of 6 parts; not checked: riding ✗" for people (rich markup)."""
    if verdict is None:
        return f"score {score:.2f}, final image not judged [red]✗[/]"
    mark = "[green]✓[/]" if passed else "[red]✗[/]"
    line = f"score {score:.2f} on {len(verdict.checks)} of {verdict.parts} parts {mark}"
    if verdict.unsupported:
        line += f"\n[yellow]not checked:[/] {'; '.join(verdict.unsupported)}"
    elif not verdict.checks:
        line += " [yellow](nothing in the prompt could be read into a check)[/]"
    return line


#: step type -> what its progress line says after "round N type"
_STEP_LINES: dict[str, Callable[[Any], str]] = {
    "analysis": _analysis_line, "plan": _plan_line, "tool": _tool_line, "evaluation": _evaluation_line,
    "reflection": _reflection_line, "final": _final_line,
}


def _progress_printer(json_mode: bool) -> Callable[[Step], None]:
    """A callback that renders each agent step as one readable line (on stderr in --json mode)."""
    console = err if json_mode else out

    def show(step: Step) -> None:
        kind = getattr(step, "type", "?")
        detail = _STEP_LINES.get(kind)
        line = f"[dim]round {getattr(step, 'round', 0)}[/] [bold]{kind:<10}[/]" + (detail(step) if detail else "")
        console.print(line, highlight=False, soft_wrap=True)

    return show


def _summary(store: RunStore, final: FinalStep, started: float) -> dict[str, Any]:
    written = sorted(str(p.relative_to(store.root)) for p in store.root.rglob("*") if p.is_file() and not p.name.startswith("."))
    return {
        "run_id": store.run_id,
        "run_dir": str(store.root),
        "final_image": str(store.root / "final.png"),
        "manifest": str(store.root / "manifest.json"),
        "trajectory": str(store.root / "trajectory.jsonl"),
        "files": written,
        "status": store.manifest.status,
        "score": final.score,
        "passed": final.passed,
        **_coverage_fields(_final_verdict(store, final)),
        "rounds": final.round,
        "simulated": store.manifest.simulated,
        "timings": {"total_s": round(time.perf_counter() - started, 3), **store.manifest.summary.get("timings", {})},
    }


def _run_agent(kind: str, json_mode: bool, body: Callable[[], tuple[RunStore, FinalStep]]) -> None:
    """Shared error handling of generate/edit: user errors one line, everything recorded in the run."""
    started = time.perf_counter()
    try:
        store, final = body()
    except USER_ERRORS as e:
        raise fail(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
    except KeyboardInterrupt:
        raise fail("interrupted; continue with --resume --run-id <id>", code=130) from None
    summary = _summary(store, final, started)
    verdict = _final_verdict(store, final)
    store.close()
    if json_mode:
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        out.print(f"[green]done[/] {kind}: {summary['final_image']}", highlight=False)
        out.print(_verdict_line(verdict, final.score, final.passed), highlight=False)
        if summary["simulated"]:
            out.print("[dim]sandbox world: the images and scores are simulated, not a real model's.[/]")


@app.command()
def generate(
    prompt: Annotated[str, typer.Argument(help="What to draw.")],
    out_dir: OutOpt = None,
    seed: SeedOpt = None,
    config: ConfigOpt = None,
    rounds: Annotated[int | None, typer.Option("--rounds", min=1, help="Maximum evaluate→repair rounds.")] = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Name of the run directory.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run named by --run-id.")] = False,
    json_mode: JsonOpt = False,
) -> None:
    """Generate an image for PROMPT with the agent (analyse → plan → route → evaluate → repair)."""

    def body() -> tuple[RunStore, FinalStep]:
        text = _validate_prompt(prompt)
        cfg = _load(config, out_dir=out_dir, seed=seed, **({"agent": {"rounds": rounds}} if rounds else {}))
        store = RunStore.open_or_create(
            cfg.out_dir, run_id, resume=resume, prompt=text, kind="generate", seed=cfg.seed,
            config=cfg.model_dump(mode="json"), simulated=_is_simulated(cfg),
        )
        if store.manifest.prompt != text:
            raise ValueError(f"run {store.run_id!r} was started with a different prompt: {store.manifest.prompt!r}")
        final = run_generate(text, cfg, store, progress=_progress_printer(json_mode))
        return store, final

    _run_agent("generate", json_mode, body)


@app.command()
def edit(
    image: Annotated[Path, typer.Argument(help="Image to edit (PNG/JPEG).")],
    instruction: Annotated[str, typer.Argument(help="What to change, e.g. 'make the cup blue'.")],
    out_dir: OutOpt = None,
    seed: SeedOpt = None,
    config: ConfigOpt = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Name of the run directory.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run named by --run-id.")] = False,
    json_mode: JsonOpt = False,
) -> None:
    """Edit IMAGE by INSTRUCTION through the same verify-and-repair loop."""

    def body() -> tuple[RunStore, FinalStep]:
        text = _validate_prompt(instruction, "instruction")
        _open_image(image)
        cfg = _load(config, out_dir=out_dir, seed=seed)
        store = RunStore.open_or_create(
            cfg.out_dir, run_id, resume=resume, prompt=text, kind="edit", seed=cfg.seed,
            config=cfg.model_dump(mode="json"), inputs={"image": str(image.resolve())}, simulated=_is_simulated(cfg),
        )
        final = run_edit(image, text, cfg, store, progress=_progress_printer(json_mode))
        return store, final

    _run_agent("edit", json_mode, body)


@app.command()
def check(
    image: Annotated[Path, typer.Argument(help="Image to judge.")],
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="The prompt the image should show.")],
    config: ConfigOpt = None,
    json_mode: JsonOpt = False,
) -> None:
    """Judge IMAGE against PROMPT: one check per element and relation, each with its evidence."""
    try:
        text = _validate_prompt(prompt)
        _open_image(image)
        cfg = _load(config)
        verdict = check_image(image, text, cfg)
    except USER_ERRORS as e:
        raise fail(str(e).splitlines()[0]) from None
    if json_mode:
        sys.stdout.write(json.dumps({**verdict.model_dump(mode="json"), "passed": verdict.passed,
                                     **_coverage_fields(verdict)}) + "\n")
        return
    table = Table(title=f"{image.name}: score {verdict.score:.2f} ({'pass' if verdict.passed else 'fail'})")
    for col in ("target", "check", "ok", "score", "evidence"):
        table.add_column(col)
    for c in verdict.checks:
        table.add_row(c.target, c.kind, "✓" if c.passed else "✗", f"{c.score:.2f}", c.evidence)
    out.print(table)
    out.print(_verdict_line(verdict, verdict.score, verdict.passed), highlight=False)


@tools_app.command("list")
def tools_list(config: ConfigOpt = None, json_mode: JsonOpt = False) -> None:
    """Show the configured tools: kind, backend, profiled dimensions, whether they can run here, and where.

    Nothing is loaded: each tool is constructed (cheap) and asked why it could not run."""
    try:
        cfg = _load(config)
    except USER_ERRORS as e:
        raise fail(str(e)) from None
    registry = ToolRegistry.from_config(cfg)
    rows = []
    for t in cfg.tools:
        row: dict[str, Any] = {
            "name": t.name, "backend": t.backend, "type": t.type, "enabled": t.enabled, "family": t.family,
        }
        try:
            tool = registry.get(t.name) if t.enabled else None
        except (RegistryError, ValueError) as e:
            row.update(kind="?", dims=t.dims or [], loadable=False, simulated=False, reason=str(e), device=None)
            rows.append(row)
            continue
        if tool is None:
            row.update(kind="-", dims=t.dims or [], loadable=False, simulated=False, reason="disabled", device=None)
        else:
            reason = tool.unavailable_reason()
            device = describe_device(tool.device_spec)
            row.update(
                kind=tool.kind, dims=tool.spec.dims, loadable=reason is None, simulated=tool.spec.simulated,
                device=device.get("device") or device.get("error"),
                **({"reason": reason} if reason else {}),
            )
        rows.append(row)
    if json_mode:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    table = Table(title="configured tools")
    families = any(r["family"] for r in rows)
    for col in ("name", "kind", "backend/type", *(["family"] if families else []), "dims", "runs here", "device"):
        table.add_column(col)
    for r in rows:
        ok = "[green]yes[/]" if r["loadable"] else f"[red]no[/] {r.get('reason', '')}"
        sim = " [dim](simulated)[/]" if r["simulated"] else ""
        family = [r["family"] or "-"] if families else []
        table.add_row(r["name"] + sim, r["kind"], f"{r['backend']}/{r['type']}", *family, ",".join(r["dims"]), ok,
                      str(r["device"]))
    out.print(table)


def _open_image(path: Path) -> None:
    """Fail early, in one line, on a missing or corrupt image."""
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with Image.open(path) as im:
            im.verify()
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"{path} is not a readable image ({type(e).__name__}: {e})") from None


def _is_simulated(cfg: LimnerConfig) -> bool:
    return any(t.backend == "sandbox" for t in cfg.tools if t.enabled)


def _mount_subapps() -> None:
    """Sub-command groups owned by their packages; a group whose extra is missing is skipped."""
    for name, module in (("perf", "limner.cli.perf"), ("train", "limner.train.cli")):
        try:
            sub = importlib.import_module(module).app
        except (ImportError, AttributeError):
            continue
        app.add_typer(sub, name=name)


_mount_subapps()


def main() -> None:
    if os.environ.get("LIMNER_DEBUG"):
        app()
        return
    try:
        app()
    except USER_ERRORS as e:
        err.print(f"[bold red]error:[/] {e}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
