"""Read fastMRI-layout HDF5 volumes one slice (or one batch of slices) at a time.

A volume file holds ``kspace`` (``(slices, coils, H, W)`` multi-coil or ``(slices, H, W)``
single-coil, complex), and depending on its kind:

- ``train`` (train/val): a target ``reconstruction_rss`` / ``reconstruction_esc`` (slices, h, w);
- ``test``: no target, a 1-D ``mask`` (W,) or a 2-D ``mask_2d`` (H, W) (``kspacekit convert`` of
  data not sampled line by line) and attrs ``acceleration``, ``num_low_frequency``;
- ``course``: undersampled ``kspace_4af`` / ``kspace_8af`` (with optional ``mask_4af`` /
  ``mask_8af``) beside or instead of ``kspace``;
- ``raw``: k-space only (the user's own data, possibly without ``ismrmrd_header``); when its
  k-space holds zeros where nothing was measured (checked on the middle slice), the zeros are
  its sampling.

The sampling a file carries (a stored mask, a course key, detected zeros) is the truth: every
reader returns it with the slices (:meth:`VolumeInfo.own_sampling`), and nothing may draw a new
mask over such data.

:func:`inspect_volume` opens a file once, validates it and records shapes and attributes;
:func:`read_slice`, :class:`SliceDataset` and :func:`iter_volume_batches` then read only the
slices asked for, with h5py slicing, never the whole volume.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from rich.progress import track
from torch.utils.data import Dataset

from kspacekit.data.header import HeaderInfo, parse_ismrmrd_header
from kspacekit.data.layout import (
    KSPACE_KEY,
    KSPACE_KEYS,
    MASK_2D_KEY,
    check_h5_file,
    course_acceleration,
    find_target_key,
    h5_dataset,
    h5_files,
    is_real_number,
    mask_key,
    read_header_xml,
    target_dataset,
)
from kspacekit.data.layout import (
    TARGET_KEYS as TARGET_KEYS,  # re-exported for callers not yet on data.layout
)
from kspacekit.errors import HDF5_READ_ERRORS, KspaceKitError, describe_read_error
from kspacekit.physics.coils import check_calibration_region
from kspacekit.physics.masks import count_center_lines


@dataclass(frozen=True)
class VolumeInfo:
    """One validated volume file: shapes, attributes, header geometry and stored masks.

    ``masks`` maps a k-space key to its stored mask: a 1-D line mask (W,) (``kspace`` -> ``mask``,
    ``kspace_4af`` -> ``mask_4af``) or a 2-D pattern (H, W) (``kspace`` -> ``mask_2d``).
    ``zero_filled``: a file without target or mask whose k-space holds zeros where nothing was
    measured (its sampling is those zeros). ``padding`` is the acquired column range
    ``[left, right)`` from the header (all columns without header). ``target_size`` is the
    target's ``(h, w)``, else the header's recon ``(x, y)`` (fastMRI's crop size), else ``(H, W)``.
    ``header_xml`` is the raw ``ismrmrd_header``, kept so that reconstructions carry the geometry.
    """

    path: Path
    kind: str
    multicoil: bool
    num_slices: int
    num_coils: int
    kspace_shape: tuple[int, ...]
    kspace_keys: tuple[str, ...]
    target_key: str | None
    target_size: tuple[int, int]
    padding: tuple[int, int]
    header: HeaderInfo | None
    attrs: dict[str, Any] = field(default_factory=dict)
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    header_xml: bytes | None = None
    zero_filled: bool = False

    @property
    def mask(self) -> np.ndarray | None:
        """The stored ``mask`` (W,) or ``mask_2d`` (H, W) of ``kspace``, if any."""
        return self.masks.get(KSPACE_KEY)

    def own_sampling(self, kspace_key: str | None = None) -> str | None:
        """How ``kspace_key`` (default: :meth:`default_kspace_key`) is already undersampled: the
        stored mask's name (``mask``, ``mask_2d``, ``mask_4af``), ``zeros`` (a course key without
        mask, or a raw file with zeros), or None for fully sampled data that may be undersampled
        retrospectively."""
        key = self.default_kspace_key() if kspace_key is None else kspace_key
        if key in self.masks:
            return MASK_2D_KEY if self.masks[key].ndim == 2 else mask_key(key)
        if key != KSPACE_KEY or self.zero_filled:
            return "zeros"
        return None

    def default_kspace_key(self) -> str:
        """``kspace`` when present, else the first undersampled variant (``kspace_4af``)."""
        return self.kspace_keys[0]


@dataclass
class SliceSample:
    """One slice: k-space (coils, H, W) complex64, the file's own mask if it has one (a line mask
    (W,) or a 2-D pattern (H, W); None for fully sampled data), target (h, w) if any."""

    kspace: torch.Tensor
    mask: torch.Tensor | None
    target: torch.Tensor | None
    fname: str
    slice_num: int
    kspace_key: str
    target_size: tuple[int, int]
    padding: tuple[int, int]
    num_low_frequencies: int | None
    acceleration: float | None
    max_value: float | None


    @property
    def kspace_mask(self) -> torch.Tensor | None:
        """The file's mask broadcastable to :attr:`kspace`: (1, 1, W) or (1, H, W)."""
        return None if self.mask is None else kspace_mask(self.mask[None])[0]


