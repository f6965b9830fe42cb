"""Speed of ``kspacekit evaluate`` against fastMRI's evaluate.py, and that both give the same numbers.

Generates (seeded, in a temporary folder) multi-coil targets, 35 slices of 320x320
``reconstruction_rss`` each, and predictions (blurred, noisy copies), then measures:

(a) each evaluation as a whole process, wall clock: fastMRI's evaluate() through a tiny
    ``python -c`` wrapper equivalent to its ``__main__`` (whose final print breaks on numpy 2,
    SSIM being a 1-element array), and ``.venv/bin/kspacekit evaluate``; and each on a folder
    of one 1-slice volume, which is start-up (imports, numba's cached kernel) and little else;
(b) the metric computation alone per slice, on volumes already in memory, after one warm-up
    call each: fastMRI's nmse + psnr + ssim against :func:`kspacekit.evaluation.metrics.volume_metrics`;
(c) the agreement of the numbers (relative differences).

fastMRI and kspacekit run alternately, ``--repeats`` times each; the table gives medians (and
the ratio of medians). The load average before and after is printed: on a machine that others
use, both sides slow down, so only ratios from one run compare.

Usage: .venv/bin/python benchmarks/evaluate_speed.py [--volumes 50] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import astuple
from pathlib import Path

import h5py
import numpy as np
from scipy.ndimage import gaussian_filter

SLICES, SIZE = 35, 320
ACQUISITIONS = ("CORPD_FBK", "CORPDFS_FBK")
KSPACEKIT = Path(sys.executable).with_name("kspacekit")
LOAD_AT_START = ", ".join(f"{load:.1f}" for load in os.getloadavg())
FASTMRI_MAIN = """
import argparse, json, pathlib, sys
import numpy as np
from fastmri import evaluate
args = argparse.Namespace(target_path=pathlib.Path(sys.argv[1]), predictions_path=pathlib.Path(sys.argv[2]),
                          challenge="multicoil", acquisition=None, acceleration=None)
metrics = evaluate.evaluate(args, "reconstruction_rss")
means, stds = metrics.means(), metrics.stddevs()
print(json.dumps({name: (float(np.squeeze(means[name])), float(np.squeeze(stds[name]))) for name in sorted(means)}))
"""


def smooth_volume(rng: np.random.Generator) -> np.ndarray:
    """A knee-like volume: an elliptical body of smooth tissue contrast with fine texture, on a
    near-zero noisy background, varying slowly from slice to slice (MRI scale, max ~3e-4)."""
    y, x = np.mgrid[-1 : 1 : SIZE * 1j, -1 : 1 : SIZE * 1j]
    radius = ((x - rng.uniform(-0.1, 0.1)) / rng.uniform(0.6, 0.8)) ** 2 + (y / rng.uniform(0.7, 0.9)) ** 2
    body = gaussian_filter((radius < 1).astype(np.float32), 3)
    tissue = gaussian_filter(rng.random((SLICES, SIZE, SIZE), dtype=np.float32), (2, 8, 8))
    tissue = (tissue - tissue.min()) / np.ptp(tissue)
    texture = 0.08 * gaussian_filter(rng.standard_normal((SLICES, SIZE, SIZE), dtype=np.float32), (0, 1, 1))
    background = 0.02 * np.abs(rng.standard_normal((SLICES, SIZE, SIZE), dtype=np.float32))
    return (3e-4 * (body * (0.3 + tissue + texture) + background)).astype(np.float32)


def prediction_of(target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A plausible reconstruction: slightly blurred, with noise at ~2 % of the max."""
    noise = 0.02 * target.max() * rng.standard_normal(target.shape, dtype=np.float32)
    return np.abs(gaussian_filter(target, (0, 0.8, 0.8)) + noise).astype(np.float32)


def write_dataset(root: Path, volumes: int, seed: int, slices: int = SLICES) -> tuple[Path, Path]:
    targets, predictions = root / "targets", root / "predictions"
    targets.mkdir()
    predictions.mkdir()
    rng = np.random.default_rng(seed)
    for index in range(volumes):
        target = smooth_volume(rng)[:slices]
        name = f"file{1000 + index}.h5"
        with h5py.File(targets / name, "w") as f:
            f.create_dataset("reconstruction_rss", data=target)
            f.attrs.update({"acquisition": ACQUISITIONS[index % 2], "max": float(target.max()),
                            "norm": float(np.linalg.norm(target.astype(np.float64)))})
        with h5py.File(predictions / name, "w") as f:
            f.create_dataset("reconstruction", data=prediction_of(target, rng))
            f.attrs["acceleration"] = 4 if index % 3 else 8
    return targets, predictions


def timed(command: list[str]) -> tuple[float, float, str]:
    """Wall clock and CPU time (user + system, all threads) of a command; its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({result.returncode}):\n{result.stderr}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, result.stdout


def evaluation_commands(targets: Path, predictions: Path) -> dict[str, list[str]]:
    """fastMRI's evaluation and ours of one pair of folders (ours writes its JSON beside them)."""
    json_path = targets.parent / "kspacekit.json"
    return {
        "fastmri": [sys.executable, "-c", FASTMRI_MAIN, str(targets), str(predictions)],
        "ours": [str(KSPACEKIT), "evaluate", "--target", str(targets), "--predictions", str(predictions),
                 "--json", str(json_path), "--overwrite"],
    }


def medians(samples: dict[str, list[tuple[float, ...]]]) -> dict[str, tuple[float, ...]]:
    return {name: tuple(float(np.median(column)) for column in zip(*times)) for name, times in samples.items()}


