"""``kspacekit convert``: raw k-space -> fastMRI files that fastMRI's own SliceDataset reads."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import run_main
from fastmri.data.mri_data import SliceDataset

from kspacekit.data.raw import convert_to_fastmri, read_raw

DATA = Path(__file__).parents[2].parent / "shared" / "data" / "kspace"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared real data not present")


def random_complex(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def numpy_rss(kspace: np.ndarray) -> np.ndarray:
    """RSS of the centred orthonormal inverse FFT, over the coil axis 1 of (slices, coils, H, W)."""
    axes = (-2, -1)
    images = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kspace, axes=axes), norm="ortho"), axes=axes)
    return np.sqrt((np.abs(images) ** 2).sum(1))


def test_fully_sampled_multicoil_reads_in_fastmri(tmp_path: Path, monkeypatch, capsys) -> None:
    kspace = random_complex((3, 4, 24, 20))
    np.save(tmp_path / "k.npy", kspace)
    out_dir = tmp_path / "out"
    code, out, _ = run_main(["convert", tmp_path / "k.npy", out_dir / "vol.h5"], monkeypatch, capsys)
    assert code == 0 and "fully sampled" in out

    dataset = SliceDataset(out_dir, challenge="multicoil")
    assert len(dataset) == 3
    expected_target = numpy_rss(kspace)
    for index in range(3):
        got_kspace, mask, target, attrs, fname, slice_index = dataset[index]
        assert (fname, slice_index) == ("vol.h5", index)
        np.testing.assert_array_equal(got_kspace, kspace[index])
        assert mask is None
        np.testing.assert_allclose(target, expected_target[index], rtol=1e-5, atol=1e-6)
        assert attrs["recon_size"] == (24, 20, 1) and attrs["encoding_size"] == (24, 20, 1)
        assert (attrs["padding_left"], attrs["padding_right"]) == (0, 20)
        assert attrs["max"] == pytest.approx(expected_target.max(), rel=1e-5)
        assert attrs["norm"] == pytest.approx(np.linalg.norm(expected_target), rel=1e-5)


def test_single_coil_gets_esc_target(tmp_path: Path) -> None:
    kspace = random_complex((16, 12))
    np.save(tmp_path / "k.npy", kspace)
    convert_to_fastmri(tmp_path / "k.npy", tmp_path / "out" / "single.h5")
    _, _, target, _, _, _ = SliceDataset(tmp_path / "out", challenge="singlecoil")[0]
    np.testing.assert_allclose(target, numpy_rss(kspace[None, None])[0], rtol=1e-5, atol=1e-6)
    with h5py.File(tmp_path / "out" / "single.h5") as f:
        assert f["kspace"].shape == (1, 16, 12)


def test_line_undersampled_keeps_kspace_and_stores_mask(tmp_path: Path) -> None:
    columns = np.zeros(32, bool)
    columns[[1, 5, 9, 13, 25, 29]] = True
    columns[13:20] = True  # 7 centre lines around column 16
    kspace = random_complex((2, 3, 20, 32)) * columns
    np.save(tmp_path / "k.npy", kspace)
    convert_to_fastmri(tmp_path / "k.npy", tmp_path / "out" / "vol.h5")
    got_kspace, mask, target, attrs, _, _ = SliceDataset(tmp_path / "out", challenge="multicoil")[1]
    assert target is None
    np.testing.assert_array_equal(got_kspace, kspace[1])
    np.testing.assert_array_equal(mask, columns)
    assert attrs["num_low_frequency"] == 7
    assert attrs["acceleration"] == pytest.approx(32 / columns.sum())


def test_2d_undersampled_stores_mask_2d(tmp_path: Path) -> None:
    pattern = np.random.default_rng(1).random((20, 32)) < 0.3
    pattern[7:13, 13:19] = True  # the fully sampled centre region coil maps calibrate from
    kspace = random_complex((1, 2, 20, 32)) * pattern
    np.save(tmp_path / "k.npy", kspace)
    convert_to_fastmri(tmp_path / "k.npy", tmp_path / "vol.h5")
    with h5py.File(tmp_path / "vol.h5") as f:
        assert "mask" not in f and "reconstruction_rss" not in f
        np.testing.assert_array_equal(f["mask_2d"][()], pattern)
        assert f.attrs["acceleration"] == pytest.approx(pattern.size / pattern.sum())


def test_bad_input_exits_2_without_output(tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / "k.hdr").write_text("# Dimensions\n4 4 1 2\n")
    random_complex((4, 3, 1, 2)).ravel(order="F").tofile(tmp_path / "k.cfl")
    out = tmp_path / "out"
    code, _, err = run_main(["convert", tmp_path / "k.cfl", out / "vol.h5"], monkeypatch, capsys)
    assert code == 2
    assert err.count("\n") == 1 and "k.cfl" in err and "does not match" in err
    assert not out.exists() or not any(out.iterdir())


def test_existing_output_needs_overwrite(tmp_path: Path, monkeypatch, capsys) -> None:
    np.save(tmp_path / "k.npy", random_complex((2, 8, 8)))
    (tmp_path / "vol.h5").write_bytes(b"keep me")
    code, _, err = run_main(["convert", tmp_path / "k.npy", tmp_path / "vol.h5"], monkeypatch, capsys)
    assert code == 2 and "--overwrite" in err
    assert (tmp_path / "vol.h5").read_bytes() == b"keep me"
    code, _, _ = run_main(["convert", tmp_path / "k.npy", tmp_path / "vol.h5", "--overwrite"], monkeypatch, capsys)
    assert code == 0 and h5py.is_hdf5(tmp_path / "vol.h5")


REAL_FILES = [
    # name, options, fully sampled
    ("espirit_brain_full_8ch.cfl", {}, True),
    ("bartws2016_brain_poisson_8ch.cfl", {}, False),
    ("sigpy_tutorial_brain_poisson8x_8ch.npy", {}, False),
    ("sparsemri_brain512_1ch_vd.mat", {"key": "data"}, False),
    ("twixtools_gre_phantom_2ch.dat", {"remove_oversampling": True}, True),
    ("twixtools_gre_phantom_2ch_kspace_derived.npy", {"pe_axis": 1}, True),
]


@needs_data
@pytest.mark.parametrize(("name", "options", "fully_sampled"), REAL_FILES)
def test_real_files_convert(tmp_path: Path, name: str, options: dict, fully_sampled: bool) -> None:
    source = read_raw(DATA / name, **options)
    _, sampling = convert_to_fastmri(DATA / name, tmp_path / "vol.h5", **options)
    assert sampling.fully_sampled == fully_sampled
    challenge = "singlecoil" if source.shape[1] == 1 else "multicoil"
    kspace, mask, target, _, _, _ = SliceDataset(tmp_path, challenge=challenge)[0]
    np.testing.assert_array_equal(kspace, source[0, 0] if source.shape[1] == 1 else source[0])
    if fully_sampled:
        expected = numpy_rss(source)[0]
        np.testing.assert_allclose(target, expected, rtol=1e-4, atol=1e-5 * expected.max())
    else:
        assert target is None


@needs_data
def test_sparsemri_mask_matches_its_own_mask_variable(tmp_path: Path) -> None:
    import scipy.io

    stored_mask = scipy.io.loadmat(DATA / "sparsemri_brain512_1ch_vd.mat")["mask"]
    convert_to_fastmri(DATA / "sparsemri_brain512_1ch_vd.mat", tmp_path / "vol.h5", key="data")
    with h5py.File(tmp_path / "vol.h5") as f:
        np.testing.assert_array_equal(f["mask"][()], stored_mask.any(axis=0))


@needs_data
def test_twix_raw_and_derived_convert_alike(tmp_path: Path) -> None:
    convert_to_fastmri(DATA / "twixtools_gre_phantom_2ch.dat", tmp_path / "raw.h5", remove_oversampling=True)
    convert_to_fastmri(DATA / "twixtools_gre_phantom_2ch_kspace_derived.npy", tmp_path / "derived.h5", pe_axis=1)
    with h5py.File(tmp_path / "raw.h5") as raw, h5py.File(tmp_path / "derived.h5") as derived:
        scale = np.abs(derived["kspace"][()]).max()
        np.testing.assert_allclose(raw["kspace"][()], derived["kspace"][()], rtol=0, atol=1e-6 * scale)
        np.testing.assert_allclose(raw["reconstruction_rss"][()], derived["reconstruction_rss"][()], rtol=1e-5)
