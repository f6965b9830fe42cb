"""fastMRI data I/O: headers, writing volumes and submissions, reading slices."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from kspacekit.data import (
    SliceDataset,
    inspect_volume,
    iter_volume_batches,
    make_ismrmrd_header,
    parse_ismrmrd_header,
    read_slice,
    write_submission,
    write_volume,
)
from kspacekit.errors import KspaceKitError
from kspacekit.physics.masks import count_center_lines


def random_kspace(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def test_header_is_schema_valid_and_parses_back() -> None:
    from ismrmrd.xsd import CreateFromDocument

    xml = make_ismrmrd_header((640, 368, 1), (320, 320, 1), center_line=180, max_line=350, num_coils=15,
                              field_strength_t=2.89, vendor="A&B")
    parsed_by_ismrmrd = CreateFromDocument(xml)
    assert parsed_by_ismrmrd.encoding[0].reconSpace.matrixSize.x == 320
    info = parse_ismrmrd_header(xml.encode())
    assert info.encoded_size == (640, 368, 1)
    assert info.recon_size == (320, 320, 1)
    assert (info.padding_left, info.padding_right) == (368 // 2 - 180, 368 // 2 - 180 + 351)
    assert (info.num_coils, info.field_strength_t, info.vendor) == (15, 2.89, "A&B")


def test_header_defaults_mean_no_padding() -> None:
    info = parse_ismrmrd_header(make_ismrmrd_header((64, 37, 1), (32, 32, 1)))
    assert (info.padding_left, info.padding_right) == (0, 37)


@pytest.mark.parametrize("center, maximum", [(30, 20), (10, 40), (-1, 20), (20, 40)])
def test_header_rejects_limits_outside_the_matrix(center: int, maximum: int) -> None:
    with pytest.raises(KspaceKitError, match="do not fit"):
        make_ismrmrd_header((64, 36, 1), (32, 32, 1), center_line=center, max_line=maximum)


def test_parse_header_errors_are_kspacekit_errors() -> None:
    with pytest.raises(KspaceKitError, match="not valid XML"):
        parse_ismrmrd_header(b"<ismrmrdHeader")
    with pytest.raises(KspaceKitError, match="kspace_encoding_step_1"):
        parse_ismrmrd_header(make_ismrmrd_header((8, 8, 1), (8, 8, 1)).replace("kspace_encoding_step_1", "x1"))


def test_write_volume_layout_and_fastmri_attrs(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    kspace = random_kspace(rng, (3, 4, 16, 12))
    target = rng.random((3, 8, 8)).astype(np.float32)
    path = write_volume(tmp_path / "file1.h5", kspace, target=target, attrs={"acquisition": "CORPD_FBK"})
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["kspace"][()], kspace)
        np.testing.assert_array_equal(f["reconstruction_rss"][()], target)
        assert f.attrs["acquisition"] == "CORPD_FBK"
        assert f.attrs["max"] == pytest.approx(target.max())
        assert f.attrs["norm"] == pytest.approx(np.sqrt((target.astype(np.float64) ** 2).sum()))
        info = parse_ismrmrd_header(f["ismrmrd_header"][()])
    assert info.encoded_size == (16, 12, 1)
    assert info.recon_size == (8, 8, 1)
    assert info.num_coils == 4


def test_write_submission_content_and_overwrite(tmp_path: Path) -> None:
    recon = np.random.default_rng(1).random((2, 8, 8)).astype(np.float32)
    path = write_submission(tmp_path, "file1000.h5", recon, attrs={"method": "zero_filled"})
    assert path == tmp_path / "file1000.h5"
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["reconstruction"][()], recon)
        assert f.attrs["method"] == "zero_filled"
    with pytest.raises(KspaceKitError, match="exists") as err:
        write_submission(tmp_path, "file1000.h5", recon * 2)
    assert "file1000.h5" in str(err.value)
    write_submission(tmp_path, "file1000.h5", recon * 2, overwrite=True)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["reconstruction"][()], recon * 2)


# ----------------------------------------------------------------------------- reading

SLICES, COILS, HEIGHT, WIDTH = 5, 3, 20, 16


def test_mask() -> np.ndarray:
    """Columns 6..9 (4 centre lines around W // 2 = 8) plus every 4th column."""
    mask = np.zeros(WIDTH, dtype=np.float32)
    mask[::4] = 1
    mask[6:10] = 1
    return mask


test_mask.__test__ = False  # a helper, not a test


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """One tiny file of each kind, each in its own folder (fastMRI's SliceDataset reads folders)."""
    rng = np.random.default_rng(0)
    made = {}

    def folder(name: str) -> Path:
        (tmp_path / name).mkdir()
        return tmp_path / name / f"{name}.h5"

    kspace = random_kspace(rng, (SLICES, COILS, HEIGHT, WIDTH))
    header = make_ismrmrd_header((HEIGHT, WIDTH, 1), (8, 6, 1), center_line=7, max_line=13, num_coils=COILS)
    made["train"] = write_volume(
        folder("train"), kspace, target=rng.random((SLICES, 8, 6)), header=header,
        attrs={"acquisition": "CORPD_FBK", "patient_id": "abc"},
    )
    single = random_kspace(rng, (SLICES, HEIGHT, WIDTH))
    made["single"] = write_volume(folder("single"), single, target=rng.random((SLICES, 10, 10)),
                                  target_key="reconstruction_esc")
    with h5py.File(made["single"], "a") as f:  # fastMRI single-coil files also hold an RSS target
        f["reconstruction_rss"] = rng.random((SLICES, 10, 10)).astype(np.float32)
    made["test"] = write_volume(
        folder("test"), kspace * test_mask(), mask=test_mask(), header=make_ismrmrd_header((HEIGHT, WIDTH, 1), (12, 12, 1)),
        attrs={"acceleration": 4, "num_low_frequency": 4, "acquisition": "AXT2"},
    )
    made["course"] = folder("course")
    with h5py.File(made["course"], "w") as f:
        f["kspace_4af"] = kspace * test_mask()
        f["mask_4af"] = test_mask().astype(bool)
        mask8 = np.zeros(WIDTH, dtype=np.float32)
        mask8[[0, 7, 8, 15]] = 1
        f["kspace_8af"] = kspace * mask8
    made["raw"] = folder("raw")
    with h5py.File(made["raw"], "w") as f:
        f["kspace"] = kspace
    return made


def test_inspect_describes_each_kind(files: dict[str, Path]) -> None:
    train = inspect_volume(files["train"])
    assert (train.kind, train.multicoil, train.num_slices, train.num_coils) == ("train", True, SLICES, COILS)
    assert train.kspace_shape == (SLICES, COILS, HEIGHT, WIDTH)
    assert train.target_key == "reconstruction_rss" and train.target_size == (8, 6)
    assert train.padding == (1, 15)
    assert train.attrs["acquisition"] == "CORPD_FBK" and train.attrs["patient_id"] == "abc"
    assert train.mask is None

    single = inspect_volume(files["single"])
    assert (single.kind, single.multicoil, single.num_coils) == ("train", False, 1)
    assert single.target_key == "reconstruction_esc"

    test = inspect_volume(files["test"])
    assert test.kind == "test" and test.target_key is None
    assert test.target_size == (12, 12)  # the header's reconSpace (x, y), fastMRI's crop size
    np.testing.assert_array_equal(test.mask, test_mask())
    assert test.attrs["acceleration"] == 4

    course = inspect_volume(files["course"])
    assert course.kind == "course" and course.kspace_keys == ("kspace_4af", "kspace_8af")
    assert set(course.masks) == {"kspace_4af"}

    raw = inspect_volume(files["raw"])
    assert raw.kind == "raw" and raw.header is None
    assert raw.target_size == (HEIGHT, WIDTH) and raw.padding == (0, WIDTH)


def test_round_trip_slice_by_slice(files: dict[str, Path]) -> None:
    with h5py.File(files["train"], "r") as f:
        kspace, target, max_value = f["kspace"][()], f["reconstruction_rss"][()], f.attrs["max"]
    info = inspect_volume(files["train"])
    for index in range(SLICES):
        sample = read_slice(info, index)
        assert sample.kspace.dtype == torch.complex64 and sample.kspace.shape == (COILS, HEIGHT, WIDTH)
        np.testing.assert_array_equal(sample.kspace.numpy(), kspace[index])
        np.testing.assert_array_equal(sample.target.numpy(), target[index])
        assert sample.mask is None and sample.num_low_frequencies is None
        assert (sample.fname, sample.slice_num, sample.max_value) == ("train.h5", index, pytest.approx(max_value))
        assert sample.target_size == (8, 6) and sample.padding == (1, 15)


def test_single_coil_slice_has_one_coil(files: dict[str, Path]) -> None:
    sample = read_slice(inspect_volume(files["single"]), 2)
    assert sample.kspace.shape == (1, HEIGHT, WIDTH)
    with h5py.File(files["single"], "r") as f:
        np.testing.assert_array_equal(sample.kspace[0].numpy(), f["kspace"][2])
        np.testing.assert_array_equal(sample.target.numpy(), f["reconstruction_esc"][2])


def test_test_file_mask_and_metadata(files: dict[str, Path]) -> None:
    sample = read_slice(inspect_volume(files["test"]), 1)
    assert sample.mask.dtype == torch.float32
    np.testing.assert_array_equal(sample.mask.numpy(), test_mask())
    assert (sample.num_low_frequencies, sample.acceleration) == (4, 4.0)
    assert sample.target is None


def test_course_masks_stored_or_derived(files: dict[str, Path]) -> None:
    info = inspect_volume(files["course"])
    four = read_slice(info, 0)  # default key: the first available variant
    assert four.kspace_key == "kspace_4af" and four.acceleration == 4.0
    np.testing.assert_array_equal(four.mask.numpy(), test_mask())
    assert four.num_low_frequencies == 4
    eight = read_slice(info, 3, kspace_key="kspace_8af")
    np.testing.assert_array_equal(np.flatnonzero(eight.mask.numpy()), [0, 7, 8, 15])
    assert (eight.acceleration, eight.num_low_frequencies) == (8.0, 2)
    with pytest.raises(KspaceKitError, match="course.h5.*no k-space 'kspace'"):
        read_slice(info, 0, kspace_key="kspace")


@pytest.mark.parametrize(
    "mask, expected",
    [([1, 1, 1, 1], 4), ([0, 0, 0, 0], 0), ([1, 0, 1, 1, 0, 1], 2), ([0, 1, 1, 1, 1, 1, 0, 1], 5), ([1, 0, 0, 1, 1], 0), ([0, 0, 1, 1, 1], 3)],
)
def test_count_center_lines(mask: list[int], expected: int) -> None:
    assert count_center_lines(np.array(mask, dtype=np.float32)) == expected


def test_fastmri_slice_dataset_reads_our_files_identically(files: dict[str, Path], tmp_path: Path) -> None:
    from fastmri.data.mri_data import SliceDataset as FastMRISliceDataset

    for name, challenge in [("train", "multicoil"), ("test", "multicoil"), ("single", "singlecoil")]:
        theirs = FastMRISliceDataset(files[name].parent, challenge=challenge, transform=None,
                                     dataset_cache_file=tmp_path / "cache.pkl")
        ours = SliceDataset(files[name].parent, challenge=challenge)
        assert len(theirs) == len(ours) == SLICES
        metadata = theirs.raw_samples[0].metadata
        info = ours.volumes[0]
        assert info.padding == (metadata["padding_left"], metadata["padding_right"])
        assert info.header.encoded_size == metadata["encoding_size"]
        assert info.header.recon_size == metadata["recon_size"]
        if info.target_key is None:
            assert info.target_size == (metadata["recon_size"][0], metadata["recon_size"][1])
        kspace, mask, target, attrs, fname, slice_num = theirs[3]
        sample = ours[3]
        np.testing.assert_array_equal(sample.kspace.numpy().reshape(kspace.shape), kspace)
        assert (sample.fname, sample.slice_num) == (fname, slice_num)
        if mask is None:
            assert sample.mask is None
        else:
            np.testing.assert_array_equal(sample.mask.numpy(), mask)
        if target is None:
            assert sample.target is None
        else:
            np.testing.assert_array_equal(sample.target.numpy(), target)
            assert sample.target_size == target.shape
            assert sample.max_value == pytest.approx(attrs["max"])
    assert not (tmp_path / "cache.pkl").exists()


def record_dataset_reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    """Wrap h5py's Dataset indexing to record every (dataset name, index) read."""
    reads: list[tuple[str, object]] = []
    original = h5py.Dataset.__getitem__

    def recording(self: h5py.Dataset, args: object, **kwargs: object) -> object:
        reads.append((self.name, args))
        return original(self, args, **kwargs)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", recording)
    return reads


def test_read_slice_reads_only_that_slice(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    info = inspect_volume(files["train"])
    reads = record_dataset_reads(monkeypatch)
    read_slice(info, 2)
    assert reads == [("/kspace", slice(2, 3)), ("/reconstruction_rss", slice(2, 3))]


def test_volume_batches_stream_consecutive_slices(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    info = inspect_volume(files["test"])
    with h5py.File(files["test"], "r") as f:
        kspace = f["kspace"][()]
    reads = record_dataset_reads(monkeypatch)
    batches = list(iter_volume_batches(info, batch_size=2))
    assert [b.slice_indices for b in batches] == [[0, 1], [2, 3], [4]]
    assert reads == [("/kspace", slice(0, 2)), ("/kspace", slice(2, 4)), ("/kspace", slice(4, 5))]
    np.testing.assert_array_equal(torch.cat([b.kspace for b in batches]).numpy(), kspace)
    assert batches[0].mask.shape == (2, WIDTH) and batches[2].mask.shape == (1, WIDTH)
    np.testing.assert_array_equal(batches[1].mask[1].numpy(), test_mask())
    assert (batches[0].num_low_frequencies, batches[0].acceleration) == (4, 4.0)
    single = list(iter_volume_batches(inspect_volume(files["single"]), batch_size=3))
    assert single[0].kspace.shape == (3, 1, HEIGHT, WIDTH) and single[0].target.shape == (3, 10, 10)


def test_slice_dataset_over_folder_and_file_list(files: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "all"
    folder.mkdir()
    for name in ("train", "test", "raw"):
        (folder / f"{name}.h5").write_bytes(files[name].read_bytes())
    dataset = SliceDataset(folder)
    assert [v.path.name for v in dataset.volumes] == ["raw.h5", "test.h5", "train.h5"]
    assert dataset.samples == [(v, s) for v in range(3) for s in range(SLICES)]
    assert dataset[SLICES + 1].fname == "test.h5" and dataset[SLICES + 1].slice_num == 1

    subset = SliceDataset([folder / "train.h5", folder / "raw.h5"], transform=lambda sample: sample.fname)
    assert [subset[i] for i in range(len(subset))] == ["train.h5"] * SLICES + ["raw.h5"] * SLICES

    by_slice = SliceDataset(folder, sample_rate=0.4, seed=3)
    assert len(by_slice) == 6 and by_slice.samples == SliceDataset(folder, sample_rate=0.4, seed=3).samples
    by_volume = SliceDataset(folder, volume_sample_rate=0.34)
    assert len(by_volume.volumes) == 1 and len(by_volume) == SLICES
    with pytest.raises(KspaceKitError, match="not both"):
        SliceDataset(folder, sample_rate=0.5, volume_sample_rate=0.5)
    with pytest.raises(KspaceKitError, match="sample_rate must be in"):
        SliceDataset(folder, sample_rate=0.0)
    with pytest.raises(KspaceKitError, match="single.h5.*not multicoil"):
        SliceDataset(files["single"], challenge="multicoil")
    (tmp_path / "empty").mkdir()
    with pytest.raises(KspaceKitError, match="empty: no .h5 files"):
        SliceDataset(tmp_path / "empty")


# ----------------------------------------------------------------------------- bad input


def write_h5(path: Path, **datasets: np.ndarray) -> Path:
    with h5py.File(path, "w") as f:
        for key, value in datasets.items():
            f[key] = value
    return path


def test_bad_files_name_the_file_and_the_problem(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    good = random_kspace(rng, (2, 3, 8, 6))
    truncated = write_volume(tmp_path / "truncated.h5", good)
    truncated.write_bytes(truncated.read_bytes()[:1000])
    (tmp_path / "text.h5").write_text("not hdf5")
    (tmp_path / "folder.h5").mkdir()
    bad_header = write_volume(tmp_path / "bad_header.h5", good, header="<ismrmrdHeader")
    cases = {
        tmp_path / "missing.h5": "file not found",
        tmp_path / "folder.h5": "is a directory",
        tmp_path / "text.h5": "not an HDF5 file",
        truncated: "truncated or corrupt",
        write_h5(tmp_path / "nokspace.h5", image=np.zeros((2, 8, 6))): "no k-space dataset",
        write_h5(tmp_path / "rank2.h5", kspace=good[0, 0]): "must be .* got \\(8, 6\\)",
        write_h5(tmp_path / "rank5.h5", kspace=good[None]): "must be .* got \\(1, 2, 3, 8, 6\\)",
        write_h5(tmp_path / "real.h5", kspace=good.real): "must be complex, got dtype float32",
        write_h5(tmp_path / "mask.h5", kspace=good, mask=np.ones(8)): "'mask' must be 1-D with W=6 columns",
        write_h5(tmp_path / "mask2d.h5", kspace=good, mask=np.ones((8, 6))): "'mask' must be 1-D",
        write_h5(tmp_path / "target.h5", kspace=good, reconstruction_rss=np.ones((3, 4, 4))): "with 2 slices",
        bad_header: "ISMRMRD header is not valid XML",
        write_h5(tmp_path / "empty.h5", kspace=good[:0]): "'kspace' is empty",
        write_h5(tmp_path / "mixed.h5", kspace_4af=good, kspace_8af=good[:1]): "differ in shape",
    }
    for path, problem in cases.items():
        with pytest.raises(KspaceKitError, match=problem) as err:
            inspect_volume(path)
        assert str(err.value).startswith(f"{path}: "), str(err.value)


def test_nonfinite_slice_names_file_and_slice(tmp_path: Path) -> None:
    kspace = random_kspace(np.random.default_rng(3), (3, 2, 8, 6))
    kspace[2, 1, 4, 4] = np.nan
    info = inspect_volume(write_volume(tmp_path / "nan.h5", kspace))
    read_slice(info, 1)
    with pytest.raises(KspaceKitError, match=r"nan.h5: slice 2 of 'kspace' contains NaN or Inf"):
        read_slice(info, 2)
    with pytest.raises(KspaceKitError, match="nan.h5: slice 2"):
        list(iter_volume_batches(info, batch_size=2))
    with pytest.raises(KspaceKitError, match="nan.h5: slices 3:4 out of range"):
        read_slice(info, 3)
    info.path.write_bytes(info.path.read_bytes()[:1000])  # the file changed after inspection
    with pytest.raises(KspaceKitError, match="nan.h5: cannot read slices 0:1, truncated or corrupt"):
        read_slice(info, 0)


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    kspace = random_kspace(np.random.default_rng(4), (2, 8, 6))
    with pytest.raises(TypeError):
        write_volume(tmp_path / "out.h5", kspace, attrs={"unstorable": None})
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(KspaceKitError, match="must be complex"):
        write_volume(tmp_path / "out.h5", kspace.real)
    with pytest.raises(KspaceKitError, match="out.h5: reconstruction contains NaN"):
        write_submission(tmp_path, "out.h5", np.full((1, 4, 4), np.nan))
    assert list(tmp_path.iterdir()) == []
    path = write_volume(tmp_path / "out.h5", kspace)
    with pytest.raises(KspaceKitError, match="out.h5: output exists"):
        write_volume(path, kspace * 0)
    np.testing.assert_array_equal(inspect_volume(path).kspace_shape, kspace.shape)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["kspace"][()], kspace)
