"""The contract every operator and every registered method must pass (see docs/architecture.md).

Operators: each linear map is listed once in ``OPERATORS`` with its adjoint, and must pass the
adjointness test (deepinv's idea). Methods: every name in the registry, present and future, runs
through the same interface checks; a new method or operator is covered by adding nothing here
but an ``OPERATORS`` entry.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from kspacekit.errors import KspaceKitError
from kspacekit.methods import ReconMeta, available_methods, create_method
from kspacekit.optim.prox import WaveletTransform, finite_differences, finite_differences_adjoint
from kspacekit.physics.fft import fft2c, ifft2c, rss
from kspacekit.physics.masks import make_mask
from kspacekit.physics.operators import SenseOperator, adjointness_gap, apply_mask, sense_normal
from kspacekit.simulation.phantoms import shepp_logan

B, C, H, W = 2, 4, 32, 24


def _random(shape: tuple[int, ...], seed: int) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, dtype=torch.complex64, generator=generator)


def _line_mask() -> Tensor:
    mask, _ = make_mask("random", (B, C, H, W), 4, 0.08, seed=0)
    return mask.expand(B, 1, 1, W).float()


def _plane_mask() -> Tensor:
    mask, _ = make_mask("poisson", (B, C, H, W), 3, 0.08, seed=0)
    return mask.expand(B, 1, H, W).float()


def _wavelet_pair() -> tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor], Tensor, Tensor]:
    """The orthogonal wavelet transform on a size where its matrix is square: Psi^T is its inverse."""
    transform = WaveletTransform("haar", levels=2)
    image = _random((B, 16, 16), 1)
    layout = transform.forward(image)

    def flatten(coefficients: list) -> Tensor:
        bands = [coefficients[0]] + [band for level in coefficients[1:] for band in level]
        return torch.cat([band.flatten(1) for band in bands], dim=1)

    def unflatten(vector: Tensor) -> list:
        bands, start = [], 0
        for band in [layout[0]] + [band for level in layout[1:] for band in level]:
            size = band[0].numel()
            bands.append(vector[:, start : start + size].reshape(band.shape))
            start += size
        levels = [tuple(bands[1 + 3 * i : 4 + 3 * i]) for i in range(len(layout) - 1)]
        return [bands[0], *levels]

    return (
        lambda x: flatten(transform.forward(x)),
        lambda y: transform.inverse(unflatten(y)),
        image,
        _random(tuple(flatten(layout).shape), 2),
    )


def _sense(mask: Callable[[], Tensor]):
    maps = _random((B, C, H, W), 3)
    operator = SenseOperator(maps, mask())
    return operator.forward, operator.adjoint, _random((B, H, W), 4), _random((B, C, H, W), 5)


def _normal(mask: Callable[[], Tensor]):
    maps = _random((B, C, H, W), 3)
    normal = sense_normal(maps, mask())
    return normal, normal, _random((B, H, W), 4), _random((B, H, W), 5)


OPERATORS: dict[str, Callable[[], tuple]] = {
    "fft2c": lambda: (fft2c, ifft2c, _random((B, C, H, W), 1), _random((B, C, H, W), 2)),
    "fft2c odd size": lambda: (fft2c, ifft2c, _random((B, C, 15, 9), 1), _random((B, C, 15, 9), 2)),
    "mask": lambda: (lambda k: apply_mask(k, _line_mask()), lambda k: apply_mask(k, _line_mask()),
                     _random((B, C, H, W), 1), _random((B, C, H, W), 2)),
    "sense, line mask": lambda: _sense(_line_mask),
    "sense, 2-D mask": lambda: _sense(_plane_mask),
    "sense normal, line mask": lambda: _normal(_line_mask),
    "sense normal, 2-D mask": lambda: _normal(_plane_mask),
    "finite differences": lambda: (finite_differences, finite_differences_adjoint,
                                   _random((B, H, W), 1), _random((B, 2, H, W), 2)),
    "wavelet": _wavelet_pair,
}


@pytest.mark.parametrize("name", OPERATORS)
def test_operator_adjointness(name: str) -> None:
    forward, adjoint, x, y = OPERATORS[name]()
    assert adjointness_gap(forward, adjoint, x, y).max() < 1e-5


def test_adjointness_gap_catches_a_wrong_adjoint() -> None:
    x, y = _random((B, C, H, W), 1), _random((B, C, H, W), 2)
    assert adjointness_gap(fft2c, fft2c, x, y).min() > 1e-2


def test_sense_normal_equals_forward_then_adjoint() -> None:
    for mask in (_line_mask(), _plane_mask()):
        operator = SenseOperator(_random((B, C, H, W), 3), mask)
        x = _random((B, H, W), 4)
        torch.testing.assert_close(sense_normal(operator.maps, mask)(x), operator.normal(x), rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def problem() -> tuple[Tensor, Tensor, ReconMeta]:
    """Two 4-coil Shepp-Logan slices, 4x fastMRI random mask: small enough for every method."""
    kspace, _, _ = shepp_logan((64, 48), coils=4)
    full = torch.from_numpy(kspace)[None].repeat(2, 1, 1, 1)
    mask, num_low = make_mask("random", full.shape, 4, 0.08, seed=1)
    return full * mask, mask, ReconMeta((64, 48), num_low, 4.0)


def _method_or_skip(name: str, problem) -> Tensor:
    """Run a method on the problem; a learned model that ships no weights must say so clearly."""
    kspace, mask, meta = problem
    try:
        return create_method(name)(kspace, mask, meta)
    except KspaceKitError as err:
        assert "no shipped weights" in str(err) and "\n" not in str(err)
        pytest.skip(f"{name}: needs a checkpoint (no shipped weights)")


@pytest.mark.parametrize("name", available_methods())
def test_method_contract(name: str, problem) -> None:
    """Float32 magnitude images of the target size, finite, inputs untouched, deterministic,
    each slice independent of the others in its batch."""
    kspace, mask, meta = problem
    kspace_before, mask_before = kspace.clone(), mask.clone()
    image = _method_or_skip(name, problem)
    assert image.shape == (2, *meta.target_size) and image.dtype == torch.float32
    assert torch.isfinite(image).all() and (image >= 0).all()
    assert torch.equal(kspace, kspace_before) and torch.equal(mask, mask_before)
    torch.testing.assert_close(create_method(name)(kspace, mask, meta), image)
    alone = create_method(name)(kspace[1:], mask, meta)
    torch.testing.assert_close(alone[0], image[1], rtol=1e-3, atol=1e-3 * float(image.max()))


@pytest.mark.parametrize("name", available_methods())
def test_method_rejects_bad_input_in_one_line(name: str, problem) -> None:
    kspace, mask, meta = problem
    method = create_method(name)
    for bad_kspace, bad_mask in [(kspace.abs(), mask), (kspace[0, 0], mask), (kspace, mask[..., :-1])]:
        with pytest.raises(KspaceKitError) as error:
            method(bad_kspace, bad_mask, meta)
        assert "\n" not in str(error.value)


def test_every_method_beats_or_keeps_zero_filled_on_the_phantom(problem) -> None:
    """No method that runs may be worse than zero-filled on a 4-coil Shepp-Logan at 4x in PSNR."""
    from kspacekit.evaluation.metrics import psnr

    kspace, mask, meta = problem
    full, _, _ = shepp_logan((64, 48), coils=4)
    target = rss(ifft2c(torch.from_numpy(full)[None]), dim=1).repeat(2, 1, 1)
    baseline = psnr(target, create_method("zero-filled")(kspace, mask, meta))
    scores = {}
    for name in available_methods():
        try:
            scores[name] = psnr(target, create_method(name)(kspace, mask, meta))
        except KspaceKitError:
            continue
    worse = {name: round(score, 2) for name, score in scores.items() if score < baseline - 0.1}
    assert not worse, f"below zero-filled ({baseline:.2f} dB): {worse}"
