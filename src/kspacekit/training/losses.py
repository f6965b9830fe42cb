"""Training losses on magnitude images (B, h, w): L1, MSE, BCE, SSIM, L1+SSIM and KL divergence.

``ssim`` is fastMRI's training SSIM loss (``fastmri.losses.SSIMLoss``: 7x7 uniform window,
unbiased covariances, ``1 - mean SSIM``) with the data range of each target image. ``kl`` treats
each image as a probability distribution over its pixels (non-negative, summing to one) and
returns KL(target || prediction), which weighs where intensity is, not how much. ``bce`` is binary
cross-entropy with the images normalised to [0, 1] by each target's maximum, every pixel read as
the probability of "bright" (as the course project compared it with the other pixel losses); it is
not the GAN's adversarial objective, which ``--gan-loss`` chooses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

LOSS_NAMES = ("l1", "mse", "bce", "ssim", "l1+ssim", "kl")
KL_EPS = 1e-8
BCE_EPS = 1e-6


def ssim_loss(pred: Tensor, target: Tensor, data_range: Tensor | None = None, win_size: int = 7) -> Tensor:
    """1 - mean SSIM between (B, h, w) images; ``data_range`` (B,) defaults to each target's max."""
    if data_range is None:
        data_range = target.flatten(1).amax(1)
    x, y = pred.unsqueeze(1), target.unsqueeze(1)
    window = torch.full((1, 1, win_size, win_size), 1.0 / win_size**2, dtype=x.dtype, device=x.device)
    num_points = win_size**2
    cov_norm = num_points / (num_points - 1)
    c1 = (0.01 * data_range)[:, None, None, None] ** 2
    c2 = (0.03 * data_range)[:, None, None, None] ** 2
    means = F.conv2d(torch.cat([x, y, x * x, y * y, x * y]), window).split(x.shape[0])
    ux, uy, uxx, uyy, uxy = means
    vx, vy, vxy = cov_norm * (uxx - ux * ux), cov_norm * (uyy - uy * uy), cov_norm * (uxy - ux * uy)
    ssim = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return 1 - ssim.mean()


def kl_loss(pred: Tensor, target: Tensor) -> Tensor:
    """KL(target || pred) with each (h, w) image normalised to sum to one, averaged over the batch.

    Negative predictions are clamped to a tiny positive floor (a distribution has no negative mass).
    """
    p = target.clamp_min(0).flatten(1) + KL_EPS
    q = pred.clamp_min(0).flatten(1) + KL_EPS
    p = p / p.sum(1, keepdim=True)
    q = q / q.sum(1, keepdim=True)
    return (p * (p.log() - q.log())).sum(1).mean()


def bce_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Pixel-wise binary cross-entropy of (B, h, w) images divided by each target's maximum.

    Normalised predictions are clamped to [BCE_EPS, 1 - BCE_EPS] (a probability); pixels clamped
    there get no gradient from this loss, so it suits outputs that stay within the target's range.
    """
    peak = target.flatten(1).amax(1).clamp_min(KL_EPS)[:, None, None]
    return F.binary_cross_entropy((pred / peak).clamp(BCE_EPS, 1 - BCE_EPS), (target / peak).clamp(0, 1))


def reconstruction_loss(name: str, pred: Tensor, target: Tensor) -> Tensor:
    """The loss ``name`` (one of :data:`LOSS_NAMES`) between predicted and target images."""
    if name == "l1":
        return F.l1_loss(pred, target)
    if name == "mse":
        return F.mse_loss(pred, target)
    if name == "bce":
        return bce_loss(pred, target)
    if name == "ssim":
        return ssim_loss(pred, target)
    if name == "l1+ssim":
        return F.l1_loss(pred, target) + ssim_loss(pred, target)
    if name == "kl":
        return kl_loss(pred, target)
    raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSS_NAMES)}")
