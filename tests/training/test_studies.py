"""The loss/optimizer study (#18): BCE as a pixel loss, AdamW's default weight decay, --keep,
interruption by SIGINT then --resume (bit-identical), settings --resume refuses, TensorBoard
validation images, and the sweep's table, figure and page."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import write_train_file
from typer.testing import CliRunner

from kspacekit.cli import _load_commands, app
from kspacekit.errors import KspaceKitError
from kspacekit.models.checkpoints import load_checkpoint
from kspacekit.training import engine
from kspacekit.training.config import TrainConfig
from kspacekit.training.logs import read_csv
from kspacekit.training.losses import bce_loss, reconstruction_loss

_load_commands()
TINY = ["--model-option", "chans=4", "--model-option", "num_pool_layers=2"]
TINY_GAN = [*TINY, "--model-option", "disc_chans=4", "--model-option", "disc_layers=2"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    for v in range(2):
        write_train_file(folder / f"vol{v}.h5", slices=3, coils=2, height=32, width=32, seed=v)
    return folder


def config_for(data: Path, out: Path, **overrides) -> TrainConfig:
    values = dict(model="unet", train=str(data), val=str(data), output=str(out),
                  model_options={"chans": 4, "num_pool_layers": 2}, epochs=2, lr=3e-3, device="cpu",
                  tensorboard=False, progress=False)
    return TrainConfig(**{**values, **overrides})


# ---- losses and optimizers -------------------------------------------------------------------


def test_bce_is_binary_cross_entropy_of_images_scaled_by_the_target_maximum():
    g = torch.Generator().manual_seed(0)
    target = 3 * torch.rand(2, 8, 8, generator=g)
    pred = 3 * torch.rand(2, 8, 8, generator=g)
    peak = target.flatten(1).amax(1)[:, None, None]
    expected = F.binary_cross_entropy((pred / peak).clamp(1e-6, 1 - 1e-6), target / peak)
    torch.testing.assert_close(reconstruction_loss("bce", pred, target), expected)
    # a pixel loss: least where the prediction is the target, whatever the images' scale
    pred = target.clone().requires_grad_()
    bce_loss(pred, target).backward()
    inside = (target > 1e-3 * peak) & (target < (1 - 1e-3) * peak)
    assert pred.grad[inside].abs().max() < 1e-4
    torch.testing.assert_close(bce_loss(10 * pred, 10 * target), bce_loss(pred, target))
    assert bce_loss(pred * 0.5, target) > bce_loss(pred, target)


def test_adamw_decays_weights_by_default_and_differs_from_adam(data, tmp_path):
    adamw = config_for(data, tmp_path / "adamw", optimizer="adamw", epochs=1)
    assert adamw.optimizer_weight_decay() == 0.01
    assert config_for(data, tmp_path, optimizer="adam").optimizer_weight_decay() == 0.0
    assert config_for(data, tmp_path, optimizer="adamw", weight_decay=0.0).optimizer_weight_decay() == 0.0
    [with_decay] = engine.train(adamw)
    [adam] = engine.train(replace(adamw, optimizer="adam", output=str(tmp_path / "adam")))
    [no_decay] = engine.train(replace(adamw, weight_decay=0.0, output=str(tmp_path / "adamw0")))
    assert load_checkpoint(tmp_path / "adamw" / "checkpoints" / "last.pt")["optimizer"]["param_groups"][0][
        "weight_decay"] == 0.01
    differs = [not torch.equal(a, b) for a, b in zip(with_decay.model.state_dict().values(),
                                                    adam.model.state_dict().values())]
    assert any(differs)
    # AdamW without decay is Adam
    for a, b in zip(no_decay.model.state_dict().values(), adam.model.state_dict().values()):
        torch.testing.assert_close(a, b)
    with pytest.raises(KspaceKitError, match="weight-decay"):
        config_for(data, tmp_path, weight_decay=-1.0).validate()


def test_unknown_model_option_lists_the_known_ones(data, tmp_path):
    with pytest.raises(KspaceKitError, match=r"unknown option.*chanz.*takes chans \(default 32\), num_pool_layers"):
        config_for(data, tmp_path, model_options={"chanz": 4}).validate()


# ---- checkpoints kept ------------------------------------------------------------------------


def test_keep_best_last_all(data, tmp_path):
    for keep in ("best", "last", "all"):
        engine.train(config_for(data, tmp_path / keep, keep=keep))
    def names(keep: str) -> set[str]:
        return {p.name for p in (tmp_path / keep / "checkpoints").iterdir()}
    assert names("best") == {"best.pt"} and names("last") == {"last.pt"} and names("all") == {"best.pt", "last.pt"}
    best = load_checkpoint(tmp_path / "best" / "checkpoints" / "best.pt")
    last = load_checkpoint(tmp_path / "all" / "checkpoints" / "last.pt")
    assert not {"optimizer", "discriminator", "rng"} & set(best) and {"optimizer", "rng"} <= set(last)
    rows = read_csv(tmp_path / "best" / "metrics.csv")
    best_row = max(rows, key=lambda row: float(row["val_ssim"]))
    assert best["epoch"] == int(best_row["epoch"]) and best["metrics"]["val_ssim"] == pytest.approx(
        float(best_row["val_ssim"]))
    with pytest.raises(KspaceKitError, match="kept no last.pt"):
        engine.train(config_for(data, tmp_path / "best", keep="best", epochs=3), resume=True)


def test_gan_discriminator_only_in_last_and_keep_best_fold(tmp_path):
    folder = tmp_path / "four"
    for v in range(4):
        write_train_file(folder / f"vol{v}.h5", slices=1, coils=2, height=32, width=32, seed=v)
    options = {"chans": 4, "num_pool_layers": 2, "disc_chans": 4, "disc_layers": 2}
    config = config_for(folder, tmp_path / "cv", model="gan", model_options=options, val=None, folds=2, keep="best")
    engine.train(config)
    kept = sorted((tmp_path / "cv").glob("fold_*/checkpoints/*.pt"))
    assert len(kept) == 1 and kept[0].name == "best.pt"
    checkpoint = load_checkpoint(kept[0])
    assert "discriminator" not in checkpoint and "optimizer" not in checkpoint
    table = read_csv(tmp_path / "cv" / "cross_validation.csv")
    best_fold = max((row for row in table if row["best"] == "1"), key=lambda row: float(row["val_ssim"]))
    assert kept[0].parent.parent.name == f"fold_{best_fold['fold']}"
    engine.train(replace(config, output=str(tmp_path / "all"), keep="all"))
    last = load_checkpoint(tmp_path / "all" / "fold_0" / "checkpoints" / "last.pt")
    assert {"discriminator", "disc_optimizer", "optimizer"} <= set(last)


# ---- resume ----------------------------------------------------------------------------------


def test_resume_refuses_settings_that_would_change_the_run(data, tmp_path):
    out = tmp_path / "run"
    runner = CliRunner()
    args = ["train", "--model", "unet", "--train", str(data), "--output", str(out), "--epochs", "1", "--lr", "3e-3",
            "--device", "cpu", "--no-tensorboard", "--no-progress", *TINY]
    assert runner.invoke(app, args).exit_code == 0
    refused = runner.invoke(app, ["train", "--resume", "--output", str(out), "--lr", "0.01", "--loss", "mse"])
    assert refused.exit_code != 0
    assert "--lr 0.01 (the run's: 0.003)" in str(refused.exception) and "--loss 'mse'" in str(refused.exception)
    # the same value, or a setting a resumed run may change, is accepted
    extended = runner.invoke(app, ["train", "--resume", "--output", str(out), "--lr", "3e-3", "--epochs", "2"])
    assert extended.exit_code == 0, extended.output
    assert load_checkpoint(out / "checkpoints" / "last.pt")["epoch"] == 2


SLOW_TRAIN = """
import sys, time
from kspacekit.training import engine
step = engine.Trainer.gan_step if "gan" in sys.argv else engine.Trainer.supervised_step
def slow_step(self, batch):
    result = step(self, batch)
    time.sleep(0.25)
    return result
