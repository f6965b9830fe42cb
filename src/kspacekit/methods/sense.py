"""CG-SENSE: min_x ||A x - y||^2 + lam ||x||^2 with A = M F S, solved by conjugate gradients.

Coil maps come from the fully sampled centre of the undersampled data (:mod:`kspacekit.physics.coils`);
for single-coil data they are ones, so the same code reconstructs both. The Tikhonov weight
is automatic (:func:`kspacekit.optim.regularization.auto_tikhonov`) unless ``lam`` is given.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from kspacekit.errors import KspaceKitError
from kspacekit.methods.base import ReconMeta, ReconstructionMethod, register
from kspacekit.optim.regularization import auto_tikhonov, check_lambda
from kspacekit.optim.solvers import conjugate_gradient
from kspacekit.physics.coils import estimate_maps, lowres_maps
from kspacekit.physics.fft import crop_or_pad, fft2c, ifft2c, rss
from kspacekit.physics.operators import SenseOperator, apply_mask, dot, sense_expand, sense_normal


@dataclass
class SenseProblem:
    """What every SENSE-model method needs: maps, A^H A and A^H y for one batch."""

    maps: Tensor
    normal: Callable[[Tensor], Tensor]
    adjoint_image: Tensor


def sense_problem(kspace: Tensor, mask: Tensor, maps_method: str) -> SenseProblem:
    """Estimate maps from the calibration region and set up the SENSE normal equations."""
    maps = estimate_maps(kspace, mask, maps_method)
    return SenseProblem(maps, sense_normal(maps, mask), SenseOperator(maps, mask).adjoint(kspace))


def magnitude_output(
    image: Tensor, problem: SenseProblem, kspace: Tensor, mask: Tensor, meta: ReconMeta, data_consistent: bool
) -> Tensor:
    """The output image at the target size, float32, never NaN.

    ``data_consistent``: RSS of the coil images whose k-space keeps the measured samples and
    takes the model's F S x only where nothing was measured; otherwise |x|.
    """
    if data_consistent:
        magnitude = measured_put_back(fft2c(problem.maps * image.unsqueeze(1)), kspace, mask)
    else:
        magnitude = image.abs()
    return crop_or_pad(magnitude, meta.target_size).float().nan_to_num(0.0, 0.0, 0.0)


def measured_put_back(coil_kspace: Tensor, kspace: Tensor, mask: Tensor) -> Tensor:
    """Hard data consistency: the RSS image (B, H, W) of ``coil_kspace`` (B, C, H, W) with every
    measured sample replaced by its measured value."""
    sampled = mask.to(kspace.real.dtype)
    return rss(ifft2c(sampled * kspace + (1 - sampled) * coil_kspace), dim=1)


def magnitude_coil_model(kspace: Tensor, mask: Tensor) -> Tensor:
    """``S e^{i phi}`` (B, C, H, W), from the measured samples only: ESPIRiT maps times the phase
    of the low-resolution (Hann-windowed calibration region) image they combine, so that
    ``F (S e^{i phi} m)`` models the coil k-space of a magnitude image ``m``."""
    maps = estimate_maps(kspace, mask, "espirit")
    return maps * torch.sgn((maps.conj() * lowres_maps(kspace, mask)).sum(1, keepdim=True))


@dataclass
class MagnitudeConsistency:
    """A magnitude image made consistent with the measured samples (:func:`consistent_magnitude`).

    ``image``: the result at the input's size; ``residual``: ``||M F S e^{i phi} a m - y|| / ||y||``
    of the input image ``m`` (after the scale fit ``a``); ``floor``: the same residual of the
    result, i.e. what the magnitude model and the noise leave even for an image that keeps every
    measured sample (B,) each."""

    image: Tensor
    residual: Tensor
    floor: Tensor


def consistent_magnitude(magnitude: Tensor, kspace: Tensor, mask: Tensor) -> MagnitudeConsistency:
    """Put the measured samples back into a magnitude image (B, h, w), e.g. a learned one.

    The image (outside its centred (h, w) crop: the zero-filled SENSE magnitude) is scaled by the
    per-slice least-squares factor ``a >= 0`` that best explains the measured samples, projected
    to coil k-space through :func:`magnitude_coil_model`, its measured samples replaced by the
    measured ones, and recombined (RSS), then cropped back to (h, w). Unmeasured k-space keeps
    the image's content; measured k-space is exactly what the zero-filled image shows.
    """
    coil_model = magnitude_coil_model(kspace, mask)
    operator = SenseOperator(coil_model, mask)
    size = tuple(kspace.shape[-2:])
    inside = crop_or_pad(torch.ones_like(magnitude), size)
    full = inside * crop_or_pad(magnitude, size) + (1 - inside) * operator.adjoint(kspace).abs()
    predicted = operator.forward(full.to(kspace.dtype))
    measured = apply_mask(kspace, mask)
    scale = (dot(predicted, measured).real / dot(predicted, predicted).real.clamp_min(1e-30)).clamp_min(0)
    scaled = scale.view(-1, 1, 1) * full
    image = measured_put_back(sense_expand(scaled.to(kspace.dtype), coil_model), kspace, mask)

    def residual(candidate: Tensor) -> Tensor:
        error = operator.forward(candidate.to(kspace.dtype)) - measured
        return (dot(error, error).real / dot(measured, measured).real.clamp_min(1e-30)).sqrt()

    return MagnitudeConsistency(crop_or_pad(image, tuple(magnitude.shape[-2:])), residual(scaled), residual(image))


DISAGREEMENT_FACTOR = 3.0
"""A learned output whose residual is this many times the floor of :class:`MagnitudeConsistency`
draws a warning (the benchmark's data-consistency residual measures the same disagreement)."""


def consistent_learned_output(output: Tensor, kspace: Tensor, mask: Tensor, target_size: tuple[int, int], name: str) -> Tensor:
    """A learned method's image (B, h, w) with the measured samples put back, never NaN.

    ``output``: the network's magnitude image (B, h, w), or its multi-coil k-space (B, C, H, W)
    for networks that predict one (varnet), whose measured samples are then replaced directly;
    a magnitude image goes through :func:`consistent_magnitude`. Warns when the network's
    own output disagrees with the measured samples far beyond what the magnitude model leaves.
    """
    if output.is_complex():
        magnitude = crop_or_pad(rss(ifft2c(output), dim=1), target_size)
        check = consistent_magnitude(magnitude, kspace, mask)
        image = crop_or_pad(measured_put_back(output, kspace, mask), target_size)
    else:
        check = consistent_magnitude(output, kspace, mask)
        image = check.image
    ratio = check.residual / check.floor.clamp_min(1e-12)
    if bool((ratio > DISAGREEMENT_FACTOR).any()):
        warnings.warn(
            f"{name}: the network's output disagrees with the measured samples (relative residual "
            f"{float(check.residual.max()):.2f}, {float(ratio.max()):.1f} times what an image that keeps them "
            "leaves); the measured samples were put back, but its unmeasured content is not to be trusted",
            stacklevel=2,
        )
    return image.float().nan_to_num(0.0, 0.0, 0.0)


class SenseModelMethod(ReconstructionMethod):
    """Options shared by the methods that solve the SENSE model (sense, tv, wavelet).

    ``lam``: regularisation weight, or a rule of ``lambda_rules`` ("auto"; tv and wavelet also
    "holdout"), None for the method's default rule; ``iterations``/``tol``: solver limits
    (class defaults when None); ``maps``: coil-map estimator (:func:`kspacekit.physics.coils.estimate_maps`);
    ``data_consistent``: see :func:`magnitude_output`.
    """

    default_iterations: ClassVar[int]
    default_tol: ClassVar[float]
    default_maps: ClassVar[str]
    lambda_rules: ClassVar[tuple[str, ...]] = ("auto",)

    def __init__(
        self,
        lam: float | str | None = None,
        iterations: int | None = None,
        tol: float | None = None,
        maps: str | None = None,
        data_consistent: bool = True,
    ) -> None:
        self.lam = check_lambda(lam, self.lambda_rules)
        self.iterations = self.default_iterations if iterations is None else int(iterations)
        self.tol = self.default_tol if tol is None else float(tol)
        if self.iterations < 1 or not self.tol >= 0:
            raise KspaceKitError(f"iterations must be >= 1 and tol >= 0, got {self.iterations} and {self.tol}")
        self.maps = self.default_maps if maps is None else maps
        self.data_consistent = data_consistent


@register("sense")
class Sense(SenseModelMethod):
    """CG-SENSE with Tikhonov regularisation. Options: lam, iterations, tol, maps, data_consistent.

    ESPIRiT maps by default: unlike the sparsity-regularised methods, plain SENSE has nothing
    to suppress the noise that the RSS-normalised low-resolution maps amplify outside the
    object: with low-resolution maps it can fall below zero-filled (BENCHMARKS.md, "Design
    measurements").
    """

    default_iterations = 30
    default_tol = 1e-5
    default_maps = "espirit"

    def reconstruct(self, kspace: Tensor, mask: Tensor, meta: ReconMeta) -> Tensor:
        problem = sense_problem(kspace, mask, self.maps)
        if self.lam is None or isinstance(self.lam, str):
            lam = auto_tikhonov(kspace, mask, problem.adjoint_image)
        else:
            lam = torch.full((kspace.shape[0],), self.lam, device=kspace.device)
        lam = lam.view(-1, 1, 1)

        def regularised_normal(x: Tensor) -> Tensor:
            return problem.normal(x) + lam * x

        image = conjugate_gradient(
            regularised_normal, problem.adjoint_image, iterations=self.iterations, tol=self.tol
        )
        return magnitude_output(image, problem, kspace, mask, meta, self.data_consistent)
