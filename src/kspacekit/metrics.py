"""fastMRI's image-quality metrics per volume (NMSE, PSNR, SSIM), batched in torch.

The definitions are those of ``fastmri.evaluate`` (0.3.0), which calls scikit-image:

- NMSE = ||target - prediction||^2 / ||target||^2 over the whole volume;
- PSNR = 10 log10(R^2 / MSE), MSE over the whole volume, data range R = the target volume's max;
- SSIM per slice with a 7x7 uniform window, K1 = 0.01, K2 = 0.03, sample (co)variances
  (factor N / (N - 1), N = 49), R = the target volume's max, averaged over the window positions
  that lie fully inside the slice (scikit-image crops a border of 3 pixels), then over slices.

As scikit-image does, float32 volumes are computed in float32 and anything else in float64; sums
over a slice end in float64. Volumes are ``(slices, H, W)`` tensors or numpy arrays.

One known difference: on float32 volumes fastMRI's NMSE uses ``np.linalg.norm``, which
accumulates in float32 (BLAS sdot) and is off by up to ~1e-4 relative on a 35x320x320 volume.
Ours agrees with fastMRI's formula evaluated in float64 to ~1e-9; PSNR and SSIM agree with
fastMRI's float32 results to ~1e-8.
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
# Pixels per step on CPU: one 320x320 slice. Its intermediate maps then stay in the core's cache,
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
    sums = _slice_sums(target, prediction, 1.0, with_ssim=False).sum(0)
    return (sums[0] / sums[1]).item()


def psnr(target: Tensor | np.ndarray, prediction: Tensor | np.ndarray, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB; ``data_range`` defaults to the target volume's max."""
    target, prediction = _as_volumes(target, prediction)
    sums = _slice_sums(target, prediction, _data_range(target, data_range), with_ssim=False).sum(0)
    return _psnr(sums[0], target.numel())


def ssim(target: Tensor | np.ndarray, prediction: Tensor | np.ndarray, data_range: float | None = None) -> float:
    """Mean structural similarity over the slices of a volume (see :func:`ssim_per_slice`)."""
    return ssim_per_slice(target, prediction, data_range).mean().item()


def ssim_per_slice(
    target: Tensor | np.ndarray, prediction: Tensor | np.ndarray, data_range: float | None = None
) -> Tensor:
    """SSIM of every slice (float64, shape (slices,)), scikit-image's definition with fastMRI's
    settings; ``data_range`` defaults to the max of the whole target volume, as in fastMRI."""
    target, prediction = _as_volumes(target, prediction)
    return _slice_sums(target, prediction, _data_range(target, data_range), with_ssim=True)[:, 2]


def volume_metrics(target: Tensor | np.ndarray, prediction: Tensor | np.ndarray) -> VolumeMetrics:
    """NMSE, PSNR and SSIM of one volume (data range = the target's max) in one pass over it."""
    target, prediction = _as_volumes(target, prediction)
    per_slice = _slice_sums(target, prediction, _data_range(target, None), with_ssim=True)
    error, energy, _ = per_slice.sum(0)
    return VolumeMetrics(
        nmse=(error / energy).item(), psnr=_psnr(error, target.numel()), ssim=per_slice[:, 2].mean().item()
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


def _data_range(target: Tensor, data_range: float | None) -> float:
    data_range = float(target.max()) if data_range is None else float(data_range)
    if not data_range > 0:
        raise ValueError(f"PSNR and SSIM need a positive data range (the target's max), got {data_range}")
    return data_range


def _psnr(squared_error: Tensor, count: int) -> float:
    """PSNR from the squared error of images divided by the data range: 10 log10(1 / MSE)."""
    return (-10 * torch.log10(squared_error / count)).item()


def _steps(volume: Tensor) -> list[slice]:
    """Ranges of slices processed together: on CPU about one 320x320 slice's worth of pixels,
    whose intermediate maps then stay in the core's cache; on a GPU the whole volume."""
    slices, height, width = volume.shape
    step = slices if volume.device.type != "cpu" else max(1, _CPU_STEP_PIXELS // (height * width))
    return [slice(start, start + step) for start in range(0, slices, step)]


def _slice_sums(target: Tensor, prediction: Tensor, data_range: float, with_ssim: bool) -> Tensor:
    """Per slice (float64, (slices, 3)): sum of (x - y)^2, sum of x^2 and mean SSIM (0 unless
    ``with_ssim``), where x, y = target, prediction divided by ``data_range``.

    Dividing first keeps float32 far from overflow and underflow; NMSE and SSIM do not change,
    and PSNR = 10 log10(R^2 / MSE) becomes 10 log10(1 / MSE). Rows are summed in the volume's
    dtype, the row sums in float64.
    """
    height, width = target.shape[-2:]
    if with_ssim and min(height, width) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs slices of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {height}x{width}")
    sums = torch.zeros(target.shape[0], 3, dtype=torch.float64, device=target.device)
    for part in _steps(target):
        x, y = target[part] / data_range, prediction[part] / data_range
        sums[part, 0] = (x - y).square_().sum(-1).double().sum(-1)
        x_squared = x * x
        sums[part, 1] = x_squared.sum(-1).double().sum(-1)
        if with_ssim:
            window_sums = _window_sums(torch.stack([x, y, x_squared.addcmul_(y, y), x * y]))
            sums[part, 2] = _mean_ssim(*window_sums.unbind(0))
    return sums


def _mean_ssim(sum_x: Tensor, sum_y: Tensor, sum_squares: Tensor, sum_xy: Tensor) -> Tensor:
    """Mean over the window positions of each slice's SSIM, from the window sums of x, y,
    x^2 + y^2 and xy (data range 1).

    With window sums S instead of window means u = S / N, every factor of
    SSIM = (2 ux uy + C1)(2 cov_xy + C2) / ((ux^2 + uy^2 + C1)(var_x + var_y + C2)) is
    multiplied by N^2 (luminance factors) or N (N - 1) (contrast factors, sample covariances)
    in numerator and denominator alike, so the ratio below is SSIM with the constants scaled to
    match. The sums are overwritten.
    """
    n = SSIM_WINDOW**2
    c1 = (n * SSIM_K1) ** 2
    c2 = n * (n - 1) * SSIM_K2**2
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
