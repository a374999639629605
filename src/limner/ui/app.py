"""The web UI (Gradio): run the agent and watch it work, browse runs, look at the performance matrix.

    limner ui --out runs                      # http://127.0.0.1:7860
    build_app(UISettings(out_dir=Path("runs"))).launch()

Every run started here is a real run directory under `out_dir`, written by the same loop and store as the
CLI (`limner generate` / `edit`): the UI iterates `Agent.run(..., stream=True)` and renders each typed step
as it arrives (`limner.ui.views`). Long work goes through Gradio's queue with a concurrency limit, so a
second browser session waits its turn instead of slowing the first; each session gets its own run. Errors
reach the page as one-line messages. The run browser reads only run directories inside the configured
roots (`views.resolve_run`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from limner.agent.evaluator import EvaluatorError
from limner.agent.loop import Agent, AgentError
from limner.config import ConfigError, LimnerConfig, load_config
from limner.llm.rule_brain import edit_target
from limner.perf.persistence import open_perf_store
from limner.perf.store import PerfStore, StoreError
from limner.runs import RunError, RunStore
from limner.tools.registry import RegistryError, ToolRegistry, default_checker, runnable_tools
from limner.types import AnalysisStep, EvaluationStep, FinalStep, PlanStep, ReflectionStep, Step, ToolStep
from limner.ui.views import (
    UIError,
    checks_rows,
    cluster_view,
    draw_checks,
    history_figure,
    list_clusters,
    list_runs,
    matrix_figure,
    plan_markdown,
    ranking_rows,
    read_run,
    resolve_file,
    resolve_folder,
    resolve_run,
    scene_markdown,
    step_line,
)

__all__ = ["UISettings", "build_app"]

CHECK_HEADERS = ["target", "check", "result", "score", "evidence"]
RANK_HEADERS = ["rank", "tool", "PASM score", "chosen"]
_USER_ERRORS = (ValueError, LookupError, OSError, ConfigError, RunError, RegistryError, AgentError,
                EvaluatorError, StoreError)


@dataclass
class UISettings:
    """Where runs go and what may be read. `roots`: folders the run browser may open (default: out_dir)."""

    config: str | None = None
    out_dir: Path = Path("runs")
    roots: list[Path] = field(default_factory=list)
    concurrency: int = 2
    max_rounds: int = 10

    def readable_roots(self) -> list[Path]:
        return [Path(r) for r in (self.roots or [self.out_dir])]


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


@dataclass
class _Live:
    """What the page shows of a run in progress; rebuilt from each step."""

    log: list[str] = field(default_factory=list)
    scene: str = ""
    plan: str = ""
    ranking: list[list[Any]] = field(default_factory=list)
    rounds: list[tuple[Image.Image, str]] = field(default_factory=list)
    checks: list[list[Any]] = field(default_factory=list)
    reflection: str = ""
    final: Image.Image | None = None
    run_dir: str = ""

    def outputs(self) -> tuple[Any, ...]:
        return ("\n".join(f"- {line}" for line in self.log), self.scene, self.plan, self.ranking, self.rounds,
                self.checks, self.reflection, self.final, self.run_dir)


def _show(live: _Live, step: Step, store: Any) -> None:
    live.log.append(step_line(step))
    if isinstance(step, AnalysisStep):
        live.scene = scene_markdown(step.scene)
    elif isinstance(step, PlanStep):
        live.plan = plan_markdown(step)
    elif isinstance(step, ToolStep) and step.ranking:
        live.ranking = ranking_rows(step)
    elif isinstance(step, EvaluationStep):
        image = store.load_image(step.image_path)
        live.rounds.append((draw_checks(image, step.verdict), f"round {step.round}: {step.verdict.summary()}"))
        live.checks = checks_rows(step.verdict)
    elif isinstance(step, ReflectionStep):
        live.reflection = f"**round {step.round} → {step.next_action}**: {step.reasoning}"
    elif isinstance(step, FinalStep):
        live.final = store.load_image(step.image_path)


class _Runner:
    """Builds agents from the settings and runs them; one agent per run (runs do not share state but the
    performance store, which is transactional)."""

    def __init__(self, settings: UISettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()

    def config(self, seed: float | None) -> LimnerConfig:
        overrides: dict[str, Any] = {"out_dir": self.settings.out_dir}
        if seed is not None:
            overrides["seed"] = int(seed)
        return load_config(self.settings.config, **overrides)

    def agent(self, cfg: LimnerConfig, edit: bool) -> Agent:
        tools = ToolRegistry.from_config(cfg).by_name()
        ready, _ = runnable_tools(tools, needs=("edit", "inpaint") if edit else "generate")
        return Agent(cfg, tools=ready, checker=default_checker(tools), perf_store=open_perf_store(cfg))

    def run(self, prompt: str, image: Image.Image | None, instruction: str, rounds: float | None,
            seed: float | None) -> Iterator[tuple[Any, ...]]:
        """Gradio's streaming handler. The agent runs in a thread of its own (its SQLite performance store
        and run writer belong to one thread; Gradio may resume a generator on any worker thread) and hands
        each step over a queue; closing this generator (Cancel, a closed page) stops the run at the next
        step and marks it interrupted — never left "running"."""
        text = (prompt or "").strip()
        instruction = (instruction or "").strip()
        edit = image is not None
        if edit and not instruction:
            raise gr.Error("an input image needs an instruction (what to change)")
        if not edit and not text:
            raise gr.Error("the prompt is empty: say what to draw")
        if len(text) > 2000 or len(instruction) > 2000:
            raise gr.Error("the prompt is longer than 2000 characters")
        if rounds is not None and not 1 <= int(rounds) <= self.settings.max_rounds:
            raise gr.Error(f"rounds must be between 1 and {self.settings.max_rounds}")
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        cancel = threading.Event()
        worker = threading.Thread(target=self._work, args=(events, cancel, text, image, instruction, rounds, seed),
                                  daemon=True, name="limner-ui-run")
        worker.start()
        live = _Live()
        try:
            while True:
                kind, payload = events.get()
                if kind == "store":
                    live.run_dir = str(payload.root)
                    store = payload
                elif kind == "step":
                    _show(live, payload, store)
                elif kind == "error":
                    raise gr.Error(payload)
                else:  # done
                    return
                yield live.outputs()
        finally:
            cancel.set()

    def _work(self, events: queue.Queue[tuple[str, Any]], cancel: threading.Event, text: str,
              image: Image.Image | None, instruction: str, rounds: float | None, seed: float | None) -> None:
        store: RunStore | None = None
        try:
            cfg = self.config(seed)
            if rounds is not None:
                cfg = cfg.model_copy(update={"agent": cfg.agent.model_copy(update={"rounds": int(rounds)})})
            edit = image is not None
            agent = self.agent(cfg, edit)
            store = RunStore.create(cfg.out_dir, prompt=instruction if edit else text, kind="edit" if edit else "generate",
                                    seed=cfg.seed, config=cfg.model_dump(mode="json"),
                                    simulated=any(t.backend == "sandbox" for t in cfg.tools if t.enabled))
            events.put(("store", store))
            if image is not None:
                steps = agent.run(edit_target(instruction), stream=True, store=store, image=image.convert("RGB"),
                                  instruction=instruction, source=text or None)
            else:
                steps = agent.run(text, stream=True, store=store)
            for step in steps:
                events.put(("step", step))
                if cancel.is_set():
                    steps.close()
                    raise KeyboardInterrupt("cancelled from the UI")
            store.close()
            events.put(("done", None))
        except KeyboardInterrupt as e:
            if store is not None:
                store.settle(e)  # marked interrupted, like Ctrl-C on the CLI
            events.put(("done", None))
        except _USER_ERRORS as e:
            if store is not None:
                store.settle(e)  # marked failed, with the reason
            events.put(("error", _first_line(e)))
        except Exception as e:  # noqa: BLE001 - a bug: the page gets one line, the run records it as failed
            if store is not None:
                store.settle(e)
            events.put(("error", f"{type(e).__name__}: {_first_line(e)}"))


def _browse(settings: UISettings, name: str) -> tuple[Any, ...]:
    """A recorded run: its steps as text, its round images with checks drawn, its final image."""
    try:
        run = read_run(resolve_run(settings.readable_roots(), name))
    except (UIError, *_USER_ERRORS) as e:
        raise gr.Error(_first_line(e)) from None
    gallery: list[tuple[Image.Image, str]] = []
    scene, checks = "", []
    for step in run.steps:
        if isinstance(step, AnalysisStep):
            scene = scene_markdown(step.scene)
        if isinstance(step, EvaluationStep):
            img = run.image(step.image_path)
            if img is not None:
                gallery.append((draw_checks(img, step.verdict), f"round {step.round}: {step.verdict.summary()}"))
            checks = checks_rows(step.verdict)
    final = run.image("final.png")
    m = run.manifest
    head = f"**{run.root.name}** — {m.get('status')} — {m.get('kind')}: {m.get('prompt')}"
    return head + "\n\n" + "\n".join(f"{i}. {step_line(s)}" for i, s in enumerate(run.steps)), scene, gallery, \
        checks, final


def _matrix(settings: UISettings, store_path: str) -> tuple[Any, Any, str]:
    path = Path(store_path) if store_path.strip() else settings.out_dir / "perf.sqlite"
    try:
        real = resolve_file(settings.readable_roots(), str(path))
        with PerfStore(real) as store:
            names = store.names()
            if not names:
                raise gr.Error(f"{path} holds no matrix yet (run the agent first, or `limner perf seed`)")
            name = "generate" if "generate" in names else names[0]
            m = store.require(name)
            return (matrix_figure(m, f"{name} v{store.version(name)}"), history_figure(store.history(name)),
                    f"matrices in {path}: {', '.join(names)}; shown: {name}")
    except gr.Error:
        raise
    except (UIError, *_USER_ERRORS) as e:
        raise gr.Error(_first_line(e)) from None


def _clusters(settings: UISettings, folder: str) -> Any:
    """The Datasets tab's cluster list of a `limner data clusters` folder inside the readable roots."""
    try:
        return gr.Dropdown(choices=list_clusters(resolve_folder(settings.readable_roots(), folder)))
    except (UIError, *_USER_ERRORS) as e:
        raise gr.Error(_first_line(e)) from None


