"""``kspacekit benchmark``: methods x accelerations on a dataset -> report.html, results.json, results.csv."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kspacekit.cli import app, command_line


def split_list(values: list[str] | None) -> list[str]:
    """Option values given comma-separated and/or repeated: ``["sense,tv", "grappa"]`` -> three names."""
    return [item.strip() for value in values or [] for item in value.split(",") if item.strip()]


def parse_accelerations(values: list[str] | None) -> tuple[float, ...]:
    from kspacekit.errors import KspaceKitError

    accelerations = []
    for item in split_list(values):
        try:
            accelerations.append(float(item.lower().removesuffix("x")))
        except ValueError:
            raise KspaceKitError(f"acceleration must be a number, got {item!r}") from None
    return tuple(dict.fromkeys(accelerations))


def parse_checkpoints(values: list[str] | None) -> dict[str, dict[str, object]]:
    """``["unet=path.pt"]`` -> ``{"unet": {"checkpoint": Path("path.pt")}}``."""
    from kspacekit.errors import KspaceKitError

    options: dict[str, dict[str, object]] = {}
    for value in values or []:
        method, sep, path = value.partition("=")
        if not sep or not method or not path:
            raise KspaceKitError(f"--checkpoint must be METHOD=PATH, got {value!r}")
        options[method.strip()] = {"checkpoint": Path(path)}
    return options


@app.command()
def benchmark(
    data: Annotated[Path, typer.Option("--data", "-d", help="A fastMRI-format folder of .h5 volumes (or one file).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for report.html, results.json, results.csv and the reconstructions.")],
    methods: Annotated[
        Optional[list[str]],
        typer.Option(help="Methods, comma-separated or repeated, or 'all' [default: zero-filled, sense, grappa, tv, wavelet, unet, varnet]. zero-filled is always included."),
    ] = None,
    accelerations: Annotated[
        Optional[list[str]], typer.Option(help="Accelerations, comma-separated or repeated (e.g. 4,8) [default: 4,8].")
    ] = None,
    mask: Annotated[
        Optional[str], typer.Option(help="Mask kind for fully sampled volumes (fastMRI kinds, poisson, gaussian) [default: random].")
    ] = None,
    center_fraction: Annotated[
        Optional[float], typer.Option(help="Fully sampled centre fraction [default: 0.32 / acceleration: fastMRI's 8 % at 4x, 4 % at 8x].")
    ] = None,
    seeds: Annotated[
        Optional[int], typer.Option(help="Mask draws per fully sampled volume; the first is fastMRI's per-file seed [default: 1].")
    ] = None,
    targets: Annotated[
        Optional[Path],
        typer.Option(help="Folder of targets (same file names) for undersampled files [default: none, then no metrics]."),
    ] = None,
    checkpoint: Annotated[
        Optional[list[str]], typer.Option(help="Weights of a learned method, METHOD=PATH (repeatable) [default: shipped weights].")
    ] = None,
    batch_size: Annotated[
        Optional[int],
        typer.Option(help="Slices reconstructed together [default: those whose k-space fits 16 MiB, 1 to 8]."),
    ] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, or auto (cuda when available).")] = "auto",
    title: Annotated[Optional[str], typer.Option(help="Title of the report [default: from the data folder].")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the output folder of an earlier benchmark.")] = False,
) -> None:
    """Run methods at several accelerations on a dataset and write a self-contained HTML report.

    Per acceleration: SSIM, PSNR and NMSE (fastMRI's definitions, mean ± std over volumes and mask
    draws), seconds per slice and a data-consistency residual per method; images of one slice;
    metrics against acceleration. Also results.json, results.csv and every reconstruction.

    Undersampled files without a target (prospective data; --targets not given) are benchmarked
    without a reference: images on one grey scale, mask, log k-space, seconds per slice and the
    data-consistency residual against the noise floor estimated from the data, no SSIM/PSNR/NMSE.
    --mask, --center-fraction and --seeds apply to fully sampled files only.
    """
    from kspacekit.runtime import configure_process, resolve_device

    configure_process()  # before torch is imported

    from rich.console import Console

    from kspacekit.evaluation.benchmark import BenchmarkConfig, default_methods
    from kspacekit.evaluation.report import benchmark_report, print_summary
    from kspacekit.methods import available_methods

    names = split_list(methods)
    names = list(available_methods()) if names == ["all"] else names or list(default_methods())
    config = BenchmarkConfig(
        methods=tuple(names),
        accelerations=parse_accelerations(accelerations) or (4.0, 8.0),
        mask=mask or "random",
        center_fraction=center_fraction,
        seeds=1 if seeds is None else seeds,
        batch_size=batch_size,
        method_options=parse_checkpoints(checkpoint),
        undersampling_options=tuple(
            name for name, value in (("--mask", mask), ("--center-fraction", center_fraction), ("--seeds", seeds))
            if value is not None
        ),
    )
    console = Console(stderr=True)
    result = benchmark_report(
        data, output, config, targets=targets, device=resolve_device(device), title=title, overwrite=overwrite,
        command=command_line(), console=console,
    )
    print_summary(result, Console())
    console.print(f"report: {output / 'report.html'}")
