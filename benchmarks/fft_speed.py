"""Centred 2-D FFT: kspacekit.physics.fft.fft2c against the plain FFT and the two-shift formulation.

    .venv/bin/python benchmarks/fft_speed.py [--shape 8 15 320 368] [--repeats 10]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from kspacekit.physics.fft import fft2c


def shifted_fft2c(x: torch.Tensor) -> torch.Tensor:
    """The textbook centred FFT: fftshift(fft2(ifftshift(x)))."""
    dims = (-2, -1)
    return torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(x, dim=dims), norm="ortho"), dim=dims)


def mean_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=4, default=[8, 15, 320, 368])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    x = torch.randn(*args.shape, dtype=torch.complex64)
    error = (fft2c(x) - shifted_fft2c(x)).abs().max().item()
    print(f"shape {tuple(args.shape)}, max difference {error:.1e}")
    print("threads  fft2 (ms)  shifts (ms)  fft2c (ms)")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        times = [mean_ms(f, args.repeats) for f in (lambda: torch.fft.fft2(x, norm="ortho"),
                                                     lambda: shifted_fft2c(x), lambda: fft2c(x))]
        print(f"{threads:7d}  " + "  ".join(f"{t:9.0f}" for t in times))


if __name__ == "__main__":
    main()
