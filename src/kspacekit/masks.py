"""Undersampling masks: fastMRI's five line masks, value for value, and two 2-D variable-density kinds.

Shapes follow the complex k-space convention ``(..., H, W)`` (no trailing real/imaginary axis).

* Line (1-D) kinds ``random``, ``equispaced``, ``equispaced_fraction``, ``magic`` and
  ``magic_fraction`` sample whole columns along the last axis ``W``. Their masks have shape
  ``(1, ..., 1, W)`` and, for the same seed, hold exactly the values of fastMRI 0.3.0's
  ``create_mask_for_mask_type(kind, [center_fraction], [acceleration])(shape + (2,), seed=seed)``:
  the random draws come from the same ``np.random.RandomState`` stream in the same order (first
  the choice of (center_fraction, acceleration) pair, then the kind's own draws).
* Plane (2-D) kinds ``poisson`` (variable-density Poisson-disc) and ``gaussian`` (Gaussian
  variable-density random) sample single k-space points. Their masks have shape
  ``(1, ..., 1, H, W)``; a centred box of ``round(H * center_fraction)`` by
  ``round(W * center_fraction)`` points is fully sampled and the total number of samples is exactly
  ``round(H * W / acceleration)``. Their ``num_low_frequencies`` is the side of that box along W.

Seeds are ints or tuples of ints (fastMRI seeds each file with :func:`file_seed`); ``None`` draws
a fresh random mask.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from torch import Tensor

from kspacekit.errors import KspaceKitError

Seed = int | tuple[int, ...] | None

LINE_KINDS = ("random", "equispaced", "equispaced_fraction", "magic", "magic_fraction")
MASK_KINDS = LINE_KINDS

# Kinds that step through columns with a whole-number stride, so need an integer acceleration.
_INTEGER_ACCELERATION_KINDS = ("equispaced", "magic")


def file_seed(fname: str) -> tuple[int, ...]:
    """The per-file seed fastMRI uses for its fixed validation masks: the code points of ``fname``."""
    return tuple(map(ord, fname))


@dataclass(frozen=True)
class MaskSpec:
    """A mask kind with one or more (center_fraction, acceleration) pairs, like fastMRI's MaskFunc.

    Each call picks one pair uniformly at random (seeded), then draws a mask of that pair, so a
    dataset can undersample retrospectively with a different but reproducible mask per file.
    """

    kind: str
    center_fractions: tuple[float, ...]
    accelerations: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "center_fractions", tuple(self.center_fractions))
        object.__setattr__(self, "accelerations", tuple(self.accelerations))
        if self.kind not in MASK_KINDS:
            raise KspaceKitError(f"unknown mask kind {self.kind!r}; choose one of {', '.join(MASK_KINDS)}")
        if not self.center_fractions or len(self.center_fractions) != len(self.accelerations):
            raise KspaceKitError(
                "give as many center fractions as accelerations (at least one of each), got "
                f"{len(self.center_fractions)} and {len(self.accelerations)}"
            )
        for acceleration in self.accelerations:
            _check_acceleration(self.kind, acceleration)
        for center_fraction in self.center_fractions:
            _check_center_fraction(center_fraction)

    def __call__(self, shape: Sequence[int], seed: Seed = None) -> tuple[Tensor, int]:
        """Draw a float32 0/1 mask broadcastable to k-space of ``shape`` and its num_low_frequencies."""
        shape = _check_shape(shape)
        rng = _random_state(seed)
        pair = rng.randint(len(self.center_fractions))
        sampler = _SAMPLERS[self.kind]
        sampled, num_low_frequencies = sampler(shape, float(self.accelerations[pair]),
                                               float(self.center_fractions[pair]), rng)
        mask_shape = (1,) * (len(shape) - sampled.ndim) + sampled.shape
        return torch.from_numpy(sampled.reshape(mask_shape).astype(np.float32)), num_low_frequencies


def make_mask(
    kind: str, shape: Sequence[int], acceleration: float, center_fraction: float, seed: Seed = None
) -> tuple[Tensor, int]:
    """One mask of ``kind`` for k-space of ``shape`` (..., H, W): ``(mask, num_low_frequencies)``."""
    return MaskSpec(kind, (center_fraction,), (acceleration,))(shape, seed)


def effective_acceleration(mask: Tensor, shape: Sequence[int]) -> float:
    """Points of the (H, W) plane per sampled point (averaged over any leading mask dimensions)."""
    height, width = shape[-2], shape[-1]
    try:
        plane = torch.broadcast_to(mask, (*mask.shape[:-2], height, width))
    except RuntimeError:
        raise KspaceKitError(
            f"mask of shape {tuple(mask.shape)} does not fit k-space of shape {tuple(shape)}"
        ) from None
    sampled = int(plane.count_nonzero())
    return plane.numel() / sampled if sampled else math.inf


def mask_from_lines(mask_1d: np.ndarray | Tensor, shape: Sequence[int]) -> Tensor:
    """A stored 1-D line mask (length W, as in fastMRI test files) as a float (1, ..., 1, W) mask."""
    shape = _check_shape(shape)
    lines = torch.as_tensor(np.asarray(mask_1d))
    if lines.ndim != 1 or lines.numel() != shape[-1]:
        raise KspaceKitError(
            f"line mask of shape {tuple(lines.shape)} does not match k-space width {shape[-1]} "
            f"(k-space shape {shape})"
        )
    if not bool(((lines == 0) | (lines == 1)).all()):
        raise KspaceKitError("line mask values must be 0 or 1")
    return lines.to(torch.float32).reshape((1,) * (len(shape) - 1) + (shape[-1],))


def count_center_lines(mask_1d: np.ndarray | Tensor) -> int:
    """Length of the run of sampled lines through the centre column W // 2 (0 if it is unsampled).

    A stand-in for num_low_frequencies when a file does not store it; a sampled outer line right
    next to the centre block makes it larger than the true centre.
    """
    lines = np.asarray(mask_1d).reshape(-1) != 0
    centre = lines.size // 2
    if lines.size == 0 or not lines[centre]:
        return 0
    gaps_right = np.flatnonzero(~lines[centre:])
    gaps_left = np.flatnonzero(~lines[centre::-1])
    right = gaps_right[0] if gaps_right.size else lines.size - centre
    left = gaps_left[0] if gaps_left.size else centre + 1
    return int(right + left - 1)


# ---------------------------------------------------------------------------------------------
# Validation


def _check_acceleration(kind: str, acceleration: float) -> None:
    if isinstance(acceleration, bool) or not isinstance(acceleration, (int, float, np.number)):
        raise KspaceKitError(f"acceleration must be a number, got {acceleration!r}")
    if not math.isfinite(acceleration) or acceleration < 1:
        raise KspaceKitError(f"acceleration must be a finite number >= 1, got {acceleration}")
    if kind in _INTEGER_ACCELERATION_KINDS and acceleration != int(acceleration):
        raise KspaceKitError(
            f"mask kind {kind!r} needs a whole-number acceleration, got {acceleration} "
            f"(use {kind}_fraction for fractional accelerations)"
        )


def _check_center_fraction(center_fraction: float) -> None:
    if isinstance(center_fraction, bool) or not isinstance(center_fraction, (int, float, np.number)):
        raise KspaceKitError(f"center fraction must be a number, got {center_fraction!r}")
    if not 0 < center_fraction < 1:
        raise KspaceKitError(f"center fraction must lie strictly between 0 and 1, got {center_fraction}")


def _check_shape(shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(int(size) for size in shape)
    if len(shape) < 2 or min(shape) < 1:
        raise KspaceKitError(f"k-space shape must be (..., H, W) with positive sizes, got {shape}")
    return shape


def _random_state(seed: Seed) -> np.random.RandomState:
    """fastMRI's generator: a legacy Mersenne Twister seeded with an int or a tuple of ints."""
    try:
        return np.random.RandomState(seed)
    except (TypeError, ValueError) as error:
        raise KspaceKitError(
            f"mask seed must be an int in [0, 2**32) or a tuple of such ints, got {seed!r} ({error})"
        ) from None


