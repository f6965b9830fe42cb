"""Data: fastMRI-layout HDF5 files, ISMRMRD headers, raw scanner formats and exports.

The torch-free parts (:mod:`~kspacekit.data.layout`, :mod:`~kspacekit.data.header`,
:mod:`~kspacekit.data.export`) can be imported alone; the names below load their module on
first use, so that ``kspacekit evaluate`` and ``kspacekit export`` never import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LOCATIONS = {
    "SliceBatch": "collate",
    "collate_slices": "collate",
    "SliceDataset": "fastmri",
    "SliceSample": "fastmri",
    "VolumeBatch": "fastmri",
    "VolumeInfo": "fastmri",
    "inspect_volume": "fastmri",
    "iter_volume_batches": "fastmri",
    "read_slice": "fastmri",
    "HeaderInfo": "header",
    "make_ismrmrd_header": "header",
    "parse_ismrmrd_header": "header",
    "target_attrs": "write",
    "write_submission": "write",
    "write_volume": "write",
}

__all__ = [
    "HeaderInfo",
    "SliceBatch",
    "SliceDataset",
    "SliceSample",
    "VolumeBatch",
    "VolumeInfo",
    "collate_slices",
    "inspect_volume",
    "iter_volume_batches",
    "make_ismrmrd_header",
    "parse_ismrmrd_header",
    "read_slice",
    "target_attrs",
    "write_submission",
    "write_volume",
]

if TYPE_CHECKING:
    from kspacekit.data.collate import SliceBatch, collate_slices
    from kspacekit.data.fastmri import (
        SliceDataset,
        SliceSample,
        VolumeBatch,
        VolumeInfo,
        inspect_volume,
        iter_volume_batches,
        read_slice,
    )
    from kspacekit.data.header import (
        HeaderInfo,
        make_ismrmrd_header,
        parse_ismrmrd_header,
    )
    from kspacekit.data.write import target_attrs, write_submission, write_volume


def __getattr__(name: str) -> Any:
    if name not in _LOCATIONS:
        raise AttributeError(f"module 'kspacekit.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"kspacekit.data.{_LOCATIONS[name]}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LOCATIONS))
