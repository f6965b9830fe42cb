"""Learned reconstruction networks, built by name from a plain (JSON-able) config dict.

Every model returned by :func:`build_model` has the same call signature,
``model(masked_kspace, mask, target_size, num_low_frequencies) -> (B, h, w)`` magnitude, so the
training engine and the reconstruction methods treat them alike. The config is stored in every
checkpoint, which is how a checkpoint rebuilds its model without pickled Python objects.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from kspacekit.models.gan import PatchDiscriminator
from kspacekit.models.image_domain import ImageDomainModel
from kspacekit.models.rescnn import ResidualCNN
from kspacekit.models.unet import Unet
from kspacekit.models.varnet import VarNet

UNET_DEFAULTS = {"chans": 32, "num_pool_layers": 4, "drop_prob": 0.0}
DEFAULT_CONFIGS: dict[str, dict[str, Any]] = {
    "unet": dict(UNET_DEFAULTS),
    "rescnn": {"chans": 64, "num_layers": 5},
    "gan": {**UNET_DEFAULTS, "disc_chans": 64, "disc_layers": 3},
    "varnet": {"num_cascades": 12, "sens_chans": 8, "sens_pools": 4, "chans": 18, "pools": 4},
}
MODEL_NAMES = tuple(DEFAULT_CONFIGS)


def model_config(name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full config of model ``name``: its defaults updated with ``overrides`` (unknown keys fail)."""
    if name not in DEFAULT_CONFIGS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    config = dict(DEFAULT_CONFIGS[name])
    unknown = set(overrides or {}) - set(config)
    if unknown:
        raise ValueError(f"unknown option(s) for model {name}: {', '.join(sorted(unknown))}")
    config.update(overrides or {})
    return config


def build_model(name: str, config: dict[str, Any] | None = None) -> nn.Module:
    """The reconstruction network (for ``gan``, the generator) of model ``name``."""
    config = model_config(name, config)
    if name in ("unet", "gan"):
        return ImageDomainModel(Unet(1, 1, config["chans"], config["num_pool_layers"], config["drop_prob"]))
    if name == "rescnn":
        return ImageDomainModel(ResidualCNN(config["chans"], config["num_layers"]))
    return VarNet(**config)


def build_discriminator(config: dict[str, Any] | None = None) -> PatchDiscriminator:
    """The PatchGAN discriminator of a ``gan`` config."""
    config = model_config("gan", config)
    return PatchDiscriminator(config["disc_chans"], config["disc_layers"])


__all__ = ["DEFAULT_CONFIGS", "MODEL_NAMES", "build_discriminator", "build_model", "model_config"]
