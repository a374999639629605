"""Edit benchmark (SIMULATED sandbox world): does an edit do what was asked AND keep the rest?

    python benchmarks/edit.py --json --per-kind 4

Seeded edit items: a source prompt painted by a sandbox painter (kept only when the world's truth says the
painting shows it), and one instruction of each kind — recolour, add, remove, move, count, text. Each is
carried out by every editor alone (one call, no check) and by the agent's edit loop (`Agent.run` with the
image, the instruction and the source prompt as the input's description, 3 rounds). Both are judged by the
world's ground truth, which the sandbox editors carry through each edit (`params["_truth_in"]`):

- success: every truth check of what the instruction asks for (`edit_target`) passes on the returned image;
- preservation: every truth check of the source's untargeted elements (and relations between them) that
  passed on the input still passes, and the mean pixel change outside the truth boxes of the targeted
  objects, before and after, grown by `preservation.MARGIN` px, is at most `preservation.TOLERANCE`.
  Judged on the image the user gets back: the unchanged input when a tool fails or the agent keeps it
  (`returned_input` counts those);
- redraw_unasked: agent finals that are a fresh generation although `agent.allow_redraw` is off.

Metrics go to `metrics["edit"]` as in shared/BENCHMARKS.md: {"editors": {name: {"success", "preservation"}},
"agent": {"success", "preservation"}, "redraw_unasked": n}, plus per-kind figures and counts.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from limner.agent import Agent, MemoryStore
from limner.agent.preservation import MARGIN, TOLERANCE, outside_difference, read_targets, untargeted_scene
from limner.config import LimnerConfig, load_config
from limner.files import truth_path_of
from limner.llm.rule_brain import edit_target, plural
from limner.reading.prompt import parse_prompt
from limner.tools.base import ToolError
from limner.tools.sandbox.world import WorldTruth, grade_truth
from limner.tools.truth import TRUTH_PARAM
from limner.types import Box, Scene, ToolCall, ToolStep

KINDS = ("recolour", "add", "remove", "move", "count", "text")
_OBJECTS = ("cup", "dog", "car", "apple", "cat", "clock", "bus", "umbrella", "vase", "banana")
_COLOURS = ("red", "blue", "green", "yellow", "purple", "orange")
_WORDS = ("OPEN", "SALE", "STOP", "EXIT")


@dataclass(frozen=True)
class Item:
    kind: str
    source: str
    instruction: str


def make_item(kind: str, rng: np.random.Generator) -> Item:
    """One seeded edit item of `kind`: a source prompt and an instruction of the grammar."""
    a, b, c = (str(x) for x in rng.choice(_OBJECTS, 3, replace=False))
    ca, cb, cc = (str(x) for x in rng.choice(_COLOURS, 3, replace=False))
    if kind == "recolour":
        return Item(kind, f"a {ca} {a} and a {cb} {b}", f"make the {a} {cc}")
    if kind == "add":
        return Item(kind, f"a {ca} {a} and a {cb} {b}", f"add a {cc} {c}")
    if kind == "remove":
        return Item(kind, f"a {ca} {a} and a {cb} {b}", f"remove the {a}")
    if kind == "move":
        return Item(kind, f"a {ca} {a} right of a {cb} {b} and a {cc} {c}", f"move the {a} left of the {b}")
    if kind == "count":
        return Item(kind, f"two {ca} {plural(a)} and a {cb} {b}", f"change the number of {plural(a)} to 3")
    w0, w1 = (str(x) for x in rng.choice(_WORDS, 2, replace=False))
    return Item(kind, f'a sign that says "{w0}" and a {cb} {b}', f'change the text to "{w1}"')


def _passes(scene: Scene | None, truth: WorldTruth) -> list[tuple[str, str, bool]]:
    return [] if scene is None else [(c.target, c.kind, c.passed) for c in grade_truth(scene, truth)]


def judge_by_truth(item: Item, before: Image.Image, t_before: WorldTruth, after: Image.Image,
                   t_after: WorldTruth) -> tuple[bool, bool]:
    """(success, preservation) of the image returned for `item`, by the world's ground truth."""
    target = parse_prompt(edit_target(item.instruction))
    success = all(ok for *_, ok in _passes(target, t_after))
    targets = read_targets(item.instruction)
    assert targets is not None, item.instruction  # every benchmark instruction is in the grammar
    kept = untargeted_scene(parse_prompt(item.source), targets)
    was = {(t, k) for t, k, ok in _passes(kept, t_before) if ok}
    now = {(t, k) for t, k, ok in _passes(kept, t_after) if ok}
    elements_kept = was <= now
    boxes: list[Box] = [o.box for t in (t_before, t_after) for o in t.objects
                        if o.cls in targets.classes]
    if targets.text:
        boxes += [x.plate or x.box for t in (t_before, t_after) for x in t.texts]
    d = outside_difference(before, after, boxes, MARGIN)
    return success, elements_kept and d is not None and d <= TOLERANCE


