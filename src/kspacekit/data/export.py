"""Export image volumes of fastMRI-layout HDF5 files to NIfTI, DICOM or PNG for viewers and PACS.

The volume is a dataset ``(slices, rows, cols)`` of magnitude images: ``reconstruction`` in a
submission file (what ``kspacekit reconstruct`` and ``kspacekit benchmark`` write), or the
target ``reconstruction_rss`` / ``reconstruction_esc`` of a fastMRI file.

Voxel size: row and column spacing = the ISMRMRD header's recon field of view / recon matrix
(``x`` along rows, ``y`` along columns), slice spacing = its ``z`` field of view / matrix (the
slice thickness in fastMRI headers). Files without a header (submission files) get 1 mm, which
the exporters record as unknown where the format allows (NIfTI ``descrip``, DICOM
``ImageComments``). Patient orientation is unknown: images keep their array orientation.
This module does not import torch, so ``kspacekit export`` starts quickly.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from kspacekit.data.header import header_spacing
from kspacekit.data.layout import (
    PREDICTION_KEY,
    TARGET_KEYS,
    check_h5_file,
    h5_dataset,
    is_real_number,
    read_header_xml,
)
from kspacekit.errors import HDF5_READ_ERRORS, KspaceKitError, describe_read_error
from kspacekit.outputs import atomic_directory, atomic_path

IMAGE_KEYS = (PREDICTION_KEY, *TARGET_KEYS)
FORMATS = ("nifti", "dicom", "png")
DEFAULT_SPACING_MM = 1.0
DICOM_MAX = 65535


@dataclass(frozen=True)
class ImageVolume:
    """A float32 magnitude volume (slices, rows, cols), its voxel size in mm and where it came from.

    ``spacing`` is (row, col, slice) spacing; ``spacing_known`` is False when it is the 1 mm default.
    """

    data: np.ndarray
    spacing: tuple[float, float, float]
    spacing_known: bool
    source: Path
    key: str
    patient_id: str | None = None


def read_image_volume(path: str | Path, key: str | None = None) -> ImageVolume:
    """Read the image volume of ``path``: dataset ``key``, else the first of :data:`IMAGE_KEYS` present."""
    path = Path(path)
    check_h5_file(path)
    try:
        with h5py.File(path, "r") as hf:
            if key is None:
                key = next((k for k in IMAGE_KEYS if k in hf), None)
                if key is None:
                    raise KspaceKitError(f"no image dataset (expected one of {', '.join(IMAGE_KEYS)}; use --key)", path)
            elif key not in hf:
                raise KspaceKitError(f"no dataset '{key}'", path)
            dataset = h5_dataset(hf, key, path)
            if dataset.ndim != 3 or not is_real_number(dataset.dtype) or 0 in dataset.shape:
                raise KspaceKitError(f"'{key}' must be real images (slices, rows, cols), got {dataset.dtype} {dataset.shape}", path)
            data = np.asarray(dataset, dtype=np.float32)
            header_xml = read_header_xml(hf, path)
            spacing = None if header_xml is None else header_spacing(header_xml)
            patient_id = hf.attrs.get("patient_id")
    except HDF5_READ_ERRORS as err:
        raise KspaceKitError(describe_read_error(err), path) from None
    if not np.isfinite(data).all():
        raise KspaceKitError(f"'{key}' contains NaN or Inf", path)
    if isinstance(patient_id, bytes):
        patient_id = patient_id.decode("utf-8", errors="replace")
    return ImageVolume(
        data=data,
        spacing=spacing or (DEFAULT_SPACING_MM,) * 3,
        spacing_known=spacing is not None,
        source=path,
        key=key,
        patient_id=None if patient_id is None else str(patient_id),
    )


def _description(volume: ImageVolume) -> str:
    known = "from the ISMRMRD header" if volume.spacing_known else "unknown, 1 mm assumed"
    return f"kspacekit export of {volume.source.name}:{volume.key}; voxel size {known}"


def nifti_affine(spacing: tuple[float, float, float]) -> np.ndarray:
    """Voxel (i, j, k) = (column, row from the bottom, slice) -> mm; orientation unknown, so axis-aligned."""
    row, col, slice_ = spacing
    return np.diag([col, row, slice_, 1.0])


def to_nifti_array(data: np.ndarray) -> np.ndarray:
    """(slices, rows, cols) -> NIfTI (i=col, j=row bottom-up, k=slice), so viewers show images upright."""
    return np.ascontiguousarray(data.transpose(2, 1, 0)[:, ::-1, :])


def write_nifti(volume: ImageVolume, output: Path, overwrite: bool = False) -> Path:
    """One NIfTI-1 file (.nii or .nii.gz) with float32 voxels and the voxel size in the affine."""
    import nibabel as nib

    if not (output.name.endswith(".nii") or output.name.endswith(".nii.gz")):
        raise KspaceKitError("NIfTI output must end in .nii or .nii.gz", output)
    image = nib.Nifti1Image(to_nifti_array(volume.data), nifti_affine(volume.spacing))
    image.header.set_xyzt_units("mm")
    image.header["descrip"] = _description(volume)[:79].encode()
    suffix = ".nii.gz" if output.name.endswith(".gz") else ".nii"
    with atomic_path(output, overwrite) as tmp:
        named = tmp.with_name(tmp.name + suffix)  # nibabel picks compression from the suffix
        try:
            nib.save(image, named)
            named.replace(tmp)
        finally:
            named.unlink(missing_ok=True)
    return output


def _slice_names(count: int, suffix: str) -> list[str]:
    digits = max(3, len(str(count - 1)))
    return [f"slice_{i:0{digits}d}{suffix}" for i in range(count)]


def _only_files_with_suffix(suffix: str) -> Callable[[Path], bool]:
    """Whether a folder holds only ``*suffix`` files: an earlier export that --overwrite may replace."""
    return lambda folder: all(p.is_file() and p.suffix == suffix for p in folder.iterdir())


def write_png(volume: ImageVolume, output: Path, overwrite: bool = False) -> list[Path]:
    """One 8-bit greyscale PNG per slice, all windowed to the volume's [min, max]."""
    from PIL import Image

    low, high = float(volume.data.min()), float(volume.data.max())
    scale = 255.0 / (high - low) if high > low else 0.0
    pixels = np.round((volume.data - low) * scale).clip(0, 255).astype(np.uint8)
    names = _slice_names(len(pixels), ".png")
    with atomic_directory(output, overwrite, _only_files_with_suffix(".png")) as tmp:
        for name, image in zip(names, pixels, strict=True):
            Image.fromarray(image, mode="L").save(tmp / name)
    return [output / name for name in names]


