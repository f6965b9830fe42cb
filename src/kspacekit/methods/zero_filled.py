"""Zero-filled reconstruction: inverse FFT of the masked k-space, root-sum-of-squares over coils."""

from __future__ import annotations

from torch import Tensor

from kspacekit.methods.base import ReconMeta, ReconstructionMethod, register
from kspacekit.physics.operators import zero_filled_image


@register("zero-filled")
class ZeroFilled(ReconstructionMethod):
    """The baseline every method must beat; for single-coil data RSS is the magnitude."""

    def reconstruct(self, kspace: Tensor, mask: Tensor, meta: ReconMeta) -> Tensor:
        return zero_filled_image(kspace, mask, meta.target_size).float()
