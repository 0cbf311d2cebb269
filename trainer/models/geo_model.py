"""GeoModel: one backbone, global average pooling, one linear head per partitioning plus optional scene head."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn


def geo_head_name(index: int) -> str:
    """Output name of the location head of partitioning `index` (coarse -> fine)."""
    return f"geo_{index}"


class GeoModel(nn.Module):
    """Backbone + linear heads on the globally average-pooled final feature map.

    Args:
        backbone: module with `forward_features(x) -> (N, C, h, w)` and an `out_channels` attribute.
        backbone_name: registry name ("efficientnet_lite0", "resnet50", "tiny"), recorded in bundle cards.
        partition_sizes: number of classes of every partitioning, coarse -> fine (heads "geo_0", "geo_1", ...).
        scene_classes: number of scene classes (head "scene"), or None for no scene head.
        extra_heads: further named linear heads (e.g. {"imagenet": 1000} for the base bundle).
        head_dropout: dropout on the pooled embedding while training.

    Because every head is linear on global average pooling, a class activation map is exact:
    CAM_k(y, x) = sum_c W[k, c] * feature_map[c, y, x] + b[k], and its spatial mean equals logit k.
    """

    def __init__(
        self,
        backbone: nn.Module,
        backbone_name: str,
        partition_sizes: Sequence[int],
        scene_classes: int | None = None,
        extra_heads: Mapping[str, int] | None = None,
        head_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.backbone_name = backbone_name
        self.backbone_out_channels = int(getattr(backbone, "out_channels"))  # noqa: B009 - typed by protocol only
        self.partition_sizes = [int(size) for size in partition_sizes]
        self.scene_classes = scene_classes
        sizes: dict[str, int] = {geo_head_name(i): size for i, size in enumerate(self.partition_sizes)}
        if scene_classes:
            sizes["scene"] = int(scene_classes)
        sizes.update(extra_heads or {})
        if any(size < 1 for size in sizes.values()):
            raise ValueError(f"every head needs at least one class, got {sizes}")
        self.heads = nn.ModuleDict({name: nn.Linear(self.backbone_out_channels, size) for name, size in sizes.items()})
        self.dropout = nn.Dropout(head_dropout)

    @property
    def head_names(self) -> list[str]:
        """Names of the heads in output order: geo_0..geo_{n-1}, then scene, then extra heads."""
        return list(self.heads.keys())

    @property
    def geo_head_names(self) -> list[str]:
        """Names of the location heads, coarse -> fine."""
        return [geo_head_name(i) for i in range(len(self.partition_sizes))]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Final feature map (N, C, h, w) of the backbone."""
        return self.backbone.forward_features(x)

    @staticmethod
    def pool(feature_map: torch.Tensor) -> torch.Tensor:
        """Global average pooling (N, C, h, w) -> (N, C): the embedding the heads see."""
        return feature_map.mean(dim=(2, 3))

    def forward_head(self, feature_map: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits of every head from the final feature map."""
        embedding = self.dropout(self.pool(feature_map))
        return {name: head(embedding) for name, head in self.heads.items()}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.forward_head(self.forward_features(x))

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters of the heads only (for training heads on frozen features)."""
        return list(self.heads.parameters())