@dataclass
class VolumeBatch:
    """Consecutive slices of one volume: k-space (B, C, H, W), the file's own masks (B, W) (line
    masks) or (B, H, W) (2-D patterns), None for fully sampled data; targets (B, h, w) if any."""

    kspace: torch.Tensor
    mask: torch.Tensor | None
    target: torch.Tensor | None
    slice_indices: list[int]
    num_low_frequencies: int | None
    acceleration: float | None

    @property
    def kspace_mask(self) -> torch.Tensor | None:
        """The file's masks broadcastable to :attr:`kspace`: (B, 1, 1, W) or (B, 1, H, W)."""
        return None if self.mask is None else kspace_mask(self.mask)


def kspace_mask(mask: torch.Tensor) -> torch.Tensor:
    """Per-slice masks (B, W) or (B, H, W) as masks broadcastable to k-space (B, C, H, W)."""
    return mask[:, None, None, :] if mask.ndim == 2 else mask[:, None]


def _python_value(value: Any) -> Any:
    """HDF5 attribute values as plain Python (str, int, float) where they are scalars."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def _check_kspace(path: Path, hf: h5py.File, key: str) -> tuple[int, ...]:
    dataset = h5_dataset(hf, key, path)
    if dataset.ndim not in (3, 4):
        raise KspaceKitError(f"'{key}' must be (slices, coils, H, W) or (slices, H, W), got {dataset.shape}", path)
    if not np.issubdtype(dataset.dtype, np.complexfloating):
        raise KspaceKitError(f"'{key}' must be complex, got dtype {dataset.dtype}", path)
    if 0 in dataset.shape:
        raise KspaceKitError(f"'{key}' is empty, shape {dataset.shape}", path)
    return dataset.shape


def _read_masks(
    path: Path, hf: h5py.File, kspace_keys: Sequence[str], shape: tuple[int, int]
) -> dict[str, np.ndarray]:
    """The stored mask of each k-space key: 1-D (``mask`` for ``kspace``, ``mask_4af`` for
    ``kspace_4af``) or, for ``kspace``, the 2-D ``mask_2d`` of shape (H, W)."""
    height, width = shape
    masks = {}
    for key in kspace_keys:
        candidates = (mask_key(key), MASK_2D_KEY) if key == KSPACE_KEY else (mask_key(key),)
        stored = [name for name in candidates if name in hf]
        if len(stored) > 1:
            raise KspaceKitError(f"both '{stored[0]}' and '{stored[1]}' are stored; keep one sampling pattern", path)
        if not stored:
            continue
        name = stored[0]
        expected = (height, width) if name == MASK_2D_KEY else (width,)
        dataset = h5_dataset(hf, name, path)
        if dataset.shape != expected or not is_real_number(dataset.dtype):
            wanted = f"(H, W) = {expected}" if name == MASK_2D_KEY else f"1-D with W={width} columns"
            raise KspaceKitError(
                f"'{name}' must be {wanted} like the k-space, got {dataset.dtype} {dataset.shape}", path
            )
        mask = np.asarray(dataset, dtype=np.float32)
        if not np.isin(mask, (0, 1)).all():
            raise KspaceKitError(f"'{name}' must hold only 0 and 1", path)
        if not mask.any():
            raise KspaceKitError(f"'{name}' samples nothing (all zero)", path)
        masks[key] = mask
    return masks


def _sampled_middle_slice(path: Path, hf: h5py.File, num_slices: int) -> np.ndarray:
    """Where the middle slice of ``kspace`` is nonzero (H, W); an all-zero slice is an error."""
    index = num_slices // 2
    try:
        plane = np.asarray(hf[KSPACE_KEY][index])
    except HDF5_READ_ERRORS as err:
        raise KspaceKitError(describe_read_error(err, f"slice {index}"), path) from None
    sampled = plane != 0
    if sampled.ndim == 3:
        sampled = sampled.any(axis=0)
    if not sampled.any():
        raise KspaceKitError(f"k-space is all zero (slice {index}); nothing was measured", path)
    return sampled


def _has_holes(sampled: np.ndarray, padding: tuple[int, int]) -> bool:
    """Whether k-space has zeros where nothing was measured: a sample missing inside the sampled
    rows and acquired columns (zero rows, e.g. an asymmetric echo, and zero columns outside the
    header's acquired range do not count)."""
    inside = sampled[:, padding[0] : padding[1]]
    return not inside[inside.any(axis=1)].all()


def _check_numeric_attrs(path: Path, attrs: dict[str, Any], width: int) -> None:
    """The attributes read as numbers later: ``acceleration`` >= 1, ``max`` >= 0 (both finite) and
    ``num_low_frequency`` a whole number in [1, W]."""
    for name, valid, expected in (
        ("acceleration", lambda v: v >= 1, "a finite number >= 1"),
        ("max", lambda v: v >= 0, "a finite number >= 0"),
        ("num_low_frequency", lambda v: v == int(v) and 1 <= v <= width, f"a whole number in [1, {width}]"),
    ):
        if name not in attrs:
            continue
        value = attrs[name]
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
        if not (number and valid(value)):
            shown = " ".join(repr(value).split())[:40]  # one line, short, whatever the attribute holds
            raise KspaceKitError(f"attribute '{name}' must be {expected}, got {shown}", path)


def _kind(kspace_keys: Sequence[str], target_key: str | None, masks: dict[str, np.ndarray]) -> str:
    if any(key != KSPACE_KEY for key in kspace_keys):
        return "course"
    if target_key is not None:
        return "train"
    return "test" if KSPACE_KEY in masks else "raw"


def inspect_volume(path: str | Path) -> VolumeInfo:
    """Open a volume once, validate it (shapes, dtypes, mask, header) and describe it."""
    path = Path(path)
    check_h5_file(path)
    try:
        with h5py.File(path, "r") as hf:
            return _describe(path, hf)
    except HDF5_READ_ERRORS as err:
        raise KspaceKitError(describe_read_error(err), path) from None


def _describe(path: Path, hf: h5py.File) -> VolumeInfo:
    """The body of :func:`inspect_volume`: shapes, attributes and small datasets only."""
    kspace_keys = tuple(key for key in KSPACE_KEYS if key in hf)
    if not kspace_keys:
        raise KspaceKitError(f"no k-space dataset (expected one of {', '.join(KSPACE_KEYS)})", path)
    shapes = {key: _check_kspace(path, hf, key) for key in kspace_keys}
    if len(set(shapes.values())) > 1:
        raise KspaceKitError(f"k-space datasets differ in shape: {shapes}", path)
    kspace_shape = shapes[kspace_keys[0]]
    multicoil = len(kspace_shape) == 4
    num_slices, height, width = kspace_shape[0], kspace_shape[-2], kspace_shape[-1]

    target_key = find_target_key(hf, multicoil)
    target_hw = None
    if target_key is not None:
        target_shape = target_dataset(hf, target_key, path, num_slices).shape
        target_hw = (target_shape[1], target_shape[2])

    header = None
    header_xml = read_header_xml(hf, path)
    if header_xml is not None:
        try:
            header = parse_ismrmrd_header(header_xml)
        except KspaceKitError as err:
            raise KspaceKitError(err.message, path) from None

    masks = _read_masks(path, hf, kspace_keys, (height, width))
    attrs = {key: _python_value(value) for key, value in hf.attrs.items()}
    _check_numeric_attrs(path, attrs, width)
    padding = (header.padding_left, header.padding_right) if header is not None else (0, width)
    kind = _kind(kspace_keys, target_key, masks)
    zero_filled = False
    if kind in ("raw", "test"):  # a file's own sampling: measured somewhere, its centre sampled
        sampled = _sampled_middle_slice(path, hf, num_slices)
        zero_filled = kind == "raw" and _has_holes(sampled, padding)
        own = masks[KSPACE_KEY] if kind == "test" else sampled if zero_filled else None
        if own is not None:  # a small centre (fastMRI's 8x test masks) is each method's to judge
            check_calibration_region(own, (height, width), path, minimum=1)

    if target_hw is not None:
        target_size = target_hw
    elif header is not None:
        target_size = (header.recon_size[0], header.recon_size[1])
    else:
        target_size = (height, width)
    return VolumeInfo(
        path=path,
        kind=kind,
        multicoil=multicoil,
        num_slices=num_slices,
        num_coils=kspace_shape[1] if multicoil else 1,
        kspace_shape=kspace_shape,
        kspace_keys=kspace_keys,
        target_key=target_key,
        target_size=target_size,
        padding=padding,
        header=header,
        attrs=attrs,
        masks=masks,
        header_xml=header_xml,
        zero_filled=zero_filled,
    )


def _acceleration(info: VolumeInfo, kspace_key: str) -> float | None:
    """``kspace_4af`` -> 4; otherwise the file's ``acceleration`` attribute, if any."""
    course = course_acceleration(kspace_key)
    if course is not None:
        return course
    value = info.attrs.get("acceleration")
    return None if value is None else float(value)


def _check_key(info: VolumeInfo, kspace_key: str | None) -> str:
    key = info.default_kspace_key() if kspace_key is None else kspace_key
    if key not in info.kspace_keys:
        available = ", ".join(info.kspace_keys)
        raise KspaceKitError(f"no k-space '{key}' (available: {available})", info.path)
    return key


def _read_slices(
    info: VolumeInfo, kspace_key: str, start: int, stop: int
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Slices ``start:stop`` as (B, C, H, W) complex64, masks (B, W) or (B, H, W) or None, targets
    (B, h, w) or None.

    Masks: the stored one (``mask``, ``mask_2d``, ``mask_4af``); for a course key without a stored
    mask, the columns holding any nonzero sample of each slice (the undersampled data is
    zero-filled, so its nonzero columns are the sampled ones); for a raw file with zeros, the
    nonzero samples of each slice (:func:`detected_mask`); None for fully sampled data.
    """
    if not 0 <= start < stop <= info.num_slices:
        raise KspaceKitError(f"slices {start}:{stop} out of range (volume has {info.num_slices})", info.path)
    target = None
    try:
        with h5py.File(info.path, "r") as hf:
            kspace = np.asarray(hf[kspace_key][start:stop], dtype=np.complex64)
            if info.target_key is not None:
                target = np.asarray(hf[info.target_key][start:stop], dtype=np.float32)
    except HDF5_READ_ERRORS as err:
        raise KspaceKitError(describe_read_error(err, f"slices {start}:{stop}"), info.path) from None
    finite = np.isfinite(kspace).reshape(stop - start, -1).all(axis=1)
    if not finite.all():
        bad = start + int(np.argmin(finite))
        raise KspaceKitError(f"slice {bad} of '{kspace_key}' contains NaN or Inf", info.path)
    if not info.multicoil:
        kspace = kspace[:, None]

    if kspace_key in info.masks:
        stored = info.masks[kspace_key]
        mask = np.broadcast_to(stored, (stop - start, *stored.shape)).copy()
    elif kspace_key != KSPACE_KEY:
        mask = (np.abs(kspace).sum(axis=(1, 2)) > 0).astype(np.float32)
    elif info.zero_filled:
        mask = detected_mask(kspace)
    else:
        mask = None
    return (
        torch.from_numpy(kspace),
        None if mask is None else torch.from_numpy(mask),
        None if target is None else torch.from_numpy(target),
    )


def detected_mask(kspace: np.ndarray) -> np.ndarray:
    """The sampling of zero-filled k-space (B, C, H, W): the columns holding any sample (B, W)
    when every slice is sampled line by line (its pattern is its sampled rows times its sampled
    columns), else the nonzero locations of each slice (B, H, W); float32 0/1."""
    pattern = (kspace != 0).any(axis=1)
    rows, columns = pattern.any(axis=2), pattern.any(axis=1)
    line_wise = np.array_equal(pattern, rows[:, :, None] & columns[:, None, :])
    return (columns if line_wise else pattern).astype(np.float32)


def _num_low_frequencies(info: VolumeInfo, kspace_key: str, mask: torch.Tensor | None) -> int | None:
    """The file's ``num_low_frequency`` for its stored line mask, else the smallest centre run over
    line-mask rows; None for 2-D patterns (their centre is a region: ``ReconMeta.calibration_size``)."""
    if mask is None or mask.ndim == 3:
        return None
    if kspace_key == KSPACE_KEY and "num_low_frequency" in info.attrs:
        return int(info.attrs["num_low_frequency"])
    return min(count_center_lines(row) for row in mask.reshape(-1, mask.shape[-1]).numpy())


def _inspected(volume: VolumeInfo | str | Path) -> VolumeInfo:
    """An inspected volume, or the inspection of the file a path names."""
    return volume if isinstance(volume, VolumeInfo) else inspect_volume(volume)


def read_slice(volume: VolumeInfo | str | Path, index: int, kspace_key: str | None = None) -> SliceSample:
    """Read one slice of a volume (and its mask and target), nothing more. ``volume`` is an
    inspected :class:`VolumeInfo` (cheap for many slices) or the file's path."""
    info = _inspected(volume)
    key = _check_key(info, kspace_key)
    kspace, mask, target = _read_slices(info, key, index, index + 1)
    mask = None if mask is None else mask[0]
    max_value = info.attrs.get("max")
    return SliceSample(
        kspace=kspace[0],
        mask=mask,
        target=None if target is None else target[0],
        fname=info.path.name,
        slice_num=index,
        kspace_key=key,
        target_size=info.target_size,
        padding=info.padding,
        num_low_frequencies=_num_low_frequencies(info, key, mask),
        acceleration=_acceleration(info, key),
        max_value=None if max_value is None else float(max_value),
    )


BATCH_KSPACE_BYTES = 16 * 2**20
"""k-space per batch when no batch size is given. Iterative methods need about 40 times a slice's
k-space while they run (ESPIRiT maps of a large multi-coil slice take gigabytes), so large
multi-coil slices go one at a time and small ones together (peak memory: BENCHMARKS.md, Memory)."""
MAX_AUTO_BATCH = 8


def auto_batch_size(info: VolumeInfo) -> int:
    """Slices per batch whose k-space fits :data:`BATCH_KSPACE_BYTES`: at least 1, at most 8."""
    slice_bytes = int(np.prod(info.kspace_shape[1:])) * np.dtype(np.complex64).itemsize
    return max(1, min(MAX_AUTO_BATCH, BATCH_KSPACE_BYTES // slice_bytes))


def iter_volume_batches(
    volume: VolumeInfo | str | Path, batch_size: int | None = None, kspace_key: str | None = None
) -> Iterator[VolumeBatch]:
    """Consecutive batches of up to ``batch_size`` slices (default :func:`auto_batch_size`), each
    read with one h5py slice; ``volume`` is an inspected :class:`VolumeInfo` or the file's path."""
    info = _inspected(volume)
    if batch_size is None:
        batch_size = auto_batch_size(info)
    if batch_size < 1:
        raise KspaceKitError(f"batch size must be at least 1, got {batch_size}")
    key = _check_key(info, kspace_key)
    for start in range(0, info.num_slices, batch_size):
        stop = min(start + batch_size, info.num_slices)
        kspace, mask, target = _read_slices(info, key, start, stop)
        yield VolumeBatch(
            kspace=kspace,
            mask=mask,
            target=target,
            slice_indices=list(range(start, stop)),
            num_low_frequencies=_num_low_frequencies(info, key, mask),
            acceleration=_acceleration(info, key),
        )


class SliceDataset(Dataset):
    """All slices of all volumes in a folder (``*.h5``, sorted) or in a list of files.

    Each file is inspected once (shapes and attributes only). ``challenge`` ("multicoil" /
    "singlecoil"), when given, must match every file. ``sample_rate`` keeps that fraction of
    slices, ``volume_sample_rate`` that fraction of volumes, both drawn reproducibly from
    ``seed``. Items are :class:`SliceSample`, or ``transform(sample)``.
    """

    def __init__(
        self,
        root_or_files: str | Path | Sequence[str | Path],
        *,
        challenge: str | None = None,
        kspace_key: str | None = None,
        transform: Callable[[SliceSample], Any] | None = None,
        sample_rate: float = 1.0,
        volume_sample_rate: float | None = None,
        seed: int = 0,
    ) -> None:
        if challenge not in (None, "multicoil", "singlecoil"):
            raise KspaceKitError(f"challenge must be 'multicoil' or 'singlecoil', got {challenge!r}")
        if sample_rate < 1.0 and volume_sample_rate is not None:
            raise KspaceKitError("set sample_rate (by slice) or volume_sample_rate (by volume), not both")
        for name, rate in (("sample_rate", sample_rate), ("volume_sample_rate", volume_sample_rate)):
            if rate is not None and not 0.0 < rate <= 1.0:
                raise KspaceKitError(f"{name} must be in (0, 1], got {rate}")
        rng = random.Random(seed)
        self.kspace_key = kspace_key
        self.transform = transform

        if isinstance(root_or_files, (str, Path)):
            paths = h5_files(root_or_files)
        else:
            paths = [Path(f) for f in root_or_files]
        inspecting = track(paths, "Inspecting volumes", transient=True, disable=len(paths) < 100)
        volumes = [inspect_volume(path) for path in inspecting]
        for info in volumes:
            if challenge is not None and info.multicoil != (challenge == "multicoil"):
                raise KspaceKitError(f"not {challenge} data (k-space shape {info.kspace_shape})", info.path)
            _check_key(info, kspace_key)
        if volume_sample_rate is not None and volume_sample_rate < 1.0:
            keep = sorted(rng.sample(range(len(volumes)), round(len(volumes) * volume_sample_rate)))
            volumes = [volumes[i] for i in keep]
        self.volumes: list[VolumeInfo] = volumes

        samples = [(v, s) for v, info in enumerate(volumes) for s in range(info.num_slices)]
        if sample_rate < 1.0:
            keep = sorted(rng.sample(range(len(samples)), round(len(samples) * sample_rate)))
            samples = [samples[i] for i in keep]
        self.samples: list[tuple[int, int]] = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> Any:
        volume, slice_num = self.samples[i]
        sample = read_slice(self.volumes[volume], slice_num, self.kspace_key)
        return sample if self.transform is None else self.transform(sample)
