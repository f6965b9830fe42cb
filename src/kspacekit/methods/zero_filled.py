"""Zero-filled reconstruction: inverse FFT of the masked k-space, root-sum-of-squares over coils."""

from __future__ import annotations

from torch import Tensor

from kspacekit.methods.base import ReconMeta, ReconstructionMethod, register
from kspacekit.physics.fft import crop_or_pad, ifft2c, rss
from kspacekit.physics.operators import apply_mask


@register("zero-filled")
class ZeroFilled(ReconstructionMethod):
    """The baseline every method must beat; for single-coil data RSS is the magnitude."""

    def reconstruct(self, kspace: Tensor, mask: Tensor, meta: ReconMeta) -> Tensor:
        image = rss(ifft2c(apply_mask(kspace, mask)), dim=1)
        return crop_or_pad(image, meta.target_size).float()
