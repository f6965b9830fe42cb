"""Compressed sensing: min_x 0.5 ||A x - y||^2 + lam R(x), A = M F S (the SENSE model).

``tv``: R = isotropic total variation; ``wavelet``: R = ||Psi x||_1 + TV_SHARE * TV(x), Psi an
orthogonal Daubechies-4 transform from ptwt (4 levels, coarsest band unpenalised) with random
cycle spinning (a random circular shift of the wavelet grid per iteration, as BART does,
against blocking); the TV share controls the low frequencies the wavelet term leaves free.
Both are solved by the Condat-Vu primal-dual method (:func:`kspacekit.optim.solvers.primal_dual`: one
A^H A, one gradient and one divergence per iteration, the wavelet as a primal prox), batched
over slices, with steps set by L = max_pixel sum_c |S_c|^2 >= ||A^H A|| (no power
iteration), and stop when every slice's relative change falls below ``tol`` or after
``iterations`` (what that rule does in practice, and why the TV share: BENCHMARKS.md, "Stopping
rule and TV share of tv/wavelet"). Coil maps come from the undersampled data's calibration region
(ones for single-coil data). ``lam``: a number, "auto" (:func:`kspacekit.optim.regularization.auto_lambda`)
or "holdout" (:func:`kspacekit.optim.regularization.holdout_lambda`: the automatic value times
the factor, of a small grid, whose fit on part of the measured lines best predicts the held-out
lines; the final image uses every sample); None means ``DEFAULT_LAMBDA_RULE``. The output keeps the measured samples and
fills the others from the model (``data_consistent``, see
:func:`kspacekit.methods.sense.magnitude_output`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor

from kspacekit.methods.base import ReconMeta, register
from kspacekit.methods.sense import SenseModelMethod, magnitude_output, sense_problem
from kspacekit.optim.prox import (
    DIFFERENCE_NORM_SQ,
    WaveletTransform,
    finite_differences,
    finite_differences_adjoint,
    project_gradient_ball,
)
from kspacekit.optim.regularization import holdout_lambda, resolve_lambda
from kspacekit.optim.solvers import primal_dual
from kspacekit.physics.operators import SenseOperator, sense_expand, sense_normal

DEFAULT_LAMBDA_RULE = "auto"
"""What ``lam=None`` means for ``tv`` and ``wavelet``: "auto" (the rule of
:func:`kspacekit.optim.regularization.auto_lambda`) or "holdout" (chosen among multiples of it by
:func:`kspacekit.optim.regularization.holdout_lambda`). "auto" stays the default, chosen on
simulated data: the hold-out gains a few tenths of a dB in mean PSNR with SSIM unchanged, at about
five times the time, and not in every case (BENCHMARKS.md, "Lambda from the scan"); ``lam="holdout"``
asks for it."""

TV_SHARE = 0.5
"""``wavelet`` adds TV with weight TV_SHARE * lam. The L1-wavelet term leaves the coarse
approximation band free and barely shrinks the large coarse detail coefficients, so little
controls the unsampled low-frequency lines; TV penalises every scale (measured: BENCHMARKS.md)."""


def normal_bound(maps: Tensor, mask: Tensor) -> Tensor:
    """An upper bound (B,) of ||A^H A|| for A = M F S: max |mask|^2 times the largest sum_c |S_c|^2
    (F is unitary). Exact enough for the step size (maps have unit norm where there is signal,
    a sampled centre makes the bound nearly tight) and, unlike a power iteration, never below
    the true value and free."""
    coil_norm = maps.abs().square().sum(1).flatten(1).amax(1)
    return coil_norm * mask.abs().square().amax().to(coil_norm.dtype)


class _SparseSense(SenseModelMethod):
    """Shared set-up (maps, lam, step) and the primal-dual solve; subclasses set the TV weight
    (``tv_share`` * lam) and may add a primal prox."""

    regularizer: ClassVar[str]
    tv_share: ClassVar[float]
    default_iterations = 100
    default_tol = 1e-4
    default_maps = "espirit"
    lambda_rules = ("auto", "holdout")

    def primal_prox(self, lam: Tensor) -> Callable[[Tensor, Tensor], Tensor] | None:
        """prox(v, step) of step * lam * (the non-TV part of R), or None when R is TV only."""
        return None

    def reconstruct(self, kspace: Tensor, mask: Tensor, meta: ReconMeta) -> Tensor:
        problem = sense_problem(kspace, mask, self.maps)
        lam = resolve_lambda(self.lam, self.regularizer, kspace, mask, problem.adjoint_image)
        x0 = problem.adjoint_image
        if (self.lam or DEFAULT_LAMBDA_RULE) == "holdout":

            def fit(lam: Tensor, fit_mask: Tensor, start: Tensor) -> Tensor:
                return self.solve(problem.maps, kspace, fit_mask, lam, start)

            lam, x0 = holdout_lambda(fit, lambda x: sense_expand(x, problem.maps), kspace, mask, lam, x0)
        image = self.solve(problem.maps, kspace, mask, lam, x0)
        return magnitude_output(image, problem, kspace, mask, meta, self.data_consistent)

    def solve(self, maps: Tensor, kspace: Tensor, mask: Tensor, lam: Tensor, x0: Tensor) -> Tensor:
        """The regularised SENSE image (B, H, W) from the samples under ``mask``, starting at ``x0``."""
        adjoint_image = SenseOperator(maps, mask).adjoint(kspace)
        normal = sense_normal(maps, mask)

        def gradient(x: Tensor) -> Tensor:
            return normal(x) - adjoint_image

        return primal_dual(
            gradient,
            normal_bound(maps, mask).clamp_min(1e-6),
            finite_differences,
            finite_differences_adjoint,
            DIFFERENCE_NORM_SQ,
            lambda dual: project_gradient_ball(dual, self.tv_share * lam),
            x0,
            x0.new_zeros(x0.shape[0], 2, *x0.shape[-2:]),
            self.iterations,
            self.tol,
            primal_prox=self.primal_prox(lam),
        )


@register("tv")
class TotalVariation(_SparseSense):
    """TV-regularised SENSE. Options: lam, iterations, tol, maps, data_consistent."""

    regularizer = "tv"
    tv_share = 1.0


@register("wavelet")
class Wavelet(_SparseSense):
    """L1-wavelet (+ TV_SHARE TV) regularised SENSE. Options: lam, iterations, tol, maps,
    data_consistent, wavelet, levels, cycle_spinning."""

    regularizer = "wavelet"
    tv_share = TV_SHARE

    def __init__(
        self,
        *args: object,
        wavelet: str = "db4",
        levels: int = 4,
        cycle_spinning: bool = True,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.transform = WaveletTransform(wavelet, levels)
        self.cycle_spinning = cycle_spinning

    def primal_prox(self, lam: Tensor) -> Callable[[Tensor, Tensor], Tensor]:
        generator = torch.Generator().manual_seed(0)
        period = 2**self.transform.levels if self.cycle_spinning else 1
        lam_view = lam.view(-1, 1, 1)

        def prox(v: Tensor, step: Tensor) -> Tensor:
            shift = tuple(torch.randint(period, (2,), generator=generator).tolist())
            return self.transform.prox_l1(v, step * lam_view, shift)

        return prox
