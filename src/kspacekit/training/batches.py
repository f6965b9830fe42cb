"""Training batches: retrospective undersampling with a seeded mask per slice, and normalisation.

Every fully sampled slice gets its own mask, drawn from a seed made of the run's seed, the file
name and the slice number (and the epoch for training data, so each epoch sees new masks;
validation masks never change). Columns outside the header's acquired range stay unsampled. A
slice that carries its own sampling (a file with a target and a stored ``mask`` or
``mask_2d``) keeps exactly it: nothing is drawn over undersampled data. Each slice is then
divided by the maximum of its zero-filled image so that losses see images of order one whatever
the scanner's scale; all models are scale-equivariant, so this changes nothing at inference.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from kspacekit.data import SliceSample
from kspacekit.errors import KspaceKitError
from kspacekit.physics.masks import MaskSpec
from kspacekit.physics.operators import zero_filled_image


@dataclass
class Batch:
    """Masked, normalised k-space (B, C, H, W), mask (B, 1, ., W), targets (B, h, w), scales (B,)."""

    kspace: Tensor
    mask: Tensor
    target: Tensor
    scale: Tensor
    target_size: tuple[int, int]
    num_low_frequencies: int | None
    fnames: list[str]
    slice_nums: list[int]

    def to(self, device: torch.device) -> Batch:
        return replace(
            self,
            kspace=self.kspace.to(device),
            mask=self.mask.to(device),
            target=self.target.to(device),
            scale=self.scale.to(device),
        )


class MaskAndCollate:
    """DataLoader ``collate_fn``: undersample each slice, normalise it, stack the batch.

    Set ``epoch`` before iterating; with ``train=False`` masks ignore the epoch.
    """

    def __init__(self, spec: MaskSpec, seed: int, train: bool) -> None:
        self.spec = spec
        self.seed = seed
        self.train = train
        self.epoch = 0

    def mask_seed(self, sample: SliceSample) -> tuple[int, ...]:
        file_key = zlib.crc32(sample.fname.encode())
        if self.train:
            return (self.seed, self.epoch, file_key, sample.slice_num)
        return (self.seed, file_key, sample.slice_num)

    def undersample(self, sample: SliceSample) -> tuple[Tensor, Tensor, int | None]:
        """(masked k-space, mask broadcastable to it, num_low_frequencies): the file's own
        sampling when it has one, else a drawn mask."""
        if sample.kspace_mask is not None:
            return sample.kspace * sample.kspace_mask, sample.kspace_mask, sample.num_low_frequencies
        mask, num_low = self.spec(sample.kspace.shape, self.mask_seed(sample))
        left, right = sample.padding
        mask[..., :left] = 0
        mask[..., right:] = 0
        return sample.kspace * mask, mask, num_low

    def __call__(self, samples: list[SliceSample | KspaceKitError]) -> Batch | KspaceKitError:
        """The batch, or the first error met reading or checking its slices (see :class:`ErrorsAsValues`)."""
        try:
            return self.collate(samples)
        except KspaceKitError as err:
            return err

    def collate(self, samples: list[SliceSample | KspaceKitError]) -> Batch:
        for sample in samples:
            if isinstance(sample, KspaceKitError):
                raise sample
        first = samples[0]
        for sample in samples:
            if sample.target is None:
                raise KspaceKitError("training needs fully sampled data with a target image", sample.fname)
            if sample.kspace.shape != first.kspace.shape or sample.target_size != first.target_size:
                raise KspaceKitError(
                    f"slices of different shapes in one batch ({tuple(sample.kspace.shape)} vs "
                    f"{tuple(first.kspace.shape)}); use --batch-size 1",
                    sample.fname,
                )
        undersampled = [self.undersample(sample) for sample in samples]
        kspace = torch.stack([k for k, _, _ in undersampled])
        masks = [m for _, m, _ in undersampled]
        if len({m.shape for m in masks}) > 1:  # line masks beside 2-D patterns
            masks = [m.broadcast_to((1, *kspace.shape[-2:])) for m in masks]
        mask = torch.stack(masks)
        centre_runs = [n for _, _, n in undersampled if n is not None]
        target = torch.stack([sample.target for sample in samples])
        scale = zero_filled_image(kspace, mask, first.target_size).flatten(1).amax(1).clamp_min(1e-20)
        return Batch(
            kspace=kspace / scale[:, None, None, None],
            mask=mask,
            target=target / scale[:, None, None],
            scale=scale,
            target_size=first.target_size,
            num_low_frequencies=min(centre_runs) if len(centre_runs) == len(undersampled) else None,
            fnames=[sample.fname for sample in samples],
            slice_nums=[sample.slice_num for sample in samples],
        )


class ErrorsAsValues(Dataset):
    """``dataset[i]``, or the :class:`KspaceKitError` that reading it raised, returned as a value.

    A DataLoader worker that raises sends the main process its whole traceback as the error's
    message; returned as values (through :class:`MaskAndCollate`), errors reach the user as the
    one line they are. :func:`raise_errors` raises them in the main process.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        try:
            return self.dataset[index]
        except KspaceKitError as err:
            return err


def raise_errors(loader: Iterable[Batch | KspaceKitError]) -> Iterator[Batch]:
    """The batches of a loader over :class:`ErrorsAsValues`, raising the first error returned."""
    for batch in loader:
        if isinstance(batch, KspaceKitError):
            raise batch
        yield batch
