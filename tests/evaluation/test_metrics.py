"""Metrics: parity with fastmri.evaluate (NMSE, PSNR, SSIM) and the invariances they must keep."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from fastmri import evaluate as fastmri_evaluate
from fastmri.data.transforms import center_crop as fastmri_center_crop
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity

from kspacekit.evaluation import metrics

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
RTOL = 1e-5


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def smooth_volume(shape: tuple[int, int, int], seed: int, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """A non-negative textured volume (MRI-like scale ~1e-4) and a noisy, slightly blurred copy."""
    rng = np.random.default_rng(seed)
    target = gaussian_filter(rng.random(shape), (0, 1.5, 1.5)) * 3e-4
    prediction = gaussian_filter(target, (0, 0.7, 0.7)) + 2e-5 * rng.standard_normal(shape)
    return target.astype(dtype), prediction.astype(dtype)


def fastmri_metrics(target: np.ndarray, prediction: np.ndarray) -> tuple[float, float, float]:
    """fastMRI's (NMSE, PSNR, SSIM) of the volumes as given (float32 ones as read from .h5)."""
    return (
        float(fastmri_evaluate.nmse(target, prediction)),
        float(fastmri_evaluate.psnr(target, prediction)),
        float(fastmri_evaluate.ssim(target, prediction)[0]),
    )


def knee_like_volume(slices: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A float32 volume shaped like a fastMRI knee target (an elliptical body of smooth tissue on
    a near-zero noisy background, max ~3e-4) and a blurred, noisy reconstruction of it."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[-1 : 1 : size * 1j, -1 : 1 : size * 1j]
    body = gaussian_filter(((x / 0.7) ** 2 + (y / 0.8) ** 2 < 1).astype(np.float64), 3)
    tissue = gaussian_filter(rng.random((slices, size, size)), (1, 6, 6))
    tissue = (tissue - tissue.min()) / np.ptp(tissue)
    background = 0.02 * np.abs(rng.standard_normal((slices, size, size)))
    target = (3e-4 * (body * (0.3 + tissue) + background)).astype(np.float32)
    noise = 6e-6 * rng.standard_normal(target.shape)
    prediction = np.abs(gaussian_filter(target, (0, 0.8, 0.8)) + noise).astype(np.float32)
    return target, prediction


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [
        ((3, 32, 32), np.float32),
        ((2, 33, 47), np.float32),  # odd sizes, wider than tall
        ((4, 61, 22), np.float32),  # taller than wide
        ((1, 7, 7), np.float32),  # the smallest image SSIM accepts
        ((2, 40, 36), np.float64),
        ((200, 16, 16), np.float32),  # many small slices per step
    ],
)
def test_metrics_match_fastmri_on_random_volumes(shape, dtype):
    target, prediction = smooth_volume(shape, seed=sum(shape), dtype=dtype)
    ours = metrics.volume_metrics(target, prediction)
    expected = fastmri_metrics(target, prediction)
    assert (ours.nmse, ours.psnr, ours.ssim) == pytest.approx(expected, rel=RTOL)
    assert metrics.nmse(target, prediction) == pytest.approx(expected[0], rel=RTOL)
    assert metrics.psnr(target, prediction) == pytest.approx(expected[1], rel=RTOL)
    assert metrics.ssim(target, prediction) == pytest.approx(expected[2], rel=RTOL)


def test_ssim_per_slice_matches_scikit_image():
    target, prediction = smooth_volume((3, 30, 41), seed=5)
    data_range = float(target.max())
    expected = [structural_similarity(t, p, data_range=data_range) for t, p in zip(target, prediction)]
    ours = metrics.ssim_per_slice(torch.from_numpy(target), torch.from_numpy(prediction))
    assert ours.dtype == np.float64
    assert ours.tolist() == pytest.approx(expected, rel=RTOL)


def test_explicit_data_range_matches_fastmri_maxval():
    target, prediction = smooth_volume((2, 24, 24), seed=3)
    assert metrics.psnr(target, prediction, data_range=1e-3) == pytest.approx(
        float(fastmri_evaluate.psnr(target, prediction, maxval=1e-3)), rel=RTOL)
    assert metrics.ssim(target, prediction, data_range=1e-3) == pytest.approx(
        float(fastmri_evaluate.ssim(target, prediction, maxval=1e-3)[0]), rel=RTOL)


def test_tensors_and_arrays_agree():
    target, prediction = smooth_volume((2, 20, 25), seed=7)
    from_arrays = metrics.volume_metrics(target, prediction)
    from_tensors = metrics.volume_metrics(torch.from_numpy(target), torch.from_numpy(prediction))
    assert from_tensors == from_arrays


def colin27_volume() -> np.ndarray:
    nibabel = pytest.importorskip("nibabel")
    path = SHARED_DATA / "images" / "colin27_ch2better.nii.gz"
    if not path.exists():
        pytest.skip(f"{path} not present")
    volume = np.asarray(nibabel.load(path).dataobj, dtype=np.float32)
    return np.ascontiguousarray(np.moveaxis(volume[:, :, 70:100], -1, 0))  # 30 axial slices (181, 217)


