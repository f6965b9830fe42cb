"""fastMRI's image-quality metrics per volume (NMSE, PSNR, SSIM), batched in torch.

The definitions are those of ``fastmri.evaluate`` (0.3.0), which calls scikit-image:

- NMSE = ||target - prediction||^2 / ||target||^2 over the whole volume;
- PSNR = 10 log10(R^2 / MSE), MSE over the whole volume, data range R = the target volume's max;
- SSIM per slice with a 7x7 uniform window, K1 = 0.01, K2 = 0.03, sample (co)variances
  (factor N / (N - 1), N = 49), R = the target volume's max, averaged over the window positions
  that lie fully inside the slice (scikit-image crops a border of 3 pixels), then over slices.

As scikit-image does, float32 volumes are computed in float32 and anything else in float64; sums
over a slice end in float64. Volumes are ``(slices, H, W)`` tensors or numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from kspacekit.fft import center_crop

SSIM_WINDOW = 7
SSIM_K1 = 0.01
SSIM_K2 = 0.03
# Pixels per SSIM step on CPU: one 320x320 slice. Its window maps then stay in the core's cache,
# which is faster than streaming a whole volume's maps through memory; small slices go together.
_CPU_STEP_PIXELS = 320 * 320


@dataclass(frozen=True)
class VolumeMetrics:
    """The three fastMRI metrics of one volume."""

    nmse: float
    psnr: float
    ssim: float


def evaluation_crop(volume: Tensor, full_image: bool = False) -> Tensor:
    """The region fastMRI's evaluate.py scores: a centred square whose side is the image width.

    fastMRI crops to ``(W, W)`` and fails when an image is wider than tall (``H < W``); here the
    side is ``min(H, W)``, which is fastMRI's crop whenever fastMRI's works and otherwise crops
    the width to ``H``. ``full_image`` skips the crop. Works on tensors and numpy arrays.
    """
    if full_image:
        return volume
    side = min(volume.shape[-2], volume.shape[-1])
    return center_crop(volume, (side, side))


def nmse(target: Tensor | np.ndarray, prediction: Tensor | np.ndarray) -> float:
    """Normalised mean squared error ||target - prediction||^2 / ||target||^2 of a volume."""
    target, prediction = _as_volumes(target, prediction)
    error, energy = _squared_sums(target, prediction)
    return (error / energy).item()


def psnr(target: Tensor | np.ndarray, prediction: Tensor | np.ndarray, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB; ``data_range`` defaults to the target volume's max."""
    target, prediction = _as_volumes(target, prediction)
    data_range = float(target.max()) if data_range is None else data_range
    error, _ = _squared_sums(target, prediction)
    return _psnr_from_error(error, target.numel(), data_range)


def ssim(target: Tensor | np.ndarray, prediction: Tensor | np.ndarray, data_range: float | None = None) -> float:
    """Mean structural similarity over the slices of a volume (see :func:`ssim_per_slice`)."""
    return ssim_per_slice(target, prediction, data_range).mean().item()


def ssim_per_slice(
    target: Tensor | np.ndarray, prediction: Tensor | np.ndarray, data_range: float | None = None
) -> Tensor:
    """SSIM of every slice (float64, shape (slices,)), scikit-image's definition with fastMRI's
    settings; ``data_range`` defaults to the max of the whole target volume, as in fastMRI."""
    target, prediction = _as_volumes(target, prediction)
    data_range = float(target.max()) if data_range is None else data_range
    return _ssim_per_slice(target, prediction, data_range)


def volume_metrics(target: Tensor | np.ndarray, prediction: Tensor | np.ndarray) -> VolumeMetrics:
    """NMSE, PSNR and SSIM of one volume, sharing the conversion and the squared error."""
    target, prediction = _as_volumes(target, prediction)
    data_range = float(target.max())
    error, energy = _squared_sums(target, prediction)
    return VolumeMetrics(
        nmse=(error / energy).item(),
        psnr=_psnr_from_error(error, target.numel(), data_range),
        ssim=_ssim_per_slice(target, prediction, data_range).mean().item(),
    )


