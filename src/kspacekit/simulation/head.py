"""A synthetic scalp and skull around a skull-stripped brain, for realistic simulated training data.

The brain images available for simulation (Colin27, the ICBM152 template) are skull-stripped:
no scalp, no skull, a black background right at the cortex. Real head scans are not: on a T1
image the subcutaneous fat makes a bright ring outside a dark skull, often the brightest tissue
of the slice, and its aliasing dominates the artefacts of undersampled head data. Models trained
on stripped brains never see it (``benchmarks/domain_gap.py``).

:func:`add_head` surrounds each slice's brain with concentric layers, by the distance in mm
outside the brain's outline: CSF, the skull's inner table, the diploe (marrow, moderately
bright), the outer table, muscle, subcutaneous fat, skin. Thicknesses and relative intensities
are drawn once per volume (one subject) from ranges typical of adult T1-weighted head scans,
the thicknesses vary smoothly around the head, and the layers get partial-volume edges and a
mild smooth texture. The image is padded first so that the head and some air fit the field of
view. A stand-in for anatomy, not a model of it: enough for a network to learn that bright
rings outside the brain exist and alias.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

OUTLINE_SMOOTHING_MM = 3.0
"""Gaussian width that closes the sulci of the brain mask into a smooth outline."""

BRAIN_LEVEL = 0.05
"""Brain voxels: above this fraction of the volume's 99th percentile."""

# (name, thickness range mm, intensity range relative to the brain's 99th percentile)
LAYERS: tuple[tuple[str, tuple[float, float], tuple[float, float]], ...] = (
    ("csf", (1.0, 3.0), (0.05, 0.15)),
    ("inner table", (1.0, 2.0), (0.0, 0.05)),
    ("diploe", (1.0, 4.0), (0.2, 0.5)),
    ("outer table", (1.0, 2.0), (0.0, 0.05)),
    ("muscle", (1.0, 4.0), (0.3, 0.5)),
    ("fat", (2.0, 6.0), (0.8, 1.3)),
    ("skin", (0.5, 1.5), (0.35, 0.6)),
)
AIR_MM = (5.0, 25.0)
"""Air between the skin and the edge of the field of view, per side."""


@dataclass(frozen=True)
class HeadLayers:
    """One subject's layers: thickness (mm) and intensity (relative) per layer, and how the
    thickness varies around the head (amplitudes and phases of the first two angular orders)."""

    thickness: np.ndarray
    intensity: np.ndarray
    angular_amplitude: np.ndarray
    angular_phase: np.ndarray
    air: float

    @property
    def edges(self) -> np.ndarray:
        """Outer edge (mm from the brain's outline) of each layer."""
        return np.cumsum(self.thickness)


def random_layers(rng: np.random.Generator) -> HeadLayers:
    """Draw one subject's layers from the ranges of :data:`LAYERS`."""
    thickness = np.array([rng.uniform(*t) for _, t, _ in LAYERS])
    intensity = np.array([rng.uniform(*i) for _, _, i in LAYERS])
    return HeadLayers(
        thickness=thickness,
        intensity=intensity,
        angular_amplitude=rng.uniform(0.0, [0.3, 0.15]),
        angular_phase=rng.uniform(-np.pi, np.pi, 2),
        air=float(rng.uniform(*AIR_MM)),
    )


def _smooth_field(shape: tuple[int, int], scale_px: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-std smooth random field (Gaussian-filtered white noise)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), scale_px)
    return (field - field.mean()) / max(float(field.std()), 1e-12)


def add_head(
    slices: np.ndarray, spacing: tuple[float, float], rng: np.random.Generator, layers: HeadLayers | None = None
) -> np.ndarray:
    """Skull-stripped brain slices (S, rows, cols) -> padded slices with a synthetic head around the brain.

    ``spacing`` is (row, col) mm per pixel. The padding is the total layer thickness plus air on
    every side, so the result is larger than the input; slices without brain stay empty.
    """
    layers = random_layers(rng) if layers is None else layers
    slices = np.asarray(slices, dtype=np.float32)
    reference = float(np.percentile(slices[slices > 0], 99)) if (slices > 0).any() else 1.0
    margin_mm = layers.thickness.sum() * (1 + layers.angular_amplitude.sum()) + layers.air
    pad = [int(np.ceil(margin_mm / s)) for s in spacing]
    padded = np.pad(slices, ((0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    out = np.empty_like(padded)
    for index, brain in enumerate(padded):
        out[index] = _head_slice(brain, spacing, reference, layers, rng)
    return out


def _head_slice(
    brain: np.ndarray,
    spacing: tuple[float, float],
    reference: float,
    layers: HeadLayers,
    rng: np.random.Generator,
) -> np.ndarray:
    mask = brain > BRAIN_LEVEL * reference
    if not mask.any():
        return brain
    sigma_px = [OUTLINE_SMOOTHING_MM / s for s in spacing]
    outline = ndimage.binary_fill_holes(ndimage.gaussian_filter(mask.astype(np.float32), sigma_px) > 0.3)
    outline |= mask
    distance = ndimage.distance_transform_edt(~outline, sampling=spacing)
    rows, cols = np.nonzero(outline)
    grid_r, grid_c = np.indices(brain.shape)
    angle = np.arctan2((grid_r - rows.mean()) * spacing[0], (grid_c - cols.mean()) * spacing[1])
    stretch = 1.0 + sum(
        a * np.cos((order + 1) * angle - p)
        for order, (a, p) in enumerate(zip(layers.angular_amplitude, layers.angular_phase, strict=True))
    )
    band = np.searchsorted(layers.edges, distance / stretch)  # 0 = first layer, len(edges) = air
    values = np.append(layers.intensity, 0.0)[band] * reference
    texture = 1.0 + 0.08 * _smooth_field(brain.shape, 4.0 / min(spacing), rng)
    shell = ndimage.gaussian_filter(values * texture, [0.7 / s * min(spacing) for s in spacing])
    shell[outline] = 0.0
    return np.where(outline, brain, np.clip(shell, 0.0, None)).astype(np.float32)
