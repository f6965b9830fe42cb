"""Speed of ``simulate_dataset``: about 1,000 multi-coil slices (256x256, 8 coils), end to end.

End to end means what ``kspacekit simulate --source ...`` does: read the NIfTI volumes, cut
axial/coronal/sagittal slices, resample, add phase, coil maps and noise, FFT, compute targets,
and write the fastMRI files (about 4 GB of k-space, in a temporary folder deleted afterwards).
Sources: the Colin27 and ICBM152 volumes of ../shared/data/images (200 slices per volume and
orientation: 1,005 slices), or, without them, a synthetic 3-D head of the same size.
``--threads`` is passed to ``simulate_dataset`` (its default, 1, is also what the CLI uses: on a
busy 2-core machine two OpenMP threads run this memory-bound stream 2-3x slower than one).

Usage: .venv/bin/python benchmarks/simulate_speed.py [--threads 1] [--slices-per-volume 200]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from kspacekit.simulation.datasets import simulate_dataset

IMAGES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "images"
REAL_SOURCES = ("colin27_ch2better.nii.gz", "nilearn_mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz")


def synthetic_head(path: Path, shape: tuple[int, int, int] = (240, 280, 250)) -> Path:
    """An ellipsoid 'head' with smooth inner structure, saved as a 3-D .npy volume."""
    axes = [np.linspace(-1, 1, n, dtype=np.float32) for n in shape]
    x, y, z = np.meshgrid(*axes, indexing="ij", sparse=True)
    radius = (x / 0.75) ** 2 + (y / 0.85) ** 2 + (z / 0.8) ** 2
    volume = (radius <= 1) * (0.6 + 0.3 * np.cos(9 * x) * np.cos(7 * y) * (radius <= 0.6))
    np.save(path, volume.astype(np.float32))
    return path


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--slices-per-volume", type=int, default=200)
    parser.add_argument("--coils", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kspacekit_simulate_speed_") as tmp:
        real = all((IMAGES / name).is_file() for name in REAL_SOURCES)
        sources = [IMAGES / name for name in REAL_SOURCES] if real else [synthetic_head(Path(tmp) / "head.npy")]
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        summary = simulate_dataset(
            sources,
            Path(tmp) / "out",
            coils=args.coils,
            shape=(256, 256),
            snr=30.0,
            slices_per_volume=args.slices_per_volume,
            orientations=("axial", "coronal", "sagittal"),
            seed=0,
            device=args.device,
            progress=False,
            threads=args.threads,
        )
        seconds, cpu_seconds = time.perf_counter() - start, _cpu_seconds() - cpu_start
        written = sum(path.stat().st_size for paths in summary.files.values() for path in paths)
    print(
        json.dumps(
            {
                "sources": "colin27+icbm152" if real else "synthetic",
                "slices": summary.slices,
                "coils": args.coils,
                "threads": args.threads,
                "seconds": round(seconds, 1),
                "cpu_seconds": round(cpu_seconds, 1),
                "slices_per_second": round(summary.slices / seconds, 1),
                "gigabytes_written": round(written / 1e9, 2),
                "load_average_1min": round(os.getloadavg()[0], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
