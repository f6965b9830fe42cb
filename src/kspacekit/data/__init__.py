"""fastMRI-layout HDF5 data: ISMRMRD headers, writing volumes and submissions."""

from kspacekit.data.header import HeaderInfo, make_ismrmrd_header, parse_ismrmrd_header
from kspacekit.data.write import target_attrs, write_submission, write_volume

__all__ = [
    "HeaderInfo",
    "make_ismrmrd_header",
    "parse_ismrmrd_header",
    "target_attrs",
    "write_submission",
    "write_volume",
]
