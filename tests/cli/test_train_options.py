"""``train`` and ``sweep`` take their options from TrainConfig's fields; ``--config`` files, overridden by flags."""

from __future__ import annotations

import json
import re
from dataclasses import fields

import pytest
from conftest import run_main
from typer.testing import CliRunner

from kspacekit.cli import _load_commands, app
from kspacekit.training import engine, sweep
from kspacekit.training.config import TrainConfig

_load_commands()


def flag_of(name: str) -> str:
    setting = next(f for f in fields(TrainConfig) if f.name == name)
    return setting.metadata.get("flag", f"--{name.replace('_', '-')}")


@pytest.mark.parametrize("command, left_out", [("train", ()), ("sweep", ("loss", "optimizer", "gan_loss", "adversarial_weight"))])
def test_every_setting_is_an_option_with_its_help(command, left_out):
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    for setting in fields(TrainConfig):
        shown = re.search(rf"(?<![\w-]){flag_of(setting.name)}(?![\w-])", result.output) is not None
        assert shown == (setting.name not in left_out), setting.name
    assert "--config" in result.output and "--no-amp" in result.output
    assert "num_pool_layers=4" in result.output and "num_cascades=12" in result.output  # model options listed


@pytest.fixture
def captured(monkeypatch) -> list[TrainConfig]:
    """The configs ``train`` and ``sweep`` would run, without training."""
    runs: list[TrainConfig] = []
    monkeypatch.setattr(engine, "train", lambda config, resume, overwrite: runs.append(config))
    monkeypatch.setattr(sweep, "run_sweep", lambda config, grid, resume, overwrite, command: runs.append(config))
    return runs


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_config_file_with_flags_overriding_it(suffix, captured, tmp_path):
    settings = {"model": "unet", "train": "data", "lr": 0.01, "epochs": 3, "accelerations": [4, 8],
                "model_options": {"chans": 8}}
    path = tmp_path / f"run{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(settings))
    else:
        path.write_text("model: unet\ntrain: data\nlr: 0.01\nepochs: 3\naccelerations: [4, 8]\nmodel_options: {chans: 8}\n")
    result = CliRunner().invoke(app, ["train", "--config", str(path), "-o", str(tmp_path / "out"), "--epochs", "5"])
    assert result.exit_code == 0, result.output
    [config] = captured
    assert config.lr == 0.01 and config.model_options == {"chans": 8} and config.accelerations == [4, 8]
    assert config.epochs == 5  # the flag wins over the file
    assert config.center_fractions == [0.08, 0.04]  # fastMRI's per acceleration
    assert config.output == str(tmp_path / "out") and config.loss == "l1"  # the rest: TrainConfig's defaults


def test_sweep_reads_the_same_config_file(captured, tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: unet\ntrain: data\nbatch_size: 2\n")
    result = CliRunner().invoke(app, ["sweep", "--config", str(path), "-o", str(tmp_path / "out"), "--seed", "3"])
    assert result.exit_code == 0, result.output
    [config] = captured
    assert (config.model, config.batch_size, config.seed) == ("unet", 2, 3)


@pytest.mark.parametrize("text, problem", [
    ("lr: 0.01\nlearning_rate: 0.1\n", "unknown setting.*learning_rate"),
    ("lr: [0.01\n", "not a valid YAML file"),
    ("- 1\n- 2\n", "must hold a mapping"),
])
def test_bad_config_file_is_a_one_line_error(text, problem, captured, tmp_path, monkeypatch, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    code, _, err = run_main(["train", "--config", path, "-o", tmp_path / "out"], monkeypatch, capsys)
    assert code == 2 and err.startswith("kspacekit: error: ") and len(err.strip().splitlines()) == 1, err
    assert str(path) in err
    assert re.search(problem, err), err
    assert not captured


def test_model_and_train_are_required_without_resume(captured, tmp_path, monkeypatch, capsys):
    code, _, err = run_main(["train", "-o", tmp_path / "out"], monkeypatch, capsys)
    assert code == 2 and "--model and --train are required" in err, err
    assert not captured
