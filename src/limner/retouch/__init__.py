"""The retoucher: Agentic Retoucher's perception → reasoning → action loop for local defects (docs/retouch.md).

- perception (`perception.py`): a trained distortion-saliency model, image + prompt → S ∈ [0,1]^{H×W};
- reasoning (`reasoning.py`): τ_s, dilation, regions; each named by a trained classifier or a VLM;
- action (`action.py`): per defect a mask inpaint or an instruction edit, ordered by the `retouch`
  performance matrix over the defect dimensions;
- the loop (`loop.py`): repair, re-perceive, ≤ 3 rounds, keep the best.

Torch is needed only to load a trained model (`Perceiver.load`, `OfflineReasoner.load`).
"""

from limner.retouch.action import RepairOption, ranked_options, repair_options, retouch_router, subtask_for
from limner.retouch.loop import Retoucher, RetouchOptions, RetouchOutcome, single_pass
from limner.retouch.perception import (
    DEFAULT_THRESHOLD,
    Perceiver,
    RetouchModelError,
    classical_saliency,
    defect_score,
)
from limner.retouch.reasoning import (
    DEFECT_CATEGORIES,
    DIMENSION_OF,
    FoundRegion,
    OfflineReasoner,
    Reasoner,
    VLMReasoner,
    find_regions,
)

__all__ = [
    "DEFAULT_THRESHOLD", "DEFECT_CATEGORIES", "DIMENSION_OF", "FoundRegion", "OfflineReasoner", "Perceiver",
    "Reasoner", "RepairOption", "RetouchModelError", "RetouchOptions", "RetouchOutcome", "Retoucher", "VLMReasoner",
    "classical_saliency", "defect_score", "find_regions", "ranked_options", "repair_options", "retouch_router",
    "single_pass", "subtask_for",
]
