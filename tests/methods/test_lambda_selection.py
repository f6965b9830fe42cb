"""Lambda from the scan (#16): the hold-out grid picks the lambda whose fit best predicts the
held-out lines, the final image uses every sample, and the option is refused where it does not apply."""

from __future__ import annotations

import pytest
import torch
from conftest import synthetic_kspace

from kspacekit.errors import KspaceKitError
from kspacekit.evaluation.metrics import psnr
from kspacekit.methods import ReconMeta, create_method
from kspacekit.methods.sense import sense_problem
from kspacekit.optim.regularization import HOLDOUT_FACTORS, auto_lambda, holdout_lambda
from kspacekit.physics.fft import ifft2c, rss
from kspacekit.physics.masks import make_mask
from kspacekit.physics.operators import sense_expand
from kspacekit.simulation.phantoms import shepp_logan

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_lambda_with_the_least_validation_error_is_chosen_per_slice():
    """A fake solver whose image is lam * ones: slice 0's data are best predicted by lam = 2
    (factor 0.5 of start 4), slice 1's by lam = 16 (factor 4)."""
    mask, _ = make_mask("random", (2, 1, 8, 64), 4, 0.08, seed=0)
    masks = torch.cat([mask, make_mask("random", (2, 1, 8, 64), 4, 0.08, seed=1)[0]])
    kspace = torch.stack([torch.full((1, 8, 64), 2.0), torch.full((1, 8, 64), 16.0)]).to(torch.complex64)
    start = torch.tensor([4.0, 4.0])
    solved = []

    def solve(lam: torch.Tensor, fit_mask: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        solved.append((lam.clone(), fit_mask.clone(), x0.clone()))
        return lam.view(-1, 1, 1) * torch.ones(2, 8, 64, dtype=torch.complex64)

    lam, image = holdout_lambda(solve, lambda x: x.unsqueeze(1), kspace, masks, start, torch.zeros(2, 8, 64, dtype=torch.complex64))
    torch.testing.assert_close(lam, torch.tensor([2.0, 16.0]))
    torch.testing.assert_close(image.real[:, 0, 0], torch.tensor([2.0, 16.0]))
    assert [float(call[0][0]) / 4 for call in solved] == list(HOLDOUT_FACTORS)
    fit_mask = solved[0][1]
    assert (fit_mask <= masks).all() and fit_mask.sum() < masks.sum()  # fits never see the held-out lines
    assert torch.equal(solved[1][2], 4 * HOLDOUT_FACTORS[0] * torch.ones(2, 8, 64, dtype=torch.complex64))  # warm start


def test_too_few_lines_to_hold_out_keeps_the_starting_lambda():
    mask = torch.zeros(1, 1, 1, 64)
    mask[..., 28:36] = 1
    start, x0 = torch.tensor([0.3]), torch.zeros(1, 4, 64, dtype=torch.complex64)
    lam, image = holdout_lambda(lambda *a: pytest.fail("no fit expected"), lambda x: x, torch.ones(1, 1, 4, 64), mask, start, x0)
    assert lam is start and image is x0


def test_the_chosen_lambda_is_near_the_best_of_its_grid():
    """A noisy phantom: the lambda chosen without ground truth gives a full-data image within
    1 dB of the best lambda of the grid (judged against the truth), far from the worst."""
    kspace, _, _ = shepp_logan((96, 96), coils=4, seed=0)
    full = torch.from_numpy(kspace)[None]
    noise = torch.randn(full.shape, dtype=full.dtype, generator=torch.Generator().manual_seed(0))
    full = full + 0.5 * full.abs().amax() / 96 * noise
    target = rss(ifft2c(full), dim=1)
    mask, _ = make_mask("random", full.shape, 4, 0.08, seed=2)
    kspace = full * mask
    problem = sense_problem(kspace, mask, "espirit")
    method = create_method("tv")
    start = auto_lambda("tv", kspace, mask, problem.adjoint_image)

    def full_data_psnr(lam: torch.Tensor) -> float:
        return psnr(target, method.solve(problem.maps, kspace, mask, lam, problem.adjoint_image).abs())

    lam, _ = holdout_lambda(lambda lam, m, x0: method.solve(problem.maps, kspace, m, lam, x0),
                            lambda x: sense_expand(x, problem.maps), kspace, mask, start, problem.adjoint_image)
    grid = [full_data_psnr(start * factor) for factor in HOLDOUT_FACTORS]
    chosen = full_data_psnr(lam)
    assert chosen > max(grid) - 1 and chosen > min(grid) + 3


def test_holdout_tv_beats_zero_filled_and_batches_like_single_slices():
    full = torch.from_numpy(synthetic_kspace(2, 4, 48, 64, seed=4))
    full[1] *= 3
    mask, num_low = make_mask("random", full.shape, 4, 0.16, seed=1)
    meta = ReconMeta((48, 64), num_low, 4.0)
    target = rss(ifft2c(full), dim=1)
    batched = create_method("tv", lam="holdout")(full * mask, mask, meta)
    zero_filled = create_method("zero-filled")(full * mask, mask, meta)
    assert psnr(target[:1], batched[:1]) > psnr(target[:1], zero_filled[:1]) + 1
    alone = create_method("tv", lam="holdout")(full[1:] * mask, mask, meta)
    torch.testing.assert_close(batched[1:], alone, rtol=1e-3, atol=1e-4 * float(alone.max()))


@pytest.mark.parametrize("name, lam", [("sense", "holdout"), ("grappa", "holdout"), ("tv", "best"), ("wavelet", "")])
def test_a_rule_the_method_does_not_have_is_refused(name, lam):
    with pytest.raises(KspaceKitError, match="lam must be a positive number"):
        create_method(name, lam=lam)


@pytest.mark.parametrize("name", ["tv", "wavelet"])
def test_rules_and_numbers_are_accepted(name):
    for lam in ("auto", "holdout", 0.01, "0.01"):
        create_method(name, lam=lam)
