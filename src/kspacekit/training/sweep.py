"""Sweeps: one training run per configuration of a grid, reported as a study.

The grid of the original experiment crosses the losses (L1, MSE, BCE, SSIM, L1+SSIM, KL) with
the optimizers (Adam, AdamW, Adagrad, RMSprop), everything else equal (same data, folds, masks,
seed, epochs and learning rate); for the GAN it may also cross the adversarial objective and
weight. Each configuration trains into ``OUTPUT/<name>/`` (cross-validated with ``folds``).
``sweep.csv`` holds every configuration's per-fold, per-epoch rows, each fold's best epoch and
mean ± std over folds (see :mod:`~kspacekit.training.reports`); ``sweep.png`` draws validation
SSIM, PSNR and training loss per epoch; ``sweep.html`` ranks the configurations. A run that
diverges (NaN loss) is recorded as such and the sweep goes on; ``resume`` skips finished runs.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console

from kspacekit.errors import KspaceKitError
from kspacekit.outputs import atomic_path
from kspacekit.training.config import TrainConfig
from kspacekit.training.engine import (
    TrainingDiverged,
    TrainingInterrupted,
    check_output_dir,
    run_finished,
    train,
)
from kspacekit.training.reports import (
    STUDY_FIELDS,
    Study,
    plot_studies,
    plus_minus,
    ranking,
    read_study,
    setting_style,
    write_csv,
    write_sweep_page,
)

GRID_FIELDS = ["configuration", "loss", "optimizer", "gan_loss", "adversarial_weight", "weight_decay", "status"]
SWEEP_FIELDS = [*GRID_FIELDS, *STUDY_FIELDS]
SWEEP_CONFIG = "sweep_config.json"


@dataclass
class SweepGrid:
    """The settings a sweep crosses; ``gan_losses`` and ``adversarial_weights`` only for the GAN."""

    losses: list[str]
    optimizers: list[str]
    gan_losses: list[str]
    adversarial_weights: list[float]

    def configs(self, base: TrainConfig) -> list[TrainConfig]:
        """One config per combination, each writing into its own folder under ``base.output``."""
        if not (self.losses and self.optimizers and self.gan_losses and self.adversarial_weights):
            raise KspaceKitError("the sweep needs at least one value of each swept setting")
        if base.model != "gan" and (len(self.gan_losses) > 1 or len(self.adversarial_weights) > 1):
            raise KspaceKitError("--gan-losses and --adversarial-weights vary only with --model gan")
        configs = []
        for loss, optimizer, gan_loss, weight in itertools.product(
            self.losses, self.optimizers, self.gan_losses, self.adversarial_weights
        ):
            config = replace(base, loss=loss, optimizer=optimizer, gan_loss=gan_loss, adversarial_weight=weight)
            configs.append(replace(config, output=str(Path(base.output) / self.run_name(config))))
        return configs

    def run_name(self, config: TrainConfig) -> str:
        """``<loss>_<optimizer>``, plus the GAN settings that this grid varies."""
        name = f"{config.loss}_{config.optimizer}"
        if len(self.gan_losses) > 1:
            name += f"_{config.gan_loss}"
        if len(self.adversarial_weights) > 1:
            name += f"_adv{config.adversarial_weight:g}"
        return name

    def label(self, config: TrainConfig) -> str:
        parts = [config.loss, config.optimizer]
        if len(self.gan_losses) > 1:
            parts.append(config.gan_loss)
        if len(self.adversarial_weights) > 1:
            parts.append(f"adv {config.adversarial_weight:g}")
        return " / ".join(parts)

    def style(self, config: TrainConfig) -> dict[str, object]:
        variant = self.gan_losses.index(config.gan_loss) * len(self.adversarial_weights)
        variant += self.adversarial_weights.index(config.adversarial_weight)
        return setting_style(config.loss, config.optimizer, variant)


def checked_base(base: TrainConfig, resume: bool) -> TrainConfig:
    """``base``; when resuming, the stored sweep's settings, refusing any change a run could not take."""
    path = Path(base.output) / SWEEP_CONFIG
    if not (resume and path.exists()):
        return base
    stored = TrainConfig.from_dict(json.loads(path.read_text()))
    swept = ("loss", "optimizer", "gan_loss", "adversarial_weight")
    given = {key: value for key, value in base.to_dict().items() if key not in swept}
    return stored.resumed_with(given)


def run_sweep(
    base: TrainConfig, grid: SweepGrid, resume: bool = False, overwrite: bool = False, command: str = ""
) -> list[Study]:
    """Train every configuration of ``grid`` on ``base`` and write the study (see the module docstring)."""
    out_dir = Path(base.output)
    if base.val is None and not base.folds:
        raise KspaceKitError("a sweep compares validation SSIM: give --val or --folds")
    if not resume:
        check_output_dir(out_dir, resume=False, overwrite=overwrite)
    base = checked_base(base, resume)
    configs = grid.configs(base)
    for config in configs:
        config.validate()
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / SWEEP_CONFIG, overwrite=True) as tmp:
        tmp.write_text(json.dumps(base.to_dict(), indent=2))
    console = Console(stderr=True)
    studies: list[Study] = []
    rows: list[dict[str, object]] = []
    for number, config in enumerate(configs, 1):
        label = grid.label(config)
        console.print(f"[bold]configuration {number}/{len(configs)}: {label}[/bold]", highlight=False)
        run_dir = Path(config.output)
        status = "done"
        started = (run_dir / "train_config.json").exists()
        try:
            if resume and started and run_finished(config):
                console.print("finished earlier", highlight=False)
            else:
                train(config, resume=resume and started, overwrite=overwrite or (resume and not started))
        except TrainingDiverged as err:
            console.print(f"[red]diverged:[/red] {err}", highlight=False)
            status = "diverged"
        except TrainingInterrupted as err:
            raise TrainingInterrupted(
                f"{err.where} (configuration {number}/{len(configs)}, {label})",
                "the same kspacekit sweep command with --resume",
            ) from None
        study = read_study(run_dir, label, grid.style(config))
        study.status = status
        studies.append(study)
        settings = {
            "configuration": grid.run_name(config), "loss": config.loss, "optimizer": config.optimizer,
            "gan_loss": config.gan_loss if config.model == "gan" else "",
            "adversarial_weight": config.adversarial_weight if config.model == "gan" else "",
            "weight_decay": config.optimizer_weight_decay(), "status": status,
        }
        rows.extend({**settings, **row} for row in study.rows() or [{}])
    write_csv(out_dir / "sweep.csv", SWEEP_FIELDS, rows)
    figure = out_dir / "sweep.png"
    plot_studies(studies, figure, f"Sweep: {base.model}")
    folds = f"{base.folds}-fold cross-validation by volume" if base.folds else f"validation on {base.val}"
    description = (
        f"{base.model} trained {base.epochs} epochs per configuration on {base.train} ({folds}), "
        f"lr {base.lr:g}, masks {base.mask} at {', '.join(f'{a:g}x' for a in base.accelerations)}, seed {base.seed}."
    )
    write_sweep_page(studies, figure, out_dir / "sweep.html", command, description)
    best = ranking(studies)[0]
    console.print(
        f"best: {best.label}, val SSIM {plus_minus(best.summary(), 'val_ssim', 4)}; wrote {out_dir / 'sweep.csv'}, "
        f"{figure} and {out_dir / 'sweep.html'}",
        highlight=False, soft_wrap=True,
    )
    return studies
