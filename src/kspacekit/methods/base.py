"""The one interface every reconstruction method implements, classical and learned alike.

A method takes masked k-space, the mask and a little metadata for a batch of slices and returns
magnitude images at the target size. The CLI, evaluation, reports and exports only ever see
this interface, so they treat every method alike.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from kspacekit.errors import KspaceKitError


@dataclass(frozen=True)
class ReconMeta:
    """What a method may know about a batch besides its samples.

    ``target_size``: (h, w) of the output image (the fastMRI reconstruction size).
    ``num_low_frequencies``: fully sampled centre lines of a 1-D mask, or None if unknown/2-D.
    ``acceleration``: nominal acceleration of the mask, or None if unknown.
    """

    target_size: tuple[int, int]
    num_low_frequencies: int | None = None
    acceleration: float | None = None


class ReconstructionMethod(ABC):
    """Masked k-space (B, C, H, W) complex + mask (broadcastable, 0/1) + meta -> image (B, h, w).

    Single-coil data has C == 1. Implementations must not modify their inputs and must work on
    whatever device the inputs are on.
    """

    name: ClassVar[str]

    @abstractmethod
    def reconstruct(self, kspace: Tensor, mask: Tensor, meta: ReconMeta) -> Tensor:
        """Return float32 magnitude images (B, h, w) with (h, w) == meta.target_size."""

    def __call__(self, kspace: Tensor, mask: Tensor, meta: ReconMeta) -> Tensor:
        check_inputs(kspace, mask)
        with torch.no_grad():
            return self.reconstruct(kspace, mask, meta)


def check_inputs(kspace: Tensor, mask: Tensor) -> None:
    """Reject inputs no method can use, with messages the CLI can show as they are."""
    if kspace.ndim != 4:
        raise KspaceKitError(f"k-space must be (batch, coils, H, W), got shape {tuple(kspace.shape)}")
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
