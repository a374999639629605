"""Profile the sandbox painters (and editors, inpainters) and print the `scores:` they declare in presets/sandbox.yaml.

    python scripts/profile_sandbox.py [--scenes 60] [--seed 10000] [--edit-scenes 12]
    python scripts/profile_sandbox.py --scenes 0 --edit-scenes 0 --background-scenes 30  # background only

PerfGuard seeds its matrix from published benchmark scores. Sandbox painters have none, so their prior is
measured: each painter draws N random sandbox scenes (from `limner.tools.sandbox.world.random_scene`, a
prompt distribution different from GenEval's, with a seed disjoint from every benchmark's), the pixel-only
checker judges each image, and a painter's score on a dimension is its mean check score there
(`limner.profiling.profile_tools`). The numbers describe SIMULATED tools. Paste the printed YAML into the
preset; the agent's routers start from it and learn from their own runs after that.

Editors and inpainters are profiled on repairs (`limner.profiling.profile_repairs`): every painter draws
`--edit-scenes` other random scenes, and each failed check the rule planner would repair with an editor
(or inpainter) is an item; a cell is the share of items on that edit dimension where the targeted check
passes after the edit and nothing that passed before broke.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from limner.config import load_config
from limner.profiling import profile_repairs, profile_tools, repair_items
from limner.tools.registry import ToolRegistry
from limner.tools.sandbox.world import describe, random_scene


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=60, help="scenes drawn for the painter profile (0: skip)")
    ap.add_argument("--seed", type=int, default=10_000)
    ap.add_argument("--edit-scenes", type=int, default=12, help="scenes drawn for the editor profile (0: skip)")
    ap.add_argument("--background-scenes", type=int, default=0,
                    help="scenes with a background drawn without it, for the editors' background column "
                         "(random scenes seldom need that repair: 3 in 40 scenes)")
    args = ap.parse_args(argv)


    config = load_config()
    registry = ToolRegistry.from_config(config)
    painters = [t for t in registry.tools("generate") if t.spec.backend == "sandbox"]
    rng = np.random.default_rng(args.seed)
    if args.scenes > 0:
        prompts = [random_scene(rng).prompt for _ in range(args.scenes)]
        matrix, _ = profile_tools(painters, prompts, seeds=[args.seed], width=config.width,
                                  height=config.height, progress=lambda msg: print(msg, file=sys.stderr))
        print(f"# profiled on {args.scenes} random sandbox scenes, seed {args.seed}: python "
              f"scripts/profile_sandbox.py --scenes {args.scenes} --seed {args.seed}")
        _print(matrix)
    if args.edit_scenes <= 0 and args.background_scenes <= 0:
        return

    edit_prompts = [random_scene(rng).prompt for _ in range(args.edit_scenes)]
    # scenes with a backdrop, given to the painters without it: each picture needs a background repair
    with_backdrop = [random_scene(rng, p_background=1.0) for _ in range(args.background_scenes)]
    drawn = {s.prompt: describe(s.model_copy(update={"background": None})) for s in with_backdrop}
    edit_prompts += list(drawn)
    n_bare = args.background_scenes
    bare = f" and of {n_bare} drawn without their background" if n_bare else ""
    flag = f" --background-scenes {n_bare}" if n_bare else ""
    print(f"# editors: repairs of {args.edit_scenes} more random scenes drawn by every painter{bare}: python "
          f"scripts/profile_sandbox.py --scenes {args.scenes} --seed {args.seed} "
          f"--edit-scenes {args.edit_scenes}{flag}")
    for kind in ("edit", "inpaint"):
        items = repair_items(painters, edit_prompts, kind=kind, seeds=[args.seed], width=config.width,
                             height=config.height, drawn=drawn)
        print(f"# {kind}: {len(items)} repairs", file=sys.stderr)
        tools = [t for t in registry.tools(kind) if t.spec.backend == "sandbox"]
        edit_matrix, report = profile_repairs(tools, items, seed=args.seed,
                                              progress=lambda m: print(m, file=sys.stderr))
        _print(edit_matrix)
        for tool, counts in report.checks.items():  # how many repairs each score rests on
            print(f"# {tool} repairs: " + ", ".join(f"{d} {n}" for d, n in counts.items()))


def _print(matrix) -> None:
    for tool in matrix.tools:
        scores = {d: round(float(matrix.get(tool, d)), 3) for d in matrix.dims if matrix.source(tool, d) != "prior"}
        print(f"{tool}: {{{', '.join(f'{d}: {v}' for d, v in scores.items())}}}")


if __name__ == "__main__":
    main()
