"""A scan acquired undersampled, end to end: the file's own sampling (1-D ``mask``, 2-D ``mask_2d``,
or the zeros of a raw file) is what every reader and command uses; nothing draws a new mask
over it, and asking to is a one-line error."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from conftest import run_main, synthetic_kspace

from kspacekit.data import inspect_volume, iter_volume_batches, read_slice, write_volume
from kspacekit.errors import KspaceKitError
from kspacekit.evaluation.benchmark import BenchmarkConfig, plan_benchmark
from kspacekit.evaluation.metrics import psnr
from kspacekit.methods import ReconMeta, ReconstructionMethod, create_method, register
from kspacekit.physics.fft import ifft2c, rss
from kspacekit.physics.masks import MaskSpec, make_mask
from kspacekit.pipeline.reconstruct import Undersampling, reconstruct_folder
from kspacekit.training.batches import MaskAndCollate

SLICES, COILS, HEIGHT, WIDTH = 2, 4, 64, 48
CENTRE = 12  # rows and columns of the fully sampled centre box of the test pattern


def poisson_pattern(seed: int = 3, acceleration: float = 4) -> np.ndarray:
    """A 2-D variable-density Poisson-disc (H, W) 0/1 pattern (float32) with a fully sampled centre box."""
    mask, _ = make_mask("poisson", (HEIGHT, WIDTH), acceleration, CENTRE / WIDTH, seed=seed)
    return mask.reshape(HEIGHT, WIDTH).numpy()


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray, Path]:
    """Fully sampled k-space, a 2-D pattern, and a raw .npy file of the zero-filled samples."""
    folder = tmp_path_factory.mktemp("scan")
    full = synthetic_kspace(SLICES, COILS, HEIGHT, WIDTH, seed=5)
    pattern = poisson_pattern()
    np.save(folder / "scan.npy", full * pattern)
    return full, pattern, folder / "scan.npy"


@pytest.fixture(scope="module")
def converted(scan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kspacekit.data.raw import convert_to_fastmri

    out = tmp_path_factory.mktemp("converted") / "scan.h5"
    convert_to_fastmri(scan[2], out)
    return out


class Recorder(ReconstructionMethod):
    """Zero-filled, remembering every (k-space, mask, meta) it was given."""

    calls: list[tuple[torch.Tensor, torch.Tensor, ReconMeta]] = []

    def reconstruct(self, kspace: torch.Tensor, mask: torch.Tensor, meta: ReconMeta) -> torch.Tensor:
        Recorder.calls.append((kspace.clone(), mask.clone(), meta))
        return create_method("zero-filled")(kspace, mask, meta)


register("test-recorder")(Recorder)


def test_converted_2d_file_is_reconstructed_from_exactly_its_samples(scan, tmp_path, monkeypatch, capsys):
    full, pattern, raw = scan
    code, out, err = run_main(["convert", raw, tmp_path / "scan.h5"], monkeypatch, capsys)
    assert code == 0 and "mask_2d written" in out, err
    Recorder.calls.clear()
    code, _, err = run_main(["reconstruct", "-i", tmp_path / "scan.h5", "-o", tmp_path / "out",
                             "--method", "test-recorder", "--device", "cpu"], monkeypatch, capsys)
    assert code == 0, err
    kspace = torch.cat([k for k, _, _ in Recorder.calls])
    masks = [torch.broadcast_to(m, k.shape) for k, m, _ in Recorder.calls]
    sampled = torch.from_numpy(pattern).bool()
    for mask in masks:  # the file's pattern, in every slice and coil: no other mask was drawn
        assert torch.equal(mask != 0, sampled.expand_as(mask))
    # data consistency on the measured points, nothing else: the method got the measured values there, zeros elsewhere
    np.testing.assert_array_equal(kspace.numpy(), full * pattern)
    meta = Recorder.calls[0][2]
    assert meta.calibration_size is not None and min(meta.calibration_size) >= CENTRE
    assert meta.acceleration == pytest.approx(pattern.size / pattern.sum())
    assert meta.line_mask is False
    with h5py.File(tmp_path / "out" / "scan.h5") as f:
        assert f.attrs["mask"] == "file" and f.attrs["sampling"] == "mask_2d"
        written = f["reconstruction"][()]
    expected = rss(ifft2c(torch.from_numpy(full * pattern)), dim=1).numpy()
    np.testing.assert_allclose(written, expected, rtol=1e-5, atol=1e-6 * expected.max())


@pytest.mark.parametrize("option", [["--mask", "poisson"], ["--acceleration", "8"], ["--center-fraction", "0.1"], ["--seed", "1"]])
def test_undersampling_an_undersampled_file_again_is_an_error(converted, tmp_path, monkeypatch, capsys, option):
    code, _, err = run_main(["reconstruct", "-i", converted, "-o", tmp_path / "out", *option], monkeypatch, capsys)
    assert code == 2 and err.count("\n") == 1
    assert str(converted) in err and "already undersampled" in err and "mask_2d" in err
    assert not (tmp_path / "out" / "scan.h5").exists()


@pytest.mark.parametrize("name", ["zero-filled", "sense", "tv", "wavelet", "unet", "varnet"])
def test_every_2d_capable_method_reconstructs_the_file(scan, converted, tmp_path, name):
    full, pattern, _ = scan
    result = reconstruct_folder(converted, tmp_path, create_method(name), show_progress=False)
    assert len(result.written) == 1
    with h5py.File(tmp_path / "scan.h5") as f:
        image = torch.from_numpy(f["reconstruction"][()])
    truth = rss(ifft2c(torch.from_numpy(full)), dim=1)
    zero_filled = rss(ifft2c(torch.from_numpy(full * pattern)), dim=1)
    assert image.shape == truth.shape and torch.isfinite(image).all()
    quality = psnr(truth.numpy(), image.numpy(), float(truth.max()))
    if name in ("sense", "tv", "wavelet"):
        assert quality > psnr(truth.numpy(), zero_filled.numpy(), float(truth.max())) + 1.0


def test_grappa_refuses_a_2d_pattern_in_one_line(converted, tmp_path, monkeypatch, capsys):
    code, _, err = run_main(["reconstruct", "-i", converted, "-o", tmp_path / "out", "--method", "grappa"],
                            monkeypatch, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(converted) in err and "needs a line mask" in err
    assert not (tmp_path / "out" / "scan.h5").exists()


def test_readers_return_the_stored_pattern(scan, converted, tmp_path):
    full, pattern, _ = scan
    info = inspect_volume(converted)
    assert info.own_sampling() == "mask_2d" and info.kind == "test"
    by_path = read_slice(converted, 1)
    np.testing.assert_array_equal(by_path.mask.numpy(), pattern)
    assert by_path.kspace_mask.shape == (1, HEIGHT, WIDTH)
    np.testing.assert_array_equal(read_slice(info, 1).kspace.numpy(), by_path.kspace.numpy())
    (batch,) = iter_volume_batches(converted, batch_size=SLICES)
    assert batch.kspace_mask.shape == (SLICES, 1, HEIGHT, WIDTH) and batch.num_low_frequencies is None
    write_volume(tmp_path / "scan.h5", full, target=rss(ifft2c(torch.from_numpy(full)), dim=1).numpy())
    [volume] = plan_benchmark(converted, BenchmarkConfig(("zero-filled",), (4.0,)), targets_dir=tmp_path)
    [sampling] = volume.samplings
    assert sampling.mask_kind == "file" and sampling.mask is None
    assert sampling.acceleration == pytest.approx(pattern.size / pattern.sum(), abs=0.01)


def test_raw_file_with_zeros_is_its_own_sampling(tmp_path):
    full = synthetic_kspace(SLICES, COILS, HEIGHT, WIDTH, seed=6)
    pattern = poisson_pattern(seed=7)
    with h5py.File(tmp_path / "points.h5", "w") as f:
        f["kspace"] = full * pattern
    columns = np.zeros(WIDTH, np.float32)
    columns[::3] = 1
    columns[20:28] = 1
    with h5py.File(tmp_path / "lines.h5", "w") as f:
        f["kspace"] = full * columns
    with h5py.File(tmp_path / "full.h5", "w") as f:
        f["kspace"] = full

    points = inspect_volume(tmp_path / "points.h5")
    assert points.zero_filled and points.own_sampling() == "zeros"
    np.testing.assert_array_equal(read_slice(points, 0).mask.numpy(), pattern)
    lines = read_slice(tmp_path / "lines.h5", 1)
    np.testing.assert_array_equal(lines.mask.numpy(), columns)  # line-wise zeros give a line mask
    assert lines.num_low_frequencies == 8
    assert inspect_volume(tmp_path / "full.h5").own_sampling() is None
    with pytest.raises(KspaceKitError, match="already undersampled"):
        reconstruct_folder(tmp_path / "points.h5", tmp_path / "out", create_method("zero-filled"),
                           undersampling=Undersampling(), show_progress=False)


def test_training_batches_keep_a_file_mask(tmp_path):
    full = synthetic_kspace(1, COILS, HEIGHT, WIDTH, seed=8)
    pattern = poisson_pattern(seed=9)
    target = rss(ifft2c(torch.from_numpy(full)), dim=1).numpy()
    write_volume(tmp_path / "t.h5", full * pattern, target=target, mask=pattern)
    sample = read_slice(tmp_path / "t.h5", 0)
    batch = MaskAndCollate(MaskSpec("random", (0.08,), (4.0,)), seed=0, train=True).collate([sample])
    np.testing.assert_array_equal(torch.broadcast_to(batch.mask, batch.kspace.shape)[0, 0].numpy(), pattern)


def write_h5(path: Path, **datasets: np.ndarray) -> Path:
    with h5py.File(path, "w") as f:
        for key, value in datasets.items():
            f[key] = value
    return path


def test_bad_undersampled_input_is_one_line_naming_the_file(tmp_path, monkeypatch, capsys):
    full = synthetic_kspace(1, COILS, HEIGHT, WIDTH, seed=10)
    pattern = poisson_pattern()
    no_centre = (np.random.default_rng(0).random((HEIGHT, WIDTH)) < 0.3).astype(np.float32)
    no_centre[HEIGHT // 2, WIDTH // 2] = 0
    np.save(tmp_path / "no_centre.npy", full * no_centre)
    cases = {
        write_h5(tmp_path / "shape.h5", kspace=full * pattern, mask_2d=pattern[:, :-1]): "'mask_2d' must be (H, W)",
        write_h5(tmp_path / "empty_mask.h5", kspace=full * pattern, mask_2d=0 * pattern): "samples nothing",
        write_h5(tmp_path / "zeros.h5", kspace=0 * full): "all zero",
    }
    for path, problem in cases.items():
        code, _, err = run_main(["reconstruct", "-i", path, "-o", tmp_path / "out"], monkeypatch, capsys)
        assert code == 2 and err.count("\n") == 1 and str(path) in err and problem in err, err
    code, _, err = run_main(["convert", tmp_path / "no_centre.npy", tmp_path / "out" / "c.h5"], monkeypatch, capsys)
    assert code == 2 and err.count("\n") == 1 and "no_centre.npy" in err and "centre region" in err
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]  # no partial output


# --- 3-D Cartesian volumes ------------------------------------------------------------------------

READOUT = 6


def volume_kspace(coils: int = 3) -> np.ndarray:
    """3-D k-space (kx, ky, kz, coils) of a smooth object: each readout position a slice of
    :func:`synthetic_kspace`, Fourier-transformed along the readout."""
    planes = np.stack([synthetic_kspace(1, coils, HEIGHT, WIDTH, seed=20 + x)[0] for x in range(READOUT)])
    kspace = np.fft.fftshift(np.fft.fft(np.fft.ifftshift(planes, axes=0), axis=0, norm="ortho"), axes=0)
    return np.ascontiguousarray(np.moveaxis(kspace, 1, -1))  # (kx, ky, kz, coils)


def write_cfl(base: Path, array: np.ndarray) -> None:
    base.with_suffix(".hdr").write_text("# Dimensions\n" + " ".join(map(str, array.shape)) + "\n")
    array.astype(np.complex64).ravel(order="F").tofile(base.with_suffix(".cfl"))


def test_3d_bart_volume_becomes_ky_kz_slices_and_one_nifti(tmp_path, monkeypatch, capsys):
    import nibabel as nib

    full = volume_kspace()
    pattern = poisson_pattern(seed=11)
    write_cfl(tmp_path / "vol", full * pattern[None, :, :, None])
    code, out, err = run_main(["convert", tmp_path / "vol.cfl", tmp_path / "vol.h5", "--voxel-size", "1.2,0.9,0.8"],
                              monkeypatch, capsys)
    assert code == 0 and "mask_2d" in out, err
    info = inspect_volume(tmp_path / "vol.h5")
    assert info.kspace_shape == (READOUT, 3, HEIGHT, WIDTH) and info.own_sampling() == "mask_2d"
    np.testing.assert_array_equal(info.mask, pattern)
    hybrid = np.fft.fftshift(np.fft.ifft(np.fft.ifftshift(full, axes=0), axis=0, norm="ortho"), axes=0)
    with h5py.File(tmp_path / "vol.h5") as f:
        np.testing.assert_allclose(f["kspace"][()], np.moveaxis(hybrid, -1, 1) * pattern, atol=1e-5 * np.abs(full).max())

    code, _, err = run_main(["reconstruct", "-i", tmp_path / "vol.h5", "-o", tmp_path / "rec", "--method", "sense"],
                            monkeypatch, capsys)
    assert code == 0, err
    code, _, err = run_main(["export", tmp_path / "rec" / "vol.h5", tmp_path / "vol.nii.gz"], monkeypatch, capsys)
    assert code == 0, err
    image = nib.load(tmp_path / "vol.nii.gz")
    assert image.shape == (WIDTH, HEIGHT, READOUT)  # (kz, ky, readout): one 3-D volume
    np.testing.assert_allclose(np.diag(image.affine)[:3], [0.8, 0.9, 1.2])


def test_3d_numpy_volume_with_named_axes(tmp_path):
    from kspacekit.data.raw import convert_to_fastmri

    full = volume_kspace(coils=2)
    columns = np.zeros(WIDTH, np.float32)
    columns[::2] = 1
    columns[WIDTH // 2 - 4 : WIDTH // 2 + 4] = 1
    np.save(tmp_path / "vol.npy", np.moveaxis(full * columns[None, None, :, None], -1, 0))  # (coils, kx, ky, kz)
    _, sampling = convert_to_fastmri(tmp_path / "vol.npy", tmp_path / "vol.h5", coil_axis=0, readout_axis=1)
    assert sampling.line_wise and not sampling.fully_sampled
    info = inspect_volume(tmp_path / "vol.h5")
    assert info.kspace_shape == (READOUT, 2, HEIGHT, WIDTH) and info.own_sampling() == "mask"


def test_3d_volume_with_an_undersampled_readout_is_refused(tmp_path, monkeypatch, capsys):
    full = volume_kspace()
    full[1, 5, 7] = 0  # one readout sample missing at a measured ky-kz location
    write_cfl(tmp_path / "vol", full)
    code, _, err = run_main(["convert", tmp_path / "vol.cfl", tmp_path / "vol.h5"], monkeypatch, capsys)
    assert code == 2 and err.count("\n") == 1 and "vol.cfl" in err and "readout axis (0) is itself undersampled" in err
    assert not (tmp_path / "vol.h5").exists()


def bad_own_sampling_files(folder: Path) -> dict[Path, str]:
    """Files whose own sampling cannot be reconstructed: no centre region (2-D mask, 1-D mask, raw
    zeros) or an all-zero k-space that still carries a mask."""
    full = synthetic_kspace(2, COILS, HEIGHT, WIDTH, seed=12)
    no_centre = (np.random.default_rng(1).random((HEIGHT, WIDTH)) < 0.3).astype(np.float32)
    no_centre[HEIGHT // 2 - 3 : HEIGHT // 2 + 3, WIDTH // 2 - 3 : WIDTH // 2 + 3] = 0
    lines = np.zeros(WIDTH, np.float32)
    lines[::3] = 1
    lines[WIDTH // 2 - 1 : WIDTH // 2 + 1] = 0
    return {
        write_h5(folder / "no_centre_2d.h5", kspace=full * no_centre, mask_2d=no_centre): "centre region",
        write_h5(folder / "no_centre_1d.h5", kspace=full * lines, mask=lines): "centre region",
        write_h5(folder / "no_centre_raw.h5", kspace=full * no_centre): "centre region",
        write_h5(folder / "zeros_masked.h5", kspace=0 * full, mask_2d=poisson_pattern()): "all zero",
    }


@pytest.mark.parametrize("command", ["reconstruct", "benchmark", "show"])
def test_own_sampling_without_centre_or_signal_is_one_line_everywhere(command, tmp_path, monkeypatch, capsys):
    for path, problem in bad_own_sampling_files(tmp_path).items():
        out = tmp_path / f"out_{path.stem}"
        args = {
            "reconstruct": ["reconstruct", "-i", path, "-o", out, "--method", "zero-filled", "--device", "cpu"],
            "benchmark": ["benchmark", "-d", path, "-o", out, "--methods", "zero-filled,sense", "--device", "cpu"],
            "show": ["show", path, "-o", out / "slice.png"],
        }[command]
        code, _, err = run_main(args, monkeypatch, capsys)
        assert code == 2 and err.count("\n") == 1 and str(path) in err and problem in err, err
        assert not [p for p in out.rglob("*") if p.is_file()]  # no partial output
