"""Benchmark reconstruction methods on a dataset at several accelerations: quality, speed, consistency.

For every volume, acceleration and mask draw, each method reconstructs the same undersampled
k-space; its volume is written as a submission file and scored against the target exactly as
fastMRI's ``evaluate.py`` scores it (centre crop, per-volume NMSE, PSNR and SSIM with the target
volume's max as data range). Summaries are mean and sample standard deviation over volumes and
mask draws.

Undersampling: fully sampled files are undersampled retrospectively with fastMRI masks of
``kind`` at each acceleration, one mask per volume. Draw 0 uses fastMRI's per-file seed (the
challenge's fixed validation masks); draw k > 0 seeds with the file seed followed by k, so every
method sees the same samples. Files that carry their own samples (a stored ``mask`` or
``mask_2d``, course files with ``kspace_4af`` / ``kspace_8af``, raw files with zeros) are used as
they are, at their own acceleration.

No ground truth: an undersampled file without a target (the usual case for prospectively
undersampled scans, unless ``--targets`` names one) is still benchmarked: every method runs, its
images, seconds per slice and data-consistency residual are reported, and the metrics that need
a reference (SSIM, PSNR, NMSE) are None. Its residual is compared with the noise floor estimated
from the data (:func:`noise_floor_terms`) instead of a target's residual.

Data consistency: a magnitude image has no phase, so it cannot be compared with the measured
samples directly. Each reconstruction ``x`` is projected with one forward model, the same for
every method and estimated from the measured data alone: ``A x = M F (S e^{i phi} x)``, with
ESPIRiT maps ``S`` from the calibration region (:func:`kspacekit.physics.coils.espirit_maps`; ones for
single-coil data) and ``phi`` the phase of the low-resolution image (the calibration region
under a window symmetric about the k-space centre) combined with those maps. The residual is ``||A x - y|| / ||y||`` over the volume's measured
samples ``y``. The target's own residual is reported beside it: the floor set by noise (the
RSS target carries a noise bias) and by the model (phase finer than the calibration region,
map errors, signal outside the cropped target). A residual well above that floor means the
reconstruction disagrees with what was measured, e.g. it added, removed or moved structure
(on simulated 8-coil brain data at SNR 30, the target's 0.15 at 4x rises to 0.22 with an added
disc of radius 15 pixels at 30 % of the maximum, to 0.20 with the image shifted by 2 pixels).
Smoothing costs little, since the measured energy is concentrated at the k-space centre, and
structure placed only in the unmeasured part of k-space is invisible to any such check: the
error maps and the metrics against the target show those. (ESPIRiT was chosen over the
low-resolution maps of :func:`kspacekit.physics.coils.lowres_maps`, which absorb the blurred object
into the maps: with them the target's own residual was higher than the zero-filled image's.
Noise-free single-coil data of a real object give a residual of ~1e-7 for the target.)
"""

from __future__ import annotations

import math
import platform
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch import Tensor

from kspacekit.data import (
    VolumeInfo,
    inspect_volume,
    iter_volume_batches,
    read_slice,
    write_submission,
)
from kspacekit.data.fastmri import TARGET_KEYS, h5_dataset, is_real_number
from kspacekit.data.layout import h5_files
from kspacekit.errors import HDF5_READ_ERRORS, KspaceKitError, describe_read_error
from kspacekit.evaluation.metrics import evaluation_crop, ssim, volume_metrics
from kspacekit.methods import (
    ReconMeta,
    ReconstructionMethod,
    available_methods,
    create_method,
)
from kspacekit.optim.regularization import noise_std
from kspacekit.physics.coils import calibration_region, estimate_maps
from kspacekit.physics.fft import crop_or_pad, ifft2c, rss
from kspacekit.physics.masks import effective_acceleration, file_seed
from kspacekit.physics.operators import apply_mask, sense_expand
from kspacekit.pipeline.reconstruct import Undersampling