def _cluster(settings: UISettings, folder: str, key: str) -> tuple[str, Any]:
    """One cluster: its positive and negatives with their edits (`views.cluster_view`)."""
    try:
        return cluster_view(resolve_folder(settings.readable_roots(), folder), key or "")
    except (UIError, *_USER_ERRORS) as e:
        raise gr.Error(_first_line(e)) from None


def build_app(settings: UISettings) -> gr.Blocks:
    runner = _Runner(settings)
    with gr.Blocks(title="limner") as app:
        gr.Markdown("# limner — compositional image generation by an agent that knows its tools\n"
                    "The sandbox world is a **simulation**: its painters are not real models.")
        with gr.Tab("Run"):
            with gr.Row():
                with gr.Column(scale=2):
                    prompt = gr.Textbox(label="Prompt", placeholder="two red apples to the left of a blue cup",
                                        elem_id="prompt")
                    with gr.Accordion("Edit an image instead", open=False):
                        image_in = gr.Image(label="Input image", type="pil", elem_id="input-image")
                        instruction = gr.Textbox(label="Instruction", placeholder="make the cup red",
                                                 elem_id="instruction")
                    with gr.Row():
                        rounds = gr.Number(label="Rounds", value=3, precision=0, minimum=1,
                                           maximum=settings.max_rounds, elem_id="rounds")
                        seed = gr.Number(label="Seed", value=0, precision=0, minimum=0, elem_id="seed")
                    with gr.Row():
                        go = gr.Button("Generate", variant="primary", elem_id="generate")
                        stop = gr.Button("Cancel", elem_id="cancel")
                    run_dir = gr.Textbox(label="Run directory", interactive=False, elem_id="run-dir")
                    log = gr.Markdown(elem_id="log")
                with gr.Column(scale=3):
                    final = gr.Image(label="Final image", type="pil", interactive=False, elem_id="final")
                    gallery = gr.Gallery(label="Rounds (checks drawn: green passed, red failed)", columns=3,
                                         elem_id="rounds-gallery")
            with gr.Row():
                scene = gr.Markdown(label="Scene as read", elem_id="scene")
                plan = gr.Markdown(label="Plan", elem_id="plan")
            ranking = gr.Dataframe(headers=RANK_HEADERS, label="Tool ranking (last tool call)", elem_id="ranking")
            checks = gr.Dataframe(headers=CHECK_HEADERS, label="Checks of the last evaluation", wrap=True,
                                  elem_id="checks")
            reflection = gr.Markdown(elem_id="reflection")
            event = go.click(runner.run, inputs=[prompt, image_in, instruction, rounds, seed],
                             outputs=[log, scene, plan, ranking, gallery, checks, reflection, final, run_dir],
                             concurrency_limit=settings.concurrency, concurrency_id="agent")
            stop.click(None, cancels=[event])
        with gr.Tab("Runs"):
            choices = gr.Dropdown(label="Runs", choices=list_runs(settings.readable_roots()), allow_custom_value=True,
                                  elem_id="run-choice")
            with gr.Row():
                refresh = gr.Button("Refresh list")
                open_btn = gr.Button("Open", variant="primary", elem_id="open-run")
            b_head = gr.Markdown(elem_id="run-steps")
            with gr.Row():
                b_scene = gr.Markdown()
                b_final = gr.Image(label="Final image", type="pil", interactive=False)
            b_gallery = gr.Gallery(label="Rounds", columns=3)
            b_checks = gr.Dataframe(headers=CHECK_HEADERS, label="Checks of the last evaluation", wrap=True)
            refresh.click(lambda: gr.Dropdown(choices=list_runs(settings.readable_roots())), outputs=[choices])
            open_btn.click(lambda name: _browse(settings, name), inputs=[choices],
                           outputs=[b_head, b_scene, b_gallery, b_checks, b_final])
            gr.Markdown("### Compare two runs")
            with gr.Row():
                left = gr.Dropdown(label="Left", choices=list_runs(settings.readable_roots()), allow_custom_value=True)
                right = gr.Dropdown(label="Right", choices=list_runs(settings.readable_roots()), allow_custom_value=True)
            cmp_btn = gr.Button("Compare")
            with gr.Row():
                with gr.Column():
                    l_head = gr.Markdown()
                    l_final = gr.Image(type="pil", interactive=False)
                with gr.Column():
                    r_head = gr.Markdown()
                    r_final = gr.Image(type="pil", interactive=False)

            def _compare(a: str, b: str) -> tuple[Any, ...]:
                la, ra = _browse(settings, a), _browse(settings, b)
                return la[0], la[4], ra[0], ra[4]

            cmp_btn.click(_compare, inputs=[left, right], outputs=[l_head, l_final, r_head, r_final])
        with gr.Tab("Performance matrix"):
            store_path = gr.Textbox(label="Perf store", value=str(settings.out_dir / "perf.sqlite"), elem_id="store")
            show = gr.Button("Show", variant="primary", elem_id="show-matrix")
            note = gr.Markdown(elem_id="matrix-note")
            heat = gr.Plot(label="Normalize(M) with cell sources", elem_id="heatmap")
            hist = gr.Plot(label="Update history", elem_id="history")
            show.click(lambda p: _matrix(settings, p), inputs=[store_path], outputs=[heat, hist, note])
        with gr.Tab("Datasets"):
            gr.Markdown("Contrastive clusters built by `limner data clusters`: the positive, then its negatives "
                        "ordered by compositional distance, each with the edit that made it.")
            ds_path = gr.Textbox(label="Dataset folder (inside the readable roots)", elem_id="dataset")
            ds_load = gr.Button("Load clusters", elem_id="load-clusters")
            ds_choice = gr.Dropdown(label="Cluster", choices=[], elem_id="cluster-choice")
            ds_note = gr.Markdown(elem_id="cluster-note")
            ds_gallery = gr.Gallery(label="Positive and negatives", columns=4, elem_id="cluster-gallery")

            ds_load.click(lambda folder: _clusters(settings, folder), inputs=[ds_path], outputs=[ds_choice])
            ds_choice.change(lambda folder, key: _cluster(settings, folder, key), inputs=[ds_path, ds_choice],
                             outputs=[ds_note, ds_gallery])
    return app


def launch(settings: UISettings, host: str = "127.0.0.1", port: int = 7860, **kwargs: Any) -> Any:
    app = build_app(settings)
    app.queue(default_concurrency_limit=settings.concurrency)
    return app.launch(server_name=host, server_port=port, show_error=False, **kwargs)