def dicom_scaling(data: np.ndarray) -> tuple[float, float]:
    """(RescaleSlope, RescaleIntercept) mapping uint16 0..65535 onto the volume's [min, max].

    The slope is rounded to a DICOM decimal string first, so the stored values use exactly the
    slope a reader gets back.
    """
    from pydicom.valuerep import format_number_as_ds

    low, high = float(data.min()), float(data.max())
    intercept = float(format_number_as_ds(low)) if low < 0 else 0.0
    slope = (high - intercept) / DICOM_MAX if high > intercept else 1.0
    return float(format_number_as_ds(slope)), intercept


def write_dicom(volume: ImageVolume, output: Path, overwrite: bool = False) -> list[Path]:
    """One MR DICOM file per slice (16-bit unsigned + rescale), one study and series, generated UIDs."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid
    from pydicom.valuerep import format_number_as_ds

    def ds(value: float) -> str:
        return format_number_as_ds(float(value))

    slope, intercept = dicom_scaling(volume.data)
    stored = np.round((volume.data.astype(np.float64) - intercept) / slope).clip(0, DICOM_MAX).astype(np.uint16)
    row_mm, col_mm, slice_mm = volume.spacing
    now = datetime.datetime.now()
    study_uid, series_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    names = _slice_names(len(stored), ".dcm")
    with atomic_directory(output, overwrite, _only_files_with_suffix(".dcm")) as tmp:
        for index, (name, pixels) in enumerate(zip(names, stored, strict=True)):
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = MRImageStorage
            meta.MediaStorageSOPInstanceUID = generate_uid()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            image = Dataset()
            image.file_meta = meta
            image.SOPClassUID = MRImageStorage
            image.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
            image.StudyInstanceUID, image.SeriesInstanceUID, image.FrameOfReferenceUID = study_uid, series_uid, frame_uid
            image.Modality = "MR"
            image.ImageType = ["DERIVED", "SECONDARY"]
            image.Manufacturer = "kspacekit"
            image.PatientName = "Anonymous"
            image.PatientID = volume.patient_id or "kspacekit"
            image.PatientBirthDate = image.PatientSex = image.ReferringPhysicianName = image.AccessionNumber = ""
            image.StudyDate = image.SeriesDate = image.ContentDate = now.strftime("%Y%m%d")
            image.StudyTime = image.SeriesTime = image.ContentTime = now.strftime("%H%M%S")
            image.StudyID, image.SeriesNumber, image.InstanceNumber = "1", 1, index + 1
            image.SeriesDescription = f"kspacekit {volume.key}"[:64]
            image.ImageComments = _description(volume)[:10240]
            image.ScanningSequence, image.SequenceVariant, image.MRAcquisitionType = "RM", "NONE", "2D"
            image.ScanOptions = image.EchoTime = image.RepetitionTime = image.EchoTrainLength = ""
            image.PositionReferenceIndicator = ""
            image.ImagePositionPatient = [ds(0.0), ds(0.0), ds(index * slice_mm)]
            image.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
            image.SliceLocation = ds(index * slice_mm)
            image.SliceThickness = ds(slice_mm)
            image.PixelSpacing = [ds(row_mm), ds(col_mm)]
            image.Rows, image.Columns = pixels.shape
            image.SamplesPerPixel, image.PhotometricInterpretation = 1, "MONOCHROME2"
            image.BitsAllocated, image.BitsStored, image.HighBit, image.PixelRepresentation = 16, 16, 15, 0
            image.RescaleSlope, image.RescaleIntercept, image.RescaleType = ds(slope), ds(intercept), "US"
            image.WindowCenter = ds(intercept + slope * DICOM_MAX / 2)
            image.WindowWidth = ds(slope * DICOM_MAX)
            image.PixelData = pixels.tobytes()
            image.save_as(tmp / name, enforce_file_format=True)
    return [output / name for name in names]


def export_volume(
    input_path: str | Path, output: str | Path, fmt: str, key: str | None = None, overwrite: bool = False
) -> tuple[ImageVolume, list[Path]]:
    """Export the image volume of ``input_path`` as ``fmt``; returns the volume and the files written."""
    if fmt not in FORMATS:
        raise KspaceKitError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    output = Path(output)
    volume = read_image_volume(input_path, key)
    if fmt == "nifti":
        return volume, [write_nifti(volume, output, overwrite)]
    if fmt == "dicom":
        return volume, write_dicom(volume, output, overwrite)
    return volume, write_png(volume, output, overwrite)


UNDERSAMPLED_FORMATS = ("fastmri-test", "fastmri-course")
COURSE_ACCELERATIONS = {"kspace_4af": (4.0, 0.08), "kspace_8af": (8.0, 0.04)}


def write_undersampled_files(
    input_path: str | Path, output: str | Path, fmt: str, mask_kind: str = "random", acceleration: float = 4.0,
    seed: int = 0, overwrite: bool = False,
) -> list[Path]:
    """Undersample fully sampled fastMRI files into ``output/`` (one file per input file, same name).

    ``fastmri-test``: masked ``kspace``, its line ``mask`` and the attributes ``acceleration`` and
    ``num_low_frequency``, as fastMRI's test files (no target). ``fastmri-course``: ``kspace_4af``
    / ``mask_4af`` and ``kspace_8af`` / ``mask_8af`` (fastMRI's centre fractions 0.08 and 0.04)
    beside the target, as the course's files. One mask per file, seeded by the file name as
    fastMRI's fixed validation masks are (``seed`` appended when not 0). Header and attributes
    (the simulated mark included) are kept. Torch is imported only here, for the masks.
    """
    from kspacekit.data.layout import KSPACE_KEY, h5_files, mask_key
    from kspacekit.physics.masks import file_seed, make_mask

    if fmt not in UNDERSAMPLED_FORMATS:
        raise KspaceKitError(f"unknown format {fmt!r}; choose one of {', '.join(UNDERSAMPLED_FORMATS)}")
    plans = {KSPACE_KEY: (acceleration, 0.32 / acceleration)} if fmt == "fastmri-test" else COURSE_ACCELERATIONS
    sources = h5_files(input_path)
    written = []
    with atomic_directory(Path(output), overwrite, _only_files_with_suffix(".h5")) as tmp:
        for source in sources:
            check_h5_file(source)
            try:
                with h5py.File(source, "r") as hf:
                    kspace = np.asarray(h5_dataset(hf, KSPACE_KEY, source)[()])
                    header = read_header_xml(hf, source)
                    attrs = dict(hf.attrs)
                    targets = {key: np.asarray(hf[key][()]) for key in TARGET_KEYS if key in hf}
            except HDF5_READ_ERRORS as err:
                raise KspaceKitError(describe_read_error(err), source) from None
            if kspace.ndim not in (3, 4) or not np.iscomplexobj(kspace):
                raise KspaceKitError(f"expected complex k-space (slices, [coils,] H, W), got {kspace.shape}", source)
            seed_of_file = file_seed(source.name) + ((seed,) if seed else ())
            with h5py.File(tmp / source.name, "w") as out:
                for key, (rate, center_fraction) in plans.items():
                    mask, num_low_frequency = make_mask(mask_kind, kspace.shape, rate, center_fraction, seed_of_file)
                    lines = mask.numpy().reshape(-1).astype(bool)
                    out.create_dataset(key, data=kspace * lines)
                    out.create_dataset(mask_key(key), data=lines)
                if fmt == "fastmri-test":
                    out.attrs["acceleration"] = int(round(acceleration))
                    out.attrs["num_low_frequency"] = num_low_frequency
                else:
                    for key, target in targets.items():
                        out.create_dataset(key, data=target)
                for name, value in attrs.items():
                    if fmt == "fastmri-course" or name not in ("max", "norm"):  # a test file has no target
                        out.attrs.setdefault(name, value)
                if header is not None:
                    out.create_dataset("ismrmrd_header", data=header)
            written.append(Path(output) / source.name)
    return written
