"""Checkpoints: atomic saves, safe loads, and everything needed to resume a run exactly.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)``: loading never runs code from the file. Keys:
``format``, ``model`` (name), ``config`` (model config), ``state_dict`` (the reconstruction
network; for a GAN the generator), and for training checkpoints also ``discriminator``,
``optimizer``, ``scheduler``, ``scaler``, ``epoch``, ``batches_done``, ``step``, ``rng`` and
``train_config``. Any training checkpoint is therefore also an inference checkpoint.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from kspacekit.errors import KspaceKitError
from kspacekit.models import MODEL_NAMES, build_model
from kspacekit.outputs import atomic_path

CHECKPOINT_FORMAT = "kspacekit-checkpoint-v1"


def save_checkpoint(path: Path, checkpoint: dict[str, Any]) -> None:
    """Write ``checkpoint`` to ``path`` atomically: a crash mid-write leaves the old file intact."""
    with atomic_path(path, overwrite=True) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, **checkpoint}, tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a kspacekit checkpoint with ``weights_only=True``; refuse anything else clearly."""
    path = Path(path)
    if not path.is_file():
        raise KspaceKitError("no such checkpoint file", path)
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise KspaceKitError(
            "refusing to load: the checkpoint contains pickled Python objects, which could run code; "
            "only plain weight files (tensors, numbers, strings) are accepted",
            path,
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise KspaceKitError(f"not a readable PyTorch checkpoint ({str(err).splitlines()[0]})", path) from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise KspaceKitError(f"not a kspacekit checkpoint (expected format {CHECKPOINT_FORMAT})", path)
    return checkpoint


def model_from_checkpoint(
    checkpoint: dict[str, Any], path: str | Path, expected_model: str | None = None
) -> nn.Module:
    """Rebuild the reconstruction network a checkpoint describes and load its weights."""
    name = checkpoint.get("model")
    if name not in MODEL_NAMES:
        raise KspaceKitError(f"checkpoint names an unknown model {name!r}", path)
    if expected_model is not None and name != expected_model:
        raise KspaceKitError(f"checkpoint is for model '{name}', not '{expected_model}'", path)
    try:
        model = build_model(name, checkpoint.get("config"))
        model.load_state_dict(checkpoint["state_dict"])
    except (ValueError, TypeError, KeyError, RuntimeError) as err:
        first_line = str(err).strip().splitlines()[0]
        raise KspaceKitError(f"checkpoint does not fit a '{name}' model: {first_line}", path) from None
    return model


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
