"""The fastMRI baseline U-Net (Ronneberger et al. 2015, as configured by Zbontar et al. 2018).

Same layers, sizes and parameter order as ``fastmri.models.Unet``, so its published weights map
onto this module one to one: each level is two 3x3 convolutions without bias, each followed by
instance normalisation and LeakyReLU(0.2); 2x2 average pooling on the way down; a 2x2
transposed convolution on the way up, concatenated with the skip connection; a final 1x1
convolution. :class:`ComplexNormUnet` wraps it for complex images (the VarNet regulariser).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kspacekit.physics.fft import from_real_channels, to_real_channels


def conv_block(in_chans: int, out_chans: int, drop_prob: float = 0.0) -> nn.Sequential:
    """Two (3x3 conv -> instance norm -> LeakyReLU -> dropout) layers."""
    layers: list[nn.Module] = []
    for chans_in in (in_chans, out_chans):
        layers += [
            nn.Conv2d(chans_in, out_chans, kernel_size=3, padding=1, bias=False),
            nn.InstanceNorm2d(out_chans),
            nn.LeakyReLU(negative_slope=0.2, inplace=True),
        ]
        if drop_prob > 0:
            layers.append(nn.Dropout2d(drop_prob))
    return nn.Sequential(*layers)


def upsample_block(in_chans: int, out_chans: int) -> nn.Sequential:
    """2x2 stride-2 transposed conv -> instance norm -> LeakyReLU: doubles the spatial size."""
    return nn.Sequential(
        nn.ConvTranspose2d(in_chans, out_chans, kernel_size=2, stride=2, bias=False),
        nn.InstanceNorm2d(out_chans),
        nn.LeakyReLU(negative_slope=0.2, inplace=True),
    )


class Unet(nn.Module):
    """Real-valued U-Net: (N, in_chans, H, W) -> (N, out_chans, H, W); any H, W >= 2**num_pools."""

    def __init__(
        self, in_chans: int = 1, out_chans: int = 1, chans: int = 32, num_pool_layers: int = 4, drop_prob: float = 0.0
    ) -> None:
        super().__init__()
        widths = [chans * 2**level for level in range(num_pool_layers + 1)]
        self.encoders = nn.ModuleList(
            [conv_block(in_chans, chans, drop_prob)]
            + [conv_block(widths[i], widths[i + 1], drop_prob) for i in range(num_pool_layers - 1)]
        )
        self.bottleneck = conv_block(widths[-2], widths[-1], drop_prob)
        decoder_widths = list(reversed(widths[:-1]))
        self.decoders = nn.ModuleList([conv_block(2 * w, w, drop_prob) for w in decoder_widths])
        self.head = nn.Conv2d(chans, out_chans, kernel_size=1)
        self.upsamplers = nn.ModuleList([upsample_block(2 * w, w) for w in decoder_widths])

    def forward(self, image: Tensor) -> Tensor:
        skips = []
        x = image
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = F.avg_pool2d(x, kernel_size=2, stride=2)
        x = self.bottleneck(x)
        for upsample, decoder in zip(self.upsamplers, self.decoders):
            skip = skips.pop()
            x = upsample(x)
            # Odd sizes: pooling floored, so reflect-pad the right/bottom edge back to the skip's size.
            pad_w, pad_h = skip.shape[-1] - x.shape[-1], skip.shape[-2] - x.shape[-2]
            if pad_w or pad_h:
                x = F.pad(x, [0, pad_w, 0, pad_h], mode="reflect")
            x = decoder(torch.cat([x, skip], dim=1))
        return self.head(x)


class ComplexNormUnet(nn.Module):
    """Complex image (N, H, W) -> complex image (N, H, W) through a 2-channel U-Net.

    Real and imaginary parts are normalised separately (mean, std over the image), the image is
    zero-padded to a multiple of 16 on both sides, and both steps are undone on the output; this
    keeps the network scale-equivariant and numerically stable at any k-space scale.
    """

    def __init__(self, chans: int, num_pools: int, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.unet = Unet(2, 2, chans, num_pools, drop_prob)

    def forward(self, image: Tensor) -> Tensor:
        x = to_real_channels(image)
        mean = x.mean(dim=(-2, -1), keepdim=True)
        std = x.flatten(-2).std(dim=-1)[..., None, None]
        x = (x - mean) / std
        height, width = x.shape[-2:]
        pad_h, pad_w = -height % 16, -width % 16
        top, left = pad_h // 2, pad_w // 2
        x = F.pad(x, [left, pad_w - left, top, pad_h - top])
        x = self.unet(x)[..., top : top + height, left : left + width]
        # float() undoes autocast's half precision before the complex view (complex32 is unusable).
        return from_real_channels(x.float() * std + mean)