def paint_source(cfg: LimnerConfig, agent: Agent, item: Item, seed: int) -> tuple[Image.Image, WorldTruth] | None:
    """The item's source image from the first painter (a few seeds) whose truth shows the source prompt."""
    scene = parse_prompt(item.source)
    painters = [n for n, t in agent.tools.items() if t.kind == "generate"]
    for k in range(6):
        name = painters[k % len(painters)]
        r = agent.tools[name](ToolCall(tool=name, prompt=item.source, seed=seed * 31 + k, width=cfg.width,
                                       height=cfg.height))
        truth = WorldTruth.from_json(r.ground_truth)
        if all(ok for *_, ok in _passes(scene, truth)):
            return r.image, truth
    return None


def single_editor(agent: Agent, name: str, item: Item, image: Image.Image, truth: WorldTruth,
                  seed: int) -> tuple[Image.Image, WorldTruth, bool]:
    """One call of editor `name`, no check: (returned image, its truth, whether it was the input)."""
    tool = agent.tools[name]
    call = ToolCall(tool=name, prompt=item.instruction, seed=seed, width=image.width, height=image.height,
                    params={TRUTH_PARAM: truth.model_dump(mode="json")})
    try:
        r = tool(call, image=image)
    except ToolError:
        return image, truth, True
    if not r.ok or r.image is None or r.ground_truth is None:
        return image, truth, True
    return r.image, WorldTruth.from_json(r.ground_truth), False


def agent_edit(agent: Agent, item: Item, image: Image.Image, truth: WorldTruth,
               rounds: int) -> tuple[Image.Image, WorldTruth, bool, bool]:
    """The agent's edit loop: (final image, its truth, whether it is the input, whether it was redrawn)."""
    store = MemoryStore()
    store.truths["images/input.truth.json"] = truth.model_dump(mode="json")  # the input's truth rides along
    final = agent.run(edit_target(item.instruction), store=store, rounds=rounds, image=image,
                      instruction=item.instruction, source=item.source)
    if final.image_path == "images/input.png":
        return image, truth, True, False
    drawn = any(isinstance(s, ToolStep) and s.result.image_path == final.image_path
                and agent.tools[s.call.tool].kind == "generate" for s in store.steps)
    t_after = store.truths.get(truth_path_of(final.image_path))
    if t_after is None:
        raise RuntimeError(f"no truth for the agent's final {final.image_path}")
    return store.images[final.image_path], WorldTruth.from_json(t_after), False, drawn


def _rates(rows: list[tuple[bool, bool, bool]]) -> dict[str, Any]:
    n = max(1, len(rows))
    return {"success": sum(r[0] for r in rows) / n, "preservation": sum(r[1] for r in rows) / n,
            "returned_input": sum(r[2] for r in rows), "n": len(rows)}


def edit_metrics(cfg: LimnerConfig, per_kind: int, seed: int, rounds: int = 3,
                 log: Any = None) -> dict[str, Any]:
    """The `edit` metrics: every editor alone and the agent's edit loop on the seeded items."""
    agent = Agent(cfg)
    editors = [n for n, t in agent.tools.items() if t.kind == "edit"]
    rows: dict[str, list[tuple[bool, bool, bool]]] = {n: [] for n in [*editors, "agent"]}
    by_kind: dict[str, dict[str, list[tuple[bool, bool, bool]]]] = {}
    redraws, skipped = 0, 0
    rng = np.random.default_rng(seed)
    for i in range(per_kind * len(KINDS)):
        item = make_item(KINDS[i % len(KINDS)], rng)
        painted = paint_source(cfg, agent, item, seed + i)
        if painted is None:
            skipped += 1
            continue
        image, truth = painted
        for name in editors:
            after, t_after, kept_input = single_editor(agent, name, item, image, truth, seed + i)
            row = (*judge_by_truth(item, image, truth, after, t_after), kept_input)
            rows[name].append(row)
            by_kind.setdefault(item.kind, {}).setdefault(name, []).append(row)
        after, t_after, kept_input, drawn = agent_edit(agent, item, image, truth, rounds)
        redraws += drawn
        row = (*judge_by_truth(item, image, truth, after, t_after), kept_input)
        rows["agent"].append(row)
        by_kind.setdefault(item.kind, {}).setdefault("agent", []).append(row)
        if log:
            log(f"[edit {i}] {item.kind}: {item.instruction!r} agent={row}")
    return {
        "editors": {n: _rates(rows[n]) for n in editors}, "agent": _rates(rows["agent"]),
        "redraw_unasked": redraws, "items": len(rows["agent"]), "skipped_unpainted": skipped,
        "by_kind": {k: {n: _rates(v) for n, v in d.items()} for k, d in by_kind.items()},
        "tolerance": TOLERANCE, "margin_px": MARGIN, "rounds": rounds, "simulated": True,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object on the last line of stdout")
    ap.add_argument("--per-kind", type=int, default=8, help="items per instruction kind")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", default="sandbox")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:  # no perf store from an earlier run in ./runs is read
        cfg = load_config(args.config, seed=args.seed, out_dir=Path(tmp))
        metrics = {"edit": edit_metrics(cfg, args.per_kind, args.seed,
                                        log=lambda m: print(m, file=sys.stderr, flush=True))}
    out = {"benchmark": "edit", "simulated": True, "config": {"preset": args.config, "seed": args.seed,
                                                                 "per_kind": args.per_kind}, "metrics": metrics}
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
