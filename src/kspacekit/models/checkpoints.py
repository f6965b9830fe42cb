"""Inference checkpoints: load a weight file safely and rebuild the network it describes.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)``: loading never runs code from the file. Keys: ``format``,
``model`` (name), ``config`` (model config) and ``state_dict`` (the reconstruction network; for a
GAN the generator); training checkpoints (:mod:`kspacekit.training.checkpoints`) add what resuming
needs, so any of them is also an inference checkpoint. Plain state dicts of fastMRI's
``Unet``/``VarNet`` (e.g. its published weights) load too.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kspacekit.errors import KspaceKitError, error_summary
from kspacekit.models import MODEL_NAMES, build_model, model_config

CHECKPOINT_FORMAT = "kspacekit-checkpoint-v1"


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
        raise KspaceKitError(f"not a readable PyTorch checkpoint ({error_summary(err)})", path) from None
    if isinstance(checkpoint, dict) and checkpoint.get("format") == CHECKPOINT_FORMAT:
        return checkpoint
    converted = from_fastmri_state_dict(checkpoint, path) if isinstance(checkpoint, dict) else None
    if converted is None:
        raise KspaceKitError(
            f"not a kspacekit checkpoint (format {CHECKPOINT_FORMAT}) nor a fastMRI Unet/VarNet state dict", path
        )
    return converted


def _count(state: dict[str, Any], prefix: str) -> int:
    """Number of distinct ``prefix<N>.`` entries, e.g. cascades in ``cascades.0.``, ``cascades.1.``."""
    return len({key[len(prefix) :].split(".")[0] for key in state if key.startswith(prefix)})


def _unet_size(state: dict[str, Any], prefix: str) -> tuple[int, int]:
    """(chans, num_pools) of a fastMRI U-Net whose keys start with ``prefix``."""
    chans = state[f"{prefix}down_sample_layers.0.layers.0.weight"].shape[0]
    return int(chans), _count(state, f"{prefix}down_sample_layers.")


def _fastmri_unet_keys(prefix: str, pools: int) -> list[str]:
    """fastMRI's ``Unet`` parameter names in registration order (the order of kspacekit's layers)."""
    def block(name: str) -> list[str]:
        return [f"{prefix}{name}.layers.0.weight", f"{prefix}{name}.layers.4.weight"]

    keys = [key for level in range(pools) for key in block(f"down_sample_layers.{level}")] + block("conv")
    keys += [key for level in range(pools - 1) for key in block(f"up_conv.{level}")]
    keys += block(f"up_conv.{pools - 1}.0") + [f"{prefix}up_conv.{pools - 1}.1.weight", f"{prefix}up_conv.{pools - 1}.1.bias"]
    return keys + [f"{prefix}up_transpose_conv.{level}.layers.0.weight" for level in range(pools)]


def from_fastmri_state_dict(state: dict[str, Any], path: str | Path) -> dict[str, Any] | None:
    """A kspacekit checkpoint for a plain state dict of ``fastmri.models.Unet(1, 1, ...)`` or
    ``fastmri.models.VarNet`` (such as fastMRI's published weights), or None if it is neither.

    Sizes are read from the tensor shapes; fastMRI's parameter names, listed in registration
    order, are matched to kspacekit's layers, which are registered in the same order.
    """
    if not state or not all(isinstance(value, torch.Tensor) for value in state.values()):
        return None
    if all(key.startswith(("sens_net.", "cascades.")) for key in state):
        sens_chans, sens_pools = _unet_size(state, "sens_net.norm_unet.unet.")
        chans, pools = _unet_size(state, "cascades.0.model.unet.")
        name, num_cascades = "varnet", _count(state, "cascades.")
        config = {"num_cascades": num_cascades, "sens_chans": sens_chans, "sens_pools": sens_pools,
                  "chans": chans, "pools": pools}
        keys = _fastmri_unet_keys("sens_net.norm_unet.unet.", sens_pools)
        for cascade in range(num_cascades):
            keys += [f"cascades.{cascade}.dc_weight"] + _fastmri_unet_keys(f"cascades.{cascade}.model.unet.", pools)
    elif all(key.startswith(("down_sample_layers.", "conv.", "up_conv.", "up_transpose_conv.")) for key in state):
        if state["down_sample_layers.0.layers.0.weight"].shape[1] != 1:
            raise KspaceKitError("only fastMRI U-Nets with one input and one output channel can be used", path)
        chans, pools = _unet_size(state, "")
        name, config = "unet", {"chans": chans, "num_pool_layers": pools}
        keys = _fastmri_unet_keys("", pools)
    else:
        return None
    ours = build_model(name, config).state_dict()
    if sorted(keys) != sorted(state) or [ours[k].shape for k in ours] != [state[k].shape for k in keys]:
        raise KspaceKitError(f"fastMRI {name} state dict does not match the {name} architecture", path)
    mapped = {our_key: state[key] for our_key, key in zip(ours, keys)}
    return {"format": CHECKPOINT_FORMAT, "model": name, "config": model_config(name, config), "state_dict": mapped}


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
        raise KspaceKitError(f"checkpoint does not fit a '{name}' model ({error_summary(err)})", path) from None
    return model
