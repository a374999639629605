"""The `limner` command line: a thin layer over the library.

    limner generate "two red apples to the left of a blue cup" --out runs --seed 0
    limner generate "..." --json                    # machine-readable summary on stdout
    limner generate "..." --run-id my-run --resume  # continue an interrupted run
    limner edit photo.png "make the cup blue" --out runs
    limner check image.png --prompt "a red apple" --json
    limner tools list [--config sdxl]
    limner words [--json]                           # what the offline reader and the sandbox understand
    limner perf show | profile | history            # performance matrix (PASM / APU)
    limner eval geneval --out DIR --agent           # benchmark runs in GenEval's / T2I-CompBench's layout
    limner ui --out runs                            # the web UI on 127.0.0.1:7860 (pip install 'limner[ui]')
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
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, TypeAdapter, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from limner import __version__
from limner.agent.evaluator import EvaluatorError
from limner.agent.loop import Agent, AgentError, run_edit, run_generate, run_retouch
from limner.agent.loop import check as check_image
from limner.cli.retouch import RetouchOpts, RetouchRoundsOpt, WeightsOpt, make_retoucher
from limner.cli.ui import ui as ui_command
from limner.cli.words import words as words_command
from limner.config import AgentConfig, ConfigError, LimnerConfig, load_config
from limner.imaging import MAX_IMAGE_PIXELS, MAX_WORK_SIDE, working_size
from limner.llm.health import fallbacks_in
from limner.perf.persistence import open_perf_store
from limner.perf.store import StoreError
from limner.runs import RunError, RunStore, settled_runs
from limner.tools._device import describe_device
from limner.tools.base import Readiness, Tool
from limner.tools.registry import RegistryError, ToolRegistry, default_checker, readiness, runnable_tools
from limner.types import (
    AnalysisStep,
    EvaluationStep,
    FinalStep,
    PlanStep,
    ReflectionStep,
    Step,
    ToolKind,
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
app.command("ui")(ui_command)

err = Console(stderr=True)
out = Console()

#: Exceptions that mean "the user asked for something that cannot be done": one line, exit 2.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError, LookupError, FileNotFoundError, PermissionError, ConfigError, RunError, StoreError,
)


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
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
    str | None, typer.Option("--config", "-c", help="YAML config file or preset name (sandbox, sdxl, flux, ...).",
                             show_default="sandbox: the offline simulated world")
]
OutOpt = Annotated[Path | None, typer.Option(
    "--out", "-o", help="Output root for run directories.", show_default="from the config: out_dir, runs unless set")]
SeedOpt = Annotated[int | None, typer.Option(
    "--seed", help="Random seed (runs are deterministic under it).", show_default="from the config: seed, 0 unless set")]
# Boolean flags get an empty metavar: help shows `--resume`, not `--resume <bool>` (they take no value).
JsonOpt = Annotated[bool, typer.Option("--json", metavar="", help="Print a machine-readable JSON summary on stdout.")]
RunIdOpt = Annotated[str | None, typer.Option(
    "--run-id", help="Name of the run directory.", show_default="a new id from the time and the prompt")]
ResumeOpt = Annotated[bool, typer.Option("--resume", metavar="", help="Continue the run named by --run-id.")]
#: The smallest image side anything in limner can judge (the sandbox checker's floor; a VLM sees nothing less).
MIN_IMAGE_SIDE = 8


#: CLI flag -> (config model, field) whose constraints the flag's value must meet
_FLAG_FIELDS: dict[str, tuple[type[BaseModel], str]] = {"--seed": (LimnerConfig, "seed"), "--rounds": (AgentConfig, "rounds")}


def _check_flag(flag: str, value: object) -> None:
    """A flag's value checked against its config field before the config is built, so the error names the
    flag (the config's own error would blame "defaults + environment")."""
    if value is None:
        return
    model, name = _FLAG_FIELDS[flag]
    field = model.model_fields[name]
    try:
        TypeAdapter(Annotated[field.annotation, *field.metadata]).validate_python(value)
    except ValidationError as e:
        raise ValueError(f"{flag} {value}: {e.errors()[0]['msg'].lower()}") from None


def _load(config: str | None, **overrides: Any) -> LimnerConfig:
    _check_flag("--seed", overrides.get("seed"))
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
    return escape(f" {names}" + (f" · {relations}" if relations else ""))


def _plan_line(step: PlanStep) -> str:
    return escape(" " + " → ".join(f"{s.kind}: {s.instruction}" for s in step.subtasks))


def _tool_line(step: ToolStep) -> str:
    status = "ok" if step.result.ok else f"[red]failed: {escape(str(step.result.error))}[/]"
    return f" {escape(step.call.tool)} ({step.result.duration_s * 1000:.0f} ms) {status}"


def _evaluation_line(step: EvaluationStep) -> str:
    v = step.verdict
    line = f" score {v.score:.2f}, {sum(c.passed for c in v.checks)}/{len(v.checks)} checks pass"
    if v.unsupported:
        line += f", {len(v.unsupported)} of {v.parts} parts not checked"
    if v.failed:
        line += " [yellow](" + escape("; ".join(c.evidence for c in v.failed[:3])) + ")[/]"
    return line


def _reflection_line(step: ReflectionStep) -> str:
    return escape(f" {step.next_action}: {step.reasoning}")


def _final_line(step: FinalStep) -> str:
    return f" {escape(step.image_path)} score {step.score:.2f} {'✓' if step.passed else '✗'}"


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
        line += f"\n[yellow]not checked:[/] {escape('; '.join(verdict.unsupported))}"
    elif not verdict.checks:
        line += " [yellow](nothing in the prompt could be read into a check)[/]"
    return line


#: step type -> what its progress line says after "round N type"
_STEP_LINES: dict[str, Callable[[Any], str]] = {
    "analysis": _analysis_line, "plan": _plan_line, "tool": _tool_line, "evaluation": _evaluation_line,
    "reflection": _reflection_line, "final": _final_line,
    "retouch": lambda s: f" {s.stage}: {escape(s.error or s.reasoning)}",
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


def _summary(store: RunStore, final: FinalStep, verdict: Verdict | None, started: float) -> dict[str, Any]:
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
        **_coverage_fields(verdict),
        "rounds": final.round,
        "simulated": store.manifest.simulated,
        "timings": {"total_s": round(time.perf_counter() - started, 3), **store.manifest.summary.get("timings", {})},
    }


def _first_line(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _run_note(opened: list[RunStore]) -> str:
    """Where the record of a run that stopped early is (nothing when no run was opened yet)."""
    if not opened:
        return ""
    store = opened[-1]
    return f" (run {store.run_id} marked {store.manifest.status}: {store.root / RunStore.MANIFEST})"


def _interrupted(opened: list[RunStore]) -> str:
    """The Ctrl-C message: the real id of the run to resume, or that there is none."""
    if not opened:
        return "interrupted before the run was created; nothing to resume"
    store = opened[-1]
    return (f"interrupted; run {store.run_id} is saved in {store.root} (marked {store.manifest.status}); "
            f"continue it by adding `--run-id {store.run_id} --resume` to the same command")


def _run_agent(kind: str, json_mode: bool, body: Callable[[], tuple[RunStore, FinalStep]]) -> None:
    """Shared error handling of generate/edit: user errors one line, everything recorded in the run. A run
    that stops early is marked `interrupted` (Ctrl-C) or `failed` in its manifest, never left `running`."""
    started = time.perf_counter()
    opened: list[RunStore] = []
    try:
        with settled_runs() as opened:
            store, final = body()
    except USER_ERRORS as e:
        raise fail(_first_line(e) + _run_note(opened)) from None
    except (AgentError, EvaluatorError) as e:
        raise fail(f"{kind} failed: {_first_line(e)}{_run_note(opened)}", code=1) from None
    except KeyboardInterrupt:
        raise fail(_interrupted(opened), code=130) from None
    verdict = _final_verdict(store, final)
    summary = _summary(store, final, verdict, started)
    fell_back = fallbacks_in(store.completed_steps())
    if fell_back:  # an LLM brain that silently hands every call to the rules looks like one that works
        summary["brain_fallbacks"] = fell_back
        if not json_mode:
            err.print(f"[yellow]LLM brain fell back to the rule-based brain on {sum(fell_back.values())} "
                      f"step(s) ({', '.join(f'{k}: {v}' for k, v in fell_back.items())}); reasons in "
                      f"{escape(str(store.root / RunStore.TRAJECTORY))}[/]", highlight=False, soft_wrap=True)
    store.close()
    if json_mode:
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        out.print(f"[green]done[/] {kind}: {escape(summary['final_image'])}", highlight=False, soft_wrap=True)
        out.print(_verdict_line(verdict, final.score, final.passed), highlight=False)
        if summary["simulated"]:
            out.print("[dim]sandbox world: the images and scores are simulated, not a real model's.[/]")


@app.command()
def generate(
    prompt: Annotated[str, typer.Argument(help="What to draw.")],
    out_dir: OutOpt = None,
    seed: SeedOpt = None,
    config: ConfigOpt = None,
    rounds: Annotated[int | None, typer.Option(
        "--rounds", help="Maximum evaluate→repair rounds (1 to 50).", show_default="from the config: agent.rounds, 3 unless set")] = None,
    run_id: RunIdOpt = None,
    resume: ResumeOpt = False,
    json_mode: JsonOpt = False,
    retouch: Annotated[bool, typer.Option("--retouch", metavar="", help="Last stage: repair local defects of the "
                                          "final image (limner retouch; needs the train extra).")] = False,
    weights: WeightsOpt = None,
    retouch_rounds: RetouchRoundsOpt = 3,
) -> None:
    """Generate an image for PROMPT with the agent (analyse → plan → route → evaluate → repair).

    Before the first round every configured tool is checked (weights on this machine or downloadable, its
    server answering); one that cannot run is left out, and the run stops at once, marked failed, when no
    generator or not the checker can. Ctrl-C marks the run interrupted and prints the id to resume."""

    def body() -> tuple[RunStore, FinalStep]:
        text = _validate_prompt(prompt)
        _check_flag("--rounds", rounds)
        cfg = _load(config, out_dir=out_dir, seed=seed, **({"agent": {"rounds": rounds}} if rounds else {}))
        store = RunStore.open_or_create(
            cfg.out_dir, run_id, resume=resume, prompt=text, kind="generate", seed=cfg.seed,
            config=cfg.model_dump(mode="json"), simulated=_is_simulated(cfg),
        )
        agent = _ready_agent(cfg)
        if retouch:
            agent.retoucher = make_retoucher(RetouchOpts(weights, retouch_rounds), agent.tools, cfg, agent.persistence)
        final = run_generate(text, cfg, store, progress=_progress_printer(json_mode), agent=agent)
        return store, final

    _run_agent("generate", json_mode, body)


@app.command("retouch")
def retouch_cmd(
    image: Annotated[Path, typer.Argument(help="Image to retouch (PNG/JPEG).")],
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="What the image should show (its prompt).")],
    out_dir: OutOpt = None,
    config: ConfigOpt = None,
    weights: WeightsOpt = None,
    rounds: RetouchRoundsOpt = 3,
    threshold: Annotated[float | None, typer.Option("--threshold", min=0.0, max=1.0,
                                                    help="τ_s (default: the model's calibrated one).")] = None,
    reasoner: Annotated[str, typer.Option("--reasoner", help="'classifier' (offline, trained) or 'vlm'.")] = "classifier",
    vlm_model: Annotated[str | None, typer.Option("--vlm-model", help="VLM for --reasoner vlm.")] = None,
    vlm_base_url: Annotated[str | None, typer.Option("--vlm-base-url", help="OpenAI-compatible endpoint.")] = None,
    vlm_key_env: Annotated[str, typer.Option("--vlm-key-env", help="Env var with the VLM's key.")] = "OPENAI_API_KEY",
    run_id: RunIdOpt = None,
    resume: ResumeOpt = False,
    json_mode: JsonOpt = False,
) -> None:
    """Repair IMAGE's local defects: perceive (saliency) → reason (categories) → repair, ≤ ROUNDS rounds; the
    result is kept only when PROMPT's verdict does not drop and nothing outside the repairs moved."""

    def body() -> tuple[RunStore, FinalStep]:
        text = _validate_prompt(prompt)
        _open_image(image)
        cfg = _load(config, out_dir=out_dir)
        agent = _ready_agent(cfg, needs=("edit", "inpaint"))
        agent.retoucher = make_retoucher(RetouchOpts(weights, rounds, threshold, reasoner, vlm_model, vlm_base_url,
                                                     vlm_key_env), agent.tools, cfg, agent.persistence)
        store = RunStore.open_or_create(
            cfg.out_dir, run_id, resume=resume, prompt=text, kind="retouch", seed=cfg.seed,
            config=cfg.model_dump(mode="json"), inputs={"image": str(image.resolve())}, simulated=_is_simulated(cfg),
        )
        return store, run_retouch(image, text, agent, store, progress=_progress_printer(json_mode))

    _run_agent("retouch", json_mode, body)


