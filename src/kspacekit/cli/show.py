"""``kspacekit show``: one PNG of a file's slice: mask, log k-space, zero-filled image and target."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from kspacekit.cli import app

if TYPE_CHECKING:
    import numpy as np


Panels = list[tuple[str, "np.ndarray", str]]  # (title, image, scale: "image" (shared), "mask" (0-1) or "auto")


def _kspace_panels(path: Path, index: int | None, kspace_key: str | None) -> tuple[Panels, str, int]:
    """The panels of one slice of a k-space file, a caption and the slice index."""
    import torch

    from kspacekit.data import inspect_volume, read_slice
    from kspacekit.errors import KspaceKitError
    from kspacekit.physics.fft import rss
    from kspacekit.physics.operators import zero_filled_image

    info = inspect_volume(path)
    index = info.num_slices // 2 if index is None else index
    if not 0 <= index < info.num_slices:
        raise KspaceKitError(f"slice {index} out of range (the volume has {info.num_slices})", path)
    sample = read_slice(info, index, kspace_key)
    kspace = sample.kspace
    magnitude = rss(kspace, dim=0)
    # the stored mask; else the sampled pattern itself (all ones for fully sampled data)
    sampled = (kspace.abs().sum(0) > 0).float()
    mask = sampled if sample.mask is None else torch.broadcast_to(sample.mask, magnitude.shape)
    positive = magnitude[magnitude > 0]
    floor = positive.min() if positive.numel() else torch.tensor(1.0)
    log_kspace = torch.where(magnitude > 0, torch.log10(magnitude / floor), torch.zeros_like(magnitude))
    zero_filled = zero_filled_image(kspace, mask, info.target_size)
    acceleration = mask.numel() / max(int(mask.count_nonzero()), 1)
    panels = [
        (f"mask ({acceleration:.2f}x)", mask.numpy(), "mask"),
        ("k-space (log magnitude)", log_kspace.numpy(), "auto"),
        ("zero-filled" if acceleration > 1 else "zero-filled (fully sampled)", zero_filled.numpy(), "image"),
    ]
    if sample.target is not None:
        panels.append((info.target_key or "target", sample.target.numpy(), "image"))
    caption = f"{path.name}: slice {index} of {info.num_slices}, '{sample.kspace_key}', {info.num_coils} coil(s), {info.kind} file"
    return panels, caption, index


def _image_panels(path: Path, index: int | None) -> tuple[Panels, str, int]:
    """The image of a file without k-space (a reconstruction or a target file)."""
    from kspacekit.data.export import read_image_volume
    from kspacekit.errors import KspaceKitError

    volume = read_image_volume(path)
    count = volume.data.shape[0]
    index = count // 2 if index is None else index
    if not 0 <= index < count:
        raise KspaceKitError(f"slice {index} out of range (the volume has {count})", path)
    return [(volume.key, volume.data[index], "image")], f"{path.name}: slice {index} of {count}", index


@app.command()
def show(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A fastMRI .h5 file (k-space), or a reconstruction file.")],
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="PNG to write [default: FILE's name + _slice<N>.png, here].")
    ] = None,
    slice_index: Annotated[Optional[int], typer.Option("--slice", help="Slice to show [default: the middle one].")] = None,
    kspace_key: Annotated[Optional[str], typer.Option(help="k-space dataset, e.g. kspace_8af [default: kspace].")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the PNG if it exists.")] = False,
) -> None:
    """Save one PNG of a slice: mask, log k-space, zero-filled image and target (when present), side by side.

    Without a stored mask, the mask shown is the sampled pattern of the k-space itself.
    Reconstruction files (no k-space) show their image.
    """
    import h5py
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from kspacekit.data.fastmri import KSPACE_KEYS
    from kspacekit.errors import HDF5_READ_ERRORS, KspaceKitError, describe_read_error
    from kspacekit.outputs import atomic_path

    if not file.is_file():
        raise KspaceKitError("file not found" if not file.exists() else "not a file", file)
    if not h5py.is_hdf5(file):
        raise KspaceKitError("not an HDF5 file", file)
    try:
        with h5py.File(file, "r") as hf:
            has_kspace = any(key in hf for key in KSPACE_KEYS)
    except HDF5_READ_ERRORS as err:
        raise KspaceKitError(describe_read_error(err), file) from None
    panels, caption, index = _kspace_panels(file, slice_index, kspace_key) if has_kspace else _image_panels(file, slice_index)
    output = output or Path(f"{file.name.removesuffix('.h5')}_slice{index}.png")
    if output.suffix.lower() != ".png":
        raise KspaceKitError("output must be a .png file", output)
    ranges = {"image": (0.0, max(float(image.max()) for _, image, scale in panels if scale == "image")),
              "mask": (0.0, 1.0), "auto": (None, None)}
    figure = Figure(figsize=(3.2 * len(panels), 3.6), layout="constrained")
    FigureCanvasAgg(figure)
    for axes, (title, image, scale) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        vmin, vmax = ranges[scale]
        axes.imshow(image, cmap="gray", vmin=vmin, vmax=vmax)
        axes.set_title(title, fontsize=10)
        axes.set_axis_off()
    figure.suptitle(caption, fontsize=10)
    with atomic_path(output, overwrite) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    print(f"wrote {output}")
