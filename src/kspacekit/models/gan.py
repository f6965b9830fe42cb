"""Adversarial training parts: a PatchGAN discriminator and the GAN losses.

The generator is the image-domain U-Net (:mod:`kspacekit.models.unet`); the discriminator
(Isola et al. 2017, "PatchGAN") scores overlapping patches of a magnitude image as real
(fully sampled) or fake (reconstructed), so it judges texture and leaves global fidelity to
the content loss. Two standard objectives: ``"bce"`` (non-saturating GAN, BCE with logits) and
``"lsgan"`` (least squares, Mao et al. 2017).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

GAN_LOSSES = ("bce", "lsgan")


class PatchDiscriminator(nn.Module):
    """(N, 1, H, W) magnitude image -> (N, 1, h', w') patch logits (higher = more real).

    ``num_layers`` stride-2 4x4 convolutions doubling the width from ``chans`` (instance norm
    after all but the first, LeakyReLU 0.2), then a stride-1 4x4 conv and a 1-channel 4x4 conv.
    """

    def __init__(self, chans: int = 64, num_layers: int = 3) -> None:
        super().__init__()
        widths = [1] + [chans * 2**i for i in range(num_layers + 1)]
        layers: list[nn.Module] = []
        for i in range(num_layers + 1):
            stride = 2 if i < num_layers else 1
            layers.append(nn.Conv2d(widths[i], widths[i + 1], kernel_size=4, stride=stride, padding=1))
            if i > 0:
                layers.append(nn.InstanceNorm2d(widths[i + 1]))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        layers.append(nn.Conv2d(widths[-1], 1, kernel_size=4, stride=1, padding=1))
        self.layers = nn.Sequential(*layers)

    def forward(self, image: Tensor) -> Tensor:
        return self.layers(image)


def _check_kind(kind: str) -> None:
    if kind not in GAN_LOSSES:
        raise ValueError(f"unknown GAN loss {kind!r}; choose from {', '.join(GAN_LOSSES)}")


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor, kind: str = "bce") -> Tensor:
    """Loss of the discriminator: push real patches to 1 and fake patches to 0."""
    _check_kind(kind)
    if kind == "bce":
        real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
        fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    else:
        real = ((real_logits - 1) ** 2).mean()
        fake = (fake_logits**2).mean()
    return 0.5 * (real + fake)


def generator_adversarial_loss(fake_logits: Tensor, kind: str = "bce") -> Tensor:
    """Adversarial term of the generator: make the discriminator call its images real."""
    _check_kind(kind)
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    return 0.5 * ((fake_logits - 1) ** 2).mean()