def _ready_agent(cfg: LimnerConfig, needs: ToolKind | tuple[ToolKind, ...] = "generate") -> Agent:
    """The agent of a run, with only the tools that can run here (`runnable_tools`): a tool whose weights are
    absent with no way to download them, or whose server does not answer, is reported once, here, instead
    of failing every round. Raises `ToolsUnavailable` (one line) when no generator or not the checker can run."""
    tools = ToolRegistry.from_config(cfg).by_name()
    ready, skipped = runnable_tools(tools, needs=needs)
    for name, why in skipped.items():
        err.print(f"[yellow]skipping tool {escape(name)}:[/] {escape(why)}", highlight=False, soft_wrap=True)
    return Agent(cfg, tools=ready, checker=default_checker(tools), perf_store=open_perf_store(cfg))


@app.command()
def edit(
    image: Annotated[Path, typer.Argument(help="Image to edit (PNG/JPEG).")],
    instruction: Annotated[str, typer.Argument(help="What to change, e.g. 'make the cup blue'.")],
    out_dir: OutOpt = None,
    seed: SeedOpt = None,
    config: ConfigOpt = None,
    source: Annotated[str | None, typer.Option(
        "--source", help="What IMAGE shows (e.g. the prompt it was made from): its elements the instruction "
        "does not name must still pass their checks after the edit.")] = None,
    allow_redraw: Annotated[bool, typer.Option(
        "--allow-redraw", metavar="", help="When no editor can do it, draw a new picture from the instruction instead of "
        "keeping IMAGE (off: IMAGE stays the final and the command exits 1).")] = False,
    run_id: RunIdOpt = None,
    resume: ResumeOpt = False,
    json_mode: JsonOpt = False,
) -> None:
    """Edit IMAGE by INSTRUCTION through the same verify-and-repair loop; an edit must also keep what it was not
    asked to change. Exits 1 when no edit passed: IMAGE is then returned unchanged as the final."""
    finals: list[FinalStep] = []

    def body() -> tuple[RunStore, FinalStep]:
        text = _validate_prompt(instruction, "instruction")
        described = _validate_prompt(source, "source description") if source is not None else None
        _open_image(image)
        cfg = _load(config, out_dir=out_dir, seed=seed, **({"agent": {"allow_redraw": True}} if allow_redraw else {}))
        store = RunStore.open_or_create(
            cfg.out_dir, run_id, resume=resume, prompt=text, kind="edit", seed=cfg.seed,
            config=cfg.model_dump(mode="json"), inputs={"image": str(image.resolve()), "source": described},
            simulated=_is_simulated(cfg),
        )
        agent = _ready_agent(cfg, needs=("edit", "inpaint"))
        final = run_edit(image, text, cfg, store, progress=_progress_printer(json_mode), source=described, agent=agent)
        finals.append(final)
        return store, final

    _run_agent("edit", json_mode, body)
    if finals and not finals[0].passed:
        raise fail(f"the edit did not pass: {finals[0].reasoning}", code=1)


