"""`limner retouch IMAGE --prompt P --out DIR`: repair an image's local defects (docs/retouch.md).

    limner retouch picture.png --prompt "a photo of two cats" --out runs/
    limner retouch picture.png --prompt "..." --weights runs/saliency --reasoner vlm --vlm-model qwen2.5-vl \\
        --vlm-base-url http://localhost:8000/v1

Perception (the trained saliency model) finds where the image looks broken, the reasoner names each
defect, the configured inpainters and editors repair them one by one (each repair verified by looking
again), for at most `--rounds` rounds. The retouched image is kept only when the prompt's verdict does not
drop and nothing outside the repaired regions moved; otherwise the input is the final.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from limner.config import LimnerConfig
from limner.perf.persistence import PerfPersistence, load_matrices
from limner.retouch import (
    OfflineReasoner,
    Perceiver,
    Reasoner,
    Retoucher,
    RetouchModelError,
    RetouchOptions,
    VLMReasoner,
    retouch_router,
)
from limner.tools.base import Tool
from limner.tools.openai_client import OpenAISettings

__all__ = ["RetouchOpts", "default_weights", "make_retoucher"]


def default_weights() -> Path:
    """The weights shipped with limner (`limner/resources/retouch`: the default model, SIMULATED data)."""
    return Path(str(resources.files("limner") / "resources" / "retouch"))


WeightsOpt = Annotated[Path | None, typer.Option(
    "--weights", help="A `limner train saliency` output folder (model/ and regions/).",
    show_default="the shipped default model (trained on the sandbox world)")]
RetouchRoundsOpt = Annotated[int, typer.Option("--retouch-rounds", min=1, max=10,
                                               help="Perceive→reason→repair rounds at most.")]


class RetouchOpts:
    """The retoucher's command-line choices, shared by `limner retouch` and `limner generate --retouch`."""

    def __init__(self, weights: Path | None = None, rounds: int = 3, threshold: float | None = None,
                 reasoner: str = "classifier", vlm_model: str | None = None, vlm_base_url: str | None = None,
                 vlm_key_env: str = "OPENAI_API_KEY") -> None:
        self.weights, self.rounds, self.threshold = weights, rounds, threshold
        self.reasoner, self.vlm_model, self.vlm_base_url, self.vlm_key_env = reasoner, vlm_model, vlm_base_url, vlm_key_env


def make_retoucher(opts: RetouchOpts, tools: dict[str, Tool], cfg: LimnerConfig,
                   persistence: PerfPersistence | None = None) -> Retoucher:
    """Perception, reasoning and the configured repair tools, routed by the perf store's `retouch` matrix
    (learned into it when `persistence` is given); one-line `ValueError`s for what is wrong."""
    weights = opts.weights or default_weights()
    try:
        perceiver = Perceiver.load(weights)
    except RetouchModelError as e:
        raise ValueError(f"cannot load the retoucher's model from {weights}: {e} "
                         "(train one: limner data blemish --n 7000 --out DATA && limner train saliency --data DATA "
                         "--out WEIGHTS)") from None
    reasoner: Reasoner
    if opts.reasoner == "vlm":
        if not opts.vlm_model:
            raise ValueError("--reasoner vlm needs --vlm-model (and --vlm-base-url for a local server)")
        try:
            settings = OpenAISettings(model=opts.vlm_model, base_url=opts.vlm_base_url or "https://api.openai.com/v1",
                                      api_key_env=opts.vlm_key_env, api_key_required=opts.vlm_base_url is None)
        except ValidationError as e:
            raise ValueError(f"invalid VLM settings: {e.errors()[0]['msg']}") from None
        reasoner = VLMReasoner(settings)
    elif opts.reasoner == "classifier":
        try:
            reasoner = OfflineReasoner.load(weights)
        except (FileNotFoundError, OSError, ValueError) as e:
            raise ValueError(f"cannot load the region classifier from {weights}: {str(e).splitlines()[0]}") from None
    else:
        raise ValueError(f"--reasoner must be 'classifier' or 'vlm', got {opts.reasoner!r}")
    repairers = {n: t for n, t in tools.items() if t.kind in ("inpaint", "edit")}
    if not repairers:
        raise ValueError("the retoucher needs an inpaint or edit tool in the config's tools:")
    router = retouch_router(repairers, updater=cfg.perf.updater if cfg.perf.learn else "static",
                            matrix=load_matrices(cfg.perf_store_path).get("retouch"))
    if persistence is not None:
        persistence.restore({"retouch": router})
    return Retoucher(perceiver, reasoner, repairers, router=router, persistence=persistence if cfg.perf.learn else None,
                     options=RetouchOptions(rounds=opts.rounds, threshold=opts.threshold, seed=cfg.seed))
