"""``scan-learned`` against ``tv``, ``wavelet`` and zero-filled, on simulated or real slices (issue #17).

fastMRI random line masks along the last (phase-encode) axis, 4x with 8 % centre lines and 8x
with 4 %, seeds 0..SEEDS-1; fastMRI PSNR/SSIM against the RSS of the full k-space (unit max).
Prints mean ± std per slice and acceleration, the bar's checks (scan-learned >= the better of
tv/wavelet in mean PSNR and SSIM; never below zero-filled), seconds per slice and the steps.

    .venv/bin/python benchmarks/scan_learned.py --simulated [--seeds 2] [--options hidden=0]
    .venv/bin/python benchmarks/scan_learned.py --real [--seeds 6]

``--simulated``: 8-coil and 2-coil slices (230 x 180) of the ICBM152 template with a synthetic
head (:mod:`kspacekit.simulation.head`), random loop-coil maps, smooth phase and noise; single-coil
slices of the same. The settings of ``scan-learned`` were chosen on these alone. ``--real``: the
ESPIRiT brain (both phase-encode axes) and the twix phantom (benchmarks/classical_vs_bart.py).
``--options key=value,...`` passes options to scan-learned (e.g. to compare settings).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: idle OpenMP threads sleep

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402
from statistics import mean, stdev  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from kspacekit.evaluation.metrics import psnr, ssim  # noqa: E402
from kspacekit.methods import ReconMeta, create_method  # noqa: E402
from kspacekit.physics.fft import fft2c, ifft2c, rss  # noqa: E402
from kspacekit.physics.masks import make_mask  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classical_vs_bart import real_slices  # noqa: E402

SETTINGS = ((4, 0.08), (8, 0.04))
BASELINES = ("zero-filled", "tv", "wavelet")
SHAPE = (230, 180)


def simulated_slices() -> dict[str, torch.Tensor]:
    """(1, C, H, W) k-space of ICBM152 template slices with a synthetic head, scaled to unit-max RSS."""
    import nibabel

    from kspacekit.simulation.acquisition import random_coil_maps, simulate_slices
    from kspacekit.simulation.datasets import fit_to_matrix
    from kspacekit.simulation.head import add_head
    from kspacekit.simulation.template import builtin_brain_volume

    volume = np.asarray(nibabel.load(builtin_brain_volume()).get_fdata(), dtype=np.float32)
    rng = np.random.default_rng(17)
    cases = {}
    for index, (depth, coils, snr) in enumerate(((80, 8, 60), (110, 8, 25), (95, 2, 40), (70, 1, 40))):
        axial = np.rot90(volume[:, :, depth]).copy()[None]
        head = torch.from_numpy(add_head(axial, (1.0, 1.0), rng))
        magnitude = fit_to_matrix(head, (1.0, 1.0), SHAPE)
        generator = torch.Generator().manual_seed(100 + index)
        maps = random_coil_maps(coils, SHAPE, generator)
        coil_images = simulate_slices(magnitude, maps, snr=snr, generator=generator).coil_images
        kspace = fft2c(coil_images)
        cases[f"ICBM152 z={depth}, {coils} coil(s), SNR {snr}"] = kspace / rss(ifft2c(kspace), dim=1).max()
    return cases


def parse_options(text: str) -> dict[str, float | int]:
    options: dict[str, float | int] = {}
    for item in filter(None, text.split(",")):
        key, value = item.split("=")
        options[key] = float(value) if "." in value or "e" in value else int(value)
    return options


def run(slices: dict[str, torch.Tensor], seeds: int, options: dict[str, float | int]) -> None:
    methods = {name: create_method(name) for name in BASELINES}
    methods["scan-learned"] = create_method("scan-learned", progress=False, **options)
    scores: dict[tuple[str, int, str], list[tuple[float, float]]] = defaultdict(list)
    seconds: dict[str, list[float]] = defaultdict(list)
    steps: dict[tuple[str, int], list[int]] = defaultdict(list)
    for slice_name, full in slices.items():
        target = rss(ifft2c(full), dim=1)
        for acceleration, centre in SETTINGS:
            for seed in range(seeds):
                mask, num_low = make_mask("random", full.shape, acceleration, centre, seed=seed)
                meta = ReconMeta(tuple(target.shape[-2:]), num_low, float(acceleration))
                for name, method in methods.items():
                    start = time.perf_counter()
                    image = method(full * mask, mask, meta)
                    seconds[name].append(time.perf_counter() - start)
                    scores[(slice_name, acceleration, name)].append((psnr(target, image), ssim(target, image)))
                steps[(slice_name, acceleration)] += methods["scan-learned"].last_steps
                learned = scores[(slice_name, acceleration, "scan-learned")][-1]
                print(f"{slice_name} {acceleration}x seed {seed}: "
                      + ", ".join(f"{n} {scores[(slice_name, acceleration, n)][-1][0]:.2f}" for n in methods)
                      + f" dB; steps {methods['scan-learned'].last_steps}; scan-learned SSIM {learned[1]:.3f}",
                      flush=True)
    report(scores, steps, seconds, list(methods))


def report(scores, steps, seconds, names: list[str]) -> None:
    spread = lambda values: stdev(values) if len(values) > 1 else 0.0  # noqa: E731
    print("\n| slice | acc. | " + " | ".join(names) + " | steps | learned − better CS (dB / SSIM) |")
    print("|---|---|" + "---|" * (len(names) + 2))
    gains = []
    for slice_name, acceleration in sorted({(s, a) for s, a, _ in scores}):
        cells, means = [], {}
        for name in names:
            values = scores[(slice_name, acceleration, name)]
            p, s = [v[0] for v in values], [v[1] for v in values]
            means[name] = (mean(p), mean(s))
            cells.append(f"{mean(p):.2f} ± {spread(p):.2f} / {mean(s):.3f}")
        better = max(means["tv"][0], means["wavelet"][0]), max(means["tv"][1], means["wavelet"][1])
        gain = means["scan-learned"][0] - better[0], means["scan-learned"][1] - better[1]
        below_zero_filled = any(
            v[0] < z[0] for v, z in zip(scores[(slice_name, acceleration, "scan-learned")],
                                        scores[(slice_name, acceleration, "zero-filled")])
        )
        gains.append(gain)
        print(f"| {slice_name} | {acceleration}x | " + " | ".join(cells)
              + f" | {mean(steps[(slice_name, acceleration)]):.0f} | {gain[0]:+.2f} / {gain[1]:+.3f}"
              + (" (below zero-filled on a draw!)" if below_zero_filled else "") + " |")
    print(f"\nmean gain over the better of tv/wavelet: {mean(g[0] for g in gains):+.2f} dB, "
          f"{mean(g[1] for g in gains):+.3f} SSIM; cells at or above it in both: "
          f"{sum(g[0] >= 0 and g[1] >= 0 for g in gains)}/{len(gains)}")
    print("seconds per slice: " + ", ".join(f"{n} {mean(v):.2f}" for n, v in seconds.items())
          + f" ({torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--simulated", action="store_true")
    source.add_argument("--real", action="store_true")
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--options", default="", help="scan-learned options, key=value,...")
    parser.add_argument("--only", default="", help="run only the slices whose name contains this")
    args = parser.parse_args()
    slices = simulated_slices() if args.simulated else real_slices()
    slices = {name: k for name, k in slices.items() if args.only in name}
    run(slices, args.seeds, parse_options(args.options))


if __name__ == "__main__":
    main()
