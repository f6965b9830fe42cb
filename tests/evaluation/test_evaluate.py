"""Folder evaluation and ``kspacekit evaluate``: parity with fastMRI's evaluate(), grouping,
bad predictions reported (exit 1), unusable input (exit 2), JSON output."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import run_cli
from fastmri import evaluate as fastmri_evaluate
from scipy.ndimage import gaussian_filter

from kspacekit import cli
from kspacekit.data import write_submission
from kspacekit.errors import KspaceKitError
from kspacekit.evaluation import evaluate as evaluate_module
from kspacekit.evaluation import metrics
from kspacekit.evaluation.evaluate import evaluate_folders

SHAPE = (3, 44, 36)  # taller than wide: fastMRI crops to (36, 36)
# (file, acquisition, target acceleration, prediction acceleration)
VOLUMES = [
    ("file_a.h5", "CORPD_FBK", 4, None),
    ("file_b.h5", "CORPD_FBK", 4, None),
    ("file_c.h5", "CORPD_FBK", 4, 8.0),  # the prediction's attribute wins
    ("file_d.h5", "AXT2", None, None),  # no acceleration anywhere: "unknown"
]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def volume(seed: int, shape: tuple[int, int, int] = SHAPE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (gaussian_filter(rng.random(shape), (0, 1.5, 1.5)) * 3e-4).astype(np.float32)


def degraded(target: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 100)
    return (gaussian_filter(target, (0, 0.8, 0.8)) + 1e-5 * rng.standard_normal(target.shape)).astype(np.float32)


def write_target(path: Path, target: np.ndarray, acquisition: str, acceleration: int | None = None,
                 key: str = "reconstruction_rss") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset(key, data=target)
        f.attrs["acquisition"] = acquisition
        if acceleration is not None:
            f.attrs["acceleration"] = acceleration


def write_raw_prediction(path: Path, data: np.ndarray, key: str = "reconstruction") -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset(key, data=data)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """Targets and good predictions; file_b's prediction is larger than the target (cropped)."""
    targets, predictions = tmp_path / "targets", tmp_path / "predictions"
    for seed, (name, acquisition, target_acc, prediction_acc) in enumerate(VOLUMES):
        target = volume(seed)
        write_target(targets / name, target, acquisition, target_acc)
        prediction = degraded(target, seed)
        if name == "file_b.h5":
            prediction = np.pad(prediction, ((0, 0), (3, 3), (5, 5)), mode="edge")
        attrs = {"acceleration": prediction_acc} if prediction_acc is not None else {}
        write_submission(predictions, name, prediction, attrs=attrs)
    return targets, predictions


