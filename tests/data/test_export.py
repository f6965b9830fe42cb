"""Export round trips: NIfTI (nibabel), DICOM (pydicom) and PNG read back as the float volume they came from."""

from __future__ import annotations

import xml.etree.ElementTree as etree
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pydicom
import pytest
from conftest import run_cli, write_train_file
from PIL import Image

from kspacekit.data import make_ismrmrd_header, write_submission
from kspacekit.data.header import ISMRMRD_NAMESPACE

ROW_MM, COL_MM, SLICE_MM = 0.5, 0.625, 3.0


def header_with_fov(rows: int, cols: int) -> str:
    """An ISMRMRD header whose recon field of view gives ROW_MM x COL_MM pixels and SLICE_MM slices."""
    root = etree.fromstring(make_ismrmrd_header((2 * rows, cols, 1), (rows, cols, 1)))
    ns = {"m": ISMRMRD_NAMESPACE}
    fov = root.find(".//m:reconSpace/m:fieldOfView_mm", ns)
    for axis, mm in zip("xyz", (rows * ROW_MM, cols * COL_MM, SLICE_MM), strict=True):
        fov.find(f"m:{axis}", ns).text = str(mm)
    return etree.tostring(root, encoding="unicode")


@pytest.fixture
def volume() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.random((4, 24, 20)) * 3e-4).astype(np.float32)  # fastMRI-like small magnitudes


@pytest.fixture
def target_file(tmp_path: Path, volume: np.ndarray) -> Path:
    """A fastMRI-layout file with k-space, the target ``reconstruction_rss`` and a header with a real FOV."""
    path = tmp_path / "target.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=np.zeros((4, 2, 48, 20), np.complex64))
        f.create_dataset("reconstruction_rss", data=volume)
        f.create_dataset("ismrmrd_header", data=header_with_fov(24, 20).encode())
        f.attrs["patient_id"] = "abc123"
    return path


@pytest.fixture
def submission(tmp_path: Path, volume: np.ndarray) -> Path:
    return write_submission(tmp_path / "recon", "file1.h5", volume)


def test_nifti_round_trip_keeps_values_and_header_voxel_size(target_file: Path, volume: np.ndarray, tmp_path: Path):
    out = tmp_path / "vol.nii.gz"
    run_cli("export", "--format", "nifti", str(target_file), str(out), check_rc=0)
    image = nib.load(out)
    assert image.shape == (20, 24, 4)  # (cols, rows, slices)
    assert image.header.get_zooms() == pytest.approx((COL_MM, ROW_MM, SLICE_MM))
    assert np.diag(image.affine)[:3] == pytest.approx((COL_MM, ROW_MM, SLICE_MM))
    back = np.asarray(image.dataobj).transpose(2, 1, 0)[:, ::-1, :]
    np.testing.assert_array_equal(back, volume)


def test_nifti_without_header_is_1mm(submission: Path, tmp_path: Path):
    out = tmp_path / "vol.nii"
    result = run_cli("export", str(submission), str(out), check_rc=0)
    assert "1 mm assumed" in result.stdout
    assert nib.load(out).header.get_zooms() == (1.0, 1.0, 1.0)


def test_reconstruction_keeps_the_input_voxel_size(target_file: Path, tmp_path: Path):
    """reconstruct copies the input's ISMRMRD header, so exports of its output are not 1 mm guesses."""
    with h5py.File(target_file, "r+") as f:
        f["kspace"][...] = np.random.default_rng(1).standard_normal((4, 2, 48, 20)).astype(np.complex64)
    recon = tmp_path / "recon"
    run_cli("reconstruct", "-i", str(target_file), "-o", str(recon), "--method", "zero-filled", check_rc=0)
    out = tmp_path / "recon.nii"
    result = run_cli("export", str(recon / target_file.name), str(out), check_rc=0)
    assert "assumed" not in result.stdout
    assert nib.load(out).header.get_zooms() == pytest.approx((COL_MM, ROW_MM, SLICE_MM))


