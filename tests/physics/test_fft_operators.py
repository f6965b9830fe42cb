"""Physics core: FFT unitarity and parity with fastMRI, SENSE adjointness, crop/pad geometry."""

import fastmri
import pytest
import torch
from fastmri.data.transforms import center_crop as fastmri_center_crop
from hypothesis import given, settings
from hypothesis import strategies as st

from kspacekit.physics.fft import (
    center_crop,
    center_pad,
    crop_or_pad,
    fft2c,
    ifft2c,
    rss,
)
from kspacekit.physics.operators import SenseOperator, dot

SHAPES = [(2, 3, 32, 32), (1, 4, 33, 20), (3, 1, 17, 31)]


def random_complex(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.complex64)


@pytest.mark.parametrize("shape", SHAPES)
def test_fft_matches_fastmri(shape):
    x = random_complex(shape)
    ours = fft2c(x)
    theirs = torch.view_as_complex(fastmri.fft2c(torch.view_as_real(x)))
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    ours_inv = ifft2c(x)
    theirs_inv = torch.view_as_complex(fastmri.ifft2c(torch.view_as_real(x)))
    torch.testing.assert_close(ours_inv, theirs_inv, rtol=1e-5, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), seed=st.integers(0, 2**16))
def test_fft_is_unitary(h, w, seed):
    x = random_complex((2, h, w), seed)
    y = fft2c(x)
    torch.testing.assert_close(y.norm(), x.norm(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ifft2c(y), x, rtol=1e-5, atol=1e-5)


def test_fft_centre_convention():
    """A constant image has all its energy at k-space index n // 2 (odd and even sizes)."""
    for h, w in [(8, 8), (7, 9)]:
        k = fft2c(torch.ones(h, w, dtype=torch.complex64))
        assert k.abs().argmax().item() == (h // 2) * w + w // 2


def test_rss_matches_fastmri():
    x = random_complex((2, 5, 12, 10))
    theirs = fastmri.rss(fastmri.complex_abs(torch.view_as_real(x)), dim=1)
    torch.testing.assert_close(rss(x, dim=1), theirs, rtol=1e-5, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(
    coils=st.integers(1, 6),
    h=st.integers(2, 24),
    w=st.integers(2, 24),
    seed=st.integers(0, 2**16),
)
def test_sense_adjointness(coils, h, w, seed):
    """<A x, y> == <x, A^H y> to float32 precision for random maps, masks and vectors."""
    g = torch.Generator().manual_seed(seed)
    maps = random_complex((2, coils, h, w), seed + 1)
    mask = (torch.rand(2, 1, 1, w, generator=g) > 0.5).float()
    mask[..., w // 2] = 1.0  # at least one sampled line, so the scale below is non-zero
    op = SenseOperator(maps, mask)
    x = random_complex((2, h, w), seed + 2)
    y = random_complex((2, coils, h, w), seed + 3)
    lhs, rhs = dot(op.forward(x), y), dot(x, op.adjoint(y))
    scale = op.forward(x).norm() * y.norm()
    assert ((lhs - rhs).abs() / scale).max() < 1e-5


def test_sense_normal_is_identity_for_full_sampling_and_orthonormal_maps():
    maps = random_complex((1, 4, 16, 16))
    maps = maps / rss(maps, dim=1).unsqueeze(1)
    op = SenseOperator(maps, torch.ones(1, 1, 1, 16))
    x = random_complex((1, 16, 16), 5)
    torch.testing.assert_close(op.normal(x), x, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("big,small", [((10, 9), (4, 3)), ((9, 10), (9, 7)), ((11, 11), (2, 5))])
def test_crop_matches_fastmri_and_pad_inverts_it(big, small):
    x = torch.randn(2, *big)
    torch.testing.assert_close(center_crop(x, small), fastmri_center_crop(x, small))
    y = torch.randn(2, *small)
    torch.testing.assert_close(center_crop(center_pad(y, big), small), y)
    assert crop_or_pad(x, (big[0] + 2, small[1])).shape[-2:] == (big[0] + 2, small[1])


def test_crop_rejects_growth():
    with pytest.raises(ValueError):
        center_crop(torch.zeros(4, 4), (5, 4))


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (1, 2, 33, 20)])
def test_fft_and_sense_on_device_match_cpu(shape, device):
    """Centred FFTs (even and odd sizes), the SENSE operator and its fast normal operator give the
    CPU's results on ``device``, and keep their outputs there in complex64."""
    from kspacekit.physics.operators import sense_normal

    batch, coils, h, w = shape
    kspace = random_complex(shape)
    maps = random_complex(shape, 1)
    mask = (torch.rand(batch, 1, 1, w, generator=torch.Generator().manual_seed(2)) > 0.5).float()
    image = random_complex((batch, h, w), 3)
    on_device = [t.to(device) for t in (kspace, maps, mask, image)]
    op, device_op = SenseOperator(maps, mask), SenseOperator(*on_device[1:3])
    pairs = [
        (fft2c(kspace), fft2c(on_device[0])),
        (ifft2c(kspace), ifft2c(on_device[0])),
        (op.adjoint(kspace), device_op.adjoint(on_device[0])),
        (op.normal(image), sense_normal(*on_device[1:3])(on_device[3])),
    ]
    for expected, got in pairs:
        assert got.device.type == device and got.dtype == torch.complex64
        torch.testing.assert_close(got.cpu(), expected, rtol=1e-4, atol=1e-4)
