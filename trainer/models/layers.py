"""Small building blocks shared by the backbones."""

from __future__ import annotations

import torch
from torch import nn


def conv2d(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """Bias-free convolution with symmetric padding `k // 2` (see efficientnet_lite.py for why not TF 'SAME')."""
    return nn.Conv2d(
        in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, groups=groups, bias=False
    )


def drop_connect(x: torch.Tensor, drop_rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop whole residual branches per sample while training."""
    if not training or drop_rate <= 0.0:
        return x
    keep = 1.0 - drop_rate
    mask = torch.rand((x.shape[0], 1, 1, 1), dtype=x.dtype, device=x.device) < keep
    return x * mask.to(x.dtype) / keep
