"""Peak resident memory of ``kspacekit reconstruct`` on one large multi-coil volume (issue #7: < 2 GB).

Writes a synthetic fastMRI multi-coil brain-size file (default 40 slices, 15 coils, 640 x 368,
1.1 GB of complex64 k-space, target 320 x 320), then runs the real command line once per method
in a child process and reads that child's peak resident set size (``ru_maxrss`` from
``os.wait4``). A peak below the size of the volume's k-space shows that reconstruction streams
batches of slices instead of loading the volume.

    .venv/bin/python benchmarks/memory.py [--slices 40] [--coils 15] [--shape 640 368]
        [--methods zero-filled wavelet] [--iterations 10] [--keep FOLDER]

``--iterations`` caps the iterative methods (the run time, not the memory: every iteration
reuses the same buffers); the recorded figures used 10 so that 40 wavelet slices take minutes
on a busy 2-core machine instead of an hour.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch

from kspacekit.data import make_ismrmrd_header
from kspacekit.physics.fft import center_crop, fft2c, ifft2c, rss

RECON_SIZE = (320, 320)


def slice_kspace(coils: int, height: int, width: int, index: int) -> np.ndarray:
    """One slice (coils, H, W) complex64: a textured ellipse seen through smooth complex coil maps."""
    g = torch.Generator().manual_seed(index)
    y, x = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    radius = 0.6 + 0.2 * index / 40
    obj = ((x / radius) ** 2 + (y / 0.8) ** 2 < 1).float() * (1 + 0.3 * torch.cos(6 * x) * torch.sin(4 * y))
    obj = obj * (1 + 0.05 * torch.randn(height, width, generator=g))
    angles = torch.arange(coils) * 2 * torch.pi / coils
    maps = torch.exp(-((x - 0.9 * torch.cos(angles)[:, None, None]) ** 2 + (y - 0.9 * torch.sin(angles)[:, None, None]) ** 2))
    maps = maps * torch.exp(1j * (angles[:, None, None] + x))
    kspace = fft2c(obj * maps)
    noise = torch.randn(kspace.shape, generator=g, dtype=torch.complex64) * 1e-3 * kspace.abs().max()
    return (kspace + noise).to(torch.complex64).numpy()


def write_large_volume(path: Path, slices: int, coils: int, height: int, width: int) -> Path:
    """A fully sampled multi-coil train-format file, written one slice at a time."""
    with h5py.File(path, "w") as f:
        kspace = f.create_dataset("kspace", (slices, coils, height, width), dtype=np.complex64)
        target = f.create_dataset("reconstruction_rss", (slices, *RECON_SIZE), dtype=np.float32)
        for i in range(slices):
            kspace[i] = slice_kspace(coils, height, width, i)
            target[i] = center_crop(rss(ifft2c(torch.from_numpy(kspace[i])), dim=0), RECON_SIZE).numpy()
        f["ismrmrd_header"] = make_ismrmrd_header((height, width, 1), (*RECON_SIZE, 1), num_coils=coils).encode()
        volume = target[()]
        f.attrs.update({"max": float(volume.max()), "norm": float(np.linalg.norm(volume)), "acquisition": "AXT2"})
    return path


def peak_memory(command: list[str]) -> tuple[int, float, int]:
    """Run ``command``; (exit status, wall seconds, peak resident bytes of that process)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    stderr = process.stderr.read().decode() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        print(stderr, file=sys.stderr)
    return os.waitstatus_to_exitcode(status), seconds, usage.ru_maxrss * 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=40)
    parser.add_argument("--coils", type=int, default=15)
    parser.add_argument("--shape", type=int, nargs=2, default=[640, 368])
    parser.add_argument("--methods", nargs="+", default=["zero-filled", "wavelet"])
    parser.add_argument("--iterations", type=int, help="--iterations for the methods other than zero-filled")
    parser.add_argument("--keep", type=Path, help="Folder for the data and outputs (default: a temporary one).")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.keep) as tmp:
        folder = Path(tmp)
        data = folder / "large_volume.h5"
        start = time.perf_counter()
        write_large_volume(data, args.slices, args.coils, *args.shape)
        volume_bytes = args.slices * args.coils * args.shape[0] * args.shape[1] * 8
        print(f"volume: {args.slices} slices x {args.coils} coils x {args.shape[0]} x {args.shape[1]}, "
              f"k-space {volume_bytes / 1e9:.2f} GB in memory, written in {time.perf_counter() - start:.0f} s")
        print(f"{'method':12s} {'peak RSS (GB)':>14s} {'x volume':>9s} {'wall (s)':>9s}  command")
        for method in args.methods:
            command = [sys.executable, "-m", "kspacekit", "reconstruct", "-i", str(data), "-o", str(folder / method),
                       "--method", method, "--device", "cpu"]
            if args.iterations is not None and method != "zero-filled":
                command += ["--iterations", str(args.iterations)]
            code, seconds, peak = peak_memory(command)
            shown = " ".join(["kspacekit", *command[3:]]).replace(str(folder), "$TMP")
            status = "" if code == 0 else f"  (exit {code})"
            print(f"{method:12s} {peak / 1e9:14.2f} {peak / volume_bytes:9.2f} {seconds:9.0f}  {shown}{status}")


if __name__ == "__main__":
    main()
