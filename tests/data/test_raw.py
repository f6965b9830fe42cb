"""Raw k-space readers: every format lands in (slices, coils, H, W) with the phase-encode axis last."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from kspacekit.data.raw import detect_sampling, read_raw, remove_readout_oversampling
from kspacekit.errors import KspaceKitError

DATA = Path(__file__).parents[2].parent / "shared" / "data" / "kspace"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared real data not present")


def random_complex(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def write_cfl(base: Path, array: np.ndarray) -> None:
    base.with_suffix(".hdr").write_text("# Dimensions\n" + " ".join(map(str, array.shape)) + "\n")
    array.astype(np.complex64).ravel(order="F").tofile(base.with_suffix(".cfl"))


def test_cfl_coils_on_bart_coil_dim(tmp_path: Path) -> None:
    kspace = random_complex((12, 10, 1, 3))  # READ, PHS1, PHS2, COIL
    write_cfl(tmp_path / "k", kspace)
    expected = kspace[:, :, 0, :].transpose(2, 0, 1)[None]
    for name in ("k.cfl", "k.hdr"):
        np.testing.assert_array_equal(read_raw(tmp_path / name), expected)


def test_cfl_slice_dim_and_pe_override(tmp_path: Path) -> None:
    kspace = random_complex((1, 8, 6, 2) + (1,) * 9 + (4,))  # slices on BART dim 13
    write_cfl(tmp_path / "k", kspace)
    got = read_raw(tmp_path / "k.cfl", pe_axis=1)
    expected = kspace[(0, slice(None), slice(None), slice(None), *([0] * 9), slice(None))].transpose(3, 2, 1, 0)  # (slices, coils, PHS2, PHS1)
    np.testing.assert_array_equal(got, expected)


def test_cfl_size_must_match_header(tmp_path: Path) -> None:
    write_cfl(tmp_path / "k", random_complex((4, 4, 1, 2)))
    (tmp_path / "k.hdr").write_text("# Dimensions\n4 5 1 2\n")
    with pytest.raises(KspaceKitError, match="does not match the .hdr dims") as err:
        read_raw(tmp_path / "k.cfl")
    assert err.value.path == tmp_path / "k.cfl"
    (tmp_path / "k.hdr").write_text("# Dimensions\nfour 4\n")
    with pytest.raises(KspaceKitError, match="second line"):
        read_raw(tmp_path / "k.cfl")


def test_npy_named_axes(tmp_path: Path) -> None:
    stored = random_complex((16, 3, 10, 2))  # (readout, coils, phase-encode, slices)
    np.save(tmp_path / "k.npy", stored)
    got = read_raw(tmp_path / "k.npy", coil_axis=1, slice_axis=-1, pe_axis=2)
    np.testing.assert_array_equal(got, stored.transpose(3, 1, 0, 2))
    transposed = read_raw(tmp_path / "k.npy", coil_axis=1, slice_axis=3, pe_axis=0)
    np.testing.assert_array_equal(transposed, stored.transpose(3, 1, 2, 0))


def test_npy_default_layouts(tmp_path: Path) -> None:
    for shape, expected in [((6, 8), (1, 1, 6, 8)), ((3, 6, 8), (1, 3, 6, 8)), ((2, 3, 6, 8), (2, 3, 6, 8))]:
        np.save(tmp_path / "k.npy", random_complex(shape))
        assert read_raw(tmp_path / "k.npy").shape == expected


@pytest.mark.parametrize(
    ("shape", "options", "message"),
    [
        ((2, 3, 4, 5, 6), {}, "in-plane axes"),
        ((3, 6, 8), {"coil_axis": 5}, "out of range"),
        ((3, 6, 8), {"pe_axis": 0}, "not an in-plane axis"),
        ((3, 6, 8), {"coil_axis": 0, "slice_axis": 0}, "both"),
    ],
)
def test_bad_axes(tmp_path: Path, shape: tuple[int, ...], options: dict, message: str) -> None:
    np.save(tmp_path / "k.npy", random_complex(shape))
    with pytest.raises(KspaceKitError, match=message):
        read_raw(tmp_path / "k.npy", **options)


def test_bad_inputs_name_the_file(tmp_path: Path) -> None:
    np.save(tmp_path / "real.npy", np.ones((4, 4)))
    (tmp_path / "k.xyz").write_bytes(b"nothing")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    for name, message in [("real.npy", "complex"), ("k.xyz", "unknown k-space format"), ("junk.npy", ".npy")]:
        with pytest.raises(KspaceKitError, match=message) as err:
            read_raw(tmp_path / name)
        assert err.value.path == tmp_path / name
    with pytest.raises(KspaceKitError, match="no such file"):
        read_raw(tmp_path / "missing.npy")


def test_mat_v5_and_v73_agree(tmp_path: Path) -> None:
    """A MATLAB (H, W, coils) variable reads the same from v5 and from v7.3 (HDF5 compound)."""
    matlab_array = random_complex((10, 8, 3))
    scipy.io.savemat(tmp_path / "v5.mat", {"kdata": matlab_array, "pdf": np.ones((10, 8))})
    with h5py.File(tmp_path / "v73.mat", "w") as f:
        compound = np.dtype([("real", "<f4"), ("imag", "<f4")])
        stored = np.empty(matlab_array.shape[::-1], compound)  # HDF5 holds MATLAB dims reversed
        stored["real"], stored["imag"] = matlab_array.real.T, matlab_array.imag.T
        f.create_dataset("kdata", data=stored)
        f.create_dataset("pdf", data=np.ones((8, 10)))
    expected = matlab_array.transpose(2, 0, 1)[None]
    np.testing.assert_array_equal(read_raw(tmp_path / "v5.mat"), expected)
    np.testing.assert_array_equal(read_raw(tmp_path / "v73.mat"), expected)


def test_mat_and_npz_keys(tmp_path: Path) -> None:
    first, second = random_complex((6, 8), 1), random_complex((6, 8), 2)
    scipy.io.savemat(tmp_path / "two.mat", {"first": first, "second": second})
    np.savez(tmp_path / "two.npz", first=first, second=second)
    for name in ("two.mat", "two.npz"):
        with pytest.raises(KspaceKitError, match="--key"):
            read_raw(tmp_path / name)
        np.testing.assert_array_equal(read_raw(tmp_path / name, key="second")[0, 0], second)
        with pytest.raises(KspaceKitError, match="no variable 'third'"):
            read_raw(tmp_path / name, key="third")


def write_ismrmrd(path: Path, kspace: np.ndarray, *, reversed_line: int, noise: bool = True) -> None:
    """An ISMRMRD file of (slices, coils, samples, lines) k-space, lines stored in shuffled order."""
    import ismrmrd

    from kspacekit.data.header import make_ismrmrd_header

    slices, coils, samples, lines = kspace.shape
    order = np.random.default_rng(3).permutation(slices * lines)
    with ismrmrd.Dataset(str(path), "dataset", create_if_needed=True) as dataset:
        dataset.write_xml_header(make_ismrmrd_header((samples, lines, 1), (samples // 2, lines, 1)))
        if noise:  # a noise scan must not land in the image
            acq = ismrmrd.Acquisition.from_array(random_complex((coils, samples), 9))
            acq.set_flag(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)
            dataset.append_acquisition(acq)
        for index in order:
            slice_, line = divmod(int(index), lines)
            data = kspace[slice_, :, :, line]
            acq = ismrmrd.Acquisition.from_array(
                data[:, ::-1] if line == reversed_line else data, center_sample=samples // 2
            )
            acq.idx.kspace_encode_step_1 = line
            acq.idx.slice = slice_
            if line == reversed_line:
                acq.set_flag(ismrmrd.ACQ_IS_REVERSE)
            dataset.append_acquisition(acq)


def test_ismrmrd_round_trip(tmp_path: Path) -> None:
    kspace = random_complex((2, 3, 16, 12))
    write_ismrmrd(tmp_path / "raw.h5", kspace, reversed_line=5)
    np.testing.assert_array_equal(read_raw(tmp_path / "raw.h5"), kspace)
    np.testing.assert_allclose(
        read_raw(tmp_path / "raw.h5", remove_oversampling=True),
        remove_readout_oversampling(kspace, axis=-2),
        atol=1e-5,
    )
    with pytest.raises(KspaceKitError, match="name their own axes"):
        read_raw(tmp_path / "raw.h5", coil_axis=0)


def test_non_ismrmrd_h5_is_refused(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "fastmri.h5", "w") as f:
        f.create_dataset("kspace", data=random_complex((1, 4, 4)))
    with pytest.raises(KspaceKitError, match="not an ISMRMRD file"):
        read_raw(tmp_path / "fastmri.h5")


def test_oversampling_removal_keeps_a_band_limited_signal() -> None:
    """A signal occupying the central half of the readout FOV survives the crop unchanged."""
    image = np.zeros((3, 32), complex)
    image[:, 10:22] = random_complex((3, 12))
    to_kspace = lambda x, n: np.fft.fftshift(np.fft.fft(np.fft.ifftshift(x, axes=-1)), axes=-1)  # noqa: E731
    halved = remove_readout_oversampling(to_kspace(image, 32), axis=-1)
    np.testing.assert_allclose(halved, to_kspace(image[:, 8:24], 16), atol=1e-12)


def test_sampling_detection() -> None:
    kspace = random_complex((2, 3, 8, 10))
    assert detect_sampling(kspace).fully_sampled
    kspace[..., :1, :] = 0  # a zero-filled readout edge (asymmetric echo) is still full sampling
    assert detect_sampling(kspace).fully_sampled
    columns = np.array([0, 1, 0, 1, 1, 1, 1, 0, 1, 0], bool)
    lines = detect_sampling(kspace * columns)
    assert lines.line_wise and not lines.fully_sampled
    np.testing.assert_array_equal(lines.columns, columns)
    assert lines.num_low_frequencies == 4 and lines.acceleration == pytest.approx(10 / 6)
    kspace[..., 2, 3] = 0
    assert not detect_sampling(kspace).line_wise


@needs_data
def test_twix_matches_derived_array() -> None:
    """Raw .dat, lines sorted by counter and oversampling removed == the published derived array.

    The match holds without any global phase or scale: the derived array was made the same way.
    """
    twix = read_raw(DATA / "twixtools_gre_phantom_2ch.dat", remove_oversampling=True)
    derived = read_raw(DATA / "twixtools_gre_phantom_2ch_kspace_derived.npy", pe_axis=1)
    assert twix.shape == derived.shape == (1, 2, 160, 160)
    np.testing.assert_allclose(twix, derived, rtol=0, atol=1e-6 * np.abs(derived).max())
    oversampled = read_raw(DATA / "twixtools_gre_phantom_2ch.dat")
    assert oversampled.shape == (1, 2, 320, 160)


@needs_data
def test_real_files_read_like_their_documented_shapes() -> None:
    shapes = {
        "espirit_brain_full_8ch.cfl": (1, 8, 230, 180),
        "bartws2016_brain_poisson_8ch.hdr": (1, 8, 180, 230),
        "sigpy_tutorial_brain_poisson8x_8ch.npy": (1, 8, 230, 180),
        "sparsemri_brain512_1ch_vd.mat": (1, 1, 512, 512),
    }
    for name, shape in shapes.items():
        assert read_raw(DATA / name).shape == shape, name
