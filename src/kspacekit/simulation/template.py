"""Built-in magnitude images to simulate from when the user brings no data.

The ICBM152 2009a T1 template ships inside the ``nilearn`` wheel (BSD-3; an average of many
real scans), so the demo and the tests can make realistic brain k-space without any download.
Its file is located without importing nilearn (which would pull in scikit-learn).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from kspacekit.errors import KspaceKitError

_TEMPLATE = "datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"


def builtin_brain_volume() -> Path:
    """Path of the ICBM152 T1 template NIfTI (197 x 233 x 189, 1 mm) from the nilearn package."""
    spec = importlib.util.find_spec("nilearn")
    locations = spec.submodule_search_locations if spec else None
    path = Path(locations[0]) / _TEMPLATE if locations else None
    if path is None or not path.is_file():
        raise KspaceKitError("the built-in brain template needs the 'nilearn' package (pip install nilearn)")
    return path
