"""Coil sensitivity maps from the fully sampled centre ("calibration region") of undersampled k-space.

Two estimators, both batched over slices and vectorised over pixels:

* :func:`espirit_maps` -- ESPIRiT (Uecker et al., MRM 2014): Hankel calibration matrix of
  k-space patches -> SVD -> projection onto its row space -> image-domain C x C operator per
  pixel -> leading eigenvector. The k-space kernel shrinks automatically along an axis with
  few calibration lines, so it still runs with 4 % centre lines where BART's default 6x6
  kernel cannot.
* :func:`lowres_maps` -- coil images of the Hann-windowed calibration region divided by their
  root-sum-of-squares (the "sensitivity estimate" of fastMRI's VarNet and of Walsh-type
  adaptive combination in the limit of a one-pixel window). Unit norm wherever there is
  signal, so the SENSE image keeps the RSS scale everywhere, including the noisy background.

:func:`estimate_maps` is what the methods call; ``tv`` and ``wavelet`` use ESPIRiT for every
multi-coil input, ``sense`` too: with few coils and few centre lines the low-resolution maps,
unit norm also outside the object and blurred at its edges, let the sparse solvers drift (as
measured in BENCHMARKS.md, "Design measurements"), while ESPIRiT's eigenvalue crop zeroes the maps
where no coil sees signal, which removes that freedom.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from kspacekit.errors import KspaceKitError
from kspacekit.physics.fft import ifft2c, rss

MIN_CALIBRATION_LINES = 4
"""Fewest fully sampled centre lines (along each axis) that coil estimation accepts."""


def calibration_region(mask: Tensor, shape: tuple[int, int]) -> tuple[slice, slice]:
    """Rows and columns of the largest fully sampled rectangle around the k-space centre.

    ``mask`` is broadcastable to (B, C, H, W) with ``shape == (H, W)``; the region must be
    sampled in every slice of the batch. A 1-D line mask along W gives all rows and the run
    of centre lines; a 2-D mask gives the centred block grown greedily along both axes.
    """
    height, width = shape
    sampled = (mask != 0).broadcast_to((mask.shape[0], mask.shape[1], height, width))
    sampled = sampled.all(1).all(0).cpu()
    top, bottom, left, right = height // 2, height // 2 + 1, width // 2, width // 2 + 1
    if not sampled[top, left]:
        raise KspaceKitError("the k-space centre is not sampled; cannot calibrate coil maps")
    grown = True
    while grown:
        grown = False
        if top > 0 and sampled[top - 1, left:right].all():
            top, grown = top - 1, True
        if bottom < height and sampled[bottom, left:right].all():
            bottom, grown = bottom + 1, True
        if left > 0 and sampled[top:bottom, left - 1].all():
            left, grown = left - 1, True
        if right < width and sampled[top:bottom, right].all():
            right, grown = right + 1, True
    return slice(top, bottom), slice(left, right)


def _checked_region(mask: Tensor, shape: tuple[int, int], max_size: int) -> tuple[slice, slice]:
    """The calibration region, capped at ``max_size`` per axis around its centre; rejects tiny ones."""
    rows, cols = calibration_region(mask, shape)
    lines = min(rows.stop - rows.start, cols.stop - cols.start)
    if lines < MIN_CALIBRATION_LINES:
        raise KspaceKitError(
            f"only {lines} fully sampled centre lines; coil maps need at least "
            f"{MIN_CALIBRATION_LINES} (use a larger centre fraction)"
        )
    return _cap(rows, max_size), _cap(cols, max_size)


def _cap(region: slice, max_size: int) -> slice:
    size = region.stop - region.start
    if size <= max_size:
        return region
    start = region.start + (size - max_size) // 2
    return slice(start, start + max_size)


def _hann(length: int, device: torch.device) -> Tensor:
    """Symmetric Hann window that is nonzero at both ends (no calibration sample is wasted)."""
    n = torch.arange(length, device=device, dtype=torch.float32)
    return torch.sin(math.pi * (n + 1) / (length + 1)) ** 2


def lowres_maps(kspace: Tensor, mask: Tensor, max_calibration: int = 48) -> Tensor:
    """Maps = low-resolution coil images / their RSS, from the Hann-windowed calibration region.

    Returns (B, C, H, W) complex with unit coil-norm at every pixel with signal (pixels where
    the low-resolution RSS is below 1e-6 of its maximum get smaller maps instead of noise).
    """
    rows, cols = _checked_region(mask, kspace.shape[-2:], max_calibration)
    window = torch.zeros(kspace.shape[-2:], device=kspace.device)
    window[rows, cols] = torch.outer(
        _hann(rows.stop - rows.start, kspace.device), _hann(cols.stop - cols.start, kspace.device)
    )
    low = ifft2c(kspace * window)
    norm = rss(low, dim=1).unsqueeze(1)
    floor = norm.flatten(1).amax(1).view(-1, 1, 1, 1) * 1e-6
    return low / norm.clamp_min(floor)


def espirit_maps(
    kspace: Tensor,
    mask: Tensor,
    kernel_size: int = 6,
    max_calibration: int = 24,
    threshold: float = 0.02,
    crop: float = 0.8,
) -> Tensor:
    """ESPIRiT maps (one set): leading eigenvector of the per-pixel ESPIRiT operator.

    ``kernel_size`` is reduced along an axis to at most half its calibration lines.
    ``threshold``: singular values kept relative to the largest. ``crop``: maps are weighted
    by ``clamp((eigenvalue - crop) / (1 - crop), 0, 1)``, a soft version of ESPIRiT's crop.
    Returns (B, C, H, W) complex.
    """
    batch, coils, height, width = kspace.shape
    rows, cols = _checked_region(mask, (height, width), max_calibration)
    calib = kspace[..., rows, cols]
    kh = min(kernel_size, max(2, calib.shape[-2] // 2))
    kw = min(kernel_size, max(2, calib.shape[-1] // 2))
    patches = calib.unfold(2, kh, 1).unfold(3, kw, 1)  # (B, C, nh, nw, kh, kw)
    hankel = patches.permute(0, 2, 3, 1, 4, 5).reshape(batch, -1, coils * kh * kw)
    _, singular, vh = torch.linalg.svd(hankel, full_matrices=False)
    keep = (singular > threshold * singular[:, :1]).to(vh.dtype)
    basis = vh.transpose(-1, -2) * keep.unsqueeze(1)  # row-space basis, (B, C*kh*kw, K)
    projection = (basis @ basis.conj().transpose(-1, -2)).view(batch, coils, kh, kw, coils, kh, kw)

    # k-space kernel of the patch-averaged projection: h_cd(D) = mean_u P[c, u, d, u + D]
    kernel = kspace.new_zeros(batch, coils, coils, 2 * kh - 1, 2 * kw - 1)
    for uh in range(kh):
        for uw in range(kw):
            kernel[..., kh - 1 - uh : 2 * kh - 1 - uh, kw - 1 - uw : 2 * kw - 1 - uw] += projection[
                :, :, uh, uw
            ]
    kernel /= kh * kw
    start = _dominant_coil_combination(calib)
    maps = kspace.new_empty(batch, coils, height, width)
    eigenvalue = kspace.real.new_empty(batch, height, width)
    for rows_here in row_bands((batch, coils, coils, height, width)):
        operator = kernel_to_image(kernel, (height, width), rows_here)  # Hermitian per pixel
        maps[..., rows_here, :], eigenvalue[:, rows_here] = _leading_eigenvectors(operator, start)
    weight = ((eigenvalue - crop) / (1 - crop)).clamp(0, 1)
    return maps * weight.unsqueeze(1).to(maps.dtype)


OPERATOR_CHUNK_ELEMENTS = 2**22
"""Per-pixel C x C operators are built and solved a band of rows at a time, about this many
complex entries (32 MiB) per band: the whole operator of a 32-coil 640x368 slice is 1.9 GB."""


def row_bands(operator_shape: tuple[int, ...]) -> list[slice]:
    """Bands of rows of a per-pixel operator (B, C, C, H, W) with about ``OPERATOR_CHUNK_ELEMENTS`` entries each."""
    batch, coils, _, height, width = operator_shape
    rows = max(1, OPERATOR_CHUNK_ELEMENTS // (batch * coils * coils * width))
    return [slice(top, min(top + rows, height)) for top in range(0, height, rows)]


def per_pixel_product(operator: Tensor, images: Tensor) -> Tensor:
    """sum_d operator[:, c, d] * images[:, d] (B, C, H, W), a band of rows at a time.

    Elementwise products are far faster than einsum here; banding keeps their temporary (as
    large as the operator) to one band.
    """
    bands = row_bands(operator.shape)
    if len(bands) == 1:
        return (operator * images.unsqueeze(1)).sum(2)
    out = torch.empty_like(images)
    for rows in bands:
        out[..., rows, :] = (operator[..., rows, :] * images[:, None, :, rows, :]).sum(2)
    return out


EIGEN_ITERATIONS = 20
"""Power iterations for the per-pixel leading ESPIRiT eigenvector (see :func:`_leading_eigenvectors`)."""


def _leading_eigenvectors(operator: Tensor, start: Tensor) -> tuple[Tensor, Tensor]:
    """Leading eigenvector (B, C, H, W) and eigenvalue (B, H, W) of the Hermitian PSD C x C matrix
    at every pixel of ``operator`` (B, C, C, H, W), by power iteration from ``start`` (B, C).

    Inside the object the ESPIRiT eigenvalue is ~1 and the others are far below the crop
    threshold, so a few iterations converge (where they do not, the crop weight is zero anyway);
    it is cheaper than a per-pixel ``eigh`` and scores the same (BENCHMARKS.md, "Design
    measurements"). Starting every pixel from the calibration's
    dominant coil combination also fixes the arbitrary eigenvector phase smoothly: the result's
    projection on ``start`` stays real and positive.
    """
    vector = start[:, :, None, None].expand(-1, -1, *operator.shape[-2:])
    for _ in range(EIGEN_ITERATIONS):
        vector = per_pixel_product(operator, vector)
        vector = vector / rss(vector, dim=1).clamp_min(1e-30).unsqueeze(1)
    eigenvalue = (vector.conj() * per_pixel_product(operator, vector)).sum(1).real
    projection = (start.conj()[:, :, None, None] * vector).sum(1, keepdim=True)
    return vector * (projection.conj() / projection.abs().clamp_min(1e-12)), eigenvalue


def kernel_to_image(kernel: Tensor, shape: tuple[int, int], rows: slice | None = None) -> Tensor:
    """Per-pixel C x C matrices (B, C, C, H, W) of a k-space correlation kernel (``rows`` of them only, if given).

    ``kernel`` (B, C, C, kh, kw), odd kh and kw, defines (K x)_c(k) = sum_d sum_D
    kernel[c, d, D] x_d(k + D) with D = 0 at the kernel centre; in the image domain K acts as
    (K rho)_c(r) = sum_d G_cd(r) rho_d(r), G = sqrt(H W) fft2c(kernel zero-padded to H x W).
    The padded kernel is zero outside kh x kw samples, so G is two small centred DFTs (matrix
    products over those samples), cheaper than the full FFT and computable for a band of rows.
    """
    kh, kw = kernel.shape[-2:]
    height, width = shape
    rows = slice(0, height) if rows is None else rows
    row_dft = _centred_dft(height, range(height)[rows], height // 2 - kh // 2, kh, kernel)
    col_dft = _centred_dft(width, range(width), width // 2 - kw // 2, kw, kernel)
    return torch.einsum("rn,bcdnm,wm->bcdrw", row_dft, kernel, col_dft) * math.sqrt(height * width)


def _centred_dft(size: int, outputs: range, first: int, count: int, like: Tensor) -> Tensor:
    """Rows ``outputs`` of the orthonormal centred DFT matrix of length ``size`` (``fft2c``'s
    convention, origin at ``size // 2``), restricted to the input samples ``first .. first + count - 1``."""
    out = torch.tensor(outputs, dtype=torch.float64, device=like.device) - size // 2
    inp = torch.arange(first, first + count, dtype=torch.float64, device=like.device) - size // 2
    phase = -2 * math.pi * torch.outer(out, inp) / size
    return (torch.polar(torch.ones_like(phase), phase) / math.sqrt(size)).to(like.dtype)


def _dominant_coil_combination(calib: Tensor) -> Tensor:
    """Unit coil vector (B, C) that explains most of the calibration data's energy."""
    u, _, _ = torch.linalg.svd(calib.flatten(2), full_matrices=False)
    return u[:, :, 0]


def estimate_maps(kspace: Tensor, mask: Tensor, method: str = "espirit") -> Tensor:
    """Coil maps (B, C, H, W) for masked k-space; ones for single-coil data. ``method``: "espirit" or "lowres"."""
    if kspace.shape[1] == 1:
        return torch.ones_like(kspace)
    if method == "lowres":
        return lowres_maps(kspace, mask)
    if method == "espirit":
        return espirit_maps(kspace, mask)
    raise KspaceKitError(f"unknown coil-map method {method!r}; choose 'espirit' or 'lowres'")


def check_calibration_region(
    pattern: np.ndarray, shape: tuple[int, int], path: Path, minimum: int = MIN_CALIBRATION_LINES
) -> None:
    """Undersampled data must have a fully sampled centre region that coil maps and kernels can
    calibrate from, at least ``minimum`` samples along each axis.
    ``pattern``: the sampled (H, W) locations, or a 1-D line mask (W,), of k-space of ``shape``."""
    plane = torch.from_numpy(np.asarray(pattern) != 0)
    try:
        rows, columns = calibration_region(plane.reshape(1, 1, -1 if plane.ndim == 2 else 1, shape[1]), shape)
    except KspaceKitError:
        size = (0, 0)
    else:
        size = (rows.stop - rows.start, columns.stop - columns.start)
    if min(size) < minimum:
        found = "the k-space centre is not sampled" if min(size) == 0 else f"largest {size[0]}x{size[1]}"
        raise KspaceKitError(
            f"no fully sampled centre region to calibrate from ({found}; coil maps need "
            f"at least {MIN_CALIBRATION_LINES}x{MIN_CALIBRATION_LINES})",
            path,
        )
