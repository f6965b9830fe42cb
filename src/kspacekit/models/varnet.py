"""End-to-end variational network (Sriram et al., MICCAI 2020), on native complex tensors.

Coil sensitivities are estimated from the fully sampled k-space centre by a small U-Net and
normalised to unit root-sum-of-squares; then ``num_cascades`` unrolled gradient steps refine the
multi-coil k-space, each with soft data consistency (a learned weight) and a U-Net regulariser
acting on the coil-combined image::

    k <- k - w * M (k - k0) - F S R(S^H F^H k)

The output is the RSS of the final coil images. Same layers and parameter order as
``fastmri.models.VarNet`` (its published weights map onto this module one to one). Masks may be
1-D line masks (B, 1, 1, W) or 2-D masks (B, 1, H, W); single-coil data is C == 1.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from kspacekit.models.unet import ComplexNormUnet
from kspacekit.physics.fft import crop_or_pad, ifft2c, rss
from kspacekit.physics.masks import center_run_sides
from kspacekit.physics.operators import apply_mask, sense_expand, sense_reduce


def _central_run(line: Tensor) -> Tensor:
    """Width of the symmetric fully sampled run around the centre of each row of ``line`` (B, N).

    fastMRI's rule: count consecutive sampled entries left and right of ``N // 2`` and take twice
    the smaller count (at least 1).
    """
    left, right = center_run_sides(line)
    return (2 * torch.minimum(left, right)).clamp_min(1)


def centre_box(mask: Tensor, shape: torch.Size, num_low_frequencies: int | None = None) -> Tensor:
    """0/1 mask (B, 1, H, W) of the fully sampled k-space centre, the autocalibration region.

    Along W (the phase-encode axis of 1-D masks) the width is ``num_low_frequencies`` if given,
    else detected from the mask; along H it is detected for 2-D masks and the full height for 1-D
    masks. Each run is placed as fastMRI places it: from ``(N - n + 1) // 2`` to that plus ``n``.
    """
    batch, _, height, width = shape
    plane = torch.broadcast_to(mask, (batch, 1, height, width))[:, 0]
    if num_low_frequencies:
        widths = torch.full((batch,), int(num_low_frequencies), device=mask.device)
    else:
        widths = _central_run(plane[:, height // 2, :])
    if mask.shape[-2] == 1:
        heights = torch.full((batch,), height, device=mask.device)
    else:
        heights = _central_run(plane[:, :, width // 2])

    def band(n: Tensor, size: int) -> Tensor:
        start = (size - n + 1) // 2
        index = torch.arange(size, device=mask.device)
        return (index >= start[:, None]) & (index < (start + n)[:, None])

    box = band(heights, height)[:, :, None] & band(widths, width)[:, None, :]
    return box.unsqueeze(1).to(torch.float32)


class SensitivityModel(nn.Module):
    """Masked k-space (B, C, H, W) -> coil sensitivity maps (B, C, H, W), unit RSS over coils."""

    def __init__(self, chans: int = 8, num_pools: int = 4, mask_center: bool = True, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.mask_center = mask_center
        self.norm_unet = ComplexNormUnet(chans, num_pools, drop_prob)

    def forward(self, masked_kspace: Tensor, mask: Tensor, num_low_frequencies: int | None = None) -> Tensor:
        if self.mask_center:
            masked_kspace = apply_mask(masked_kspace, centre_box(mask, masked_kspace.shape, num_low_frequencies))
        coil_images = ifft2c(masked_kspace)
        batch, coils, height, width = coil_images.shape
        maps = self.norm_unet(coil_images.reshape(batch * coils, height, width)).reshape(coil_images.shape)
        return maps / rss(maps, dim=1).unsqueeze(1).clamp_min(1e-12)


class VarNetCascade(nn.Module):
    """One unrolled step: soft data consistency with learned weight + regulariser in image space."""

    def __init__(self, regulariser: nn.Module) -> None:
        super().__init__()
        self.model = regulariser
        self.dc_weight = nn.Parameter(torch.ones(1))

    def forward(self, current_kspace: Tensor, ref_kspace: Tensor, mask: Tensor, sens_maps: Tensor) -> Tensor:
        soft_dc = apply_mask(current_kspace - ref_kspace, mask) * self.dc_weight
        model_term = sense_expand(self.model(sense_reduce(current_kspace, sens_maps)), sens_maps)
        return current_kspace - soft_dc - model_term


class VarNet(nn.Module):
    """E2E-VarNet; defaults are fastMRI's (12 cascades, 18-channel U-Nets, 8-channel sens U-Net)."""

    def __init__(
        self,
        num_cascades: int = 12,
        sens_chans: int = 8,
        sens_pools: int = 4,
        chans: int = 18,
        pools: int = 4,
        mask_center: bool = True,
    ) -> None:
        super().__init__()
        self.sens_net = SensitivityModel(sens_chans, sens_pools, mask_center)
        self.cascades = nn.ModuleList([VarNetCascade(ComplexNormUnet(chans, pools)) for _ in range(num_cascades)])

    def forward(
        self,
        masked_kspace: Tensor,
        mask: Tensor,
        target_size: tuple[int, int] | None = None,
        num_low_frequencies: int | None = None,
    ) -> Tensor:
        """RSS image (B, H, W), centre-cropped (or padded) to ``target_size`` when given."""
        image = rss(ifft2c(self.predicted_kspace(masked_kspace, mask, num_low_frequencies)), dim=1)
        return image if target_size is None else crop_or_pad(image, target_size)

    def predicted_kspace(self, masked_kspace: Tensor, mask: Tensor, num_low_frequencies: int | None = None) -> Tensor:
        """The multi-coil k-space (B, C, H, W) after the last cascade, before the RSS."""
        sens_maps = self.sens_net(masked_kspace, mask, num_low_frequencies)
        kspace = masked_kspace
        for cascade in self.cascades:
            kspace = cascade(kspace, masked_kspace, mask, sens_maps)
        return kspace
