"""The ``kspacekit`` command: one Typer app; each subcommand lives in its own module here.

Every module in this package that defines commands registers them on :data:`app` when imported;
:func:`main` imports them all, runs the app, and turns :class:`KspaceKitError` into a one-line
message and exit status 2. Commands only parse options and call library functions; each one that
computes first calls :func:`kspacekit.runtime.configure_process`.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

from kspacekit.errors import KspaceKitError

app = typer.Typer(
    name="kspacekit",
    help="Accelerated MRI reconstruction: undersampled k-space in, images and fastMRI metrics out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstrings reflow: one paragraph per blank-line block
)


def _load_commands() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def command_line() -> str:
    """The command as typed, recorded in reports so that they say how to reproduce them."""
    return " ".join(["kspacekit", *sys.argv[1:]])


def main() -> None:
    """Console entry point."""
    _load_commands()
    try:
        app()
    except KspaceKitError as err:
        print(f"kspacekit: error: {err}", file=sys.stderr)
        sys.exit(2)
