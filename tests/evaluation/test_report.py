"""kspacekit benchmark / show and the report: numbers that match independent computations, a
self-contained HTML page whose every image loads in headless Chromium, and one-line errors."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from unittest import mock

import h5py
import numpy as np
import pytest
import torch
from conftest import run_cli, synthetic_kspace, write_train_file
from fastmri import evaluate as fastmri_evaluate
from fastmri.data.subsample import create_mask_for_mask_type

from kspacekit.cli import main
from kspacekit.data import write_volume
from kspacekit.errors import KspaceKitError
from kspacekit.evaluation.benchmark import (
    BenchmarkConfig,
    consistency_model,
    consistency_terms,
    plan_benchmark,
    run_benchmark,
)
from kspacekit.evaluation.metrics import evaluation_crop, volume_metrics
from kspacekit.evaluation.report import write_report
from kspacekit.methods import ReconMeta, ReconstructionMethod, register
from kspacekit.physics.fft import crop_or_pad, fft2c, ifft2c, rss
from kspacekit.physics.masks import file_seed, make_mask

CHROMIUM = Path("/usr/bin/chromium")
HEIGHT, WIDTH = 64, 100  # 100 columns leave 4 centre lines at 8x (4 %), enough for coil maps


@register("test-fails-at-8x")
class FailsAt8x(ReconstructionMethod):
    """Zero-filled at 4x; at 8x it fails as a method without weights does."""

    def reconstruct(self, kspace: torch.Tensor, mask: torch.Tensor, meta: ReconMeta) -> torch.Tensor:
        if meta.acceleration == 8:
            raise KspaceKitError("no weights for 8x")
        return crop_or_pad(rss(ifft2c(kspace), dim=1), meta.target_size).float()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    write_train_file(folder / "vol_a.h5", slices=2, height=HEIGHT, width=WIDTH, seed=1)
    write_train_file(folder / "vol_b.h5", slices=2, height=HEIGHT, width=WIDTH, seed=2)
    return folder


@pytest.fixture(scope="module")
def benchmark_dir(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench") / "out"
    run_cli("benchmark", "--data", str(data_dir), "--methods", "zero-filled,unet", "--accelerations", "4,8",
            "--seeds", "2", "--output", str(out), "--device", "cpu", check_rc=0)
    return out


def run_main(*args: str) -> tuple[int, str, str]:
    """``kspacekit ARGS`` through the console entry point, in this process (torch is already
    imported, so it is fast): (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.object(sys, "argv", ["kspacekit", *args]), redirect_stdout(out), redirect_stderr(err):
        try:
            main()
            status = 0
        except SystemExit as exit:
            status = exit.code if isinstance(exit.code, int) else 1
    return status, out.getvalue(), err.getvalue()


def chromium_dom(page: Path, profile: Path) -> str:
    """The DOM of ``page`` after loading in headless Chromium (scripts run, images decoded)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (`make test` installs it with apt-get)")
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", page.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def images_loaded(dom: str) -> tuple[int, int]:
    match = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
    assert match, "the report's image check did not run"
    return int(match.group(1)), int(match.group(2))


def test_every_image_of_the_report_loads_in_chromium(benchmark_dir: Path, tmp_path: Path):
    page = benchmark_dir / "report.html"
    text = page.read_text()
    count = text.count("<img ")
    assert count >= 3  # metrics plot + one figure per acceleration
    assert images_loaded(chromium_dom(page, tmp_path / "profile")) == (count, count)

    # the check can fail: a corrupted image is counted as not loaded
    broken = tmp_path / "broken.html"
    broken.write_text(text.replace("data:image/png;base64,iVBOR", "data:image/png;base64,AAAA", 1))
    assert images_loaded(chromium_dom(broken, tmp_path / "profile2")) == (count - 1, count)


def test_report_is_self_contained_and_names_every_method_and_acceleration(benchmark_dir: Path):
    text = (benchmark_dir / "report.html").read_text()
    sources = re.findall(r'src="([^"]*)"', text)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<link" not in text and "http://" not in text and "https://" not in text
    for name in ("zero-filled", "unet", "4x acceleration", "8x acceleration", "DC residual", "target (reference)"):
        assert name in text
    assert "SIMULATED DATA" not in text  # these files do not say they were simulated


def _written(benchmark_dir: Path, row: dict) -> np.ndarray:
    with h5py.File(benchmark_dir / row["reconstruction"], "r") as f:
        return f["reconstruction"][()]


def _target(data_dir: Path, name: str) -> np.ndarray:
    with h5py.File(data_dir / name, "r") as f:
        return f["reconstruction_rss"][()]


def test_results_match_metrics_recomputed_from_the_written_reconstructions(benchmark_dir: Path, data_dir: Path):
    results = json.loads((benchmark_dir / "results.json").read_text())
    rows = [r for r in results["volumes"] if r["method"] == "zero-filled"]
    assert len(rows) == 2 * 2 * 2  # volumes x accelerations x mask draws
    for row in rows:
        target = evaluation_crop(_target(data_dir, row["file"]))
        prediction = evaluation_crop(_written(benchmark_dir, row))
        ours = volume_metrics(torch.from_numpy(target), torch.from_numpy(prediction))
        assert row["ssim"] == pytest.approx(ours.ssim, rel=1e-9)
        assert row["psnr"] == pytest.approx(ours.psnr, rel=1e-9)
        assert row["nmse"] == pytest.approx(ours.nmse, rel=1e-9)
        maxval = target.max()
        assert row["ssim"] == pytest.approx(fastmri_evaluate.ssim(target, prediction, maxval), abs=1e-4)
        assert row["psnr"] == pytest.approx(fastmri_evaluate.psnr(target, prediction, maxval), abs=1e-3)
        assert row["nmse"] == pytest.approx(fastmri_evaluate.nmse(target, prediction), rel=1e-4)

    summary = {(s["method"], s["acceleration"]): s for s in results["summary"]}
    for acceleration in (4.0, 8.0):
        values = [r["ssim"] for r in rows if r["acceleration"] == acceleration]
        entry = summary[("zero-filled", acceleration)]
        assert entry["count"] == 4
        assert entry["mean"]["ssim"] == pytest.approx(np.mean(values))
        assert entry["std"]["ssim"] == pytest.approx(np.std(values, ddof=1))
        assert entry["mean"]["dc_residual"] > 0
        assert ("target", acceleration) in summary

    with open(benchmark_dir / "results.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(results["volumes"])
    for line, row in zip(table, results["volumes"], strict=True):
        assert line["method"] == row["method"] and line["file"] == row["file"]
        assert float(line["ssim"]) == row["ssim"] and float(line["seconds_per_slice"]) == row["seconds_per_slice"]


def test_zero_filled_uses_fastmri_masks_seeded_per_file(benchmark_dir: Path, data_dir: Path):
    results = json.loads((benchmark_dir / "results.json").read_text())
    for acceleration, fraction in ((4.0, 0.08), (8.0, 0.04)):
        row = next(r for r in results["volumes"]
                   if (r["method"], r["acceleration"], r["draw"], r["file"]) == ("zero-filled", acceleration, 0, "vol_a.h5"))
        with h5py.File(data_dir / "vol_a.h5", "r") as f:
            kspace = torch.from_numpy(f["kspace"][()])
        mask_func = create_mask_for_mask_type("random", [fraction], [int(acceleration)])
        mask, _ = mask_func((*kspace.shape[1:], 2), seed=file_seed("vol_a.h5"))
        expected = rss(ifft2c(kspace * mask[..., 0]), dim=1)
        np.testing.assert_allclose(_written(benchmark_dir, row), expected.numpy(), rtol=1e-5, atol=1e-7)
    draws = {r["draw"]: r["ssim"] for r in results["volumes"] if r["method"] == "zero-filled" and r["file"] == "vol_a.h5" and r["acceleration"] == 8.0}
    assert draws[0] != draws[1]  # the second draw is another mask


def test_learned_method_without_weights_is_reported_not_fatal(benchmark_dir: Path):
    results = json.loads((benchmark_dir / "results.json").read_text())
    unet_rows = [r for r in results["volumes"] if r["method"] == "unet"]
    unavailable = {(u["method"], u["acceleration"]) for u in results["unavailable"]}
    assert unet_rows or unavailable == {("unet", 4.0), ("unet", 8.0)}  # runs once weights are shipped
    if not unet_rows:
        assert "unavailable: " in (benchmark_dir / "report.html").read_text()
        assert not (benchmark_dir / "reconstructions" / "unet").exists()


def test_method_failing_at_one_acceleration_keeps_its_other_results(data_dir: Path, tmp_path: Path):
    config = BenchmarkConfig(("test-fails-at-8x",), (4.0, 8.0))
    result = run_benchmark(plan_benchmark(data_dir / "vol_a.h5", config), config, tmp_path)
    write_report(result, tmp_path, "failing method")
    assert result.unavailable == {("test-fails-at-8x", 8.0): "no weights for 8x"}
    assert {(s.method, s.acceleration) for s in result.scores} == {
        ("zero-filled", 4.0), ("zero-filled", 8.0), ("test-fails-at-8x", 4.0)
    }
    assert "test-fails-at-8x" not in result.examples[8.0].images
    assert not (tmp_path / "reconstructions" / "test-fails-at-8x" / "8x").exists()
    assert "unavailable: no weights for 8x" in (tmp_path / "report.html").read_text()


def test_dc_residual_is_zero_for_consistent_data_and_flags_invented_structure():
    """Noise-free single-coil k-space of a real positive object: its magnitude explains the samples."""
    rows, cols = torch.meshgrid(torch.linspace(-1, 1, HEIGHT), torch.linspace(-1, 1, WIDTH), indexing="ij")
    image = torch.exp(-(cols**2 / 0.2 + rows**2 / 0.3)).expand(2, -1, -1)
    mask, _ = make_mask("random", (HEIGHT, WIDTH), 4, 0.08, seed=0)
    mask = mask.reshape(1, 1, 1, WIDTH)
    measured = fft2c(image[:, None].to(torch.complex64)) * mask
    model = consistency_model(measured, mask)

    def residual(x: torch.Tensor) -> float:
        error, energy = consistency_terms(x, measured, mask, model)
        return (error.sum() / energy.sum()).sqrt().item()

    invented = image.clone()
    invented[:, 20:30, 40:55] += 0.3
    assert residual(image) < 1e-5
    assert residual(invented) > 0.05
    assert residual(torch.roll(image, 3, -1)) > 0.05


def test_dc_residual_of_multicoil_target_is_the_floor(data_dir: Path):
    kspace = torch.from_numpy(synthetic_kspace(2, 4, HEIGHT, WIDTH, seed=3))
    target = rss(ifft2c(kspace), dim=1)
    mask, _ = make_mask("random", (HEIGHT, WIDTH), 4, 0.08, seed=0)
    mask = mask.reshape(1, 1, 1, WIDTH)
    measured = kspace * mask
    model = consistency_model(measured, mask)
    floor = consistency_terms(target, measured, mask, model)
    shifted = consistency_terms(torch.roll(target, 3, -1), measured, mask, model)
    assert (floor[0] / floor[1]).sqrt().max() < 0.1
    assert ((shifted[0] / shifted[1]).sqrt() > 2 * (floor[0] / floor[1]).sqrt()).all()


def test_test_format_files_use_their_own_masks_and_targets_from_a_folder(tmp_path: Path):
    kspace = synthetic_kspace(2, 4, HEIGHT, WIDTH, seed=4)
    target = rss(ifft2c(torch.from_numpy(kspace)), dim=1).numpy()
    mask, num_low = make_mask("random", (HEIGHT, WIDTH), 4, 0.08, seed=5)
    line_mask = mask.reshape(-1).numpy()
    write_volume(tmp_path / "test" / "t.h5", kspace * line_mask, mask=line_mask,
                 attrs={"acceleration": 4, "num_low_frequency": num_low})
    write_volume(tmp_path / "targets" / "t.h5", kspace, target=target)
    out = tmp_path / "out"
    status, _, stderr = run_main("benchmark", "--data", str(tmp_path / "test"), "--targets", str(tmp_path / "targets"),
                                 "--methods", "zero-filled", "--accelerations", "4,8", "--output", str(out), "--device", "cpu")
    assert status == 0, stderr
    results = json.loads((out / "results.json").read_text())
    assert [(r["acceleration"], r["file"]) for r in results["volumes"]] == [(4.0, "t.h5")]
    assert results["sampling"] == {"4": "the files' own masks"}
    expected = rss(ifft2c(torch.from_numpy(kspace * line_mask)), dim=1).numpy()
    np.testing.assert_allclose(_written(out, results["volumes"][0]), expected, rtol=1e-5, atol=1e-7)



def test_undersampled_files_without_targets_get_a_report_without_metrics(tmp_path: Path):
    """Prospectively undersampled data (a 2-D pattern, no target): every method runs, the report
    has images, times and the data-consistency residual against the noise floor, says plainly
    that no reference exists, and has no SSIM / PSNR / NMSE anywhere."""
    rng = np.random.default_rng(11)
    kspace = synthetic_kspace(2, 4, HEIGHT, WIDTH, seed=6)
    sigma = 0.01 * np.abs(kspace).max()  # per real and imaginary part
    kspace = kspace + sigma * (rng.standard_normal(kspace.shape) + 1j * rng.standard_normal(kspace.shape))
    mask, _ = make_mask("poisson", (HEIGHT, WIDTH), 4, 0.12, seed=7)
    pattern = mask.reshape(HEIGHT, WIDTH).numpy()
    write_volume(tmp_path / "data" / "scan.h5", (kspace * pattern).astype(np.complex64), mask=pattern,
                 attrs={"acquisition": "prospective"})
    out = tmp_path / "out"
    status, stdout, stderr = run_main("benchmark", "--data", str(tmp_path / "data"), "--methods", "zero-filled,grappa,tv",
                                      "--output", str(out), "--device", "cpu")
    assert status == 0, stderr
    results = json.loads((out / "results.json").read_text())
    assert results["dataset"]["reference"] == "none (no target)"
    volumes = results["volumes"]
    assert {v["method"] for v in volumes} == {"zero-filled", "tv"}  # grappa: unavailable on a 2-D pattern
    assert all(v["ssim"] is None and v["psnr"] is None and v["nmse"] is None for v in volumes)
    assert all(v["dc_residual"] > 0 and v["seconds_per_slice"] > 0 for v in volumes)
    [acceleration] = {v["acceleration"] for v in volumes}
    assert acceleration == pytest.approx(pattern.size / pattern.sum(), abs=0.01)
    [floor] = results["target_residuals"]
    measured = kspace * pattern
    true_floor = np.sqrt(2 * sigma**2 * np.count_nonzero(measured)) / np.linalg.norm(measured)
    assert floor["reference"] == "noise floor" and floor["dc_residual"] == pytest.approx(true_floor, rel=0.3)
    assert "needs a line mask" in results["unavailable"][0]["reason"]
    page = (out / "report.html").read_text()
    assert "NO REFERENCE EXISTS" in page and "noise floor (no reference)" in page
    assert "SSIM ↑" not in page and "PSNR (dB) ↑" not in page and "no reference" in stdout + stderr.lower()
    written = _written(out, next(v for v in volumes if v["method"] == "zero-filled"))
    expected = rss(ifft2c(torch.from_numpy((kspace * pattern).astype(np.complex64))), dim=1).numpy()
    np.testing.assert_allclose(written, expected, rtol=1e-5, atol=1e-6 * expected.max())

    status, _, stderr = run_main("benchmark", "--data", str(tmp_path / "data"), "--mask", "poisson",
                                 "--output", str(tmp_path / "o2"), "--device", "cpu")
    assert status == 2 and len(stderr.strip().splitlines()) == 1 and "scan.h5" in stderr and "already undersampled" in stderr
    assert not (tmp_path / "o2").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data", "{missing}"], "no such file or directory"),
        (["--data", "{notes}"], "not an HDF5 file"),
        (["--data", "{data}", "--methods", "magic-recon"], "unknown method 'magic-recon'"),
        (["--data", "{data}", "--mask", "spiral"], "unknown mask kind"),
        (["--data", "{data}", "--accelerations", "four"], "acceleration must be a number"),
        (["--data", "{data}", "--checkpoint", "unet"], "METHOD=PATH"),
        (["--data", "{data}", "--output", "{full}"], "pass --overwrite"),
        (["--data", "{data}", "--output", "{full}", "--overwrite"], "did not write"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(data_dir: Path, tmp_path: Path, args: list[str], message: str):
    (tmp_path / "notes.h5").write_text("not hdf5")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep")
    names = {"missing": tmp_path / "missing", "notes": tmp_path / "notes.h5", "data": data_dir, "full": tmp_path / "full"}
    filled = [a.format(**names) for a in args]
    if "--output" not in filled:
        filled += ["--output", str(tmp_path / "out")]
    status, _, stderr = run_main("benchmark", *filled)
    assert status == 2
    assert message in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    assert (tmp_path / "full" / "mine.txt").read_text() == "keep"


def test_show_writes_one_png_of_mask_kspace_zero_filled_and_target(data_dir: Path, tmp_path: Path):
    from PIL import Image

    out = tmp_path / "slice.png"
    result = run_cli("show", str(data_dir / "vol_a.h5"), "--output", str(out), "--slice", "1", check_rc=0)
    assert str(out) in result.stdout
    width, height = Image.open(out).size
    assert width > 3 * height  # four panels side by side
    assert run_main("show", str(data_dir / "vol_a.h5"), "--output", str(out))[0] == 2
    status, _, stderr = run_main("show", str(data_dir / "vol_a.h5"), "--slice", "7", "--output", str(tmp_path / "x.png"))
    assert status == 2 and "out of range" in stderr
    assert not (tmp_path / "x.png").exists()
    status, _, stderr = run_main("show", str(tmp_path / "slice.png"))
    assert status == 2 and "not an HDF5 file" in stderr
