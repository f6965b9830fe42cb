"""Training checkpoints: atomic saves and the random-generator state needed to resume a run exactly.

A training checkpoint is an inference checkpoint (:mod:`kspacekit.models.checkpoints`, which also
loads them) plus ``discriminator``, ``optimizer``, ``scheduler``, ``scaler``, ``epoch``,
``batches_done``, ``step``, ``rng`` and ``train_config``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kspacekit.models.checkpoints import CHECKPOINT_FORMAT
from kspacekit.outputs import atomic_path


def save_checkpoint(path: Path, checkpoint: dict[str, Any]) -> None:
    """Write ``checkpoint`` to ``path`` atomically: a crash mid-write leaves the old file intact."""
    with atomic_path(path, overwrite=True) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, **checkpoint}, tmp)


def capture_rng_state() -> dict[str, Any]:
    """The state of every random number generator training may touch."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": torch.from_numpy(np.random.get_state()[1].astype(np.int64)),
        "numpy_pos": int(np.random.get_state()[2]),
        "python": list(random.getstate()[1]),
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put every generator back to the state :func:`capture_rng_state` recorded."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"], 0, 0.0))
    random.setstate((3, tuple(state["python"]), None))
