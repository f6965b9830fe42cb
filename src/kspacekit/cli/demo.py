"""``kspacekit demo``: the whole pipeline on built-in simulated data, no download, a report at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kspacekit.cli import app, command_line


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
    from kspacekit.runtime import configure_process, resolve_device

    configure_process()  # before torch is imported

    from rich.console import Console

    from kspacekit.cli.benchmark import parse_accelerations, split_list
    from kspacekit.evaluation.benchmark import BenchmarkConfig, default_methods
    from kspacekit.evaluation.report import demo_report, print_summary

    config = BenchmarkConfig(
        methods=tuple(split_list(methods)) or default_methods(),
        accelerations=parse_accelerations(accelerations) or (4.0, 8.0),
    )
    torch_device = resolve_device(device)
    if torch_device.type == "cpu":
        # One CPU thread: for images this small it is as fast as two on a shared machine.
        configure_process(threads=1)
    console = Console(stderr=True)
    result = demo_report(
        output, config, volumes=volumes, slices=slices, matrix=matrix, coils=coils, snr=snr, device=torch_device,
        overwrite=overwrite, command=command_line(), console=console,
    )
    print_summary(result, Console())
    console.print(f"report: {output / 'report.html'}")
