"""The reconstruction tutorial's TV experiment, reproduced with kspacekit.

The analytic Shepp-Logan phantom (k-space in closed form, so no inverse crime), single coil,
4x fastMRI random line mask with 8 % centre lines. The tutorial's gradient-descent TV reached
PSNR 23.8 dB (SSIM 0.78) from a zero-filled 20.8 dB (SSIM 0.35).

    .venv/bin/python examples/tv_tutorial.py [--size 256] [--seeds 6]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from kspacekit.masks import make_mask
from kspacekit.methods import ReconMeta, create_method
from kspacekit.metrics import psnr, ssim
from kspacekit.phantoms import shepp_logan


def main() -> None:
    parser = argparse.ArgumentParser(description="TV on the analytic Shepp-Logan phantom at 4x")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seeds", type=int, default=6)
    args = parser.parse_args()

    kspace, image, _ = shepp_logan((args.size, args.size), coils=1)
    kspace = torch.from_numpy(kspace)[None]  # (1, 1, H, W)
    target = torch.from_numpy(image)[None]
    results: dict[str, list[tuple[float, float]]] = {"zero-filled": [], "tv": []}
    for seed in range(args.seeds):
        mask, num_low = make_mask("random", kspace.shape, 4, 0.08, seed=seed)
        meta = ReconMeta((args.size, args.size), num_low, 4.0)
        for name in results:
            recon = create_method(name)(kspace * mask, mask, meta)
            results[name].append((psnr(target, recon), ssim(target, recon)))
    for name, values in results.items():
        mean, std = np.mean(values, 0), np.std(values, 0, ddof=1)
        print(f"{name:12s} PSNR {mean[0]:.2f} ± {std[0]:.2f} dB   SSIM {mean[1]:.3f} ± {std[1]:.3f}")


if __name__ == "__main__":
    main()
