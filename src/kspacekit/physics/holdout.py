"""k-space hold-out: split a scan's measured samples into disjoint fit and validation sets.

A method fitted on the fit samples is judged by how well its forward model predicts the
validation samples it never saw; that prediction error tracks image quality without any ground
truth (k-space cross-validation of regularisation weights, and the "data set splitting" of
self-supervised learning via data undersampling, SSDU, Yaman et al., MRM 2020).

What is held out must be something the method has to *infer*, as it infers the unmeasured
k-space:

* 1-D line masks (every sampled location of a column, or of a row, is sampled across the other
  axis): whole sampled lines are held out. A held-out point on a measured line is predicted
  from its neighbours along the readout, which is much easier than predicting a missing line,
  so a point-wise split keeps rewarding weaker regularisation while the image gets worse.
* 2-D patterns: single sampled points are held out.

The calibration centre (the run of fully sampled centre lines, or the fully sampled centre
rectangle of a 2-D pattern) is never held out: coil maps and the low frequencies come from it,
and losing part of it would change the problem far more than the missing lines do.

Masks are (B, C, H, W) or broadcastable ones such as (B, 1, 1, W) line masks and (B, 1, H, W)
2-D masks, on CPU or CUDA; the pattern must be the same for every coil. Splits are seeded and
drawn per slice, so a batch gives each slice the split it gets alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from kspacekit.errors import KspaceKitError
from kspacekit.physics.coils import calibration_region

HOLDOUT_FRACTION = 0.2
"""Default share of the held-out candidates (sampled lines or points outside the calibration
centre) put in the validation set; one fold of a 5-fold split."""


class TooFewSamples(KspaceKitError):
    """Raised when a slice has too few candidates to hold any out (callers may fall back)."""


@dataclass(frozen=True)
class KspaceSplit:
    """Two disjoint masks of the input mask's shape and dtype whose union is the measured set."""

    fit: Tensor
    validation: Tensor


def holdout_split(mask: Tensor, fraction: float = HOLDOUT_FRACTION, seed: int = 0) -> KspaceSplit:
    """Hold out ``round(fraction * n)`` of each slice's n candidates (sampled lines or points
    outside the calibration centre), chosen at random with ``seed``."""
    if not 0 < fraction < 1:
        raise KspaceKitError(f"hold-out fraction must be in (0, 1), got {fraction}")
    pattern, rank, count = _ranked_candidates(mask, seed)
    held = torch.round(fraction * count.to(torch.float64)).long()
    _check_counts(held, count)
    return _split(mask, pattern, rank < held.view(-1, 1, 1))


def kfold_splits(mask: Tensor, folds: int, seed: int = 0) -> list[KspaceSplit]:
    """``folds`` splits whose validation sets are disjoint and together hold every candidate once
    (k-fold cross-validation); fold j holds out the candidates of random rank j, j + folds, ..."""
    if folds < 2:
        raise KspaceKitError(f"k-fold hold-out needs at least 2 folds, got {folds}")
    pattern, rank, count = _ranked_candidates(mask, seed)
    _check_counts(torch.full_like(count, folds), count)
    return [_split(mask, pattern, (rank % folds == fold) & (rank < count.view(-1, 1, 1))) for fold in range(folds)]


def _check_counts(held: Tensor, count: Tensor) -> None:
    """Every slice must hold out at least one candidate and keep at least one for fitting."""
    if bool((held < 1).any() or (held >= count).any()):
        raise TooFewSamples(
            f"too few sampled lines or points outside the calibration centre to hold out "
            f"(at most {int(count.min())} per slice, {int(held.min())} to hold out); "
            "sample more k-space or hold out a larger share"
        )


def _split(mask: Tensor, pattern: Tensor, validation: Tensor) -> KspaceSplit:
    """Fit/validation masks of ``mask``'s shape and dtype from a (B, H', W') validation pattern."""
    validation = validation & pattern
    fit = pattern & ~validation
    shape = torch.broadcast_shapes(mask.shape, (mask.shape[0], 1, pattern.shape[1], pattern.shape[2]))
    return KspaceSplit(
        fit.unsqueeze(1).broadcast_to(shape).to(mask.dtype).clone(),
        validation.unsqueeze(1).broadcast_to(shape).to(mask.dtype).clone(),
    )


def _ranked_candidates(mask: Tensor, seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """The sampled pattern (B, H', W') (H' = 1 for line masks along W, W' = 1 along H), a random
    rank per candidate (the first ``count`` ranks of a slice are its candidates, others rank
    higher), and the number of candidates per slice (B,)."""
    pattern, line_axis = _sampling_pattern(mask)
    candidates = pattern & ~_calibration_centre(pattern, line_axis)
    generator = torch.Generator().manual_seed(seed)
    priority = torch.rand(pattern.shape, generator=generator, dtype=torch.float64).to(pattern.device)
    priority = torch.where(candidates, priority, 2.0).flatten(1)
    rank = torch.empty_like(priority, dtype=torch.long)
    order = priority.argsort(1)
    rank.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order).contiguous())
    return pattern, rank.view(pattern.shape), candidates.flatten(1).sum(1)


def _sampling_pattern(mask: Tensor) -> tuple[Tensor, int | None]:
    """The boolean pattern (B, H', W') shared by all coils, reduced to one line per sampled
    column (H' = 1) or row (W' = 1) for line masks, and the axis the lines run across (-1 for
    columns, -2 for rows, None for a 2-D pattern)."""
    if mask.ndim != 4:
        raise KspaceKitError(f"mask must be (batch, coils, H, W) or broadcastable, got shape {tuple(mask.shape)}")
    sampled = mask != 0
    if not bool((sampled == sampled[:, :1]).all()):
        raise KspaceKitError("the sampling mask differs between coils; a hold-out needs one pattern for all")
    sampled = sampled[:, 0]
    if sampled.shape[-2] == 1 or bool((sampled == sampled[:, :1, :]).all()):
        return sampled[:, :1, :], -1
    if sampled.shape[-1] == 1 or bool((sampled == sampled[:, :, :1]).all()):
        return sampled[:, :, :1], -2
    return sampled, None


def _calibration_centre(pattern: Tensor, line_axis: int | None) -> Tensor:
    """Boolean (B, H', W'): the central run of sampled lines, or the fully sampled centre
    rectangle of a 2-D pattern (per slice)."""
    if line_axis is not None:
        lines = pattern.flatten(1)
        centre = lines.shape[1] // 2
        right = torch.cumprod(lines[:, centre:].long(), 1)
        left = torch.cumprod(lines[:, : centre + 1].flip(1).long(), 1).flip(1)
        return torch.cat([left[:, :centre], right], 1).bool().view(pattern.shape)
    box = torch.zeros_like(pattern)
    for index in range(pattern.shape[0]):
        if not bool(pattern[index, pattern.shape[1] // 2, pattern.shape[2] // 2]):
            raise KspaceKitError("the k-space centre is not sampled; there is no calibration region to keep")
        rows, cols = calibration_region(pattern[index : index + 1, None], tuple(pattern.shape[1:]))
        box[index, rows, cols] = True
    return box
