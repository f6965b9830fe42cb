"""Exploration, superseded by the method ``scan-learned`` (issue #17): fine-tune the shipped varnet on one scan's own samples.

Self-supervised, scan-specific adaptation in the spirit of SSDU / zero-shot self-supervised
learning (Yaman et al.): at every step the acquired lines outside the calibration centre are
split at random into an input set (kept, with the centre) and a loss set (``LOSS_FRACTION``); the
network sees only the input set and is trained to predict the loss set's multi-coil k-space
(normalised L1 + L2). It uses the undersampled data alone, like CS, so its quality is honest to
report; but it needs a stopping rule, which this script does not have: it prints the PSNR against
the fully sampled target every ``--every`` steps (an oracle view, for exploration only) next to
TV's, to show what the approach could give and when it overfits.

    .venv/bin/python benchmarks/scan_specific_adaptation.py [--steps 200] [--seeds 2] [--lr 3e-4]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch
from torch import Tensor

from kspacekit.evaluation.metrics import psnr
from kspacekit.methods import ReconMeta, create_method
from kspacekit.methods.learned import nearest_weights
from kspacekit.models.checkpoints import load_checkpoint, model_from_checkpoint
from kspacekit.models.varnet import centre_box
from kspacekit.physics.fft import ifft2c, rss
from kspacekit.physics.masks import make_mask

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classical_vs_bart import real_slices  # noqa: E402

LOSS_FRACTION = 0.4


def normalised_loss(prediction: Tensor, reference: Tensor, selected: Tensor) -> Tensor:
    """||e||_1 / ||y||_1 + ||e||_2 / ||y||_2 over the selected samples."""
    error, kept = (prediction - reference) * selected, reference * selected
    return error.abs().sum() / kept.abs().sum() + error.norm() / kept.norm()


def adapt(full: Tensor, acceleration: int, seed: int, steps: int, every: int, lr: float) -> None:
    centre_fraction = 0.32 / acceleration
    target = rss(ifft2c(full), dim=1)
    mask, num_low = make_mask("random", full.shape, acceleration, centre_fraction, seed=seed)
    mask = mask.float()
    kspace = full * mask
    meta = ReconMeta(tuple(target.shape[-2:]), num_low, float(acceleration))
    tv = psnr(target, create_method("tv")(kspace, mask, meta))
    model = model_from_checkpoint(load_checkpoint(nearest_weights("varnet", float(acceleration))), "shipped", "varnet")
    model = copy.deepcopy(model).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    scale = kspace.abs().max()
    kspace = kspace / scale
    free = (mask > 0) & (centre_box(mask, kspace.shape, num_low)[:, :, :1, :] == 0)
    generator = torch.Generator().manual_seed(seed)
    trajectory, start = [], time.perf_counter()
    for step in range(steps + 1):
        if step % every == 0:
            with torch.no_grad():
                image = rss(ifft2c(model.eval().predicted_kspace(kspace, mask, num_low)), dim=1) * scale
            model.train()
            trajectory.append(f"{step}: {psnr(target, image):.2f}")
        if step == steps:
            break
        loss_set = free & (torch.rand(mask.shape, generator=generator) < LOSS_FRACTION)
        input_set = (mask > 0) & ~loss_set
        prediction = model.predicted_kspace(kspace * input_set, input_set.float(), num_low)
        loss = normalised_loss(prediction, kspace, loss_set)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    seconds = time.perf_counter() - start
    print(f"{acceleration}x seed {seed}: tv {tv:.2f} dB; varnet PSNR by step: {', '.join(trajectory)} ({seconds:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--accelerations", type=int, nargs="+", default=[4])
    args = parser.parse_args()
    torch.set_num_threads(2)
    brain = real_slices()["brain"]
    for acceleration in args.accelerations:
        for seed in range(args.seeds):
            adapt(brain, acceleration, seed, args.steps, args.every, args.lr)


if __name__ == "__main__":
    main()
