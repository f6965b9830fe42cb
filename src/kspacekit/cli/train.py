"""``kspacekit train`` and ``kspacekit sweep``: train learned reconstruction models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kspacekit.cli import app

MODEL_HELP = "Model: unet, rescnn, gan or varnet."
ACCELERATION_HELP = "Acceleration of the training masks; repeat (--acceleration 4 --acceleration 8) to draw one per slice. [default: 4]"
CENTER_FRACTION_HELP = "Fraction of fully sampled centre lines, one per --acceleration. [default: 0.32 / acceleration, fastMRI's 0.08 at 4x, 0.04 at 8x]"
LOSS_HELP = "Training loss: l1, mse, ssim, l1+ssim or kl (KL divergence of images normalised to distributions)."
OPTIMIZER_HELP = "Optimizer: adam, adamw, adagrad or rmsprop."


def _parse_model_options(items: list[str]) -> dict[str, object]:
    """``["num_cascades=4", "chans=8"]`` -> ``{"num_cascades": 4, "chans": 8}`` (numbers parsed)."""
    import json

    from kspacekit.errors import KspaceKitError

    options: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise KspaceKitError(f"--model-option must look like KEY=VALUE, got {item!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def _mask_pairs(accelerations: list[float] | None, center_fractions: list[float] | None) -> dict[str, list[float]]:
    """TrainConfig's mask pairs from the CLI options, with fastMRI's centre fraction per acceleration by default."""
    from kspacekit.evaluation.benchmark import default_center_fraction

    accelerations = accelerations or [4.0]
    fractions = center_fractions or [default_center_fraction(acc) for acc in accelerations]
    return {"accelerations": list(accelerations), "center_fractions": list(fractions)}


@app.command()
def train(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for checkpoints, logs and metrics.")],
    model: Annotated[Optional[str], typer.Option(help=MODEL_HELP)] = None,
    train_dir: Annotated[Optional[Path], typer.Option("--train", help="Folder of fully sampled fastMRI .h5 training files.")] = None,
    val: Annotated[Optional[Path], typer.Option(help="Folder of validation files (fastMRI metrics every epoch).")] = None,
    folds: Annotated[int, typer.Option(help="k-fold cross-validation by volume over --train (0: none).")] = 0,
    fold: Annotated[Optional[int], typer.Option(help="With --folds: run only this fold (0-based).")] = None,
    model_option: Annotated[
        Optional[list[str]], typer.Option(help="Model size option KEY=VALUE, repeatable (e.g. num_cascades=4, chans=16).")
    ] = None,
    loss: Annotated[str, typer.Option(help=LOSS_HELP)] = "l1",
    optimizer: Annotated[str, typer.Option(help=OPTIMIZER_HELP)] = "adam",
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-3,
    weight_decay: Annotated[float, typer.Option(help="Weight decay of the optimizer.")] = 0.0,
    schedule: Annotated[str, typer.Option(help="LR schedule per epoch: none, step or cosine.")] = "none",
    lr_step: Annotated[int, typer.Option(help="Step schedule: epochs between LR drops.")] = 10,
    lr_gamma: Annotated[float, typer.Option(help="Step schedule: LR factor at each drop.")] = 0.1,
    batch_size: Annotated[int, typer.Option(help="Slices per batch (per process with torchrun).")] = 1,
    epochs: Annotated[Optional[int], typer.Option(help="Total epochs [default: 10]; with --resume, may extend the run.")] = None,
    mask: Annotated[str, typer.Option(help="Mask kind for retrospective undersampling (fastMRI kinds).")] = "random",
    acceleration: Annotated[Optional[list[float]], typer.Option(help=ACCELERATION_HELP)] = None,
    center_fraction: Annotated[Optional[list[float]], typer.Option(help=CENTER_FRACTION_HELP)] = None,
    seed: Annotated[int, typer.Option(help="Seed for initialisation, shuffling and masks (runs are deterministic).")] = 0,
    challenge: Annotated[Optional[str], typer.Option(help="Require multicoil or singlecoil data.")] = None,
    sample_rate: Annotated[float, typer.Option(help="Fraction of slices to use.")] = 1.0,
    adversarial_weight: Annotated[float, typer.Option(help="GAN: weight of the adversarial term of the generator loss.")] = 0.01,
    gan_loss: Annotated[str, typer.Option(help="GAN objective: bce (BCE with logits) or lsgan (least squares).")] = "bce",
    disc_lr: Annotated[Optional[float], typer.Option(help="GAN: discriminator learning rate [default: --lr].")] = None,
    amp: Annotated[bool, typer.Option(help="Mixed precision (autocast + GradScaler) on CUDA; ignored on CPU.")] = True,
    device: Annotated[str, typer.Option(help="cpu, cuda, or auto (cuda when available).")] = "auto",
    num_workers: Annotated[int, typer.Option(help="DataLoader worker processes.")] = 0,
    checkpoint_every: Annotated[int, typer.Option(help="Also checkpoint every N steps (0: end of each epoch only).")] = 0,
    tensorboard: Annotated[bool, typer.Option(help="Write TensorBoard logs to OUTPUT/tensorboard.")] = True,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in OUTPUT from its last checkpoint (its settings are reused).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Train into a non-empty OUTPUT folder.")] = False,
) -> None:
    """Train a reconstruction model on fully sampled data undersampled retrospectively.

    Writes OUTPUT/checkpoints/last.pt (and best.pt by validation SSIM), metrics.csv, steps.csv
    and TensorBoard logs. Any checkpoint works with `kspacekit reconstruct --method MODEL
    --checkpoint PATH`. Multi-GPU or multi-node: `torchrun --nproc-per-node N -m kspacekit train ...`.
    """
    from kspacekit.errors import KspaceKitError
    from kspacekit.training.config import TrainConfig
    from kspacekit.training.engine import load_run_config
    from kspacekit.training.engine import train as run_training

    if resume:
        config = load_run_config(output)
        if epochs is not None:
            config.epochs = epochs
    else:
        if model is None or train_dir is None:
            raise KspaceKitError("--model and --train are required (unless --resume)")
        config = TrainConfig(
            model=model, train=str(train_dir), output=str(output), val=None if val is None else str(val),
            folds=folds, fold=fold, model_options=_parse_model_options(model_option or []), loss=loss,
            optimizer=optimizer, lr=lr, weight_decay=weight_decay, schedule=schedule, lr_step=lr_step,
            lr_gamma=lr_gamma, batch_size=batch_size, epochs=10 if epochs is None else epochs, mask=mask,
            **_mask_pairs(acceleration, center_fraction), seed=seed, challenge=challenge,
            sample_rate=sample_rate, adversarial_weight=adversarial_weight, gan_loss=gan_loss, disc_lr=disc_lr,
            amp=amp, device=device, num_workers=num_workers, checkpoint_every=checkpoint_every,
            tensorboard=tensorboard, progress=progress,
        )
    run_training(config, resume=resume, overwrite=overwrite)


@app.command()
def sweep(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for one run per configuration, the table and the plot.")],
    model: Annotated[str, typer.Option(help=MODEL_HELP)],
    train_dir: Annotated[Path, typer.Option("--train", help="Folder of fully sampled fastMRI .h5 training files.")],
    val: Annotated[Optional[Path], typer.Option(help="Folder of validation files (else use --folds).")] = None,
    folds: Annotated[int, typer.Option(help="Cross-validate each configuration with k folds by volume instead of --val.")] = 0,
    losses: Annotated[str, typer.Option(help="Comma-separated losses to compare.")] = "l1,mse,ssim,l1+ssim,kl",
    optimizers: Annotated[str, typer.Option(help="Comma-separated optimizers to compare.")] = "adam,adamw,adagrad,rmsprop",
    model_option: Annotated[Optional[list[str]], typer.Option(help="Model size option KEY=VALUE, repeatable.")] = None,
    lr: Annotated[float, typer.Option(help="Learning rate of every configuration.")] = 1e-3,
    batch_size: Annotated[int, typer.Option(help="Slices per batch.")] = 1,
    epochs: Annotated[int, typer.Option(help="Epochs per configuration.")] = 10,
    acceleration: Annotated[Optional[list[float]], typer.Option(help=ACCELERATION_HELP)] = None,
    center_fraction: Annotated[Optional[list[float]], typer.Option(help=CENTER_FRACTION_HELP)] = None,
    seed: Annotated[int, typer.Option(help="Seed shared by all configurations.")] = 0,
    device: Annotated[str, typer.Option(help="cpu, cuda, or auto.")] = "auto",
    resume: Annotated[bool, typer.Option("--resume", help="Skip finished configurations, resume unfinished ones.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Write into a non-empty OUTPUT folder.")] = False,
) -> None:
    """Train every loss x optimizer combination; write sweep.csv (validation SSIM per epoch per
    configuration) and sweep_ssim.png."""
    from kspacekit.training.config import TrainConfig
    from kspacekit.training.sweep import run_sweep

    base = TrainConfig(
        model=model, train=str(train_dir), output=str(output), val=None if val is None else str(val), folds=folds,
        model_options=_parse_model_options(model_option or []), lr=lr, batch_size=batch_size, epochs=epochs,
        **_mask_pairs(acceleration, center_fraction), seed=seed, device=device,
    )
    run_sweep(
        base,
        [name.strip() for name in losses.split(",") if name.strip()],
        [name.strip() for name in optimizers.split(",") if name.strip()],
        resume=resume,
        overwrite=overwrite,
    )
