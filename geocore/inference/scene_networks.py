"""Individual scene networks (ECCV'18 ISNs): the predicted scene picks which network's location heads count.

An ISN bundle's graph has one scene head and, per scene label, its own location heads (one per partitioning). The
card's `scene_networks` maps every partitioning head to that network's output; routing copies the picked
network's outputs under the partitioning heads' names, so hierarchical prediction runs unchanged on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from geotagger.geocore.inference.bundle import ModelBundle
from geotagger.geocore.inference.card import ModelCard


def pick_scene_network(card: ModelCard, scene: Mapping[str, float]) -> str | None:
    """The scene label whose network predicts this photo (the most probable scene), or None for a plain bundle."""
    if card.scene_networks is None or not scene:
        return None
    labels = [label for label in (card.scene.labels if card.scene else ()) if label in scene]
    return max(labels, key=lambda label: scene[label]) if labels else None


def route_outputs(
    card: ModelCard, outputs: Mapping[str, npt.NDArray[np.float32]], label: str
) -> dict[str, npt.NDArray[np.float32]]:
    """`outputs` plus, under every partitioning head's name, the output of scene network `label`."""
    if card.scene_networks is None:
        raise ValueError(f"{card.model_id}: not a bundle of individual scene networks")
    routed = dict(outputs)
    for head, output in card.scene_networks.network_heads(label).items():
        routed[head] = outputs[output]
    return routed


def routed_bundle(bundle: ModelBundle, label: str) -> ModelBundle:
    """`bundle` whose head weights under the partitioning heads' names are scene network `label`'s (for saliency)."""
    if bundle.card.scene_networks is None:
        return bundle
    aliases = {head: bundle.heads[output] for head, output in bundle.card.scene_networks.network_heads(label).items()}
    return replace(bundle, heads={**bundle.heads, **aliases})
