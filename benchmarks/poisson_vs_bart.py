"""Own undersampled scans (issue #15): BART Poisson-disc data through ``kspacekit convert``, vs BART pics.

Data: the fully sampled ESPIRiT 8-coil brain (../shared/data; a ky-kz slice, 230x180). For each
acceleration (BART ``poisson -v -e -C 24`` with ``-y a -z a``: a = 1.65 gives R about 8, 2.2
gives R about 10) and each seed, BART draws the mask, the masked k-space is written as a ``.cfl``
with zeros where nothing was measured, converted with ``kspacekit convert`` (which records the
pattern as ``mask_2d``) and reconstructed from the converted file with ``tv`` and ``wavelet``
exactly as ``kspacekit reconstruct --method tv|wavelet`` does (automatic lambda, defaults: 100
iterations). Ground truth: RSS of the fully sampled k-space; PSNR and SSIM are fastMRI's
(kspacekit.evaluation.metrics), full image (no crop), data range = the ground truth's max.

BART (Debian's ``bart``): ``ecalib -m1`` on the undersampled k-space (its calibration region),
then ``pics -S -i 100`` with ``-R W:3:0:lam`` (l1-wavelet) and ``-R T:3:0:lam`` (TV), lam from a
grid, the best lam chosen per image against the ground truth, separately for PSNR and for SSIM
(BART's best case; kspacekit gets no such choice). The bar: the better of tv/wavelet matches or
beats the best of BART W/T in mean PSNR and mean SSIM at each acceleration.

Then: per-slice seconds of tv and wavelet (100 iterations, no early stop, their ESPIRiT maps
included) and of BART ecalib and pics (100 iterations) on one R about 8 case, one thread each,
median of 3 alternating runs; and PNGs of the real prospectively undersampled SigPy and BART
workshop brains (zero-filled vs tv vs wavelet, from their converted files) into docs/.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/poisson_vs_bart.py [--seeds 4] [--figure docs/own_scans.png]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: idle OpenMP threads sleep

import argparse  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classical_vs_bart import bart, read_cfl, write_cfl  # noqa: E402

from kspacekit.data import inspect_volume, iter_volume_batches  # noqa: E402
from kspacekit.evaluation.metrics import psnr, ssim  # noqa: E402
from kspacekit.methods import ReconMeta, create_method  # noqa: E402
from kspacekit.physics.fft import ifft2c, rss  # noqa: E402
from kspacekit.pipeline.reconstruct import reconstruct_folder  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kspace"
ROOT = Path(__file__).resolve().parents[1]
POISSON_ACCELERATION = {8: 1.65, 10: 2.2}  # target R -> BART poisson -y/-z
BART_LAMBDAS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
METHODS = ("zero-filled", "tv", "wavelet")
SPEED_REPEATS = 3


def kspacekit_cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "kspacekit", *args], check=True, capture_output=True)


def reconstruct_file(path: Path, method: str, out: Path) -> np.ndarray:
    """What ``kspacekit reconstruct -i path --method method`` writes (one slice here)."""
    reconstruct_folder(path, out, create_method(method), show_progress=False, overwrite=True)
    with h5py.File(out / path.name) as f:
        return f["reconstruction"][0]


def bart_images(folder: Path) -> dict[str, list[np.ndarray]]:
    """|pics| for every lambda of the grid, per regulariser, from folder/ksp with ecalib maps."""
    bart("ecalib", "-m1", str(folder / "ksp"), str(folder / "maps"))
    images: dict[str, list[np.ndarray]] = {"W": [], "T": []}
    for reg, runs in images.items():
        for lam in BART_LAMBDAS:
            bart("pics", "-S", "-i", "100", "-R", f"{reg}:3:0:{lam}",
                 str(folder / "ksp"), str(folder / "maps"), str(folder / "out"))
            runs.append(np.abs(read_cfl(folder / "out")).squeeze())
    return images


def scores(target: np.ndarray, image: np.ndarray) -> tuple[float, float]:
    maxval = float(target.max())
    return psnr(target[None], image[None], maxval), ssim(target[None], image[None], maxval)


def compare(seeds: int, folder: Path) -> dict[int, Path]:
    """The quality table; returns one converted file per acceleration (seed 1) for the timing."""
    full = read_cfl(DATA / "espirit_brain_full_8ch").reshape(1, 230, 180, 8)  # a ky-kz slice, readout transformed
    target = rss(ifft2c(torch.from_numpy(np.moveaxis(full[0], -1, 0)).contiguous()), dim=0).numpy()
    results: dict[tuple[int, str], list[tuple[float, float]]] = {}
    measured_r: dict[int, list[float]] = {}
    examples = {}
    for acceleration, poisson_acc in POISSON_ACCELERATION.items():
        for seed in range(1, seeds + 1):
            case = folder / f"r{acceleration}_s{seed}"
            case.mkdir()
            bart("poisson", "-Y", "230", "-Z", "180", "-y", str(poisson_acc), "-z", str(poisson_acc),
                 "-C", "24", "-v", "-e", "-s", str(seed), str(case / "mask"))
            mask = np.abs(read_cfl(case / "mask")).reshape(1, 230, 180) > 0
            measured_r.setdefault(acceleration, []).append(mask.size / mask.sum())
            write_cfl(case / "ksp", full * mask[..., None])
            kspacekit_cli("convert", str(case / "ksp.cfl"), str(case / "scan.h5"))
            examples.setdefault(acceleration, case / "scan.h5")
            for method in METHODS:
                image = reconstruct_file(case / "scan.h5", method, case / method)
                results.setdefault((acceleration, method), []).append(scores(target, image))
            chosen = []
            for reg, runs in bart_images(case).items():
                grid = [scores(target, image) for image in runs]
                best = (max(p for p, _ in grid), max(s for _, s in grid))
                results.setdefault((acceleration, f"bart pics {reg} (best lam)"), []).append(best)
                chosen += [f"{reg}: {BART_LAMBDAS[int(np.argmax([g[k] for g in grid]))]:g}" for k in (0, 1)]
            print(f"  R {measured_r[acceleration][-1]:.2f} seed {seed}: BART best lam (PSNR, SSIM) {', '.join(chosen)}",
                  file=sys.stderr, flush=True)
    print(f"\nESPIRiT brain (8 coils, 230x180), BART poisson -v -e -C 24, {seeds} seeds per R; mean ± std; "
          "fastMRI PSNR (dB) / SSIM, full image, data range = target max\n")
    print("| method | " + " | ".join(f"R {np.mean(measured_r[a]):.2f} PSNR | SSIM" for a in POISSON_ACCELERATION) + " |")
    print("|---|" + "---|---|" * len(POISSON_ACCELERATION))
    names = dict.fromkeys(name for _, name in results)
    for name in names:
        cells = []
        for acceleration in POISSON_ACCELERATION:
            values = np.array(results[acceleration, name])
            mean, std = values.mean(0), values.std(0, ddof=1) if len(values) > 1 else np.zeros(2)
            cells += [f"{mean[0]:.2f} ± {std[0]:.2f}", f"{mean[1]:.4f} ± {std[1]:.4f}"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    for acceleration in POISSON_ACCELERATION:
        best_psnr = max(np.mean(results[acceleration, m], 0)[0] for m in names if m.startswith("bart"))
        best_ssim = max(np.mean(results[acceleration, m], 0)[1] for m in names if m.startswith("bart"))
        ours_psnr = max(np.mean(results[acceleration, m], 0)[0] for m in ("tv", "wavelet"))
        ours_ssim = max(np.mean(results[acceleration, m], 0)[1] for m in ("tv", "wavelet"))
        verdict = "PASS" if ours_psnr >= best_psnr and ours_ssim >= best_ssim else "FAIL"
        print(f"R about {acceleration}: better of tv/wavelet {ours_psnr:.2f} dB / {ours_ssim:.4f} vs best BART "
              f"{best_psnr:.2f} dB / {best_ssim:.4f}: {verdict}")
    return examples


def speed(path: Path, folder: Path) -> None:
    """Seconds per slice, one thread each, median of SPEED_REPEATS alternating runs."""
    torch.set_num_threads(1)
    (batch,) = iter_volume_batches(inspect_volume(path), batch_size=1)
    mask = batch.kspace_mask
    kspace = batch.kspace * mask
    meta = ReconMeta.from_mask(mask, tuple(kspace.shape))
    write_cfl(folder / "ksp", np.moveaxis(kspace[0].numpy(), 0, -1)[None])
    methods = {m: create_method(m, iterations=100, tol=0.0) for m in ("tv", "wavelet")}
    for method in methods.values():
        method(kspace, mask, meta)  # warm-up
    times: dict[str, list[float]] = {}
    for _ in range(SPEED_REPEATS):
        for name, method in methods.items():
            start = time.perf_counter()
            method(kspace, mask, meta)
            times.setdefault(f"kspacekit {name} (maps included)", []).append(time.perf_counter() - start)
        times.setdefault("bart ecalib -m1", []).append(
            bart("ecalib", "-m1", str(folder / "ksp"), str(folder / "maps"), threads=1))
        for reg in ("W", "T"):
            times.setdefault(f"bart pics -R {reg} (maps not included)", []).append(bart(
                "pics", "-S", "-i", "100", "-R", f"{reg}:3:0:0.01", str(folder / "ksp"), str(folder / "maps"),
                str(folder / "out"), threads=1))
    print(f"\nSpeed, one slice of {path.name} (8 coils, 230x180, R {meta.acceleration:.2f}), 100 iterations, "
          f"1 thread, median of {SPEED_REPEATS}; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}\n")
    print("| | seconds per slice |\n|---|---|")
    for name, values in times.items():
        print(f"| {name} | {np.median(values):.2f} |")


def figure(output: Path, folder: Path) -> None:
    """Zero-filled, tv and wavelet of the real prospectively undersampled brains, one row each."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    files = {
        "SigPy tutorial brain, Poisson 8x": DATA / "sigpy_tutorial_brain_poisson8x_8ch.npy",
        "BART workshop brain, Poisson": DATA / "bartws2016_brain_poisson_8ch.cfl",
    }
    fig = Figure(figsize=(9, 6.4), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(files), len(METHODS), squeeze=False)
    for row, (title, source) in enumerate(files.items()):
        converted = folder / f"{source.stem}.h5"
        kspacekit_cli("convert", str(source), str(converted))
        images = {m: reconstruct_file(converted, m, folder / f"{source.stem}_{m}") for m in METHODS}
        top = max(float(np.percentile(image, 99.5)) for image in images.values())
        acceleration = inspect_volume(converted).attrs["acceleration"]
        for column, (method, image) in enumerate(images.items()):
            axes[row, column].imshow(image, cmap="gray", vmin=0, vmax=top)
            axes[row, column].set_title(f"{method}" + (f"\n{title}, R {acceleration:.1f}" if column == 0 else ""), fontsize=9)
            axes[row, column].set_axis_off()
    fig.suptitle("Real prospectively undersampled k-space (no reference exists):\n"
                 "kspacekit convert + kspacekit reconstruct, defaults; one grey scale per row", fontsize=9)
    canvas = fig.canvas
    canvas.draw()
    # grey images and black text: one 8-bit grey channel keeps the PNG small for the README
    Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3]).convert("L").save(output, optimize=True)
    print(f"\nwrote {output} ({output.stat().st_size // 1024} KiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--figure", type=Path, default=ROOT / "docs" / "own_scans.png")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="kspacekit_poisson_"))
    examples = compare(args.seeds, folder)
    speed(examples[8], folder)
    figure(args.figure, folder)


if __name__ == "__main__":
    main()