def undersampled_copy(volume: np.ndarray, keep: float, seed: int) -> np.ndarray:
    """A realistic degradation: magnitude of the image from randomly dropped k-space columns."""
    rng = np.random.default_rng(seed)
    kspace = np.fft.fftshift(np.fft.fft2(volume), axes=-1)
    width = volume.shape[-1]
    columns = rng.random(width) < keep
    columns[width // 2 - width // 25 : width // 2 + width // 25] = True
    return np.abs(np.fft.ifft2(np.fft.ifftshift(kspace * columns, axes=-1))).astype(np.float32)


def test_metrics_match_fastmri_on_real_brain_images():
    target = colin27_volume()
    prediction = undersampled_copy(target, keep=0.3, seed=0)
    ours = metrics.volume_metrics(target, prediction)
    expected = fastmri_metrics(target, prediction)
    assert (ours.nmse, ours.psnr, ours.ssim) == pytest.approx(expected, rel=RTOL)
    assert 0.2 < ours.ssim < 0.99  # a visibly degraded but recognisable copy

    # Cropped as fastMRI's evaluate.py crops (H >= W after transposing to (217, 181)).
    tall_target = np.ascontiguousarray(target.transpose(0, 2, 1))
    tall_prediction = np.ascontiguousarray(prediction.transpose(0, 2, 1))
    side = tall_target.shape[-1]
    cropped = metrics.volume_metrics(
        metrics.evaluation_crop(torch.from_numpy(tall_target)), metrics.evaluation_crop(torch.from_numpy(tall_prediction))
    )
    expected_cropped = fastmri_metrics(
        fastmri_center_crop(tall_target, (side, side)), fastmri_center_crop(tall_prediction, (side, side))
    )
    assert (cropped.nmse, cropped.psnr, cropped.ssim) == pytest.approx(expected_cropped, rel=RTOL)


def test_nmse_is_fastmris_float32_computation_on_a_full_size_volume():
    """On float32 volumes fastMRI's NMSE accumulates in float32 (np.linalg.norm -> BLAS sdot): on
    a 35x320x320 volume that is off from the float64 value by ~7e-5 here, and ours, which
    reproduces the computation, agrees with fastMRI's number, not with the float64 one."""
    target, prediction = knee_like_volume(35, 320, seed=0)
    ours = metrics.volume_metrics(target, prediction)
    expected = fastmri_metrics(target, prediction)
    assert (ours.nmse, ours.psnr, ours.ssim) == pytest.approx(expected, rel=RTOL)
    assert metrics.nmse(target, prediction) == pytest.approx(expected[0], rel=RTOL)
    in_float64 = float(fastmri_evaluate.nmse(target.astype(np.float64), prediction.astype(np.float64)))
    assert metrics.nmse(target.astype(np.float64), prediction) == pytest.approx(in_float64, rel=1e-12)
    assert 0 < ours.ssim < 1 and 0 < ours.nmse < 0.1


def test_identical_volumes_are_perfect():
    target, _ = smooth_volume((3, 20, 20), seed=11)
    result = metrics.volume_metrics(target, target.copy())
    assert result.nmse == 0.0
    assert result.psnr == float("inf")
    assert result.ssim == pytest.approx(1.0, abs=1e-12)


def test_scale_behaviour():
    target, prediction = smooth_volume((2, 24, 30), seed=13, dtype=np.float64)
    # NMSE of a scaled copy is (1 - c)^2, whatever the image.
    assert metrics.nmse(target, 0.8 * target) == pytest.approx(0.04, rel=1e-9)
    # Scaling both volumes changes none of the three metrics (data range follows the target).
    base = metrics.volume_metrics(target, prediction)
    scaled = metrics.volume_metrics(1e6 * target, 1e6 * prediction)
    assert (scaled.nmse, scaled.psnr, scaled.ssim) == pytest.approx((base.nmse, base.psnr, base.ssim), rel=1e-9)
    # A worse prediction scores worse on every metric.
    worse = metrics.volume_metrics(target, prediction + 3e-5 * np.random.default_rng(0).standard_normal(target.shape))
    assert worse.nmse > base.nmse and worse.psnr < base.psnr and worse.ssim < base.ssim


def test_evaluation_crop():
    tall = torch.arange(2 * 9 * 6, dtype=torch.float32).reshape(2, 9, 6)
    assert torch.equal(metrics.evaluation_crop(tall), torch.from_numpy(fastmri_center_crop(tall.numpy(), (6, 6))))
    wide = tall.transpose(-1, -2)  # fastMRI's (W, W) crop fails here; we crop the width to H
    assert torch.equal(metrics.evaluation_crop(wide), wide[..., :, 1:7])
    assert metrics.evaluation_crop(wide, full_image=True) is wide


@pytest.mark.parametrize(
    ("target_shape", "prediction_shape", "message"),
    [
        ((2, 10, 10), (2, 10, 11), "differ in shape"),
        ((10, 10), (10, 10), "slices, H, W"),
        ((2, 6, 10), (2, 6, 10), "at least 7x7"),
    ],
)
def test_bad_shapes_are_rejected(target_shape, prediction_shape, message):
    with pytest.raises(ValueError, match=message):
        metrics.volume_metrics(np.ones(target_shape), np.ones(prediction_shape))


def test_zero_target_has_no_data_range():
    with pytest.raises(ValueError, match="positive data range"):
        metrics.ssim(np.zeros((1, 8, 8)), np.ones((1, 8, 8)))
