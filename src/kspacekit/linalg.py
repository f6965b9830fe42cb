"""Iterative solvers, batched over the first dimension (one independent problem per slice).

* :func:`conjugate_gradient` for Hermitian positive (semi-)definite systems (CG-SENSE, SPIRiT);
* :func:`power_iteration` for the largest eigenvalue of a normal operator (FISTA's step size);
* :func:`fista` for min f(x) + g(x) with f smooth and g having a cheap proximal operator.

Operators are plain callables on tensors; each slice stops contributing updates once it has
converged, and the loop ends when every slice has (or at ``iterations``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from kspacekit.operators import dot

LinearMap = Callable[[Tensor], Tensor]


def _batch_view(values: Tensor, like: Tensor) -> Tensor:
    """(B,) -> (B, 1, ..., 1) so per-slice scalars broadcast against ``like``."""
    return values.view(-1, *([1] * (like.ndim - 1)))


def _norm(x: Tensor) -> Tensor:
    return torch.linalg.vector_norm(x.flatten(1), dim=1)


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
    for _ in range(iterations):
        active = residual_sq > target
        if not active.any():
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


def power_iteration(normal: LinearMap, like: Tensor, iterations: int = 30) -> Tensor:
    """Largest eigenvalue (B,) of a Hermitian positive semi-definite operator on tensors like ``like``.

    Starts from a fixed pseudo-random vector so results are reproducible.
    """
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(like.shape, generator=generator, dtype=like.dtype).to(like.device)
    eigenvalue = torch.zeros(like.shape[0], device=like.device)
    for _ in range(iterations):
        x = x / _batch_view(_norm(x).clamp_min(1e-30), x)
        applied = normal(x)
        eigenvalue = dot(x, applied).real
        x = applied
    return eigenvalue


def fista(
    gradient: LinearMap,
    prox: Callable[[Tensor, float | Tensor], Tensor],
    x0: Tensor,
    step: Tensor,
    iterations: int = 100,
    tol: float = 1e-4,
) -> Tensor:
    """FISTA (Beck & Teboulle 2009) with adaptive restart: min f(x) + g(x).

    ``gradient(x)`` = grad f(x); ``prox(v, t)`` = prox of t*g at v, with t a per-slice step
    broadcast like ``v``; ``step`` (B,) <= 1 / Lipschitz(grad f). A slice's momentum restarts
    whenever the step opposes the extrapolation (O'Donoghue & Candes 2015), which removes
    FISTA's oscillations. Stops when every slice's relative change
    ||x_k - x_{k-1}|| / ||x_k|| is below ``tol``.
    """
    steps = _batch_view(step, x0)
    x = x0
    extrapolated = x0
    momentum = torch.ones(x0.shape[0], device=x0.device)
    for _ in range(iterations):
        x_next = prox(extrapolated - steps * gradient(extrapolated), steps)
        update = x_next - x
        change = _norm(update) / _norm(x_next).clamp_min(1e-30)
        restart = dot(extrapolated - x_next, update).real > 0
        momentum = torch.where(restart, torch.ones_like(momentum), momentum)
        next_momentum = (1 + torch.sqrt(1 + 4 * momentum**2)) / 2
        extrapolated = x_next + _batch_view((momentum - 1) / next_momentum, x0) * update
        x, momentum = x_next, next_momentum
        if bool((change < tol).all()):
            break
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
) -> Tensor:
    """Condat-Vu primal-dual splitting: min f(x) + g(K x), f smooth, g with a cheap conjugate prox.

    ``gradient`` = grad f with Lipschitz constant ``lipschitz`` (B,); ``linear``/``adjoint``
    = K, K^H with ||K||^2 <= ``linear_norm_sq``; ``dual_prox(q)`` = prox of sigma g* (for a
    norm g, the projection onto its dual ball, independent of sigma). Steps tau = 1 / L and
    sigma = L / (2 ||K||^2) satisfy the convergence condition 1/tau - sigma ||K||^2 >= L/2.
    One gradient, one K and one K^H per iteration; stops like :func:`fista`.
    """
    tau = _batch_view(1.0 / lipschitz, x0)
    sigma = _batch_view(lipschitz / (2 * linear_norm_sq), dual0)
    x, dual = x0, dual0
    for iteration in range(iterations):
        x_next = x - tau * (gradient(x) + adjoint(dual))
        dual = dual_prox(dual + sigma * linear(2 * x_next - x))
        change = _norm(x_next - x) / _norm(x_next).clamp_min(1e-30)
        x = x_next
        # Not on the first step: from x0 = A^H y with a zero dual, single-coil data has a zero
        # gradient, so x does not move until the dual has; stopping there would return x0.
        if iteration > 0 and bool((change < tol).all()):
            break
    return x
