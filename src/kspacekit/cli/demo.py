"""``kspacekit demo``: the whole pipeline on built-in simulated data, no download, a report at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kspacekit.cli import app

ORIENTATIONS = ("axial", "coronal", "sagittal")


@app.command()
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the report, results, data and reconstructions.")] = Path("demo_out"),
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the folder of an earlier demo or benchmark.")] = False,
    methods: Annotated[
        Optional[list[str]], typer.Option(hidden=True, help="Methods, comma-separated or repeated [default: the benchmark's].")
    ] = None,
    accelerations: Annotated[
        Optional[list[str]], typer.Option(hidden=True, help="Accelerations, comma-separated or repeated [default: 4,8].")
    ] = None,
    volumes: Annotated[int, typer.Option(hidden=True, help="Simulated volumes: 1-3 (axial, coronal, sagittal stacks).")] = 3,
    slices: Annotated[int, typer.Option(hidden=True, help="Slices per simulated volume (evenly spread; the middle one is shown).")] = 3,
    matrix: Annotated[tuple[int, int], typer.Option(hidden=True, help="k-space matrix H W of the simulated data.")] = (192, 160),
    coils: Annotated[int, typer.Option(hidden=True, help="Simulated receive coils.")] = 8,
    snr: Annotated[float, typer.Option(hidden=True, help="Image SNR of the simulated data.")] = 30.0,
    device: Annotated[str, typer.Option(help="cpu, cuda, or auto (cuda when available).")] = "auto",
) -> None:
    """Simulate a small multi-coil brain dataset, benchmark the methods at 4x and 8x, write a report.

    The data are SIMULATED from the ICBM152 T1 template that ships with the nilearn package
    (coil sensitivities, phase and noise are synthetic); the report says so at its top and
    bottom. Takes one to two minutes on two CPU cores. For your own data use `kspacekit benchmark`.
    """
    import torch
    from rich.console import Console

    from kspacekit.cli.benchmark import (
        benchmark_into,
        is_benchmark_output,
        parse_accelerations,
        split_list,
    )
    from kspacekit.errors import KspaceKitError
    from kspacekit.evaluation.benchmark import BenchmarkConfig, default_methods
    from kspacekit.evaluation.report import print_summary
    from kspacekit.outputs import atomic_directory
    from kspacekit.runtime import resolve_device
    from kspacekit.simulation.datasets import simulate_dataset
    from kspacekit.simulation.template import builtin_brain_volume

    if not 1 <= volumes <= len(ORIENTATIONS):
        raise KspaceKitError(f"--volumes must be 1 to {len(ORIENTATIONS)}, got {volumes}")
    console = Console(stderr=True)
    config = BenchmarkConfig(
        methods=tuple(split_list(methods)) or default_methods(),
        accelerations=parse_accelerations(accelerations) or (4.0, 8.0),
    )
    torch_device = resolve_device(device)
    if torch_device.type == "cpu":
        # One CPU thread: for images this small it is as fast as two on a shared machine, and
        # it keeps clear of a torch 2.13 / MKL bug: once torch.set_num_threads(n > 1) has been
        # called, complex linalg.solve (GRAPPA's calibration) fails with "CLASWP" errors and hangs.
        torch.set_num_threads(1)
    source = builtin_brain_volume()
    orientations = ORIENTATIONS[:volumes]
    description = (
        f"k-space SIMULATED with kspacekit.simulation.datasets from the ICBM152 2009a T1 template (an average of many "
        f"real T1 scans, shipped in the nilearn package): {volumes} volume(s) ({', '.join(orientations)} "
        f"slices) of {slices} slice(s), {coils} simulated loop coils, smooth random phase, complex Gaussian "
        f"noise at SNR {snr:g}, matrix {matrix[0]}x{matrix[1]}. The simulated data are in data/ beside this report."
    )
    with atomic_directory(output, overwrite, is_benchmark_output) as folder:
        console.print(f"simulating {volumes * slices} slices from {source.name}")
        simulate_dataset(
            [source], folder / "data", coils=coils, shape=matrix, snr=snr, slices_per_volume=slices,
            orientations=orientations, split=(0.0, 1.0, 0.0), seed=0, device=torch_device,
        )
        result = benchmark_into(
            folder, folder / "data" / "multicoil_val", config, data_label=output / "data" / "multicoil_val",
            targets=None, device=torch_device, title="kspacekit demo (simulated data)",
            description=description, console=console,
        )
    print_summary(result, Console())
    console.print(f"report: {output / 'report.html'}")
