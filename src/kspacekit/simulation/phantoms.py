"""Analytic ellipse phantoms whose k-space is computed in closed form, not by an FFT of pixels.

Sampling k-space of a pixel image with the same FFT a method uses is the "inverse crime": it
hides discretisation error and flatters every method. Here each ellipse's continuous Fourier
transform is evaluated exactly at the k-space sample positions:

    ellipse {c + M u : |u| <= 1} of intensity A  ->  F(k) = A |det M| exp(-2 pi i k.c) J1(2 pi q) / q,
    q = |M^T k|  (the limit at q = 0 is pi: F(0) = A * area).

Geometry: positions are ``(row, col)`` with the origin at index ``n // 2`` (the centred FFT
convention of :mod:`kspacekit.physics.fft`) and square pixels of size ``d = 2 / min(H, W)``, so the
unit disc is the inscribed disc of the image. Sample ``m`` of an axis with ``n`` samples sits
at frequency ``(m - n // 2) / (n d)``. The stored k-space is ``F / (sqrt(H W) d^2)``, the
scale at which ``ifft2c`` returns the object's values at pixel centres (apart from Gibbs
ringing and aliasing of the infinite spectrum). The reference image is the phantom evaluated
at pixel centres.

Multi-coil: the spectrum of ``S_c(p) f(p)`` is not closed form for arbitrary maps, so each map
is a trigonometric polynomial ``S_c(p) = sum_{m,n} s_cmn exp(2 pi i (m p_row / P_row + n p_col
/ P_col))`` (|m|, |n| <= 4, period P = 1.5 fields of view), whose coil spectrum is the exact sum
of shifted ellipse spectra ``sum s_cmn F(k - f_mn)``. The coefficients are a ridge least-squares
fit, over the object's disc, to the Biot-Savart loop-array maps of :mod:`kspacekit.simulation.acquisition`
(normalised to ``sum_c |S_c|^2 = 1``); the fitted polynomials keep ``sum_c |S_c|^2`` within
about 2 % of 1 inside the disc. The returned maps are the polynomials at pixel centres, i.e.
exactly the maps the k-space was computed with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from kspacekit.errors import KspaceKitError
from kspacekit.simulation.acquisition import coil_arrays, coil_sensitivities

# MATLAB phantom('Modified Shepp-Logan') (Toft): intensity, semi-axes a, b, centre x0, y0 and
# rotation phi in degrees, in coordinates with x to the right and y up.
MODIFIED_SHEPP_LOGAN = (
    (1.0, 0.69, 0.92, 0.0, 0.0, 0.0),
    (-0.8, 0.6624, 0.8740, 0.0, -0.0184, 0.0),
    (-0.2, 0.1100, 0.3100, 0.22, 0.0, -18.0),
    (-0.2, 0.1600, 0.4100, -0.22, 0.0, 18.0),
    (0.1, 0.2100, 0.2500, 0.0, 0.35, 0.0),
    (0.1, 0.0460, 0.0460, 0.0, 0.1, 0.0),
    (0.1, 0.0460, 0.0460, 0.0, -0.1, 0.0),
    (0.1, 0.0460, 0.0230, -0.08, -0.605, 0.0),
    (0.1, 0.0230, 0.0230, 0.0, -0.606, 0.0),
    (0.1, 0.0230, 0.0460, 0.06, -0.605, 0.0),
)
MAP_ORDER = 4  # coil maps use (2 * MAP_ORDER + 1)^2 complex exponentials
MAP_PERIOD = 1.5  # their period, in fields of view: frequencies are 2/3 of a k-space step
FINE = 3  # k-space steps and map frequencies (2/3 step) are both multiples of 1/3 step
FIT_RADIUS = 0.95
FIT_GRID = 64
FIT_RIDGE = 1e-4

PhantomResult = tuple[np.ndarray, np.ndarray, np.ndarray | None]


@dataclass(frozen=True)
class Ellipses:
    """Ellipses ``{center + matrix @ u : |u| <= 1}``: intensity (E,), center (E, 2), matrix (E, 2, 2)."""

    intensity: Tensor
    center: Tensor
    matrix: Tensor

    @classmethod
    def from_table(cls, rows: Tensor) -> Ellipses:
        """Rows (intensity, a, b, x0, y0, phi degrees) in x-right/y-up coordinates -> (row, col) frame."""
        rows = rows.to(torch.float64)
        intensity, a, b, x0, y0, phi = rows.unbind(-1)
        cos, sin = torch.cos(torch.deg2rad(phi)), torch.sin(torch.deg2rad(phi))
        # (x, y) = centre + R(phi) diag(a, b) u; row = -y, col = x
        matrix = torch.stack([torch.stack([-sin * a, -cos * b], -1), torch.stack([cos * a, -sin * b], -1)], -2)
        return cls(intensity=intensity, center=torch.stack([-y0, x0], -1), matrix=matrix)

    def image(self, positions: Tensor) -> Tensor:
        """Sum of the ellipses' indicator functions at ``positions`` (*P, 2)."""
        image = torch.zeros(positions.shape[:-1], dtype=torch.float64)
        for intensity, center, matrix in zip(self.intensity, self.center, self.matrix, strict=True):
            local = (positions - center) @ torch.linalg.inv(matrix).T
            image += intensity * (local.square().sum(-1) <= 1)
        return image

    def spectrum(self, frequencies: Tensor) -> Tensor:
        """Exact continuous Fourier transform at ``frequencies`` (*K, 2) (cycles per object unit)."""
        spectrum = torch.zeros(frequencies.shape[:-1], dtype=torch.complex128)
        for intensity, center, matrix in zip(self.intensity, self.center, self.matrix, strict=True):
            radial = (frequencies @ matrix).norm(dim=-1)  # |M^T k|
            safe = torch.where(radial > 0, radial, torch.ones_like(radial))
            jinc = torch.where(radial > 0, torch.special.bessel_j1(2 * math.pi * safe) / safe, math.pi)
            shift = torch.polar(torch.ones_like(radial), -2 * math.pi * (frequencies @ center))
            spectrum += intensity * torch.linalg.det(matrix).abs() * jinc * shift
        return spectrum


