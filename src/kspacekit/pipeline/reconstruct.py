"""Reconstruct fastMRI-layout volumes with any registered method and write submission files.

Data flows one way: file -> slices (streamed in batches, one volume at a time) -> method ->
images -> ``<output>/<input name>.h5`` (fastMRI submission format). Files that carry their own
sampling (a stored ``mask`` or ``mask_2d``, a course key, zeros where nothing was measured)
are reconstructed from exactly those samples; asking to undersample them again is an error.
A course file without ``kspace_key`` gives one output per acceleration it holds,
``<output>/4x/<input name>.h5`` and ``<output>/8x/<input name>.h5``. Fully sampled files are
undersampled retrospectively with one mask per volume, seeded per file name as fastMRI does.
Every output records the method, the sampling and, for learned methods, the checkpoint.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kspacekit.data import (
    VolumeInfo,
    inspect_volume,
    iter_volume_batches,
    write_submission,
)
from kspacekit.data.layout import course_acceleration, h5_files
from kspacekit.errors import KspaceKitError
from kspacekit.methods import ReconMeta, ReconstructionMethod, create_method
from kspacekit.outputs import check_writable, output_path_for
from kspacekit.physics.masks import MaskSpec, Seed, file_seed
from kspacekit.runtime import progress_bar


@dataclass(frozen=True)
class Undersampling:
    """How to undersample fully sampled files: mask kind, acceleration, centre fraction, seed.

    ``seed=None`` seeds each volume with its file name (fastMRI's ``use_seed``), so a volume gets
    the same mask in every run and every method sees the same samples.
    """

    kind: str = "random"
    acceleration: float = 4.0
    center_fraction: float = 0.08
    seed: int | None = None

    @classmethod
    def from_options(
        cls, kind: str | None, acceleration: float | None, center_fraction: float | None, seed: int | None
    ) -> Undersampling | None:
        """The undersampling the user asked for, validated (the class defaults for options not
        given), or None when no option was given."""
        given = {"kind": kind, "acceleration": acceleration, "center_fraction": center_fraction, "seed": seed}
        given = {name: value for name, value in given.items() if value is not None}
        if not given:
            return None
        undersampling = cls(**given)  # type: ignore[arg-type]
        undersampling.spec()
        return undersampling

    def spec(self) -> MaskSpec:
        """The validated mask specification (raises on a bad kind, acceleration or fraction)."""
        return MaskSpec(self.kind, (self.center_fraction,), (self.acceleration,))

    def mask_for(self, info: VolumeInfo) -> tuple[torch.Tensor, int]:
        """One mask for the whole volume, zero outside the header's acquired columns."""
        spec = self.spec()
        seed: Seed = file_seed(info.path.name) if self.seed is None else self.seed
        mask, num_low = spec(info.kspace_shape[-2:], seed)
        left, right = info.padding
        mask = mask.clone()
        mask[..., :left] = 0
        mask[..., right:] = 0
        return mask, num_low


@dataclass
class VolumeResult:
    """What happened to one input file: each output file written, with the attributes it records."""

    input: Path
    outputs: dict[Path, dict[str, object]] = field(default_factory=dict)
    slices: int = 0
    seconds: float = 0.0


def volume_outputs(info: VolumeInfo, output_dir: Path, kspace_key: str | None) -> dict[str, Path]:
    """The k-space dataset(s) to reconstruct and the output file of each: ``kspace_key`` (else the
    file's default) into ``output_dir``; without ``kspace_key``, every course key of a course file
    (``kspace_4af`` -> ``output_dir/4x``), so that neither acceleration overwrites the other."""
    keys = [key for key in info.kspace_keys if course_acceleration(key) is not None]
    if kspace_key is not None or not keys or info.default_kspace_key() not in keys:
        return {kspace_key or info.default_kspace_key(): output_path_for(output_dir, info.path.name)}
    return {key: output_path_for(output_dir / f"{course_acceleration(key):g}x", info.path.name) for key in keys}


def check_undersampling(info: VolumeInfo, kspace_key: str | None, undersampling: Undersampling | None) -> None:
    """Refuse retrospective undersampling (``undersampling`` given) of data that is already
    undersampled: a new mask over it would silently discard measured samples."""
    own = info.own_sampling(kspace_key)
    if undersampling is not None and own is not None:
        source = "its zeros" if own == "zeros" else f"'{own}'"
        raise KspaceKitError(
            f"already undersampled (sampling from {source}); --mask/--acceleration/--center-fraction/--seed "
            "apply to fully sampled files only",
            info.path,
        )


def _volume_slices(
    info: VolumeInfo,
    method: ReconstructionMethod,
    undersampling: Undersampling | None,
    kspace_key: str | None,
    batch_size: int | None,
    device: torch.device,
) -> Iterator[tuple[np.ndarray, dict[str, object]]]:
    """Reconstruct a volume batch by batch; yield (images (B, h, w), what was used)."""
    key = info.default_kspace_key() if kspace_key is None else kspace_key
    check_undersampling(info, key, undersampling)
    own = info.own_sampling(key)
    if own is None:
        undersampling = Undersampling() if undersampling is None else undersampling
        volume_mask, volume_num_low = undersampling.mask_for(info)
        used: dict[str, object] = {
            "mask": undersampling.kind,
            "acceleration": undersampling.acceleration,
            "center_fraction": undersampling.center_fraction,
        }
    for batch in iter_volume_batches(info, batch_size, key):
        kspace = batch.kspace.to(device)
        if own is None:
            mask = volume_mask.to(device)
            meta = ReconMeta.from_mask(mask, tuple(kspace.shape), info.target_size)
            meta = replace(meta, num_low_frequencies=volume_num_low, acceleration=undersampling.acceleration)
        else:
            mask = batch.kspace_mask.to(device)
            meta = ReconMeta.from_mask(mask, tuple(kspace.shape), info.target_size)
            meta = replace(
                meta,
                num_low_frequencies=batch.num_low_frequencies,
                acceleration=batch.acceleration or meta.acceleration,
            )
            used = {"mask": "file", "sampling": own, "acceleration": meta.acceleration}
        used.update(method.provenance(meta))
        images = method(kspace * mask, mask, meta)
        yield images.cpu().numpy(), {k: v for k, v in used.items() if v is not None}


def reconstruct_volume(
    info: VolumeInfo,
    output_dir: Path,
    method: ReconstructionMethod,
    *,
    undersampling: Undersampling | None = None,
    kspace_key: str | None = None,
    batch_size: int | None = None,
    device: torch.device = torch.device("cpu"),
    overwrite: bool = False,
    on_slices: Callable[[int], None] = lambda n: None,
) -> VolumeResult:
    """Reconstruct one inspected file and write its submission file(s) (:func:`volume_outputs`).

    ``undersampling``: how to undersample a fully sampled file (None: :class:`Undersampling`'s
    defaults); given for a file that carries its own sampling, it is an error (nothing is
    drawn over undersampled data). Problems with the file or the outputs raise
    :class:`KspaceKitError`; nothing is written when the file or one of its outputs is refused.
    """
    outputs = volume_outputs(info, output_dir, kspace_key)
    for out_path in outputs.values():
        check_writable(out_path, overwrite)
    start = time.perf_counter()
    results: dict[Path, tuple[np.ndarray, dict[str, object]]] = {}
    try:
        for key, out_path in outputs.items():
            images, used = [], {}
            for batch_images, used in _volume_slices(info, method, undersampling, key, batch_size, device):
                images.append(batch_images)
                on_slices(len(batch_images))
            results[out_path] = np.concatenate(images), {"method": method.name, **used}
    except KspaceKitError as err:  # e.g. a method's "too few centre lines": say which file
        if err.path is not None:
            raise
        raise KspaceKitError(err.message, info.path) from None
    seconds = time.perf_counter() - start
    for out_path, (images, attrs) in results.items():
        write_submission(out_path.parent, info.path.name, images, attrs=attrs, header=info.header_xml,
                         overwrite=overwrite)
    return VolumeResult(info.path, {path: attrs for path, (_, attrs) in results.items()}, info.num_slices, seconds)


@dataclass
class FolderResult:
    """What :func:`reconstruct_folder` did: the volumes written and one message per file that failed."""

    files: int
    written: list[VolumeResult] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def reconstruct_folder(
    input: Path,
    output_dir: Path,
    method: ReconstructionMethod,
    *,
    show_progress: bool = True,
    **volume_options: Any,
) -> FolderResult:
    """Reconstruct a file, or every ``.h5`` file of a folder, into ``output_dir``; ``volume_options``
    are :func:`reconstruct_volume`'s (undersampling, kspace_key, batch_size, device, overwrite).

    A single file that cannot be reconstructed raises :class:`KspaceKitError`. In a folder a bad
    file does not stop the others: every good volume is written, every bad one is named (with its
    problem) in :attr:`FolderResult.failures` and gets no output file, not even a partial one.
    """
    files = h5_files(input)
    single = len(files) == 1 and not input.is_dir()
    result = FolderResult(len(files))
    infos = []
    for path in files:
        try:
            info = inspect_volume(path)
            check_undersampling(info, volume_options.get("kspace_key"), volume_options.get("undersampling"))
            infos.append(info)
        except KspaceKitError as err:
            if single:
                raise
            result.failures.append(str(err))
    with progress_bar() if show_progress else contextlib.nullcontext() as progress:
        total = sum(info.num_slices * len(volume_outputs(info, output_dir, volume_options.get("kspace_key")))
                    for info in infos)
        task = progress.add_task(method.name, total=total) if progress else None
        for info in infos:
            try:
                result.written.append(reconstruct_volume(
                    info, output_dir, method, **volume_options,
                    on_slices=lambda n: progress.advance(task, n) if progress else None,
                ))
            except KspaceKitError as err:
                if single:
                    raise
                result.failures.append(str(err))
    return result


def create_method_with(
    name: str, *, lam: float | str | None = None, iterations: int | None = None, checkpoint: Path | None = None
) -> ReconstructionMethod:
    """The method ``name`` with the command-line options that were given (None: the method's own
    default); :func:`create_method` refuses an option the method does not take. ``lam``: a number
    (also as text) or a rule name the method has (``lambda_rules``: tv and wavelet take "auto" and
    "holdout"), checked by the method (:func:`kspacekit.optim.regularization.check_lambda`)."""
    if iterations is not None and iterations < 1:
        raise KspaceKitError(f"--iterations must be at least 1, got {iterations}")
    options = {"lam": lam, "iterations": iterations, "checkpoint": checkpoint}
    return create_method(name, **{key: value for key, value in options.items() if value is not None})
