"""Simulated multi-coil data: coil sensitivities of loop arrays (used by the phantoms too).

Positions are in "object units": ``(row, col)`` with the origin at the centred-FFT image origin
and 1 = half the shorter side of the field of view, so the inscribed disc of the image is the
unit disc and a head fills most of it.

Coil model: each receive element is a loop whose two conductors cross the slice plane at
points ``w1``, ``w2`` on a ring (radius ~1.25) around the head, carrying opposite currents.
By Biot-Savart, an infinite wire at ``w`` (complex ``col + i row``) has the receive field
``i / conj(z - w)`` (magnitude 1/distance, phase the angle around the wire), so a loop's
sensitivity is the difference of two such terms: smooth, complex, decaying like a dipole away
from the element. The maps are then normalised so that ``sum_c |S_c|^2 = 1`` at every position,
which makes the RSS of noise-free coil images equal the object's magnitude.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

COIL_RING_RADIUS = 1.25  # in object units; random arrays draw from 1.15..1.35
WIRE_SOFTENING = 0.05  # keeps 1/distance finite if a pixel falls on a conductor


@dataclass(frozen=True)
class CoilArrays:
    """Loop arrays for a batch of slices: conductor positions (B, C, 2) complex and phases (B, C)."""

    wires: Tensor
    phases: Tensor


def coil_arrays(batch: int, coils: int, generator: torch.Generator | None = None) -> CoilArrays:
    """``batch`` arrays of ``coils`` loops evenly spaced on a ring, randomised when a generator is given.

    Random arrays vary the ring rotation and radius, its ellipticity (head-shaped), each loop's
    angular position (jitter) and width (neighbours overlap as in real arrays) and receive phase.
    Without a generator the array is the regular one (no rotation, no jitter, zero phases).
    """
    dtype = torch.float64

    def uniform(low: float, high: float, *shape: int) -> Tensor:
        if generator is None:
            return torch.full(shape, (low + high) / 2, dtype=dtype)
        return low + (high - low) * torch.rand(shape, generator=generator, dtype=dtype)

    spacing = 2 * math.pi / coils
    rotation = uniform(-math.pi, math.pi, batch, 1) if generator is not None else torch.zeros(batch, 1, dtype=dtype)
    centres = rotation + spacing * torch.arange(coils, dtype=dtype) + uniform(-0.1, 0.1, batch, coils) * spacing
    half_width = min(spacing / 2, math.pi / 4) * uniform(0.8, 1.2, batch, coils)
    radius = uniform(1.15, 1.35, batch, 1)
    ellipticity = uniform(0.9, 1.1, batch, 1)  # row radius / col radius
    angles = torch.stack([centres - half_width, centres + half_width], dim=-1)  # (B, C, 2)
    wires = torch.complex(
        radius[..., None] * torch.cos(angles), radius[..., None] * ellipticity[..., None] * torch.sin(angles)
    )
    phases = uniform(-math.pi, math.pi, batch, coils) if generator is not None else torch.zeros(batch, coils, dtype=dtype)
    return CoilArrays(wires=wires, phases=phases)


def coil_sensitivities(arrays: CoilArrays, positions: Tensor) -> Tensor:
    """Normalised complex maps (B, C, *P) of ``arrays`` at ``positions`` (*P, 2) in object units."""
    z = torch.complex(positions[..., 1], positions[..., 0]).to(arrays.wires.device)
    extra = (None,) * z.ndim

    def wire_field(wire: Tensor) -> Tensor:
        offset = z - wire[(..., *extra)]
        return 1j * offset / (offset.abs() ** 2 + WIRE_SOFTENING**2)  # i / conj(offset), softened

    maps = wire_field(arrays.wires[..., 0]) - wire_field(arrays.wires[..., 1])
    maps = maps * torch.polar(torch.ones_like(arrays.phases), arrays.phases)[(..., *extra)]
    return maps / maps.abs().square().sum(1, keepdim=True).sqrt()
