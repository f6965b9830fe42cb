"""Simulated datasets in fastMRI's layout, from real magnitude images.

Each 2-D slice of a source volume (axial, coronal or sagittal, from NIfTI, .npy, raw .ima.gz or
DICOM) is resampled with square pixels to fit the matrix and zero-padded, then passes through
the acquisition model of :mod:`kspacekit.simulation.acquisition` (phase, coils, noise).
Volumes are split into train/val/test by source, and written as fastMRI-layout files marked as
simulated. Results on such data must never be reported as results on real k-space.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from kspacekit.data.layout import CHALLENGE_TARGET_KEYS, SIMULATED_MARK
from kspacekit.errors import KspaceKitError
from kspacekit.outputs import check_output_folder
from kspacekit.physics.fft import center_crop, center_pad, fft2c
from kspacekit.simulation.acquisition import (
    FOREGROUND_LEVEL,
    random_coil_maps,
    simulate_slices,
)

SOURCE_SUFFIXES = (".nii.gz", ".nii", ".npy", ".ima.gz", ".ima", ".dcm")
ORIENTATIONS = ("axial", "coronal", "sagittal")
SPLITS = ("train", "val", "test")
# Axes of a RAS+ volume: (slice axis, row axis, column axis); rows and columns are then flipped so
# that anterior (axial) or superior (coronal, sagittal) is at the top.
ORIENTATION_AXES = {"axial": (2, 1, 0), "coronal": (1, 2, 0), "sagittal": (0, 2, 1)}
MIN_SLICE_AREA = 0.25  # slices with less foreground than this fraction of the largest are skipped
MIN_IN_PLANE = 32  # orientations with fewer in-plane samples than this are skipped
BATCH_ELEMENTS = 2**21  # coil-image samples per batch: 16 MB, small enough for malloc to reuse
MAX_COILS = 64


@dataclass(frozen=True)
class Source:
    """A magnitude image source: a 3-D volume in RAS+ axis order, or one 2-D slice."""

    path: Path
    name: str
    data: np.ndarray  # float32 (X, Y, Z) or (H, W), scaled so that its bright level is 1
    spacing: tuple[float, ...]  # mm per voxel along each axis of ``data``

    @property
    def is_volume(self) -> bool:
        return self.data.ndim == 3


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return next((suffix for suffix in SOURCE_SUFFIXES if name.endswith(suffix)), path.suffix.lower())


def source_name(path: Path) -> str:
    """File name without its image suffix, reduced to characters safe in an output file name."""
    stem = path.name[: len(path.name) - len(_suffix(path))] or path.name
    return re.sub(r"[^A-Za-z0-9_-]+", "_", stem)


def probe_source(path: Path) -> tuple[int, ...]:
    """Check a source cheaply (header only) and return its image shape, RAS+ axis order for NIfTI."""
    suffix = _suffix(path)
    if not path.is_file():
        raise KspaceKitError("is a directory, expected an image file" if path.is_dir() else "no such file", path)
    try:
        if suffix in (".nii", ".nii.gz"):
            import nibabel

            image = nibabel.load(path)
            shape = _squeeze_trailing(image.shape)
            if len(shape) != 3:
                raise KspaceKitError(f"NIfTI source must be a 3-D volume, got shape {tuple(image.shape)}", path)
            ras_axes = nibabel.io_orientation(image.affine)[:, 0].astype(int)  # RAS+ axis of each stored axis
            canonical = [0, 0, 0]
            for stored_axis, ras_axis in enumerate(ras_axes):
                canonical[ras_axis] = shape[stored_axis]
            return tuple(canonical)
        if suffix == ".npy":
            shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
        elif suffix in (".ima", ".ima.gz", ".dcm"):
            shape = _load_2d(path, suffix).shape
        else:
            known = ", ".join(SOURCE_SUFFIXES)
            raise KspaceKitError(f"unknown image format {suffix or '(no suffix)'!r}; expected one of {known}", path)
    except KspaceKitError:
        raise
    except Exception as err:  # the readers raise many kinds of errors on foreign files
        raise KspaceKitError(f"cannot read image ({type(err).__name__}: {err})", path) from None
    if len(shape) not in (2, 3):
        raise KspaceKitError(f"image source must be 2-D or 3-D, got shape {tuple(shape)}", path)
    return tuple(shape)


def _squeeze_trailing(shape: Sequence[int]) -> list[int]:
    shape = list(shape)
    while len(shape) > 3 and shape[-1] == 1:
        shape.pop()
    return shape


def _load_2d(path: Path, suffix: str) -> np.ndarray:
    """A raw 256x256-style .ima (square, uint16 big-endian, optionally gzipped) or a DICOM image."""
    if suffix == ".dcm":
        import pydicom

        pixels = np.asarray(pydicom.dcmread(path).pixel_array)
        if pixels.ndim != 2:
            raise KspaceKitError(f"only single-frame 2-D DICOM images are supported, got shape {pixels.shape}", path)
        return pixels
    raw = (gzip.open if suffix == ".ima.gz" else open)(path, "rb").read()
    side = math.isqrt(len(raw) // 2)
    if side * side * 2 != len(raw):
        raise KspaceKitError(f"raw .ima must hold a square uint16 image, got {len(raw)} bytes", path)
    return np.frombuffer(raw, dtype=">u2").reshape(side, side)


def load_source(path: str | Path) -> Source:
    """Read a magnitude source (NIfTI reoriented to RAS+, .npy, raw .ima(.gz), DICOM) scaled to ~[0, 1].

    A 3-D .npy array is taken to be in RAS+ axis order with 1 mm voxels (it carries no
    affine); 2-D inputs are single slices. The scale divides by the 99.5th percentile of the
    positive voxels, so bright outliers stay above 1 instead of compressing the contrast.
    """
    path = Path(path)
    suffix = _suffix(path)
    probe_source(path)
    try:
        if suffix in (".nii", ".nii.gz"):
            import nibabel

            image = nibabel.as_closest_canonical(nibabel.load(path))
            data = np.asarray(image.get_fdata(dtype=np.float32)).reshape(_squeeze_trailing(image.shape))
            spacing = tuple(float(z) for z in image.header.get_zooms()[:3])
        elif suffix == ".npy":
            data = np.load(path, allow_pickle=False)
            spacing = (1.0,) * data.ndim
        else:
            data = _load_2d(path, suffix)
            spacing = (1.0, 1.0)
            if suffix == ".dcm":
                import pydicom

                header = pydicom.dcmread(path, stop_before_pixels=True)
                spacing = tuple(float(s) for s in header.get("PixelSpacing", spacing))
    except Exception as err:
        raise KspaceKitError(f"cannot read image ({type(err).__name__}: {err})", path) from None
    data = np.abs(np.asarray(data, dtype=np.float32))
    if not np.isfinite(data).all():
        raise KspaceKitError("image contains NaN or Inf values", path)
    positive = data[data > 0]
    if positive.size == 0:
        raise KspaceKitError("image is empty (all zero)", path)
    return Source(path=path, name=source_name(path), data=data / np.percentile(positive, 99.5), spacing=spacing)


def oriented_slices(source: Source, orientation: str) -> tuple[np.ndarray, tuple[float, float]]:
    """All slices (S, rows, cols) of a volume in ``orientation``, and their pixel spacing (rows, cols)."""
    if not source.is_volume:
        return source.data[None], (source.spacing[0], source.spacing[1])
    fixed, row_axis, col_axis = ORIENTATION_AXES[orientation]
    slices = np.transpose(source.data, (fixed, row_axis, col_axis))[:, ::-1, ::-1]
    return np.ascontiguousarray(slices), (source.spacing[row_axis], source.spacing[col_axis])


def select_slices(slices: np.ndarray, count: int | None) -> np.ndarray:
    """Indices of up to ``count`` slices evenly spread over the non-empty ones (all if ``count`` is None).

    Non-empty: foreground (above ``FOREGROUND_LEVEL``, with the data scaled to ~1) covers at
    least ``MIN_SLICE_AREA`` of the largest foreground of any slice.
    """
    area = (slices > FOREGROUND_LEVEL).sum(axis=(1, 2))
    kept = np.flatnonzero((area >= MIN_SLICE_AREA * area.max()) & (area > 0))
    if count is None or count >= len(kept):
        return kept
    return kept[np.unique(np.round(np.linspace(0, len(kept) - 1, count)).astype(int))]


def fit_to_matrix(slices: Tensor, spacing: tuple[float, float], shape: tuple[int, int]) -> Tensor:
    """Resample (B, rows, cols) to square pixels so the field of view fits ``shape``, then zero-pad."""
    extent = (slices.shape[-2] * spacing[0], slices.shape[-1] * spacing[1])
    pixel = max(extent[0] / shape[0], extent[1] / shape[1])
    size = [min(n, max(1, round(e / pixel))) for n, e in zip(shape, extent, strict=True)]
    resized = torch.nn.functional.interpolate(
        slices[:, None], size=size, mode="bilinear", antialias=True, align_corners=False
    )[:, 0]
    return center_pad(resized.clamp_min(0), shape)


@dataclass(frozen=True)
class Unit:
    """One output volume: the slices of one source in one orientation, in one split."""

    source_index: int
    orientation: str
    name: str
    split: str = "train"


@dataclass
class SimulationSummary:
    """What :func:`simulate_dataset` wrote: files per output folder, slices, skipped volume names."""

    files: dict[str, list[Path]] = field(default_factory=dict)
    slices: int = 0
    skipped: list[str] = field(default_factory=list)


def assign_splits(groups: Sequence[object], fractions: Sequence[float], seed: int) -> dict[object, str]:
    """Shuffle ``groups`` with ``seed`` and cut them into train/val/test in proportion to ``fractions``.

    Counts follow the largest-remainder rule; when there are at least as many groups as splits
    with a positive fraction, each of those splits gets at least one group.
    """
    n, total = len(groups), sum(fractions)
    exact = [f / total * n for f in fractions]
    counts = [math.floor(e) for e in exact]
    by_remainder = sorted(range(len(SPLITS)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    positive = [i for i, f in enumerate(fractions) if f > 0]
    if n >= len(positive):
        for i in positive:
            if counts[i] == 0:
                counts[max(range(len(SPLITS)), key=lambda j: counts[j])] -= 1
                counts[i] += 1
    order = np.random.default_rng(seed).permutation(n)
    labels = [split for split, count in zip(SPLITS, counts, strict=True) for _ in range(count)]
    return {groups[index]: label for index, label in zip(order, labels, strict=True)}


def _check_options(
    coils: int,
    shape: tuple[int, int],
    snr: float | None,
    slices_per_volume: int | None,
    orientations: Sequence[str],
    recon_size: tuple[int, int],
    split: Sequence[float],
    split_by: str,
) -> None:
    if not 1 <= coils <= MAX_COILS:
        raise KspaceKitError(f"coils must be in 1..{MAX_COILS}, got {coils}")
    if len(shape) != 2 or min(shape) < 16:
        raise KspaceKitError(f"matrix shape must be two sizes >= 16, got {tuple(shape)}")
    if len(recon_size) != 2 or not all(0 < r <= n for r, n in zip(recon_size, shape, strict=True)):
        raise KspaceKitError(f"recon size {tuple(recon_size)} must be positive and fit the matrix {tuple(shape)}")
    if snr is not None and not (math.isfinite(snr) and snr > 0):
        raise KspaceKitError(f"SNR must be positive, got {snr}")
    if slices_per_volume is not None and slices_per_volume < 1:
        raise KspaceKitError(f"slices per volume must be >= 1, got {slices_per_volume}")
    unknown = sorted(set(orientations) - set(ORIENTATIONS))
    if unknown or not orientations:
        raise KspaceKitError(f"orientations must be among {', '.join(ORIENTATIONS)}, got {list(orientations)}")
    if len(split) != 3 or min(split) < 0 or sum(split) <= 0:
        raise KspaceKitError(f"split must be three non-negative train/val/test fractions, got {list(split)}")
    if split_by not in ("orientation", "volume"):
        raise KspaceKitError(f"split_by must be 'orientation' or 'volume', got {split_by!r}")


def _in_plane_shape(shape: tuple[int, ...], orientation: str) -> tuple[int, ...]:
    """(rows, cols) of the slices of a source of ``shape`` in ``orientation``."""
    if len(shape) == 2:
        return shape
    return tuple(shape[axis] for axis in ORIENTATION_AXES[orientation][1:])


def _plan_units(
    paths: Sequence[Path], orientations: Sequence[str], split: Sequence[float], split_by: str, seed: int
) -> tuple[list[Unit], list[str]]:
    """One unit per (source, orientation) (per source for 2-D images), each assigned a split.

    Orientations whose in-plane size is below ``MIN_IN_PLANE`` samples (e.g. the coronal view
    of a 10-slice stack) are skipped and returned by name; a source left with none is an error.
    """
    units: list[Unit] = []
    skipped: list[str] = []
    names: set[str] = set()
    for index, path in enumerate(paths):
        shape = probe_source(path)
        wanted = orientations if len(shape) == 3 else ("slice",)
        usable = [o for o in wanted if min(_in_plane_shape(shape, o)) >= MIN_IN_PLANE]
        if not usable:
            raise KspaceKitError(f"image of shape {shape} is too small in every orientation asked for", path)
        skipped += [f"{source_name(path)}_{o}" for o in wanted if o not in usable]
        for orientation in usable:
            base = name = f"{source_name(path)}_{orientation}"
            copies = 1
            while name in names:  # two sources with the same file name
                copies += 1
                name = f"{base}_{copies}"
            names.add(name)
            units.append(Unit(index, orientation, name))
    def group_of(unit: Unit) -> object:
        return (unit.source_index, unit.orientation) if split_by == "orientation" else unit.source_index

    groups = list(dict.fromkeys(group_of(unit) for unit in units))
    assignment = assign_splits(groups, split, seed)
    return [Unit(u.source_index, u.orientation, u.name, assignment[group_of(u)]) for u in units], skipped


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` torch threads, then restore the count; touch nothing for None
    (with torch 2.13, any set_num_threads(n > 1) call makes a later batched complex
    linalg.solve fail in MKL's CLASWP and hang, so the count is set only when asked)."""
    if threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _unit_generator(seed: int, unit_index: int, device: torch.device) -> torch.Generator:
    """An independent, reproducible random stream per output volume (whatever the batching)."""
    state = np.random.SeedSequence([seed, unit_index]).generate_state(1)[0]
    return torch.Generator(device=device).manual_seed(int(state))


