"""Why the shipped learned models fall behind TV on the real brain (issue #5): acquisition or content?

Three problems, each at 4x and 8x (fastMRI random masks, 8 % / 4 % centre), same seeds, fastMRI
PSNR/SSIM on unit-max RSS targets, methods zero-filled, tv, unet and varnet (shipped weights):

1. ``real``: the real 8-coil ESPIRiT brain k-space (../shared/data), phase encodes along the last axis.
2. ``resimulated``: the same slice's RSS magnitude turned back into k-space with the simulator the
   weights were trained with (synthetic 8-coil loop array, smooth random phase, complex noise at
   the data's stated SNR of 90). SIMULATED: a diagnostic, not a result on real k-space.
3. ``in-domain`` (with ``--val DIR``): slices of the simulated validation split the weights were
   selected on (Colin27 coronal, ``benchmarks/simulate_training_data.sh``). SIMULATED.

If the learned models' gap to TV is the same on 1 and 2, the coil sensitivities, phase and noise
of the real scan are not what the models fail on: the image content is. 3 shows how far ahead of
TV the models are where the content matches their training data.

    .venv/bin/python benchmarks/domain_gap.py [--seeds 6] [--val sim_data/multicoil_val]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import h5py
import numpy as np
import torch
from rich.progress import Progress

from kspacekit.evaluation.metrics import psnr, ssim
from kspacekit.methods import ReconMeta, create_method
from kspacekit.physics.fft import fft2c, ifft2c, rss
from kspacekit.physics.masks import make_mask
from kspacekit.simulation.acquisition import random_coil_maps, simulate_slices

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classical_vs_bart import SETTINGS, real_slices  # noqa: E402

METHODS = ("zero-filled", "tv", "unet", "varnet")
DATA_SNR = 90.0
"""Image SNR of the ESPIRiT brain as ../shared/data/README.md states it."""


def resimulated(kspace: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """The slice's RSS magnitude with synthetic coils, phase and noise, scaled to a unit-max RSS target."""
    magnitude = rss(ifft2c(kspace), dim=1)
    generator = torch.Generator().manual_seed(seed)
    maps = random_coil_maps(kspace.shape[1], tuple(magnitude.shape[-2:]), generator)
    full = fft2c(simulate_slices(magnitude, maps, snr=DATA_SNR, generator=generator).coil_images)
    return full / rss(ifft2c(full), dim=1).max()


def validation_slices(folder: Path, count: int) -> list[torch.Tensor]:
    """``count`` evenly spaced slices (1, C, H, W) of the first validation volume, unit-max RSS."""
    path = sorted(folder.glob("*.h5"))[0]
    with h5py.File(path, "r") as f:
        kspace = f["kspace"]
        picks = np.linspace(0, len(kspace) - 1, count).round().astype(int)
        slices = [torch.from_numpy(kspace[int(i)][None]) for i in picks]
    return [k / rss(ifft2c(k), dim=1).max() for k in slices]


def score(problems: dict[str, list[torch.Tensor]], seeds: int) -> dict[tuple[str, int, str], np.ndarray]:
    """(problem, acceleration, method) -> array of (PSNR, SSIM) over slices x seeds."""
    methods = {name: create_method(name) for name in METHODS}
    results: dict[tuple[str, int, str], list[tuple[float, float]]] = {}
    total = sum(len(s) for s in problems.values()) * len(SETTINGS) * seeds
    with Progress() as progress:
        task = progress.add_task("reconstructing", total=total)
        for problem, slices in problems.items():
            for full in slices:
                target = rss(ifft2c(full), dim=1)
                for acceleration, centre in SETTINGS:
                    for seed in range(seeds):
                        mask, num_low = make_mask("random", full.shape, acceleration, centre, seed=seed)
                        meta = ReconMeta(tuple(target.shape[-2:]), num_low, float(acceleration))
                        for name, method in methods.items():
                            image = method(full * mask, mask, meta)
                            results.setdefault((problem, acceleration, name), []).append(
                                (psnr(target, image), ssim(target, image))
                            )
                        progress.advance(task)
    return {key: np.array(values) for key, values in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--val", type=Path, help="simulated validation folder (in-domain comparison)")
    parser.add_argument("--val-slices", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(2)
    brain = real_slices()["brain"]
    problems = {"real": [brain], "resimulated (SIMULATED)": [resimulated(brain)]}
    if args.val is not None:
        problems["in-domain (SIMULATED)"] = validation_slices(args.val, args.val_slices)
    results = score(problems, args.seeds)
    print("\nPSNR dB mean ± std / mean SSIM; last column: varnet minus tv (PSNR dB / SSIM)")
    print(f"{'problem':26} {'acc':>4}" + "".join(f"{m:>22}" for m in METHODS) + f"{'varnet - tv':>16}")
    for problem in problems:
        for acceleration, _ in SETTINGS:
            cells = {m: results[problem, acceleration, m] for m in METHODS}
            row = "".join(
                f"{c[:, 0].mean():>9.2f} ± {c[:, 0].std():4.2f} / {c[:, 1].mean():.3f}" for c in cells.values()
            )
            gap = cells["varnet"].mean(0) - cells["tv"].mean(0)
            print(f"{problem:26} {acceleration:>3}x{row}{gap[0]:>+9.2f} / {gap[1]:+.3f}")


if __name__ == "__main__":
    main()
