"""``kspacekit simulate``: analytic phantoms or realistic multi-coil datasets from magnitude images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kspacekit.cli import app


@app.command()
def simulate(
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o",
            help="Dataset folder (with --source, or --phantom and --volumes) or .h5 file (with --phantom).",
        ),
    ],
    source: Annotated[
        Optional[list[Path]],
        typer.Option(help="Magnitude image: NIfTI volume, .npy, raw .ima(.gz) or DICOM. Repeat for several."),
    ] = None,
    phantom: Annotated[
        Optional[str],
        typer.Option(help="Analytic phantom with closed-form k-space instead of --source: shepp-logan or ellipses."),
    ] = None,
    coils: Annotated[int, typer.Option(help="Receive coils, 1 to 64 (1 = single-coil).")] = 8,
    shape: Annotated[tuple[int, int], typer.Option(help="Matrix size H W of the k-space.")] = (256, 256),
    snr: Annotated[
        Optional[float],
        typer.Option(help="Image SNR (mean object signal / noise std); default 30 for --source, noise-free phantoms."),
    ] = None,
    orientation: Annotated[
        Optional[list[str]],
        typer.Option(help="Slice orientation of volumes: axial, coronal or sagittal; repeatable (default axial)."),
    ] = None,
    slices_per_volume: Annotated[
        Optional[int], typer.Option(help="Slices per volume, evenly spread over the non-empty ones (default all).")
    ] = None,
    recon_size: Annotated[
        Optional[tuple[int, int]], typer.Option(help="Crop h w of the targets (default: the matrix size).")
    ] = None,
    singlecoil: Annotated[
        bool, typer.Option("--singlecoil", help="Also write emulated single-coil data (singlecoil_* folders).")
    ] = False,
    split: Annotated[
        tuple[float, float, float], typer.Option(help="Train, val and test fractions of the volumes.")
    ] = (0.8, 0.1, 0.1),
    split_by: Annotated[
        str,
        typer.Option(help="Split unit: 'orientation' (a volume's stack per orientation) or 'volume' (a source)."),
    ] = "orientation",
    head: Annotated[
        bool,
        typer.Option(
            "--head", help="Surround skull-stripped brains (Colin27, ICBM152) with a synthetic scalp and skull."
        ),
    ] = False,
    slices: Annotated[int, typer.Option(help="Phantom slices per file (slice i uses seed + i).")] = 1,
    volumes: Annotated[
        Optional[int],
        typer.Option(help="With --phantom ellipses: write this many volumes into a dataset folder, split by --split."),
    ] = None,
    ellipses: Annotated[int, typer.Option(help="Number of ellipses of --phantom ellipses.")] = 12,
    seed: Annotated[int, typer.Option(help="Random seed: the same command writes the same bytes.")] = 0,
    device: Annotated[str, typer.Option(help="cpu, cuda, or auto (cuda when available).")] = "cpu",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Write into a non-empty folder / replace the file.")
    ] = False,
) -> None:
    """Simulate fully sampled k-space: a phantom file, or a fastMRI-layout dataset from real images.

    With --source: slices of the images get smooth random phase, loop-coil sensitivities and
    complex noise; volumes are split into multicoil_train/val/test (never by slice).
    """
    from kspacekit.errors import KspaceKitError
    from kspacekit.runtime import configure_process, resolve_device

    configure_process()  # before torch is imported
    if (phantom is None) == (not source):
        raise KspaceKitError("give either --source (one or more images) or --phantom")
    if phantom is not None and head:
        raise KspaceKitError("--head surrounds brain images given with --source, not phantoms")
    if volumes is not None:
        if phantom != "ellipses":
            raise KspaceKitError("--volumes makes a dataset of random ellipse phantoms: give --phantom ellipses")
        from kspacekit.simulation.phantoms import write_phantom_dataset

        written = write_phantom_dataset(
            output, phantom, volumes, split=split, shape=shape, coils=coils, slices=slices, ellipses=ellipses, snr=snr,
            seed=seed, overwrite=overwrite,
        )
        for folder, files in sorted(written.items()):
            typer.echo(f"{output / folder}: {len(files)} volume(s) of {slices} {phantom} slice(s), {coils} coil(s)")
        return
    if phantom is not None:
        from kspacekit.simulation.phantoms import write_phantom_volume

        path = write_phantom_volume(
            output, phantom, shape=shape, coils=coils, slices=slices, ellipses=ellipses, snr=snr, seed=seed,
            overwrite=overwrite,
        )
        typer.echo(f"{path}: {phantom} phantom, {slices} slice(s), {coils} coil(s)")
        return

    from kspacekit.simulation.datasets import simulate_dataset

    summary = simulate_dataset(
        source,
        output,
        coils=coils,
        shape=shape,
        snr=30.0 if snr is None else snr,
        slices_per_volume=slices_per_volume,
        orientations=tuple(orientation or ("axial",)),
        seed=seed,
        recon_size=recon_size,
        singlecoil=singlecoil,
        split=split,
        split_by=split_by,
        overwrite=overwrite,
        device=resolve_device(device),
        head=head,
    )
    for folder, files in sorted(summary.files.items()):
        typer.echo(f"{output / folder}: {len(files)} volume(s)")
    if summary.skipped:
        typer.echo(f"skipped (too few in-plane samples): {', '.join(summary.skipped)}")
    typer.echo(f"{summary.slices} slices simulated")
