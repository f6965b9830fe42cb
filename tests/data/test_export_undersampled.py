"""``kspacekit export --format fastmri-test|fastmri-course``: fully sampled files undersampled into
fastMRI test files and course files, with fastMRI's masks seeded by the file name."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from conftest import run_cli, write_train_file
from fastmri.data.subsample import RandomMaskFunc

from kspacekit.data import read_slice
from kspacekit.data.export import write_undersampled_files
from kspacekit.errors import KspaceKitError


@pytest.fixture
def full(tmp_path):
    for name in ("file_a.h5", "file_b.h5"):
        write_train_file(tmp_path / "full" / name, slices=2, coils=3, height=32, width=40, seed=len(name))
    return tmp_path / "full"


def fastmri_mask(fname: str, acceleration: int, center_fraction: float, width: int) -> np.ndarray:
    """fastMRI's fixed validation mask of a file: RandomMaskFunc seeded with the name's code points."""
    mask, _ = RandomMaskFunc([center_fraction], [acceleration])((1, width, 1), seed=tuple(map(ord, fname)))
    return mask.numpy().reshape(-1).astype(bool)


def test_test_files_hold_masked_kspace_mask_and_attributes_as_fastmri(full, tmp_path):
    result = run_cli("export", str(full), str(tmp_path / "test"), "--format", "fastmri-test", "--acceleration", "8",
                     check_rc=0)
    assert "wrote 2 fastmri-test file(s)" in result.stdout
    for name in ("file_a.h5", "file_b.h5"):
        expected = fastmri_mask(name, 8, 0.04, 40)
        with h5py.File(tmp_path / "test" / name) as f, h5py.File(full / name) as source:
            assert set(f) == {"kspace", "mask", "ismrmrd_header"}
            np.testing.assert_array_equal(f["mask"][()], expected)
            np.testing.assert_array_equal(f["kspace"][()], source["kspace"][()] * expected)
            assert f.attrs["acceleration"] == 8 and f.attrs["num_low_frequency"] == round(40 * 0.04)
            assert f.attrs["patient_id"] == source.attrs["patient_id"] and "max" not in f.attrs
        sample = read_slice(tmp_path / "test" / name, 1)
        assert sample.target is None and sample.acceleration == 8
        np.testing.assert_array_equal(sample.mask.numpy().astype(bool), expected)


def test_course_files_hold_both_accelerations_and_the_target(full, tmp_path):
    [path] = write_undersampled_files(full / "file_a.h5", tmp_path / "course", "fastmri-course")
    with h5py.File(path) as f, h5py.File(full / "file_a.h5") as source:
        assert set(f) == {"kspace_4af", "mask_4af", "kspace_8af", "mask_8af", "reconstruction_rss", "ismrmrd_header"}
        for rate, fraction in ((4, 0.08), (8, 0.04)):
            expected = fastmri_mask("file_a.h5", rate, fraction, 40)
            np.testing.assert_array_equal(f[f"mask_{rate}af"][()], expected)
            np.testing.assert_array_equal(f[f"kspace_{rate}af"][()], source["kspace"][()] * expected)
        np.testing.assert_array_equal(f["reconstruction_rss"][()], source["reconstruction_rss"][()])
        assert f.attrs["max"] == source.attrs["max"]
    sample = read_slice(path, 0, "kspace_8af")
    assert sample.target is not None and sample.mask.sum() < read_slice(path, 0, "kspace_4af").mask.sum()
    # another seed draws other masks; the output folder is written whole or not at all
    [other] = write_undersampled_files(full / "file_a.h5", tmp_path / "seeded", "fastmri-course", seed=5)
    with h5py.File(other) as f, h5py.File(path) as g:
        assert not np.array_equal(f["mask_4af"][()], g["mask_4af"][()])
    (full / "broken.h5").write_bytes(b"not hdf5")
    with pytest.raises(KspaceKitError, match="broken.h5"):
        write_undersampled_files(full, tmp_path / "partial", "fastmri-test")
    assert not (tmp_path / "partial").exists()
