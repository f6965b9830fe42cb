"""Training engine: losses, cross-validation by volume, resume (also after SIGKILL), NaN handling,
DDP on two gloo processes, GAN alternation, checkpoint safety, learned methods and sweeps."""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import fastmri.losses
import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from conftest import run_cli, write_train_file
from typer.testing import CliRunner

from kspacekit.cli import _load_commands, app
from kspacekit.data import SliceDataset, write_volume
from kspacekit.errors import KspaceKitError
from kspacekit.methods import ReconMeta, create_method
from kspacekit.methods.learned import nearest_weights
from kspacekit.models import build_model, model_config
from kspacekit.models.checkpoints import load_checkpoint, model_from_checkpoint
from kspacekit.physics.operators import zero_filled_image
from kspacekit.training import engine
from kspacekit.training.batches import MaskAndCollate
from kspacekit.training.checkpoints import save_checkpoint
from kspacekit.training.config import TrainConfig
from kspacekit.training.distributed import DistInfo
from kspacekit.training.folds import split_samples, volume_folds
from kspacekit.training.logs import read_csv
from kspacekit.training.losses import kl_loss, reconstruction_loss, ssim_loss

_load_commands()
TINY_UNET = {"chans": 4, "num_pool_layers": 2}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one thread is fastest, and avoids OpenMP contention on a shared 2-core machine
    (also for the training subprocesses, through OMP_NUM_THREADS)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        yield
    torch.set_num_threads(threads)


def make_data(folder: Path, volumes: int = 2, slices: int = 3) -> Path:
    for v in range(volumes):
        write_train_file(folder / f"vol{v}.h5", slices=slices, coils=2, height=32, width=32, seed=v)
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_data(tmp_path_factory.mktemp("data"))


def tiny_config(data: Path, out: Path, **overrides) -> TrainConfig:
    values = dict(
        model="unet", train=str(data), output=str(out), model_options=dict(TINY_UNET), epochs=2, lr=3e-3,
        device="cpu", tensorboard=False, progress=False,
    )
    values.update(overrides)
    return TrainConfig(**values)


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


# ---- losses ----------------------------------------------------------------------------------


def test_ssim_loss_matches_fastmri():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(3, 40, 36, generator=g)
    pred = target + 0.1 * torch.randn(3, 40, 36, generator=g)
    data_range = target.flatten(1).amax(1)
    expected = fastmri.losses.SSIMLoss()(pred.unsqueeze(1), target.unsqueeze(1), data_range)
    torch.testing.assert_close(ssim_loss(pred, target), expected, rtol=1e-5, atol=1e-6)


def test_kl_loss_compares_distributions():
    g = torch.Generator().manual_seed(1)
    target = torch.rand(2, 16, 16, generator=g)
    pred = torch.rand(2, 16, 16, generator=g)
    assert kl_loss(target, target) < 1e-6
    assert kl_loss(pred, target) > 1e-3
    # Images are normalised to distributions: overall intensity does not matter.
    torch.testing.assert_close(kl_loss(5 * pred, target), kl_loss(pred, target))
    for name in ("l1", "mse", "ssim", "l1+ssim", "kl"):
        assert reconstruction_loss(name, target, target) < 1e-5 < reconstruction_loss(name, pred, target)


# ---- data, masks, folds ----------------------------------------------------------------------


def test_training_masks_are_seeded_per_slice_and_validation_masks_fixed(data):
    dataset = SliceDataset(data)
    spec = TrainConfig(model="unet", train="", output="").mask_spec()
    train_collate = MaskAndCollate(spec, seed=0, train=True)
    first = train_collate([dataset[0], dataset[1]])
    again = train_collate([dataset[0], dataset[1]])
    torch.testing.assert_close(first.mask, again.mask)
    assert not torch.equal(first.mask[0], first.mask[1])  # each slice has its own mask
    train_collate.epoch = 1
    assert not torch.equal(train_collate([dataset[0]]).mask[0], first.mask[0])  # new masks each epoch
    val_collate = MaskAndCollate(spec, seed=0, train=False)
    val_mask = val_collate([dataset[0]]).mask
    val_collate.epoch = 5
    torch.testing.assert_close(val_collate([dataset[0]]).mask, val_mask)
    # Normalised so the zero-filled image peaks at 1; target scaled alike; k-space masked.
    assert torch.all(first.kspace[..., first.mask[0, 0, 0] == 0][0] == 0)
    torch.testing.assert_close(first.target[0] * first.scale[0], dataset[0].target)
    peaks = zero_filled_image(first.kspace, first.mask, first.target_size).flatten(1).amax(1)
    torch.testing.assert_close(peaks, torch.ones(2))


