"""A few conv layers: the backbone tests train in seconds."""

from __future__ import annotations

import torch
from torch import nn


class TinyBackbone(nn.Module):
    """Three stride-2 conv/BN/ReLU layers; `forward_features` gives an (N, 32, H/8, W/8) map."""

    out_channels = 32

    def __init__(self, widths: tuple[int, int, int] = (8, 16, 32)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for width in widths:
            layers += [nn.Conv2d(in_channels, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width)]
            layers.append(nn.ReLU(inplace=False))
            in_channels = width
        self.features = nn.Sequential(*layers)
        self.out_channels = widths[-1]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)
