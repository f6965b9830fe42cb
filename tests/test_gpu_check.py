"""The prepared GPU check (benchmarks/gpu_check.sh) in its reduced CPU form, so that it cannot rot
before a GPU machine runs it: every section runs and records results, none an error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_reduced_cpu_form_runs_every_section(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KSPACEKIT_PYTHON": sys.executable}
    result = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--device", "cpu", "--out", str(tmp_path)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    sections = report["sections"]
    assert list(sections) == [
        "tests", "throughput", "reconstruction", "training_steps", "mixed_precision_ssim", "ddp", "scan_learned"
    ]
    assert not [name for name, section in sections.items() if "error" in section]

    tests = sections["tests"]
    assert tests["returncode"] == 0 and tests["counts"]["collected"] > 20 and not tests["failures"], tests
    for name in ("sense", "tv", "wavelet", "varnet"):
        assert sections["reconstruction"]["methods"][name]["s_per_slice"] > 0
    scan_learned = sections["scan_learned"]["methods"]["scan-learned"]
    assert scan_learned.get("status") == "not registered" or scan_learned["s_per_slice"] > 0
    for name in ("tv", "wavelet"):
        assert sections["throughput"]["methods"][name]["slices_per_s"] > 0

    training = sections["training_steps"]
    assert training["fastmri"] == "available"
    assert len(training["steps"]) == 8 and not [k for k, row in training["steps"].items() if "error" in row]
    assert all(row["largest_batch"]["batch"] == 2 for row in training["steps"].values())
    assert set(training["ratios"]) >= {"varnet: float32 / mixed step time (ours)", "varnet: fastmri / ours step time (mixed)"}

    # The engine's amp is CUDA-only: on the CPU the two seeded runs are the same float32 run.
    unet = sections["mixed_precision_ssim"]["models"]["unet"]
    assert 0 < unet["float32"]["val_ssim"] <= 1 and unet["ssim_difference"] == 0
    assert sections["ddp"]["status"].startswith("skipped")

    markdown = (tmp_path / "gpu_check.md").read_text()
    assert "# GPU check (reduced CPU form)" in markdown and "| step | s/step (batch 1) |" in markdown


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where there is no GPU")
def test_cuda_form_without_a_gpu_says_so(tmp_path):
    result = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--device", "cuda", "--out", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 3 and "sees no CUDA GPU" in result.stderr
    assert not list(tmp_path.iterdir())
