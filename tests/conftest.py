"""Shared fixtures: small synthetic fastMRI-layout files and a way to run the CLI as a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from kspacekit.data import write_volume
from kspacekit.physics.fft import fft2c, ifft2c, rss

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

CUDA_REQUIRED = os.environ.get("KSPACEKIT_TEST_DEVICE") == "cuda"
"""``KSPACEKIT_TEST_DEVICE=cuda`` (set by benchmarks/gpu_check.sh) makes the ``cuda`` cases run, and
fail, where CUDA is missing, instead of skipping: on a GPU machine a CPU-only torch is an error."""

# Device tests compare CUDA results with the CPU's in float32; cuDNN's default TF32 convolutions
# (10-bit mantissas) would differ by about 1e-3 for reasons that are not errors.
torch.backends.cudnn.allow_tf32 = False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that takes a ``device`` argument runs once per device: ``cpu`` always, ``cuda``
    where a GPU is available (skipped otherwise); ``pytest -k cuda`` selects the GPU cases."""
    if "device" in metafunc.fixturenames:
        cuda_missing = not torch.cuda.is_available() and not CUDA_REQUIRED
        metafunc.parametrize("device", [
            "cpu",
            pytest.param("cuda", marks=pytest.mark.skipif(cuda_missing, reason="no CUDA GPU on this machine")),
        ])


def synthetic_kspace(slices: int, coils: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Multi-coil k-space of a smooth object seen through smooth complex coil maps."""
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    obj = ((x / 0.7) ** 2 + (y / 0.8) ** 2 < 1).float() * (1 + 0.3 * torch.cos(6 * x) * torch.sin(4 * y))
    obj = obj * (1 + 0.05 * torch.randn(slices, height, width, generator=g))
    angles = torch.arange(coils) * 2 * torch.pi / coils
    maps = torch.exp(-((x - 0.8 * torch.cos(angles)[:, None, None]) ** 2 + (y - 0.8 * torch.sin(angles)[:, None, None]) ** 2))
    maps = maps * torch.exp(1j * (angles[:, None, None] + x))
    return fft2c(obj[:, None] * maps[None]).to(torch.complex64).numpy()


def write_train_file(path: Path, slices: int = 3, coils: int = 4, height: int = 64, width: int = 48,
                     seed: int = 0) -> Path:
    """A fully sampled multi-coil train/val file with its RSS target."""
    kspace = synthetic_kspace(slices, coils, height, width, seed)
    target = rss(ifft2c(torch.from_numpy(kspace)), dim=1).numpy()
    return write_volume(path, kspace, target=target, attrs={"acquisition": "CORPD_FBK", "patient_id": "p"})


def run_cli(*args: str, check_rc: int | None = None) -> subprocess.CompletedProcess:
    """Run ``kspacekit ARGS`` in a subprocess, as a user would (exit codes, stderr)."""
    result = subprocess.run([sys.executable, "-m", "kspacekit", *args], capture_output=True, text=True)
    if check_rc is not None:
        assert result.returncode == check_rc, result.stderr
    return result


def run_main(args: list, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """Run ``kspacekit ARGS`` in this process through the real entry point: (exit code, out, err)."""
    from kspacekit.cli import main

    monkeypatch.setattr(sys, "argv", ["kspacekit", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a test module, as ``kspacekit evaluate`` runs (small tensors: one
    thread is fastest and avoids OpenMP contention on a shared 2-core machine); restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def train_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "train"
    write_train_file(folder / "file_a.h5", seed=1)
    write_train_file(folder / "file_b.h5", slices=2, seed=2)
    return folder
