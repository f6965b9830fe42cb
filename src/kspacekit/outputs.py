"""Safe output files: atomic writes, no silent overwrites, names that stay inside the output dir."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from kspacekit.errors import KspaceKitError


def check_writable(path: Path, overwrite: bool) -> None:
    """Refuse to replace an existing file unless ``overwrite``; make sure the parent exists."""
    if path.is_dir():
        raise KspaceKitError("output is a directory, expected a file path", path)
    if path.exists() and not overwrite:
        raise KspaceKitError("output exists; pass --overwrite to replace it", path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise KspaceKitError(f"cannot create output directory ({err.strerror})", path.parent) from None
    if not os.access(path.parent, os.W_OK):
        raise KspaceKitError("output directory is not writable", path.parent)


@contextlib.contextmanager
def atomic_path(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A failure inside the block (or a crash) leaves no partial file under the final name.
    """
    path = Path(path)
    check_writable(path, overwrite)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        tmp.chmod(_permissions(0o666))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _permissions(mode: int) -> int:
    """``mode`` less the process umask: what a plainly created file or folder gets (mkstemp and
    mkdtemp make private 0600/0700 ones)."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def check_output_folder(
    path: Path,
    overwrite: bool,
    replaceable: Callable[[Path], bool] = lambda p: True,
    hint: str = "pass --overwrite to replace it",
) -> None:
    """The one output-folder policy: ``path`` must be a folder or absent; a non-empty folder is
    refused unless ``overwrite``, and even then unless ``replaceable(path)`` says it holds only
    what this kind of command writes. ``hint`` tells the user how to go on."""
    if path.exists() and not path.is_dir():
        raise KspaceKitError("output exists and is not a folder", path)
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise KspaceKitError(f"output folder is not empty; {hint}", path)
        if not replaceable(path):
            raise KspaceKitError("output folder holds files kspacekit did not write; refusing to replace it", path)


@contextlib.contextmanager
def atomic_directory(
    path: str | Path, overwrite: bool = False, replaceable: Callable[[Path], bool] = lambda p: False
) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; put it in place of ``path`` only if the block succeeds.

    An existing non-empty folder is refused without ``overwrite``, and even with it unless
    ``replaceable(path)`` says it holds only what this kind of command writes (so ``--overwrite``
    can never delete an unrelated folder). A failure inside the block leaves ``path`` untouched.
    """
    path = Path(path)
    check_output_folder(path, overwrite, replaceable)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as err:
        raise KspaceKitError(f"cannot create output folder ({err.strerror})", path) from None
    try:
        yield tmp
        tmp.chmod(_permissions(0o777))
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def output_path_for(out_dir: Path, name: str) -> Path:
    """``out_dir / name`` for a name derived from input data, refusing names that escape out_dir."""
    candidate = (out_dir / name).resolve()
    if Path(name).name != name or candidate.parent != out_dir.resolve():
        raise KspaceKitError(f"unsafe output name {name!r}", out_dir)
    return out_dir / name
