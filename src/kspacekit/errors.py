"""User-facing errors: one line naming the file and the problem; the CLI exits with code 2."""

from __future__ import annotations

from pathlib import Path


class KspaceKitError(Exception):
    """A problem with the user's input or output that the user can fix (bad file, bad option).

    The CLI prints ``str(error)`` as a single line and exits with status 2, without a traceback.
    """

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.message = message
        super().__init__(f"{path}: {message}" if path is not None else message)
