"""Saliency loss and metrics: small pure functions, unit-tested.

The loss is the paper's `α·MSE(S, Ŝ) + (1−α)·KLD(S, Ŝ)`: MSE keeps the map's values calibrated (so one
threshold τ_s means the same thing on every image); KLD compares the map and the ground truth as
distributions, which rewards putting the mass on the defect rather than smoothing it away. An image with
no defect has no distribution to match: it contributes MSE only.

The metrics follow the MIT saliency benchmark's definitions, with the ground-truth defect mask as the
"fixations": AUC-Judd (ROC area, thresholds at the saliency values of defect pixels), NSS (mean of the
z-scored map on defect pixels), CC (Pearson correlation of map and mask) and KLD (of the map from the
mask, both normalised to sum to one; lower is better).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["EPS", "auc_judd", "cc", "kld", "nss", "saliency_loss", "saliency_metrics"]

EPS = 1e-7


def saliency_loss(pred: Any, target: Any, alpha: float = 0.5) -> Any:
    """`pred`, `target`: torch tensors (B, H, W) in [0, 1]. α·MSE + (1−α)·KLD (KLD over defect images)."""
    import torch  # noqa: PLC0415 - the metrics below are numpy-only; only the loss needs torch

    mse = torch.mean((pred - target) ** 2)
    has = target.flatten(1).sum(1) > 0
    if not bool(has.any()):
        return alpha * mse
    p = pred[has].flatten(1)
    g = target[has].flatten(1)
    p = p / (p.sum(1, keepdim=True) + EPS)
    g = g / (g.sum(1, keepdim=True) + EPS)
    kl = (g * torch.log(EPS + g / (p + EPS))).sum(1).mean()
    return alpha * mse + (1 - alpha) * kl


def auc_judd(sal: np.ndarray, fix: np.ndarray) -> float:
    """Area under the ROC curve whose thresholds are the saliency values at the fixations (Judd et al.)."""
    s = np.asarray(sal, np.float64).ravel()
    f = np.asarray(fix, bool).ravel()
    nf, n = int(f.sum()), s.size
    if nf == 0 or nf == n:
        return float("nan")
    s = s + np.random.default_rng(0).random(n) * 1e-7  # break ties as the reference implementation does
    s = (s - s.min()) / max(s.max() - s.min(), EPS)
    thresholds = np.sort(s[f])[::-1]
    sorted_all = np.sort(s)
    above = n - np.searchsorted(sorted_all, thresholds, side="left")  # pixels with s >= threshold
    tp = np.arange(1, nf + 1) / nf
    fp = (above - np.arange(1, nf + 1)) / (n - nf)
    tp = np.concatenate([[0.0], tp, [1.0]])
    fp = np.concatenate([[0.0], fp, [1.0]])
    return float(np.sum((fp[1:] - fp[:-1]) * (tp[1:] + tp[:-1]) / 2))


def nss(sal: np.ndarray, fix: np.ndarray) -> float:
    s = np.asarray(sal, np.float64)
    f = np.asarray(fix, bool)
    if not f.any():
        return float("nan")
    sd = s.std()
    z = (s - s.mean()) / sd if sd > 0 else np.zeros_like(s)
    return float(z[f].mean())


def cc(sal: np.ndarray, gt: np.ndarray) -> float:
    a = np.asarray(sal, np.float64).ravel()
    b = np.asarray(gt, np.float64).ravel()
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def kld(sal: np.ndarray, gt: np.ndarray) -> float:
    p = np.asarray(sal, np.float64).ravel()
    g = np.asarray(gt, np.float64).ravel()
    if g.sum() <= 0:
        return float("nan")
    p = p / (p.sum() + EPS)
    g = g / g.sum()
    return float(np.sum(g * np.log(EPS + g / (p + EPS))))


def saliency_metrics(maps: list[np.ndarray], masks: list[np.ndarray]) -> dict[str, float]:
    """Mean AUC-Judd, NSS, CC and KLD over the images that have at least one defect pixel."""
    rows = [(auc_judd(s, m), nss(s, m), cc(s, m), kld(s, m)) for s, m in zip(maps, masks, strict=True) if m.any()]
    if not rows:
        return {"auc_judd": float("nan"), "nss": float("nan"), "cc": float("nan"), "kld": float("nan"), "images": 0}
    a = np.asarray(rows)
    return {"auc_judd": float(a[:, 0].mean()), "nss": float(a[:, 1].mean()), "cc": float(a[:, 2].mean()),
            "kld": float(a[:, 3].mean()), "images": len(rows)}
