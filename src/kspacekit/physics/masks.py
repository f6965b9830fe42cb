"""Undersampling masks: fastMRI's five line masks, value for value, and two 2-D kinds.

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

Requests fastMRI cannot serve (a centre that alone reaches the acceleration for the fraction
kinds, a fractional acceleration for ``equispaced`` or ``magic``) raise :class:`KspaceKitError`, as
do unknown kinds, accelerations below 1 and center fractions outside (0, 1). So does a centre of
zero lines, which fastMRI would silently allow (or, for ``magic_fraction``, widen to one line).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from scipy import optimize
from torch import Tensor

from kspacekit.errors import KspaceKitError

Seed = int | tuple[int, ...] | None

LINE_KINDS = ("random", "equispaced", "equispaced_fraction", "magic", "magic_fraction")
PLANE_KINDS = ("poisson", "gaussian")
MASK_KINDS = LINE_KINDS + PLANE_KINDS

# Kinds that step through columns with a whole-number stride, so need an integer acceleration.
_INTEGER_ACCELERATION_KINDS = ("equispaced", "magic")

# Standard deviation of the ``gaussian`` sampling density, in units of the half-size of each axis.
GAUSSIAN_SIGMA = 0.5

# The growth of the Poisson-disc radius is tuned until the pattern has between the target number
# of points and this fraction more; the surplus (the last-visited outer points) is then dropped.
_POISSON_SURPLUS = 0.03
_POISSON_MAX_TRIALS = 12
# Points per unit of sum(1 / radius**2) that random sequential Poisson-disc packing reaches on the
# pixel grid (about 0.52 to 0.63 over the useful range); only the first guess of the tuning uses it.
_POISSON_PACKING = 0.56
# Radius growth per unit distance below which accelerations are reached by widening the fully
# sampled region instead (see _disc_radius); the SigPy profile with this slope gives about R = 3.4.
_POISSON_BASE_SLOPE = 0.5


def file_seed(fname: str) -> tuple[int, ...]:
    """fastMRI's per-file seed for its fixed validation masks: the code points of ``fname``."""
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
            raise KspaceKitError(
                f"unknown mask kind {self.kind!r}; choose one of {', '.join(MASK_KINDS)}"
            )
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
        """A float32 0/1 mask broadcastable to k-space of ``shape``, and its num_low_frequencies."""
        shape = _check_shape(shape)
        rng = _random_state(seed)
        pair = rng.randint(len(self.center_fractions))
        acceleration = float(self.accelerations[pair])
        center_fraction = float(self.center_fractions[pair])
        sampled, num_low_frequencies = _SAMPLERS[self.kind](
            shape, acceleration, center_fraction, rng
        )
        mask_shape = (1,) * (len(shape) - sampled.ndim) + sampled.shape
        return torch.from_numpy(sampled.reshape(mask_shape).astype(np.float32)), num_low_frequencies


def make_mask(
    kind: str, shape: Sequence[int], acceleration: float, center_fraction: float, seed: Seed = None
) -> tuple[Tensor, int]:
    """One mask of ``kind`` for k-space of ``shape`` (..., H, W): ``(mask, num_low_frequencies)``.

    See the module docstring for the kinds, mask shapes and seeds.
    """
    return MaskSpec(kind, (center_fraction,), (acceleration,))(shape, seed)


def effective_acceleration(mask: Tensor, shape: Sequence[int]) -> float:
    """Points of the (H, W) plane per sampled point (averaged over any leading mask dimensions)."""
    height, width = _check_shape(shape)[-2:]
    try:
        plane = torch.broadcast_to(mask, (*mask.shape[:-2], height, width))
    except RuntimeError:
        raise KspaceKitError(
            f"mask of shape {tuple(mask.shape)} does not fit k-space of shape {tuple(shape)}"
        ) from None
    sampled = int(plane.count_nonzero())
    return plane.numel() / sampled if sampled else math.inf


def mask_from_lines(mask_1d: np.ndarray | Tensor, shape: Sequence[int]) -> Tensor:
    """A stored line mask (length W, as in fastMRI test files) as a float (1, ..., 1, W) mask."""
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


