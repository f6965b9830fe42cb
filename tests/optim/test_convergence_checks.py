"""The solvers read their convergence flags back to the host only now and then on a GPU; the
iterations in between must be exact no-ops for converged slices. Checked on each test device by
never stopping early: the result must be bit-identical to stopping where the solver does."""

from __future__ import annotations

import pytest
import torch
from conftest import synthetic_kspace

from kspacekit.methods import ReconMeta, create_method
from kspacekit.optim import solvers
from kspacekit.physics.masks import make_mask

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(("name", "options"), [("sense", {"tol": 1e-3}), ("tv", {"tol": 1e-3, "iterations": 300})])
def test_iterations_after_convergence_change_nothing(name, options, device, monkeypatch):
    full = torch.from_numpy(synthetic_kspace(2, 4, 48, 40, seed=2))
    full[1] *= 3  # the two slices converge at different iterations
    mask, num_low = make_mask("equispaced_fraction", full.shape, 4, 0.2, seed=0)
    meta = ReconMeta(target_size=(48, 40), num_low_frequencies=num_low, acceleration=4.0)
    kspace, mask = (full * mask).to(device), mask.to(device)
    method = create_method(name, **options)
    stopping_early = method(kspace, mask, meta)
    monkeypatch.setattr(solvers, "_checks_convergence", lambda iteration, like: False)
    assert torch.equal(method(kspace, mask, meta), stopping_early)
