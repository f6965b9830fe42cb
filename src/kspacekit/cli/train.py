"""``kspacekit train`` and ``kspacekit sweep``: train learned reconstruction models.

Both commands' options are generated from the fields of
:class:`~kspacekit.training.config.TrainConfig` (flag, type, default and help), so each setting is
defined once; ``--config FILE`` reads the same names from a YAML or JSON file, and flags given on
the command line override the file.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Annotated, Any, Optional, get_type_hints

import typer
from typer.core import TyperCommand

from kspacekit.cli import app
from kspacekit.training.config import TrainConfig

REQUIRED = ("model", "train", "output")
CONFIG_HELP = (
    "YAML or JSON file of settings named as the options with underscores (e.g. lr: 0.001, "
    "model_options: {chans: 16}, accelerations: [4, 8]); options given on the command line override it."
)


class _WithModelOptions(TyperCommand):
    """Ends --help with each model's size options; the models (and torch) are imported only then."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        from kspacekit.training.config import model_options_summary

        self.epilog = f"Model size options (--model-option KEY=VALUE) and their defaults: {model_options_summary()}."
        super().format_help(ctx, formatter)


def _setting_parameters(exclude: tuple[str, ...] = (), help: dict[str, str] | None = None) -> list[inspect.Parameter]:
    """One keyword parameter per :class:`TrainConfig` field, annotated with its typer option.

    List and dict fields become repeatable options (``--acceleration 4 --acceleration 8``,
    ``--model-option chans=16``); fields without a default default to None here, so that
    ``--config`` may supply them.
    """
    hints = get_type_hints(TrainConfig)
    parameters = []
    for setting in fields(TrainConfig):
        if setting.name in exclude:
            continue
        flag = setting.metadata.get("flag", f"--{setting.name.replace('_', '-')}")
        kind = hints[setting.name]
        names = (flag,)
        if kind is bool:
            names = (f"{flag}/--no-{flag[2:]}",)
        elif setting.name == "output":
            names = (flag, "-o")
        if setting.default_factory is not MISSING:
            kind = list[str] if kind.__origin__ is dict else kind
        default = None if setting.default is MISSING else setting.default
        option = typer.Option(
            *names, help=(help or {}).get(setting.name, setting.metadata["help"]), show_default=default is not None
        )
        parameters.append(
            inspect.Parameter(setting.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                              annotation=Annotated[kind if kind is bool else Optional[kind], option])
        )
    return parameters


def _settings(ctx: typer.Context, config_file: Path | None, values: dict[str, Any]) -> dict[str, Any]:
    """The settings given: the config file's, overridden by the options on the command line."""
    from kspacekit.training.config import read_config_file

    settings = {} if config_file is None else read_config_file(config_file)
    for name, value in values.items():
        if ctx.get_parameter_source(name).name != "DEFAULT":
            settings[name] = _parse_model_options(value) if name == "model_options" else value
    return settings


def _with_default_center_fractions(settings: dict[str, Any]) -> dict[str, Any]:
    """A new run's settings, the centre fractions defaulting to fastMRI's per acceleration."""
    from kspacekit.evaluation.benchmark import default_center_fraction

    if "center_fractions" not in settings:
        accelerations = settings.get("accelerations", [4.0])
        settings = {**settings, "center_fractions": [default_center_fraction(acc) for acc in accelerations]}
    return settings


def _config(settings: dict[str, Any], hint: str = "") -> TrainConfig:
    """The new run's TrainConfig; ``hint`` ends the message when a required setting is missing."""
    from kspacekit.errors import KspaceKitError

    missing = [name for name in REQUIRED if settings.get(name) is None]
    if missing:
        flags = " and ".join(f"--{name}" for name in missing)
        raise KspaceKitError(f"{flags} {'is' if len(missing) == 1 else 'are'} required{hint}")
    settings = _with_default_center_fractions(settings)
    paths = {name: str(settings[name]) for name in ("train", "output", "val") if settings.get(name) is not None}
    return TrainConfig(**{**settings, **paths})


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


def _command(
    function: Callable[..., None], extra: list[inspect.Parameter], exclude: tuple[str, ...] = (),
    help: dict[str, str] | None = None,
) -> Callable[..., None]:
    """``function`` with the generated setting options (plus ``extra`` ones) as its signature."""
    context = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)
    config = inspect.Parameter(
        "config_file", inspect.Parameter.KEYWORD_ONLY, default=None,
        annotation=Annotated[Optional[Path], typer.Option("--config", help=CONFIG_HELP)],
    )
    function.__signature__ = inspect.Signature([context, config, *_setting_parameters(exclude, help), *extra])
    return function


