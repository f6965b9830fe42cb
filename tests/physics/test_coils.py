"""Coil sensitivity estimation: calibration region, kernel convention, maps that reproduce coil images."""

from __future__ import annotations

import pytest
import torch
from conftest import synthetic_kspace

from kspacekit.errors import KspaceKitError
from kspacekit.physics import coils
from kspacekit.physics.coils import (
    calibration_region,
    espirit_maps,
    estimate_maps,
    kernel_to_image,
    lowres_maps,
)
from kspacekit.physics.fft import fft2c, ifft2c, rss
from kspacekit.physics.masks import make_mask

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def coil_data():
    """8-coil 96x128 k-space (one slice), its coil images and an object mask."""
    full = torch.from_numpy(synthetic_kspace(1, 8, 96, 128, seed=5))
    coil_images = ifft2c(full)
    magnitude = rss(coil_images, dim=1)
    inside = magnitude > 0.2 * magnitude.max()
    return full, coil_images, inside


def projection_error(maps: torch.Tensor, coil_images: torch.Tensor, inside: torch.Tensor) -> float:
    """Relative error of S S^H rho against rho over the object (the ESPIRiT consistency test)."""
    combined = (maps.conj() * coil_images).sum(1, keepdim=True)
    projected = maps * combined
    error = (projected - coil_images).abs().pow(2).sum(1)[inside].sum()
    return float((error / coil_images.abs().pow(2).sum(1)[inside].sum()).sqrt())


@pytest.mark.parametrize("acceleration, centre", [(4, 0.08), (8, 0.04)])
def test_calibration_region_is_the_centre_block_of_a_line_mask(acceleration, centre):
    mask, num_low = make_mask("random", (1, 4, 64, 180), acceleration, centre, seed=3)
    rows, cols = calibration_region(mask, (64, 180))
    assert (rows.start, rows.stop) == (0, 64)
    assert cols.stop - cols.start >= num_low
    assert bool(mask[..., cols].all())
    assert not bool(mask[..., cols.start - 1]) and not bool(mask[..., cols.stop])


def test_calibration_region_of_a_2d_mask():
    mask = torch.zeros(1, 1, 40, 50)
    mask[..., 14:26, 20:32] = 1
    mask[..., ::3, ::4] = 1
    rows, cols = calibration_region(mask, (40, 50))
    assert bool(mask[..., rows, cols].all())
    assert rows.stop - rows.start >= 12 and cols.stop - cols.start >= 12


def test_kernel_to_image_matches_kspace_correlation():
    """(K x)_c(k) = sum_d sum_D h_cd(D) x_d(k + D) computed with shifts equals the image-domain product."""
    g = torch.Generator().manual_seed(0)
    kspace = torch.randn(1, 3, 24, 20, dtype=torch.complex128, generator=g)
    kernel = torch.randn(1, 3, 3, 5, 3, dtype=torch.complex128, generator=g)
    direct = torch.zeros_like(kspace)
    for dh in range(-2, 3):
        for dw in range(-1, 2):
            shifted = torch.roll(kspace, (-dh, -dw), dims=(-2, -1))  # x(k + D), circularly
            direct += torch.einsum("bcd,bdhw->bchw", kernel[..., dh + 2, dw + 1], shifted)
    operator = kernel_to_image(kernel, (24, 20))
    via_image = fft2c(torch.einsum("bcdhw,bdhw->bchw", operator, ifft2c(kspace)))
    torch.testing.assert_close(via_image, direct)


@pytest.mark.parametrize("acceleration, centre", [(4, 0.08), (8, 0.04)])
@pytest.mark.parametrize("estimator", [espirit_maps, lowres_maps])
def test_maps_reproduce_coil_images_inside_the_object(coil_data, estimator, acceleration, centre):
    full, coil_images, inside = coil_data
    mask, _ = make_mask("random", full.shape, acceleration, centre, seed=1)
    maps = estimator(full * mask, mask)
    assert maps.shape == full.shape and torch.isfinite(torch.view_as_real(maps)).all()
    assert projection_error(maps, coil_images, inside) < 0.1


def test_lowres_maps_have_unit_norm_wherever_there_is_signal(coil_data):
    full, _, inside = coil_data
    mask, _ = make_mask("random", full.shape, 4, 0.08, seed=2)
    norm = rss(lowres_maps(full * mask, mask), dim=1)
    assert float(norm.max()) <= 1 + 1e-4
    torch.testing.assert_close(norm[inside], torch.ones_like(norm[inside]), atol=1e-4, rtol=0)


def test_espirit_eigenvalue_weight_keeps_the_object(coil_data):
    """Inside the object the maps have (close to) unit norm: the soft crop only removes background."""
    full, _, inside = coil_data
    mask, _ = make_mask("random", full.shape, 8, 0.04, seed=2)
    norm = rss(espirit_maps(full * mask, mask), dim=1)
    assert float(norm[inside].mean()) > 0.95


def test_single_coil_maps_are_ones():
    kspace = torch.randn(2, 1, 16, 12, dtype=torch.complex64)
    mask = torch.ones(1, 1, 1, 12)
    assert torch.equal(estimate_maps(kspace, mask), torch.ones_like(kspace))


def test_too_few_centre_lines_is_a_clear_error(coil_data):
    full, _, _ = coil_data
    mask = torch.zeros(1, 1, 1, 128)
    mask[..., ::4] = 1
    mask[..., 63:66] = 1  # 3 centre lines, with gaps on both sides
    mask[..., 62] = mask[..., 66] = 0
    with pytest.raises(KspaceKitError, match="centre lines"):
        estimate_maps(full * mask, mask)


def test_unsampled_centre_is_a_clear_error(coil_data):
    full, _, _ = coil_data
    mask = torch.zeros(1, 1, 1, 128)
    mask[..., 1::2] = 1  # the centre column 64 is not sampled
    with pytest.raises(KspaceKitError, match="centre is not sampled"):
        estimate_maps(full * mask, mask)


def test_kernel_to_image_rows_are_rows_of_the_full_operator():
    g = torch.Generator().manual_seed(1)
    kernel = torch.randn(2, 3, 3, 5, 3, dtype=torch.complex128, generator=g)
    full = kernel_to_image(kernel, (23, 20))
    torch.testing.assert_close(kernel_to_image(kernel, (23, 20), slice(7, 12)), full[..., 7:12, :])


def test_espirit_maps_do_not_depend_on_the_row_bands(coil_data, monkeypatch):
    """Maps built band by band (a few rows at a time) equal the maps built in one band."""
    full, _, _ = coil_data
    mask, _ = make_mask("random", full.shape, 4, 0.08, seed=1)
    whole = espirit_maps(full * mask, mask)
    monkeypatch.setattr(coils, "OPERATOR_CHUNK_ELEMENTS", 1)  # one row per band
    torch.testing.assert_close(espirit_maps(full * mask, mask), whole)
