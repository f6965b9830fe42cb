"""Compressed sensing: min_x 0.5 ||A x - y||^2 + lam R(x), A = M F S (SENSE model), by FISTA.

``tv``: R = isotropic total variation (prox by warm-started dual FGP steps);
``wavelet``: R = ||Psi x||_1 with an orthogonal Daubechies-4 transform (ptwt), 4 levels, the
coarsest band unpenalised. The step is 1 / ||A||^2 from a power iteration; iterations stop
when the relative change of every slice falls below ``tol`` or after ``iterations``.
Coil maps come from the undersampled data's calibration region (ones for single-coil data),
and ``lam`` is automatic (:mod:`kspacekit.regularization`) unless given.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable

import torch
from torch import Tensor

from kspacekit.linalg import fista, power_iteration
from kspacekit.methods.base import ReconMeta, ReconstructionMethod, register
from kspacekit.methods.sense import magnitude_output, sense_problem
from kspacekit.prox import TotalVariationProx, WaveletTransform
from kspacekit.regularization import check_lambda, resolve_lambda

Prox = Callable[[Tensor, Tensor], Tensor]


class _SparseSense(ReconstructionMethod):
    """Shared FISTA loop; subclasses provide the prox of R."""

    regularizer: str

    def __init__(
        self,
        lam: float | None = None,
        iterations: int = 100,
        tol: float = 1e-4,
        maps: str = "lowres",
    ) -> None:
        self.lam = check_lambda(lam)
        self.iterations = iterations
        self.tol = tol
        self.maps = maps

    @abstractmethod
    def make_prox(self) -> Prox:
        """A fresh prox of R (some keep warm-start state for one solve)."""

    def reconstruct(self, kspace: Tensor, mask: Tensor, meta: ReconMeta) -> Tensor:
        problem = sense_problem(kspace, mask, self.maps)
        lam = resolve_lambda(self.lam, self.regularizer, kspace, mask, problem.adjoint_image)
        step = 1.0 / power_iteration(problem.normal, problem.adjoint_image).clamp_min(1e-6)
        prox = self.make_prox()
        lam_view = lam.view(-1, 1, 1)

        def gradient(x: Tensor) -> Tensor:
            return problem.normal(x) - problem.adjoint_image

        image = fista(
            gradient,
            lambda v, t: prox(v, t * lam_view),
            problem.adjoint_image,
            step,
            self.iterations,
            self.tol,
        )
        return magnitude_output(image, meta)


@register("tv")
class TotalVariation(_SparseSense):
    """TV-regularised SENSE. Options: lam, iterations, tol, maps, inner_iterations."""

    regularizer = "tv"

    def __init__(self, *args: object, inner_iterations: int = 10, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.inner_iterations = inner_iterations

    def make_prox(self) -> Prox:
        return TotalVariationProx(self.inner_iterations)


@register("wavelet")
class Wavelet(_SparseSense):
    """L1-wavelet-regularised SENSE. Options: lam, iterations, tol, maps, wavelet, levels."""

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

    def make_prox(self) -> Prox:
        if not self.cycle_spinning:
            return self.transform.prox_l1
        generator = torch.Generator().manual_seed(0)
        period = 2**self.transform.levels

        def prox(v: Tensor, t: Tensor) -> Tensor:
            shift = torch.randint(period, (2,), generator=generator).tolist()
            return self.transform.prox_l1(v, t, tuple(shift))

        return prox
