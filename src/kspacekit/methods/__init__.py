"""Reconstruction methods behind one interface; importing this package registers them all."""

from kspacekit.methods import zero_filled  # noqa: F401  (registers the method)
from kspacekit.methods import learned  # noqa: F401  (registers unet, rescnn, gan, varnet)
from kspacekit.methods import cs, grappa, sense  # noqa: F401  (registers sense, grappa, tv, wavelet)
from kspacekit.methods.base import (
    ReconMeta,
    ReconstructionMethod,
    available_methods,
    create_method,
    register,
)

__all__ = ["ReconMeta", "ReconstructionMethod", "available_methods", "create_method", "register"]