def _as_volumes(target: Tensor | np.ndarray, prediction: Tensor | np.ndarray) -> tuple[Tensor, Tensor]:
    """Both volumes as tensors of one real float dtype on the target's device (float32 stays
    float32, as in scikit-image; anything else becomes float64)."""
    target, prediction = torch.as_tensor(target), torch.as_tensor(prediction)
    if target.ndim != 3:
        raise ValueError(f"expected volumes of shape (slices, H, W), got {tuple(target.shape)}")
    if target.shape != prediction.shape:
        raise ValueError(f"target {tuple(target.shape)} and prediction {tuple(prediction.shape)} differ in shape")
    if target.is_complex() or prediction.is_complex():
        raise ValueError("metrics are defined on real (magnitude) images, got complex values")
    both_float32 = {target.dtype, prediction.dtype} <= {torch.float32, torch.float16, torch.bfloat16}
    dtype = torch.float32 if both_float32 else torch.float64
    return target.to(dtype), prediction.to(device=target.device, dtype=dtype)


def _squared_sums(target: Tensor, prediction: Tensor) -> tuple[Tensor, Tensor]:
    """(sum of (target - prediction)^2, sum of target^2) over the volume, in float64.

    Each image row is summed in the volume's dtype, the row sums in float64.
    """
    error = (target - prediction).square_().sum(-1).double().sum()
    energy = target.square().sum(-1).double().sum()
    return error, energy


def _psnr_from_error(squared_error: Tensor, count: int, data_range: float) -> float:
    mse = squared_error / count
    return (10 * torch.log10(data_range**2 / mse)).item()


def _ssim_per_slice(target: Tensor, prediction: Tensor, data_range: float) -> Tensor:
    slices, height, width = target.shape
    if min(height, width) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs slices of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {height}x{width}")
    if not data_range > 0:
        raise ValueError(f"SSIM needs a positive data range (the target's max), got {data_range}")
    step = slices if target.device.type != "cpu" else max(1, _CPU_STEP_PIXELS // (height * width))
    return torch.cat([
        _ssim_of_slices(target[start : start + step], prediction[start : start + step], data_range)
        for start in range(0, slices, step)
    ])


def _ssim_of_slices(target: Tensor, prediction: Tensor, data_range: float) -> Tensor:
    """Mean SSIM of each slice of a (slices, H, W) stack.

    Images are divided by the data range first (SSIM is scale invariant; this keeps float32 far
    from overflow and underflow). With window sums S instead of window means u = S / N, every
    factor of SSIM = (2 ux uy + C1)(2 cov_xy + C2) / ((ux^2 + uy^2 + C1)(var_x + var_y + C2))
    is multiplied by N^2 (luminance factors) or N (N - 1) (contrast factors) in numerator and
    denominator alike, so the ratio below is SSIM itself with the constants scaled to match.
    """
    n = SSIM_WINDOW**2
    c1 = (n * SSIM_K1) ** 2
    c2 = n * (n - 1) * SSIM_K2**2
    x = target / data_range
    y = prediction / data_range
    sum_x, sum_y, sum_squares, sum_xy = _window_sums(torch.stack([x, y, torch.addcmul(x * x, y, y), x * y])).unbind(0)
    luminance_num = sum_x * sum_y
    luminance_den = torch.addcmul(sum_x * sum_x, sum_y, sum_y)
    contrast_num = sum_xy.mul_(2 * n).sub_(luminance_num, alpha=2).add_(c2)
    contrast_den = sum_squares.mul_(n).sub_(luminance_den).add_(c2)
    luminance_num.mul_(2).add_(c1)
    luminance_den.add_(c1)
    ssim_map = luminance_num.mul_(contrast_num).div_(luminance_den.mul_(contrast_den))
    return ssim_map.sum(-1).double().sum(-1) / (ssim_map.shape[-2] * ssim_map.shape[-1])


def _window_sums(maps: Tensor) -> Tensor:
    """Sums over every SSIM_WINDOW x SSIM_WINDOW patch fully inside the image (last two dims).

    Separable: one pass of window sums along the rows, one along the columns.
    """
    return maps.unfold(-1, SSIM_WINDOW, 1).sum(-1).unfold(-2, SSIM_WINDOW, 1).sum(-1)
