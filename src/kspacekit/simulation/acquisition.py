"""The acquisition model of simulated k-space: coil sensitivities, smooth phase and noise.

A magnitude slice becomes multi-coil k-space in three steps (batched in torch over slices): a
smooth random phase (a random low-order Fourier series) makes it complex; loop-array coil
sensitivities (below) weight it; complex white Gaussian noise at the requested SNR is added to
each coil image; k-space is ``fft2c`` of the coil images. Using the FFT here is fine: these are
training data on a pixel grid, not a test of methods against an analytic truth (for that, see
:mod:`kspacekit.simulation.phantoms`). Results on such data must never be reported as results on
real k-space. :mod:`kspacekit.simulation.datasets` applies this model to whole volumes.

Positions are in "object units": ``(row, col)`` with the origin at the centred-FFT image origin
and 1 = half the shorter side of the field of view, so the inscribed disc of the image is the
unit disc and a head fills most of it.
Coil model: each receive element is a loop whose two conductors cross the slice plane at
points ``w1``, ``w2`` on a ring (radius ~1.25) around the head, carrying opposite currents.
By Biot-Savart, an infinite wire at ``w`` (complex ``col + i row``) has the receive field
``i / conj(z - w)`` (magnitude 1/distance, phase the angle around the wire), so a loop's
sensitivity is the difference of two such terms: smooth, complex, decaying like a dipole away
from the element. The maps are then normalised so that ``sum_c |S_c|^2 = 1`` at every position,
which makes the RSS of noise-free coil images equal the object's magnitude. Each output volume
gets its own random array, shared by its slices as in a real scan (the array stays put while
the slices are acquired); each slice gets its own phase and noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from kspacekit.physics.fft import fft2c, rss

WIRE_SOFTENING = 0.05  # keeps 1/distance finite if a pixel falls on a conductor
FOREGROUND_LEVEL = 0.1  # foreground: above this fraction of the (volume's or slice's) bright level
PHASE_ORDER = 2  # the random phase is a Fourier series up to this order over twice the FOV


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
    device = generator.device if generator is not None else torch.device("cpu")

    def uniform(low: float, high: float, *shape: int) -> Tensor:
        if generator is None:
            return torch.full(shape, (low + high) / 2, dtype=dtype, device=device)
        return low + (high - low) * torch.rand(shape, generator=generator, dtype=dtype, device=device)

    spacing = 2 * math.pi / coils
    rotation = uniform(-math.pi, math.pi, batch, 1)  # each draw is the midpoint without a generator
    centres = rotation + spacing * torch.arange(coils, dtype=dtype, device=device)
    centres = centres + uniform(-0.1, 0.1, batch, coils) * spacing
    half_width = min(spacing / 2, math.pi / 4) * uniform(0.8, 1.2, batch, coils)
    radius = uniform(1.15, 1.35, batch, 1)
    ellipticity = uniform(0.9, 1.1, batch, 1)  # row radius / col radius
    angles = torch.stack([centres - half_width, centres + half_width], dim=-1)  # (B, C, 2)
    wires = torch.complex(
        radius[..., None] * torch.cos(angles), radius[..., None] * ellipticity[..., None] * torch.sin(angles)
    )
    phases = uniform(-math.pi, math.pi, batch, coils)
    return CoilArrays(wires=wires, phases=phases)


def loop_fields(arrays: CoilArrays, rows: Tensor, cols: Tensor) -> tuple[Tensor, Tensor]:
    """Real and imaginary parts (B, C, *P) of the normalised maps at points (``rows``, ``cols``) (*P).

    Real arithmetic throughout: the field of a wire is ``i (dx + i dy) / (dx^2 + dy^2)``
    (softened), a loop is the difference of its two wires, then the receive phase is applied
    and the coils are normalised to ``sum_c |S_c|^2 = 1``.
    """
    wires = arrays.wires.to(rows.device)
    extra = (None,) * rows.ndim
    real = imag = None
    for conductor, sign in ((0, 1.0), (1, -1.0)):
        dx = cols - wires[..., conductor].real.to(cols.dtype)[(..., *extra)]
        dy = rows - wires[..., conductor].imag.to(rows.dtype)[(..., *extra)]
        weight = sign / (dx.square() + dy.square() + WIRE_SOFTENING**2)
        real = -dy * weight if real is None else real.sub_(dy * weight)
        imag = dx * weight if imag is None else imag.add_(dx * weight)
    phases = arrays.phases.to(device=rows.device, dtype=rows.dtype)[(..., *extra)]
    cos, sin = torch.cos(phases), torch.sin(phases)
    real, imag = real * cos - imag * sin, real * sin + imag * cos
    norm = (real.square() + imag.square()).sum(1, keepdim=True).rsqrt()
    return real * norm, imag * norm


def coil_sensitivities(arrays: CoilArrays, positions: Tensor) -> Tensor:
    """Normalised complex maps (B, C, *P) of ``arrays`` at ``positions`` (*P, 2) in object units."""
    return torch.complex(*loop_fields(arrays, positions[..., 0], positions[..., 1]))


def pixel_positions(shape: tuple[int, int], device: torch.device | str = "cpu") -> Tensor:
    """Pixel centres (H, W, 2) in object units (origin at ``n // 2``, 1 = half the shorter side)."""
    half = min(shape) / 2
    axes = [(torch.arange(n, dtype=torch.float32, device=device) - n // 2) / half for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)


def random_coil_maps(coils: int, shape: tuple[int, int], generator: torch.Generator) -> Tensor:
    """Maps (1, C, H, W) complex64 of one random loop array (ones for a single coil)."""
    if coils == 1:
        return torch.ones((1, 1, *shape), dtype=torch.complex64, device=generator.device)
    return coil_sensitivities(coil_arrays(1, coils, generator), pixel_positions(shape, generator.device))


def smooth_phase(batch: int, shape: tuple[int, int], generator: torch.Generator) -> Tensor:
    """Random smooth phase maps (B, H, W) in radians: a global offset plus a low-order Fourier series.

    The series (orders up to ``PHASE_ORDER`` over twice the field of view, weights falling as
    1 / (1 + m^2 + n^2)) is scaled to a standard deviation of 0.5 to 2 rad across the image,
    like the B0 and receive phase of real scans.
    """
    device = generator.device
    orders = torch.arange(-PHASE_ORDER, PHASE_ORDER + 1, device=device, dtype=torch.float32)
    weights = 1.0 / (1.0 + orders[:, None] ** 2 + orders[None, :] ** 2)
    side = len(orders)
    coefficients = torch.randn(batch, side, side, 2, generator=generator, device=device)
    coefficients = torch.view_as_complex(coefficients) * weights
    offsets = [torch.arange(n, device=device, dtype=torch.float32) - n // 2 for n in shape]
    waves = [torch.polar(torch.ones((), device=device), math.pi * torch.outer(orders, x) / len(x)) for x in offsets]
    field = torch.einsum("bmn,mh,nw->bhw", coefficients, waves[0], waves[1]).real
    field = field / field.flatten(1).std(dim=1).clamp_min(1e-12)[:, None, None]
    amplitude = 0.5 + 1.5 * torch.rand(batch, 1, 1, generator=generator, device=device)
    offset = math.pi * (2 * torch.rand(batch, 1, 1, generator=generator, device=device) - 1)
    return offset + amplitude * field


@dataclass(frozen=True)
class SimulatedSlices:
    """Noisy coil images (B, C, H, W) complex64 and the maps (B or 1, C, H, W) that made them."""

    coil_images: Tensor
    maps: Tensor

    @property
    def kspace(self) -> Tensor:
        return fft2c(self.coil_images)

    def rss(self) -> Tensor:
        """fastMRI's multi-coil target: RSS of the (noisy) fully sampled coil images."""
        return rss(self.coil_images, dim=1)

    def emulated_single_coil(self) -> Tensor:
        """One complex image (B, H, W): the coils combined with the true maps, sum_c conj(S_c) y_c.

        A stand-in for fastMRI's emulated single-coil (ESC) data, which combines coils with
        weights fitted per slice; its k-space is the single-coil k-space, its magnitude the
        ``reconstruction_esc`` target.
        """
        return (self.maps.conj() * self.coil_images).sum(1)


def noise_std_for_snr(magnitudes: Tensor, snr: float) -> Tensor:
    """Per-slice noise standard deviation (B,): mean foreground magnitude of (B, H, W) / ``snr``."""
    peaks = magnitudes.flatten(1).amax(1)[:, None, None]
    foreground = (magnitudes > FOREGROUND_LEVEL * peaks).flatten(1)
    mean = (magnitudes.flatten(1) * foreground).sum(1) / foreground.sum(1).clamp_min(1)
    return mean / snr


def complex_noise(like: Tensor, std: Tensor, generator: torch.Generator) -> Tensor:
    """Complex white Gaussian noise shaped like ``like`` (B, ...), ``E|n|^2 = std[b]^2`` per sample."""
    noise = torch.randn((*like.shape, 2), generator=generator, device=like.device)
    noise.mul_((std / math.sqrt(2)).reshape(-1, *([1] * like.ndim)).to(like.device))
    return torch.view_as_complex(noise)


def simulate_slices(
    magnitudes: Tensor, maps: Tensor, *, snr: float | None, generator: torch.Generator
) -> SimulatedSlices:
    """Magnitude slices (B, H, W) -> noisy complex coil images, with a smooth random phase per slice.

    ``maps`` (B or 1, C, H, W) weight the complex object (see :func:`random_coil_maps`).
    Noise: complex white Gaussian, independent across coils, of standard deviation ``sigma`` per
    coil pixel (``E|n|^2 = sigma^2``), with ``sigma = mean foreground magnitude / snr``. Because
    the maps satisfy ``sum_c |S_c|^2 = 1``, ``snr`` is the SNR of the optimally coil-combined
    image. The same noise in k-space has the same ``sigma`` (orthonormal FFT).
    """
    device = generator.device
    magnitudes = magnitudes.to(device=device, dtype=torch.float32)
    phase = smooth_phase(magnitudes.shape[0], magnitudes.shape[-2:], generator)
    coil_images = maps.to(device) * torch.polar(magnitudes, phase).unsqueeze(1)
    if snr is not None:
        coil_images.add_(complex_noise(coil_images, noise_std_for_snr(magnitudes, snr), generator))
    return SimulatedSlices(coil_images=coil_images, maps=maps)
