"""``kspacekit export``: image volumes of HDF5 files to NIfTI, DICOM or PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kspacekit.cli import app


@app.command()
def export(
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="HDF5 file: a reconstruction (submission) or a fastMRI file with a target.")
    ],
    output: Annotated[
        Path, typer.Argument(metavar="OUTPUT", help="NIfTI: a .nii/.nii.gz file. DICOM and PNG: a folder (one file per slice).")
    ],
    fmt: Annotated[str, typer.Option("--format", "-f", help="nifti, dicom or png.")] = "nifti",
    key: Annotated[
        Optional[str],
        typer.Option(help="Dataset to export [default: reconstruction, else reconstruction_rss, else reconstruction_esc]."),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists.")] = False,
) -> None:
    """Export reconstructions or targets for viewers: NIfTI (one file), DICOM or PNG (one file per slice).

    Voxel size comes from the file's ISMRMRD header (recon field of view / matrix) when it has
    one, else 1 mm. DICOM stores 16-bit pixels with RescaleSlope/Intercept that restore the float
    values; PNG is 8-bit, windowed to the volume's minimum and maximum.
    """
    from kspacekit.data.export import export_volume

    volume, written = export_volume(input_path, output, fmt.lower(), key, overwrite)
    spacing = " x ".join(f"{s:g}" for s in volume.spacing)
    origin = "header" if volume.spacing_known else "no header: 1 mm assumed"
    where = written[0] if len(written) == 1 else output
    print(f"wrote {len(written)} {fmt.lower()} file(s) to {where} ({volume.key}, {volume.data.shape[0]} slices, voxel {spacing} mm, {origin})")
