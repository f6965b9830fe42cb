"""fastMRI data I/O: headers, writing volumes and submissions, reading slices."""

from __future__ import annotations

import xml.etree.ElementTree as etree
from pathlib import Path

import h5py
import numpy as np
import pytest

from kspacekit.data import make_ismrmrd_header, parse_ismrmrd_header, write_submission, write_volume
from kspacekit.errors import KspaceKitError


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
