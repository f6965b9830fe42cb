"""Alias of :mod:`kspacekit.physics.masks`: the public path ``kspacekit.masks`` keeps working."""

import sys

from kspacekit.physics import masks as _masks

sys.modules[__name__] = _masks