@app.command()
def check(
    image: Annotated[Path, typer.Argument(help="Image to judge.")],
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="The prompt the image should show.")],
    config: ConfigOpt = None,
    json_mode: JsonOpt = False,
) -> None:
    """Judge IMAGE against PROMPT: one check per element and relation, each with its evidence.

    Exit status: 0 when the image passes, 1 when it does not (with --json too: the JSON is printed either
    way), 2 when the command cannot judge (missing or unreadable image, empty prompt, bad config)."""
    try:
        text = _validate_prompt(prompt)
        _open_image(image)
        cfg = _load(config)
        verdict = check_image(image, text, cfg)
    except USER_ERRORS as e:
        raise fail(str(e).splitlines()[0]) from None
    except EvaluatorError as e:
        raise fail(_first_line(e)) from None
    if json_mode:
        sys.stdout.write(json.dumps({**verdict.model_dump(mode="json"), "passed": verdict.passed,
                                     **_coverage_fields(verdict)}) + "\n")
        raise typer.Exit(_check_status(verdict.passed))
    table = Table(title=f"{image.name}: score {verdict.score:.2f} ({'pass' if verdict.passed else 'fail'})")
    for col in ("target", "check", "ok", "score", "evidence"):
        table.add_column(col)
    for c in verdict.checks:
        table.add_row(escape(c.target), c.kind, "✓" if c.passed else "✗", f"{c.score:.2f}", escape(c.evidence))
    out.print(table)
    out.print(_verdict_line(verdict, verdict.score, verdict.passed), highlight=False)
    raise typer.Exit(_check_status(verdict.passed))


