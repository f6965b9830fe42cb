"""The method interface from a notebook: one slice or a batch, torch or NumPy, meta from the mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import synthetic_kspace

from kspacekit.methods import ReconMeta, create_method
from kspacekit.physics.masks import make_mask


@pytest.fixture(scope="module")
def batch():
    full = torch.from_numpy(synthetic_kspace(2, 4, 48, 64, seed=5))
    mask, num_low = make_mask("random", full.shape, 4, 0.08, seed=2)
    return full * mask, mask, num_low


def test_meta_from_a_line_mask_matches_the_mask_generator(batch):
    kspace, mask, num_low = batch
    meta = ReconMeta.from_mask(mask, tuple(kspace.shape))
    assert meta.target_size == (48, 64) and meta.num_low_frequencies == num_low
    assert meta.acceleration == pytest.approx(64 / float(mask.sum()))


def test_meta_from_a_2d_pattern_has_no_centre_lines():
    mask, _ = make_mask("poisson", (1, 4, 48, 40), 4, 0.08, seed=0)
    meta = ReconMeta.from_mask(mask, (1, 4, 48, 40), target_size=(32, 32))
    assert meta.num_low_frequencies is None and meta.target_size == (32, 32)
    assert meta.acceleration == pytest.approx(48 * 40 / float(mask.sum()))


@pytest.mark.parametrize("name", ["zero-filled", "sense"])
def test_one_numpy_slice_gives_the_batch_image(batch, name):
    kspace, mask, num_low = batch
    method = create_method(name)
    batched = method(kspace, mask, ReconMeta((48, 64), num_low, 4.0))
    single = method(kspace[1].numpy(), mask.reshape(-1).numpy())
    assert isinstance(single, np.ndarray) and single.shape == (48, 64) and single.dtype == np.float32
    np.testing.assert_allclose(single, batched[1].numpy(), rtol=1e-4, atol=1e-4 * float(batched.max()))


def test_a_2d_image_is_not_a_slice(batch):
    from kspacekit.errors import KspaceKitError

    kspace, mask, _ = batch
    with pytest.raises(KspaceKitError, match=r"\(coils, H, W\) or \(batch, coils, H, W\)"):
        create_method("zero-filled")(kspace[0, 0], mask)
