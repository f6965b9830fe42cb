"""Write fastMRI-layout HDF5 files: k-space volumes (with target or mask) and submissions.

A volume file holds ``kspace`` (complex64, ``(slices, coils, H, W)`` multi-coil or
``(slices, H, W)`` single-coil), optionally a target image volume (``reconstruction_rss`` or
``reconstruction_esc``), a 1-D ``mask`` (test files) or a 2-D ``mask_2d`` (H, W), the ``ismrmrd_header`` XML and file
attributes (``acquisition``, ``patient_id``, ``max``, ``norm``, ``acceleration``, ...).
A submission file holds ``reconstruction`` (float32, ``(slices, H, W)``), what fastMRI's
``evaluate`` compares with the target. Every write is atomic and never silently overwrites.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from kspacekit.data.header import make_ismrmrd_header
from kspacekit.data.layout import (
    CHALLENGE_TARGET_KEYS,
    HEADER_KEY,
    KSPACE_KEY,
    MASK_2D_KEY,
    MASK_KEY,
    PREDICTION_KEY,
)
from kspacekit.errors import KspaceKitError
from kspacekit.outputs import atomic_path, output_path_for


def target_attrs(target: np.ndarray) -> dict[str, float]:
    """fastMRI's per-volume ``max`` (the SSIM/PSNR data range) and ``norm`` (L2 norm of the volume)."""
    target = target.astype(np.float64)
    return {"max": float(target.max()), "norm": float(np.linalg.norm(target))}


def _check_volume(
    path: Path, kspace: np.ndarray, target: np.ndarray | None, mask: np.ndarray | None
) -> None:
    if kspace.ndim not in (3, 4) or not np.iscomplexobj(kspace):
        expected = "complex (slices, coils, H, W) or (slices, H, W)"
        raise KspaceKitError(f"kspace must be {expected}, got {kspace.dtype} {kspace.shape}", path)
    if target is not None and (target.ndim != 3 or target.shape[0] != kspace.shape[0]):
        raise KspaceKitError(
            f"target must be (slices, h, w) with {kspace.shape[0]} slices, got {target.shape}", path
        )
    if mask is not None and mask.shape not in ((kspace.shape[-1],), kspace.shape[-2:]):
        raise KspaceKitError(
            f"mask must be 1-D with {kspace.shape[-1]} columns or 2-D {kspace.shape[-2:]}, got {mask.shape}", path
        )


def write_volume(
    path: str | Path,
    kspace: np.ndarray,
    *,
    target: np.ndarray | None = None,
    target_key: str = CHALLENGE_TARGET_KEYS["multicoil"],
    mask: np.ndarray | None = None,
    attrs: Mapping[str, Any] | None = None,
    header: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write one volume in the fastMRI layout and return its path; ``mask`` is a line mask (W,)
    (stored as ``mask``) or a 2-D pattern (H, W) (stored as ``mask_2d``).

    Without ``header``, one is generated: encoded size ``(H, W, 1)``, recon size = the target's
    ``(h, w, 1)`` (else ``(H, W, 1)``), all columns acquired. With a target and no ``max`` /
    ``norm`` in ``attrs``, they are computed from the target as fastMRI does.
    """
    path = Path(path)
    kspace = np.asarray(kspace)
    target = None if target is None else np.asarray(target, dtype=np.float32)
    mask = None if mask is None else np.asarray(mask, dtype=np.float32)
    _check_volume(path, kspace, target, mask)

    all_attrs: dict[str, Any] = {} if target is None else target_attrs(target)
    all_attrs.update(attrs or {})
    if header is None:
        height, width = kspace.shape[-2:]
        recon_hw = target.shape[-2:] if target is not None else (height, width)
        header = make_ismrmrd_header(
            (height, width, 1),
            (recon_hw[0], recon_hw[1], 1),
            num_coils=kspace.shape[1] if kspace.ndim == 4 else 1,
        )

    with atomic_path(path, overwrite) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset(KSPACE_KEY, data=kspace.astype(np.complex64, copy=False))
        if target is not None:
            f.create_dataset(target_key, data=target)
        if mask is not None:
            f.create_dataset(MASK_KEY if mask.ndim == 1 else MASK_2D_KEY, data=mask)
        f.create_dataset(HEADER_KEY, data=header.encode("utf-8"))
        f.attrs.update(all_attrs)
    return path


def write_submission(
    out_dir: str | Path,
    name: str,
    reconstruction: np.ndarray,
    *,
    attrs: Mapping[str, Any] | None = None,
    header: bytes | str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``<out_dir>/<name>`` with dataset ``reconstruction`` (float32, ``(slices, H, W)``).

    ``name`` is the input volume's file name (e.g. ``file1000.h5``), as fastMRI's evaluation
    pairs submissions with targets by name; ``attrs`` (e.g. method, acceleration) are extra
    metadata that the evaluation ignores. ``header``, the input's ``ismrmrd_header``, is copied
    so that exports (NIfTI, DICOM) know the voxel size.
    """
    path = output_path_for(Path(out_dir), name)
    reconstruction = np.asarray(reconstruction, dtype=np.float32)
    if reconstruction.ndim != 3:
        raise KspaceKitError(f"reconstruction must be (slices, H, W), got {reconstruction.shape}", path)
    if not np.isfinite(reconstruction).all():
        raise KspaceKitError("reconstruction contains NaN or Inf values", path)
    with atomic_path(path, overwrite) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset(PREDICTION_KEY, data=reconstruction)
        if header is not None:
            f.create_dataset(HEADER_KEY, data=header.encode("utf-8") if isinstance(header, str) else header)
        f.attrs.update(dict(attrs or {}))
    return path
