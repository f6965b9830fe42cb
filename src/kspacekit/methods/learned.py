"""Learned reconstruction methods: ``unet``, ``rescnn``, ``gan`` (its generator) and ``varnet``.

``create_method("unet", checkpoint=PATH)`` loads a kspacekit checkpoint (any file ``kspacekit
train`` writes) with ``torch.load(weights_only=True)``. Without a checkpoint, the method uses the
shipped weights ``kspacekit/weights/<model>_<acc>x[_<acc>x...].pt`` whose acceleration is nearest to the
batch's ``meta.acceleration`` (see ``kspacekit/weights/MODEL_CARD.md``).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor, nn

from kspacekit.errors import KspaceKitError
from kspacekit.methods.base import ReconMeta, ReconstructionMethod, register
from kspacekit.methods.sense import consistent_learned_output
from kspacekit.models.checkpoints import load_checkpoint, model_from_checkpoint

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
DEFAULT_ACCELERATION = 4.0


def shipped_weights(model: str, weights_dir: Path | None = None) -> dict[float, Path]:
    """Shipped weight files of ``model`` by acceleration: ``unet_4x_8x.pt`` (trained on both) -> {4.0: path, 8.0: path}."""
    weights_dir = WEIGHTS_DIR if weights_dir is None else weights_dir
    pattern = re.compile(rf"{re.escape(model)}((?:_\d+(?:\.\d+)?x)+)\.pt")
    found = {}
    for path in sorted(weights_dir.glob(f"{model}_*x.pt")):
        match = pattern.fullmatch(path.name)
        if match:
            for tag in match.group(1).strip("_").split("_"):
                found[float(tag[:-1])] = path
    return found


def nearest_weights(model: str, acceleration: float | None, weights_dir: Path | None = None) -> Path:
    """The shipped file whose acceleration is nearest to ``acceleration`` (4x when unknown)."""
    weights_dir = WEIGHTS_DIR if weights_dir is None else weights_dir
    available = shipped_weights(model, weights_dir)
    if not available:
        raise KspaceKitError(
            f"no shipped weights for '{model}' yet (none in {weights_dir}); pass checkpoint=PATH "
            "(--checkpoint) with a model trained by `kspacekit train`, or create them with "
            "`python benchmarks/train_shipped.py SIMULATED_DATA_DIR`"
        )
    wanted = DEFAULT_ACCELERATION if acceleration is None else acceleration
    return available[min(available, key=lambda acc: (abs(acc - wanted), acc))]


class LearnedMethod(ReconstructionMethod):
    """A trained network behind the common interface; models load lazily, once per device.

    ``data_consistent`` (default): the measured samples are put back into the network's output
    (:func:`kspacekit.methods.sense.consistent_learned_output`), so a network that meets data
    unlike its training set cannot overwrite what was measured; False gives the raw output.
    """

    model_name: ClassVar[str]

    def __init__(self, checkpoint: str | Path | None = None, data_consistent: bool = True) -> None:
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        self.data_consistent = data_consistent
        self._cache: dict[tuple[Path, torch.device], nn.Module] = {}
        self._sha256: dict[Path, str] = {}
        if self.checkpoint is not None:
            self._model(self.checkpoint, torch.device("cpu"))  # fail now on a bad checkpoint

    def _model(self, path: Path, device: torch.device) -> nn.Module:
        key = (path, device)
        if key not in self._cache:
            checkpoint = load_checkpoint(path)
            self._cache[key] = model_from_checkpoint(checkpoint, path, self.model_name).to(device).eval()
        return self._cache[key]

    def weights(self, meta: ReconMeta) -> Path:
        """The checkpoint used for a batch like ``meta``: the one given, else the nearest shipped one."""
        return self.checkpoint or nearest_weights(self.model_name, meta.acceleration)

    def provenance(self, meta: ReconMeta) -> dict[str, str]:
        """``checkpoint``: the given file's absolute path, or ``shipped:<file name>``; and its ``checkpoint_sha256``."""
        path = self.weights(meta)
        if path not in self._sha256:
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            self._sha256[path] = digest.hexdigest()
        name = f"shipped:{path.name}" if self.checkpoint is None else str(path.resolve())
        return {"checkpoint": name, "checkpoint_sha256": self._sha256[path]}

    def reconstruct(self, kspace: Tensor, mask: Tensor, meta: ReconMeta) -> Tensor:
        model = self._model(self.weights(meta), kspace.device)
        mask = mask.to(device=kspace.device, dtype=torch.float32)
        if not self.data_consistent:
            return model(kspace, mask, meta.target_size, meta.num_low_frequencies).float()
        if hasattr(model, "predicted_kspace"):
            output = model.predicted_kspace(kspace, mask, meta.num_low_frequencies)
        else:
            output = model(kspace, mask, meta.target_size, meta.num_low_frequencies).float()
        return consistent_learned_output(output, kspace, mask, meta.target_size, self.name)


@register("unet")
class UnetMethod(LearnedMethod):
    """fastMRI's baseline U-Net on the zero-filled RSS image (instance-normalised)."""

    model_name = "unet"


@register("rescnn")
class ResidualCNNMethod(LearnedMethod):
    """A small residual CNN on the zero-filled RSS image."""

    model_name = "rescnn"


@register("gan")
class GanMethod(LearnedMethod):
    """The U-Net generator of an adversarially trained model (the discriminator is training-only)."""

    model_name = "gan"


@register("varnet")
class VarNetMethod(LearnedMethod):
    """End-to-end variational network with learned coil sensitivities (multi- and single-coil)."""

    model_name = "varnet"