def center_run_sides(lines: Tensor) -> tuple[Tensor, Tensor]:
    """The fully sampled run through the centre ``N // 2`` of each row of ``lines`` (..., N):
    how many consecutive sampled entries lie left of the centre, and how many from the centre
    rightwards (the centre included; 0 when it is unsampled). The one count of the centre run that
    :func:`count_center_lines` and VarNet's autocalibration box both use; any device, batched."""
    sampled = (lines != 0).to(torch.int64)
    centre = lines.shape[-1] // 2
    left = sampled[..., :centre].flip(-1).cumprod(-1).sum(-1)
    right = sampled[..., centre:].cumprod(-1).sum(-1)
    return left, right


def count_center_lines(mask_1d: np.ndarray | Tensor) -> int:
    """Length of the run of sampled lines through the centre column W // 2 (0 if it is unsampled).

    A stand-in for num_low_frequencies when a file does not store it; a sampled outer line right
    next to the centre block makes it larger than the true centre.
    """
    left, right = center_run_sides(torch.as_tensor(np.ascontiguousarray(mask_1d)).reshape(-1))
    return int(left + right) if right > 0 else 0


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
    if isinstance(center_fraction, bool) or not isinstance(
        center_fraction, (int, float, np.number)
    ):
        raise KspaceKitError(f"center fraction must be a number, got {center_fraction!r}")
    if not 0 < center_fraction < 1:
        raise KspaceKitError(
            f"center fraction must lie strictly between 0 and 1, got {center_fraction}"
        )


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
            f"mask seed must be an int in [0, 2**32) or a tuple of such ints, got {seed!r} "
            f"({error})"
        ) from None


def _center_size(size: int, center_fraction: float, axis: str) -> int:
    """Fully sampled lines along one axis, ``round(size * center_fraction)``: 1 to size - 1."""
    count = round(size * center_fraction)
    if not 1 <= count < size:
        raise KspaceKitError(
            f"center fraction {center_fraction} of {axis} = {size} gives {count} fully sampled "
            f"lines; it must give at least 1 and fewer than {size}"
        )
    return count


def _center_slice(size: int, count: int) -> slice:
    """fastMRI's placement of the fully sampled block; it always contains the centre size // 2."""
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
    """A fully sampled centre block of ``round(W * center_fraction)`` columns, plus outer lines."""
    width = shape[-1]
    num_low = _center_size(width, center_fraction, "W")
    sampled = outer_lines(width, acceleration, num_low, rng)
    sampled[_center_slice(width, num_low)] = True
    return sampled, num_low


def _random_lines(
    width: int, acceleration: float, num_low: int, rng: np.random.RandomState
) -> np.ndarray:
    """Each column independently, with the probability giving W / acceleration on average."""
    probability = (width / acceleration - num_low) / (width - num_low)
    return rng.random_sample(width) < probability


def _equispaced_lines(
    width: int, acceleration: float, num_low: int, rng: np.random.RandomState
) -> np.ndarray:
    """Every ``acceleration``-th column from a random offset in [0, acceleration)."""
    step = int(acceleration)
    sampled = np.zeros(width, dtype=bool)
    sampled[rng.randint(step) :: step] = True
    return sampled


