"""The APO loss (AgentComp §3.3): Diffusion-DPO whose β is scaled per pair by the compositional distance.

Both functions are pure tensor maps with no model, optimizer or config in sight, so they can be unit
tested against an independent implementation and reused by any trainer.

Convention (the paper's, and the original Diffusion-DPO code's):

    L = −log σ( −½ · β(d) · [ (e_w − e_ref,w) − (e_l − e_ref,l) ] )

with e the per-sample denoising MSE of the trained network, e_ref that of the frozen reference, w the
winner and l the loser of one pair (same noise, same timestep), and β(d) = β_base · f(d). Scripts that
drop the −½ (``−log σ(β'·(ref_diff − model_diff))``) use β' = β/2: multiply their β by 2 to get ours.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from limner.train.apo_config import BETA_DIRECTIONS, BETA_SCHEDULES, BetaDirection, BetaSchedule


class APOLossOutput(NamedTuple):
    """Per-pair values (shape ``(B,)``); the trainer averages them for logging.

    ``margins`` is the argument of the sigmoid. Its sign is the implicit preference: positive means the
    trained network denoises the winner better, relative to the reference, than it denoises the loser.
    """

    losses: torch.Tensor
    chosen_rewards: torch.Tensor
    rejected_rewards: torch.Tensor
    margins: torch.Tensor


def distance_scale(
    normalized_distance: torch.Tensor,
    schedule: BetaSchedule = "linear",
    f_min: float = 0.5,
    f_max: float = 1.0,
    direction: BetaDirection = "increasing",
) -> torch.Tensor:
    """f(d): the factor on β_base for each pair, from its distance normalised to [0, 1].

    - ``linear``: f = f_min + (f_max − f_min)·x (the paper's choice).
    - ``exponential``: f = f_min·(f_max/f_min)^x, the same end points on a geometric path.
    - ``constant``: f ≡ 1, i.e. plain Diffusion-DPO with β = β_base.

    x = d for ``direction="increasing"`` (small distance → small β: the model may move further from the
    reference on hard negatives, which the paper found best) and x = 1 − d for ``"decreasing"``.
    """
    d = normalized_distance.float()
    if torch.any((d < 0) | (d > 1)) or torch.any(torch.isnan(d)):
        raise ValueError(f"normalized distances must lie in [0, 1]; got min={d.min():.4g}, max={d.max():.4g}")
    if direction == "increasing":
        x = d
    elif direction == "decreasing":
        x = 1.0 - d
    else:
        raise ValueError(f"unknown direction {direction!r}; should be one of {list(BETA_DIRECTIONS)}")

    if schedule == "linear":
        return f_min + (f_max - f_min) * x
    if schedule == "exponential":
        if f_min <= 0:
            raise ValueError(f"the exponential schedule needs f_min > 0; got f_min={f_min}")
        return f_min * (f_max / f_min) ** x
    if schedule == "constant":
        return torch.ones_like(x)
    raise ValueError(f"unknown beta schedule {schedule!r}; should be one of {list(BETA_SCHEDULES)}")


def apo_loss(
    policy_mse_chosen: torch.Tensor,
    policy_mse_rejected: torch.Tensor,
    reference_mse_chosen: torch.Tensor,
    reference_mse_rejected: torch.Tensor,
    beta: torch.Tensor | float,
) -> APOLossOutput:
    """Distance-weighted Diffusion-DPO loss per pair.

    Args:
        policy_mse_chosen / policy_mse_rejected: e_w, e_l — per-sample MSE of the trained network, ``(B,)``.
        reference_mse_chosen / reference_mse_rejected: e_ref,w, e_ref,l — the same for the reference.
        beta: β(d) per pair ``(B,)`` or one float (then this is plain Diffusion-DPO).
    """
    # Implicit rewards r = −½·β·(e − e_ref): lower error than the reference means higher reward.
    chosen_rewards = -0.5 * beta * (policy_mse_chosen - reference_mse_chosen)
    rejected_rewards = -0.5 * beta * (policy_mse_rejected - reference_mse_rejected)
    # L = −log σ(−½·β(d)·((e_w − e_ref,w) − (e_l − e_ref,l)))  (AgentComp eq. APO; Wallace et al. eq. 14)
    margins = chosen_rewards - rejected_rewards
    losses = -F.logsigmoid(margins)
    return APOLossOutput(losses, chosen_rewards, rejected_rewards, margins)


def implicit_accuracy(margins: torch.Tensor) -> torch.Tensor:
    """Share of pairs the network prefers the right way; ties (as at step 0, adapter = 0) count half."""
    return (margins > 0).float().mean() + 0.5 * (margins == 0).float().mean()
