"""What differs between the trained methods inside one loop: the model, its forward, its loss, its optimiser.

multitask: the ECCV'18 multi-task network (GeoModel). isn: its individual scene networks (IsnModel, one set of
location heads per scene, each trained on the images whose scene probability exceeds the threshold; the batch
carries "scene_probs"). translocator: the ECCV'22 dual-branch ViT (the batch carries "segmentation", the class
map cropped like the image). Everything else (data, DDP, checkpoints, resume, metrics) is the same loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from geotagger.trainer.data.sources import NO_SCENE
from geotagger.trainer.training.config import RunConfig
from geotagger.trainer.training.loss import geo_scene_loss


class MissingBatchField(ValueError):
    """The data does not carry what the method trains on (scene probabilities, class maps)."""


def vit_config(config: RunConfig) -> Any:
    """The TransLocator layout of a run (ViT-B/16 or tiny) at the run's input size."""
    from geotagger.trainer.models.translocator import VitConfig

    size = config.model.input_size
    return VitConfig(image_px=size) if config.model.vit_layout == "vit_b16" else VitConfig.tiny(size)


def segmentation_class_count(config: RunConfig) -> int:
    """Classes of the run's segmentation file (the TransLocator's palette size)."""
    from geotagger.trainer.segmentation import load_segmentation

    assert config.model.segmentation is not None
    return len(load_segmentation(config.model.segmentation).class_names)


def build_method_model(config: RunConfig, partition_sizes: list[int], pretrained: bool) -> nn.Module:
    """The run's model, untrained (or from the configured pretrained weights)."""
    model = config.model
    if model.method == "isn":
        from geotagger.trainer.models.isn import build_isn_model

        return build_isn_model(model.backbone, partition_sizes, pretrained=pretrained, threshold=model.isn_threshold)
    if model.method == "translocator":
        from geotagger.trainer.models.translocator import TransLocator, load_vit_state

        translocator = TransLocator(vit_config(config), partition_sizes, segmentation_class_count(config))
        if pretrained and model.vit_weights:
            load_vit_state(translocator, torch.load(model.vit_weights, map_location="cpu", weights_only=True))
        return translocator
    from geotagger.trainer.models import build_model

    return build_model(model.backbone, partition_sizes, model.scene_classes, pretrained=pretrained,
                       head_dropout=model.head_dropout)


def build_optimizer(config: RunConfig, model: nn.Module) -> torch.optim.Optimizer:
    """SGD with momentum (the reference recipe) or AdamW (TransLocator's)."""
    optim = config.optim
    if optim.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay)


def _field(batch: Mapping[str, Any], key: str, method: str, device: torch.device) -> torch.Tensor:
    if key not in batch:
        raise MissingBatchField(f"{method} trains on the samples' {key}, which this data does not carry")
    return batch[key].to(device, non_blocking=True)


def forward(method: str, module: nn.Module, batch: Mapping[str, Any], device: torch.device) -> dict[str, torch.Tensor]:
    """The outputs of `module` (the model or its DDP wrapper) on one batch."""
    images = batch["image"].to(device, non_blocking=True)
    if method == "translocator":
        return module(images, _field(batch, "segmentation", method, device))
    return module(images)


def method_loss(config: RunConfig, model: nn.Module, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, Any],
                device: torch.device) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its parts {"geo_loss", "scene_loss"} of one batch."""
    method, weight = config.model.method, config.optim.scene_weight
    geo = batch["geo"].to(device, non_blocking=True)
    if method == "isn":
        from geotagger.trainer.models.isn import isn_loss

        probabilities = _field(batch, "scene_probs", method, device)
        total, parts = isn_loss(model, outputs, geo, probabilities, weight)  # type: ignore[arg-type]
        geo_parts = [value for key, value in parts.items() if key.startswith("geo_loss_")]
        return total, {"geo_loss": sum(geo_parts), "scene_loss": parts["scene_loss"]}
    scene: torch.Tensor | None = batch["scene"].to(device, non_blocking=True)
    if method == "translocator" and "scene_probs" in batch:  # its S3 scene head learns the most probable label
        scene = batch["scene_probs"].to(device, non_blocking=True).argmax(dim=1)
    elif method == "translocator" and bool((batch["scene"] == NO_SCENE).all()):
        scene = None
    return geo_scene_loss(outputs, geo, scene, weight)


def location_outputs(config: RunConfig, model: nn.Module, outputs: Mapping[str, torch.Tensor]
                     ) -> Mapping[str, torch.Tensor]:
    """The geo_i logits the prediction uses: for ISNs, those of the network the predicted scene picks."""
    if config.model.method == "isn":
        return model.routed(outputs)  # type: ignore[operator]
    return outputs
