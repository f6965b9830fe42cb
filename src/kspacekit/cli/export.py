"""``kspacekit export``: image volumes of HDF5 files to NIfTI, DICOM or PNG; fully sampled files to
fastMRI test-format or course-format undersampled files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kspacekit.cli import app


@app.command()
def export(
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="HDF5 file: a reconstruction (submission) or a fastMRI file with a "
                             "target; fastmri-test/-course: a fully sampled file or a folder of them.")
    ],
    output: Annotated[
        Path, typer.Argument(metavar="OUTPUT", help="NIfTI: a .nii/.nii.gz file. DICOM and PNG: a folder (one file per "
                             "slice). fastmri-test/-course: a folder (one file per input file).")
    ],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="nifti, dicom, png, fastmri-test or fastmri-course.")
    ] = "nifti",
    key: Annotated[
        Optional[str],
        typer.Option(help="Dataset to export [default: reconstruction, else reconstruction_rss, else reconstruction_esc]."),
    ] = None,
    mask: Annotated[str, typer.Option(help="fastmri-test/-course: fastMRI mask kind.")] = "random",
    acceleration: Annotated[float, typer.Option(help="fastmri-test: acceleration (centre fraction 0.32 / it).")] = 4.0,
    seed: Annotated[int, typer.Option(help="fastmri-test/-course: added to each file's name seed (0: fastMRI's).")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists.")] = False,
) -> None:
    """Export reconstructions or targets for viewers: NIfTI (one file), DICOM or PNG (one file per slice).

    Voxel size comes from the file's ISMRMRD header (recon field of view / matrix) when it has
    one, else 1 mm. DICOM stores 16-bit pixels with RescaleSlope/Intercept that restore the float
    values; PNG is 8-bit, windowed to the volume's minimum and maximum.

    fastmri-test writes masked k-space with its `mask` and `acceleration`/`num_low_frequency`
    attributes (fastMRI test files); fastmri-course writes `kspace_4af`/`kspace_8af` with their
    masks beside the target (the course's files). One mask per file, seeded by its name.
    """
    from kspacekit.data.export import UNDERSAMPLED_FORMATS, export_volume

    if fmt.lower() in UNDERSAMPLED_FORMATS:
        from kspacekit.data.export import write_undersampled_files
        from kspacekit.runtime import configure_process

        configure_process()
        files = write_undersampled_files(input_path, output, fmt.lower(), mask, acceleration, seed, overwrite)
        print(f"wrote {len(files)} {fmt.lower()} file(s) to {output}")
        return

    volume, written = export_volume(input_path, output, fmt.lower(), key, overwrite)
    spacing = " x ".join(f"{s:g}" for s in volume.spacing)
    origin = "header" if volume.spacing_known else "no header: 1 mm assumed"
    where = written[0] if len(written) == 1 else output
    print(f"wrote {len(written)} {fmt.lower()} file(s) to {where} ({volume.key}, {volume.data.shape[0]} slices, voxel {spacing} mm, {origin})")
