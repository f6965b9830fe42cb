"""Analytic phantoms: closed-form k-space that agrees with the image it claims to be, without the inverse crime."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import binary_dilation, sobel

from kspacekit.errors import KspaceKitError
from kspacekit.physics.fft import fft2c, ifft2c, rss
from kspacekit.simulation.phantoms import (
    MODIFIED_SHEPP_LOGAN,
    Ellipses,
    random_ellipses,
    shepp_logan,
)


def far_from_edges(image: np.ndarray, margin: int = 6) -> np.ndarray:
    """Pixels at least ``margin`` pixels from any intensity edge (where Gibbs ringing has decayed)."""
    edges = np.hypot(sobel(image, 0), sobel(image, 1)) > 0
    return ~binary_dilation(edges, iterations=margin)


def test_ellipse_spectrum_matches_numerical_fourier_integral() -> None:
    """A rotated, shifted ellipse: closed form vs a Riemann sum over a 1200^2 rasterisation."""
    ellipses = Ellipses.from_table(torch.tensor([[0.7, 0.5, 0.3, 0.2, -0.1, 30.0]], dtype=torch.float64))
    n = 1200
    axis = (torch.arange(n, dtype=torch.float64) + 0.5) * (2 / n) - 1
    positions = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1)
    image = ellipses.image(positions).reshape(-1)
    frequencies = torch.tensor([[0.0, 0.0], [0.5, 0.0], [0.0, -1.0], [1.3, 0.7], [-2.0, 1.5]], dtype=torch.float64)
    phase = torch.polar(torch.ones((), dtype=torch.float64), -2 * math.pi * positions.reshape(-1, 2) @ frequencies.T)
    numerical = (image[:, None] * phase).sum(0) * (2 / n) ** 2
    analytic = ellipses.spectrum(frequencies)
    assert analytic[0].real.item() == pytest.approx(0.7 * math.pi * 0.5 * 0.3, rel=1e-12)
    np.testing.assert_allclose(analytic.numpy(), numerical.numpy(), atol=2e-3 * analytic.abs().max().item())


def test_shepp_logan_image_matches_scikit_image() -> None:
    from skimage.data import shepp_logan_phantom

    _, image, maps = shepp_logan((400, 400))
    assert maps is None
    levels = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 1.0])
    assert np.abs(np.unique(image)[:, None] - levels).min(1).max() < 1e-6
    assert (np.abs(image - shepp_logan_phantom()) > 0.05).mean() < 0.02  # edge pixels differ only


def test_dc_sample_is_the_phantom_integral() -> None:
    """k-space centre * sqrt(HW) * pixel area = sum of intensity * area over the ellipses."""
    shape = (96, 128)
    kspace, _, _ = shepp_logan(shape)
    table = np.array(MODIFIED_SHEPP_LOGAN)
    integral = (table[:, 0] * np.pi * table[:, 1] * table[:, 2]).sum()
    pixel = 2 / min(shape)
    dc = kspace[0, shape[0] // 2, shape[1] // 2] * math.sqrt(shape[0] * shape[1]) * pixel**2
    assert dc.real == pytest.approx(integral, rel=1e-5) and abs(dc.imag) < 1e-6


@pytest.mark.parametrize("coils", [1, 8])
def test_rss_of_inverse_fft_is_the_reference_apart_from_gibbs(coils: int) -> None:
    kspace, image, _ = shepp_logan((128, 128), coils=coils, seed=4)
    assert kspace.shape == (coils, 128, 128) and kspace.dtype == np.complex64 and image.dtype == np.float32
    recon = rss(ifft2c(torch.from_numpy(kspace)), dim=0).numpy()
    far = far_from_edges(image)
    assert np.abs(recon - image)[far].max() < 0.04
    object_far = far & (image > 0.05)
    assert np.mean(recon[object_far] / image[object_far]) == pytest.approx(1.0, abs=0.01)


def test_no_inverse_crime() -> None:
    """The FFT of the pixel image agrees at low frequencies but not overall (edges alias)."""
    kspace, image, _ = shepp_logan((128, 128))
    pixel_fft = fft2c(torch.from_numpy(image.astype(np.complex64))).numpy()
    centre = (slice(60, 68), slice(60, 68))
    low_error = np.linalg.norm(pixel_fft[centre] - kspace[0][centre]) / np.linalg.norm(kspace[0][centre])
    total_error = np.linalg.norm(pixel_fft - kspace[0]) / np.linalg.norm(kspace[0])
    assert low_error < 0.02
    assert total_error > 0.05


def test_coil_kspace_is_the_maps_times_the_object() -> None:
    """ifft2c of each coil's closed-form k-space = that coil's returned map times the phantom."""
    kspace, image, maps = random_ellipses((96, 112), n=8, coils=6, seed=2)
    assert maps is not None and maps.shape == (6, 96, 112)
    coil_images = ifft2c(torch.from_numpy(kspace)).numpy()
    far = far_from_edges(image)
    assert np.abs(coil_images - maps * image)[:, far].max() < 0.03 * image.max()
    object_disc = (image > 0) & far
    sum_of_squares = (np.abs(maps) ** 2).sum(0)[object_disc]
    assert sum_of_squares.min() > 0.97 and sum_of_squares.max() < 1.03
    # coils see different parts of the object: their maps are far from proportional
    magnitudes = np.abs(maps[:, object_disc])
    assert (magnitudes.max(1) / magnitudes.min(1)).min() > 2


def test_seeds() -> None:
    first = random_ellipses((48, 48), n=5, coils=4, seed=7)
    again = random_ellipses((48, 48), n=5, coils=4, seed=7)
    other = random_ellipses((48, 48), n=5, coils=4, seed=8)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(first[1], other[1])
    np.testing.assert_array_equal(shepp_logan((32, 32), 2)[0], shepp_logan((32, 32), 2)[0])
    assert not np.allclose(shepp_logan((32, 32), 2, seed=1)[2], shepp_logan((32, 32), 2, seed=2)[2])


@pytest.mark.parametrize("options", [{"coils": 0}, {"coils": 65}, {"shape": (1, 32)}])
def test_bad_arguments(options: dict) -> None:
    arguments = {"shape": (32, 32), "coils": 1} | options
    with pytest.raises(KspaceKitError):
        shepp_logan(arguments["shape"], coils=arguments["coils"])


@pytest.mark.parametrize("coils", [1, 4])
def test_phantom_files_carry_the_simulated_mark(tmp_path, coils: int) -> None:
    """A report must never present an analytic phantom as real data."""
    from kspacekit.data import inspect_volume
    from kspacekit.data.layout import SIMULATED_MARK
    from kspacekit.simulation.phantoms import write_phantom_volume

    path = write_phantom_volume(tmp_path / "p.h5", "shepp-logan", shape=(32, 32), coils=coils)
    info = inspect_volume(path)
    assert SIMULATED_MARK.items() <= info.attrs.items()
    assert info.target_key == ("reconstruction_rss" if coils > 1 else "reconstruction_esc")


@pytest.mark.slow
def test_ellipse_dataset_folder_split_by_volume(tmp_path) -> None:
    """`simulate --phantom ellipses --volumes N` writes a train/val/test dataset of distinct objects
    that training reads (simulated mark, target), whole or not at all."""
    import h5py
    from conftest import run_cli

    from kspacekit.data import SliceDataset

    out = tmp_path / "ellipses"
    result = run_cli("simulate", "--phantom", "ellipses", "--volumes", "10", "--slices", "2", "--coils", "1",
                     "--shape", "32", "32", "-o", str(out), check_rc=0)
    counts = {path.name: len(list(path.glob("*.h5"))) for path in out.iterdir()}
    assert counts == {"singlecoil_train": 8, "singlecoil_val": 1, "singlecoil_test": 1}, result.stdout
    references = []
    for path in sorted(out.glob("*/*.h5")):
        with h5py.File(path) as f:
            assert f.attrs["simulated_by"] == "kspacekit" and f["kspace"].shape == (2, 32, 32)
            references.extend(f["phantom_reference"][()])
    assert len({ref.tobytes() for ref in references}) == 20  # no object twice
    assert len(SliceDataset(out / "singlecoil_train")) == 16
    refused = run_cli("simulate", "--phantom", "ellipses", "--volumes", "2", "-o", str(out))
    assert refused.returncode == 2 and "not empty" in refused.stderr
    run_cli("simulate", "--phantom", "ellipses", "--volumes", "2", "--coils", "2", "--shape", "32", "32", "--split",
            "1", "1", "0", "-o", str(out), "--overwrite", check_rc=0)
    assert sorted(path.name for path in out.iterdir()) == ["multicoil_train", "multicoil_val"]
    wrong = run_cli("simulate", "--phantom", "shepp-logan", "--volumes", "2", "-o", str(tmp_path / "sl"))
    assert wrong.returncode == 2 and "--phantom ellipses" in wrong.stderr and not (tmp_path / "sl").exists()
