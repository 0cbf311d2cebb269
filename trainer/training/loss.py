"""Multi-task loss: mean over partitionings of cross-entropy, plus the weighted scene cross-entropy."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch.nn import functional

from geotagger.trainer.data.labels import IGNORE_INDEX


def _head_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
    """Mean cross-entropy over the labelled samples, None when the batch has none for this head."""
    valid = target != IGNORE_INDEX
    if not bool(valid.any()):
        return None
    return functional.cross_entropy(logits[valid].float(), target[valid])


def geo_scene_loss(
    outputs: Mapping[str, torch.Tensor], geo_targets: torch.Tensor, scene_targets: torch.Tensor | None,
    scene_weight: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its parts (geo, scene) as floats for logging.

    geo_targets: (N, P) class per partitioning (-1 = outside it, ignored). A head with no labelled sample in the
    batch contributes a zero that still touches its logits, so DDP sees every parameter used.
    """
    parts: list[torch.Tensor] = []
    untouched = torch.zeros((), device=geo_targets.device)
    for index in range(geo_targets.shape[1]):
        logits = outputs[f"geo_{index}"]
        loss = _head_loss(logits, geo_targets[:, index])
        if loss is None:
            untouched = untouched + 0.0 * logits.sum()
        else:
            parts.append(loss)
    geo = torch.stack(parts).mean() if parts else untouched
    total = geo + untouched if parts else geo
    scene_value = 0.0
    if "scene" in outputs:
        scene_loss = _head_loss(outputs["scene"], scene_targets) if scene_targets is not None else None
        if scene_loss is None:
            total = total + 0.0 * outputs["scene"].sum()
        else:
            total = total + scene_weight * scene_loss
            scene_value = float(scene_loss.detach())
    return total, {"geo_loss": float(geo.detach()), "scene_loss": scene_value}