def _equispaced_fraction_lines(
    width: int, acceleration: float, num_low: int, rng: np.random.RandomState
) -> np.ndarray:
    """Columns at the fractional spacing that makes centre plus outer columns W / acceleration.

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


def _magic_lines(
    width: int, acceleration: float, num_low: int, rng: np.random.RandomState
) -> np.ndarray:
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


# ---------------------------------------------------------------------------------------------
# Plane (2-D) kinds: each returns the sampled points (bool, (H, W)) and the centre side along W.


def _center_box(height: int, width: int, center_fraction: float) -> tuple[np.ndarray, int, int]:
    """The fully sampled centre box and its sides along H and W."""
    box_height = _center_size(height, center_fraction, "H")
    box_width = _center_size(width, center_fraction, "W")
    box = np.zeros((height, width), dtype=bool)
    box[_center_slice(height, box_height), _center_slice(width, box_width)] = True
    return box, box_height, box_width


def _plane_target(height: int, width: int, acceleration: float, box: np.ndarray, kind: str) -> int:
    """Total samples ``round(H * W / acceleration)``; the centre box must fit within it."""
    target = round(height * width / acceleration)
    if box.sum() > target:
        raise KspaceKitError(
            f"{kind}: the {int(box.sum())}-point centre box alone exceeds the {target} samples of "
            f"acceleration {acceleration} on {height} x {width}; lower the center fraction"
        )
    return target


def _axis_distance(size: int, margin: float) -> np.ndarray:
    """Distance of each index from size // 2 beyond ``margin``, in units of the half-size left."""
    beyond = np.maximum(np.abs(np.arange(size) - size // 2) - margin, 0)
    return beyond / max(size / 2 - margin, 1)


def _gaussian_plane_mask(
    shape: tuple[int, ...], acceleration: float, center_fraction: float, rng: np.random.RandomState
) -> tuple[np.ndarray, int]:
    """The centre box plus outer points drawn without replacement with Gaussian weights.

    Weighted sampling without replacement by exponential races (Efraimidis and Spirakis, 2006):
    every point gets an arrival time ``Exp(1) / weight`` and the earliest arrivals are taken.
    """
    height, width = shape[-2:]
    box, _, box_width = _center_box(height, width, center_fraction)
    outer_count = _plane_target(height, width, acceleration, box, "gaussian") - int(box.sum())
    rows, columns = _axis_distance(height, 0)[:, None], _axis_distance(width, 0)[None, :]
    weight = np.exp(-(rows**2 + columns**2) / (2 * GAUSSIAN_SIGMA**2))
    arrival = rng.standard_exponential((height, width)) / weight
    arrival[box] = np.inf
    sampled = box.copy()
    sampled.flat[np.argpartition(arrival.ravel(), outer_count)[:outer_count]] = True
    return sampled, box_width


def _poisson_plane_mask(
    shape: tuple[int, ...], acceleration: float, center_fraction: float, rng: np.random.RandomState
) -> tuple[np.ndarray, int]:
    """Variable-density Poisson-disc sampling (SigPy-style), with exactly the target point count.

    Points are visited in a random order (the centre box first) and kept unless closer to a kept
    point than the mean of their exclusion radii. The radius grows with the elliptical, per-axis
    normalised distance outside the centre box (see :func:`_disc_radius`), so sampling is dense
    near the centre and sparse at the edges. Its growth is tuned to the acceleration, then the
    surplus points (at most 3%) are dropped.
    """
    height, width = shape[-2:]
    box, box_height, box_width = _center_box(height, width, center_fraction)
    target = _plane_target(height, width, acceleration, box, "poisson")
    distance = np.hypot(
        _axis_distance(height, box_height / 2)[:, None],
        _axis_distance(width, box_width / 2)[None, :],
    )
    priority = rng.permutation(height * width).reshape(height, width)
    priority[box] = -1  # the centre box is visited first, so it is always kept
    sampled, radius = _tuned_disc_pattern(distance, priority, target)
    surplus = int(sampled.sum()) - target
    if surplus:  # drop the last-visited points, where the disc pattern is sparse (radius > 1) first
        kept = np.flatnonzero(sampled & ~box)
        order = np.lexsort((priority.flat[kept], radius.flat[kept] > 1))
        sampled.flat[kept[order[-surplus:]]] = False
    return sampled, box_width


def _disc_radius(distance: np.ndarray, tuning: float) -> np.ndarray:
    """Exclusion radius in pixels, ``1 + slope * (distance - flat)``; fewer points as tuning grows.

    Tuning >= 0 is SigPy's profile: radius 1 at the centre box, growing with slope
    ``_POISSON_BASE_SLOPE + tuning``. On the pixel grid any radius above 1 already excludes the
    four neighbours (at most about 37% of points kept), so lower accelerations need tuning < 0:
    the base slope starting at ``flat = -tuning``, with full sampling (radius below 1) out to there.
    """
    if tuning >= 0:
        return 1 + (_POISSON_BASE_SLOPE + tuning) * distance
    return 1 + _POISSON_BASE_SLOPE * (distance + tuning)


def _tuned_disc_pattern(
    distance: np.ndarray, priority: np.ndarray, target: int
) -> tuple[np.ndarray, np.ndarray]:
    """The disc pattern (and its radius) of a tuning giving target to target * (1 + surplus) points.

    Each trial refits the packing constant of a count model (:func:`_model_count`) to the last
    pattern and solves the model for the next tuning, within the bracket of tunings known to give
    enough and too few points. The low end of the bracket keeps every point, a safe fallback.
    """
    enough, too_few = -float(distance.max()), math.inf  # radius <= 1 everywhere: every point kept
    packing = _POISSON_PACKING
    for _ in range(_POISSON_MAX_TRIALS):
        tuning = _model_tuning(
            distance, target * (1 + _POISSON_SURPLUS / 2), packing, enough, too_few
        )
        radius = _disc_radius(distance, tuning)
        sampled = _greedy_disc_pattern(radius, priority)
        count = int(sampled.sum())
        if target <= count <= target * (1 + _POISSON_SURPLUS):
            return sampled, radius
        if count >= target:
            enough = tuning
        else:
            too_few = tuning
        sparse = radius > 1
        packing = np.clip(
            (count - np.sum(~sparse)) / max(np.sum(radius[sparse] ** -2.0), 1e-9), 0.05, 1
        )
    radius = _disc_radius(distance, enough)
    return _greedy_disc_pattern(radius, priority), radius


def _model_count(radius: np.ndarray, packing: float) -> float:
    """Expected pattern size: 1 per point of radius at most 1, else packing / radius**2."""
    return float(np.sum(np.where(radius > 1, packing / np.maximum(radius, 1) ** 2, 1)))


def _model_tuning(
    distance: np.ndarray, goal: float, packing: float, low: float, high: float
) -> float:
    """The tuning in (low, high) where the model count equals ``goal``.

    Falls back to the middle of the bracket (or beyond its low end while it is open) when the
    model has no root inside it.
    """

    def excess(tuning: float) -> float:
        return _model_count(_disc_radius(distance, tuning), packing) - goal

    upper = high
    if not math.isfinite(high):
        upper = max(low, 0) + 1
        while excess(upper) > 0 and upper < 1e6:
            upper = 2 * upper
    if excess(low) > 0 > excess(upper):
        return float(optimize.brentq(excess, low, upper, xtol=1e-4))
    return (low + high) / 2 if math.isfinite(high) else upper


def _greedy_disc_pattern(radius: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """Points kept by visiting all points in ``priority`` order and keeping each one that is not
    closer than the mean of the two radii to a point already kept.

    Computed in parallel rounds rather than point by point: each round keeps every undecided
    point that precedes all its undecided conflicting points and drops the points conflicting
    with those. This yields the same set as the sequential visit (the lexicographically first
    maximal independent set of the conflict graph) in a handful of vectorised rounds.
    """
    first, second = _conflict_pairs(radius, priority)
    state = np.zeros(radius.size, dtype=np.int8)  # 0 undecided, 1 kept, -1 dropped
    while (undecided := state == 0).any():
        preceded = np.zeros_like(undecided)
        preceded[second] = True
        kept = undecided & ~preceded
        state[kept] = 1
        state[second[kept[first]]] = -1
        active = (state[first] == 0) & (state[second] == 0)
        first, second = first[active], second[active]
    return (state == 1).reshape(radius.shape)


def _conflict_pairs(radius: np.ndarray, priority: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices (earlier, later in priority) of all point pairs closer than their mean radius.

    Loops over the pixel offsets within the largest radius, comparing whole shifted views.
    """
    height, width = radius.shape
    reach = float(radius.max())
    steps = math.ceil(reach)
    index = np.arange(radius.size, dtype=np.int32 if radius.size < 2**31 else np.int64)
    index = index.reshape(height, width)
    earlier, later = [index[:0, 0]], [index[:0, 0]]
    for dy in range(min(steps, height)):
        for dx in range(max(1 - steps, 1 - width), min(steps, width)):
            separation = math.hypot(dy, dx)
            if (dy == 0 and dx <= 0) or separation >= reach:
                continue  # each pair once; no pair this far apart can conflict
            x0, x1 = max(0, -dx), width - max(0, dx)
            here = (slice(0, height - dy), slice(x0, x1))
            there = (slice(dy, height), slice(x0 + dx, x1 + dx))
            close = radius[here] + radius[there] > 2 * separation
            a = index[here][close]
            b = a + (dy * width + dx)
            a_first = priority[here][close] < priority[there][close]
            earlier.append(np.where(a_first, a, b))
            later.append(np.where(a_first, b, a))
    return np.concatenate(earlier), np.concatenate(later)


_SAMPLERS = {
    "random": partial(_line_mask, outer_lines=_random_lines),
    "equispaced": partial(_line_mask, outer_lines=_equispaced_lines),
    "equispaced_fraction": partial(_line_mask, outer_lines=_equispaced_fraction_lines),
    "magic": partial(_line_mask, outer_lines=_magic_lines),
    "magic_fraction": _magic_fraction_line_mask,
    "poisson": _poisson_plane_mask,
    "gaussian": _gaussian_plane_mask,
}
