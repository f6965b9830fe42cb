"""Training on each test device: one epoch with ``amp`` (float16 autocast and a gradient scaler on
CUDA, a no-op on the CPU), a checkpoint, and a resume that continues the run on the same device."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import write_train_file

from kspacekit.models.checkpoints import load_checkpoint
from kspacekit.training import engine
from kspacekit.training.config import TrainConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {
    "unet": {"chans": 4, "num_pool_layers": 2},
    "varnet": {"num_cascades": 2, "sens_chans": 2, "sens_pools": 2, "chans": 4, "pools": 2},
}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    for volume in range(2):
        write_train_file(folder / f"vol{volume}.h5", slices=2, coils=2, height=32, width=32, seed=volume)
    return folder


@pytest.mark.parametrize("model", list(TINY))
def test_amp_epoch_checkpoint_and_resume_on_device(data, tmp_path, model, device):
    config = TrainConfig(
        model=model, train=str(data), val=str(data), output=str(tmp_path / "run"), model_options=dict(TINY[model]),
        epochs=1, lr=3e-3, device=device, amp=True, tensorboard=False, progress=False,
    )
    [first] = engine.train(config)
    assert next(first.model.parameters()).device.type == device
    assert 0 < first.metrics["val_ssim"] <= 1
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert (checkpoint["epoch"], checkpoint["step"]) == (1, 4)
    # The gradient scaler runs (and is saved) only where autocast does: on CUDA.
    assert bool(checkpoint["scaler"]) == (device == "cuda")
    [resumed] = engine.train(replace(config, epochs=2), resume=True)
    assert (resumed.epochs, resumed.step) == (2, 8)
    assert next(resumed.model.parameters()).device.type == device
    assert all(torch.isfinite(p).all() for p in resumed.model.parameters())
