"""Batches of slices for a PyTorch ``DataLoader`` over a :class:`~kspacekit.data.SliceDataset`.

PyTorch's default collate cannot stack :class:`~kspacekit.data.SliceSample` (its mask and target
are None for some files), so pass :func:`collate_slices`::

    loader = DataLoader(SliceDataset("knee/val"), batch_size=4, collate_fn=collate_slices)
    for batch in loader:
        image = method(batch.kspace * batch.mask, batch.mask, ReconMeta.from_mask(batch.mask[0], ...))

Training undersamples fully sampled slices itself (:class:`kspacekit.training.batches.MaskAndCollate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from kspacekit.data.fastmri import SliceSample
from kspacekit.errors import KspaceKitError


@dataclass
class SliceBatch:
    """Slices of one or more volumes: k-space (B, C, H, W); the files' own masks broadcastable
    to it, (B, 1, 1, W) or (B, 1, H, W), or None when every slice is fully sampled; targets
    (B, h, w) or None when no slice has one; and each slice's file, index and metadata."""

    kspace: torch.Tensor
    mask: torch.Tensor | None
    target: torch.Tensor | None
    target_size: tuple[int, int]
    fnames: list[str]
    slice_nums: list[int]
    num_low_frequencies: list[int | None]
    accelerations: list[float | None]
    max_values: list[float | None]


def collate_slices(samples: Sequence[SliceSample]) -> SliceBatch:
    """Stack ``samples`` (same k-space shape and target size) into a :class:`SliceBatch`."""
    if not samples:
        raise KspaceKitError("no slices to collate")
    first = samples[0]
    for sample in samples:
        if sample.kspace.shape != first.kspace.shape or sample.target_size != first.target_size:
            raise KspaceKitError(
                f"slices of different shapes in one batch ({tuple(sample.kspace.shape)} vs {tuple(first.kspace.shape)}); "
                "use batch_size=1 or group files by shape",
                sample.fname,
            )
    return SliceBatch(
        kspace=torch.stack([sample.kspace for sample in samples]),
        mask=_stack_all_or_none([s.kspace_mask for s in samples], "masks", samples, first.kspace.shape[-2:]),
        target=_stack_all_or_none([s.target for s in samples], "targets", samples),
        target_size=first.target_size,
        fnames=[sample.fname for sample in samples],
        slice_nums=[sample.slice_num for sample in samples],
        num_low_frequencies=[sample.num_low_frequencies for sample in samples],
        accelerations=[sample.acceleration for sample in samples],
        max_values=[sample.max_value for sample in samples],
    )


def _stack_all_or_none(
    tensors: list[torch.Tensor | None], what: str, samples: Sequence[SliceSample], plane: Sequence[int] | None = None
) -> torch.Tensor | None:
    """The tensors stacked (line masks beside 2-D patterns broadcast to the plane), None if all
    are None; some with and some without is an error naming a file."""
    present = [tensor is not None for tensor in tensors]
    if not any(present):
        return None
    if not all(present):
        without = samples[present.index(False)].fname
        raise KspaceKitError(f"some slices of the batch have {what} and this one has none; batch them apart", without)
    if plane is not None and len({tensor.shape for tensor in tensors}) > 1:
        tensors = [tensor.broadcast_to((1, *plane)) for tensor in tensors]
    return torch.stack(tensors)
