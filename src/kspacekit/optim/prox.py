"""Proximal operators and the sparsifying transforms behind them, for complex images (B, H, W).

* :func:`soft_threshold`: prox of t*||.||_1 for complex values (shrinks the modulus);
* :class:`WaveletTransform`: orthogonal 2-D wavelet transform from ``ptwt`` (boundary-filter
  matrix form, so Psi^T Psi = I and Psi^T soft(Psi v) is the exact prox of t*||Psi x||_1 for
  sizes where Psi is square, and its usual approximation otherwise);
* :func:`finite_differences` / :func:`finite_differences_adjoint`: the discrete gradient of
  isotropic total variation and its adjoint;
* :func:`project_gradient_ball`: prox of the conjugate of lam*TV (a pixelwise projection), the
  dual step of primal-dual TV (:func:`kspacekit.optim.solvers.primal_dual`). A primal-dual method
  avoids an inner TV-prox loop: FISTA with a few warm-started inner dual steps was measured to
  diverge for large lam on simulated data, primal-dual does not.

Thresholds ``t`` are floats or per-slice tensors broadcastable to (B, 1, 1).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import ptwt
import torch
from torch import Tensor

_PTWT_SPARSE_WARNINGS = ("Sparse invariant checks are implicitly disabled", "Sparse CSR tensor support is in beta state")
"""The starts of the two UserWarnings torch emits when ptwt builds its sparse transform matrices;
they are about torch's sparse API, not about anything a kspacekit user can act on."""


@contextmanager
def _quiet_ptwt_sparse() -> Iterator[None]:
    """Ignore exactly the two sparse-tensor warnings ptwt triggers, for the duration of the block."""
    with warnings.catch_warnings():
        for message in _PTWT_SPARSE_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=UserWarning)
        yield


def soft_threshold(x: Tensor, threshold: float | Tensor) -> Tensor:
    """x * max(1 - t / |x|, 0): shrink complex (or real) values towards zero by ``threshold``."""
    magnitude = x.abs()
    return x * (1 - threshold / magnitude.clamp_min(1e-30)).clamp_min(0)


class WaveletTransform:
    """Orthogonal 2-D discrete wavelet transform of complex images (B, H, W), via ``ptwt``.

    Real and imaginary parts are transformed separately (the transform is real), and the
    coefficients are returned as complex tensors: ``[approximation, (h, v, d) per level...]``
    as in ``ptwt.wavedec2``, coarsest level first.
    """

    def __init__(self, wavelet: str = "db4", levels: int = 4) -> None:
        self.wavelet = wavelet
        self.levels = levels
        self._analysis = ptwt.MatrixWavedec2(wavelet, level=levels)
        self._synthesis = ptwt.MatrixWaverec2(wavelet)

    def forward(self, image: Tensor) -> list:
        stacked = torch.cat([image.real, image.imag])  # (2B, H, W)
        with _quiet_ptwt_sparse():
            coefficients = self._analysis(stacked)
        return [_to_complex(coefficients[0])] + [
            tuple(_to_complex(band) for band in level) for level in coefficients[1:]
        ]

    def inverse(self, coefficients: list) -> Tensor:
        real_imag = [_to_stacked(coefficients[0])] + [
            tuple(_to_stacked(band) for band in level) for level in coefficients[1:]
        ]
        with _quiet_ptwt_sparse():
            stacked = self._synthesis(real_imag)
        half = stacked.shape[0] // 2
        return torch.complex(stacked[:half], stacked[half:])

    def prox_l1(self, image: Tensor, threshold: float | Tensor, shift: tuple[int, int] = (0, 0)) -> Tensor:
        """Psi^T soft(Psi x, t) with the approximation (coarsest) band left untouched.

        ``shift`` circularly shifts the image first (and back after): random shifts per
        iteration ("cycle spinning") avoid the blocky artefacts of a fixed wavelet grid.
        """
        shifted = torch.roll(image, shift, dims=(-2, -1))
        coefficients = self.forward(shifted)
        thresholded = [coefficients[0]] + [
            tuple(soft_threshold(band, threshold) for band in level) for level in coefficients[1:]
        ]
        result = self.inverse(thresholded)[..., : image.shape[-2], : image.shape[-1]]
        return torch.roll(result, (-shift[0], -shift[1]), dims=(-2, -1))


def _to_complex(stacked: Tensor) -> Tensor:
    half = stacked.shape[0] // 2
    return torch.complex(stacked[:half], stacked[half:])


def _to_stacked(band: Tensor) -> Tensor:
    return torch.cat([band.real, band.imag])


def finite_differences(image: Tensor) -> Tensor:
    """Forward differences (B, H, W) -> (B, 2, H, W) along H and W, zero at the far edge."""
    grad = image.new_zeros(image.shape[0], 2, *image.shape[-2:])
    grad[:, 0, :-1] = image[:, 1:] - image[:, :-1]
    grad[:, 1, :, :-1] = image[:, :, 1:] - image[:, :, :-1]
    return grad


def finite_differences_adjoint(grad: Tensor) -> Tensor:
    """Adjoint of :func:`finite_differences` (minus the discrete divergence), (B, 2, H, W) -> (B, H, W)."""
    along_h, along_w = grad[:, 0], grad[:, 1]
    image = torch.zeros_like(along_h)
    image[:, 1:] += along_h[:, :-1]
    image[:, :-1] -= along_h[:, :-1]
    image[:, :, 1:] += along_w[:, :, :-1]
    image[:, :, :-1] -= along_w[:, :, :-1]
    return image


def total_variation(image: Tensor) -> Tensor:
    """Isotropic TV per slice (B,): sum over pixels of sqrt(|d_h x|^2 + |d_w x|^2)."""
    return finite_differences(image).abs().pow(2).sum(1).sqrt().flatten(1).sum(1)


DIFFERENCE_NORM_SQ = 8.0
"""Upper bound of ||finite_differences||^2 in 2-D."""


def project_gradient_ball(dual: Tensor, radius: float | Tensor) -> Tensor:
    """Project each pixel's gradient vector (dim 1 of (B, 2, H, W), complex) onto the l2 ball of
    ``radius``: the prox of the conjugate of radius * isotropic TV, used by primal-dual TV."""
    radius = torch.as_tensor(radius, device=dual.device, dtype=dual.real.dtype).reshape(-1, 1, 1, 1)
    norm = torch.view_as_real(dual).square().sum((-1, 1), keepdim=False).sqrt().unsqueeze(1)
    return dual / (norm / radius).clamp_min(1.0)