BASELINE = "zero-filled"
DEFAULT_METHODS = ("zero-filled", "sense", "grappa", "tv", "wavelet", "unet", "varnet")
"""What the demo and ``kspacekit benchmark`` run by default (those of them that are registered)."""
REFERENCE = "target"
"""Label of the target's own data-consistency residual (the floor)."""
NOISE_FLOOR = "noise floor"
"""Label of the residual that the measurement noise alone leaves, for volumes without a target."""
CENTER_FRACTION_AT_1X = 0.32
"""Default centre fraction = this / acceleration: fastMRI's 0.08 at 4x and 0.04 at 8x."""
METRICS = ("ssim", "psnr", "nmse", "dc_residual")


def default_methods() -> tuple[str, ...]:
    """The registered ones among :data:`DEFAULT_METHODS`."""
    return tuple(m for m in DEFAULT_METHODS if m in available_methods())


def default_center_fraction(acceleration: float) -> float:
    """fastMRI's pairing of centre fraction and acceleration (8 % at 4x, 4 % at 8x), extended as 0.32 / R."""
    return CENTER_FRACTION_AT_1X / acceleration


@dataclass(frozen=True)
class BenchmarkConfig:
    """What to run: methods (zero-filled is always added first, as the baseline), accelerations,
    mask kind, centre fraction (None: :func:`default_center_fraction`), mask draws per volume,
    slices per batch and per-method options (e.g. ``{"unet": {"checkpoint": path}}``).
    ``undersampling_options``: the retrospective-undersampling options the user gave explicitly
    (e.g. ``("--mask",)``); a file that is already undersampled is then an error."""

    methods: tuple[str, ...]
    accelerations: tuple[float, ...]
    mask: str = "random"
    center_fraction: float | None = None
    seeds: int = 1
    batch_size: int | None = None  # None: kspacekit.data.fastmri.auto_batch_size
    method_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    undersampling_options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        methods = tuple(dict.fromkeys((BASELINE, *self.methods)))
        object.__setattr__(self, "methods", methods)
        unknown = [m for m in methods if m not in available_methods()]
        if unknown:
            raise KspaceKitError(f"unknown method {unknown[0]!r}; choose from {', '.join(available_methods())}")
        stray = sorted(set(self.method_options) - set(methods))
        if stray:
            raise KspaceKitError(f"options given for {stray[0]!r}, which is not among the methods benchmarked")
        if not self.accelerations:
            raise KspaceKitError("give at least one acceleration")
        if self.seeds < 1:
            raise KspaceKitError(f"--seeds must be at least 1, got {self.seeds}")
        if self.batch_size is not None and self.batch_size < 1:
            raise KspaceKitError(f"batch size must be at least 1, got {self.batch_size}")
        for acceleration in self.accelerations:
            self.undersampling(acceleration).spec()  # validates kind, acceleration, centre fraction

    def undersampling(self, acceleration: float, seed: int | tuple[int, ...] | None = None) -> Undersampling:
        fraction = default_center_fraction(acceleration) if self.center_fraction is None else self.center_fraction
        return Undersampling(self.mask, float(acceleration), fraction, seed)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Sampling:
    """One way a volume is undersampled: a drawn retrospective mask, or the file's own samples."""

    acceleration: float
    draw: int
    kspace_key: str
    mask_kind: str  # a mask kind ("random", ...), or "file" for the file's own samples
    center_fraction: float | None
    mask: Tensor | None  # retrospective mask (1, 1, 1|H, W); None: the file's own
    num_low_frequencies: int | None

    @property
    def label(self) -> str:
        return f"{self.acceleration:g}x/mask{self.draw}"


@dataclass
class BenchmarkVolume:
    """A validated input volume, where its target is, and how it will be undersampled."""

    info: VolumeInfo
    target_path: Path | None  # None: no reference exists (undersampled data without target)
    target_key: str | None
    samplings: list[Sampling]

    def read_target(self) -> np.ndarray | None:
        """The target volume (None when there is none); one without a positive finite maximum
        cannot be scored (PSNR and SSIM take their data range from it)."""
        if self.target_path is None or self.target_key is None:
            return None
        try:
            with h5py.File(self.target_path, "r") as hf:
                target = np.asarray(hf[self.target_key], dtype=np.float32)
        except HDF5_READ_ERRORS as err:
            raise KspaceKitError(describe_read_error(err), self.target_path) from None
        if not np.isfinite(target).all():
            raise KspaceKitError(f"'{self.target_key}' contains NaN or Inf", self.target_path)
        if not target.max() > 0:
            raise KspaceKitError(f"'{self.target_key}' is all zero, so PSNR and SSIM are undefined", self.target_path)
        return target