def _check_status(passed: bool) -> int:
    """`limner check`'s exit status: scripts can gate on it (0 passes, 1 fails; 2 is a usage error)."""
    return 0 if passed else 1


@tools_app.command("list")
def tools_list(
    config: ConfigOpt = None,
    json_mode: JsonOpt = False,
    timeout: Annotated[float, typer.Option(
        "--timeout", min=0.1, help="Seconds to wait for each server (a tool's endpoint, the model hub).")] = 2.0,
) -> None:
    """Show the configured tools: kind, backend, profiled dimensions, whether they can run here, and where.

    Nothing is loaded or downloaded: each tool is constructed (cheap) and asked why it could not run, where
    its weights are (a local directory, the Hugging Face cache, or not on this machine) and whether its
    server answers (one GET with a short time-out)."""
    try:
        cfg = _load(config)
    except USER_ERRORS as e:
        raise fail(str(e)) from None
    registry = ToolRegistry.from_config(cfg)
    built: dict[str, Tool] = {}
    rows = [_tool_row(registry, t.name, t.model_dump(), built) for t in cfg.tools]
    found = readiness(built, timeout)
    for row in rows:
        if row["name"] in found:
            _add_readiness(row, built[row["name"]], found[row["name"]])
    if json_mode:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    out.print(_tools_table(rows))


