"""Automatic regularisation weights, from the measured samples only (no ground truth).

The rule: the weight is proportional to the noise standard deviation ``sigma`` of the
k-space samples, estimated robustly from the outermost sampled k-space (where an MR image
has almost no signal), plus a small fraction of the data scale so that nearly noise-free
data still get enough regularisation to remove undersampling artefacts:

    lam = noise_factor * sigma + scale_factor * scale,

with ``scale`` the 99th percentile of |A^H y| (robust to a few bright pixels). Maps are
unit-norm, so sigma is also the noise level of the coil-combined image. Both terms scale with
the data, so lam does not depend on the k-space units. One global pair of factors per
regulariser, the same for every image, coil count and acceleration: for ``tv`` and ``wavelet``
the pair that ``benchmarks/classical_vs_bart.py --tune`` picks on SIMULATED multi-coil data
only (two real magnitude images with smooth phase, synthetic 8- and 2-coil maps and complex
noise at SNR 20-100, at 4x and 8x, each case's lambda sweep scored against its own ground
truth; BENCHMARKS.md). The real k-space slices that the benchmark reports on were not used to
choose them, and nothing is tuned per image.

:func:`holdout_lambda` instead picks lambda from the scan itself: a grid around the rule's value
is scored by how well each fit, made without a held-out share of the measured lines
(:mod:`kspacekit.physics.holdout`), predicts those lines through the forward model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from kspacekit.errors import KspaceKitError
from kspacekit.physics.holdout import HOLDOUT_FRACTION, TooFewSamples, holdout_split

OUTER_FRACTION = 0.1
"""Fraction of the sampled k-space locations, the farthest from the centre, used for sigma."""

FACTORS: dict[str, tuple[float, float]] = {
    "tv": (0.2, 0.005),
    "wavelet": (0.2, 0.001),
    "sense": (1.0, 0.002),
}
"""(noise_factor, scale_factor) per regulariser; see the module docstring."""


def noise_std(kspace: Tensor, mask: Tensor) -> Tensor:
    """Noise standard deviation per slice (B,), E|n|^2 = sigma^2 per complex sample.

    Median modulus of the outermost ``OUTER_FRACTION`` of sampled, non-zero samples (all
    coils) over the Rayleigh median factor sqrt(ln 2).
    """
    batch, _, height, width = kspace.shape
    rows = (torch.arange(height, device=kspace.device) - height // 2) / (height / 2)
    cols = (torch.arange(width, device=kspace.device) - width // 2) / (width / 2)
    radius = rows[:, None] ** 2 + cols[None, :] ** 2
    sampled = (mask != 0).broadcast_to(kspace.shape) & (kspace != 0)
    radii = torch.where(sampled, radius, torch.nan).flatten(1)
    cutoff = torch.nanquantile(radii, 1 - OUTER_FRACTION, dim=1, keepdim=True)
    outer = torch.where(radii >= cutoff, kspace.abs().flatten(1), torch.nan)
    return torch.nanmedian(outer, dim=1).values.nan_to_num(0.0) / math.sqrt(math.log(2))


def data_scale(adjoint_image: Tensor) -> Tensor:
    """Robust maximum (B,) of the coil-combined image: its 99th percentile modulus."""
    return torch.quantile(adjoint_image.abs().flatten(1), 0.99, dim=1)


def auto_lambda(regularizer: str, kspace: Tensor, mask: Tensor, adjoint_image: Tensor) -> Tensor:
    """Per-slice weight (B,) for ``regularizer`` in {"tv", "wavelet", "sense"} (rule above)."""
    noise_factor, scale_factor = FACTORS[regularizer]
    return noise_factor * noise_std(kspace, mask) + scale_factor * data_scale(adjoint_image)


def resolve_lambda(
    lam: float | str | None, regularizer: str, kspace: Tensor, mask: Tensor, adjoint_image: Tensor
) -> Tensor:
    """The user's ``lam`` as a per-slice tensor, or the automatic one when ``lam`` is a rule name or None."""
    if lam is None or isinstance(lam, str):
        return auto_lambda(regularizer, kspace, mask, adjoint_image)
    return torch.full((kspace.shape[0],), float(lam), device=kspace.device)


def check_lambda(lam: float | str | None, rules: Sequence[str] = ()) -> float | str | None:
    """A positive finite ``lam``, one of the method's named ``rules`` (e.g. "auto", "holdout"),
    or None (the method's default rule); anything else is a :class:`KspaceKitError`."""
    if lam is None or (isinstance(lam, str) and lam in rules):
        return lam
    try:
        value = float(lam)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        named = f" or one of {', '.join(rules)}" if rules else ""
        raise KspaceKitError(f"lam must be a positive number{named}, got {lam}")
    return value


HOLDOUT_FACTORS = (4.0, 2.0, 1.0, 0.5, 0.25)
"""Multiples of the automatic lambda that :func:`holdout_lambda` compares, largest first (each
fit starts from the previous one's image)."""

Solve = Callable[[Tensor, Tensor, Tensor], Tensor]
"""solve(lam (B,), mask, x0 (B, H, W)) -> image (B, H, W), using only the samples under ``mask``."""


def holdout_lambda(
    solve: Solve,
    predict: Callable[[Tensor], Tensor],
    kspace: Tensor,
    mask: Tensor,
    start: Tensor,
    x0: Tensor,
    factors: Sequence[float] = HOLDOUT_FACTORS,
    fraction: float = HOLDOUT_FRACTION,
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """Per-slice lambda (B,) from ``start * factors`` with the least validation prediction error
    ``||V (predict(x) - y)||^2``, and that fit's image (B, H, W) to warm-start the final solve.

    ``predict(x)`` maps an image to full coil k-space (F S x). Fits use the fit share of a
    :func:`kspacekit.physics.holdout.holdout_split` of ``mask`` and run largest lambda first,
    each from the previous image. When too few lines can be held out, ``start`` and ``x0`` are
    returned unchanged.
    """
    try:
        split = holdout_split(mask, fraction, seed)
    except TooFewSamples:
        return start, x0
    validation = split.validation.to(kspace.real.dtype)
    errors, images, image = [], [], x0
    for factor in factors:
        image = solve(start * factor, split.fit, image)
        images.append(image)
        errors.append((validation * (predict(image) - kspace)).abs().square().flatten(1).sum(1))
    best = torch.stack(errors).argmin(0)
    chosen = torch.stack(images)[best, torch.arange(best.numel(), device=best.device)]
    scale = torch.tensor(factors, dtype=start.dtype, device=start.device)[best]
    return start * scale, chosen


def auto_tikhonov(kspace: Tensor, mask: Tensor, adjoint_image: Tensor) -> Tensor:
    """Tikhonov weight (B,) for CG-SENSE: the Wiener ratio noise_factor * (sigma / scale)^2
    plus scale_factor (A^H A has unit scale with unit-norm maps, so lam is dimensionless)."""
    noise_factor, scale_factor = FACTORS["sense"]
    ratio = noise_std(kspace, mask) / data_scale(adjoint_image).clamp_min(1e-30)
    return noise_factor * ratio**2 + scale_factor