def test_training_at_two_accelerations_draws_both(data):
    """One model for 4x and 8x, as fastMRI trains with two MaskFunc pairs: each slice gets one of them."""
    config = TrainConfig(model="unet", train="", output="", accelerations=[4.0, 8.0], center_fractions=[0.08, 0.04])
    collate = MaskAndCollate(config.mask_spec(), seed=0, train=True)
    dataset = SliceDataset(data)
    sampled = set()
    for epoch in range(8):
        collate.epoch = epoch
        sampled |= {int(line_count) for line_count in collate([dataset[0]]).mask.sum(-1).flatten()}
    width = dataset[0].kspace.shape[-1]
    assert min(sampled) < width / 6 < width / 5 < max(sampled)  # ~8 lines of 32 at 4x, ~4 at 8x
    with pytest.raises(KspaceKitError, match="one --center-fraction per --acceleration"):
        TrainConfig(model="unet", train="", output="", accelerations=[4.0, 8.0], center_fractions=[0.08]).validate()


def test_train_cli_pairs_accelerations_with_fastmri_centre_fractions(data, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "train", "--model", "unet", "--train", str(data), "--output", str(out), "--epochs", "1",
        "--acceleration", "4", "--acceleration", "8", "--model-option", "chans=4", "--model-option",
        "num_pool_layers=2", "--no-progress", "--no-tensorboard",
    ])
    assert result.exit_code == 0, result.output
    config = load_checkpoint(out / "checkpoints" / "last.pt")["train_config"]
    assert config["accelerations"] == [4.0, 8.0] and config["center_fractions"] == [0.08, 0.04]


def test_kfold_by_volume_has_no_leakage(tmp_path):
    folder = make_data(tmp_path / "five", volumes=5, slices=2)
    dataset = SliceDataset(folder)
    folds = volume_folds(len(dataset.volumes), 3, seed=0)
    assert sorted(v for fold in folds for v in fold) == list(range(5))
    for fold in folds:
        train_idx, val_idx = split_samples(dataset.samples, fold)
        train_files = {dataset.volumes[dataset.samples[i][0]].path.name for i in train_idx}
        val_files = {dataset.volumes[dataset.samples[i][0]].path.name for i in val_idx}
        assert train_files and val_files and not train_files & val_files
        assert len(train_idx) + len(val_idx) == len(dataset)
    with pytest.raises(KspaceKitError):
        volume_folds(2, 3)


