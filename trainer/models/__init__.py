"""Torch models of the trainer: backbones (EfficientNet-Lite0, ResNet-50, tiny) and the multi-head GeoModel."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from geotagger.trainer.models.efficientnet_lite import EfficientNetLite0, load_lite0_imagenet_state, split_classifier
from geotagger.trainer.models.geo_model import GeoModel, geo_head_name
from geotagger.trainer.models.resnet import ResNet50, strip_torchvision_classifier
from geotagger.trainer.models.tiny import TinyBackbone

BACKBONES = ("efficientnet_lite0", "resnet50", "tiny")
IMAGENET_HEAD = "imagenet"
IMAGENET_CLASSES = 1000

__all__ = [
    "BACKBONES",
    "IMAGENET_HEAD",
    "GeoModel",
    "build_backbone",
    "build_imagenet_model",
    "build_model",
    "geo_head_name",
    "load_backbone_state",
]


def build_backbone(name: str, pretrained: bool = True) -> nn.Module:
    """A backbone by name; `pretrained` loads the offline ImageNet weights (EfficientNet-Lite0 only)."""
    if name == "efficientnet_lite0":
        backbone = EfficientNetLite0()
        if pretrained:
            state, _ = split_classifier(load_lite0_imagenet_state())
            load_backbone_state(backbone, state)
        return backbone
    if name == "resnet50":
        if pretrained:
            raise ValueError(
                "no ImageNet weights for resnet50 are available offline: build with pretrained=False and load a "
                "torchvision-layout checkpoint with load_backbone_state()"
            )
        return ResNet50()
    if name == "tiny":
        return TinyBackbone()
    raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")


def load_backbone_state(backbone: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Load backbone weights strictly (every key matched); drops a classifier (`fc.`/`_fc.`) and `module.` prefix."""
    cleaned = strip_torchvision_classifier(state)
    cleaned = {key: value for key, value in cleaned.items() if not key.startswith("_fc.")}
    result = backbone.load_state_dict(cleaned, strict=True)
    if result.missing_keys or result.unexpected_keys:  # strict=True raises first; kept for clarity
        raise ValueError(f"backbone weights do not match: {result}")


def build_model(
    backbone: str,
    partition_sizes: Sequence[int],
    scene_classes: int | None = None,
    pretrained: bool = True,
    head_dropout: float = 0.0,
) -> GeoModel:
    """A GeoModel with heads geo_0.. (one per partitioning, coarse -> fine) and an optional "scene" head."""
    return GeoModel(
        build_backbone(backbone, pretrained),
        backbone,
        partition_sizes,
        scene_classes=scene_classes,
        head_dropout=head_dropout,
    )


def build_imagenet_model() -> GeoModel:
    """EfficientNet-Lite0 with its pretrained ImageNet classifier as the 1000-class head "imagenet"."""
    backbone_state, classifier = split_classifier(load_lite0_imagenet_state())
    backbone = EfficientNetLite0()
    load_backbone_state(backbone, backbone_state)
    model = GeoModel(backbone, "efficientnet_lite0", [], extra_heads={IMAGENET_HEAD: IMAGENET_CLASSES})
    model.heads[IMAGENET_HEAD].load_state_dict(classifier, strict=True)
    return model.eval()
