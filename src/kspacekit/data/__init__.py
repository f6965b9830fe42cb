"""fastMRI-layout HDF5 data: ISMRMRD headers, reading volumes slice by slice, writing files."""

from kspacekit.data.fastmri import (
    SliceDataset,
    SliceSample,
    VolumeBatch,
    VolumeInfo,
    inspect_volume,
    iter_volume_batches,
    read_slice,
)
from kspacekit.data.header import HeaderInfo, make_ismrmrd_header, parse_ismrmrd_header
from kspacekit.data.write import target_attrs, write_submission, write_volume

__all__ = [
    "HeaderInfo",
    "SliceDataset",
    "SliceSample",
    "VolumeBatch",
    "VolumeInfo",
    "inspect_volume",
    "iter_volume_batches",
    "make_ismrmrd_header",
    "parse_ismrmrd_header",
    "read_slice",
    "target_attrs",
    "write_submission",
    "write_volume",
]
