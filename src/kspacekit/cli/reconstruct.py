"""``kspacekit reconstruct``: any method over a file or folder, fastMRI submission files out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kspacekit.cli import app


@app.command()
def reconstruct(
    input: Annotated[Path, typer.Option("--input", "-i", help="A fastMRI .h5 file or a folder of them.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the submission files.")],
    method: Annotated[str, typer.Option(help="Reconstruction method (see `kspacekit methods`).")] = "zero-filled",
    mask: Annotated[
        Optional[str],
        typer.Option(help="Mask kind for fully sampled files (fastMRI kinds, poisson, gaussian) [default: random]."),
    ] = None,
    acceleration: Annotated[
        Optional[float], typer.Option(help="Acceleration for retrospective undersampling [default: 4].")
    ] = None,
    center_fraction: Annotated[
        Optional[float], typer.Option(help="Fraction of fully sampled centre lines [default: 0.08].")
    ] = None,
    seed: Annotated[Optional[int], typer.Option(help="Mask seed; default: a per-file seed from the file name, as fastMRI.")] = None,
    kspace_key: Annotated[
        Optional[str],
        typer.Option(help="Dataset to read, e.g. kspace_4af [default: every course key, into OUTPUT/4x, OUTPUT/8x]."),
    ] = None,
    lam: Annotated[
        Optional[str],
        typer.Option(help="number, or auto / holdout (tv, wavelet: chosen by k-space hold-out, about 5x the time)"),
    ] = None,
    iterations: Annotated[
        Optional[int], typer.Option(help="Iteration limit of iterative methods (sense, grappa, tv, wavelet) [default: theirs].")
    ] = None,
    checkpoint: Annotated[
        Optional[Path],
        typer.Option(help="Weights for learned methods (default: shipped); outputs record which, with its sha256."),
    ] = None,
    batch_size: Annotated[
        Optional[int],
        typer.Option(help="Slices reconstructed together [default: those whose k-space fits 16 MiB, 1 to 8]."),
    ] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, or auto (cuda when available).")] = "auto",
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
) -> None:
    """Reconstruct undersampled k-space and write one fastMRI submission file per volume.

    Files that carry their own sampling (a stored mask or mask_2d, course files, raw files with
    zeros) are reconstructed from exactly their samples, and the undersampling options are an
    error for them; a course file gives OUTPUT/4x/NAME.h5 and OUTPUT/8x/NAME.h5 unless
    --kspace-key picks one; fully sampled files are undersampled retrospectively with
    --mask/--acceleration/--center-fraction/--seed.
    """
    import sys

    from kspacekit.runtime import configure_process, resolve_device

    configure_process(bounded_heap=True)  # before torch is imported

    from kspacekit.pipeline.reconstruct import (
        Undersampling,
        create_method_with,
        reconstruct_folder,
    )

    undersampling = Undersampling.from_options(mask, acceleration, center_fraction, seed)
    recon = create_method_with(method, lam=lam, iterations=iterations, checkpoint=checkpoint)
    result = reconstruct_folder(
        input, output, recon, undersampling=undersampling, kspace_key=kspace_key, batch_size=batch_size,
        device=resolve_device(device), overwrite=overwrite,
    )
    files = sum(len(volume.outputs) for volume in result.written)
    per_acceleration = f" ({files} files, one per acceleration)" if files != len(result.written) else ""
    print(f"wrote {len(result.written)} of {result.files} volumes to {output}{per_acceleration}", file=sys.stderr)
    for failure in result.failures:
        print(f"kspacekit: failed: {failure}", file=sys.stderr)
    if result.failures:
        raise typer.Exit(1)


@app.command()
def methods() -> None:
    """List the available reconstruction methods."""
    from kspacekit.methods import available_methods

    for name in available_methods():
        print(name)
