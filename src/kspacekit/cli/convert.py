"""``kspacekit convert``: raw k-space (BART, NumPy, MATLAB, Siemens twix, ISMRMRD) -> fastMRI file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kspacekit.cli import app


@app.command()
def convert(
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="Raw k-space: BART .cfl/.hdr, .npy, .npz, MATLAB .mat (v5, v7.3), Siemens twix .dat, ISMRMRD .h5.",
        ),
    ],
    output: Annotated[Path, typer.Argument(metavar="OUTPUT.h5", help="fastMRI-layout HDF5 file to write.")],
    coil_axis: Annotated[
        Optional[int],
        typer.Option(help="Axis of the stored array that holds coils (array formats; default by format and rank)."),
    ] = None,
    pe_axis: Annotated[
        Optional[int],
        typer.Option(help="Phase-encode axis of the stored array; it becomes W, the axis 1-D masks select."),
    ] = None,
    slice_axis: Annotated[
        Optional[int], typer.Option(help="Axis of the stored array that holds slices (array formats).")
    ] = None,
    key: Annotated[
        Optional[str], typer.Option(help="Variable name in a .mat or .npz file (default: its only complex array).")
    ] = None,
    remove_oversampling: Annotated[
        bool, typer.Option("--remove-oversampling", help="Halve 2x-oversampled readouts (twix .dat, ISMRMRD).")
    ] = False,
    readout_axis: Annotated[
        Optional[int],
        typer.Option(help="3-D k-space: the fully sampled readout axis of the stored array (BART files with "
                     "READ, PHS1 and PHS2 dims: READ). Slices become the ky-kz planes at each readout position."),
    ] = None,
    voxel_size: Annotated[
        Optional[str], typer.Option(help="3-D k-space: voxel size in mm along readout,ky,kz [default: 1,1,1].")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists.")] = False,
) -> None:
    """Convert raw k-space into a fastMRI multi-coil (or single-coil) HDF5 file.

    Fully sampled data (every phase-encode line present) get the target reconstruction_rss
    (reconstruction_esc for single-coil) and attrs max/norm; undersampled data keep their
    zeros and get a 1-D 'mask' (line-wise sampling) or a 2-D 'mask_2d' (other patterns), which
    every command then uses. 3-D Cartesian k-space (--readout-axis, or BART dims READ, PHS1 and
    PHS2) becomes one file of ky-kz planes sharing the scan's 2-D pattern.
    """
    from kspacekit.runtime import configure_process

    configure_process()  # before torch is imported

    from kspacekit.data.raw import convert_to_fastmri, parse_voxel_size

    path, sampling = convert_to_fastmri(
        input_path,
        output,
        coil_axis=coil_axis,
        slice_axis=slice_axis,
        pe_axis=pe_axis,
        key=key,
        remove_oversampling=remove_oversampling,
        readout_axis=readout_axis,
        voxel_size=None if voxel_size is None else parse_voxel_size(voxel_size),
        overwrite=overwrite,
    )
    if sampling.fully_sampled:
        kind = "fully sampled, target written"
    elif sampling.line_wise:
        kind = f"line-wise undersampled ({sampling.acceleration:.2f}x), 1-D mask written"
    else:
        kind = f"2-D undersampled ({sampling.acceleration:.2f}x), mask_2d written"
    typer.echo(f"{path}: {kind}")