def whole_process(targets: Path, predictions: Path, probe: tuple[Path, Path], repeats: int) -> dict[str, object]:
    """Median (wall, CPU) seconds of both evaluations, run alternately ``repeats`` times each, of
    both on the one-volume ``probe`` folders (start-up), and both summaries."""
    commands = evaluation_commands(targets, predictions)
    startups = evaluation_commands(*probe)
    runs = {name: [] for name in commands}
    starts = {name: [] for name in commands}
    for _ in range(repeats):
        for name in commands:
            wall, cpu, out = timed(commands[name])
            runs[name].append((wall, cpu))
            if name == "fastmri":
                fastmri_summary = json.loads(out.strip().splitlines()[-1])
            starts[name].append(timed(startups[name])[:2])
    ours = json.loads((targets.parent / "kspacekit.json").read_text())["overall"]
    return {
        "run": medians(runs),
        "startup": medians(starts),
        "fastmri": fastmri_summary,
        "ours": {name.upper(): (ours["mean"][name], ours["std"][name]) for name in ("nmse", "psnr", "ssim")},
    }


def per_slice(targets: Path, predictions: Path, volumes: int, repeats: int) -> dict[str, object]:
    """Metric computation alone on volumes in memory, the two alternating: median (wall, CPU) ms
    per slice, and the largest relative difference per metric (NMSE also against fastMRI's
    formula in float64 arithmetic, to show the size of its float32 rounding, which ours keeps)."""
    from fastmri import evaluate as fastmri_evaluate

    from kspacekit.evaluation.metrics import volume_metrics

    pairs = []
    for path in sorted(targets.glob("*.h5"))[:volumes]:
        with h5py.File(path) as t, h5py.File(predictions / path.name) as p:
            pairs.append((t["reconstruction_rss"][()], p["reconstruction"][()]))
    slices = sum(target.shape[0] for target, _ in pairs)
    implementations = {
        "fastmri": lambda t, p: (float(fastmri_evaluate.nmse(t, p)), float(fastmri_evaluate.psnr(t, p)),
                                 float(fastmri_evaluate.ssim(t, p)[0])),
        "ours": lambda t, p: astuple(volume_metrics(t, p)),
    }
    for metrics in implementations.values():  # warm-up: imports, numba's cached kernel, caches
        metrics(*pairs[0])
    times = {name: [] for name in implementations}
    results = {}
    for _ in range(repeats):
        for name, metrics in implementations.items():
            wall, cpu = time.perf_counter(), time.process_time()
            results[name] = [metrics(t, p) for t, p in pairs]
            times[name].append((1e3 * (time.perf_counter() - wall) / slices, 1e3 * (time.process_time() - cpu) / slices))
    exact_nmse = [float(fastmri_evaluate.nmse(t.astype(np.float64), p.astype(np.float64))) for t, p in pairs]
    worst = {metric: max(abs(o[i] - r[i]) / abs(r[i]) for o, r in zip(results["ours"], results["fastmri"]))
             for i, metric in enumerate(("NMSE", "PSNR", "SSIM"))}
    worst["NMSE vs fastMRI's formula in float64"] = max(abs(o[0] - e) / e for o, e in zip(results["ours"], exact_nmse))
    return {"ms": medians(times), "slices": slices, "worst": worst}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volumes", type=int, default=50, help="volumes to generate")
    parser.add_argument("--memory-volumes", type=int, default=5, help="volumes for the per-slice timing")
    parser.add_argument("--repeats", type=int, default=5, help="timings per measurement (the median is kept)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="evaluate_speed_") as tmp:
        start = time.perf_counter()
        targets, predictions = write_dataset(Path(tmp), args.volumes, args.seed)
        (Path(tmp) / "probe").mkdir()
        probe = write_dataset(Path(tmp) / "probe", 1, args.seed, slices=1)
        print(f"generated {args.volumes} volumes of {SLICES}x{SIZE}x{SIZE} in {time.perf_counter() - start:.0f} s")
        process = whole_process(targets, predictions, probe, args.repeats)
        compute = per_slice(targets, predictions, args.memory_volumes, args.repeats)

    load_now = ", ".join(f"{load:.1f}" for load in os.getloadavg())
    print(f"{os.cpu_count()} CPUs; medians of {args.repeats} alternating runs; "
          f"load average before: {LOAD_AT_START}, after: {load_now}")
    print(f"{'measurement':<46}{'fastMRI':>9}{'kspacekit':>11}{'ratio':>8}")
    rows = [
        (f"(a) whole process, {args.volumes} volumes, wall (s)", process["run"], 0),
        (f"(a) whole process, {args.volumes} volumes, CPU (s)", process["run"], 1),
        ("    start-up: one 1-slice volume, wall (s)", process["startup"], 0),
        ("(b) metrics per 320x320 slice, wall (ms)", compute["ms"], 0),
        ("(b) metrics per 320x320 slice, CPU (ms)", compute["ms"], 1),
    ]
    for label, values, index in rows:
        fastmri, ours = values["fastmri"][index], values["ours"][index]
        print(f"{label:<46}{fastmri:>9.2f}{ours:>11.2f}{fastmri / ours:>7.1f}x")
    print(f"(c) largest relative difference per volume ({compute['slices']} slices): "
          + ", ".join(f"{k} {v:.1e}" for k, v in compute["worst"].items()))
    print("    (fastMRI's means and stds of NMSE are float32: runstats on its float32 NMSE values)")
    for name in ("NMSE", "PSNR", "SSIM"):
        (fm, fs), (om, os_) = process["fastmri"][name], process["ours"][name]
        print(f"    {name} over {args.volumes} volumes: fastMRI {fm:.6g} ± {fs:.3g}, kspacekit {om:.6g} ± {os_:.3g}, "
              f"relative difference of means {abs(om - fm) / abs(fm):.1e}")


if __name__ == "__main__":
    main()
