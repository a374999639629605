"""`limner perf ...`: look at, seed, profile, export and import the performance matrix.

The store file comes from `--store`, else from the config (`perf.store`, default `<out_dir>/perf.sqlite`).
Matrix names default to the ones runs read and learn into: one per tool kind (`generate`, `edit`,
`inpaint`, see `limner.perf.persistence.MATRIX_NAMES`); `show` and `history` show each of them present.
Mistakes the user makes (missing file, unknown tool, corrupt JSON) end with one line and exit code 2.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from limner.config import ConfigError, LimnerConfig, load_config
from limner.perf.matrix import MatrixError, PerformanceMatrix
from limner.perf.persistence import MATRIX_NAMES
from limner.perf.plots import matrix_figure
from limner.perf.store import PerfStore, StoreError
from limner.profiling import ProfileReport, profile_repairs, profile_tools, repair_items
from limner.tools.base import Tool
from limner.tools.registry import RegistryError, ToolRegistry

app = typer.Typer(
    help="Performance matrix: PASM routing scores, APU/Bayesian learning history.", no_args_is_help=True
)
console = Console()
errors = Console(stderr=True)  # errors go to stderr, one line however long (scripts and logs read them)

StoreOpt = Annotated[Path | None, typer.Option("--store", help="SQLite perf store (default: from config)")]
ConfigOpt = Annotated[str | None, typer.Option("--config", "-c", help="config file or preset")]
NameOpt = Annotated[str | None, typer.Option(
    "--name", help="matrix name inside the store", show_default="every matrix runs use: generate, edit, inpaint")]
KindNameOpt = Annotated[str | None, typer.Option(
    "--name", help="matrix name inside the store", show_default="the matrix runs use for the tools' kind")]


def _fail(msg: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {escape(msg)}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _store_path(store: Path | None, config: str | None) -> Path:
    if store is not None:
        return store
    return _config(config).perf_store_path


def _config(config: str | None) -> LimnerConfig:
    try:
        return load_config(config)
    except ConfigError as e:
        raise _fail(str(e)) from None


def _run_names(s: PerfStore, name: str | None) -> list[str]:
    """`[name]` when given; else the matrices the agent's runs read and learn into that this store holds."""
    if name is not None:
        return [name]
    present = s.names()
    used = [n for n in dict.fromkeys(MATRIX_NAMES.values()) if n in present]
    if not used:
        others = ", ".join(present) or "none"
        raise _fail(f"the store holds no matrix runs use ({', '.join(dict.fromkeys(MATRIX_NAMES.values()))}); "
                    f"matrices in it: {others} (name one with --name)")
    return used


def _open(store: Path | None, config: str | None, must_exist: bool = True) -> PerfStore:
    path = _store_path(store, config)
    if must_exist and not path.is_file():
        raise _fail(f"no perf store at {path} (create one with `limner perf seed` or `limner perf profile`)")
    try:
        return PerfStore(path)
    except StoreError as e:
        raise _fail(str(e)) from None


@app.command()
def show(
    store: StoreOpt = None,
    config: ConfigOpt = None,
    name: NameOpt = None,
    heatmap: Annotated[Path | None, typer.Option(
        "--heatmap", help="also write a heatmap PNG here (one matrix: with --name or a store holding one)")] = None,
) -> None:
    """Print the matrix (dimensions × tools) with where each number came from."""
    with _open(store, config) as s:
        names = _run_names(s, name)
        try:
            shown = [(n, s.require(n), s.version(n)) for n in names]
        except StoreError as e:
            raise _fail(str(e)) from None
    if heatmap is not None and len(shown) > 1:
        raise _fail(f"--heatmap draws one matrix; the store holds {', '.join(names)}: choose one with --name")
    for n, m, version in shown:
        _show_matrix(n, m, version, heatmap)


