"""Centred, orthonormal 2-D FFTs and the image-domain helpers every method uses.

All functions act on the last two dimensions of native complex tensors and broadcast over any
leading (batch, coil) dimensions, on CPU or CUDA. "Centred" means the k-space and image origins
sit at index ``n // 2``, the convention of fastMRI, BART and SigPy.
"""

from __future__ import annotations

import torch
from torch import Tensor

from kspacekit.physics.grid import center_crop

_DIMS = (-2, -1)


def _checkerboard(height: int, width: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """(-1)^(h + w) over an (H, W) grid."""
    rows = torch.arange(height, device=device).view(-1, 1)
    cols = torch.arange(width, device=device).view(1, -1)
    return (1 - 2 * ((rows + cols) % 2)).to(dtype)


def _centred(transform, x: Tensor) -> Tensor:
    """Apply an uncentred orthonormal 2-D transform with centred origins.

    For even H and W, fftshift(T(ifftshift(x))) = s * c * T(c * x) with the checkerboard
    c = (-1)^(h + w) and the sign s = (-1)^(H/2 + W/2): two multiplications instead of two
    shift copies, which cost more than the FFT itself on CPU (BENCHMARKS.md, "Centred FFT").
    Odd sizes take the shifts.
    """
    height, width = x.shape[-2], x.shape[-1]
    if height % 2 or width % 2:
        shifted = torch.fft.ifftshift(x, dim=_DIMS)
        return torch.fft.fftshift(transform(shifted, dim=_DIMS, norm="ortho"), dim=_DIMS)
    board = _checkerboard(height, width, x.device, x.dtype)
    sign = -1 if (height // 2 + width // 2) % 2 else 1
    return transform(x * board, dim=_DIMS, norm="ortho").mul_(board * sign)


def fft2c(image: Tensor) -> Tensor:
    """Centred orthonormal 2-D FFT: image -> k-space."""
    return _centred(torch.fft.fft2, image)


def ifft2c(kspace: Tensor) -> Tensor:
    """Centred orthonormal 2-D inverse FFT: k-space -> image."""
    return _centred(torch.fft.ifft2, kspace)


def rss(coil_images: Tensor, dim: int = 1) -> Tensor:
    """Root-sum-of-squares magnitude over the coil dimension (real or complex input)."""
    return torch.sqrt((coil_images.abs() ** 2).sum(dim))


def to_real_channels(x: Tensor) -> Tensor:
    """Complex (..., H, W) -> real (..., 2, H, W) with real and imaginary parts as channels."""
    return torch.view_as_real(x).movedim(-1, -3)


def from_real_channels(x: Tensor) -> Tensor:
    """Real (..., 2, H, W) -> complex (..., H, W); inverse of :func:`to_real_channels`."""
    return torch.view_as_complex(x.movedim(-3, -1).contiguous())


def center_pad(x: Tensor, shape: tuple[int, int]) -> Tensor:
    """Zero-pad the last two dims to ``shape``, placing ``x`` where :func:`center_crop` takes it."""
    h, w = shape
    small_h, small_w = x.shape[-2], x.shape[-1]
    if h < small_h or w < small_w:
        raise ValueError(f"cannot pad {(small_h, small_w)} to {(h, w)}")
    top, left = (h - small_h) // 2, (w - small_w) // 2
    return torch.nn.functional.pad(x, (left, w - small_w - left, top, h - small_h - top))


def crop_or_pad(x: Tensor, shape: tuple[int, int]) -> Tensor:
    """Bring the last two dims to ``shape``, cropping dims that are larger and padding smaller."""
    h = min(x.shape[-2], shape[0])
    w = min(x.shape[-1], shape[1])
    return center_pad(center_crop(x, (h, w)), shape)