def _center_size(size: int, center_fraction: float, axis: str) -> int:
    """Fully sampled lines along one axis: ``round(size * center_fraction)``, at least 1, below size."""
    count = round(size * center_fraction)
    if not 1 <= count < size:
        raise KspaceKitError(
            f"center fraction {center_fraction} of {axis} = {size} gives {count} fully sampled "
            f"lines; it must give at least 1 and fewer than {size}"
        )
    return count


def _center_slice(size: int, count: int) -> slice:
    """fastMRI's placement of the fully sampled block: it always contains the centre index size // 2."""
    start = (size - count + 1) // 2
    return slice(start, start + count)


# ---------------------------------------------------------------------------------------------
# Line (1-D) kinds: each returns the sampled columns (bool, length W) and num_low_frequencies.


def _line_mask(
    shape: tuple[int, ...],
    acceleration: float,
    center_fraction: float,
    rng: np.random.RandomState,
    outer_lines: Callable[[int, float, int, np.random.RandomState], np.ndarray],
) -> tuple[np.ndarray, int]:
    """A fully sampled centre block of ``round(W * center_fraction)`` columns plus ``outer_lines``."""
    width = shape[-1]
    num_low = _center_size(width, center_fraction, "W")
    sampled = outer_lines(width, acceleration, num_low, rng)
    sampled[_center_slice(width, num_low)] = True
    return sampled, num_low


