"""Validation scores of one volume with the fastMRI metrics (:mod:`kspacekit.metrics`)."""

from __future__ import annotations

import numpy as np

from kspacekit.metrics import nmse, psnr, ssim


def volume_scores(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """NMSE, PSNR and SSIM of a (slices, h, w) reconstruction, as fastMRI's evaluate computes them
    (data range: the target volume's maximum)."""
    maxval = float(target.max())
    scores = {"nmse": nmse(target, pred), "psnr": psnr(target, pred, maxval), "ssim": ssim(target, pred, maxval)}
    return {name: float(np.mean(value)) for name, value in scores.items()}
