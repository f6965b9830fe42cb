"""pipeline.reconstruct_folder: the folder failure policy, course files' two accelerations and the
checkpoint record, as a library function."""

from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pytest
import torch
from conftest import run_main, synthetic_kspace, write_train_file

from kspacekit.errors import KspaceKitError
from kspacekit.methods import create_method
from kspacekit.methods.learned import nearest_weights
from kspacekit.models import build_model, model_config
from kspacekit.pipeline.reconstruct import Undersampling, create_method_with, reconstruct_folder
from kspacekit.training.checkpoints import save_checkpoint


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


def write_course_file(path, slices: int = 2, coils: int = 1, height: int = 40, width: int = 32):
    """A course file: kspace_4af and kspace_8af (line masks with a fully sampled centre), no target."""
    kspace = synthetic_kspace(slices, coils, height, width)
    columns = np.arange(width)
    with h5py.File(path, "w") as f:
        for acceleration in (4, 8):
            mask = (columns % acceleration == 0) | (abs(columns - width // 2) < 3)
            f.create_dataset(f"kspace_{acceleration}af", data=(kspace * mask).astype(np.complex64))
    return path


def test_a_course_file_gives_both_accelerations_and_an_explicit_key_one(tmp_path):
    course, out = write_course_file(tmp_path / "course.h5"), tmp_path / "out"
    result = reconstruct_folder(course, out, create_method("zero-filled"), show_progress=False)
    assert sorted(str(p.relative_to(out)) for p in result.written[0].outputs) == ["4x/course.h5", "8x/course.h5"]
    for acceleration in (4, 8):
        with h5py.File(out / f"{acceleration}x" / "course.h5") as hf:
            assert hf.attrs["acceleration"] == acceleration and hf.attrs["mask"] == "file"
            with h5py.File(course) as source:
                kspace = source[f"kspace_{acceleration}af"][:, 0]
            shift = (-2, -1)
            zero_filled = np.abs(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kspace, axes=shift), norm="ortho"), axes=shift))
            np.testing.assert_allclose(hf["reconstruction"][()], zero_filled, rtol=1e-4, atol=1e-5 * zero_filled.max())
    result = reconstruct_folder(course, tmp_path / "one", create_method("zero-filled"), kspace_key="kspace_8af",
                                show_progress=False)
    assert list(result.written[0].outputs) == [tmp_path / "one" / "course.h5"]


def test_a_course_file_overwrites_neither_output_without_overwrite(tmp_path):
    course, out = write_course_file(tmp_path / "course.h5"), tmp_path / "out"
    (out / "8x").mkdir(parents=True)
    (out / "8x" / "course.h5").write_bytes(b"earlier")
    with pytest.raises(KspaceKitError, match="--overwrite"):
        reconstruct_folder(course, out, create_method("zero-filled"), show_progress=False)
    assert not (out / "4x" / "course.h5").exists() and (out / "8x" / "course.h5").read_bytes() == b"earlier"
    reconstruct_folder(course, out, create_method("zero-filled"), overwrite=True, show_progress=False)
    assert h5py.is_hdf5(out / "8x" / "course.h5") and h5py.is_hdf5(out / "4x" / "course.h5")


@pytest.mark.filterwarnings("ignore:unet. the network's output disagrees")  # an untrained network
def test_outputs_record_the_checkpoint_of_a_learned_method(tmp_path, monkeypatch, capsys):
    course = write_course_file(tmp_path / "course.h5")
    checkpoint = tmp_path / "tiny.pt"
    torch.manual_seed(0)
    tiny = {"chans": 4, "num_pool_layers": 2}
    save_checkpoint(checkpoint, {"model": "unet", "config": model_config("unet", tiny),
                                 "state_dict": build_model("unet", tiny).state_dict()})
    code, _, err = run_main(["reconstruct", "-i", course, "-o", tmp_path / "given", "--method", "unet",
                             "--checkpoint", checkpoint, "--device", "cpu"], monkeypatch, capsys)
    assert code == 0 and "wrote 1 of 1 volumes" in err and "2 files, one per acceleration" in err, err
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    for acceleration in ("4x", "8x"):
        with h5py.File(tmp_path / "given" / acceleration / "course.h5") as hf:
            assert hf.attrs["method"] == "unet" and hf.attrs["checkpoint"] == str(checkpoint.resolve())
            assert hf.attrs["checkpoint_sha256"] == digest

    result = reconstruct_folder(course, tmp_path / "shipped", create_method("unet"), kspace_key="kspace_4af",
                                show_progress=False)
    shipped = nearest_weights("unet", 4.0)
    assert result.written[0].outputs[tmp_path / "shipped" / "course.h5"]["checkpoint"] == f"shipped:{shipped.name}"
    with h5py.File(tmp_path / "shipped" / "course.h5") as hf:
        assert hf.attrs["checkpoint_sha256"] == hashlib.sha256(shipped.read_bytes()).hexdigest()
    tv = reconstruct_folder(course, tmp_path / "tv", create_method("zero-filled"), show_progress=False)
    assert all("checkpoint" not in attrs for attrs in tv.written[0].outputs.values())