def fastmri_summary(targets: Path, predictions: Path, acquisition: str | None = None) -> tuple[dict, dict]:
    args = argparse.Namespace(target_path=targets, predictions_path=predictions, acquisition=acquisition,
                              acceleration=None)
    result = fastmri_evaluate.evaluate(args, "reconstruction_rss")
    return ({k: float(np.squeeze(v)) for k, v in result.means().items()},
            {k: float(np.squeeze(v)) for k, v in result.stddevs().items()})


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """``kspacekit ARGS`` in this process through cli.main (KspaceKitError -> exit 2)."""
    monkeypatch.setattr(sys, "argv", ["kspacekit", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_matches_fastmri_evaluate(folders):
    targets, predictions = folders
    evaluation = evaluate_folders(targets, predictions)
    assert not evaluation.bad and len(evaluation.scores) == len(VOLUMES)
    overall = evaluation.overall()
    means, stds = fastmri_summary(targets, predictions)
    for name in ("nmse", "psnr", "ssim"):
        assert overall.mean[name] == pytest.approx(means[name.upper()], rel=1e-5)
        assert overall.std[name] == pytest.approx(stds[name.upper()], rel=1e-4)

    filtered = evaluate_folders(targets, predictions, acquisition="CORPD_FBK")
    means, _ = fastmri_summary(targets, predictions, acquisition="CORPD_FBK")
    assert len(filtered.scores) == 3
    assert filtered.overall().mean["ssim"] == pytest.approx(means["SSIM"], rel=1e-5)


def test_groups_by_acquisition_and_acceleration(folders):
    evaluation = evaluate_folders(*folders)
    groups = {(g.acquisition, g.acceleration): g for g in evaluation.groups()}
    assert sorted(groups) == [("AXT2", "unknown"), ("CORPD_FBK", "4"), ("CORPD_FBK", "8")]
    assert groups[("CORPD_FBK", "4")].volumes == 2
    single = groups[("CORPD_FBK", "8")]
    assert single.volumes == 1 and single.std["ssim"] is None
    score_c = next(s for s in evaluation.scores if s.file == "file_c.h5")
    assert single.mean == {"nmse": score_c.nmse, "psnr": score_c.psnr, "ssim": score_c.ssim}


def test_full_image_and_wide_images(tmp_path):
    targets, predictions = tmp_path / "t", tmp_path / "p"
    tall, wide = volume(1), volume(2, shape=(2, 30, 41))
    for name, target in (("tall.h5", tall), ("wide.h5", wide)):
        write_target(targets / name, target, "AXT1")
        write_submission(predictions, name, degraded(target, 0))
    full = {s.file: s for s in evaluate_folders(targets, predictions, full_image=True).scores}
    assert full["tall.h5"].ssim == pytest.approx(metrics.ssim(tall, degraded(tall, 0)), rel=1e-12)
    cropped = {s.file: s for s in evaluate_folders(targets, predictions).scores}
    # Wider than tall: the width is cropped to the height, centred (fastMRI's crop would fail).
    left = (41 - 30) // 2
    expected = metrics.volume_metrics(wide[..., left : left + 30], degraded(wide, 0)[..., left : left + 30])
    assert (cropped["wide.h5"].nmse, cropped["wide.h5"].ssim) == pytest.approx((expected.nmse, expected.ssim), rel=1e-12)


def test_command_prints_table_and_writes_json(folders, tmp_path, monkeypatch, capsys):
    targets, predictions = folders
    out = tmp_path / "results" / "metrics.json"
    code, stdout, _ = run_main(monkeypatch, capsys, "evaluate", "--target", targets, "--predictions", predictions,
                               "--json", out)
    assert code == 0
    for text in ("CORPD_FBK", "AXT2", "unknown", "all", "±"):
        assert text in stdout
    report = json.loads(out.read_text())
    assert [v["file"] for v in report["volumes"]] == [name for name, *_ in VOLUMES]
    assert {v["file"]: v["acceleration"] for v in report["volumes"]}["file_c.h5"] == "8"
    assert report["bad_predictions"] == []
    assert report["overall"]["volumes"] == 4 and len(report["summary"]) == 3
    means, _ = fastmri_summary(targets, predictions)
    assert report["overall"]["mean"]["psnr"] == pytest.approx(means["PSNR"], rel=1e-5)

    # An existing JSON is kept without --overwrite (exit 2), replaced with it.
    out.write_text("keep")
    code, _, stderr = run_main(monkeypatch, capsys, "evaluate", "--target", targets, "--predictions", predictions,
                               "--json", out)
    assert code == 2 and "--overwrite" in stderr and out.read_text() == "keep"
    code, _, _ = run_main(monkeypatch, capsys, "evaluate", "--target", targets, "--predictions", predictions,
                          "--json", out, "--overwrite")
    assert code == 0 and json.loads(out.read_text())["overall"]["volumes"] == 4


def test_bad_predictions_are_reported_not_skipped(folders, tmp_path, monkeypatch, capsys):
    targets, predictions = folders
    (predictions / "file_a.h5").unlink()
    write_raw_prediction(predictions / "file_b.h5", volume(0, shape=(3, 30, 30)))  # smaller than the crop
    nan_prediction = degraded(volume(2), 2)
    nan_prediction[1, 5, 5] = np.nan
    write_raw_prediction(predictions / "file_c.h5", nan_prediction)
    (predictions / "file_d.h5").write_text("not hdf5")
    write_target(targets / "file_e.h5", volume(5), "AXT2")
    write_raw_prediction(predictions / "file_e.h5", volume(5), key="recon")
    write_target(targets / "file_f.h5", volume(6), "AXT2")
    write_submission(predictions, "file_f.h5", degraded(volume(6), 6))
    write_target(targets / "file_g.h5", volume(7), "AXT2")
    padded = np.pad(degraded(volume(7), 7), ((0, 0), (0, 0), (2, 2)))
    padded[0, 0, 0] = np.inf  # outside the scored (36, 36) crop: reported all the same
    write_raw_prediction(predictions / "file_g.h5", padded)

    out = tmp_path / "metrics.json"
    code, stdout, stderr = run_main(monkeypatch, capsys, "evaluate", "--target", targets, "--predictions",
                                    predictions, "--json", out)
    assert code == 1
    problems = {bad["file"]: bad["problem"] for bad in json.loads(out.read_text())["bad_predictions"]}
    assert set(problems) == {"file_a.h5", "file_b.h5", "file_c.h5", "file_d.h5", "file_e.h5", "file_g.h5"}
    assert "not found" in problems["file_a.h5"]
    assert "(3, 30, 30)" in problems["file_b.h5"] and "(3, 36, 36)" in problems["file_b.h5"]
    assert problems["file_c.h5"] == problems["file_g.h5"] == "1 NaN or Inf values"
    assert "HDF5" in problems["file_d.h5"]
    assert "'reconstruction'" in problems["file_e.h5"]
    for name in problems:
        assert name in stderr
    assert [v["file"] for v in json.loads(out.read_text())["volumes"]] == ["file_f.h5"]
    assert "AXT2" in stdout


def test_unusable_input_exits_2(folders, tmp_path, monkeypatch, capsys):
    targets, predictions = folders
    # Missing folder, through the installed command: one line, no traceback.
    result = run_cli("evaluate", "--target", str(tmp_path / "nowhere"), "--predictions", str(predictions))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"kspacekit: error: {tmp_path / 'nowhere'}: target folder not found"]

    code, _, stderr = run_main(monkeypatch, capsys, "evaluate", "--target", targets, "--predictions",
                               tmp_path / "none")
    assert code == 2 and "predictions folder not found" in stderr

    code, _, stderr = run_main(monkeypatch, capsys, "evaluate", "--target", targets, "--predictions", predictions,
                               "--challenge", "singlecoil")
    assert code == 2 and "reconstruction_esc" in stderr and "--challenge" in stderr

    code, _, stderr = run_main(monkeypatch, capsys, "evaluate", "--target", targets, "--predictions", predictions,
                               "--acquisition", "AXFLAIR")
    assert code == 2 and "AXFLAIR" in stderr

    tiny = tmp_path / "tiny"
    write_target(tiny / "small.h5", volume(0, shape=(2, 6, 9)), "AXT2")
    code, _, stderr = run_main(monkeypatch, capsys, "evaluate", "--target", tiny, "--predictions", predictions)
    assert code == 2 and stderr.strip().splitlines() == [
        f"kspacekit: error: {tiny / 'small.h5'}: 'reconstruction_rss' is scored on 6x6 images; SSIM needs at least 7x7"]

    (targets / "broken.h5").write_bytes(b"\x00" * 100)
    code, _, stderr = run_main(monkeypatch, capsys, "evaluate", "--target", targets, "--predictions", predictions)
    assert code == 2 and "broken.h5" in stderr and "HDF5" in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_storage_layout_does_not_change_scores(folders, tmp_path):
    """Contiguous datasets are mapped from the file, chunked/compressed and big-endian ones read
    by h5py, a truncated one reported: the scores are the same either way."""
    targets, predictions = folders
    other_targets, other_predictions = tmp_path / "chunked_targets", tmp_path / "chunked_predictions"
    other_predictions.mkdir()
    for name, acquisition, target_acc, _ in VOLUMES:
        with h5py.File(targets / name) as f:
            target = f["reconstruction_rss"][()]
        write_target(other_targets / name, target.astype(">f4"), acquisition, target_acc)
        with h5py.File(predictions / name) as source, h5py.File(other_predictions / name, "w") as f:
            f.create_dataset("reconstruction", data=source["reconstruction"][()], chunks=(1, 8, 8),
                             compression="gzip")
            f.attrs.update(source.attrs)
    with h5py.File(targets / "file_a.h5") as f, h5py.File(other_predictions / "file_a.h5") as g:
        assert isinstance(evaluate_module._read_array(f["reconstruction_rss"]), np.memmap)
        assert not isinstance(evaluate_module._read_array(g["reconstruction"]), np.memmap)
    assert evaluate_folders(other_targets, other_predictions).scores == evaluate_folders(targets, predictions).scores

    path = predictions / "file_b.h5"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    evaluation = evaluate_folders(targets, predictions)
    assert [bad.file for bad in evaluation.bad] == ["file_b.h5"] and "truncated" in evaluation.bad[0].problem


def test_targets_are_checked_as_every_reader_checks_them(tmp_path):
    """data.layout.target_dataset: integer targets score as their float32 values; complex ones are
    refused with one line naming the file."""
    target = np.round(volume(3) / volume(3).max() * 1000)  # whole numbers up to 1000
    for folder, stored in (("float", target.astype(np.float32)), ("integer", target.astype(np.uint16))):
        write_target(tmp_path / folder / "file.h5", stored, "AXT1")
    write_submission(tmp_path / "predictions", "file.h5", degraded(target, 3))
    as_float, as_integer = (evaluate_folders(tmp_path / folder, tmp_path / "predictions").scores
                            for folder in ("float", "integer"))
    assert as_integer == as_float

    write_target(tmp_path / "complex" / "file.h5", target.astype(np.complex64), "AXT1")
    with pytest.raises(KspaceKitError, match=r"file.h5: 'reconstruction_rss' must be real \(slices, H, W\)"):
        evaluate_folders(tmp_path / "complex", tmp_path / "predictions")