@dataclass(frozen=True)
class Score:
    """One method on one volume at one acceleration and mask draw."""

    method: str
    acceleration: float
    draw: int
    file: str
    slices: int
    ssim: float | None  # None: no reference
    psnr: float | None
    nmse: float | None
    dc_residual: float | None
    seconds: float
    reconstruction: str  # path of the submission file, relative to the output folder
    steps: float | None = None  # mean fitting steps per slice, for methods that fit per slice (``last_steps``)

    @property
    def seconds_per_slice(self) -> float:
        return self.seconds / self.slices


@dataclass(frozen=True)
class Residual:
    """The floor of the data-consistency residual for one volume and sampling: the target's own
    residual (``reference`` :data:`REFERENCE`), or, without a target, the residual the measurement
    noise alone leaves (:data:`NOISE_FLOOR`)."""

    acceleration: float
    draw: int
    file: str
    dc_residual: float | None
    reference: str = REFERENCE


@dataclass
class Example:
    """Images of one representative slice at one acceleration (draw 0), for the report's figures."""

    file: str
    slice_index: int
    target: np.ndarray | None  # (h, w); None: no reference
    data_range: float | None  # the target volume's max; None: no reference
    mask: np.ndarray  # (H, W) 0/1
    log_kspace: np.ndarray  # (H, W) log10 of the RSS of the measured samples (0 where unsampled)
    images: dict[str, np.ndarray] = field(default_factory=dict)  # method -> (h, w)


@dataclass(frozen=True)
class Summary:
    """Mean and sample standard deviation (None for one value) of each metric over volumes and draws."""

    method: str
    acceleration: float
    count: int
    mean: dict[str, float | None]
    std: dict[str, float | None]
    seconds_per_slice: float | None  # None for the target's residual floor
    steps: float | None = None  # mean of the scores' steps per slice; None: the method reported none


