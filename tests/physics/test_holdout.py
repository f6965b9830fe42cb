"""k-space hold-out: disjoint fit/validation sets whose union is the measured set, centre kept."""

from __future__ import annotations

import pytest
import torch

from kspacekit.errors import KspaceKitError
from kspacekit.physics.holdout import holdout_split, kfold_splits
from kspacekit.physics.masks import make_mask


def line_masks(width: int = 180, acceleration: int = 4, centre: float = 0.08) -> tuple[torch.Tensor, int]:
    """A batch of two fastMRI random line masks (2, 1, 1, W) with different draws."""
    masks = [make_mask("random", (1, 8, 64, width), acceleration, centre, seed=s) for s in (0, 1)]
    return torch.cat([m for m, _ in masks]), masks[0][1]


def central_run(columns: torch.Tensor) -> torch.Tensor:
    """Indices of the run of sampled columns through the centre."""
    centre = columns.numel() // 2
    left = centre
    while left > 0 and columns[left - 1]:
        left -= 1
    right = centre
    while right + 1 < columns.numel() and columns[right + 1]:
        right += 1
    return torch.arange(left, right + 1)


def test_line_split_holds_out_whole_lines_outside_the_centre(device):
    masks, _ = line_masks()
    masks = masks.to(device)
    split = holdout_split(masks, 0.25, seed=3)
    assert split.fit.shape == masks.shape and split.fit.dtype == masks.dtype
    assert split.fit.device == masks.device
    assert not (split.fit * split.validation).any()
    assert torch.equal(split.fit + split.validation, masks)
    for index in range(masks.shape[0]):
        columns = masks[index].flatten() != 0
        run = central_run(columns.cpu())
        assert not split.validation[index].flatten()[run.to(device)].any()
        outer = int(columns.sum()) - run.numel()
        assert int(split.validation[index].sum()) == round(0.25 * outer)


def test_full_size_line_mask_keeps_its_shape_and_holds_out_whole_columns():
    mask, _ = make_mask("random", (1, 4, 32, 96), 4, 0.08, seed=0)
    full = mask.broadcast_to(1, 4, 32, 96).clone()
    split = holdout_split(full, seed=1)
    assert split.validation.shape == full.shape
    assert torch.equal(split.fit + split.validation, full)
    columns = split.validation[0, 0, 0]
    assert columns.any()
    assert torch.equal(split.validation, columns.expand_as(full))  # whole lines, every coil


def test_row_masks_hold_out_rows():
    mask, _ = make_mask("random", (1, 1, 1, 96), 4, 0.08, seed=2)
    rows = mask.transpose(-1, -2)  # (1, 1, 96, 1): lines along the other axis
    split = holdout_split(rows, seed=0)
    assert split.validation.shape == rows.shape
    assert torch.equal(split.fit + split.validation, rows)
    assert split.validation.any()
    assert not split.validation[0, 0, 48 - 2 : 48 + 2].any()


def test_plane_split_keeps_the_calibration_box():
    mask, _ = make_mask("poisson", (1, 1, 64, 64), 4, 0.1, seed=0)
    split = holdout_split(mask, 0.3, seed=0)
    assert torch.equal(split.fit + split.validation, mask)
    assert not (split.fit * split.validation).any()
    box = mask[0, 0, 32 - 3 : 32 + 3, 32 - 3 : 32 + 3]
    assert box.all()
    assert not split.validation[0, 0, 32 - 3 : 32 + 3, 32 - 3 : 32 + 3].any()
    assert 0 < split.validation.sum() < mask.sum()
    rows_held = split.validation[0, 0].any(1).sum()
    assert rows_held > 1 and not torch.equal(split.validation[0, 0], split.validation[0, 0, :, :1].expand(64, 64))


def test_seeds_are_reproducible_and_matter():
    masks, _ = line_masks()
    first, again, other = (holdout_split(masks, seed=s).validation for s in (5, 5, 6))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_a_slice_gets_the_same_split_alone_or_in_a_batch():
    masks, _ = line_masks()
    batched = holdout_split(masks, seed=4).validation
    # Same seed, the slice first in its own batch: the draw covers the same positions.
    alone = holdout_split(masks[:1], seed=4).validation
    assert torch.equal(batched[:1], alone)


def test_kfold_validation_sets_partition_the_candidates():
    masks, _ = line_masks()
    folds = kfold_splits(masks, 4, seed=0)
    validations = torch.stack([f.validation for f in folds])
    assert validations.sum(0).max() == 1  # disjoint
    for fold in folds:
        assert torch.equal(fold.fit + fold.validation, masks)
    never_held = masks - validations.sum(0)  # every line outside the centre is held out once
    for index in range(masks.shape[0]):
        run = central_run(masks[index].flatten() != 0)
        assert torch.equal(never_held[index].flatten().nonzero().flatten(), run)


def test_too_few_samples_is_a_clear_error():
    mask = torch.zeros(1, 1, 1, 64)
    mask[..., 28:36] = 1
    mask[..., 5] = 1  # a single line outside the centre: nothing left to fit with
    with pytest.raises(KspaceKitError, match="too few"):
        holdout_split(mask, 0.5)
    with pytest.raises(KspaceKitError, match="too few"):
        holdout_split(torch.ones(1, 1, 1, 64))  # fully sampled: all centre
    mask[..., 9] = 1
    with pytest.raises(KspaceKitError, match="too few"):
        holdout_split(mask, 0.1)  # round(0.2) = 0 lines to hold out
    with pytest.raises(KspaceKitError, match="too few"):
        kfold_splits(mask, 3)


def test_bad_arguments_are_clear_errors():
    masks, _ = line_masks()
    with pytest.raises(KspaceKitError, match="fraction"):
        holdout_split(masks, 1.0)
    with pytest.raises(KspaceKitError, match="folds"):
        kfold_splits(masks, 1)
    with pytest.raises(KspaceKitError, match="shape"):
        holdout_split(masks[0, 0])
    coil_varying = masks[:1].expand(1, 2, 4, 180).clone()
    coil_varying[0, 1, :, 0] = 1 - coil_varying[0, 1, :, 0]
    with pytest.raises(KspaceKitError, match="coils"):
        holdout_split(coil_varying)
    plane = torch.ones(1, 1, 16, 16)
    plane[0, 0, 8, 8] = 0
    plane[0, 0, 3, 5] = 0
    with pytest.raises(KspaceKitError, match="centre"):
        holdout_split(plane)