def test_cross_validation_reports_folds_epochs_best_and_spread(tmp_path, capfd):
    folder = make_data(tmp_path / "four", volumes=4, slices=1)
    results = engine.train(tiny_config(folder, tmp_path / "cv", folds=2, epochs=2, keep="all"))
    assert len(results) == 2
    table = read_csv(tmp_path / "cv" / "cross_validation.csv")
    fold_rows = [row for row in table if row["fold"] in ("0", "1")]
    assert [(row["fold"], row["epoch"]) for row in fold_rows] == [("0", "1"), ("0", "2"), ("1", "1"), ("1", "2")]
    held_out = [set(fold_rows[0]["val_volumes"].split(",")), set(fold_rows[2]["val_volumes"].split(","))]
    assert not held_out[0] & held_out[1] and len(held_out[0] | held_out[1]) == 4
    assert all(0 < float(row["val_ssim"]) <= 1 for row in fold_rows)
    best = {}
    for fold in ("0", "1"):
        rows = [row for row in fold_rows if row["fold"] == fold]
        [marked] = [row for row in rows if row["best"] == "1"]
        assert float(marked["val_ssim"]) == max(float(row["val_ssim"]) for row in rows)
        best[fold] = float(marked["val_ssim"])
        # best.pt holds the marked epoch's weights
        checkpoint = load_checkpoint(tmp_path / "cv" / f"fold_{fold}" / "checkpoints" / "best.pt")
        assert checkpoint["epoch"] == int(marked["epoch"]) and "optimizer" not in checkpoint
    summary = {(row["fold"], row["epoch"]): row for row in table if row["fold"] in ("mean", "std")}
    assert float(summary["mean", "best"]["val_ssim"]) == pytest.approx(np.mean(list(best.values())), abs=1e-5)
    assert float(summary["std", "best"]["val_ssim"]) == pytest.approx(np.std(list(best.values()), ddof=1), abs=1e-5)
    epoch_two = [float(row["val_psnr"]) for row in fold_rows if row["epoch"] == "2"]
    assert float(summary["mean", "2"]["val_psnr"]) == pytest.approx(np.mean(epoch_two), abs=1e-4)
    assert (tmp_path / "cv" / "cross_validation.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "cv" / "fold_1" / "checkpoints" / "last.pt").exists()
    console = capfd.readouterr().err
    assert "fold 1/2: validation volumes" in console and "fold 2/2 epoch 2/2:" in console
    assert "val SSIM" in console and "±" in console


# ---- the loop --------------------------------------------------------------------------------


def test_short_training_reduces_loss_and_logs(data, tmp_path):
    config = tiny_config(data, tmp_path / "run", val=str(data), epochs=4, lr=1e-2, tensorboard=True)
    [result] = engine.train(config)
    rows = read_csv(tmp_path / "run" / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert float(rows[-1]["train_loss"]) < 0.8 * float(rows[0]["train_loss"])
    assert float(rows[-1]["val_loss"]) < float(rows[0]["val_loss"])
    assert 0 < float(rows[-1]["val_ssim"]) <= 1 and float(rows[-1]["val_psnr"]) > 0
    assert result.step == 4 * 6 == len(read_csv(tmp_path / "run" / "steps.csv"))
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
    assert (tmp_path / "run" / "checkpoints" / "best.pt").exists()


def test_resume_continues_exactly(data, tmp_path):
    [straight] = engine.train(tiny_config(data, tmp_path / "a", epochs=2, schedule="step", lr_step=1))
    first = tiny_config(data, tmp_path / "b", epochs=1, schedule="step", lr_step=1)
    engine.train(first)
    after_one = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")
    assert (after_one["epoch"], after_one["step"]) == (1, 6)
    [resumed] = engine.train(replace(first, epochs=2), resume=True)
    assert resumed.step == straight.step == 12
    assert_same_weights(weights(resumed.model), weights(straight.model))
    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")
    assert a["optimizer"]["state"][0]["step"] == b["optimizer"]["state"][0]["step"] == 12
    torch.testing.assert_close(a["optimizer"]["state"][0]["exp_avg"], b["optimizer"]["state"][0]["exp_avg"])
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"] == 2
    with pytest.raises(KspaceKitError, match="not empty"):
        engine.train(first)


SLOW_TRAIN = """
import sys, time
from kspacekit.training import engine
original = engine.Trainer.supervised_step
def slow_step(self, batch):
    result = original(self, batch)
    time.sleep(0.3)
    return result
engine.Trainer.supervised_step = slow_step
from kspacekit.cli import main
sys.argv = ["kspacekit"] + sys.argv[1:]
main()
"""


def test_sigkill_mid_epoch_then_resume(data, tmp_path):
    out = tmp_path / "killed"
    args = ["train", "--model", "unet", "--train", str(data), "--output", str(out), "--epochs", "2",
            "--lr", "3e-3", "--device", "cpu", "--no-tensorboard", "--no-progress", "--checkpoint-every", "2",
            "--model-option", "chans=4", "--model-option", "num_pool_layers=2"]
    proc = subprocess.Popen([sys.executable, "-c", SLOW_TRAIN, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoint = out / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if checkpoint.exists() and load_checkpoint(checkpoint)["step"] >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = load_checkpoint(checkpoint)
    assert killed_at["epoch"] == 0 and killed_at["batches_done"] in (2, 4)  # mid-epoch (6 batches each)

    resumed_cli = CliRunner().invoke(app, ["train", "--resume", "--output", str(out)])
    assert resumed_cli.exit_code == 0, resumed_cli.output
    [straight] = engine.train(tiny_config(data, tmp_path / "straight"))
    resumed = load_checkpoint(checkpoint)
    assert resumed["step"] == straight.step == 12 and resumed["epoch"] == 2
    assert_same_weights(resumed["state_dict"], weights(straight.model))
    steps = [int(r["step"]) for r in read_csv(out / "steps.csv")]
    assert steps == list(range(1, 13))


def test_nan_loss_stops_and_keeps_last_good_checkpoint(data, tmp_path, monkeypatch):
    calls = {"n": 0}
    real_loss = engine.reconstruction_loss

    def loss_turning_nan(name, pred, target):
        calls["n"] += 1
        loss = real_loss(name, pred, target)
        return loss * float("nan") if calls["n"] > 8 else loss

    monkeypatch.setattr(engine, "reconstruction_loss", loss_turning_nan)
    with pytest.raises(engine.TrainingDiverged, match="nan"):
        engine.train(tiny_config(data, tmp_path / "nan", epochs=3))
    kept = load_checkpoint(tmp_path / "nan" / "checkpoints" / "last.pt")
    assert (kept["epoch"], kept["step"]) == (1, 6)
    assert all(torch.isfinite(v).all() for v in kept["state_dict"].values())


def test_single_coil_varnet_trains(tmp_path):
    from conftest import synthetic_kspace

    from kspacekit.physics.fft import ifft2c

    kspace = synthetic_kspace(2, 1, 32, 32)[:, 0]
    target = ifft2c(torch.from_numpy(kspace)).abs().numpy()
    write_volume(tmp_path / "sc" / "single.h5", kspace, target=target, target_key="reconstruction_esc")
    config = tiny_config(tmp_path / "sc", tmp_path / "run", model="varnet", val=str(tmp_path / "sc"), epochs=1,
                         challenge="singlecoil",
                         model_options={"num_cascades": 2, "chans": 2, "pools": 2, "sens_chans": 2, "sens_pools": 2})
    [result] = engine.train(config)
    assert result.step == 2 and 0 < result.metrics["val_ssim"] <= 1


def test_training_needs_targets(tmp_path):
    kspace = np.ones((2, 2, 16, 16), np.complex64)
    write_volume(tmp_path / "raw" / "no_target.h5", kspace)
    result = run_cli("train", "--model", "unet", "--train", str(tmp_path / "raw"), "--output", str(tmp_path / "o"),
                     "--device", "cpu")
    assert result.returncode == 2
    assert "target" in result.stderr and "no_target.h5" in result.stderr and "Traceback" not in result.stderr


# ---- distributed -----------------------------------------------------------------------------


def _ddp_worker(rank: int, world_size: int, port: int, config: TrainConfig, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    [result] = engine.train(config)
    torch.save(result.model.state_dict(), Path(out) / f"rank{rank}.pt")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_gloo_processes_agree_with_one_process(data, tmp_path):
    config = tiny_config(data, tmp_path / "ddp", epochs=1)
    # fork: the workers need nothing re-imported (spawn would re-import torch in each, slowly).
    mp.start_processes(_ddp_worker, args=(2, free_port(), config, str(tmp_path)), nprocs=2, join=True,
                       start_method="fork")
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert_same_weights(rank0, rank1)
    assert load_checkpoint(tmp_path / "ddp" / "checkpoints" / "last.pt")["step"] == 3  # 6 slices / 2 ranks
    # Averaging gradients of 1 slice on each of 2 ranks = 1 process with batches of 2 slices.
    [single] = engine.train(replace(config, output=str(tmp_path / "single"), batch_size=2))
    for key, value in weights(single.model).items():
        torch.testing.assert_close(rank0[key], value, rtol=1e-4, atol=1e-5)


# ---- GAN -------------------------------------------------------------------------------------


def test_gan_discriminator_step_leaves_generator_alone(data, tmp_path):
    config = tiny_config(data, tmp_path / "gan", model="gan",
                         model_options={**TINY_UNET, "disc_chans": 4, "disc_layers": 2})
    trainer = engine.Trainer(config, tmp_path / "gan", SliceDataset(data), None, DistInfo(0, 1, torch.device("cpu")))
    batch = MaskAndCollate(config.mask_spec(), 0, train=True)([SliceDataset(data)[0]])
    g_before, d_before = weights(trainer.model), weights(trainer.disc)
    fake = trainer.predict(trainer.model, batch)
    trainer.discriminator_step(batch.target, fake)
    assert_same_weights(weights(trainer.model), g_before)
    assert all(p.grad is None for p in trainer.model.parameters())
    assert any(not torch.equal(v, d_before[k]) for k, v in weights(trainer.disc).items())
    d_after = weights(trainer.disc)
    trainer.generator_step(batch, fake)
    assert_same_weights(weights(trainer.disc), d_after)
    assert any(not torch.equal(v, g_before[k]) for k, v in weights(trainer.model).items())
    [result] = engine.train(replace(config, epochs=1, gan_loss="lsgan"))
    assert "disc_loss" in read_csv(tmp_path / "gan" / "steps.csv")[0] and result.step == 6
    # Inference uses the generator alone.
    generator = create_method("gan", checkpoint=tmp_path / "gan" / "checkpoints" / "last.pt", data_consistent=False)
    out = generator(batch.kspace, batch.mask, ReconMeta((32, 32)))
    torch.testing.assert_close(out, result.model(batch.kspace, batch.mask, (32, 32)).detach())


# ---- checkpoints and methods -----------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data) -> Path:
    out = tmp_path_factory.mktemp("trained")
    engine.train(tiny_config(data, out / "run", epochs=1))
    return out / "run" / "checkpoints" / "last.pt"


def test_learned_method_reconstructs_with_a_checkpoint(trained, data):
    method = create_method("unet", checkpoint=trained)
    sample = SliceDataset(data)[0]
    mask = torch.zeros(1, 1, 1, 32)
    mask[..., ::3] = 1
    mask[..., 12:20] = 1
    out = method(sample.kspace[None] * mask, mask, ReconMeta((32, 32), 8, 4.0))
    assert out.shape == (1, 32, 32) and out.dtype == torch.float32 and torch.isfinite(out).all()
    with pytest.raises(KspaceKitError, match="not 'varnet'"):
        create_method("varnet", checkpoint=trained)


def test_unsafe_or_mismatched_checkpoints_are_refused(trained, tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this would run on load",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "kspacekit-checkpoint-v1", "model": "unet", "payload": Payload()}, evil)
    with pytest.raises(KspaceKitError, match="pickled Python objects"):
        create_method("unet", checkpoint=evil)
    with evil.open("wb") as f:
        pickle.dump({"state_dict": {}}, f, protocol=2)
    with pytest.raises(KspaceKitError):
        create_method("unet", checkpoint=evil)

    ckpt = load_checkpoint(trained)
    wrong_shape = tmp_path / "wrong_shape.pt"
    save_checkpoint(wrong_shape, {**ckpt, "config": {**ckpt["config"], "chans": 8}})
    with pytest.raises(KspaceKitError, match="does not fit"):
        create_method("unet", checkpoint=wrong_shape)
    not_ours = tmp_path / "plain.pt"
    torch.save(ckpt["state_dict"], not_ours)
    with pytest.raises(KspaceKitError, match="not a kspacekit checkpoint"):
        create_method("unet", checkpoint=not_ours)


def test_unreadable_or_unfitting_checkpoint_errors_are_one_line(tmp_path):
    """A truncated file and weights of the wrong shape: one line naming the file and the error kind."""
    good = tmp_path / "good.pt"
    model = build_model("unet", TINY_UNET)
    save_checkpoint(good, {"model": "unet", "config": model_config("unet", TINY_UNET), "state_dict": model.state_dict()})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(KspaceKitError, match=r"not a readable PyTorch checkpoint \(\w+Error: ") as err:
        load_checkpoint(truncated)
    assert str(truncated) in str(err.value) and "\n" not in str(err.value)

    wider = {**load_checkpoint(good), "config": model_config("unet", {**TINY_UNET, "chans": 8})}
    with pytest.raises(KspaceKitError, match=r"does not fit a 'unet' model \(RuntimeError: ") as err:
        model_from_checkpoint(wider, good)
    assert "\n" not in str(err.value)


def test_shipped_weights_choice(tmp_path, monkeypatch):
    from kspacekit.methods import learned

    monkeypatch.setattr(learned, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(KspaceKitError, match="no shipped weights for 'varnet'"):
        create_method("varnet")(torch.ones(1, 1, 8, 8, dtype=torch.complex64), torch.ones(1, 1, 1, 8),
                                ReconMeta((8, 8)))
    for name in ("unet_4x.pt", "unet_8x.pt", "varnet_4x.pt"):
        (tmp_path / name).touch()
    assert nearest_weights("unet", 6.5).name == "unet_8x.pt"
    assert nearest_weights("unet", 5.0).name == "unet_4x.pt"
    assert nearest_weights("unet", None).name == "unet_4x.pt"
    assert nearest_weights("varnet", 8.0).name == "varnet_4x.pt"
    (tmp_path / "varnet_4x.pt").unlink()
    (tmp_path / "varnet_4x_8x.pt").touch()  # one model trained at both accelerations
    assert nearest_weights("varnet", 4.0) == nearest_weights("varnet", 8.0) == tmp_path / "varnet_4x_8x.pt"
    assert nearest_weights("varnet", 12.0).name == "varnet_4x_8x.pt"


# ---- sweep -----------------------------------------------------------------------------------


def test_sweep_writes_table_figure_and_page(data, tmp_path):
    out = tmp_path / "sweep"
    result = CliRunner().invoke(app, [
        "sweep", "--model", "unet", "--train", str(data), "--val", str(data), "--output", str(out),
        "--losses", "l1,kl", "--optimizers", "adam,rmsprop", "--epochs", "2", "--lr", "3e-3", "--device", "cpu",
        "--model-option", "chans=4", "--model-option", "num_pool_layers=2",
    ])
    assert result.exit_code == 0, result.output
    table = read_csv(out / "sweep.csv")
    assert {(r["loss"], r["optimizer"]) for r in table} == {(l, o) for l in ("l1", "kl") for o in ("adam", "rmsprop")}
    assert len(table) == 8 and all(0 < float(r["val_ssim"]) <= 1 for r in table)
    assert [r["epoch"] for r in table[:2]] == ["1", "2"] and {r["fold"] for r in table} == {""}
    assert sum(r["best"] == "1" for r in table) == 4
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "sweep.html").read_text().count("<tr") == 5


def test_fastmri_state_dicts_load_as_checkpoints(tmp_path):
    """fastMRI's own (e.g. published) weights run through kspacekit's methods and give fastMRI's output."""
    import fastmri.models

    from kspacekit.models.image_domain import ImageDomainModel
    from kspacekit.physics.fft import fft2c

    torch.manual_seed(0)
    varnet = fastmri.models.VarNet(num_cascades=2, chans=4, pools=2, sens_chans=2, sens_pools=3).eval()
    unet = fastmri.models.Unet(1, 1, chans=4, num_pool_layers=3).eval()
    torch.save(varnet.state_dict(), tmp_path / "varnet.pt")
    torch.save(unet.state_dict(), tmp_path / "unet.pt")
    kspace = fft2c(torch.randn(1, 3, 40, 32, dtype=torch.complex64))
    mask = torch.zeros(1, 1, 1, 32)
    mask[..., ::4] = 1
    mask[..., 13:19] = 1
    meta = ReconMeta((32, 32), 6, 4.0)
    with torch.no_grad():
        expected = varnet(torch.view_as_real(kspace * mask), mask[..., None].bool(), 6)[:, 4:36]
        torch.testing.assert_close(create_method("varnet", checkpoint=tmp_path / "varnet.pt", data_consistent=False)(
            kspace * mask, mask, meta),
                                   expected, rtol=1e-4, atol=1e-4)
        expected = ImageDomainModel(unet)(kspace * mask, mask, (32, 32))
        torch.testing.assert_close(create_method("unet", checkpoint=tmp_path / "unet.pt", data_consistent=False)(kspace * mask, mask, meta),
                                   expected, rtol=1e-4, atol=1e-5)
    shuffled = dict(reversed(list(unet.state_dict().items())))  # names, not order, decide the mapping
    torch.save(shuffled, tmp_path / "shuffled.pt")
    with torch.no_grad():
        torch.testing.assert_close(create_method("unet", checkpoint=tmp_path / "shuffled.pt", data_consistent=False)(
                kspace * mask, mask, meta),
                                   expected, rtol=1e-4, atol=1e-5)
