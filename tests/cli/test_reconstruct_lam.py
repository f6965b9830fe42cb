"""``kspacekit reconstruct --lam``: a number, or a rule name the method has (tv, wavelet: auto,
holdout); any other is a one-line error with exit 2."""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest
from conftest import run_main, write_train_file


@pytest.fixture
def small_file(tmp_path: Path) -> Path:
    return write_train_file(tmp_path / "vol.h5", slices=1, coils=4, height=64, width=48, seed=5)


@pytest.mark.parametrize(("method", "lam"), [("tv", "holdout"), ("wavelet", "auto"), ("tv", "0.01")])
def test_lam_takes_a_number_or_a_rule_of_the_method(
    method: str, lam: str, small_file: Path, tmp_path: Path, one_torch_thread, monkeypatch, capsys
):
    out = tmp_path / "out"
    code, _, err = run_main(
        ["reconstruct", "-i", small_file, "-o", out, "--method", method, "--lam", lam, "--iterations", "20",
         "--device", "cpu"], monkeypatch, capsys,
    )
    assert code in (0, None), err
    with h5py.File(out / "vol.h5") as hf:
        assert hf["reconstruction"].shape[0] == 1


@pytest.mark.parametrize(
    ("method", "lam", "message"),
    [("sense", "holdout", "one of auto, got holdout"), ("grappa", "auto", "positive number, got auto"),
     ("zero-filled", "auto", "does not take lam"), ("tv", "best", "one of auto, holdout, got best")],
)
def test_lam_rule_the_method_lacks_is_one_line_and_exit_2(
    method: str, lam: str, message: str, small_file: Path, tmp_path: Path, monkeypatch, capsys
):
    code, _, err = run_main(
        ["reconstruct", "-i", small_file, "-o", tmp_path / "out", "--method", method, "--lam", lam],
        monkeypatch, capsys,
    )
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()
