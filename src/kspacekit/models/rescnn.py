"""A residual CNN: a few 3x3 convolutions predict a correction added to the input image.

The small, fast image-domain baseline: ``output = input + f(input)`` where ``f`` is a plain
stack of convolutions with ReLU, so at initialisation the model is close to zero filling and it
only has to learn the aliasing artefacts.
"""

from __future__ import annotations

from torch import Tensor, nn


class ResidualCNN(nn.Module):
    """(N, 1, H, W) -> (N, 1, H, W): ``num_layers`` 3x3 convs of width ``chans`` plus a skip."""

    def __init__(self, chans: int = 64, num_layers: int = 5) -> None:
        super().__init__()
        if num_layers < 2:
            raise ValueError("a residual CNN needs at least 2 layers")
        widths = [1] + [chans] * (num_layers - 1) + [1]
        layers: list[nn.Module] = []
        for i in range(num_layers):
            layers.append(nn.Conv2d(widths[i], widths[i + 1], kernel_size=3, padding=1))
            if i < num_layers - 1:
                layers.append(nn.ReLU(inplace=True))
        self.layers = nn.Sequential(*layers)

    def forward(self, image: Tensor) -> Tensor:
        return image + self.layers(image)
