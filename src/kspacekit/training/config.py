"""Everything that defines a training run, validated up front and stored in every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from kspacekit.errors import KspaceKitError
from kspacekit.models import MODEL_NAMES, model_config
from kspacekit.models.gan import GAN_LOSSES
from kspacekit.physics.masks import MaskSpec
from kspacekit.training.losses import LOSS_NAMES

OPTIMIZERS = ("adam", "adamw", "adagrad", "rmsprop")
SCHEDULES = ("none", "step", "cosine")


@dataclass
class TrainConfig:
    """A training run. ``folds >= 2`` cross-validates by volume over ``train`` (no ``val`` then);
    ``fold`` runs only that fold. ``checkpoint_every`` adds checkpoints every that many steps
    (0: only at the end of each epoch). ``amp`` takes effect on CUDA only."""

    model: str
    train: str
    output: str
    val: str | None = None
    folds: int = 0
    fold: int | None = None
    model_options: dict[str, Any] = field(default_factory=dict)
    loss: str = "l1"
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "none"
    lr_step: int = 10
    lr_gamma: float = 0.1
    batch_size: int = 1
    epochs: int = 10
    mask: str = "random"
    accelerations: list[float] = field(default_factory=lambda: [4.0])
    center_fractions: list[float] = field(default_factory=lambda: [0.08])
    seed: int = 0
    challenge: str | None = None
    sample_rate: float = 1.0
    adversarial_weight: float = 0.01
    gan_loss: str = "bce"
    disc_lr: float | None = None
    amp: bool = True
    device: str = "auto"
    num_workers: int = 0
    checkpoint_every: int = 0
    tensorboard: bool = True
    progress: bool = True

    def validate(self) -> TrainConfig:
        """Raise :class:`KspaceKitError` for any option that cannot work; return self."""
        choices = {
            "model": (self.model, MODEL_NAMES),
            "loss": (self.loss, LOSS_NAMES),
            "optimizer": (self.optimizer, OPTIMIZERS),
            "schedule": (self.schedule, SCHEDULES),
            "gan-loss": (self.gan_loss, GAN_LOSSES),
        }
        for option, (value, allowed) in choices.items():
            if value not in allowed:
                raise KspaceKitError(f"--{option} must be one of {', '.join(allowed)}, got {value!r}")
        try:
            model_config(self.model, self.model_options)
        except ValueError as err:
            raise KspaceKitError(str(err)) from None
        positive = {"lr": self.lr, "batch-size": self.batch_size, "epochs": self.epochs, "lr-step": self.lr_step}
        for option, value in positive.items():
            if not value > 0:
                raise KspaceKitError(f"--{option} must be positive, got {value}")
        if self.folds == 1 or self.folds < 0:
            raise KspaceKitError(f"--folds must be 0 (no cross-validation) or at least 2, got {self.folds}")
        if self.folds and self.val is not None:
            raise KspaceKitError("give either --val or --folds, not both")
        if self.fold is not None and not 0 <= self.fold < self.folds:
            raise KspaceKitError(f"--fold must be one of 0..K-1 with --folds K >= 2, got --fold {self.fold} --folds {self.folds}")
        if self.checkpoint_every < 0 or self.num_workers < 0:
            raise KspaceKitError("--checkpoint-every and --num-workers must not be negative")
        self.mask_spec()
        return self

    def mask_spec(self) -> MaskSpec:
        """The training masks: one (centre fraction, acceleration) pair drawn per slice, as fastMRI's MaskFunc."""
        if len(self.accelerations) != len(self.center_fractions):
            raise KspaceKitError(
                f"give one --center-fraction per --acceleration, got {len(self.center_fractions)} for "
                f"{len(self.accelerations)}"
            )
        return MaskSpec(self.mask, tuple(self.center_fractions), tuple(self.accelerations))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
