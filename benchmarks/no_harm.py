"""Issue #16's choices, made on SIMULATED data only: hold-out lambda for tv/wavelet, and the
learned methods with and without their data-consistency step, against zero-filled. ``--real``
runs the same comparison on the real fully sampled slices instead (to REPORT the choices made on
the simulated cases, never to make them).

Cases (none of them the real slices the issue's bars are reported on, none of them the shipped
models' training content):

* ``icbm``: the ICBM152 template (held out from the shipped weights' training) with a synthetic
  scalp and skull (``kspacekit simulate --head``), 8 loop coils, SNR 30, 224x192;
* ``icbm wrap``: the same k-space with the field of view cut to 60 % along the phase-encode
  axis (coil images folded over, as a too-small FOV does on a scanner);
* ``icbm 4ch snr10``: 4 coils and SNR 10, noisier than any training volume;
* ``shepp-logan``: the analytic phantom, 8 coils, SNR 30 (not a brain at all).

fastMRI random line masks along the last axis (4x with 8 % centre, 8x with 4 %), seeds
0..SEEDS-1, fastMRI PSNR/SSIM against the RSS of the fully sampled (folded) k-space. A method is
``name`` or ``name:option=value[:option=value]``, e.g. ``tv:lam=holdout`` or
``unet:data_consistent=false``.

    .venv/bin/python benchmarks/no_harm.py --seeds 4 \\
        --methods zero-filled,tv,tv:lam=holdout,wavelet,wavelet:lam=holdout
    .venv/bin/python benchmarks/no_harm.py --seeds 4 \\
        --methods zero-filled,unet:data_consistent=false,unet,varnet:data_consistent=false,varnet
    .venv/bin/python benchmarks/no_harm.py --real --seeds 6 --methods ...

Real slices (``--real``): the ESPIRiT brain in both orientations (``brain``, ``brain
transposed``) and the twix phantom with its phase-encode axis last, as in
``benchmarks/classical_vs_bart.py``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch

from kspacekit.evaluation.metrics import psnr, ssim
from kspacekit.methods import ReconMeta, create_method
from kspacekit.physics.fft import fft2c, ifft2c, rss
from kspacekit.physics.masks import make_mask

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT.parent / "shared" / "data" / "images"
ICBM = IMAGES / "nilearn_mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
SETTINGS = ((4, 0.08), (8, 0.04))
WRAP_FOV = 0.6
SLICES = 3


def simulate(folder: Path, *args: str) -> Path:
    """Run ``kspacekit simulate`` into ``folder``; the one .h5 it writes."""
    subprocess.run([str(ROOT / ".venv" / "bin" / "kspacekit"), "simulate", *args, "--overwrite"],
                   check=True, capture_output=True)
    return next(folder.rglob("*.h5")) if folder.is_dir() else folder


def fold(kspace: torch.Tensor, fov: float) -> torch.Tensor:
    """k-space of the coil images folded into the centred ``fov`` share of the last axis (wrap-around)."""
    images = ifft2c(kspace)
    width = images.shape[-1]
    small = round(fov * width)
    target = (torch.arange(width) - (width - small) // 2) % small
    folded = images.new_zeros(*images.shape[:-1], small).index_add_(-1, target, images)
    return fft2c(folded)


def cases(folder: Path) -> dict[str, torch.Tensor]:
    """(S, C, H, W) fully sampled k-space per case, scaled so that each slice's RSS has unit max."""
    icbm_args = ("--source", str(ICBM), "--head", "--shape", "224", "192", "--slices-per-volume",
                 str(SLICES), "--split", "0", "1", "0", "--seed", "3")
    icbm = simulate(folder / "icbm", "-o", str(folder / "icbm"), *icbm_args, "--coils", "8", "--snr", "30")
    noisy = simulate(folder / "noisy", "-o", str(folder / "noisy"), *icbm_args, "--coils", "4", "--snr", "10")
    phantom = simulate(folder / "sl.h5", "-o", str(folder / "sl.h5"), "--phantom", "shepp-logan", "--coils", "8",
                       "--shape", "224", "192", "--snr", "30", "--slices", "1")
    loaded = {name: torch.from_numpy(h5py.File(path)["kspace"][()]) for name, path in
              (("icbm", icbm), ("icbm 4ch snr10", noisy), ("shepp-logan", phantom))}
    loaded["icbm wrap"] = fold(loaded["icbm"], WRAP_FOV)
    return {name: k / rss(ifft2c(k), dim=1).flatten(1).amax(1).view(-1, 1, 1, 1) for name, k in loaded.items()}


