"""Reconstruction methods behind one interface; importing this package registers them all."""

from kspacekit.methods import (  # noqa: F401  (registers sense, grappa, tv, wavelet)
    cs,
    grappa,
    learned,  # noqa: F401  (registers unet, rescnn, gan, varnet)
    scan_learned,  # noqa: F401  (registers scan-learned)
    sense,
    zero_filled,  # noqa: F401  (registers the method)
)
from kspacekit.methods.base import (
    ReconMeta,
    ReconstructionMethod,
    available_methods,
    create_method,
    register,
)

__all__ = ["ReconMeta", "ReconstructionMethod", "available_methods", "create_method", "register"]