def simulate_dataset(
    sources: Sequence[str | Path],
    out_dir: str | Path,
    *,
    coils: int = 8,
    shape: tuple[int, int] = (256, 256),
    snr: float | None = 30.0,
    slices_per_volume: int | None = None,
    orientations: Sequence[str] = ("axial",),
    seed: int = 0,
    recon_size: tuple[int, int] | None = None,
    singlecoil: bool = False,
    split: Sequence[float] = (0.8, 0.1, 0.1),
    split_by: str = "orientation",
    overwrite: bool = False,
    device: str | torch.device = "cpu",
    progress: bool = True,
    threads: int | None = 1,
    head: bool = False,
) -> SimulationSummary:
    """Simulate a fastMRI-layout dataset from magnitude images; same arguments, same bytes.

    (Same bytes on the same device kind: CPU and CUDA random streams differ.)

    Each (source, orientation) becomes one volume file ``<source>_<orientation>.h5`` holding
    up to ``slices_per_volume`` non-empty slices, written atomically to
    ``multicoil_<split>/`` (k-space (S, C, H, W), ``reconstruction_rss`` cropped to
    ``recon_size``) and, with ``singlecoil`` or ``coils == 1``, ``singlecoil_<split>/``
    (emulated single-coil k-space (S, H, W), ``reconstruction_esc``). Attrs: ``max``, ``norm``,
    ``acquisition``, ``patient_id`` (the source name) and the simulation settings.

    Split rule: whole volumes go to train/val/test, never single slices. The unit of the split
    is (source, orientation) with ``split_by="orientation"`` (so one subject's axial and coronal
    stacks may land in different splits), or the source with ``split_by="volume"`` (no subject
    in two splits). Units are shuffled with ``seed`` and cut by the ``split`` fractions.

    A non-empty ``out_dir`` is refused unless ``overwrite``. All sources are read and checked
    before anything is written. ``threads`` sets torch's CPU threads for the run (restored
    afterwards; None leaves them): the work is a stream of small, memory-bound operations for
    which one thread is as fast on an idle machine and several times faster on a busy one,
    where OpenMP threads wait on each other. ``head`` surrounds skull-stripped brains with a
    synthetic scalp and skull (:func:`kspacekit.simulation.head.add_head`, one random subject per volume).
    """
    from kspacekit.data.write import write_volume
    from kspacekit.runtime import progress_bar
    from kspacekit.simulation.head import add_head

    shape = (int(shape[0]), int(shape[1]))
    recon_size = shape if recon_size is None else (int(recon_size[0]), int(recon_size[1]))
    _check_options(coils, shape, snr, slices_per_volume, orientations, recon_size, split, split_by)
    out_dir = Path(out_dir)
    check_output_folder(out_dir, overwrite, hint="pass --overwrite to write into it")
    paths = [Path(source) for source in sources]
    if not paths:
        raise KspaceKitError("no source images given")
    torch_device = torch.device(device)

    units, skipped = _plan_units(paths, orientations, split, split_by, seed)
    stacks: dict[str, tuple[np.ndarray, tuple[float, float]]] = {}
    for index, path in enumerate(paths):
        source = load_source(path)
        for unit in (u for u in units if u.source_index == index):
            slices, spacing = oriented_slices(source, unit.orientation)
            stacks[unit.name] = (slices[select_slices(slices, slices_per_volume)], spacing)
        del source
    units = [unit for unit in units if len(stacks[unit.name][0])]
    if not units:
        raise KspaceKitError("no non-empty slices in the sources", paths[0])

    summary = SimulationSummary(skipped=skipped)
    multicoil, single = coils > 1, singlecoil or coils == 1
    bar = progress_bar() if progress else None
    task = bar.add_task("simulating", total=sum(len(stacks[u.name][0]) for u in units)) if bar else None
    with bar if bar is not None else contextlib.nullcontext(), _torch_threads(threads):
        for unit_index, unit in enumerate(units):
            slices, spacing = stacks.pop(unit.name)
            if head:
                slices = add_head(slices, spacing, np.random.default_rng([seed, unit_index]))
            volume = _simulate_volume(
                slices,
                spacing,
                shape=shape,
                recon_size=recon_size,
                coils=coils,
                snr=snr,
                outputs=("multicoil",) * multicoil + ("singlecoil",) * single,
                generator=_unit_generator(seed, unit_index, torch_device),
                advance=(lambda n: bar.advance(task, n)) if bar is not None else (lambda n: None),
            )
            attrs = {
                "acquisition": f"SIM_{unit.orientation.upper()}",
                "patient_id": source_name(paths[unit.source_index]),
                "source_file": paths[unit.source_index].name,
                "orientation": unit.orientation,
                "coils": coils,
                "snr": float("inf") if snr is None else float(snr),
                "seed": seed,
                "synthetic_head": head,
                **SIMULATED_MARK,
            }
            for kind, (kspace, target) in volume.items():
                path = write_volume(
                    out_dir / f"{kind}_{unit.split}" / f"{unit.name}.h5",
                    kspace,
                    target=target,
                    target_key=CHALLENGE_TARGET_KEYS[kind],
                    attrs=attrs,
                    overwrite=overwrite,
                )
                summary.files.setdefault(f"{kind}_{unit.split}", []).append(path)
            summary.slices += len(slices)
    return summary


