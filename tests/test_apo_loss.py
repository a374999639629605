"""The APO loss and the β schedules, against independent formulas (no models involved)."""

from __future__ import annotations

import math

import pytest
import torch

from limner.train.losses import apo_loss, distance_scale, implicit_accuracy

torch.set_num_threads(1)


def _errors(seed: int = 0, n: int = 6) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.rand(n, generator=g) * 0.1 + 0.1 for _ in range(4))


def test_matches_the_equation_term_by_term():
    e_w, e_l, r_w, r_l = _errors()
    beta = torch.linspace(50, 100, 6)
    out = apo_loss(e_w, e_l, r_w, r_l, beta)
    for i in range(6):
        inside = -0.5 * beta[i].item() * ((e_w[i] - r_w[i]).item() - (e_l[i] - r_l[i]).item())
        assert out.losses[i].item() == pytest.approx(math.log1p(math.exp(-inside)), rel=1e-5)
        assert out.margins[i].item() == pytest.approx(inside, rel=1e-4, abs=1e-6)


def test_constant_schedule_is_plain_diffusion_dpo_and_the_half_convention_converts():
    e_w, e_l, r_w, r_l = _errors(1)
    d = torch.rand(6, generator=torch.Generator().manual_seed(2))
    beta = 5000.0 * distance_scale(d, "constant")
    ours = apo_loss(e_w, e_l, r_w, r_l, beta).losses.mean()
    # Wallace et al. (Diffusion-DPO), original code: scale_term = −½·β; loss = −logσ(scale·(model_diff − ref_diff)).
    plain = -torch.nn.functional.logsigmoid(-0.5 * 5000.0 * ((e_w - e_l) - (r_w - r_l))).mean()
    assert ours.item() == pytest.approx(plain.item(), rel=1e-6)
    # Scripts without the ½: −logσ(β'·(ref_diff − model_diff)); β' = β/2 gives the same loss.
    no_half = -torch.nn.functional.logsigmoid(2500.0 * ((r_w - r_l) - (e_w - e_l))).mean()
    assert ours.item() == pytest.approx(no_half.item(), rel=1e-6)


@pytest.mark.parametrize(("schedule", "direction", "expected"), [
    ("linear", "increasing", [0.5, 0.625, 0.75, 0.875, 1.0]),
    ("linear", "decreasing", [1.0, 0.875, 0.75, 0.625, 0.5]),
    ("exponential", "increasing", [0.5 * 2 ** x for x in (0, 0.25, 0.5, 0.75, 1)]),
    ("exponential", "decreasing", [0.5 * 2 ** (1 - x) for x in (0, 0.25, 0.5, 0.75, 1)]),
    ("constant", "increasing", [1.0] * 5),
    ("constant", "decreasing", [1.0] * 5),
])
def test_every_schedule_branch(schedule, direction, expected):
    d = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0])
    f = distance_scale(d, schedule, 0.5, 1.0, direction)
    assert f.tolist() == pytest.approx(expected)


def test_small_distance_gets_small_beta_by_default():
    f = distance_scale(torch.tensor([0.1, 0.9]))
    assert f[0] < f[1]
    assert 0.5 <= f.min() and f.max() <= 1.0


def test_schedule_errors_name_the_bad_value():
    with pytest.raises(ValueError, match="unknown beta schedule 'cubic'"):
        distance_scale(torch.tensor([0.5]), "cubic")
    with pytest.raises(ValueError, match="unknown direction 'sideways'"):
        distance_scale(torch.tensor([0.5]), direction="sideways")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        distance_scale(torch.tensor([1.5]))


def test_gradient_pushes_the_winner_error_down_and_the_loser_error_up():
    e_w, e_l, r_w, r_l = (t.clone().requires_grad_(i < 2) for i, t in enumerate(_errors(3)))
    apo_loss(e_w, e_l, r_w, r_l, torch.full((6,), 100.0)).losses.sum().backward()
    assert (e_w.grad > 0).all() and (e_l.grad < 0).all()


def test_larger_beta_sharpens_the_same_preference():
    _, e_l, r_w, _ = _errors(4)
    e_w = r_w - 0.01  # the policy improved on the winner; the loser is unchanged (e_ref,l = e_l)
    small = apo_loss(e_w, e_l, r_w, e_l, 50.0).losses
    large = apo_loss(e_w, e_l, r_w, e_l, 100.0).losses
    assert (large < small).all()


def test_implicit_accuracy_counts_ties_as_half():
    assert implicit_accuracy(torch.zeros(4)).item() == 0.5
    assert implicit_accuracy(torch.tensor([1.0, -1.0, 2.0, 0.0])).item() == pytest.approx(0.625)
