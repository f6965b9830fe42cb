"""A PyTorch DataLoader over SliceDataset with the public collate function."""

from __future__ import annotations

import pytest
import torch
from conftest import write_train_file
from torch.utils.data import DataLoader

from kspacekit.data import SliceDataset, collate_slices, read_slice
from kspacekit.data.export import write_undersampled_files
from kspacekit.errors import KspaceKitError


def test_dataloader_batches_fully_sampled_and_masked_slices(tmp_path):
    for v in range(2):
        write_train_file(tmp_path / "full" / f"vol{v}.h5", slices=3, coils=2, height=32, width=24, seed=v)
    batches = list(DataLoader(SliceDataset(tmp_path / "full"), batch_size=4, collate_fn=collate_slices))
    assert [batch.kspace.shape for batch in batches] == [(4, 2, 32, 24), (2, 2, 32, 24)]
    first = batches[0]
    assert first.mask is None and first.target.shape == (4, 32, 24) and first.target_size == (32, 24)
    assert list(zip(first.fnames, first.slice_nums)) == [("vol0.h5", 0), ("vol0.h5", 1), ("vol0.h5", 2), ("vol1.h5", 0)]
    torch.testing.assert_close(first.kspace[3], read_slice(tmp_path / "full" / "vol1.h5", 0).kspace)

    write_undersampled_files(tmp_path / "full", tmp_path / "test", "fastmri-test")
    [batch] = list(DataLoader(SliceDataset(tmp_path / "test"), batch_size=6, collate_fn=collate_slices))
    assert batch.mask.shape == (6, 1, 1, 24) and batch.target is None
    assert batch.accelerations == [4.0] * 6 and batch.num_low_frequencies[0] == 2
    assert torch.equal(batch.kspace * batch.mask, batch.kspace)  # stored k-space is zero off the mask

    write_train_file(tmp_path / "full" / "wide.h5", slices=1, coils=2, height=32, width=40)
    with pytest.raises(KspaceKitError, match="different shapes"):
        list(DataLoader(SliceDataset(tmp_path / "full"), batch_size=7, collate_fn=collate_slices))
