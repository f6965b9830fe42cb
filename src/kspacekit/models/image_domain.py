"""Image-domain reconstruction: a CNN that maps the zero-filled image to the reconstruction.

This is fastMRI's ``UnetDataTransform`` + ``UnetModule`` pipeline as one module: inverse FFT of
the masked k-space, centre crop (of the complex coil images) to the target size, magnitude and
root-sum-of-squares over coils, instance normalisation (mean/std of each image, clamped to
[-6, 6]), the network, and de-normalisation of its output with the same mean and std.
"""

from __future__ import annotations

from torch import Tensor, nn

from kspacekit.physics.operators import zero_filled_image

NORM_EPS = 1e-11
NORM_CLAMP = 6.0


class ImageDomainModel(nn.Module):
    """Masked k-space -> (B, h, w) magnitude image via a 1-in 1-out image network ``net``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(
        self, kspace: Tensor, mask: Tensor, target_size: tuple[int, int], num_low_frequencies: int | None = None
    ) -> Tensor:
        image = zero_filled_image(kspace, mask, target_size)
        mean = image.mean(dim=(-2, -1), keepdim=True)
        std = image.flatten(-2).std(dim=-1)[..., None, None]
        normalised = ((image - mean) / (std + NORM_EPS)).clamp(-NORM_CLAMP, NORM_CLAMP)
        output = self.net(normalised.unsqueeze(1)).squeeze(1).float()
        return output * (std + NORM_EPS) + mean
