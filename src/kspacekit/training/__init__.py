"""Training learned reconstruction models.

Modules: :mod:`~kspacekit.training.engine` (the loop, :func:`~kspacekit.training.engine.train`),
:mod:`~kspacekit.training.config` (:class:`~kspacekit.training.config.TrainConfig`),
:mod:`~kspacekit.training.batches` (retrospective masking, normalisation),
:mod:`~kspacekit.training.checkpoints` (saving and resuming), :mod:`~kspacekit.training.folds` (cross-validation by
volume), :mod:`~kspacekit.training.distributed` (torchrun/DDP), :mod:`~kspacekit.training.logs`
and :mod:`~kspacekit.training.sweep`. Import what you need from them; this package module stays
empty so that loading a checkpoint does not import the whole engine.
"""
