"""kspacekit: accelerated MRI reconstruction from undersampled k-space.

Physics operators in torch (:mod:`kspacekit.fft`, :mod:`kspacekit.operators`), fastMRI-exact
masks (:mod:`kspacekit.masks`), data I/O (:mod:`kspacekit.data`), metrics
(:mod:`kspacekit.metrics`) and reconstruction methods behind one interface
(:mod:`kspacekit.methods`).
"""

__version__ = "0.1.0"
