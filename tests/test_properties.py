"""Property-based tests (hypothesis) of the metrics' invariances (issue #7).

FFT unitarity and SENSE adjointness live in test_physics.py, mask determinism and acceleration
in test_masks.py. Here: NMSE, PSNR and SSIM over random volumes of random shapes do not change
when both volumes are scaled together, when their slices are permuted together, or when both are
flipped or transposed in-plane (the 7x7 window and its valid region are symmetric); SSIM with a
fixed data range is symmetric in its two arguments; a volume scores perfectly against itself.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kspacekit.evaluation import metrics

PROPERTY = settings(max_examples=30, deadline=None)
REL = 1e-7  # float64 volumes; the kernels' window sums run in another order after a flip


@st.composite
def volume_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """(target, prediction) float64 (slices, H, W), H and W at least SSIM's 7x7 window; target max > 0."""
    shape = (draw(st.integers(1, 3)), draw(st.integers(7, 24)), draw(st.integers(7, 24)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    target = rng.random(shape) + 0.1
    prediction = np.abs(target + draw(st.floats(0.01, 0.5)) * rng.standard_normal(shape))
    return target, prediction


def scores(target: np.ndarray, prediction: np.ndarray) -> tuple[float, float, float]:
    result = metrics.volume_metrics(target, prediction)
    return result.nmse, result.psnr, result.ssim


@PROPERTY
@given(pair=volume_pairs(), scale=st.floats(1e-3, 1e3))
def test_scaling_both_volumes_changes_nothing(pair, scale):
    target, prediction = pair
    assert scores(scale * target, scale * prediction) == pytest.approx(scores(target, prediction), rel=REL)


@PROPERTY
@given(pair=volume_pairs(), data=st.data())
def test_permuting_slices_together_changes_nothing(pair, data):
    target, prediction = pair
    order = data.draw(st.permutations(range(target.shape[0])))
    assert scores(target[order], prediction[order]) == pytest.approx(scores(target, prediction), rel=REL)


@PROPERTY
@given(pair=volume_pairs(), change=st.sampled_from(["flip_rows", "flip_columns", "transpose"]))
def test_flipping_or_transposing_both_changes_nothing(pair, change):
    move = {
        "flip_rows": lambda v: v[:, ::-1],
        "flip_columns": lambda v: v[:, :, ::-1],
        "transpose": lambda v: v.transpose(0, 2, 1),
    }[change]
    target, prediction = pair
    moved = scores(np.ascontiguousarray(move(target)), np.ascontiguousarray(move(prediction)))
    assert moved == pytest.approx(scores(target, prediction), rel=REL)


@PROPERTY
@given(pair=volume_pairs())
def test_ssim_is_symmetric_for_a_fixed_data_range(pair):
    target, prediction = pair
    data_range = float(max(target.max(), prediction.max()))
    assert metrics.ssim(target, prediction, data_range) == pytest.approx(
        metrics.ssim(prediction, target, data_range), rel=REL)


@PROPERTY
@given(pair=volume_pairs())
def test_a_volume_scores_perfectly_against_itself(pair):
    target, prediction = pair
    nmse, psnr, ssim = scores(target, target.copy())
    assert nmse == 0 and psnr == float("inf") and ssim == pytest.approx(1.0, abs=1e-12)
    nmse, psnr, ssim = scores(target, prediction)
    assert nmse > 0 and np.isfinite(psnr) and ssim < 1
