"""Compressed sensing: min_x 0.5 ||A x - y||^2 + lam R(x), A = M F S (the SENSE model).

``tv``: R = isotropic total variation, solved by the Condat-Vu primal-dual method (one
gradient and one divergence per iteration, no inner loop);
``wavelet``: R = ||Psi x||_1 with an orthogonal Daubechies-4 transform from ptwt (4 levels,
coarsest band unpenalised), solved by FISTA with adaptive restart and random cycle spinning
(a random circular shift of the wavelet grid per iteration, as BART does, against blocking).

Both use the step 1 / ||A||^2 from a power iteration and stop when the relative change of
every slice falls below ``tol`` or after ``iterations``. Coil maps come from the undersampled
data's calibration region (ones for single-coil data); ``lam`` is automatic
(:mod:`kspacekit.regularization`) unless given. The output keeps the measured samples and
fills the others from the model (``data_consistent``, see :func:`magnitude_output`).
"""

from __future__ import annotations

from abc import abstractmethod

import torch
from torch import Tensor

from kspacekit.linalg import fista, power_iteration, primal_dual
from kspacekit.methods.base import ReconMeta, ReconstructionMethod, register
from kspacekit.methods.sense import SenseProblem, magnitude_output, sense_problem
from kspacekit.prox import (
    DIFFERENCE_NORM_SQ,
    WaveletTransform,
    finite_differences,
    finite_differences_adjoint,
    project_gradient_ball,
)
from kspacekit.regularization import check_lambda, resolve_lambda


class _SparseSense(ReconstructionMethod):
    """Shared set-up (maps, lam, ||A||^2) and output; subclasses solve."""

    regularizer: str

    def __init__(
        self,
        lam: float | None = None,
        iterations: int = 100,
        tol: float = 1e-4,
        maps: str = "auto",
        data_consistent: bool = True,
    ) -> None:
        self.lam = check_lambda(lam)
        self.iterations = iterations
        self.tol = tol
        self.maps = maps
        self.data_consistent = data_consistent

    @abstractmethod
    def solve(self, problem: SenseProblem, lam: Tensor, lipschitz: Tensor) -> Tensor:
        """The minimiser x (B, H, W) for per-slice weights ``lam`` (B,)."""

    def reconstruct(self, kspace: Tensor, mask: Tensor, meta: ReconMeta) -> Tensor:
        problem = sense_problem(kspace, mask, self.maps)
        lam = resolve_lambda(self.lam, self.regularizer, kspace, mask, problem.adjoint_image)
        lipschitz = power_iteration(problem.normal, problem.adjoint_image).clamp_min(1e-6)
        image = self.solve(problem, lam, lipschitz)
        return magnitude_output(image, problem, kspace, mask, meta, self.data_consistent)


def _data_gradient(problem: SenseProblem):
    def gradient(x: Tensor) -> Tensor:
        return problem.normal(x) - problem.adjoint_image

    return gradient


@register("tv")
class TotalVariation(_SparseSense):
    """TV-regularised SENSE by primal-dual splitting. Options: lam, iterations, tol, maps, data_consistent."""

    regularizer = "tv"

    def solve(self, problem: SenseProblem, lam: Tensor, lipschitz: Tensor) -> Tensor:
        x0 = problem.adjoint_image
        dual0 = x0.new_zeros(x0.shape[0], 2, *x0.shape[-2:])
        return primal_dual(
            _data_gradient(problem),
            lipschitz,
            finite_differences,
            finite_differences_adjoint,
            DIFFERENCE_NORM_SQ,
            lambda dual: project_gradient_ball(dual, lam),
            x0,
            dual0,
            self.iterations,
            self.tol,
        )


@register("wavelet")
class Wavelet(_SparseSense):
    """L1-wavelet-regularised SENSE by FISTA. Options: lam, iterations, tol, maps,
    data_consistent, wavelet, levels, cycle_spinning."""

    regularizer = "wavelet"

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

    def solve(self, problem: SenseProblem, lam: Tensor, lipschitz: Tensor) -> Tensor:
        generator = torch.Generator().manual_seed(0)
        period = 2**self.transform.levels if self.cycle_spinning else 1
        lam_view = lam.view(-1, 1, 1)

        def prox(v: Tensor, step: Tensor) -> Tensor:
            shift = tuple(torch.randint(period, (2,), generator=generator).tolist())
            return self.transform.prox_l1(v, step * lam_view, shift)

        return fista(
            _data_gradient(problem), prox, problem.adjoint_image, 1.0 / lipschitz, self.iterations, self.tol
        )
