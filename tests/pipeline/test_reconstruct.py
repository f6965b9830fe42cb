"""End-to-end zero-filled reconstruction: parity with fastMRI's pipeline, file kinds, bad input."""

from __future__ import annotations

from pathlib import Path

import fastmri
import h5py
import numpy as np
import torch
from conftest import run_cli, synthetic_kspace
from fastmri.data.subsample import create_mask_for_mask_type
from fastmri.data.transforms import center_crop as fastmri_center_crop

from kspacekit.data import write_volume
from kspacekit.physics.masks import file_seed


def fastmri_zero_filled(kspace: np.ndarray, fname: str, target_size, acceleration=4, fraction=0.08):
    """fastMRI's own zero-filled baseline: mask seeded by file name, ifft2c, abs, RSS, crop."""
    mask_func = create_mask_for_mask_type("random", [fraction], [acceleration])
    k = torch.view_as_real(torch.from_numpy(kspace))
    mask, _ = mask_func((1,) * (k.ndim - 3) + tuple(k.shape[-3:]), seed=file_seed(fname))
    image = fastmri.complex_abs(fastmri.ifft2c(k * mask + 0.0))
    return fastmri_center_crop(fastmri.rss(image, dim=1), target_size).numpy()


def test_zero_filled_matches_fastmri(train_dir: Path, tmp_path: Path):
    out = tmp_path / "out"
    run_cli("reconstruct", "-i", str(train_dir), "-o", str(out), "--method", "zero-filled", check_rc=0)
    for path in sorted(train_dir.glob("*.h5")):
        with h5py.File(path) as f:
            kspace, target = f["kspace"][()], f["reconstruction_rss"][()]
        with h5py.File(out / path.name) as f:
            ours = f["reconstruction"][()]
            assert f.attrs["method"] == "zero-filled" and f.attrs["acceleration"] == 4.0
        expected = fastmri_zero_filled(kspace, path.name, target.shape[-2:])
        assert ours.dtype == np.float32 and ours.shape == target.shape
        np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-6 * expected.max())
        assert not np.allclose(ours, target, rtol=1e-2)  # undersampling really happened


def test_test_file_uses_its_own_mask(tmp_path: Path):
    kspace = synthetic_kspace(2, 3, 40, 32)
    mask = np.zeros(32, np.float32)
    mask[[2, 9, 14, 15, 16, 17, 25]] = 1
    write_volume(tmp_path / "test.h5", kspace * mask, mask=mask,
                 attrs={"acceleration": 4, "num_low_frequency": 4})
    run_cli("reconstruct", "-i", str(tmp_path / "test.h5"), "-o", str(tmp_path / "o"), check_rc=0)
    with h5py.File(tmp_path / "o" / "test.h5") as f:
        ours = f["reconstruction"][()]
        assert f.attrs["mask"] == "file"
    image = fastmri.complex_abs(fastmri.ifft2c(torch.view_as_real(torch.from_numpy(kspace * mask))))
    np.testing.assert_allclose(ours, fastmri.rss(image, dim=1).numpy(), rtol=1e-4, atol=1e-6)


def test_course_file_variants(tmp_path: Path):
    kspace = synthetic_kspace(2, 3, 40, 32)
    masks = {r: (np.arange(32) % r == 0) | (abs(np.arange(32) - 16) < 3) for r in (4, 8)}
    write_course = {"kspace_4af": kspace * masks[4], "kspace_8af": kspace * masks[8]}
    path = tmp_path / "course.h5"
    with h5py.File(path, "w") as f:
        for key, value in write_course.items():
            f.create_dataset(key, data=value.astype(np.complex64))
    for key in write_course:
        out = tmp_path / key
        run_cli("reconstruct", "-i", str(path), "-o", str(out), "--kspace-key", key, check_rc=0)
        with h5py.File(out / "course.h5") as f:
            assert f.attrs["acceleration"] == float(key[7])
            assert f["reconstruction"].shape == (2, 40, 32)


def test_bad_file_among_good_ones_is_reported(train_dir: Path, tmp_path: Path):
    (train_dir / "broken.h5").write_bytes(b"not hdf5 at all")
    out = tmp_path / "out"
    result = run_cli("reconstruct", "-i", str(train_dir), "-o", str(out), check_rc=1)
    assert "broken.h5" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["file_a.h5", "file_b.h5"]


def test_single_bad_input_exits_2_without_output(tmp_path: Path):
    bad = tmp_path / "nan.h5"
    kspace = synthetic_kspace(2, 2, 16, 16)
    kspace[1, 0, 3, 3] = np.nan
    write_volume(bad, kspace)
    for args, needle in [
        (["-i", str(bad)], "NaN"),
        (["-i", str(tmp_path / "missing.h5")], "no such file"),
        (["-i", str(bad), "--acceleration", "0.5"], "acceleration"),
        (["-i", str(bad), "--center-fraction", "1.5"], "center"),
        (["-i", str(bad), "--method", "nonsense"], "unknown method"),
    ]:
        result = run_cli("reconstruct", *args, "-o", str(tmp_path / "o"), check_rc=2)
        assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_existing_output_needs_overwrite(train_dir: Path, tmp_path: Path):
    out = tmp_path / "out"
    run_cli("reconstruct", "-i", str(train_dir / "file_a.h5"), "-o", str(out), check_rc=0)
    before = (out / "file_a.h5").read_bytes()
    result = run_cli("reconstruct", "-i", str(train_dir / "file_a.h5"), "-o", str(out), "--seed", "3", check_rc=2)
    assert "--overwrite" in result.stderr and (out / "file_a.h5").read_bytes() == before
    run_cli("reconstruct", "-i", str(train_dir / "file_a.h5"), "-o", str(out), "--seed", "3", "--overwrite", check_rc=0)
    assert (out / "file_a.h5").read_bytes() != before
