"""The one interface every reconstruction method implements, classical and learned alike.

A method takes masked k-space, the mask and a little metadata for a batch of slices and returns
magnitude images at the target size. The CLI, evaluation, reports and exports only ever see
this interface, so they treat every method alike.
"""

from __future__ import annotations

import contextlib
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from kspacekit.errors import KspaceKitError
from kspacekit.physics.coils import calibration_region
from kspacekit.physics.masks import count_center_lines, effective_acceleration


@dataclass(frozen=True)
class ReconMeta:
    """What a method may know about a batch besides its samples.

    ``target_size``: (h, w) of the output image (the fastMRI reconstruction size).
    ``num_low_frequencies``: fully sampled centre lines of a 1-D mask, or None if unknown/2-D.
    ``acceleration``: nominal acceleration of a line mask, the effective one (points per sample)
    of a 2-D pattern, or None if unknown.
    ``calibration_size``: (rows, columns) of the fully sampled centre region that coil maps and
    kernels calibrate from (all rows for a line mask), or None if unknown or the centre is unsampled.
    ``line_mask``: whether the samples are whole columns (a line mask), what ``grappa`` needs;
    None if unknown.
    """

    target_size: tuple[int, int]
    num_low_frequencies: int | None = None
    acceleration: float | None = None
    calibration_size: tuple[int, int] | None = None
    line_mask: bool | None = None

    @classmethod
    def from_mask(cls, mask: Tensor, kspace_shape: tuple[int, ...], target_size: tuple[int, int] | None = None) -> ReconMeta:
        """What the mask itself tells: the centre-line run of a line mask (a (..., 1, W) mask), the
        calibration region, the effective acceleration and whether it is a line mask; the target
        size is the k-space size unless given."""
        height, width = kspace_shape[-2:]
        lines = mask.shape[-2] == 1
        num_low = count_center_lines(mask.reshape(-1, mask.shape[-1])[0].cpu()) if lines else None
        region = None
        with contextlib.suppress(KspaceKitError, RuntimeError):  # centre unsampled, shapes that do not fit
            rows, columns = calibration_region(mask.reshape((1,) * (4 - mask.ndim) + tuple(mask.shape)), (height, width))
            region = (rows.stop - rows.start, columns.stop - columns.start)
        return cls(
            target_size=(height, width) if target_size is None else target_size,
            num_low_frequencies=num_low,
            acceleration=effective_acceleration(mask.cpu(), kspace_shape),
            calibration_size=region,
            line_mask=lines or bool((mask.amin(-2) == mask.amax(-2)).all()),
        )


class ReconstructionMethod(ABC):
    """Masked k-space (B, C, H, W) complex + mask (broadcastable, 0/1) + meta -> image (B, h, w).

    Single-coil data has C == 1. Implementations must not modify their inputs and must work on
    whatever device the inputs are on.
    """

    name: ClassVar[str]
    last_steps: Sequence[int] = ()
    """Fitting steps each slice of the last batch took, for methods that fit per slice (e.g.
    ``scan-learned``); empty for the others. Reports show it beside the time it cost."""

    @abstractmethod
    def reconstruct(self, kspace: Tensor, mask: Tensor, meta: ReconMeta) -> Tensor:
        """Return float32 magnitude images (B, h, w) with (h, w) == meta.target_size."""

    def provenance(self, meta: ReconMeta) -> dict[str, str]:
        """What an output file must record to say how it was made, beyond the method's name and
        the sampling (learned methods: the weights used for a batch like ``meta``); nothing here."""
        return {}

    def __call__(self, kspace: Tensor | np.ndarray, mask: Tensor | np.ndarray, meta: ReconMeta | None = None) -> Tensor | np.ndarray:
        """Reconstruct a batch (B, C, H, W) or one slice (C, H, W), torch or NumPy.

        The mask may also be a line mask (W,) or a 2-D pattern (H, W); ``meta`` defaults to what
        the mask tells (:meth:`ReconMeta.from_mask`). One slice gives one image (h, w); NumPy
        input gives NumPy output.
        """
        numpy_input = isinstance(kspace, np.ndarray)
        kspace = torch.from_numpy(kspace.astype(np.complex64, copy=False)) if numpy_input else kspace
        mask = torch.as_tensor(mask)
        one_slice = kspace.ndim == 3
        if one_slice:
            kspace = kspace.unsqueeze(0)
        if mask.ndim in (1, 2) or (one_slice and mask.ndim == 3):
            mask = mask.reshape((1,) * (4 - mask.ndim) + tuple(mask.shape))
        check_inputs(kspace, mask)
        meta = ReconMeta.from_mask(mask, tuple(kspace.shape)) if meta is None else meta
        with torch.no_grad():
            images = self.reconstruct(kspace, mask, meta)
        images = images[0] if one_slice else images
        return images.cpu().numpy() if numpy_input else images


def check_inputs(kspace: Tensor, mask: Tensor) -> None:
    """Reject inputs no method can use, with messages the CLI can show as they are."""
    if kspace.ndim != 4:
        raise KspaceKitError(f"k-space must be (coils, H, W) or (batch, coils, H, W), got shape {tuple(kspace.shape)}")
    if not kspace.is_complex():
        raise KspaceKitError("k-space must be complex")
    if not torch.isfinite(torch.view_as_real(kspace)).all():
        raise KspaceKitError("k-space contains NaN or Inf")
    try:
        torch.broadcast_shapes(mask.shape, kspace.shape)
    except RuntimeError:
        raise KspaceKitError(
            f"mask shape {tuple(mask.shape)} does not match k-space shape {tuple(kspace.shape)}"
        ) from None


_REGISTRY: dict[str, Callable[..., ReconstructionMethod]] = {}


def register(name: str) -> Callable[[type[ReconstructionMethod]], type[ReconstructionMethod]]:
    """Class decorator: make a method available by name to the CLI and to :func:`create_method`."""

    def add(cls: type[ReconstructionMethod]) -> type[ReconstructionMethod]:
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return add


def available_methods() -> list[str]:
    """Names of all registered methods."""
    return sorted(_REGISTRY)


def create_method(name: str, **options: object) -> ReconstructionMethod:
    """Instantiate a registered method with its options (e.g. ``lam=0.01``); an unknown name or
    an option the method does not take is a :class:`KspaceKitError` (checked against the
    constructor's signature, so a TypeError raised inside a constructor is never mistaken for one)."""
    if name not in _REGISTRY:
        raise KspaceKitError(f"unknown method {name!r}; choose from {', '.join(available_methods())}")
    factory = _REGISTRY[name]
    accepted = _option_names(factory)
    unexpected = [key for key in options if key not in accepted]
    if unexpected:
        takes = ", ".join(accepted) if accepted else "no options"
        raise KspaceKitError(f"method {name!r} does not take {', '.join(unexpected)} (it takes {takes})")
    return factory(**options)


def _option_names(factory: Callable[..., ReconstructionMethod]) -> list[str]:
    """The keyword options a method's constructor takes, following ``**kwargs`` up the class
    hierarchy (e.g. wavelet passes its own on to the compressed-sensing base; object takes none)."""
    names: list[str] = []
    if isinstance(factory, type):
        owners = [c for c in factory.__mro__ if "__init__" in vars(c) and c is not object]
    else:
        owners = [factory]
    for owner in owners:
        parameters = inspect.signature(owner.__init__ if isinstance(owner, type) else owner).parameters
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        names += [n for n, p in parameters.items() if p.kind in kinds and n != "self" and n not in names]
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            break
    return names