def real_cases() -> dict[str, torch.Tensor]:
    """The real fully sampled slices (1, C, H, W), phase-encode axis last, RSS scaled to unit max."""
    from kspacekit.data.raw import read_raw

    def load(name: str) -> torch.Tensor:
        kspace = torch.from_numpy(read_raw(ROOT.parent / "shared" / "data" / "kspace" / name))
        return kspace.reshape(1, *kspace.shape[-3:])

    brain, twix = load("espirit_brain_full_8ch.cfl"), load("twixtools_gre_phantom_2ch_kspace_derived.npy")
    slices = {"brain": brain, "brain transposed": brain.transpose(-1, -2), "twix": twix.transpose(-1, -2)}
    return {name: (k / rss(ifft2c(k), dim=1).max()).contiguous() for name, k in slices.items()}


def parse_method(spec: str) -> tuple[str, dict[str, object]]:
    name, *options = spec.split(":")
    parsed: dict[str, object] = {}
    for option in options:
        key, value = option.split("=")
        parsed[key] = {"true": True, "false": False}.get(value.lower(), value)
        try:
            parsed[key] = float(value)
        except ValueError:
            pass
    return name, parsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--methods", default="zero-filled,tv,tv:lam=holdout")
    parser.add_argument("--real", action="store_true", help="the real slices instead of the simulated cases")
    args = parser.parse_args()
    torch.set_num_threads(1)
    methods = args.methods.split(",")
    if args.real:
        data = real_cases()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            data = cases(Path(tmp))
    scores: dict[tuple[str, int, str], list[tuple[float, float]]] = {}
    seconds: dict[str, float] = dict.fromkeys(methods, 0.0)
    for case, full in data.items():
        for slice_index in range(full.shape[0]):
            kspace_full = full[slice_index : slice_index + 1]
            target = rss(ifft2c(kspace_full), dim=1)
            for acceleration, centre in SETTINGS:
                for seed in range(args.seeds):
                    mask, num_low = make_mask("random", kspace_full.shape, acceleration, centre, seed=seed)
                    meta = ReconMeta(tuple(target.shape[-2:]), num_low, float(acceleration))
                    for spec in methods:
                        name, options = parse_method(spec)
                        start = time.perf_counter()
                        image = create_method(name, **options)(kspace_full * mask, mask, meta)
                        seconds[spec] += time.perf_counter() - start
                        scores.setdefault((case, acceleration, spec), []).append(
                            (psnr(target, image), ssim(target, image)))
        print(f"done: {case}", file=sys.stderr)
    count = sum(len(v) for k, v in scores.items() if k[2] == methods[0])
    kind = "REAL slices, 1 slice" if args.real else f"SIMULATED data, {SLICES} slices (phantom 1)"
    print(f"{kind} x {args.seeds} seeds per case; PSNR dB / SSIM, mean ± std\n")
    print("| case | acc. | " + " | ".join(methods) + " |\n|---|---|" + "---|" * len(methods))
    for case in data:
        for acceleration, _ in SETTINGS:
            cells = []
            for spec in methods:
                values = np.array(scores[case, acceleration, spec])
                mean, std = values.mean(0), values.std(0, ddof=1)
                cells.append(f"{mean[0]:.2f} ± {std[0]:.2f} / {mean[1]:.3f}")
            print(f"| {case} | {acceleration}x | " + " | ".join(cells) + " |")
    print("\n| all cases | acc. | " + " | ".join(methods) + " |\n|---|---|" + "---|" * len(methods))
    for acceleration, _ in SETTINGS:
        cells = []
        for spec in methods:
            values = np.concatenate([np.array(scores[c, acceleration, spec]) for c in data])
            cells.append(f"{values[:, 0].mean():.2f} / {values[:, 1].mean():.3f}")
        print(f"| mean | {acceleration}x | " + " | ".join(cells) + " |")
    print("\nseconds per slice (1 thread): " + ", ".join(f"{m} {seconds[m] / count:.2f}" for m in methods))


if __name__ == "__main__":
    main()
