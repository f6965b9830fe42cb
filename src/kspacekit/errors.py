"""User-facing errors: one line naming the file and the problem; the CLI exits with code 2."""

from __future__ import annotations

from pathlib import Path

HDF5_READ_ERRORS: tuple[type[Exception], ...] = (OSError, RuntimeError, KeyError, ValueError)
"""What h5py raises on a damaged file, depending on where the damage is (truncation: OSError; a
flipped bit in a B-tree, a heap or an object header: RuntimeError, KeyError or ValueError, as
tests/test_fuzz_hdf5.py finds). Readers turn them into a :class:`KspaceKitError` naming the file."""


def error_summary(err: Exception) -> str:
    """The kind of an exception and the first line of its message, e.g. ``OSError: Unable to open file``."""
    lines = str(err).strip("'\"").splitlines()
    return f"{type(err).__name__}: {lines[0] if lines else ''}"


def describe_read_error(err: Exception, subject: str = "HDF5 file") -> str:
    """One line for an h5py read failure of ``subject``: the kind of error and HDF5's first line."""
    return f"cannot read {subject}, truncated or corrupt ({error_summary(err)})"


class KspaceKitError(Exception):
    """A problem with the user's input or output that the user can fix (bad file, bad option).

    The CLI prints ``str(error)`` as a single line and exits with status 2, without a traceback.
    """

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.message = message
        super().__init__(f"{path}: {message}" if path is not None else message)
