"""A small network fitted to one scan: a per-slice blend of reconstructions plus a convolutional correction.

Every slice of a batch has its own parameters (grouped convolutions, one group per slice), so a
batch is fitted as one tensor program while each slice's result depends on that slice alone.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional


class SliceWiseBlend(nn.Module):
    """``m = sum_i w_i x_i + g(x)`` for input images ``x`` (N, B, I, H, W) -> (N, B, H, W).

    ``w`` (B, I) starts at ``start_weights``; ``g`` is a ``layers``-deep 3x3 CNN with ``hidden``
    channels and ReLUs whose last layer starts at zero, so the untrained blend is exactly the
    weighted sum of its inputs (for one-hot weights: one of the inputs). N is any leading
    dimension (here: the k-space splits of the same slices); ``hidden == 0`` gives the blend alone.
    """

    def __init__(self, start_weights: Tensor, hidden: int, layers: int, generator: torch.Generator) -> None:
        super().__init__()
        slices, inputs = start_weights.shape
        self.slices = slices
        self.weights = nn.Parameter(start_weights.detach().clone())
        self.kernels = nn.ParameterList()
        self.biases = nn.ParameterList()
        if hidden == 0:
            return
        widths = [inputs] + [hidden] * (layers - 1) + [1]
        for index, (width_in, width_out) in enumerate(zip(widths[:-1], widths[1:])):
            shape = (slices * width_out, width_in, 3, 3)
            if index == len(widths) - 2:
                kernel = torch.zeros(shape)
            else:  # He initialisation for the ReLU layers
                kernel = torch.randn(shape, generator=generator) * (2.0 / (9 * width_in)) ** 0.5
            self.kernels.append(nn.Parameter(kernel.to(start_weights.device)))
            self.biases.append(nn.Parameter(start_weights.new_zeros(slices * width_out)))

    def forward(self, images: Tensor) -> Tensor:
        count, slices, inputs, height, width = images.shape
        blend = (self.weights[None, :, :, None, None] * images).sum(2)
        if not self.kernels:
            return blend
        features = images.reshape(count, slices * inputs, height, width)
        for index, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            features = functional.conv2d(features, kernel, bias, padding=1, groups=slices)
            if index < len(self.kernels) - 1:
                features = functional.relu(features)
        return blend + features.view(count, slices, height, width)

    def slice_state(self) -> list[Tensor]:
        """A detached copy of every parameter (to keep the state of a chosen step)."""
        return [p.detach().clone() for p in self.parameters()]

    def load_slices(self, state: list[Tensor], chosen: Tensor) -> None:
        """Copy the parameters of the slices where ``chosen`` (B,) is true from ``state``."""
        with torch.no_grad():
            for parameter, saved in zip(self.parameters(), state):
                rows = chosen.repeat_interleave(parameter.shape[0] // self.slices)
                parameter[rows] = saved[rows]