def test_dicom_series_reads_back_within_quantisation(target_file: Path, volume: np.ndarray, tmp_path: Path):
    out = tmp_path / "dicom"
    run_cli("export", "-f", "dicom", str(target_file), str(out), check_rc=0)
    files = sorted(out.glob("*.dcm"))
    assert len(files) == len(volume)
    datasets = [pydicom.dcmread(f) for f in files]
    assert {d.Modality for d in datasets} == {"MR"}
    assert len({d.SOPInstanceUID for d in datasets}) == len(files)
    assert len({d.SeriesInstanceUID for d in datasets}) == 1
    assert len({d.StudyInstanceUID for d in datasets}) == 1
    assert all(d.file_meta.MediaStorageSOPInstanceUID == d.SOPInstanceUID for d in datasets)
    assert [d.InstanceNumber for d in datasets] == list(range(1, len(files) + 1))
    for index, d in enumerate(datasets):
        assert d.pixel_array.dtype == np.uint16
        assert [float(v) for v in d.PixelSpacing] == pytest.approx([ROW_MM, COL_MM])
        assert float(d.ImagePositionPatient[2]) == pytest.approx(index * SLICE_MM)
        restored = d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept)
        np.testing.assert_allclose(restored, volume[index], rtol=0, atol=float(d.RescaleSlope) * 0.5001)
    assert datasets[0].PatientID == "abc123"


def test_dicom_keeps_negative_values_with_an_intercept(tmp_path: Path):
    values = np.linspace(-2.0, 5.0, 2 * 8 * 8, dtype=np.float32).reshape(2, 8, 8)
    path = write_submission(tmp_path, "signed.h5", values)
    run_cli("export", "-f", "dicom", str(path), str(tmp_path / "dcm"), check_rc=0)
    for index, f in enumerate(sorted((tmp_path / "dcm").glob("*.dcm"))):
        d = pydicom.dcmread(f)
        restored = d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept)
        np.testing.assert_allclose(restored, values[index], atol=float(d.RescaleSlope))


def test_png_one_8bit_file_per_slice_windowed_to_the_volume(submission: Path, volume: np.ndarray, tmp_path: Path):
    out = tmp_path / "png"
    run_cli("export", "--format", "png", str(submission), str(out), check_rc=0)
    files = sorted(out.glob("*.png"))
    assert len(files) == len(volume)
    images = [np.asarray(Image.open(f)) for f in files]
    assert all(image.dtype == np.uint8 and image.shape == (24, 20) for image in images)
    stack = np.stack(images)
    assert stack.min() == 0 and stack.max() == 255
    expected = (volume - volume.min()) / (volume.max() - volume.min()) * 255
    assert np.abs(stack - expected).max() <= 0.5 + 1e-3


def test_key_chooses_the_dataset(tmp_path: Path):
    path = write_train_file(tmp_path / "train.h5")
    run_cli("export", "--key", "reconstruction_rss", "-f", "png", str(path), str(tmp_path / "png"), check_rc=0)
    assert len(list((tmp_path / "png").glob("*.png"))) == 3
    result = run_cli("export", "--key", "reconstruction", str(path), str(tmp_path / "x.nii"), check_rc=2)
    assert "no dataset 'reconstruction'" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.h5", "out.nii"], "file not found"),
        (["notes.txt", "out.nii"], "not an HDF5 file"),
        (["-f", "jpeg", "sub.h5", "out"], "unknown format"),
        (["sub.h5", "out.png"], "must end in .nii"),
        (["train.h5", "out.nii"], "no image dataset"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, submission: Path, args: list[str], message: str):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "sub.h5").write_bytes(submission.read_bytes())
    with h5py.File(tmp_path / "train.h5", "w") as f:
        f.create_dataset("kspace", data=np.zeros((1, 4, 4), np.complex64))
    result = run_cli("export", *[str(tmp_path / a) if a.endswith((".h5", ".txt", ".nii", ".png", "out")) else a for a in args])
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("out*"))


def test_no_overwrite_without_flag_and_no_replacing_foreign_folders(submission: Path, tmp_path: Path):
    out = tmp_path / "png"
    run_cli("export", "-f", "png", str(submission), str(out), check_rc=0)
    result = run_cli("export", "-f", "png", str(submission), str(out), check_rc=2)
    assert "--overwrite" in result.stderr
    run_cli("export", "-f", "png", "--overwrite", str(submission), str(out), check_rc=0)

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    result = run_cli("export", "-f", "dicom", "--overwrite", str(submission), str(foreign), check_rc=2)
    assert "did not write" in result.stderr
    assert (foreign / "thesis.tex").read_text() == "precious"

    nifti = tmp_path / "v.nii"
    run_cli("export", str(submission), str(nifti), check_rc=0)
    assert "--overwrite" in run_cli("export", str(submission), str(nifti), check_rc=2).stderr
