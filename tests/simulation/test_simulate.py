"""Simulated datasets: coil physics, noise level, fastMRI layout, split rule, byte-for-byte reproducibility."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from conftest import run_main
from fastmri.data.mri_data import SliceDataset

from kspacekit.errors import KspaceKitError
from kspacekit.simulation.acquisition import (
    coil_arrays,
    coil_sensitivities,
    random_coil_maps,
    simulate_slices,
)
from kspacekit.simulation.datasets import simulate_dataset
from kspacekit.simulation.head import add_head, random_layers

IMAGES = Path(__file__).parents[2].parent / "shared" / "data" / "images"
needs_data = pytest.mark.skipif(not IMAGES.is_dir(), reason="shared real data not present")


def numpy_ifft2c(kspace: np.ndarray) -> np.ndarray:
    axes = (-2, -1)
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kspace, axes=axes), norm="ortho"), axes=axes)


def crop(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    top, left = (image.shape[-2] - shape[0]) // 2, (image.shape[-1] - shape[1]) // 2
    return image[..., top : top + shape[0], left : left + shape[1]]


def head_volume(path: Path, shape: tuple[int, int, int] = (40, 48, 36)) -> Path:
    """A 3-D .npy ellipsoid 'head' with an inner structure and empty slabs at every end."""
    axes = [np.linspace(-1, 1, n) for n in shape]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    radius = (x / 0.7) ** 2 + (y / 0.8) ** 2 + (z / 0.75) ** 2
    volume = (radius <= 1) * (0.6 + 0.4 * np.cos(6 * x) * (radius <= 0.5))
    np.save(path, volume.astype(np.float32))
    return path


def test_loop_maps_are_normalised_and_distinct() -> None:
    arrays = coil_arrays(2, 8, torch.Generator().manual_seed(0))
    axis = torch.linspace(-1, 1, 48)
    positions = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1)
    maps = coil_sensitivities(arrays, positions)
    assert maps.shape == (2, 8, 48, 48)
    torch.testing.assert_close(maps.abs().square().sum(1), torch.ones(2, 48, 48), atol=1e-5, rtol=0)
    inside = positions.norm(dim=-1) < 0.9
    magnitudes = maps.abs()[..., inside]
    assert (magnitudes.amax(-1) / magnitudes.amin(-1)).min() > 2  # each coil sees a part of the head best
    assert not torch.allclose(maps[0], maps[1])  # each batch entry gets its own random array


def test_simulated_slices_rss_and_noise_level() -> None:
    magnitudes = torch.zeros(3, 64, 64)
    magnitudes[:, 12:52, 16:48] = torch.rand(3, 40, 32, generator=torch.Generator().manual_seed(1)) + 0.5
    maps = random_coil_maps(6, (64, 64), torch.Generator().manual_seed(0))
    clean = simulate_slices(magnitudes, maps, snr=None, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(clean.rss(), magnitudes, atol=1e-5, rtol=1e-5)
    assert clean.coil_images.angle()[:, 0, 20:40, 20:40].std() > 0.1  # a phase that is not constant

    snr = 20.0
    noisy = simulate_slices(magnitudes, maps, snr=snr, generator=torch.Generator().manual_seed(2))
    background = noisy.coil_images[..., :8, :]  # no object there: pure noise
    sigma = magnitudes[0][magnitudes[0] > 0].mean() / snr
    assert background.abs().square().mean().sqrt().item() == pytest.approx(sigma.item(), rel=0.05)
    torch.testing.assert_close(noisy.emulated_single_coil().abs()[:, 30, 30], magnitudes[:, 30, 30], atol=0.2, rtol=0)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("simulated")
    source = head_volume(root / "head.npy")
    options = dict(
        coils=4,
        shape=(64, 64),
        snr=25.0,
        slices_per_volume=5,
        orientations=("axial", "coronal", "sagittal"),
        seed=3,
        recon_size=(48, 56),
        singlecoil=True,
        progress=False,
    )
    simulate_dataset([source], root / "out", **options)
    return root, source, options


def test_dataset_is_fastmri_readable(dataset: tuple[Path, Path, dict]) -> None:
    root, _, _ = dataset
    multicoil = sorted((root / "out").glob("multicoil_*/*.h5"))
    assert len(multicoil) == 3
    for folder in sorted({path.parent for path in multicoil}):
        for kspace, mask, target, attrs, fname, slice_index in SliceDataset(folder, challenge="multicoil"):
            assert kspace.shape == (4, 64, 64) and mask is None
            expected = crop(np.sqrt((np.abs(numpy_ifft2c(kspace)) ** 2).sum(0)), (48, 56))
            np.testing.assert_allclose(target, expected, rtol=1e-4, atol=1e-5 * expected.max())
            assert attrs["recon_size"] == (48, 56, 1) and attrs["patient_id"] == "head"
            assert attrs["acquisition"] == "SIM_" + fname.removeprefix("head_").removesuffix(".h5").upper()
            with h5py.File(folder / fname) as f:
                volume = f["reconstruction_rss"][()]
            assert attrs["max"] == pytest.approx(volume.max(), rel=1e-6)
            assert attrs["norm"] == pytest.approx(np.linalg.norm(volume), rel=1e-5)
            assert (target > 0.3 * target.max()).mean() > 0.05  # the selected slices are not empty


def test_singlecoil_output(dataset: tuple[Path, Path, dict]) -> None:
    root, _, _ = dataset
    for path in sorted((root / "out").glob("singlecoil_*/*.h5")):
        for kspace, _, target, _, _, _ in SliceDataset(path.parent, challenge="singlecoil"):
            assert kspace.shape == (64, 64)
            np.testing.assert_allclose(target, crop(np.abs(numpy_ifft2c(kspace)), (48, 56)), rtol=1e-4, atol=1e-5)


def test_split_keeps_volumes_whole(dataset: tuple[Path, Path, dict], tmp_path: Path) -> None:
    root, source, options = dataset
    names = [p.name for p in (root / "out").glob("multicoil_*/*.h5")]
    assert sorted(names) == ["head_axial.h5", "head_coronal.h5", "head_sagittal.h5"]  # each in exactly one split
    assert {p.parent.name for p in (root / "out").glob("multicoil_*/*.h5")} == {
        "multicoil_train",
        "multicoil_val",
        "multicoil_test",
    }  # three units, three splits
    second = head_volume(tmp_path / "other.npy", (36, 40, 44))
    summary = simulate_dataset(
        [source, second], tmp_path / "by_volume", **(options | {"split_by": "volume", "singlecoil": False})
    )
    split_of = {path.stem: folder for folder, paths in summary.files.items() for path in paths}
    for name in ("head", "other"):
        assert len({split_of[f"{name}_{o}"] for o in options["orientations"]}) == 1


def test_same_command_same_bytes(dataset: tuple[Path, Path, dict], tmp_path: Path) -> None:
    root, source, options = dataset
    simulate_dataset([source], tmp_path / "again", **options)
    first = sorted(p.relative_to(root / "out") for p in (root / "out").rglob("*.h5"))
    assert first == sorted(p.relative_to(tmp_path / "again") for p in (tmp_path / "again").rglob("*.h5"))
    for relative in first:
        assert (root / "out" / relative).read_bytes() == (tmp_path / "again" / relative).read_bytes(), relative
    simulate_dataset([source], tmp_path / "other_seed", **(options | {"seed": 4}))
    other = next((tmp_path / "other_seed").glob(f"*/{first[0].name}"))  # its split may differ too
    assert other.read_bytes() != (root / "out" / first[0]).read_bytes()


def test_output_folder_rules(dataset: tuple[Path, Path, dict]) -> None:
    root, source, options = dataset
    with pytest.raises(KspaceKitError, match="not empty"):
        simulate_dataset([source], root / "out", **options)
    simulate_dataset([source], root / "out", **(options | {"overwrite": True}))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"coils": 0}, "coils"),
        ({"coils": 65}, "coils"),
        ({"snr": 0.0}, "SNR"),
        ({"snr": -3.0}, "SNR"),
        ({"orientations": ("oblique",)}, "orientations"),
        ({"recon_size": (80, 80)}, "recon size"),
    ],
)
def test_bad_options_write_nothing(tmp_path: Path, options: dict, message: str) -> None:
    source = head_volume(tmp_path / "head.npy")
    with pytest.raises(KspaceKitError, match=message):
        simulate_dataset([source], tmp_path / "out", **({"shape": (64, 64), "progress": False} | options))
    assert not (tmp_path / "out").exists()


def test_bad_sources_name_the_file(tmp_path: Path) -> None:
    import nibabel

    four_d = tmp_path / "four_d.nii.gz"
    nibabel.save(nibabel.Nifti1Image(np.ones((8, 8, 8, 2), np.float32), np.eye(4)), four_d)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.nii.gz").write_bytes(b"garbage")
    cases = [(four_d, "3-D"), (tmp_path / "notes.txt", "unknown image format"), (tmp_path / "broken.nii.gz", "cannot read")]
    for path, message in cases:
        with pytest.raises(KspaceKitError, match=message) as err:
            simulate_dataset([path], tmp_path / "out", shape=(64, 64), progress=False)
        assert err.value.path == path
    assert not (tmp_path / "out").exists()


def test_cli_phantom_file(tmp_path: Path, monkeypatch, capsys) -> None:
    args = ["simulate", "--phantom", "shepp-logan", "--shape", "64", "64", "--coils", "4", "--slices", "2"]
    code, _, _ = run_main([*args, "-o", tmp_path / "sl" / "phantom.h5"], monkeypatch, capsys)
    assert code == 0
    kspace, _, target, attrs, _, _ = SliceDataset(tmp_path / "sl", challenge="multicoil")[1]
    assert kspace.shape == (4, 64, 64) and attrs["acquisition"] == "PHANTOM_SHEPP_LOGAN"
    with h5py.File(tmp_path / "sl" / "phantom.h5") as f:
        reference = f["phantom_reference"][1]
        assert f["sensitivity_maps"].shape == (2, 4, 64, 64)
    assert np.abs(target - reference).mean() < 0.05 * reference.max()  # RSS of the analytic k-space ~ phantom


def test_cli_bad_input_exits_2(tmp_path: Path, monkeypatch, capsys) -> None:
    source = head_volume(tmp_path / "head.npy")
    out = tmp_path / "out"
    code, _, err = run_main(["simulate", "--source", source, "--snr", "-1", "-o", out], monkeypatch, capsys)
    assert code == 2 and err.count("\n") == 1 and "SNR" in err
    code, _, err = run_main(["simulate", "--source", tmp_path / "missing.nii.gz", "-o", out], monkeypatch, capsys)
    assert code == 2 and "missing.nii.gz" in err
    assert not (tmp_path / "out").exists()


@needs_data
def test_real_sources(tmp_path: Path) -> None:
    sources = [
        IMAGES / "dipy_S0_10slices.nii.gz",
        IMAGES / "dipy_t1_coronal_slice.npy",
        IMAGES / "matplotlib_s1045.ima.gz",
        IMAGES / "pydicom_examples_overlay.dcm",
    ]
    summary = simulate_dataset(
        sources, tmp_path / "out", coils=4, shape=(64, 64), slices_per_volume=2, orientations=("axial", "coronal"),
        progress=False,
    )
    assert summary.skipped == ["dipy_S0_10slices_coronal"]  # 10 slices: too thin to cut coronally
    names = sorted(path.stem for paths in summary.files.values() for path in paths)
    assert names == [
        "dipy_S0_10slices_axial",
        "dipy_t1_coronal_slice_slice",
        "matplotlib_s1045_slice",
        "pydicom_examples_overlay_slice",
    ]
    assert summary.slices == 5


def stripped_brain(shape: tuple[int, int] = (60, 50), slices: int = 3) -> np.ndarray:
    """Skull-stripped 'brain' slices: an ellipse with an inner structure, black right outside it."""
    rows, cols = np.meshgrid(np.linspace(-1, 1, shape[0]), np.linspace(-1, 1, shape[1]), indexing="ij")
    radius = (rows / 0.9) ** 2 + (cols / 0.85) ** 2
    brain = (radius <= 1) * (0.5 + 0.3 * (radius <= 0.4))
    stack = np.repeat(brain[None].astype(np.float32), slices, axis=0)
    stack[-1] = 0.0  # an empty slice stays empty
    return stack


def test_add_head_keeps_the_brain_and_puts_a_bright_ring_outside_it() -> None:
    slices, spacing = stripped_brain(), (2.0, 2.5)
    rng = np.random.default_rng(0)
    layers = random_layers(rng)
    head = add_head(slices, spacing, rng, layers)
    pad_rows, pad_cols = (head.shape[1] - slices.shape[1]) // 2, (head.shape[2] - slices.shape[2]) // 2
    total_mm = layers.thickness.sum() + layers.air
    assert pad_rows * spacing[0] >= total_mm and pad_cols * spacing[1] >= total_mm
    inner = head[:, pad_rows : pad_rows + slices.shape[1], pad_cols : pad_cols + slices.shape[2]]
    brain = slices > 0
    np.testing.assert_array_equal(inner[brain], slices[brain])  # the brain is untouched
    shell = head.copy()
    shell[:, pad_rows : pad_rows + slices.shape[1], pad_cols : pad_cols + slices.shape[2]][brain] = 0
    reference = np.percentile(slices[slices > 0], 99)
    fat = layers.intensity[-2] * reference
    assert shell[:2].max() > 0.7 * fat  # the fat ring, blurred at its edges
    assert (shell[:2] > 0).mean() > 0.1 and head[-1].max() == 0.0
    assert head[:, 0, :].max() == 0.0 and head[:, :, -1].max() == 0.0  # air at the edges of the FOV
    np.testing.assert_array_equal(head, add_head(slices, spacing, np.random.default_rng(0)))  # seeded


def test_dataset_with_head(tmp_path: Path) -> None:
    source = head_volume(tmp_path / "brain.npy")
    options = {"coils": 4, "shape": (64, 64), "split": (1, 0, 0), "progress": False}
    simulate_dataset([source], tmp_path / "plain", **options)
    simulate_dataset([source], tmp_path / "head", **options, head=True)
    with h5py.File(tmp_path / "plain/multicoil_train/brain_axial.h5") as plain, \
            h5py.File(tmp_path / "head/multicoil_train/brain_axial.h5") as head:
        assert head.attrs["synthetic_head"] and not plain.attrs["synthetic_head"]
        plain_target, head_target = plain["reconstruction_rss"][()], head["reconstruction_rss"][()]
    assert plain_target.shape == head_target.shape
    foreground = lambda image: (image > 0.2 * image.max()).mean()  # noqa: E731
    assert foreground(head_target) != pytest.approx(foreground(plain_target), abs=0.01)


def test_cli_head_needs_sources(tmp_path: Path, monkeypatch, capsys) -> None:
    code, _, err = run_main(["simulate", "--phantom", "shepp-logan", "--head", "-o", tmp_path / "p.h5"], monkeypatch, capsys)
    assert code == 2 and "--head" in err and not (tmp_path / "p.h5").exists()
