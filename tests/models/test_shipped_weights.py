"""The weights kspacekit ships: plain tensors under 10 MB, listed in the model card, chosen for
any acceleration, and better than zero-filled on data they never saw (simulated ICBM152 brain
slices: the shipped models were trained on the Colin27 brain only)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli

from kspacekit.evaluation.benchmark import (
    BenchmarkConfig,
    plan_benchmark,
    run_benchmark,
)
from kspacekit.methods.learned import WEIGHTS_DIR, nearest_weights
from kspacekit.models.checkpoints import load_checkpoint
from kspacekit.simulation.template import builtin_brain_volume

SHIPPED = sorted(WEIGHTS_DIR.glob("*.pt"))
SHIPPED_MODELS = ("unet", "varnet")


def test_unet_and_varnet_ship_for_4x_and_8x():
    for model in SHIPPED_MODELS:
        for acceleration in (4.0, 8.0):
            assert acceleration in load_checkpoint(nearest_weights(model, acceleration))["accelerations"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_weights_are_plain_tensors_under_10_mb_and_in_the_model_card(path: Path):
    assert path.stat().st_size < 10 * 2**20
    torch.load(path, map_location="cpu", weights_only=True)  # no pickled code
    assert f"`{path.name}`" in (WEIGHTS_DIR / "MODEL_CARD.md").read_text()


@pytest.fixture(scope="module")
def held_out(tmp_path_factory) -> Path:
    """Four 8-coil slices of the ICBM152 template (never used in training), SNR 30."""
    out = tmp_path_factory.mktemp("held_out")
    run_cli("simulate", "--source", str(builtin_brain_volume()), "--orientation", "axial", "--slices-per-volume", "4",
            "--coils", "8", "--shape", "192", "160", "--split", "0", "1", "0", "--seed", "7", "--output", str(out),
            check_rc=0)
    return out / "multicoil_val"


def test_shipped_models_beat_zero_filled_on_held_out_slices(held_out: Path, tmp_path: Path):
    torch.set_num_threads(1)
    config = BenchmarkConfig(SHIPPED_MODELS, (4.0, 8.0), seeds=2)
    result = run_benchmark(plan_benchmark(held_out, config), config, tmp_path)
    assert not result.unavailable
    scores = defaultdict(list)
    for score in result.scores:
        scores[score.method, score.acceleration].append((score.psnr, score.ssim))
    for acceleration in (4.0, 8.0):
        zero_filled = np.mean(scores["zero-filled", acceleration], axis=0)
        for model in SHIPPED_MODELS:
            psnr, ssim = np.mean(scores[model, acceleration], axis=0)
            assert psnr > zero_filled[0] + 1.0 and ssim > zero_filled[1] + 0.05, (model, acceleration)