def _show_matrix(name: str, m: PerformanceMatrix, version: int, heatmap: Path | None) -> None:
    table = Table(
        title=f"performance matrix '{name}' v{version} (letter = source: P published, F profiled, A apu, B bayes, · prior)"
    )
    table.add_column("tool", no_wrap=True)
    for d in m.dims:
        table.add_column(d, justify="right")
    mark = {"published": "P", "profiled": "F", "apu": "A", "bayes": "B", "prior": "·"}
    for j, t in enumerate(m.tools):
        table.add_row(t, *[f"{m.values[i, j]:.3f}{mark[str(m.sources[i, j])]}" for i in range(len(m.dims))])
    console.print(table)
    if heatmap is not None:
        write_heatmap(m, heatmap, title=f"{name} v{version}")
        console.print(f"heatmap written to {heatmap}")


def write_heatmap(m: PerformanceMatrix, path: Path, title: str = "") -> None:
    """Normalize(M) as a heatmap (what PASM ranks on), raw values printed in the cells."""
    fig = matrix_figure(m, title, sources=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


@app.command()
def seed(
    kind: Annotated[
        str, typer.Argument(help="generate (T2I-CompBench) or edit (ImgEdit-Bench)")
    ] = "generate",
    version: Annotated[
        str | None, typer.Option(help="benchmark version (default: T2I-CompBench++ / ImgEdit basic)")
    ] = None,
    models: Annotated[str | None, typer.Option(help="comma-separated tool ids (default: all)")] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    name: Annotated[str | None, typer.Option("--name", help="matrix name inside the store",
                                             show_default="KIND: the matrix runs use for it")] = None,
) -> None:
    """Seed the matrix from the shipped published benchmark scores."""
    if kind not in ("generate", "edit"):
        raise _fail(f"kind must be 'generate' or 'edit', got {kind!r}")
    name = name or MATRIX_NAMES[kind]
    try:
        m = PerformanceMatrix.from_published(
            kind,
            version=version,
            models=models.split(",") if models else None,  # type: ignore[arg-type]
        )
    except MatrixError as e:
        raise _fail(str(e)) from None
    with _open(store, config, must_exist=False) as s:
        v = s.put(m, name, kind="seed", evidence={"published": m.meta.get("version")})
    console.print(f"seeded '{name}' v{v} with {len(m.tools)} tools from {m.meta.get('version')}")


@app.command()
def profile(
    tools: Annotated[str, typer.Option("--tools", help="comma-separated configured tool names, all of one kind")],
    prompts: Annotated[Path, typer.Option("--prompts", help="text file, one prompt a line")],
    seeds: Annotated[int, typer.Option(help="seeds per prompt")] = 1,
    painters: Annotated[
        str | None,
        typer.Option(
            "--painters", help="editors/inpainters only: comma-separated generators that draw the images to repair"
        ),
    ] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    name: KindNameOpt = None,
) -> None:
    """Run each tool over the prompts, judge every image with the evaluator, store the profiled matrix.

    Generators draw the prompts. Editors and inpainters repair what `--painters` drew wrong: every failed
    check the planner would repair with them is an item, done when the check passes afterwards and
    nothing else broke."""
    cfg = _config(config)
    try:
        lines = prompts.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise _fail(f"cannot read prompts file {prompts}: {e.strerror or e}") from None
    registry = ToolRegistry.from_config(cfg)
    chosen = _tools(registry, tools)
    name = name or _kind_name(chosen)
    try:
        matrix, report = _profile(cfg, registry, chosen, lines, seeds, painters)
    except MatrixError as e:
        raise _fail(str(e)) from None
    path = store or cfg.perf_store_path
    with PerfStore(path) as s:
        v = s.put(
            matrix,
            name,
            kind="profile",
            evidence={"prompts": str(prompts), "images": report.images, "failures": report.failures},
        )
    console.print(f"profiled {len(chosen)} tools on {report.images} images; stored '{name}' v{v} in {path}")


def _kind_name(chosen: list[Tool]) -> str:
    """The matrix runs use for the kind of the profiled tools (the first one's: `_profile` checks they match)."""
    kind = chosen[0].kind if chosen else "generate"
    return MATRIX_NAMES.get(kind, kind)


def _tools(registry: ToolRegistry, names: str) -> list[Tool]:
    """The configured tools a comma-separated `names` lists (an unknown name ends the command)."""
    try:
        return [registry.get(t.strip()) for t in names.split(",") if t.strip()]
    except RegistryError as e:
        raise _fail(str(e)) from None


def _progress(msg: str) -> None:
    console.print(msg, highlight=False)


def _profile(
    cfg: LimnerConfig,
    registry: ToolRegistry,
    chosen: list[Tool],
    lines: list[str],
    seeds: int,
    painters: str | None,
) -> tuple[PerformanceMatrix, ProfileReport]:
    """Generators draw the prompts; editors (or inpainters) repair what `painters` drew wrong."""
    kinds = {t.kind for t in chosen}
    seed_list = list(range(cfg.seed, cfg.seed + seeds))
    if not (kinds <= {"edit"} or kinds <= {"inpaint"}):
        return profile_tools(
            chosen, lines, seeds=seed_list, width=cfg.width, height=cfg.height, progress=_progress
        )
    if not painters:
        raise _fail("profiling editors needs --painters: the generators whose images they repair")
    drawers = _tools(registry, painters)
    items = repair_items(drawers, lines, kind=kinds.pop(), seeds=seed_list, width=cfg.width, height=cfg.height)
    _progress(f"{len(items)} repairs to make")
    return profile_repairs(chosen, items, seed=cfg.seed, progress=_progress)


@app.command()
def history(
    store: StoreOpt = None,
    config: ConfigOpt = None,
    name: NameOpt = None,
    limit: Annotated[int, typer.Option(help="show the last N records")] = 20,
) -> None:
    """Every change to the matrix: seeds, profiles, imports and each learning update with its evidence."""
    with _open(store, config) as s:
        for n in _run_names(s, name):
            _history_table(s, n, limit)


def _history_table(s: PerfStore, name: str, limit: int) -> None:
    records = s.history(name, limit=limit)
    total = s.count_updates(name, kind=None)
    table = Table(title=f"history of '{name}' (last {len(records)} of {total})")
    for col in ("v", "when (UTC)", "kind", "updater", "run", "task", "scores"):
        table.add_column(col)
    for r in records:
        when = dt.datetime.fromtimestamp(r.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        scores = ", ".join(f"{t} {v:.2f}" for t, v in r.scores.items())
        table.add_row(str(r.version), when, r.kind, r.updater or "", r.run_id or "", r.task or "", scores)
    console.print(table)


@app.command("export")
def export_cmd(
    out: Annotated[Path, typer.Argument(help="JSON file to write")],
    store: StoreOpt = None,
    config: ConfigOpt = None,
    name: Annotated[str, typer.Option("--name", help="matrix name inside the store")] = MATRIX_NAMES["generate"],
    no_history: Annotated[bool, typer.Option("--no-history", metavar="", help="leave the update history out")] = False,
) -> None:
    """Write the matrix, router state and history as one JSON file."""
    with _open(store, config) as s:
        try:
            s.export_json(out, name, with_history=not no_history)
        except StoreError as e:
            raise _fail(str(e)) from None
    console.print(f"exported '{name}' to {out}")


@app.command("import")
def import_cmd(
    path: Annotated[Path, typer.Argument(help="an export from `limner perf export`, or a bare matrix JSON")],
    store: StoreOpt = None,
    config: ConfigOpt = None,
    name: Annotated[
        str | None, typer.Option("--name", help="matrix name (default: the one in the file)")
    ] = None,
) -> None:
    """Make a JSON file the current matrix (recorded in history as an import)."""
    with _open(store, config, must_exist=False) as s:
        try:
            v = s.import_json(path, name)
        except (StoreError, MatrixError) as e:
            raise _fail(str(e)) from None
    console.print(f"imported {path} as version {v}")