def _tool_row(registry: ToolRegistry, name: str, cfg: dict[str, Any], built: dict[str, Tool]) -> dict[str, Any]:
    """One configured tool as a row; a tool that builds is put in `built` for the readiness probe."""
    row: dict[str, Any] = {k: cfg[k] for k in ("name", "backend", "type", "enabled", "family")}
    blank = {"dims": cfg["dims"] or [], "loadable": False, "ready": False, "simulated": False, "device": None,
             "weights": None, "server": None}
    if not cfg["enabled"]:
        return {**row, "kind": "-", **blank, "reason": "disabled"}
    try:
        built[name] = registry.get(name)
    except (RegistryError, ValueError) as e:
        return {**row, "kind": "?", **blank, "reason": str(e)}
    return row


def _add_readiness(row: dict[str, Any], tool: Tool, ready: Readiness) -> None:
    """`loadable`: installed and configured so it could load here; `ready`: also its weights are here (or
    downloadable) and its server answers now: what a run checks before its first round."""
    device = describe_device(tool.device_spec)
    row.update(
        kind=tool.kind, dims=tool.spec.dims, loadable=tool.unavailable_reason() is None, ready=ready.reason is None,
        simulated=tool.spec.simulated,
        device=device.get("device") or device.get("error"), weights=ready.weights, server=ready.server,
        **({"reason": ready.reason} if ready.reason else {}),
    )


