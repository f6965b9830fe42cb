"""Issue #17 item 2: methods that fit per slice (``last_steps``) get a steps column beside seconds."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import torch
from conftest import write_train_file
from rich.console import Console

from kspacekit.evaluation.benchmark import BenchmarkConfig, plan_benchmark, run_benchmark
from kspacekit.evaluation.report import print_summary, write_report
from kspacekit.methods import ReconMeta, ReconstructionMethod, register
from kspacekit.physics.fft import crop_or_pad, ifft2c, rss


@register("test-fits-per-slice")
class FitsPerSlice(ReconstructionMethod):
    """Zero-filled, reporting 10 + slice-in-batch steps per slice as scan-learned reports its fits."""

    def reconstruct(self, kspace: torch.Tensor, mask: torch.Tensor, meta: ReconMeta) -> torch.Tensor:
        self.last_steps = [10 + b for b in range(kspace.shape[0])]
        return crop_or_pad(rss(ifft2c(kspace), dim=1), meta.target_size).float()


def test_steps_per_slice_appear_for_fitting_methods_only(tmp_path: Path):
    write_train_file(tmp_path / "vol.h5", slices=2, height=64, width=64, seed=3)
    config = BenchmarkConfig(("test-fits-per-slice",), (4.0,), batch_size=2)
    result = run_benchmark(plan_benchmark(tmp_path / "vol.h5", config), config, tmp_path / "out")
    write_report(result, tmp_path / "out", "steps")

    rows = {r["method"]: r for r in csv.DictReader((tmp_path / "out" / "results.csv").open())}
    assert float(rows["test-fits-per-slice"]["steps"]) == 10.5  # slices took 10 and 11 steps
    assert rows["zero-filled"]["steps"] == ""
    summary = {s["method"]: s for s in json.loads((tmp_path / "out" / "results.json").read_text())["summary"]}
    assert summary["test-fits-per-slice"]["steps"] == 10.5
    assert summary["zero-filled"]["steps"] is None

    page = (tmp_path / "out" / "report.html").read_text()
    assert "<th>steps</th>" in page
    assert "<td>test-fits-per-slice</td>" in page and "<td>10.5</td>" in page

    console = Console(file=io.StringIO(), width=200)
    print_summary(result, console)
    text = console.file.getvalue()
    assert "steps" in text and "10.5" in text


def test_no_steps_column_without_fitting_methods(tmp_path: Path):
    write_train_file(tmp_path / "vol.h5", slices=2, height=64, width=64, seed=3)
    config = BenchmarkConfig(("zero-filled",), (4.0,))
    result = run_benchmark(plan_benchmark(tmp_path / "vol.h5", config), config, tmp_path / "out")
    write_report(result, tmp_path / "out", "no steps")
    assert "<th>steps</th>" not in (tmp_path / "out" / "report.html").read_text()
    console = Console(file=io.StringIO(), width=200)
    print_summary(result, console)
    assert "steps" not in console.file.getvalue()
