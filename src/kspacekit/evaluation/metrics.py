"""fastMRI's image-quality metrics per volume (NMSE, PSNR, SSIM), as ``fastmri.evaluate`` (0.3.0) computes them.

- NMSE = ||target - prediction||^2 / ||target||^2, computed exactly as fastMRI does it:
  ``np.linalg.norm`` of the arrays as given, so on float32 volumes the sums accumulate in
  float32 (BLAS sdot). That rounding is part of fastMRI's published numbers (up to ~1e-4 relative
  from the float64 value on a 35x320x320 volume), so reproducing it is how our NMSE equals theirs.
- PSNR = 10 log10(R^2 / MSE), R = the target volume's max, MSE as scikit-image computes it:
  squares of the differences in the volumes' dtype, summed in float64.
- SSIM per slice with a 7x7 uniform window, K1 = 0.01, K2 = 0.03, sample (co)variances
  (factor N / (N - 1), N = 49), R = the target volume's max, averaged over the window positions
  fully inside the slice (scikit-image crops a border of 3 pixels), then over slices.
  scikit-image filters in float32 for float32 images; we compute every window sum in float64,
  which agrees with it to ~1e-7 relative (and is the more exact of the two).

Volumes are ``(slices, H, W)`` numpy arrays or torch tensors (copied to the CPU). float32 (and
float16) volumes are scored in float32, anything else in float64, as scikit-image does.

Speed: all three metrics come from one pass over the volume in a numba kernel (window sums by
running column sums, then the SSIM map summed without storing it); torch is not imported, which
keeps ``kspacekit evaluate``'s start-up short.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any, TypeVar

import numba
import numpy as np

from kspacekit.physics.grid import center_crop

SSIM_WINDOW = 7
SSIM_K1 = 0.01
SSIM_K2 = 0.03

Volume = TypeVar("Volume")


@dataclass(frozen=True)
class VolumeMetrics:
    """The three fastMRI metrics of one volume."""

    nmse: float
    psnr: float
    ssim: float


def evaluation_crop(volume: Volume, full_image: bool = False) -> Volume:
    """The region fastMRI's evaluate.py scores: a centred square whose side is the image width.

    fastMRI crops to ``(W, W)`` and fails when an image is wider than tall (``H < W``); here the
    side is ``min(H, W)``, which is fastMRI's crop whenever fastMRI's works and otherwise crops
    the width to ``H``. ``full_image`` skips the crop. Works on tensors and numpy arrays (a view).
    """
    if full_image:
        return volume
    height, width = volume.shape[-2:]  # type: ignore[attr-defined]
    side = min(height, width)
    return center_crop(volume, (side, side))


def nmse(target: Any, prediction: Any) -> float:
    """Normalised mean squared error ||target - prediction||^2 / ||target||^2 of a volume."""
    target, prediction = _as_volumes(target, prediction)
    return _nmse(target, target - prediction)


def psnr(target: Any, prediction: Any, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB; ``data_range`` defaults to the target volume's max."""
    target, prediction = _as_volumes(target, prediction)
    squared_error = np.square(target - prediction).sum(dtype=np.float64)
    return _psnr(float(squared_error), target.size, _data_range(target, data_range))


def ssim(target: Any, prediction: Any, data_range: float | None = None) -> float:
    """Mean structural similarity over the slices of a volume (see :func:`ssim_per_slice`)."""
    return float(ssim_per_slice(target, prediction, data_range).mean())


def ssim_per_slice(target: Any, prediction: Any, data_range: float | None = None) -> np.ndarray:
    """SSIM of every slice (float64, shape (slices,)), scikit-image's definition with fastMRI's
    settings; ``data_range`` defaults to the max of the whole target volume, as in fastMRI."""
    target, prediction = _as_volumes(target, prediction)
    data_range = _data_range(target, data_range)
    return _slice_sums(target, prediction, data_range, np.empty_like(target))[:, 1]