def _simulate_volume(
    slices: np.ndarray,
    spacing: tuple[float, float],
    *,
    shape: tuple[int, int],
    recon_size: tuple[int, int],
    coils: int,
    snr: float | None,
    outputs: Sequence[str],
    generator: torch.Generator,
    advance: Callable[[int], None],
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Simulate one volume's slices in batches; (k-space, target) for "multicoil" and/or "singlecoil"."""
    count = len(slices)
    kspace_shapes = {"multicoil": (count, coils, *shape), "singlecoil": (count, *shape)}
    volume = {
        kind: (np.empty(kspace_shapes[kind], np.complex64), np.empty((count, *recon_size), np.float32))
        for kind in outputs
    }
    maps = random_coil_maps(coils, shape, generator)
    batch_slices = max(1, BATCH_ELEMENTS // (coils * shape[0] * shape[1]))
    for start in range(0, count, batch_slices):
        stop = min(start + batch_slices, count)
        batch = torch.from_numpy(slices[start:stop]).to(generator.device)
        simulated = simulate_slices(fit_to_matrix(batch, spacing, shape), maps, snr=snr, generator=generator)
        if "multicoil" in volume:
            volume["multicoil"][0][start:stop] = simulated.kspace.cpu().numpy()
            volume["multicoil"][1][start:stop] = center_crop(simulated.rss(), recon_size).cpu().numpy()
        if "singlecoil" in volume:
            combined = simulated.emulated_single_coil()
            volume["singlecoil"][0][start:stop] = fft2c(combined).cpu().numpy()
            volume["singlecoil"][1][start:stop] = center_crop(combined.abs(), recon_size).cpu().numpy()
        advance(stop - start)
    return volume
