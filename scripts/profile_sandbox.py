"""Profile the sandbox painters and print the `scores:` they declare in presets/sandbox.yaml.

    python scripts/profile_sandbox.py [--scenes 60] [--seed 10000]

PerfGuard seeds its matrix from published benchmark scores. Sandbox painters have none, so their prior is
measured: each painter draws N random sandbox scenes (from `limner.tools.sandbox.world.random_scene`, a
prompt distribution different from GenEval's, with a seed disjoint from every benchmark's), the pixel-only
checker judges each image, and a painter's score on a dimension is its mean check score there
(`limner.perf.profile.profile_tools`). The numbers describe SIMULATED tools. Paste the printed YAML into the
preset; the agent's routers start from it and learn from their own runs after that.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=60)
    ap.add_argument("--seed", type=int, default=10_000)
    args = ap.parse_args(argv)

    from limner.config import load_config
    from limner.perf.profile import profile_tools
    from limner.tools.registry import ToolRegistry
    from limner.tools.sandbox.world import random_scene

    config = load_config()
    registry = ToolRegistry.from_config(config)
    painters = [t for t in registry.tools("generate") if t.spec.backend == "sandbox"]
    rng = np.random.default_rng(args.seed)
    prompts = [random_scene(rng).prompt for _ in range(args.scenes)]
    matrix, _ = profile_tools(painters, prompts, seeds=[args.seed], width=config.width, height=config.height,
                              progress=lambda msg: print(msg, file=sys.stderr))
    print(f"# profiled on {args.scenes} random sandbox scenes, seed {args.seed}: python scripts/profile_sandbox.py "
          f"--scenes {args.scenes} --seed {args.seed}")
    for tool in matrix.tools:
        scores = {d: round(float(matrix.get(tool, d)), 3) for d in matrix.dims if matrix.source(tool, d) != "prior"}
        print(f"{tool}: {{{', '.join(f'{d}: {v}' for d, v in scores.items())}}}")


if __name__ == "__main__":
    main()