def volume_metrics(target: Any, prediction: Any, data_range: float | None = None) -> VolumeMetrics:
    """NMSE, PSNR and SSIM of one volume in one pass over it; ``data_range`` defaults to the
    target volume's max (give it when already known, to save a pass)."""
    target, prediction = _as_volumes(target, prediction)
    data_range = _data_range(target, data_range)
    difference = np.empty_like(target)
    per_slice = _slice_sums(target, prediction, data_range, difference)
    return VolumeMetrics(
        nmse=_nmse(target, difference),
        psnr=_psnr(float(per_slice[:, 0].sum()), target.size, data_range),
        ssim=float(per_slice[:, 1].mean()),
    )


def _as_volumes(target: Any, prediction: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both volumes as C-contiguous numpy arrays of one real float dtype (float32 when both are
    float32 or float16 of either byte order, as in scikit-image; float64 otherwise)."""
    target, prediction = _as_array(target), _as_array(prediction)
    if target.ndim != 3:
        raise ValueError(f"expected volumes of shape (slices, H, W), got {target.shape}")
    if target.shape != prediction.shape:
        raise ValueError(f"target {target.shape} and prediction {prediction.shape} differ in shape")
    if np.iscomplexobj(target) or np.iscomplexobj(prediction):
        raise ValueError("metrics are defined on real (magnitude) images, got complex values")
    both_float32 = all(volume.dtype.kind == "f" and volume.dtype.itemsize <= 4 for volume in (target, prediction))
    dtype = np.float32 if both_float32 else np.float64  # native byte order either way
    return np.ascontiguousarray(target, dtype=dtype), np.ascontiguousarray(prediction, dtype=dtype)


def _as_array(volume: Any) -> np.ndarray:
    """A numpy array of a volume; a torch tensor is detached and copied to the CPU (half
    precision becoming float32, which numpy can hold)."""
    torch = sys.modules.get("torch")  # a tensor can only exist once torch is imported
    if torch is not None and isinstance(volume, torch.Tensor):
        volume = volume.detach().cpu()
        if volume.dtype in (torch.float16, torch.bfloat16):
            volume = volume.float()
        return volume.numpy()
    return np.asarray(volume)


def _data_range(target: np.ndarray, data_range: float | None) -> float:
    data_range = float(target.max()) if data_range is None else float(data_range)
    if not data_range > 0:
        raise ValueError(f"PSNR and SSIM need a positive data range (the target's max), got {data_range}")
    return data_range


def _nmse(target: np.ndarray, difference: np.ndarray) -> float:
    """fastMRI's NMSE expression, verbatim, on the target and ``target - prediction``."""
    return float(np.linalg.norm(difference) ** 2 / np.linalg.norm(target) ** 2)


def _psnr(squared_error: float, count: int, data_range: float) -> float:
    """scikit-image's PSNR from the summed squared error of ``count`` pixels (inf when exact)."""
    if squared_error == 0:
        return math.inf
    return float(10 * np.log10(data_range**2 / (squared_error / count)))


def _slice_sums(target: np.ndarray, prediction: np.ndarray, data_range: float, difference: np.ndarray) -> np.ndarray:
    """Per slice (float64, (slices, 2)): sum of squared differences and mean SSIM (see
    :func:`_slice_sums_kernel`); writes ``target - prediction`` to ``difference``."""
    height, width = target.shape[-2:]
    if min(height, width) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs slices of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {height}x{width}")
    return _slice_sums_kernel(target, prediction, data_range, difference)


# error_model="numpy": no zero-division check per pixel, which would stop the loops vectorising.
@numba.njit(cache=True, nogil=True, error_model="numpy")
def _slice_sums_kernel(
    target: np.ndarray, prediction: np.ndarray, data_range: float, difference: np.ndarray
) -> np.ndarray:
    """Per slice (float64, (slices, 2)): the sum of squared differences (squares in the volumes'
    dtype, summed in float64, as scikit-image's MSE) and the mean SSIM; writes
    ``target - prediction`` (in the volumes' dtype) to ``difference``.

    SSIM from window sums S (not means u = S / N): every factor of
    SSIM = (2 ux uy + C1)(2 cov_xy + C2) / ((ux^2 + uy^2 + C1)(var_x + var_y + C2))
    scales by N^2 (luminance) or N (N - 1) (contrast, sample covariances) in numerator and
    denominator alike, so with C1, C2 scaled to match the ratio is unchanged. Column sums over
    the window's rows run down the slice (one row added, one removed); the window sums along a
    row are 7-term sums of those; the SSIM map is summed column by column, never stored.
    """
    slices, height, width = target.shape
    n = SSIM_WINDOW * SSIM_WINDOW
    c1 = (SSIM_K1 * data_range) ** 2 * n * n
    c2 = (SSIM_K2 * data_range) ** 2 * n * (n - 1)
    out_height, out_width = height - SSIM_WINDOW + 1, width - SSIM_WINDOW + 1
    sums = np.zeros((slices, 2))
    # Column sums over the window's rows of x, y, x^2 + y^2 and xy (float64), squared errors per
    # column, and the SSIM map summed per column.
    col_x, col_y, col_squares, col_xy = np.empty(width), np.empty(width), np.empty(width), np.empty(width)
    col_error, col_ssim = np.empty(width), np.empty(out_width)
    for s in range(slices):
        x_rows, y_rows, d_rows = target[s], prediction[s], difference[s]
        col_x[:] = 0.0
        col_y[:] = 0.0
        col_squares[:] = 0.0
        col_xy[:] = 0.0
        col_error[:] = 0.0
        col_ssim[:] = 0.0
        for i in range(height):
            x_row, y_row, d_row = x_rows[i], y_rows[i], d_rows[i]
            if i < SSIM_WINDOW:
                for j in range(width):
                    d = x_row[j] - y_row[j]
                    d_row[j] = d
                    col_error[j] += d * d
                    x, y = np.float64(x_row[j]), np.float64(y_row[j])
                    col_x[j] += x
                    col_y[j] += y
                    col_squares[j] += x * x + y * y
                    col_xy[j] += x * y
            else:
                x_old, y_old = x_rows[i - SSIM_WINDOW], y_rows[i - SSIM_WINDOW]
                for j in range(width):
                    d = x_row[j] - y_row[j]
                    d_row[j] = d
                    col_error[j] += d * d
                    x, y = np.float64(x_row[j]), np.float64(y_row[j])
                    u, v = np.float64(x_old[j]), np.float64(y_old[j])
                    col_x[j] += x - u
                    col_y[j] += y - v
                    col_squares[j] += (x * x + y * y) - (u * u + v * v)
                    col_xy[j] += x * y - u * v
            if i >= SSIM_WINDOW - 1:
                for j in range(out_width):
                    sx = col_x[j] + col_x[j + 1] + col_x[j + 2] + col_x[j + 3] + col_x[j + 4] + col_x[j + 5] + col_x[j + 6]
                    sy = col_y[j] + col_y[j + 1] + col_y[j + 2] + col_y[j + 3] + col_y[j + 4] + col_y[j + 5] + col_y[j + 6]
                    sq = (col_squares[j] + col_squares[j + 1] + col_squares[j + 2] + col_squares[j + 3]
                          + col_squares[j + 4] + col_squares[j + 5] + col_squares[j + 6])
                    sxy = (col_xy[j] + col_xy[j + 1] + col_xy[j + 2] + col_xy[j + 3]
                           + col_xy[j + 4] + col_xy[j + 5] + col_xy[j + 6])
                    luminance = sx * sy
                    luminance_den = sx * sx + sy * sy
                    numerator = (2 * luminance + c1) * (2 * (n * sxy - luminance) + c2)
                    denominator = (luminance_den + c1) * (n * sq - luminance_den + c2)
                    col_ssim[j] += numerator / denominator
        sums[s, 0] = col_error.sum()
        sums[s, 1] = col_ssim.sum() / (out_height * out_width)
    return sums