@dataclass
class BenchmarkResult:
    """Everything a benchmark produced, ready for :mod:`kspacekit.evaluation.report`."""

    config: BenchmarkConfig
    dataset: dict[str, Any]
    scores: list[Score] = field(default_factory=list)
    residuals: list[Residual] = field(default_factory=list)
    unavailable: dict[tuple[str, float], str] = field(default_factory=dict)  # (method, acceleration) -> why
    examples: dict[float, Example] = field(default_factory=dict)
    sampling: dict[float, str] = field(default_factory=dict)  # acceleration -> how it was undersampled
    notes: list[str] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)

    @property
    def accelerations(self) -> list[float]:
        return sorted({s.acceleration for s in self.scores} | set(self.examples))

    @property
    def methods(self) -> list[str]:
        """Methods in the configured order, those without any score (unavailable) included."""
        return list(self.config.methods)

    def summaries(self) -> list[Summary]:
        """One summary per (acceleration, method) that has scores, plus the target's residual floor."""
        result = []
        for acceleration in self.accelerations:
            for method in self.methods:
                scores = [s for s in self.scores if (s.method, s.acceleration) == (method, acceleration)]
                if scores:
                    values = {name: [getattr(s, name) for s in scores] for name in METRICS}
                    seconds = sum(s.seconds for s in scores) / sum(s.slices for s in scores)
                    steps = [s.steps for s in scores if s.steps is not None]
                    mean_steps = sum(steps) / len(steps) if steps else None
                    result.append(Summary(method, acceleration, len(scores), *_mean_std(values), seconds, mean_steps))
            for reference in (REFERENCE, NOISE_FLOOR):
                floor = [r.dc_residual for r in self.residuals if (r.acceleration, r.reference) == (acceleration, reference)]
                if floor:
                    mean, std = _mean_std({"dc_residual": floor})
                    result.append(Summary(reference, acceleration, len(floor), mean, std, None))
        return result

    @property
    def has_reference(self) -> bool:
        """Whether any score was computed against a target (False: no reference exists)."""
        return any(s.ssim is not None for s in self.scores) or any(r.reference == REFERENCE for r in self.residuals)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of settings, dataset, summaries, per-volume scores and unavailable methods."""
        config = asdict(self.config)
        config["method_options"] = {m: {k: str(v) for k, v in o.items()} for m, o in self.config.method_options.items()}
        return {
            "settings": config,
            "dataset": self.dataset,
            "sampling": {f"{a:g}": text for a, text in self.sampling.items()},
            "environment": self.environment,
            "summary": [asdict(s) for s in self.summaries()],
            "volumes": [{**asdict(s), "seconds_per_slice": s.seconds_per_slice} for s in self.scores],
            "target_residuals": [asdict(r) for r in self.residuals],
            "unavailable": [
                {"method": m, "acceleration": a, "reason": reason} for (m, a), reason in self.unavailable.items()
            ],
            "notes": self.notes,
        }


def _mean_std(values: dict[str, list[float | None]]) -> tuple[dict[str, float | None], dict[str, float | None]]:
    mean: dict[str, float | None] = {}
    std: dict[str, float | None] = {}
    for name, column in values.items():
        known = np.array([v for v in column if v is not None], dtype=np.float64)
        mean[name] = float(known.mean()) if known.size else None
        std[name] = float(known.std(ddof=1)) if known.size > 1 else None
    return mean, std


# ---------------------------------------------------------------------------------------------
# Planning: inspect every file and its target before any reconstruction.


def _target_location(info: VolumeInfo, targets_dir: Path | None) -> tuple[Path | None, str | None]:
    """Where the target of a volume is: ``targets_dir/<name>`` when given, else the file itself;
    (None, None) for undersampled data without one (no reference exists)."""
    if targets_dir is None:
        if info.target_key is None:
            if info.own_sampling() is not None or info.kind == "course":
                return None, None
            raise KspaceKitError("has no target (reconstruction_rss/esc); give its folder with --targets", info.path)
        return info.path, info.target_key
    path = targets_dir / info.path.name
    if not path.is_file():
        raise KspaceKitError(f"no target file of the same name in {targets_dir}", info.path)
    try:
        with h5py.File(path, "r") as hf:
            preference = TARGET_KEYS if info.multicoil else TARGET_KEYS[::-1]
            key = next((k for k in preference if k in hf), None)
            if key is None:
                raise KspaceKitError(f"no target dataset ({', '.join(TARGET_KEYS)})", path)
            dataset = h5_dataset(hf, key, path)
            shape, dtype = dataset.shape, dataset.dtype
    except HDF5_READ_ERRORS as err:
        raise KspaceKitError(describe_read_error(err), path) from None
    if len(shape) != 3 or shape[0] != info.num_slices or not is_real_number(dtype):
        raise KspaceKitError(f"target must be real (slices, h, w) with {info.num_slices} slices, got {dtype} {shape}", path)
    return path, key


def own_acceleration(info: VolumeInfo) -> float:
    """The acceleration of a file's own sampling of ``kspace``: its ``acceleration`` attribute, else
    points per sample of its stored mask or of the middle slice's measured samples."""
    if "acceleration" in info.attrs:
        return float(info.attrs["acceleration"])
    mask = read_slice(info, info.num_slices // 2).kspace_mask
    return effective_acceleration(mask, info.kspace_shape)


def _samplings(info: VolumeInfo, config: BenchmarkConfig) -> list[Sampling]:
    """The undersamplings of one volume that the configuration asks for: retrospective masks of
    fully sampled data at each acceleration; a file's own sampling at its own acceleration
    (course files: those of their keys among the accelerations asked for)."""
    if info.kind == "course":
        keys = {float(k.split("_")[1][:-2]): k for k in info.kspace_keys if k != "kspace"}
        return [Sampling(a, 0, key, "file", None, None, None) for a, key in sorted(keys.items()) if a in config.accelerations]
    if info.own_sampling() is not None:
        if config.undersampling_options:
            raise KspaceKitError(
                f"already undersampled (sampling from {info.own_sampling()}); {'/'.join(config.undersampling_options)} "
                "apply to fully sampled files only",
                info.path,
            )
        return [Sampling(round(own_acceleration(info), 2), 0, "kspace", "file", None, None, None)]
    result = []
    for acceleration in config.accelerations:
        for draw in range(config.seeds):
            seed = None if draw == 0 else (*file_seed(info.path.name), draw)
            undersampling = config.undersampling(acceleration, seed)
            mask, num_low = undersampling.mask_for(info)
            mask = mask.reshape((1,) * (4 - mask.ndim) + tuple(mask.shape))
            result.append(Sampling(
                float(acceleration), draw, "kspace", config.mask, undersampling.center_fraction, mask, num_low
            ))
    return result


def plan_benchmark(data: Path, config: BenchmarkConfig, targets_dir: Path | None = None) -> list[BenchmarkVolume]:
    """Inspect every volume, find its target and plan its undersamplings; raise on any bad file."""
    if targets_dir is not None and not targets_dir.is_dir():
        raise KspaceKitError("targets folder not found", targets_dir)
    volumes = []
    for path in h5_files(data):
        info = inspect_volume(path)
        target_path, target_key = _target_location(info, targets_dir)
        samplings = _samplings(info, config)
        if samplings:
            volumes.append(BenchmarkVolume(info, target_path, target_key, samplings))
    if not volumes:
        asked = ", ".join(f"{a:g}" for a in config.accelerations)
        raise KspaceKitError(f"no volume can be undersampled at the accelerations asked for ({asked})", data)
    return volumes


def describe_dataset(volumes: Sequence[BenchmarkVolume], data: Path) -> dict[str, Any]:
    """What the report says about the data, including whether it was simulated."""
    infos = [v.info for v in volumes]
    simulated = [i.path.name for i in infos if "simulated_by" in i.attrs]
    return {
        "path": str(data),
        "volumes": len(infos),
        "slices": sum(i.num_slices for i in infos),
        "coils": sorted({i.num_coils for i in infos}),
        "kspace_sizes": sorted({f"{i.kspace_shape[-2]}x{i.kspace_shape[-1]}" for i in infos}),
        "target_sizes": sorted({f"{i.target_size[0]}x{i.target_size[1]}" for i in infos}),
        "acquisitions": sorted({str(i.attrs.get("acquisition", "unknown")) for i in infos}),
        "kinds": sorted({i.kind for i in infos}),
        "reference": "none (no target)" if all(v.target_path is None for v in volumes)
        else "some volumes" if any(v.target_path is None for v in volumes) else "target",
        "simulated": len(simulated) == len(infos),
        "simulated_files": simulated,
        "files": [i.path.name for i in infos],
    }


def describe_sampling(volumes: Sequence[BenchmarkVolume], config: BenchmarkConfig) -> dict[float, str]:
    """One line per acceleration: mask kind, centre fraction and draws, or the files' own masks."""
    kinds: dict[float, set[tuple[str, float | None]]] = {}
    for volume in volumes:
        for sampling in volume.samplings:
            kinds.setdefault(sampling.acceleration, set()).add((sampling.mask_kind, sampling.center_fraction))
    draws = "fastMRI's per-file seed" if config.seeds == 1 else f"{config.seeds} draws per volume (the first with fastMRI's per-file seed)"
    lines = {}
    for acceleration, used in sorted(kinds.items()):
        parts = [
            "the files' own masks" if kind == "file" else f"{kind} mask, {100 * fraction:.3g} % centre lines, {draws}"
            for kind, fraction in sorted(used, key=str)
        ]
        lines[acceleration] = "; ".join(parts)
    return lines


# ---------------------------------------------------------------------------------------------
# Running.


def _centred_window(size: int, centre: int, half_width: int, device: torch.device) -> Tensor:
    """A Hann window over ``centre ± half_width``, exactly symmetric about ``centre``."""
    offset = torch.arange(size, device=device, dtype=torch.float32) - centre
    window = torch.cos(math.pi * offset / (2 * (half_width + 1))) ** 2
    return torch.where(offset.abs() <= half_width, window, torch.zeros_like(window))


def lowres_phase(measured: Tensor, mask: Tensor, maps: Tensor) -> Tensor:
    """Phase (B, 1, H, W) of the maps-combined low-resolution image of the calibration region.

    The window is symmetric about the k-space centre (index H // 2, W // 2), so a real object
    gives a real low-resolution image: an off-centre window would add a phase ramp.
    """
    height, width = measured.shape[-2:]
    rows, cols = calibration_region(mask, (height, width))
    half_rows = min(height // 2 - rows.start, rows.stop - 1 - height // 2)
    half_cols = min(width // 2 - cols.start, cols.stop - 1 - width // 2)
    window = torch.outer(
        _centred_window(height, height // 2, half_rows, measured.device),
        _centred_window(width, width // 2, half_cols, measured.device),
    )
    low = ifft2c(measured * window)
    return torch.sgn((maps.conj() * low).sum(1, keepdim=True))


def consistency_model(measured: Tensor, mask: Tensor) -> Tensor:
    """``S e^{i phi}`` (B, C, H, W): ESPIRiT maps times the phase of the low-resolution image, from
    the measured samples only, so that ``S e^{i phi} |x|`` models the coil images of a magnitude image."""
    maps = estimate_maps(measured, mask, "espirit")
    return maps * lowres_phase(measured, mask, maps)


def consistency_terms(images: Tensor, measured: Tensor, mask: Tensor, maps: Tensor) -> tuple[Tensor, Tensor]:
    """(||M F (S x) - y||^2, ||y||^2) per slice for magnitude images x (B, h, w), zero-padded to
    k-space size; ``maps`` from :func:`consistency_model`."""
    image = crop_or_pad(images.to(measured.device), measured.shape[-2:]).to(measured.dtype)
    residual = apply_mask(sense_expand(image, maps), mask) - measured
    return residual.abs().square().flatten(1).sum(1).double(), measured.abs().square().flatten(1).sum(1).double()


def noise_floor_terms(measured: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """(expected ||noise||^2 over the measured samples, ||y||^2) per slice: the residual a
    reconstruction that explains the signal exactly would still leave, the noise standard
    deviation estimated from the outermost measured k-space
    (:func:`kspacekit.optim.regularization.noise_std`)."""
    sigma = noise_std(measured, mask).double()
    count = ((mask != 0).broadcast_to(measured.shape) & (measured != 0)).flatten(1).sum(1).double()
    return sigma.square() * count, measured.abs().square().flatten(1).sum(1).double()


@dataclass
class _Accumulator:
    """Slices and data-consistency sums of one (method, sampling) of the current volume."""

    images: list[np.ndarray] = field(default_factory=list)
    seconds: float = 0.0
    steps: list[int] = field(default_factory=list)  # per slice, from a method's ``last_steps``
    residual_sq: float = 0.0
    measured_sq: float = 0.0
    consistent: bool = True

    def add_consistency(self, terms: tuple[Tensor, Tensor] | None) -> None:
        if terms is None:
            self.consistent = False
        else:
            self.residual_sq += terms[0].sum().item()
            self.measured_sq += terms[1].sum().item()

    @property
    def mean_steps(self) -> float | None:
        return sum(self.steps) / len(self.steps) if self.steps else None

    @property
    def dc_residual(self) -> float | None:
        if not self.consistent or self.measured_sq == 0:
            return None
        return math.sqrt(self.residual_sq / self.measured_sq)


def _make_methods(config: BenchmarkConfig, unavailable: dict[tuple[str, float], str]) -> dict[str, ReconstructionMethod]:
    """Instantiate the methods. One that cannot be created with its defaults (e.g. no shipped
    weights) is unavailable; one the user gave options for (e.g. a checkpoint) must work."""
    methods = {}
    for name in config.methods:
        options = config.method_options.get(name, {})
        try:
            methods[name] = create_method(name, **options)
        except KspaceKitError as err:
            if options:
                raise
            unavailable.update({(name, float(acc)): err.message for acc in config.accelerations})
    return methods


def _environment(device: torch.device) -> dict[str, Any]:
    import kspacekit

    return {
        "kspacekit": kspacekit.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "cpu_threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def run_benchmark(
    volumes: Sequence[BenchmarkVolume],
    config: BenchmarkConfig,
    output_dir: Path,
    *,
    dataset: dict[str, Any] | None = None,
    device: torch.device = torch.device("cpu"),
    on_slices: Callable[[str, int], None] = lambda method, n: None,
) -> BenchmarkResult:
    """Reconstruct every planned volume with every method; write ``output_dir/reconstructions/...``.

    A method that cannot run at an acceleration (no weights, too few centre lines for its coil
    maps: :class:`KspaceKitError`), or fails there, is recorded in ``unavailable`` for that
    acceleration with the reason; its scores and files at that acceleration are dropped (a mean
    over the volumes it happened to manage would mislead) and the other methods go on.
    ``on_slices(method, n)`` reports progress.
    """
    result = BenchmarkResult(config, dataset or {}, environment=_environment(device))
    result.sampling = describe_sampling(volumes, config)
    methods = _make_methods(config, result.unavailable)
    for volume in volumes:
        _run_volume(volume, methods, config, output_dir, device, result, on_slices)
    result.scores = [s for s in result.scores if (s.method, s.acceleration) not in result.unavailable]
    for method, acceleration in result.unavailable:
        shutil.rmtree(output_dir / "reconstructions" / method / f"{acceleration:g}x", ignore_errors=True)
        if acceleration in result.examples:
            result.examples[acceleration].images.pop(method, None)
    return result


def _measured(batch_kspace: Tensor, batch_mask: Tensor | None, sampling: Sampling) -> tuple[Tensor, Tensor, int | None]:
    """(masked k-space, mask (B|1, 1, 1|H, W), num_low_frequencies) of one batch under one sampling;
    ``batch_mask`` is the file's own (:attr:`kspacekit.data.fastmri.VolumeBatch.kspace_mask`)."""
    if sampling.mask is not None:
        mask = sampling.mask.to(batch_kspace.device)
        return batch_kspace * mask, mask, sampling.num_low_frequencies
    if batch_mask is None:
        raise KspaceKitError(f"'{sampling.kspace_key}' has no mask")
    mask = batch_mask.to(batch_kspace.device)
    return batch_kspace * mask, mask, None


def _run_volume(
    volume: BenchmarkVolume,
    methods: dict[str, ReconstructionMethod],
    config: BenchmarkConfig,
    output_dir: Path,
    device: torch.device,
    result: BenchmarkResult,
    on_slices: Callable[[str, int], None],
) -> None:
    """Reconstruct one volume under each of its samplings with every method; the middle slice of the
    first volume at each acceleration (first draw) becomes that acceleration's example."""
    info = volume.info
    target = volume.read_target()
    target_size = info.target_size if target is None else (target.shape[1], target.shape[2])
    example_slice = info.num_slices // 2
    runs = {(name, i): _Accumulator() for name in methods for i in range(len(volume.samplings))}
    floors = {i: _Accumulator() for i in range(len(volume.samplings))}
    for i, sampling in enumerate(volume.samplings):
        for batch in iter_volume_batches(info, config.batch_size, sampling.kspace_key):
            kspace = batch.kspace.to(device)
            measured, mask, num_low = _measured(kspace, batch.kspace_mask, sampling)
            num_low = num_low if num_low is not None else batch.num_low_frequencies
            meta = replace(
                ReconMeta.from_mask(mask, tuple(kspace.shape), target_size),
                num_low_frequencies=num_low,
                acceleration=sampling.acceleration,
            )
            try:
                maps = consistency_model(measured, mask)
            except KspaceKitError as err:
                maps = None
                note = f"{info.path.name} {sampling.label}: no data-consistency residual ({err.message})"
                if note not in result.notes:
                    result.notes.append(note)
            if target is None:
                floors[i].add_consistency(noise_floor_terms(measured, mask))
            else:
                target_batch = torch.from_numpy(target[batch.slice_indices])
                floors[i].add_consistency(None if maps is None else consistency_terms(target_batch, measured, mask, maps))
            capture = (
                sampling.draw == 0 and example_slice in batch.slice_indices
                and sampling.acceleration not in result.examples
            )
            if capture:
                row = batch.slice_indices.index(example_slice)
                result.examples[sampling.acceleration] = _example(info, target, example_slice, measured[row], mask)
            for name in methods:
                if (name, sampling.acceleration) in result.unavailable:
                    continue
                run = runs[(name, i)]
                try:
                    start = time.perf_counter()
                    images = methods[name](measured, mask, meta)
                    if images.device.type == "cuda":
                        torch.cuda.synchronize(images.device)
                    run.seconds += time.perf_counter() - start
                except KspaceKitError as err:
                    result.unavailable[(name, sampling.acceleration)] = err.message
                    continue
                except Exception as err:  # a crashing method must not take the others' results with it
                    result.unavailable[(name, sampling.acceleration)] = f"failed: {type(err).__name__}: {err}"
                    continue
                run.images.append(images.float().cpu().numpy())
                run.steps.extend(methods[name].last_steps)
                run.add_consistency(None if maps is None else consistency_terms(images, measured, mask, maps))
                if capture:
                    result.examples[sampling.acceleration].images[name] = run.images[-1][row]
                on_slices(name, len(batch.slice_indices))
    for i, sampling in enumerate(volume.samplings):
        reference = REFERENCE if target is not None else NOISE_FLOOR
        result.residuals.append(Residual(sampling.acceleration, sampling.draw, info.path.name, floors[i].dc_residual, reference))
        for name in methods:
            if (name, sampling.acceleration) not in result.unavailable:
                result.scores.append(_score(name, sampling, volume, target, runs[(name, i)], output_dir))


def _score(
    name: str, sampling: Sampling, volume: BenchmarkVolume, target: np.ndarray | None, run: _Accumulator, output_dir: Path
) -> Score:
    reconstruction = np.concatenate(run.images)
    folder = output_dir / "reconstructions" / name / f"{sampling.acceleration:g}x" / f"mask{sampling.draw}"
    attrs: dict[str, Any] = {
        "method": name, "acceleration": sampling.acceleration, "mask": sampling.mask_kind, "mask_draw": sampling.draw
    }
    if sampling.center_fraction is not None:
        attrs["center_fraction"] = sampling.center_fraction
    path = write_submission(folder, volume.info.path.name, reconstruction, attrs=attrs, header=volume.info.header_xml)
    metrics = None
    if target is not None:
        metrics = volume_metrics(evaluation_crop(torch.from_numpy(target)), evaluation_crop(torch.from_numpy(reconstruction)))
    return Score(
        method=name,
        acceleration=sampling.acceleration,
        draw=sampling.draw,
        file=volume.info.path.name,
        slices=len(reconstruction),
        ssim=None if metrics is None else metrics.ssim,
        psnr=None if metrics is None else metrics.psnr,
        nmse=None if metrics is None else metrics.nmse,
        dc_residual=run.dc_residual,
        seconds=run.seconds,
        reconstruction=path.relative_to(output_dir).as_posix(),
        steps=run.mean_steps,
    )


def _example(info: VolumeInfo, target: np.ndarray | None, index: int, measured: Tensor, mask: Tensor) -> Example:
    plane = torch.broadcast_to(mask[0, 0] if mask.ndim == 4 else mask, measured.shape[-2:]).float().cpu()
    magnitude = rss(measured, dim=0).cpu()
    positive = magnitude[magnitude > 0]
    floor = positive.min() if positive.numel() else torch.tensor(1.0)
    log_kspace = torch.where(magnitude > 0, torch.log10(magnitude / floor), torch.zeros_like(magnitude))
    return Example(
        file=info.path.name,
        slice_index=index,
        target=None if target is None else target[index],
        data_range=None if target is None else float(target.max()),
        mask=plane.numpy(),
        log_kspace=log_kspace.numpy(),
    )


def example_ssim(example: Example, image: np.ndarray) -> float | None:
    """SSIM of the example slice (fastMRI crop, the target volume's max as data range); None without target."""
    if example.target is None:
        return None
    target = evaluation_crop(torch.from_numpy(example.target[None]))
    prediction = evaluation_crop(torch.from_numpy(image[None]))
    return ssim(target, prediction, data_range=example.data_range)