def unit_phasors(angles: Tensor) -> Tensor:
    """``exp(i angles)`` as complex128."""
    return torch.polar(torch.ones_like(angles), angles)


def pixel_size(shape: tuple[int, int]) -> float:
    return 2.0 / min(shape)


def axis_positions(n: int, step: float) -> Tensor:
    """Positions (or frequencies) of the ``n`` samples of a centred axis: ``(i - n // 2) * step``."""
    return (torch.arange(n, dtype=torch.float64) - n // 2) * step


def grid(rows: Tensor, cols: Tensor) -> Tensor:
    return torch.stack(torch.meshgrid(rows, cols, indexing="ij"), dim=-1)


def pixel_positions(shape: tuple[int, int]) -> Tensor:
    """Pixel centres (H, W, 2) in object units."""
    d = pixel_size(shape)
    return grid(axis_positions(shape[0], d), axis_positions(shape[1], d))


def map_coefficients(shape: tuple[int, int], coils: int, generator: torch.Generator | None) -> Tensor:
    """Trigonometric-polynomial coefficients (C, 2L+1, 2L+1) fitted to normalised loop-array maps."""
    periods = [MAP_PERIOD * n * pixel_size(shape) for n in shape]
    fit_axis = torch.linspace(-1, 1, FIT_GRID, dtype=torch.float64)
    points = grid(fit_axis, fit_axis).reshape(-1, 2)
    points = points[points.norm(dim=-1) <= FIT_RADIUS]
    targets = coil_sensitivities(coil_arrays(1, coils, generator), points)[0]  # (C, N)
    orders = torch.arange(-MAP_ORDER, MAP_ORDER + 1, dtype=torch.float64)
    frequencies = grid(orders / periods[0], orders / periods[1]).reshape(-1, 2)
    basis = unit_phasors(2 * math.pi * points @ frequencies.T)  # (N, Q)
    gram = basis.mH @ basis + FIT_RIDGE * len(points) * torch.eye(basis.shape[1], dtype=torch.complex128)
    coefficients = torch.linalg.solve(gram, basis.mH @ targets.T)  # (Q, C)
    side = 2 * MAP_ORDER + 1
    return coefficients.T.reshape(coils, side, side)


def evaluate_maps(coefficients: Tensor, shape: tuple[int, int]) -> Tensor:
    """The polynomial maps (C, H, W) at pixel centres."""
    d = pixel_size(shape)
    orders = torch.arange(-MAP_ORDER, MAP_ORDER + 1, dtype=torch.float64)
    waves = [unit_phasors(2 * math.pi * torch.outer(orders, axis_positions(n, d)) / (MAP_PERIOD * n * d)) for n in shape]
    return torch.einsum("cmn,mh,nw->chw", coefficients, waves[0], waves[1])


def ellipse_kspace(ellipses: Ellipses, shape: tuple[int, int], coefficients: Tensor | None) -> Tensor:
    """Sampled k-space (C, H, W): the exact spectrum of (map-weighted) ellipses, scaled for ifft2c.

    With maps, the spectrum is evaluated once on a grid three times finer than k-space (which
    holds both the k-space samples and the map frequencies, 2/3 of a step apart); each
    exponential of a map is then a strided slice of that grid.
    """
    height, width = shape
    d = pixel_size(shape)
    scale = 1.0 / (math.sqrt(height * width) * d * d)
    steps = [1.0 / (n * d) for n in shape]
    if coefficients is None:
        frequencies = grid(axis_positions(height, steps[0]), axis_positions(width, steps[1]))
        return scale * ellipses.spectrum(frequencies)[None]
    # fine index t holds frequency (t - t0) * step / FINE, with t0 = FINE * (n // 2) + 2 L
    margin = 2 * MAP_ORDER
    fine_axes = [
        (torch.arange(FINE * (n - 1) + 2 * margin + 1, dtype=torch.float64) - FINE * (n // 2) - margin)
        * (step / FINE)
        for n, step in zip(shape, steps, strict=True)
    ]
    fine = ellipses.spectrum(grid(*fine_axes))
    kspace = torch.zeros((coefficients.shape[0], height, width), dtype=torch.complex128)
    orders = range(-MAP_ORDER, MAP_ORDER + 1)
    for row_index, m in enumerate(orders):  # k - f_m on the fine grid: start 2L - 2m, stride 3
        rows = fine[margin - 2 * m :: FINE][:height]
        shifted = torch.stack([rows[:, margin - 2 * n :: FINE][:, :width] for n in orders])  # (2L+1, H, W)
        kspace += torch.einsum("cn,nhw->chw", coefficients[:, row_index], shifted)
    return scale * kspace


def _phantom(ellipses: Ellipses, shape: tuple[int, int], coils: int, seed: int | None) -> PhantomResult:
    if len(shape) != 2 or min(shape) < 2:
        raise KspaceKitError(f"phantom shape must be (H, W) with H, W >= 2, got {shape}")
    if not 1 <= coils <= 64:
        raise KspaceKitError(f"coils must be in 1..64, got {coils}")
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    coefficients = map_coefficients(shape, coils, generator) if coils > 1 else None
    kspace = ellipse_kspace(ellipses, shape, coefficients)
    image = ellipses.image(pixel_positions(shape)).abs()
    maps = None if coefficients is None else evaluate_maps(coefficients, shape).to(torch.complex64).numpy()
    return kspace.to(torch.complex64).numpy(), image.to(torch.float32).numpy(), maps


def shepp_logan(shape: tuple[int, int], coils: int = 1, seed: int | None = None) -> PhantomResult:
    """Modified Shepp-Logan: k-space (C, H, W) complex64, reference image (H, W) float32, maps or None.

    ``seed`` randomises the coil array (rotation, geometry, phases); None gives the regular array.
    """
    table = torch.tensor(MODIFIED_SHEPP_LOGAN, dtype=torch.float64)
    return _phantom(Ellipses.from_table(table), tuple(shape), coils, seed)


def random_ellipses(shape: tuple[int, int], n: int = 12, coils: int = 1, seed: int | None = None) -> PhantomResult:
    """A head-like random phantom: an outer ellipse of intensity 1 holding ``n - 1`` smaller ones.

    Inner ellipses lie inside the outer one, with random axes, angles and intensities in
    [-0.3, 0.4] (overlaps add). The reference image is the magnitude of the sum.
    """
    if n < 1:
        raise KspaceKitError(f"the number of ellipses must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    outer = [1.0, rng.uniform(0.6, 0.75), rng.uniform(0.75, 0.9), 0.0, 0.0, rng.uniform(-15, 15)]
    inner = [
        [rng.uniform(-0.3, 0.4), *rng.uniform(0.03, 0.3, 2), *_point_in_ellipse(rng, outer), rng.uniform(-90, 90)]
        for _ in range(n - 1)
    ]
    table = torch.tensor([outer, *inner], dtype=torch.float64)
    return _phantom(Ellipses.from_table(table), tuple(shape), coils, seed)


def _point_in_ellipse(rng: np.random.Generator, outer: list[float]) -> tuple[float, float]:
    """A uniform point in the central 70 % of the outer ellipse, in its (x, y) coordinates."""
    radius, angle = 0.7 * math.sqrt(rng.uniform()), rng.uniform(0, 2 * math.pi)
    x, y = outer[1] * radius * math.cos(angle), outer[2] * radius * math.sin(angle)
    phi = math.radians(outer[5])
    return x * math.cos(phi) - y * math.sin(phi), x * math.sin(phi) + y * math.cos(phi)


PHANTOMS = ("shepp-logan", "ellipses")


def write_phantom_volume(
    path: str | Path,
    kind: str,
    *,
    shape: tuple[int, int] = (256, 256),
    coils: int = 8,
    slices: int = 1,
    ellipses: int = 12,
    snr: float | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write ``slices`` phantom slices as one fully sampled fastMRI volume file.

    Slice ``i`` uses seed ``seed + i`` (a new coil array; for ``ellipses`` also a new object).
    Besides ``kspace`` and the fastMRI target (``reconstruction_rss``, or
    ``reconstruction_esc`` for one coil: RSS of the inverse FFT of the stored, possibly noisy,
    k-space), the file holds ``phantom_reference`` (S, H, W), the noise-free analytic image,
    and for several coils ``sensitivity_maps`` (S, C, H, W), the maps the k-space was made with.
    With ``snr``, complex Gaussian noise of std (mean foreground / ``snr``) is added to k-space.
    """
    import h5py

    from kspacekit.data.layout import SIMULATED_MARK, target_key
    from kspacekit.data.write import write_volume
    from kspacekit.outputs import atomic_path
    from kspacekit.physics.fft import ifft2c, rss
    from kspacekit.simulation.acquisition import complex_noise, noise_std_for_snr

    path = Path(path)
    if kind not in PHANTOMS:
        raise KspaceKitError(f"unknown phantom {kind!r}; expected one of {', '.join(PHANTOMS)}")
    if slices < 1:
        raise KspaceKitError(f"slices must be >= 1, got {slices}")
    if snr is not None and not (math.isfinite(snr) and snr > 0):
        raise KspaceKitError(f"SNR must be positive, got {snr}")
    make = {
        "shepp-logan": lambda s: shepp_logan(shape, coils=coils, seed=s),
        "ellipses": lambda s: random_ellipses(shape, n=ellipses, coils=coils, seed=s),
    }[kind]
    kspaces, images, maps = zip(*(make(seed + i) for i in range(slices)), strict=True)
    kspace, reference = torch.from_numpy(np.stack(kspaces)), torch.from_numpy(np.stack(images))
    if snr is not None:
        generator = torch.Generator().manual_seed(seed)
        kspace = kspace + complex_noise(kspace, noise_std_for_snr(reference, snr), generator)
    target = rss(ifft2c(kspace), dim=1).numpy()
    attrs = {"acquisition": f"PHANTOM_{kind.upper().replace('-', '_')}", "patient_id": f"phantom_{kind}_{seed}"}
    attrs |= {"coils": coils, "seed": seed, "snr": float("inf") if snr is None else float(snr), **SIMULATED_MARK}
    with atomic_path(path, overwrite) as tmp:
        write_volume(
            tmp,
            kspace.numpy() if coils > 1 else kspace[:, 0].numpy(),
            target=target,
            target_key=target_key(multicoil=coils > 1),
            attrs=attrs,
            overwrite=True,
        )
        with h5py.File(tmp, "a") as f:
            f.create_dataset("phantom_reference", data=reference.numpy())
            if coils > 1:
                f.create_dataset("sensitivity_maps", data=np.stack(maps))
    return path


def write_phantom_dataset(
    folder: str | Path,
    kind: str,
    volumes: int,
    *,
    split: Sequence[float] = (0.8, 0.1, 0.1),
    shape: tuple[int, int] = (256, 256),
    coils: int = 8,
    slices: int = 1,
    ellipses: int = 12,
    snr: float | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> dict[str, list[Path]]:
    """``volumes`` phantom volumes (:func:`write_phantom_volume`) split by volume into
    ``<singlecoil|multicoil>_<train|val|test>/<kind>_<v>.h5``; the files written per folder.

    Volume ``v`` uses seeds ``seed + v * slices`` onwards, so no two slices share an object.
    The folder is written whole or not at all.
    """
    from kspacekit.outputs import atomic_directory
    from kspacekit.simulation.datasets import assign_splits

    if volumes < 1:
        raise KspaceKitError(f"volumes must be >= 1, got {volumes}")
    if len(split) != 3 or min(split) < 0 or sum(split) <= 0:
        raise KspaceKitError(f"split must be three non-negative train/val/test fractions, got {list(split)}")
    assignment = assign_splits(list(range(volumes)), split, seed)
    prefix = "singlecoil" if coils == 1 else "multicoil"
    written: dict[str, list[Path]] = {}
    with atomic_directory(Path(folder), overwrite, _holds_only_phantom_splits) as tmp:
        for volume in range(volumes):
            name = f"{prefix}_{assignment[volume]}"
            (tmp / name).mkdir(exist_ok=True)
            write_phantom_volume(
                tmp / name / f"{kind}_{volume:03d}.h5", kind, shape=shape, coils=coils, slices=slices,
                ellipses=ellipses, snr=snr, seed=seed + volume * slices,
            )
            written.setdefault(name, []).append(Path(folder) / name / f"{kind}_{volume:03d}.h5")
    return written


def _holds_only_phantom_splits(folder: Path) -> bool:
    """Whether ``folder`` holds only what :func:`write_phantom_dataset` writes (for --overwrite)."""
    names = {f"{prefix}_{split}" for prefix in ("singlecoil", "multicoil") for split in ("train", "val", "test")}
    return all(
        entry.is_dir() and entry.name in names and all(file.suffix == ".h5" for file in entry.iterdir())
        for entry in folder.iterdir()
    )
