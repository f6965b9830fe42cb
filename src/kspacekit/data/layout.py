"""The fastMRI file layout: dataset names, and the small HDF5 checks every reader of it shares.

A fastMRI volume file holds ``kspace`` (or the course's undersampled ``kspace_4af`` /
``kspace_8af``), maybe a 1-D ``mask`` (test files; ``mask_4af`` beside ``kspace_4af``), a target
image volume (``reconstruction_rss`` for the multi-coil challenge, ``reconstruction_esc`` for the
single-coil one) and the scanner's ``ismrmrd_header``. A submission (prediction) file holds
``reconstruction``. This module imports neither torch nor the readers built on it, so that
``kspacekit evaluate`` and ``kspacekit export`` start quickly.
"""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np

from kspacekit.errors import KspaceKitError

KSPACE_KEY = "kspace"
COURSE_KSPACE_KEYS = ("kspace_4af", "kspace_8af")
KSPACE_KEYS = (KSPACE_KEY, *COURSE_KSPACE_KEYS)
MASK_KEY = "mask"
MASK_2D_KEY = "mask_2d"
"""A 2-D (H, W) sampling pattern, written by ``kspacekit convert`` for data not sampled line by line."""
HEADER_KEY = "ismrmrd_header"
CHALLENGE_TARGET_KEYS = {"multicoil": "reconstruction_rss", "singlecoil": "reconstruction_esc"}
TARGET_KEYS = tuple(CHALLENGE_TARGET_KEYS.values())  # multi-coil first
PREDICTION_KEY = "reconstruction"
SIMULATED_MARK = {"simulated_by": "kspacekit"}
"""File attributes every simulated file carries, so reports never present it as real data."""


def mask_key(kspace_key: str) -> str:
    """The stored mask of a k-space dataset: ``mask`` for ``kspace``, ``mask_4af`` for ``kspace_4af``."""
    return kspace_key.replace(KSPACE_KEY, MASK_KEY)


def course_acceleration(kspace_key: str) -> float | None:
    """The acceleration a course k-space key names (``kspace_4af`` -> 4.0); None for other keys."""
    match = re.fullmatch(r"kspace_(\d+)af", kspace_key)
    return float(match.group(1)) if match else None


def target_key(multicoil: bool) -> str:
    """The challenge target of multi-coil (``reconstruction_rss``) or single-coil (``reconstruction_esc``) data."""
    return CHALLENGE_TARGET_KEYS["multicoil" if multicoil else "singlecoil"]


def find_target_key(hf: h5py.Group, multicoil: bool) -> str | None:
    """The target dataset name present in ``hf``, the challenge's own first (fastMRI single-coil
    files hold both targets; their challenge target is the ESC one); None when there is none."""
    preference = TARGET_KEYS if multicoil else TARGET_KEYS[::-1]
    return next((key for key in preference if key in hf), None)


def h5_files(path: str | Path) -> list[Path]:
    """The ``.h5`` files a path names: the file itself, or every ``*.h5`` file in a folder, sorted by name."""
    path = Path(path)
    if not path.exists():
        raise KspaceKitError("no such file or directory", path)
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.glob("*.h5") if p.is_file())
    if not files:
        raise KspaceKitError("no .h5 files in folder", path)
    return files


def check_h5_file(path: Path) -> None:
    """An existing HDF5 file, or a :class:`KspaceKitError` saying what it is instead."""
    if not path.exists():
        raise KspaceKitError("file not found", path)
    if path.is_dir():
        raise KspaceKitError("is a directory, expected an .h5 file", path)
    if not h5py.is_hdf5(path):
        raise KspaceKitError("not an HDF5 file", path)


def h5_dataset(hf: h5py.Group, key: str, path: Path) -> h5py.Dataset:
    """``hf[key]``, which must be a dataset: a group or a dangling link under that name is a
    :class:`KspaceKitError` naming the file, not an AttributeError further on."""
    item = hf.get(key)
    if not isinstance(item, h5py.Dataset):
        raise KspaceKitError(f"'{key}' is {'missing' if item is None else 'a group'}, expected a dataset", path)
    return item


def is_real_number(dtype: np.dtype) -> bool:
    """Booleans, integers and floats: what a mask or a magnitude image may be stored as."""
    return np.issubdtype(dtype, np.bool_) or np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)


def target_dataset(hf: h5py.Group, key: str, path: Path, num_slices: int | None = None) -> h5py.Dataset:
    """The target image volume ``hf[key]``, which must be real ``(slices, H, W)`` (with
    ``num_slices`` slices when given)."""
    dataset = h5_dataset(hf, key, path)
    shape = dataset.shape
    if len(shape) != 3 or (num_slices is not None and shape[0] != num_slices) or not is_real_number(dataset.dtype):
        slices = "" if num_slices is None else f" with {num_slices} slices"
        raise KspaceKitError(f"'{key}' must be real (slices, H, W){slices}, got {dataset.dtype} {shape}", path)
    return dataset


def read_header_xml(hf: h5py.Group, path: Path) -> bytes | None:
    """The ``ismrmrd_header`` text of a file, None when it has none; anything but a scalar string is an error."""
    if HEADER_KEY not in hf:
        return None
    value = h5_dataset(hf, HEADER_KEY, path)[()]
    if isinstance(value, str):
        value = value.encode()
    if not isinstance(value, bytes):
        raise KspaceKitError(f"'{HEADER_KEY}' must be an XML string, got {type(value).__name__}", path)
    return value