def _flag(name: str, help: str) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=False,
                             annotation=Annotated[bool, typer.Option(f"--{name}", help=help)])


def train(ctx: typer.Context, config_file: Path | None, resume: bool, overwrite: bool, **values: Any) -> None:
    """Train a reconstruction model on fully sampled data undersampled retrospectively.

    Writes OUTPUT/checkpoints/last.pt (everything --resume needs) and best.pt (weights of the
    epoch with the best validation SSIM), as --keep says, metrics.csv, steps.csv and TensorBoard
    logs (with a validation slice per epoch); with --folds, one run per fold and
    cross_validation.csv/.png. Ctrl-C (or SIGTERM) saves last.pt and says how to resume. Any
    checkpoint works with `kspacekit reconstruct --method MODEL --checkpoint PATH`. Multi-GPU or
    multi-node: `torchrun --nproc-per-node N -m kspacekit train ...`.
    """
    from kspacekit.runtime import configure_process

    configure_process()  # before torch is imported

    from kspacekit.errors import KspaceKitError
    from kspacekit.training.engine import load_run_config
    from kspacekit.training.engine import train as run_training

    settings = _settings(ctx, config_file, values)
    if resume:
        if settings.get("output") is None:
            raise KspaceKitError("--output is required")
        paths = {name: str(settings[name]) for name in ("train", "output", "val") if settings.get(name) is not None}
        config = load_run_config(Path(settings["output"])).resumed_with({**settings, **paths})
    else:
        config = _config(settings, " (unless --resume)")
    _exit_130_when_interrupted(run_training, config, resume=resume, overwrite=overwrite)


def _exit_130_when_interrupted(function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run ``function``; a run stopped by SIGINT/SIGTERM (its checkpoint saved) prints how to
    resume and exits with status 130, as an interrupted command does."""
    import sys

    from kspacekit.training.engine import TrainingInterrupted

    try:
        function(*args, **kwargs)
    except TrainingInterrupted as err:
        print(f"kspacekit: interrupted: {err}", file=sys.stderr)
        sys.exit(130)


def sweep(
    ctx: typer.Context, config_file: Path | None, losses: str, optimizers: str, gan_losses: str,
    adversarial_weights: str, resume: bool, overwrite: bool, **values: Any,
) -> None:
    """Train every combination of losses x optimizers (x GAN objectives x adversarial weights);
    write sweep.csv (per configuration, fold and epoch, best epochs, mean ± std over folds),
    sweep.png (validation SSIM, PSNR and training loss per epoch) and sweep.html (the ranking).
    The defaults are the original study's grid."""
    from kspacekit.runtime import configure_process

    configure_process()  # before torch is imported

    from kspacekit.cli import command_line
    from kspacekit.errors import KspaceKitError
    from kspacekit.training.sweep import SweepGrid, run_sweep

    def names(text: str) -> list[str]:
        return [name.strip() for name in text.split(",") if name.strip()]

    try:
        weights = [float(weight) for weight in names(adversarial_weights)]
    except ValueError:
        raise KspaceKitError(f"--adversarial-weights must be comma-separated numbers, got {adversarial_weights!r}") from None
    grid = SweepGrid(names(losses), names(optimizers), names(gan_losses), weights)
    _exit_130_when_interrupted(
        run_sweep, _config(_settings(ctx, config_file, values)), grid, resume=resume, overwrite=overwrite,
        command=command_line(),
    )


def _list_option(name: str, default: str, help: str) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[str, typer.Option(help=help)])


app.command(cls=_WithModelOptions)(_command(train, [
    _flag("resume", "Continue the run in OUTPUT from its last checkpoint with its settings; only --epochs, "
          "--keep, --device, --num-workers, --checkpoint-every, --tensorboard and --progress may change."),
    _flag("overwrite", "Train into a non-empty OUTPUT folder."),
]))
app.command(cls=_WithModelOptions)(_command(sweep, [
    _list_option("losses", "l1,mse,bce,ssim,kl", "Comma-separated losses to compare."),
    _list_option("optimizers", "adam,adagrad,adamw", "Comma-separated optimizers to compare."),
    _list_option("gan_losses", "bce", "GAN: comma-separated adversarial objectives to compare (bce, lsgan)."),
    _list_option("adversarial_weights", "0.01", "GAN: comma-separated adversarial weights to compare."),
    _flag("resume", "Skip finished configurations, resume unfinished ones (same settings)."),
    _flag("overwrite", "Write into a non-empty OUTPUT folder."),
], exclude=("loss", "optimizer", "gan_loss", "adversarial_weight"), help={
    "output": "Folder for one run per configuration, the table, the figure and the page.",
    "val": "Folder of validation files (else use --folds).",
}))
