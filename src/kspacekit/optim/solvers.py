"""Iterative solvers, batched over the first dimension (one independent problem per slice).

* :func:`conjugate_gradient` for Hermitian positive (semi-)definite systems (CG-SENSE, SPIRiT);
* :func:`primal_dual` for min f(x) + g(K x) + h(x), f smooth, g and h with cheap proximal
  operators (TV and L1-wavelet compressed sensing).

Operators are plain callables on tensors; each slice stops contributing updates once it has
converged, and the loop ends when every slice has (or at ``iterations``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from kspacekit.physics.operators import dot

LinearMap = Callable[[Tensor], Tensor]


def _batch_view(values: Tensor, like: Tensor) -> Tensor:
    """(B,) -> (B, 1, ..., 1) so per-slice scalars broadcast against ``like``."""
    return values.view(-1, *([1] * (like.ndim - 1)))


def _norm(x: Tensor) -> Tensor:
    return torch.linalg.vector_norm(x.flatten(1), dim=1)


def _checks_convergence(iteration: int, like: Tensor) -> bool:
    """Whether to read the convergence flags back to the host at this iteration: every iteration
    on the CPU, every 10th on a GPU (each read waits for the GPU's queue to drain). The iterations
    in between are exact no-ops for converged slices, so the result is the same either way."""
    return like.device.type == "cpu" or iteration % 10 == 9


def conjugate_gradient(
    normal: LinearMap,
    rhs: Tensor,
    x0: Tensor | None = None,
    iterations: int = 50,
    tol: float = 1e-6,
) -> Tensor:
    """Solve ``normal(x) = rhs`` per slice; stop when ||residual|| <= tol * ||rhs|| everywhere."""
    x = torch.zeros_like(rhs) if x0 is None else x0.clone()
    residual = rhs - normal(x) if x0 is not None else rhs.clone()
    direction = residual.clone()
    residual_sq = dot(residual, residual).real
    target = (tol * _norm(rhs)) ** 2
    for iteration in range(iterations):
        active = residual_sq > target
        if _checks_convergence(iteration, active) and not active.any():
            break
        applied = normal(direction)
        curvature = dot(direction, applied).real
        alpha = torch.where(active & (curvature > 0), residual_sq / curvature, 0.0)
        x = x + _batch_view(alpha, x) * direction
        residual = residual - _batch_view(alpha, x) * applied
        new_sq = dot(residual, residual).real
        beta = torch.where(active & (residual_sq > 0), new_sq / residual_sq, 0.0)
        direction = residual + _batch_view(beta, x) * direction
        residual_sq = new_sq
    return x


def primal_dual(
    gradient: LinearMap,
    lipschitz: Tensor,
    linear: LinearMap,
    adjoint: LinearMap,
    linear_norm_sq: float,
    dual_prox: LinearMap,
    x0: Tensor,
    dual0: Tensor,
    iterations: int = 100,
    tol: float = 1e-4,
    primal_prox: Callable[[Tensor, Tensor], Tensor] | None = None,
    balance: float = 0.2,
) -> Tensor:
    """Condat-Vu primal-dual splitting: min f(x) + g(K x) [+ h(x)], f smooth, g with a cheap conjugate prox.

    ``gradient`` = grad f with Lipschitz constant ``lipschitz`` (B,); ``linear``/``adjoint``
    = K, K^H with ||K||^2 <= ``linear_norm_sq``; ``dual_prox(q)`` = prox of sigma g* (for a
    norm g, the projection onto its dual ball, independent of sigma). Steps
    sigma = balance * L / (2 ||K||^2) and tau = 2 / ((1 + balance) L) meet the convergence
    condition 1/tau - sigma ||K||^2 >= L/2 with equality for any ``balance`` > 0. A small
    balance (a short dual step, a primal step near 2 / L) suits TV, whose dual lives in a ball
    of radius lam, far below the image gradients; the default was chosen on simulated slices
    (BENCHMARKS.md, "Design measurements").
    One gradient, one K and one K^H per iteration; stops when every slice's relative change
    ||x_k - x_{k-1}|| / ||x_k|| is below ``tol`` (a slice that has converged stops changing, so
    a batch gives each slice the result it gets alone). ``primal_prox(v, tau)``, the prox of
    tau * h, adds a third term h with a cheap prox (Condat 2013, same step rule).
    """
    tau = _batch_view(2.0 / ((1 + balance) * lipschitz), x0)
    sigma = _batch_view(balance * lipschitz / (2 * linear_norm_sq), dual0)
    x, dual = x0, dual0
    done = torch.zeros(x0.shape[0], dtype=torch.bool, device=x0.device)
    for iteration in range(iterations):
        x_next = x - tau * (gradient(x) + adjoint(dual))
        if primal_prox is not None:
            x_next = primal_prox(x_next, tau)
        dual_next = dual_prox(dual + sigma * linear(2 * x_next - x))
        change = _norm(x_next - x) / _norm(x_next).clamp_min(1e-30)
        x = torch.where(_batch_view(done, x), x, x_next)  # a converged slice stays as it was
        dual = torch.where(_batch_view(done, dual), dual, dual_next)
        # Not on the first step: from x0 = A^H y with a zero dual, single-coil data has a zero
        # gradient, so x does not move until the dual has; stopping there would return x0.
        if iteration > 0:
            done |= change < tol
            if _checks_convergence(iteration, done) and bool(done.all()):
                break
    return x
