"""CG-SENSE: min_x ||A x - y||^2 + lam ||x||^2 with A = M F S, solved by conjugate gradients.

Coil maps come from the fully sampled centre of the undersampled data (:mod:`kspacekit.physics.coils`);
for single-coil data they are ones, so the same code reconstructs both. The Tikhonov weight
is automatic (:func:`kspacekit.optim.regularization.auto_tikhonov`) unless ``lam`` is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from kspacekit.errors import KspaceKitError
from kspacekit.methods.base import ReconMeta, ReconstructionMethod, register
from kspacekit.optim.regularization import auto_tikhonov, check_lambda
from kspacekit.optim.solvers import conjugate_gradient
from kspacekit.physics.coils import estimate_maps
from kspacekit.physics.fft import crop_or_pad, fft2c, ifft2c, rss
from kspacekit.physics.operators import SenseOperator, sense_normal


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
        sampled = mask.to(kspace.real.dtype)
        model = fft2c(problem.maps * image.unsqueeze(1))
        magnitude = rss(ifft2c(sampled * kspace + (1 - sampled) * model), dim=1)
    else:
        magnitude = image.abs()
    return crop_or_pad(magnitude, meta.target_size).float().nan_to_num(0.0, 0.0, 0.0)


class SenseModelMethod(ReconstructionMethod):
    """Options shared by the methods that solve the SENSE model (sense, tv, wavelet).

    ``lam``: regularisation weight (None: automatic); ``iterations``/``tol``: solver limits
    (class defaults when None); ``maps``: coil-map estimator (:func:`kspacekit.physics.coils.estimate_maps`);
    ``data_consistent``: see :func:`magnitude_output`.
    """

    default_iterations: ClassVar[int]
    default_tol: ClassVar[float]
    default_maps: ClassVar[str]

    def __init__(
        self,
        lam: float | None = None,
        iterations: int | None = None,
        tol: float | None = None,
        maps: str | None = None,
        data_consistent: bool = True,
    ) -> None:
        self.lam = check_lambda(lam)
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
    object (simulated 8-coil 4x problem of tests/test_methods_common.py: 21.9 dB with lowres
    maps, below zero-filled's 22.0 dB; 26.6 dB with ESPIRiT).
    """

    default_iterations = 30
    default_tol = 1e-5
    default_maps = "espirit"

    def reconstruct(self, kspace: Tensor, mask: Tensor, meta: ReconMeta) -> Tensor:
        problem = sense_problem(kspace, mask, self.maps)
        if self.lam is None:
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