engine.Trainer.gan_step = engine.Trainer.supervised_step = slow_step
from kspacekit.cli import main
sys.argv = ["kspacekit"] + sys.argv[1:]
main()
"""


@pytest.mark.slow
@pytest.mark.parametrize("model", ["unet", "gan"])
def test_sigint_mid_epoch_saves_and_resume_gives_the_uninterrupted_run(data, tmp_path, model):
    out = tmp_path / "interrupted"
    args = ["train", "--model", model, "--train", str(data), "--val", str(data), "--output", str(out), "--epochs", "2",
            "--lr", "3e-3", "--device", "cpu", "--no-tensorboard", "--no-progress", "--seed", "3",
            *(TINY_GAN if model == "gan" else TINY)]
    proc = subprocess.Popen([sys.executable, "-c", SLOW_TRAIN, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        steps = out / "steps.csv"
        if steps.exists() and len(steps.read_text().splitlines()) >= 1 + 8:  # into the second epoch
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read()
    proc.send_signal(signal.SIGINT)
    stderr = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, stderr
    assert f"continue with: kspacekit train --output {out} --resume" in stderr and "Traceback" not in stderr
    saved = load_checkpoint(out / "checkpoints" / "last.pt")
    assert saved["epoch"] == 1 and 0 < saved["batches_done"] < 6  # mid-epoch (6 batches each)
    assert len(read_csv(out / "metrics.csv")) == 1

    resumed = CliRunner().invoke(app, ["train", "--resume", "--output", str(out)])
    assert resumed.exit_code == 0, resumed.output
    straight = tmp_path / "straight"
    assert CliRunner().invoke(app, [*args[:8], str(straight), *args[9:]]).exit_code == 0
    a, b = load_checkpoint(out / "checkpoints" / "last.pt"), load_checkpoint(straight / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 12
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
    if model == "gan":
        for key in a["discriminator"]:
            assert torch.equal(a["discriminator"][key], b["discriminator"][key]), key
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in read_csv(out / "metrics.csv")]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in read_csv(straight / "metrics.csv")]
    assert [int(row["step"]) for row in read_csv(out / "steps.csv")] == list(range(1, 13))


def test_tensorboard_has_a_validation_image_per_epoch(data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    engine.train(config_for(data, tmp_path / "tb", tensorboard=True))
    events = EventAccumulator(str(tmp_path / "tb" / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    images = events.Images("val/target_input_output")
    assert [image.step for image in images] == [6, 12]
    assert images[0].width == 3 * images[0].height == 96


# ---- sweep -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_gan_sweep_varies_the_adversarial_objective_and_reports(tmp_path):
    folder = tmp_path / "three"
    for v in range(3):
        write_train_file(folder / f"vol{v}.h5", slices=1, coils=2, height=32, width=32, seed=v)
    out = tmp_path / "sweep"
    result = CliRunner().invoke(app, [
        "sweep", "--model", "gan", "--train", str(folder), "--folds", "3", "--output", str(out),
        "--losses", "l1,bce", "--optimizers", "adam,adamw", "--gan-losses", "bce,lsgan", "--adversarial-weights", "0.01",
        "--epochs", "2", "--lr", "3e-3", "--device", "cpu", "--keep", "best", "--no-progress", "--no-tensorboard",
        *TINY_GAN,
    ])
    assert result.exit_code == 0, result.output
    table = read_csv(out / "sweep.csv")
    assert {row["configuration"] for row in table} == {
        f"{loss}_{opt}_{gan}" for loss in ("l1", "bce") for opt in ("adam", "adamw") for gan in ("bce", "lsgan")}
    assert {row["weight_decay"] for row in table if row["optimizer"] == "adamw"} == {"0.01"}
    one = [row for row in table if row["configuration"] == "l1_adam_lsgan"]
    assert [(row["fold"], row["epoch"]) for row in one[:6]] == [(f, e) for f in "012" for e in "12"]
    assert {(row["fold"], row["epoch"]) for row in one[6:]} == {(s, e) for s in ("mean", "std") for e in ("1", "2", "best")}
    adam = [r["val_ssim"] for r in table if r["configuration"] == "l1_adam_bce" and r["fold"] == "mean"]
    adamw = [r["val_ssim"] for r in table if r["configuration"] == "l1_adamw_bce" and r["fold"] == "mean"]
    assert adam != adamw
    assert (out / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    page = (out / "sweep.html").read_text()
    assert page.count("<tr") == 1 + 8 and "data:image/png;base64," in page and "kspacekit sweep" in page
    assert len(list(out.glob("*/fold_*/checkpoints/*.pt"))) == 8  # one best.pt per configuration
    again = CliRunner().invoke(app, [
        "sweep", "--model", "gan", "--train", str(folder), "--folds", "3", "--output", str(out), "--resume",
        "--losses", "l1,bce", "--optimizers", "adam,adamw", "--gan-losses", "bce,lsgan", "--adversarial-weights", "0.01",
        "--epochs", "2", "--lr", "3e-3", "--device", "cpu", "--keep", "best", "--no-progress", "--no-tensorboard",
        *TINY_GAN,
    ])
    assert again.exit_code == 0, again.output
    assert read_csv(out / "sweep.csv") == table