def _tools_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="configured tools")
    families = any(r["family"] for r in rows)
    probed = any(r["weights"] or r["server"] for r in rows)
    for col in ("name", "kind", "backend/type", *(["family"] if families else []), "dims", "runs here",
                *(["weights", "server"] if probed else []), "device"):
        table.add_column(col)
    for r in rows:
        ok = "[green]yes[/]" if r["ready"] else f"[red]no:[/] {escape(str(r.get('reason', '')))}"
        sim = " [dim](simulated)[/]" if r["simulated"] else ""
        family = [r["family"] or "-"] if families else []
        where = [r["weights"] or "-", r["server"] or "-"] if probed else []
        table.add_row(escape(r["name"]) + sim, r["kind"], escape(f"{r['backend']}/{r['type']}"), *map(escape, family),
                      ",".join(r["dims"]), ok, *map(escape, where), escape(str(r["device"])))
    return table


def _open_image(path: Path) -> None:
    """Fail early, in one line, on a missing, corrupt or too small image, or a directory given as one."""
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not an image file")
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                size = im.size
                if size[0] * size[1] <= MAX_IMAGE_PIXELS:
                    im.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"{path} is not a readable image ({type(e).__name__}: {e})") from None
    if min(size) < MIN_IMAGE_SIDE:
        raise ValueError(f"{path} is {size[0]}×{size[1]} pixels; limner needs at least "
                         f"{MIN_IMAGE_SIDE}×{MIN_IMAGE_SIDE} to judge or edit an image")
    if size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise ValueError(f"{path} is {size[0]}×{size[1]} pixels ({size[0] * size[1] / 1e6:.0f} MP); limner reads "
                         f"images up to {MAX_IMAGE_PIXELS / 1e6:.0f} MP: downscale it first")
    if working_size(size) != size:
        w, h = working_size(size)
        err.print(f"[yellow]note:[/] {escape(str(path))} is {size[0]}×{size[1]} pixels; it is read at {w}×{h} "
                  f"(limner works on images up to {MAX_WORK_SIDE} pixels a side)", highlight=False, soft_wrap=True)


def _is_simulated(cfg: LimnerConfig) -> bool:
    return any(t.backend == "sandbox" for t in cfg.tools if t.enabled)


def _mount_subapps() -> None:
    """Sub-command groups owned by their packages; a group whose extra is missing is skipped."""
    for name, module in (("perf", "limner.cli.perf"), ("train", "limner.train.cli"), ("eval", "limner.cli.eval"),
                         ("serve", "limner.cli.serve"), ("data", "limner.cli.data")):
        try:
            sub = importlib.import_module(module).app
        except (ImportError, AttributeError):
            continue
        if name == "train":  # the brain trainers: limner train planner / planner-data
            importlib.import_module("limner.cli.planner").register(sub)
        app.add_typer(sub, name=name)


_mount_subapps()


def main() -> None:
    if os.environ.get("LIMNER_DEBUG"):
        app()
        return
    try:
        app()
    except USER_ERRORS as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
