"""Individual scene networks (Müller-Budack et al. ECCV'18, ISNs(M, f*, S3)): one location model per scene concept.

Layout: one backbone, the scene classifier head "scene" and, per scene label, its own location heads
`isn_<label>_geo_<i>` (one per partitioning, the same partitionings and hierarchy for every network). Network
`label` learns only from the images whose probability of `label` exceeds the threshold (0.3 in the paper); at
prediction the most probable scene picks the network (geocore.inference.scene_networks).

Heads on a shared backbone instead of three backbones: for inference the two are the same computation whenever
the networks share their trunk, and the bundle stays one graph with one feature map (exact class activation maps).
`fit_isn(..., freeze_backbone=True)` trains exactly separate networks sharing a fixed trunk; fine-tuning the trunk
on every scene's images is our deviation from three separate backbones, recorded on the card.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch.nn import functional

from geotagger.trainer.data.labels import IGNORE_INDEX
from geotagger.trainer.models.geo_model import GeoModel, geo_head_name

ISN_THRESHOLD = 0.3
S3_LABELS = ("indoor", "natural", "urban")


def network_head_name(label: str, index: int) -> str:
    """Output name of scene network `label`'s head for partitioning `index`."""
    return f"isn_{label}_{geo_head_name(index)}"


class IsnModel(GeoModel):
    """A GeoModel whose heads are "scene" plus one set of location heads per scene label.

    Args:
        backbone: module with `forward_features` and `out_channels` (as for GeoModel).
        backbone_name: registry name, recorded in the card.
        partition_sizes: classes of every partitioning, coarse -> fine (shared by all networks).
        scene_labels: the scene concepts, one network each (S3 by default).
        threshold: scene probability above which an image trains that scene's network.
    """

    def __init__(
        self,
        backbone: torch.nn.Module,
        backbone_name: str,
        partition_sizes: Sequence[int],
        scene_labels: Sequence[str] = S3_LABELS,
        threshold: float = ISN_THRESHOLD,
    ) -> None:
        heads = {network_head_name(label, index): int(size)
                 for label in scene_labels for index, size in enumerate(partition_sizes)}
        super().__init__(backbone, backbone_name, [], scene_classes=len(scene_labels), extra_heads=heads)
        self.scene_labels = tuple(scene_labels)
        self.network_partition_sizes = [int(size) for size in partition_sizes]
        self.threshold = float(threshold)

    def network_heads(self, label: str) -> dict[str, str]:
        """Partitioning head name (geo_i, as the card's partitionings say) -> this network's output."""
        return {geo_head_name(i): network_head_name(label, i) for i in range(len(self.network_partition_sizes))}

    def routed(self, outputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per sample, the heads of the network its predicted scene picks, under the names geo_0.. (torch twin of
        geocore's routing, for evaluation in the trainer)."""
        picked = outputs["scene"].argmax(dim=-1)
        routed = {}
        for index in range(len(self.network_partition_sizes)):
            stacked = torch.stack([outputs[network_head_name(label, index)] for label in self.scene_labels], dim=1)
            routed[geo_head_name(index)] = stacked[torch.arange(len(picked)), picked]
        return routed


def build_isn_model(
    backbone: str, partition_sizes: Sequence[int], scene_labels: Sequence[str] = S3_LABELS, pretrained: bool = True,
    threshold: float = ISN_THRESHOLD,
) -> IsnModel:
    """An IsnModel on a registry backbone."""
    from geotagger.trainer.models import build_backbone

    return IsnModel(build_backbone(backbone, pretrained), backbone, partition_sizes, scene_labels, threshold)


def scene_members(scene_probabilities: torch.Tensor, threshold: float = ISN_THRESHOLD) -> torch.Tensor:
    """(N, S) bool: which scene networks each image trains (probability strictly above the threshold)."""
    return scene_probabilities > threshold


def isn_loss(
    model: IsnModel, outputs: Mapping[str, torch.Tensor], geo_targets: torch.Tensor,
    scene_probabilities: torch.Tensor, scene_weight: float = 1.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum over networks of (mean over partitionings of CE on that network's members) + soft scene CE.

    Networks are independent (disjoint heads), so summing their losses trains each as if alone. Heads without a
    member in the batch contribute a zero that touches their logits (DDP sees every parameter used).
    """
    members = scene_members(scene_probabilities, model.threshold)
    total = torch.zeros((), device=geo_targets.device)
    parts: dict[str, float] = {}
    for column, label in enumerate(model.scene_labels):
        losses = []
        for index in range(len(model.network_partition_sizes)):
            logits = outputs[network_head_name(label, index)]
            valid = members[:, column] & (geo_targets[:, index] != IGNORE_INDEX)
            total = total + 0.0 * logits.sum()
            if bool(valid.any()):
                losses.append(functional.cross_entropy(logits[valid].float(), geo_targets[valid, index]))
        if losses:
            network_loss = torch.stack(losses).mean()
            total = total + network_loss
            parts[f"geo_loss_{label}"] = float(network_loss.detach())
    target = scene_probabilities / scene_probabilities.sum(dim=1, keepdim=True).clamp_min(1e-12)
    scene_loss = -(target * functional.log_softmax(outputs["scene"].float(), dim=-1)).sum(dim=1).mean()
    parts["scene_loss"] = float(scene_loss.detach())
    return total + scene_weight * scene_loss, parts


def fit_isn(
    model: IsnModel, images: torch.Tensor, geo_targets: torch.Tensor, scene_probabilities: torch.Tensor,
    epochs: int = 10, batch_size: int = 32, lr: float = 0.05, freeze_backbone: bool = False, seed: int = 0,
) -> IsnModel:
    """Train on in-memory tensors with SGD (momentum 0.9); under torch.distributed each rank takes its share.

    The full-scale path is `fit` with model.method isn (streamed shards, DDP, checkpoints; isn_loss there too);
    this loop serves tests and benchmarks.
    """
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    distributed = dist.is_available() and dist.is_initialized()
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    for parameter in model.backbone.parameters():
        parameter.requires_grad_(not freeze_backbone)
    wrapped: torch.nn.Module = DistributedDataParallel(model) if distributed else model
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr, momentum=0.9)
    generator = torch.Generator().manual_seed(seed)  # the same order on every rank: each takes every world-th
    model.train()
    if freeze_backbone:
        model.backbone.eval()  # fixed trunk: batch-norm statistics stay too
    for _ in range(epochs):
        usable = len(images) // world * world  # equal step counts on every rank, or DDP waits forever
        order = torch.randperm(len(images), generator=generator)[:usable][rank::world]
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            loss, _ = isn_loss(model, wrapped(images[batch]), geo_targets[batch], scene_probabilities[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()
