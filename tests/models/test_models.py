"""Learned models: architecture and output parity with fastMRI, shapes, data consistency, GAN losses."""

import fastmri.models
import pytest
import torch
from fastmri.data.subsample import RandomMaskFunc

from kspacekit.models import build_discriminator, build_model
from kspacekit.models.gan import discriminator_loss, generator_adversarial_loss
from kspacekit.models.unet import Unet
from kspacekit.models.varnet import VarNet, VarNetCascade, centre_box
from kspacekit.physics.fft import crop_or_pad, fft2c, ifft2c, rss

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def count(module):
    return sum(p.numel() for p in module.parameters())


def copy_parameters(source, target):
    """Copy parameters by registration order, checking every shape (the modules share layouts)."""
    source_params, target_params = list(source.parameters()), list(target.parameters())
    assert len(source_params) == len(target_params)
    with torch.no_grad():
        for s, t in zip(source_params, target_params):
            assert s.shape == t.shape
            t.copy_(s)


def random_kspace(batch, coils, height, width, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.randn(batch, coils, height, width, generator=g, dtype=torch.complex64)
    return fft2c(image)


def line_mask(batch, width, seed=0, acceleration=4, center_fraction=0.16):
    """(B, 1, 1, W) float mask from fastMRI's own mask function, and its number of centre lines."""
    mask, num_low = RandomMaskFunc([center_fraction], [acceleration])((1, 1, width, 1), seed=seed)
    return mask[..., 0].reshape(1, 1, 1, width).expand(batch, 1, 1, width).clone(), int(num_low)


def test_unet_parameter_count_matches_fastmri():
    ours = build_model("unet")
    theirs = fastmri.models.Unet(in_chans=1, out_chans=1, chans=32, num_pool_layers=4)
    assert count(ours) == count(theirs) == 7_756_097


def test_varnet_parameter_count_matches_fastmri():
    assert count(VarNet()) == count(fastmri.models.VarNet())
    assert count(build_model("varnet")) == count(fastmri.models.VarNet())


@pytest.mark.parametrize("shape", [(2, 1, 32, 32), (1, 2, 37, 45)])
def test_unet_outputs_match_fastmri_with_same_weights(shape):
    theirs = fastmri.models.Unet(shape[1], 3, chans=4, num_pool_layers=3).eval()
    ours = Unet(shape[1], 3, chans=4, num_pool_layers=3).eval()
    copy_parameters(theirs, ours)
    x = torch.randn(*shape)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("coils,give_num_low", [(4, True), (4, False), (1, False)])
def test_varnet_outputs_match_fastmri_with_same_weights(coils, give_num_low):
    config = dict(num_cascades=2, sens_chans=4, sens_pools=2, chans=4, pools=2)
    theirs = fastmri.models.VarNet(**config).eval()
    ours = VarNet(**config).eval()
    copy_parameters(theirs, ours)
    kspace_full = random_kspace(2, coils, 24, 40)
    mask, num_low = line_mask(2, 40)
    masked = kspace_full * mask
    with torch.no_grad():
        expected = theirs(
            torch.view_as_real(masked), mask[..., None].bool(), num_low if give_num_low else None
        )
        got = ours(masked, mask, num_low_frequencies=num_low if give_num_low else None)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


SMALL = {
    "unet": {"chans": 4, "num_pool_layers": 2},
    "gan": {"chans": 4, "num_pool_layers": 2},
    "rescnn": {"chans": 4, "num_layers": 3},
    "varnet": {"num_cascades": 2, "sens_chans": 2, "sens_pools": 2, "chans": 2, "pools": 2},
}
"""Small configurations of every model, for tests of behaviour rather than of fastMRI's sizes."""


@pytest.mark.parametrize("name", list(SMALL))
@pytest.mark.parametrize("coils", [1, 3])
def test_models_give_target_size_images(name, coils):
    model = build_model(name, SMALL[name]).eval()
    mask, num_low = line_mask(2, 36)
    kspace = random_kspace(2, coils, 40, 36) * mask
    with torch.no_grad():
        out = model(kspace, mask, (24, 20), num_low)
    assert out.shape == (2, 24, 20) and out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_varnet_accepts_2d_masks_and_finds_the_calibration_box():
    height, width = 32, 32
    mask = (torch.rand(1, 1, height, width, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    mask[..., [11, 20], :] = 0
    mask[..., :, [12, 19]] = 0
    mask[..., 12:20, 13:19] = 1  # an 8 x 6 fully sampled centre, bordered by unsampled lines
    box = centre_box(mask, torch.Size((1, 4, height, width)))
    assert box.shape == (1, 1, height, width)
    expected = torch.zeros(height, width)
    expected[12:20, 13:19] = 1
    torch.testing.assert_close(box[0, 0], expected)
    model = VarNet(num_cascades=1, sens_chans=2, sens_pools=2, chans=2, pools=2).eval()
    with torch.no_grad():
        out = model(random_kspace(1, 4, height, width) * mask, mask, (height, width))
    assert out.shape == (1, height, width) and torch.isfinite(out).all()


class Zero(torch.nn.Module):
    def forward(self, image):
        return torch.zeros_like(image)


def test_varnet_data_consistency_keeps_sampled_kspace():
    """With a regulariser that contributes nothing and DC weight 1, every cascade puts the measured
    samples back exactly and leaves the unsampled ones untouched, so the output is zero filling."""
    model = VarNet(num_cascades=3, sens_chans=2, sens_pools=2, chans=2, pools=2).eval()
    for cascade in model.cascades:
        cascade.model = Zero()
    mask, num_low = line_mask(1, 32)
    masked = random_kspace(1, 4, 32, 32) * mask
    with torch.no_grad():
        out = model(masked, mask, num_low_frequencies=num_low)
    torch.testing.assert_close(out, rss(ifft2c(masked), dim=1))

    # A DC weight of 0.5 halves the distance to the measurements on sampled locations only.
    cascade = VarNetCascade(Zero())
    with torch.no_grad():
        cascade.dc_weight.fill_(0.5)
    current = random_kspace(1, 4, 32, 32, seed=1)
    maps = torch.ones_like(current)
    updated = cascade(current, masked, mask, maps)
    torch.testing.assert_close(updated * mask, (current + masked) / 2 * mask)
    torch.testing.assert_close(updated * (1 - mask), current * (1 - mask))


def test_image_domain_model_is_scale_equivariant_and_crops_like_fastmri():
    model = build_model("unet", {"chans": 4, "num_pool_layers": 2}).eval()
    mask, _ = line_mask(1, 40)
    kspace = random_kspace(1, 3, 48, 40) * mask
    with torch.no_grad():
        out = model(kspace, mask, (32, 32))
        out_scaled = model(kspace * 1000, mask, (32, 32))
    torch.testing.assert_close(out_scaled, out * 1000, rtol=1e-3, atol=1e-3)
    # Input of the network: the RSS of the *complex-cropped* coil images (fastMRI's order).
    expected_input = rss(crop_or_pad(ifft2c(kspace), (32, 32)), dim=1)
    seen = []
    model.net.register_forward_hook(lambda module, args, output: seen.append(args[0]))
    with torch.no_grad():
        model(kspace, mask, (32, 32))
    normalised = (expected_input - expected_input.mean()) / expected_input.std()
    torch.testing.assert_close(seen[0][:, 0], normalised.clamp(-6, 6), rtol=1e-4, atol=1e-4)


def test_gan_losses():
    for kind, real_value, fake_value in (("bce", 20.0, -20.0), ("lsgan", 1.0, 0.0)):
        confident_real, confident_fake = torch.full((2, 1, 5, 5), real_value), torch.full((2, 1, 5, 5), fake_value)
        # A discriminator that is right has (near) zero loss; one that is wrong has a large one.
        right = discriminator_loss(confident_real, confident_fake, kind)
        wrong = discriminator_loss(confident_fake, confident_real, kind)
        assert right < 1e-6 < 0.4 < wrong
        # The generator's adversarial loss is small exactly when its fakes are called real.
        assert generator_adversarial_loss(confident_real, kind) < 1e-6 < 0.4 < generator_adversarial_loss(confident_fake, kind)
    zeros = torch.zeros(3, 1, 4, 4)
    torch.testing.assert_close(discriminator_loss(zeros, zeros, "bce"), torch.log(torch.tensor(2.0)))
    torch.testing.assert_close(discriminator_loss(zeros, zeros, "lsgan"), torch.tensor(0.5))
    with pytest.raises(ValueError):
        discriminator_loss(zeros, zeros, "wasserstein")


def test_patch_discriminator_scores_patches():
    disc = build_discriminator({"disc_chans": 4, "disc_layers": 3})
    logits = disc(torch.rand(2, 1, 32, 32))
    assert logits.shape == (2, 1, 2, 2)


def forward_backward(model, kspace, mask, num_low):
    """Output (float32) and parameter gradients of one training step's forward and backward."""
    model.zero_grad(set_to_none=True)
    out = model(kspace, mask, (24, 20), num_low)
    out.float().square().mean().backward()
    return out, [p.grad for p in model.parameters()]


@pytest.mark.parametrize("name", list(SMALL))
def test_models_train_on_device_like_on_cpu(name, device):
    """Forward and backward on ``device`` give the CPU's output and gradients, kept on the device."""
    torch.manual_seed(0)
    model = build_model(name, SMALL[name])
    mask, num_low = line_mask(2, 36)
    kspace = random_kspace(2, 3, 40, 36) * mask
    expected, expected_grads = forward_backward(model, kspace, mask, num_low)
    out, grads = forward_backward(model.to(device), kspace.to(device), mask.to(device), num_low)
    assert out.device.type == device and out.dtype == torch.float32
    torch.testing.assert_close(out.cpu(), expected, rtol=1e-3, atol=1e-4)
    for grad, expected_grad in zip(grads, expected_grads):
        assert grad.device.type == device
        torch.testing.assert_close(grad.cpu(), expected_grad, rtol=1e-2, atol=1e-4)


class ComplexDtypes(torch.overrides.TorchFunctionMode):
    """Records the dtype of every complex tensor a torch function returns."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[torch.dtype] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        for value in result if isinstance(result, (tuple, list)) else (result,):
            if isinstance(value, torch.Tensor) and value.is_complex():
                self.seen.add(value.dtype)
        return result


@pytest.mark.parametrize("name", list(SMALL))
def test_mixed_precision_keeps_complex_arithmetic_in_complex64(name, device):
    """Under autocast (float16 on CUDA as the trainer uses it, bfloat16 on the CPU) only the real
    convolutions lower their precision: every complex tensor stays complex64, the output is
    float32, and it stays near the float32 output."""
    torch.manual_seed(0)
    model = build_model(name, SMALL[name]).to(device)
    mask, num_low = line_mask(2, 36)
    kspace, mask = (random_kspace(2, 3, 40, 36) * mask).to(device), mask.to(device)
    expected, _ = forward_backward(model, kspace, mask, num_low)
    half = torch.float16 if device == "cuda" else torch.bfloat16
    with ComplexDtypes() as complex_dtypes, torch.autocast(device, dtype=half):
        out, grads = forward_backward(model, kspace, mask, num_low)
    assert complex_dtypes.seen == {torch.complex64}
    assert out.dtype == torch.float32 and all(torch.isfinite(g).all() for g in grads)
    assert ((out - expected).norm() / expected.norm()).item() < 0.05
