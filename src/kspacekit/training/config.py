"""Everything that defines a training run, validated up front and stored in every checkpoint.

Each field carries its command-line help in ``metadata["help"]`` (and its flag in
``metadata["flag"]`` where that is not ``--field-name``): ``kspacekit train`` and ``sweep`` build
their options from these fields, and :func:`read_config_file` reads the same names from a file.
Importing this module does not import torch (the CLI builds every command's options at start-up,
``evaluate``'s too), so the checks that need the models and losses import them when they run.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kspacekit.errors import KspaceKitError

if TYPE_CHECKING:
    from kspacekit.physics.masks import MaskSpec

OPTIMIZERS = ("adam", "adamw", "adagrad", "rmsprop")
SCHEDULES = ("none", "step", "cosine")
KEEP = ("best", "last", "all")
DEFAULT_WEIGHT_DECAY = {"adamw": 1e-2}
"""Weight decay when none is given: AdamW's decoupled decay at PyTorch's default (the value
Loshchilov and Hutter's AdamW is usually run with); 0 (none) for the others, whose decay is an L2
term in the gradient. Without it AdamW is Adam, and comparing them would compare nothing."""
RESUME_CHANGEABLE = ("output", "epochs", "keep", "device", "num_workers", "checkpoint_every", "tensorboard", "progress")
"""Settings a resumed run may change: how long it runs, where and how it computes and reports, and
which checkpoints it keeps; any other would make the resumed run a different experiment."""


def _setting(default: Any = MISSING, help: str = "", *, factory: Any = MISSING, flag: str | None = None) -> Any:
    """A :class:`TrainConfig` field with its command-line help (and flag, where not ``--field-name``)."""
    metadata = {"help": help} if flag is None else {"help": help, "flag": flag}
    return field(default=default, default_factory=factory, metadata=metadata)


def option_flag(name: str) -> str:
    """The command-line flag of the :class:`TrainConfig` field ``name``, e.g. ``--lr``, ``--acceleration``."""
    setting = next(f for f in fields(TrainConfig) if f.name == name)
    return setting.metadata.get("flag", f"--{name.replace('_', '-')}")


def model_options_summary() -> str:
    """Each model's size options with their defaults, e.g. ``unet: chans=32, num_pool_layers=4, ...``
    (imports the models, hence torch)."""
    from kspacekit.models import DEFAULT_CONFIGS

    return "; ".join(
        f"{name}: {', '.join(f'{key}={value}' for key, value in config.items())}" for name, config in DEFAULT_CONFIGS.items()
    )


@dataclass
class TrainConfig:
    """A training run. ``folds >= 2`` cross-validates by volume over ``train`` (no ``val`` then);
    ``fold`` runs only that fold. ``checkpoint_every`` adds checkpoints every that many steps
    (0: only at the end of each epoch). ``amp`` takes effect on CUDA only."""

    model: str = _setting(help="Model: unet, rescnn, gan or varnet.")
    train: str = _setting(help="Folder of fully sampled fastMRI .h5 training files.")
    output: str = _setting(help="Folder for checkpoints, logs and metrics.")
    val: str | None = _setting(None, "Folder of validation files (fastMRI metrics every epoch).")
    folds: int = _setting(0, "k-fold cross-validation by volume over --train (0: none).")
    fold: int | None = _setting(None, "With --folds: run only this fold (0-based).")
    model_options: dict[str, Any] = _setting(
        factory=dict, flag="--model-option",
        help="Model size option KEY=VALUE, repeatable (e.g. num_cascades=4, chans=16; each model's are listed below).",
    )
    loss: str = _setting(
        "l1", "Training loss: l1, mse, bce (binary cross-entropy of images scaled to [0, 1] by the target's maximum), "
        "ssim, l1+ssim or kl (KL divergence of images normalised to distributions)."
    )
    optimizer: str = _setting("adam", f"Optimizer: {', '.join(OPTIMIZERS)}.")
    lr: float = _setting(1e-3, "Learning rate.")
    weight_decay: float | None = _setting(
        None, "Weight decay of the optimizers (decoupled for adamw). [default: 0.01 for adamw, 0 for the others]"
    )
    schedule: str = _setting("none", f"LR schedule per epoch: {', '.join(SCHEDULES)}.")
    lr_step: int = _setting(10, "Step schedule: epochs between LR drops.")
    lr_gamma: float = _setting(0.1, "Step schedule: LR factor at each drop.")
    batch_size: int = _setting(1, "Slices per batch (per process with torchrun).")
    epochs: int = _setting(10, "Total epochs; with --resume, may extend the run.")
    mask: str = _setting("random", "Mask kind for retrospective undersampling (fastMRI kinds).")
    accelerations: list[float] = _setting(
        factory=lambda: [4.0], flag="--acceleration",
        help="Acceleration of the training masks; repeat (--acceleration 4 --acceleration 8) to draw one per slice. [default: 4]",
    )
    center_fractions: list[float] = _setting(
        factory=lambda: [0.08], flag="--center-fraction",
        help="Fraction of fully sampled centre lines, one per --acceleration. [default: 0.32 / acceleration, "
        "fastMRI's 0.08 at 4x, 0.04 at 8x]",
    )
    seed: int = _setting(0, "Seed for initialisation, shuffling and masks (runs are deterministic).")
    challenge: str | None = _setting(None, "Require multicoil or singlecoil data.")
    sample_rate: float = _setting(1.0, "Fraction of slices to use.")
    adversarial_weight: float = _setting(0.01, "GAN: weight of the adversarial term of the generator loss.")
    gan_loss: str = _setting("bce", "GAN objective: bce (BCE with logits) or lsgan (least squares).")
    disc_lr: float | None = _setting(None, "GAN: discriminator learning rate [default: --lr].")
    amp: bool = _setting(True, "Mixed precision (autocast + GradScaler) on CUDA; ignored on CPU.")
    device: str = _setting("auto", "cpu, cuda, or auto (cuda when available).")
    num_workers: int = _setting(0, "DataLoader worker processes.")
    checkpoint_every: int = _setting(0, "Also checkpoint every N steps (0: end of each epoch only).")
    tensorboard: bool = _setting(True, "Write TensorBoard logs to OUTPUT/tensorboard.")
    progress: bool = _setting(True, "Show progress bars.")
    keep: str = _setting(
        "all", "Checkpoints left when the run ends: best (best.pt, weights only; with --folds only the best fold's), "
        "last (last.pt: weights, optimizer and discriminator states, for --resume) or all (both, every fold)."
    )

    def optimizer_weight_decay(self) -> float:
        """``weight_decay``, or the optimizer's default (:data:`DEFAULT_WEIGHT_DECAY`) if unset."""
        return DEFAULT_WEIGHT_DECAY.get(self.optimizer, 0.0) if self.weight_decay is None else self.weight_decay

    def validate(self) -> TrainConfig:
        """Raise :class:`KspaceKitError` for any option that cannot work; return self."""
        from kspacekit.models import MODEL_NAMES, model_config
        from kspacekit.models.gan import GAN_LOSSES
        from kspacekit.training.losses import LOSS_NAMES

        choices = {
            "model": (self.model, MODEL_NAMES),
            "loss": (self.loss, LOSS_NAMES),
            "optimizer": (self.optimizer, OPTIMIZERS),
            "schedule": (self.schedule, SCHEDULES),
            "gan-loss": (self.gan_loss, GAN_LOSSES),
            "keep": (self.keep, KEEP),
        }
        for option, (value, allowed) in choices.items():
            if value not in allowed:
                raise KspaceKitError(f"--{option} must be one of {', '.join(allowed)}, got {value!r}")
        try:
            model_config(self.model, self.model_options)
        except ValueError as err:
            known = ", ".join(f"{key} (default {value})" for key, value in model_config(self.model).items())
            raise KspaceKitError(f"{err}; --model-option takes {known}") from None
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
        if self.checkpoint_every < 0 or self.num_workers < 0 or (self.weight_decay or 0) < 0:
            raise KspaceKitError("--checkpoint-every, --num-workers and --weight-decay must not be negative")
        self.mask_spec()
        return self

    def mask_spec(self) -> MaskSpec:
        """The training masks: one (centre fraction, acceleration) pair drawn per slice, as fastMRI's MaskFunc."""
        from kspacekit.physics.masks import MaskSpec

        if len(self.accelerations) != len(self.center_fractions):
            raise KspaceKitError(
                f"give one --center-fraction per --acceleration, got {len(self.center_fractions)} for "
                f"{len(self.accelerations)}"
            )
        return MaskSpec(self.mask, tuple(self.center_fractions), tuple(self.accelerations))

    def resumed_with(self, given: dict[str, Any]) -> TrainConfig:
        """These (stored) settings with the ``given`` ones applied, for ``--resume``; a given
        setting that differs and is not in :data:`RESUME_CHANGEABLE` is refused (one line)."""
        stored = self.to_dict()
        changed = {name: value for name, value in given.items() if name in stored and value != stored[name]}
        refused = [name for name in stored if name in changed and name not in RESUME_CHANGEABLE]
        if refused:
            differences = ", ".join(f"{option_flag(name)} {given[name]!r} (the run's: {stored[name]!r})" for name in refused)
            raise KspaceKitError(
                f"--resume continues a run with its own settings, and these would change it: {differences}; "
                "drop them, or start a new run with another --output"
            )
        return replace(self, **changed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings in a YAML or JSON file (``.json``: JSON, anything else: YAML), keyed by
    :class:`TrainConfig` field names; an unknown name or an unreadable file is an error."""
    import yaml

    try:
        text = path.read_text()
    except OSError as err:
        raise KspaceKitError(f"cannot read the config file ({err.strerror})", path) from None
    is_json = path.suffix.lower() == ".json"
    try:
        values = json.loads(text) if is_json else yaml.safe_load(text)
    except json.JSONDecodeError as err:
        raise KspaceKitError(f"not a valid JSON file ({err.msg} at line {err.lineno})", path) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = "" if mark is None else f" at line {mark.line + 1}"
        raise KspaceKitError(f"not a valid YAML file ({getattr(err, 'problem', None) or 'unreadable'}{where})", path) from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise KspaceKitError("a config file must hold a mapping of setting names to values", path)
    unknown = sorted(set(values) - {f.name for f in fields(TrainConfig)})
    if unknown:
        raise KspaceKitError(f"unknown setting(s) {', '.join(map(str, unknown))}", path)
    return values
