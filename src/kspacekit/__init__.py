"""kspacekit: accelerated MRI reconstruction from undersampled k-space.

The package is layered; each room imports only from the rooms before it
(see docs/architecture.md):

- :mod:`kspacekit.physics`: centred FFTs, SENSE operators, fastMRI-exact masks, coil maps.
- :mod:`kspacekit.optim`: solvers, proximal operators, automatic regularisation.
- :mod:`kspacekit.data`: fastMRI-layout HDF5, ISMRMRD headers, raw formats, exports.
- :mod:`kspacekit.simulation`: phantoms and realistic simulated datasets.
- :mod:`kspacekit.models`: networks and their inference checkpoints.
- :mod:`kspacekit.methods`: every reconstruction method behind one interface.
- :mod:`kspacekit.pipeline`: methods run over whole files.
- :mod:`kspacekit.training`: losses, training, cross-validation, sweeps.
- :mod:`kspacekit.evaluation`: fastMRI metrics, evaluate, benchmark and report.
- :mod:`kspacekit.cli`: the ``kspacekit`` command, which only parses and calls the above.
"""

__version__ = "0.1.0"
