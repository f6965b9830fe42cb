"""Score a folder of reconstructions against a folder of fastMRI targets, as fastMRI's evaluate.py.

Targets are fastMRI ``.h5`` files: ``reconstruction_rss`` (multi-coil challenge) or
``reconstruction_esc`` (single-coil), attrs ``acquisition`` and maybe ``acceleration``.
Predictions are files of the same name with a ``reconstruction`` dataset ``(slices, H, W)``.
Both volumes are cropped as fastMRI crops (:func:`kspacekit.evaluation.metrics.evaluation_crop`, on the
target's size) and scored with :func:`kspacekit.evaluation.metrics.volume_metrics`. Results are grouped by
acquisition and acceleration, the acceleration taken from the prediction's attrs (the reconstruct
command writes it), else the target's, else ``"unknown"``.

A prediction that is missing, unreadable, misshapen or not finite is reported as a
:class:`BadPrediction`, never skipped; an unusable target or folder raises :class:`KspaceKitError`.

Speed: the next pair of files is opened in a background thread while the current one is scored;
contiguous, uncompressed datasets (what h5py writes by default) are mapped from the file instead
of read through HDF5; neither this module nor the metrics import torch. Two pairs of volumes are
in memory at a time.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from kspacekit.data.layout import (
    CHALLENGE_TARGET_KEYS,
    PREDICTION_KEY,
    h5_files,
    target_dataset,
)
from kspacekit.errors import HDF5_READ_ERRORS, KspaceKitError, describe_read_error
from kspacekit.evaluation.metrics import (
    SSIM_WINDOW,
    evaluation_crop,
    volume_metrics,
)
from kspacekit.physics.grid import center_crop

UNKNOWN = "unknown"
METRICS = ("nmse", "psnr", "ssim")


@dataclass(frozen=True)
class VolumeScore:
    """The metrics of one scored volume."""

    file: str
    acquisition: str
    acceleration: str
    slices: int
    nmse: float
    psnr: float
    ssim: float


@dataclass(frozen=True)
class BadPrediction:
    """A target whose prediction could not be scored, and why."""

    file: str
    acquisition: str
    acceleration: str
    problem: str


@dataclass(frozen=True)
class GroupSummary:
    """Mean and sample standard deviation (ddof=1, as fastMRI's runstats; None for a single
    volume) of each metric over the volumes of one acquisition and acceleration."""

    acquisition: str
    acceleration: str
    volumes: int
    mean: dict[str, float]
    std: dict[str, float | None]


@dataclass
class Evaluation:
    """Everything one evaluation produced: scores, bad predictions and the settings used."""

    scores: list[VolumeScore] = field(default_factory=list)
    bad: list[BadPrediction] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def groups(self) -> list[GroupSummary]:
        """One summary per (acquisition, acceleration), sorted (accelerations numerically)."""
        keys = sorted({(s.acquisition, s.acceleration) for s in self.scores}, key=_group_order)
        return [
            _summarise(acq, acc, [s for s in self.scores if (s.acquisition, s.acceleration) == (acq, acc)])
            for acq, acc in keys
        ]

    def overall(self) -> GroupSummary | None:
        """The summary over all scored volumes (fastMRI's printed numbers), None if none."""
        return _summarise("all", "all", self.scores) if self.scores else None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (a perfect prediction's PSNR is ``inf``, written as ``Infinity``)."""
        overall = self.overall()
        return {
            "settings": self.settings,
            "volumes": [asdict(score) for score in self.scores],
            "bad_predictions": [asdict(bad) for bad in self.bad],
            "summary": [asdict(group) for group in self.groups()],
            "overall": None if overall is None else asdict(overall),
        }


def evaluate_folders(
    target_dir: str | Path,
    predictions_dir: str | Path,
    *,
    challenge: str = "multicoil",
    acquisition: str | None = None,
    full_image: bool = False,
    track: Callable[[Sequence[Path]], Iterable[Path]] = iter,
) -> Evaluation:
    """Score every target ``.h5`` in ``target_dir`` against its namesake in ``predictions_dir``.

    ``acquisition`` keeps only targets of that acquisition; ``full_image`` scores whole images
    instead of fastMRI's crop; ``track`` wraps the list of targets (e.g. a progress bar).
    """
    target_dir, predictions_dir = Path(target_dir), Path(predictions_dir)
    if challenge not in CHALLENGE_TARGET_KEYS:
        raise KspaceKitError(f"unknown challenge {challenge!r}; use one of {', '.join(CHALLENGE_TARGET_KEYS)}")
    targets = target_files(target_dir)
    _check_folder(predictions_dir, "predictions")
    evaluation = Evaluation(settings={
        "challenge": challenge, "target_dir": str(target_dir), "predictions_dir": str(predictions_dir),
        "acquisition": acquisition, "full_image": full_image,
    })
    def read(target_path: Path) -> _Pair | BadPrediction | None:
        return _read_pair(target_path, predictions_dir / target_path.name, CHALLENGE_TARGET_KEYS[challenge],
                          acquisition, full_image)

    for pair in _one_ahead(read, track(targets)):
        outcome = _score(pair)
        if isinstance(outcome, VolumeScore):
            evaluation.scores.append(outcome)
        elif isinstance(outcome, BadPrediction):
            evaluation.bad.append(outcome)
    if not evaluation.scores and not evaluation.bad:
        raise KspaceKitError(f"no target volume has acquisition {acquisition!r}", target_dir)
    return evaluation


def target_files(target_dir: Path) -> list[Path]:
    """The ``.h5`` files of the target folder, sorted by name (other files are not targets)."""
    _check_folder(target_dir, "target")
    return h5_files(target_dir)


def evaluate_volume(
    target_path: Path,
    prediction_path: Path,
    target_key: str,
    *,
    acquisition: str | None = None,
    full_image: bool = False,
) -> VolumeScore | BadPrediction | None:
    """Score one target against its prediction; None when the target is not of ``acquisition``."""
    return _score(_read_pair(target_path, prediction_path, target_key, acquisition, full_image))


@dataclass(frozen=True)
class _Pair:
    """A target and its prediction, read and cropped alike, with the target's max (the data range)."""

    file: str
    acquisition: str
    acceleration: str
    target: np.ndarray
    prediction: np.ndarray
    data_range: float


def _one_ahead(function: Callable[[Path], _Pair | BadPrediction | None],
               items: Iterable[Path]) -> Iterator[_Pair | BadPrediction | None]:
    """``function(item)`` for each item in order, the next one computed in a background thread
    meanwhile (file reads and the metric kernel release the GIL). Exceptions surface in order."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        for item in items:
            future = pool.submit(function, item)
            if pending is not None:
                yield pending.result()
            pending = future
        if pending is not None:
            yield pending.result()


def _score(pair: _Pair | BadPrediction | None) -> VolumeScore | BadPrediction | None:
    """The metrics of a read pair. A prediction's NaN or Inf values make its metrics non-finite
    (the target's were ruled out when read), so only then are they counted."""
    if not isinstance(pair, _Pair):
        return pair
    scores = volume_metrics(pair.target, pair.prediction, data_range=pair.data_range)
    if not (math.isfinite(scores.nmse) and math.isfinite(scores.ssim)):
        bad_values = _count_non_finite(pair.prediction)
        if bad_values:
            return BadPrediction(pair.file, pair.acquisition, pair.acceleration, f"{bad_values} NaN or Inf values")
    return VolumeScore(pair.file, pair.acquisition, pair.acceleration, pair.target.shape[0],
                       scores.nmse, scores.psnr, scores.ssim)


def _read_pair(
    target_path: Path, prediction_path: Path, target_key: str, acquisition: str | None, full_image: bool
) -> _Pair | BadPrediction | None:
    """A target (cropped for scoring) and its prediction (cropped to match), or why the
    prediction cannot be scored; None when the target is not of ``acquisition``."""
    try:
        with h5py.File(target_path, "r") as target_file:
            target_acquisition = _label(target_file.attrs.get("acquisition"))
            if acquisition is not None and target_acquisition != acquisition:
                return None
            target = _read_target(target_path, target_file, target_key)
            target_acceleration = target_file.attrs.get("acceleration")
    except HDF5_READ_ERRORS as err:
        raise KspaceKitError(_read_problem("target", err), target_path) from None
    target = evaluation_crop(target, full_image)
    if min(target.shape[1:]) < SSIM_WINDOW:
        raise KspaceKitError(f"'{target_key}' is scored on {target.shape[1]}x{target.shape[2]} images; SSIM needs "
                             f"at least {SSIM_WINDOW}x{SSIM_WINDOW}", target_path)
    data_range = float(target.max())
    if not data_range > 0:
        raise KspaceKitError(f"'{target_key}' has no positive value where it is scored, so PSNR and SSIM "
                             "are undefined", target_path)

    acceleration = _label(target_acceleration)
    try:
        with h5py.File(prediction_path, "r") as prediction_file:
            if "acceleration" in prediction_file.attrs:
                acceleration = _label(prediction_file.attrs["acceleration"])
            prediction = _read_prediction(prediction_file, target.shape)
    except _Unscorable as problem:
        return BadPrediction(target_path.name, target_acquisition, acceleration, str(problem))
    except HDF5_READ_ERRORS as err:
        return BadPrediction(target_path.name, target_acquisition, acceleration, _read_problem("prediction", err))
    return _Pair(target_path.name, target_acquisition, acceleration, target, prediction, data_range)


class _Unscorable(Exception):
    """A prediction problem (reported, not raised to the user)."""


def _check_folder(folder: Path, role: str) -> None:
    if not folder.exists():
        raise KspaceKitError(f"{role} folder not found", folder)
    if not folder.is_dir():
        raise KspaceKitError(f"{role} must be a folder", folder)


def _read_problem(role: str, err: Exception) -> str:
    if isinstance(err, FileNotFoundError):
        return f"{role} file not found"
    return describe_read_error(err, f"{role} (not an HDF5 file?)")


def _read_target(path: Path, target_file: h5py.File, key: str) -> np.ndarray:
    if key not in target_file:
        other = sorted(set(CHALLENGE_TARGET_KEYS.values()) & set(target_file))
        hint = f"; it has {other[0]!r}, check --challenge" if other else ""
        raise KspaceKitError(f"target has no '{key}' dataset{hint}", path)
    dataset = target_dataset(target_file, key, path)
    target = _read_array(dataset)
    if target.dtype.kind != "f":  # integer or boolean images are scored as float32, as fastMRI reads them
        target = target.astype(np.float32)
    if _count_non_finite(target):
        raise KspaceKitError(f"'{key}' contains NaN or Inf values", path)
    return target


def _read_prediction(prediction_file: h5py.File, target_shape: tuple[int, ...]) -> np.ndarray:
    """The prediction cropped to the (cropped) target's shape, or :class:`_Unscorable`. Values
    outside the crop are checked here; those inside when scored (:func:`_score`), for free."""
    if PREDICTION_KEY not in prediction_file:
        raise _Unscorable(f"no '{PREDICTION_KEY}' dataset")
    dataset = prediction_file[PREDICTION_KEY]
    if not isinstance(dataset, h5py.Dataset) or dataset.dtype.kind != "f":
        raise _Unscorable(f"'{PREDICTION_KEY}' must be a float array, got {getattr(dataset, 'dtype', 'a group')}")
    slices, height, width = target_shape
    shape = dataset.shape
    if len(shape) != 3 or shape[0] != slices or shape[1] < height or shape[2] < width:
        raise _Unscorable(f"shape {shape} cannot be cropped to the target's {(slices, height, width)}")
    prediction = _read_array(dataset)
    if shape != tuple(target_shape):
        bad_values = _count_non_finite(prediction)
        if bad_values:
            raise _Unscorable(f"{bad_values} NaN or Inf values")
    return center_crop(prediction, (height, width))


def _read_array(dataset: h5py.Dataset) -> np.ndarray:
    """All of a dataset. One stored contiguously and uncompressed in a file on disk is mapped
    from the file (read-only, no copy, not through HDF5's read path); others are read by h5py."""
    offset = dataset.id.get_offset()
    if offset is not None and dataset.chunks is None and dataset.size and dataset.file.driver == "sec2":
        path = dataset.file.filename
        if os.path.getsize(path) >= offset + dataset.nbytes:  # a truncated file is read by h5py (and fails)
            return np.memmap(path, dtype=dataset.dtype, mode="r", offset=offset, shape=dataset.shape)
    return dataset[()]


def _count_non_finite(volume: np.ndarray) -> int:
    """How many NaN or Inf values; a finite sum (one pass, no mask) proves there are none."""
    if np.isfinite(volume.sum()):
        return 0
    return int(np.count_nonzero(~np.isfinite(volume)))


def _label(value: Any) -> str:
    """An attribute as a group label: "4" for 4 or 4.0, text as text, "unknown" when absent."""
    if value is None:
        return UNKNOWN
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _group_order(key: tuple[str, str]) -> tuple[str, int, float, str]:
    acquisition, acceleration = key
    try:
        return acquisition, 0, float(acceleration), ""
    except ValueError:
        return acquisition, 1, 0.0, acceleration


def _summarise(acquisition: str, acceleration: str, scores: list[VolumeScore]) -> GroupSummary:
    mean, std = {}, {}
    for name in METRICS:
        values = [getattr(score, name) for score in scores]
        mean[name] = sum(values) / len(values)
        std[name] = (
            math.sqrt(sum((v - mean[name]) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else None
        )
    return GroupSummary(acquisition, acceleration, len(scores), mean, std)