def _random_lines(width: int, acceleration: float, num_low: int, rng: np.random.RandomState) -> np.ndarray:
    """Each column independently, with the probability that makes the expected total W / acceleration."""
    probability = (width / acceleration - num_low) / (width - num_low)
    return rng.random_sample(width) < probability


def _equispaced_lines(width: int, acceleration: float, num_low: int, rng: np.random.RandomState) -> np.ndarray:
    """Every ``acceleration``-th column from a random offset in [0, acceleration)."""
    step = int(acceleration)
    sampled = np.zeros(width, dtype=bool)
    sampled[rng.randint(step) :: step] = True
    return sampled


def _equispaced_fraction_lines(
    width: int, acceleration: float, num_low: int, rng: np.random.RandomState
) -> np.ndarray:
    """Columns at a fractional spacing chosen so that centre plus outer columns make W / acceleration.

    The spacing solves ``num_low + (W - num_low) / spacing = W / acceleration``; the positions
    ``offset + k * spacing`` (below W - 1, as fastMRI has it) are rounded half-to-even, so the
    outer lines are not exactly equispaced (fastMRI issue #54), matching the public data.
    """
    if num_low * acceleration >= width:
        raise KspaceKitError(
            f"equispaced_fraction: the {num_low} centre columns already reach acceleration "
            f"{acceleration} of width {width}; lower the center fraction or the acceleration"
        )
    spacing = acceleration * (width - num_low) / (width - num_low * acceleration)
    offset = rng.randint(round(spacing))
    sampled = np.zeros(width, dtype=bool)
    sampled[np.round(np.arange(offset, width - 1, spacing)).astype(np.int64)] = True
    return sampled


def _magic_lines(width: int, acceleration: float, num_low: int, rng: np.random.RandomState) -> np.ndarray:
    """Equispaced columns whose positive and negative frequency halves are offset from each other.

    Defazio (2019), "Offset sampling improves deep learning based accelerated MRI reconstructions
    by exploiting symmetry": shifting the two halves lets conjugate symmetry fill the gaps. With
    frequencies ``f = column - W // 2``, the positive half samples ``f = first_positive + k * step``
    and the negative half ``f = -(1 + first_negative + k * step)``.
    """
    step = int(acceleration)
    offset = rng.randint(step)
    if offset % 2 == 0:
        first_positive, first_negative = offset + 1, offset + 2
    else:
        first_positive, first_negative = offset + 2, offset - 1
    frequency = np.arange(width) - width // 2
    positive = (frequency >= first_positive) & ((frequency - first_positive) % step == 0)
    negative_index = -frequency - 1
    negative = (negative_index >= first_negative) & ((negative_index - first_negative) % step == 0)
    return positive | negative


def _magic_fraction_line_mask(
    shape: tuple[int, ...], acceleration: float, center_fraction: float, rng: np.random.RandomState
) -> tuple[np.ndarray, int]:
    """Magic lines at the whole-number step that brings the total close to W / acceleration.

    The centre is capped at the target column count ``round(W / acceleration)`` (and kept at least
    one column); the outer step is ``round(W / (target - centre))``.
    """
    width = shape[-1]
    target = round(width / acceleration)
    num_low = max(min(_center_size(width, center_fraction, "W"), target), 1)
    outer_target = target - num_low
    if outer_target <= 0:
        raise KspaceKitError(
            f"magic_fraction: the {num_low} centre columns already reach acceleration "
            f"{acceleration} of width {width}; lower the center fraction or the acceleration"
        )
    sampled = _magic_lines(width, round(width / outer_target), num_low, rng)
    sampled[_center_slice(width, num_low)] = True
    return sampled, num_low


_SAMPLERS = {
    "random": partial(_line_mask, outer_lines=_random_lines),
    "equispaced": partial(_line_mask, outer_lines=_equispaced_lines),
    "equispaced_fraction": partial(_line_mask, outer_lines=_equispaced_fraction_lines),
    "magic": partial(_line_mask, outer_lines=_magic_lines),
    "magic_fraction": _magic_fraction_line_mask,
}
