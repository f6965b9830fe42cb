"""``kspacekit reconstruct``: any method over a file or folder, fastMRI submission files out."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from kspacekit.cli import app

if TYPE_CHECKING:
    from kspacekit.methods import ReconstructionMethod


@app.command()
def reconstruct(
    input: Annotated[Path, typer.Option("--input", "-i", help="A fastMRI .h5 file or a folder of them.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the submission files.")],
    method: Annotated[str, typer.Option(help="Reconstruction method (see `kspacekit methods`).")] = "zero-filled",
    mask: Annotated[str, typer.Option(help="Mask kind for fully sampled files (fastMRI kinds, poisson, gaussian).")] = "random",
    acceleration: Annotated[float, typer.Option(help="Acceleration for retrospective undersampling.")] = 4.0,
    center_fraction: Annotated[float, typer.Option(help="Fraction of fully sampled centre lines.")] = 0.08,
    seed: Annotated[Optional[int], typer.Option(help="Mask seed; default: a per-file seed from the file name, as fastMRI.")] = None,
    kspace_key: Annotated[Optional[str], typer.Option(help="Dataset to read, e.g. kspace_4af or kspace_8af in course files.")] = None,
    lam: Annotated[Optional[float], typer.Option(help="Regularisation weight for methods that have one (default: automatic).")] = None,
    iterations: Annotated[
        Optional[int], typer.Option(help="Iteration limit of iterative methods (sense, grappa, tv, wavelet) [default: theirs].")
    ] = None,
    checkpoint: Annotated[Optional[Path], typer.Option(help="Weights for learned methods (default: shipped weights).")] = None,
    batch_size: Annotated[
        Optional[int],
        typer.Option(help="Slices reconstructed together [default: those whose k-space fits 16 MiB, 1 to 8]."),
    ] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, or auto (cuda when available).")] = "auto",
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
) -> None:
    """Reconstruct undersampled k-space and write one fastMRI submission file per volume.

    Test files (with a stored mask) and course files use their own samples; fully sampled files
    are undersampled retrospectively with --mask/--acceleration/--center-fraction/--seed.
    """
    import sys

    from kspacekit.data import inspect_volume
    from kspacekit.errors import KspaceKitError
    from kspacekit.pipeline.reconstruct import (
        Undersampling,
        input_files,
        reconstruct_volume,
    )
    from kspacekit.runtime import progress_bar, resolve_device

    _limit_heap_fragmentation()
    undersampling = Undersampling(mask, acceleration, center_fraction, seed)
    undersampling.spec()  # validate the mask options before any work
    options = {k: v for k, v in {"lam": lam, "iterations": iterations, "checkpoint": checkpoint}.items() if v is not None}
    recon = _create_method(method, options)
    torch_device = resolve_device(device)
    files = input_files(input)
    single = len(files) == 1 and not input.is_dir()

    failures: list[str] = []
    infos = []
    written = 0
    for path in files:
        try:
            infos.append(inspect_volume(path))
        except KspaceKitError as err:
            if single:
                raise
            failures.append(str(err))
    with progress_bar() as progress:
        task = progress.add_task(f"{method}", total=sum(i.num_slices for i in infos))
        for info in infos:
            try:
                reconstruct_volume(
                    info, output, recon, undersampling=undersampling, kspace_key=kspace_key,
                    batch_size=batch_size, device=torch_device, overwrite=overwrite,
                    on_slices=lambda n: progress.advance(task, n),
                )
                written += 1
            except KspaceKitError as err:
                if single:
                    raise
                failures.append(str(err))
    print(f"wrote {written} of {len(files)} volumes to {output}", file=sys.stderr)
    for failure in failures:
        print(f"kspacekit: failed: {failure}", file=sys.stderr)
    if failures:
        raise typer.Exit(1)


MMAP_THRESHOLD_BYTES = 2**20
"""Allocations from this size up get their own pages, returned to the system when freed. With
glibc's default (a threshold that rises to 32 MiB after the first large free), a slice's many
tens-of-MiB tensors are carved from one heap that fragments from slice to slice: wavelet on 40
slices of 15 coils x 640 x 368 peaked at 2.46 GB, against 1.67 GB for one slice; with this
threshold the peak stays at the one-slice figure however many slices follow (BENCHMARKS.md, Memory)."""


def _limit_heap_fragmentation() -> None:
    """Set glibc's mmap threshold (mallopt M_MMAP_THRESHOLD) to :data:`MMAP_THRESHOLD_BYTES`;
    nothing where the C library has no mallopt (macOS) or a user set MALLOC_MMAP_THRESHOLD_."""
    import ctypes
    import os

    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return
    m_mmap_threshold = -3
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:
        mallopt(m_mmap_threshold, MMAP_THRESHOLD_BYTES)


def _create_method(name: str, options: dict[str, object]) -> ReconstructionMethod:
    """The method with the options given on the command line (create_method refuses those it does not take)."""
    from kspacekit.errors import KspaceKitError
    from kspacekit.methods import create_method

    if "iterations" in options and int(options["iterations"]) < 1:  # type: ignore[call-overload]
        raise KspaceKitError(f"--iterations must be at least 1, got {options['iterations']}")
    return create_method(name, **options)


@app.command()
def methods() -> None:
    """List the available reconstruction methods."""
    from kspacekit.methods import available_methods

    for name in available_methods():
        print(name)
