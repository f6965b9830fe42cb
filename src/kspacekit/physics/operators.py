"""Linear MRI forward models as batched torch operators (SigPy-style: forward, adjoint, normal).

Shapes: image ``x`` (B, H, W) complex; coil maps ``maps`` (B, C, H, W) complex; k-space
``y`` (B, C, H, W) complex; ``mask`` real, broadcastable to (B, C, H, W) (e.g. (B, 1, 1, W) for
1-D line masks or (B, 1, H, W) for 2-D masks). Single-coil data is the case C == 1 with unit maps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from kspacekit.physics.fft import crop_or_pad, fft2c, ifft2c, rss


def apply_mask(kspace: Tensor, mask: Tensor) -> Tensor:
    """Zero the unsampled k-space locations (the sampling operator, which is self-adjoint)."""
    return kspace * mask.to(kspace.real.dtype)


def zero_filled_image(kspace: Tensor, mask: Tensor, target_size: tuple[int, int]) -> Tensor:
    """The zero-filled image: inverse FFT of the masked k-space, cropped (or padded) to
    ``target_size``, root-sum-of-squares over coils: (..., C, H, W) complex -> (..., h, w) real.

    The baseline method, the image-domain networks' input and ``kspacekit show`` all use it."""
    return rss(crop_or_pad(ifft2c(apply_mask(kspace, mask)), target_size), dim=-3)


@dataclass
class SenseOperator:
    """A = M F S: coil-weighting, centred FFT, sampling. ``A^H y = sum_c conj(S_c) F^H M y_c``."""

    maps: Tensor
    mask: Tensor

    def forward(self, image: Tensor) -> Tensor:
        """Image (B, H, W) -> sampled multi-coil k-space (B, C, H, W)."""
        return apply_mask(sense_expand(image, self.maps), self.mask)

    def adjoint(self, kspace: Tensor) -> Tensor:
        """Sampled k-space (B, C, H, W) -> coil-combined image (B, H, W)."""
        return sense_reduce(apply_mask(kspace, self.mask), self.maps)

    def normal(self, image: Tensor) -> Tensor:
        """A^H A x, the operator CG-SENSE inverts."""
        return self.adjoint(self.forward(image))


def sense_expand(image: Tensor, maps: Tensor) -> Tensor:
    """Image (B, H, W) -> full coil k-space F S x (B, C, H, W), no sampling."""
    return fft2c(maps * image.unsqueeze(1))


def sense_reduce(kspace: Tensor, maps: Tensor) -> Tensor:
    """Full coil k-space (B, C, H, W) -> coil-combined image S^H F^H y (B, H, W)."""
    return (maps.conj() * ifft2c(kspace)).sum(1)


def dot(a: Tensor, b: Tensor) -> Tensor:
    """Batched complex inner product <a, b> = sum conj(a) b over all but the first dim."""
    return (a.conj() * b).flatten(1).sum(1)


def adjointness_gap(forward: Callable[[Tensor], Tensor], adjoint: Callable[[Tensor], Tensor], x: Tensor, y: Tensor) -> Tensor:
    """Relative gap |<A x, y> - <x, A^H y>| / (||A x|| ||y||) per batch entry (B,).

    Every linear operator in kspacekit is checked with it (deepinv's adjointness test): a correct
    adjoint gives float32 rounding (~1e-7), a wrong one a gap of order one.
    """
    forward_x, adjoint_y = forward(x), adjoint(y)
    gap = (dot(forward_x, y) - dot(x, adjoint_y)).abs()
    scale = forward_x.flatten(1).norm(dim=1) * y.flatten(1).norm(dim=1)
    return gap / scale.clamp_min(torch.finfo(scale.dtype).tiny)


def sense_normal(maps: Tensor, mask: Tensor) -> Callable[[Tensor], Tensor]:
    """A fast A^H A for ``SenseOperator(maps, mask)``, for iterative solvers.

    F^H M F is a circular convolution, so the fftshifts cancel when the mask is shifted once,
    and the FFT along an axis the mask does not vary on cancels too: a 1-D line mask needs
    only 1-D FFTs (about 10x fewer operations per iteration than ``SenseOperator.normal``).
    """
    dims = tuple(d for d in (-2, -1) if mask.shape[d] != 1)
    shifted_mask = torch.fft.ifftshift(mask.to(maps.real.dtype), dim=dims) if dims else mask

    def normal(image: Tensor) -> Tensor:
        coil_images = maps * image.unsqueeze(1)
        if dims:
            kspace = torch.fft.fftn(coil_images, dim=dims) * shifted_mask
            coil_images = torch.fft.ifftn(kspace, dim=dims)
        else:
            coil_images = coil_images * shifted_mask
        return (maps.conj() * coil_images).sum(1)

    return normal
