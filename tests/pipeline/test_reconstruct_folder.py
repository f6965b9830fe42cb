"""pipeline.reconstruct_folder: the folder failure policy as a library function."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from conftest import write_train_file

from kspacekit.errors import KspaceKitError
from kspacekit.methods import create_method
from kspacekit.pipeline.reconstruct import Undersampling, create_method_with, reconstruct_folder


def test_a_bad_file_is_named_and_the_good_ones_are_written(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    write_train_file(data / "good.h5", slices=2, coils=2, height=32, width=24)
    (data / "broken.h5").write_bytes(b"not hdf5")
    result = reconstruct_folder(data, out, create_method("zero-filled"), undersampling=Undersampling(),
                                show_progress=False)
    assert result.files == 2 and [r.input.name for r in result.written] == ["good.h5"]
    assert len(result.failures) == 1 and "broken.h5" in result.failures[0]
    assert sorted(p.name for p in out.iterdir()) == ["good.h5"]
    with h5py.File(out / "good.h5") as hf:
        assert hf["reconstruction"].shape == (2, 32, 24) and np.isfinite(hf["reconstruction"][()]).all()


def test_a_single_bad_file_raises(tmp_path):
    (tmp_path / "broken.h5").write_bytes(b"not hdf5")
    with pytest.raises(KspaceKitError, match="broken.h5"):
        reconstruct_folder(tmp_path / "broken.h5", tmp_path / "out", create_method("zero-filled"),
                           undersampling=Undersampling(), show_progress=False)
    assert not (tmp_path / "out").exists()


def test_iterations_below_one_are_refused():
    with pytest.raises(KspaceKitError, match="--iterations must be at least 1"):
        create_method_with("tv", iterations=0)
