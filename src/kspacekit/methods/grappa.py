"""GRAPPA-type k-space interpolation for line masks (SPIRiT formulation).

Calibration (as GRAPPA): on the fully sampled centre lines, a kernel is fitted by Tikhonov-
regularised least squares that predicts every coil's k-space value from all coils' values in
the surrounding ``kernel_size`` window (the point itself excluded). Classic GRAPPA then needs
one kernel per pattern of acquired neighbours, which fails on fastMRI's random line masks
(gaps wider than the calibration region cannot be calibrated). Instead the kernel is applied
self-consistently (SPIRiT, Lustig & Pauly, MRM 2010): the missing samples u solve

    min_u || (G - I) (y + u) ||^2 + lam ||u||^2,   u zero on the acquired samples,

by conjugate gradients, so every missing sample is interpolated from whatever neighbours were
acquired, for regular and random line masks alike. 2-D patterns (single k-space points, e.g.
Poisson-disc over ky-kz) are refused: GRAPPA is a parallel-imaging method for skipped
phase-encode lines, and for variable-density point patterns the sparsity-regularised ``tv`` and
``wavelet`` are the methods to use. G acts per pixel in the image domain
(a C x C matrix, :func:`kspacekit.physics.coils.kernel_to_image`), so an iteration costs two FFTs and
one per-pixel product with the stored (G - I)^H (G - I), which is built and applied a band of
rows at a time (G itself and the products' temporaries never exist whole). The output is the
root-sum-of-squares of the completed coil images.
"""

from __future__ import annotations

import torch
from torch import Tensor

from kspacekit.errors import KspaceKitError
from kspacekit.methods.base import ReconMeta, ReconstructionMethod, register
from kspacekit.optim.regularization import check_lambda
from kspacekit.optim.solvers import conjugate_gradient
from kspacekit.physics.coils import (
    calibration_region,
    kernel_to_image,
    per_pixel_product,
    row_bands,
)
from kspacekit.physics.fft import crop_or_pad, fft2c, ifft2c, rss


def calibrate_kernel(calib: Tensor, kernel_size: tuple[int, int], regularization: float) -> Tensor:
    """Interpolation kernel (B, C, C, kh, kw) from calibration k-space (B, C, ch, cw).

    kernel[c, d, u] weighs coil d at offset u (centre excluded, zero) in the prediction of
    coil c; ``regularization`` is the Tikhonov weight relative to the mean source energy.
    """
    batch, coils = calib.shape[:2]
    kh, kw = kernel_size
    patches = calib.unfold(2, kh, 1).unfold(3, kw, 1)  # (B, C, nh, nw, kh, kw)
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(batch, -1, coils, kh * kw)
    centre = (kh // 2) * kw + kw // 2
    neighbours = torch.cat([patches[..., :centre], patches[..., centre + 1 :]], -1)
    sources = neighbours.reshape(batch, patches.shape[1], -1)  # (B, N, C * (kh * kw - 1))
    targets = patches[..., centre]  # (B, N, C)
    gram = sources.conj().transpose(-1, -2) @ sources
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
    damping = regularization * gram.diagonal(dim1=-2, dim2=-1).real.mean(-1)
    damping = damping.clamp_min(torch.finfo(damping.dtype).tiny)  # all-zero data stays solvable
    # The damped Gram matrix is Hermitian positive definite: a Cholesky solve is the right tool,
    # and it avoids torch 2.13's MKL LU path (linalg.solve), which hangs with CLASWP errors on
    # complex batches once torch.set_num_threads(n > 1) has been called (BENCHMARKS.md).
    factor = torch.linalg.cholesky(gram + damping[:, None, None] * eye)
    weights = torch.cholesky_solve(
        sources.conj().transpose(-1, -2) @ targets, factor
    )  # (B, C * (kh * kw - 1), C_target)
    weights = weights.reshape(batch, coils, kh * kw - 1, coils)
    zeros = weights.new_zeros(batch, coils, 1, coils)
    weights = torch.cat([weights[:, :, :centre], zeros, weights[:, :, centre:]], 2)
    return weights.permute(0, 3, 1, 2).reshape(batch, coils, coils, kh, kw)


@register("grappa")
class Grappa(ReconstructionMethod):
    """Self-consistent GRAPPA (SPIRiT). Options: kernel_size, lam, iterations, tol, calibration_lam."""

    def __init__(
        self,
        kernel_size: int = 5,
        lam: float | None = None,
        iterations: int = 30,
        tol: float = 1e-4,
        calibration_lam: float = 1e-3,
    ) -> None:
        self.kernel_size = kernel_size
        self.lam = check_lambda(lam)
        self.iterations = iterations
        self.tol = tol
        self.calibration_lam = calibration_lam

    def reconstruct(self, kspace: Tensor, mask: Tensor, meta: ReconMeta) -> Tensor:
        if not bool((mask.amin(-2) == mask.amax(-2)).all()):
            raise KspaceKitError(
                "grappa needs a line mask (whole phase-encode lines); this is a 2-D pattern of single "
                "k-space points: use sense, tv or wavelet"
            )
        rows, cols = calibration_region(mask, kspace.shape[-2:])
        lines = min(rows.stop - rows.start, cols.stop - cols.start)
        size = min(self.kernel_size, _odd_below(lines - 2))
        if size < 3:
            raise KspaceKitError(
                f"only {lines} fully sampled centre lines; GRAPPA needs at least 5 (use a larger centre fraction)"
            )
        kernel = calibrate_kernel(kspace[..., rows, cols], (size, size), self.calibration_lam)
        gram = residual_gram(kernel, kspace.shape[-2:])
        missing = 1 - mask.to(kspace.real.dtype)
        lam = 0.0 if self.lam is None else self.lam

        def apply_gram(kspace_part: Tensor) -> Tensor:
            return per_pixel_product(gram, ifft2c(kspace_part))

        def normal(unknown: Tensor) -> Tensor:
            return missing * fft2c(apply_gram(missing * unknown)) + lam * unknown

        rhs = -missing * fft2c(apply_gram(kspace))
        unknown = conjugate_gradient(normal, rhs, iterations=self.iterations, tol=self.tol)
        image = rss(ifft2c(kspace * (1 - missing) + missing * unknown), dim=1)
        return crop_or_pad(image, meta.target_size).float().nan_to_num(0.0, 0.0, 0.0)


def residual_gram(kernel: Tensor, shape: tuple[int, int]) -> Tensor:
    """(G - I)^H (G - I) per pixel (B, C, C, H, W), G the image-domain form of ``kernel``; built a
    band of rows at a time so that G itself never exists whole (32 coils at 640x368: 1.9 GB of complex64)."""
    batch, coils = kernel.shape[:2]
    gram = kernel.new_empty(batch, coils, coils, *shape)
    for rows in row_bands(gram.shape):
        residual = kernel_to_image(kernel, shape, rows)
        residual.diagonal(dim1=1, dim2=2).sub_(1)
        gram[..., rows, :] = torch.einsum("bechw,bedhw->bcdhw", residual.conj(), residual)
    return gram


def _odd_below(n: int) -> int:
    """Largest odd integer <= n."""
    return n if n % 2 else n - 1
