"""Run-time choices shared by commands: which device to compute on, how progress is shown."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from kspacekit.errors import KspaceKitError

if TYPE_CHECKING:
    from rich.progress import Progress


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise KspaceKitError("--device cuda requested but no CUDA GPU is available")
    try:
        return torch.device(name)
    except RuntimeError:
        raise KspaceKitError(f"unknown device {name!r}; use cpu, cuda or auto") from None


def progress_bar() -> Progress:
    """The progress bar every long command shows: on stderr, cleared when done, so that a
    command's final report (and its one-line errors) are all that stays on the screen."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), transient=True,
    )
