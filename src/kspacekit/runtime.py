"""Run-time choices shared by commands: process set-up, which device to compute on, how progress is shown.

Importing this module does not import torch (``kspacekit evaluate`` uses it and stays torch-free).
"""

from __future__ import annotations

import ctypes
import os
from typing import TYPE_CHECKING

from kspacekit.errors import KspaceKitError

if TYPE_CHECKING:
    import torch
    from rich.progress import Progress

MMAP_THRESHOLD_BYTES = 2**20
"""Allocations from this size up get their own pages, returned to the system when freed. With
glibc's default (a threshold that rises to 32 MiB after the first large free), a slice's many
tens-of-MiB tensors are carved from one heap that fragments from slice to slice; with this
threshold the peak stays at the one-slice figure however many slices follow (BENCHMARKS.md, Memory)."""


def configure_process(threads: int | None = None, *, bounded_heap: bool = False) -> None:
    """Set up this process for heavy numeric work; every command that computes calls it first.

    - Idle OpenMP threads sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE`` unless the user
      chose a policy): on cores shared with other processes torch's default spinning made
      reconstructions several times slower (BENCHMARKS.md). It takes effect only if torch has not
      been imported yet, so commands call this before importing torch.
    - ``bounded_heap``: pin glibc's mmap threshold at :data:`MMAP_THRESHOLD_BYTES` (unless the
      user set ``MALLOC_MMAP_THRESHOLD_``), so that memory does not grow from slice to slice over
      many large volumes. It costs time (every large tensor is mapped and unmapped afresh), so
      only ``reconstruct`` asks for it; ``benchmark`` and ``demo``, which report seconds per
      slice, do not (BENCHMARKS.md, Memory).
    - ``threads``: torch's intra-op thread count; None leaves torch's choice untouched (with torch
      2.13, once ``set_num_threads(n > 1)`` has been called, complex ``linalg.solve`` fails in
      MKL's CLASWP and hangs, so the count is set only when asked). Only then is torch imported.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if bounded_heap:
        _limit_heap_fragmentation()
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def _limit_heap_fragmentation() -> None:
    """Set glibc's mmap threshold (mallopt M_MMAP_THRESHOLD); nothing where the C library has no
    mallopt (macOS) or a user set MALLOC_MMAP_THRESHOLD_."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return
    m_mmap_threshold = -3
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:
        mallopt(m_mmap_threshold, MMAP_THRESHOLD_BYTES)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a user error."""
    import torch

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
