"""Bundles of the papers' further methods: individual scene networks (and TransLocator), checked against torch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from geocore.geo.hierarchy import Hierarchy
from geocore.geo.partitioning import Partitioning
from geocore.inference.bundle import file_ref, geography_files, load_bundle, write_bundle
from geocore.inference.card import HeadSpec, InputSpec, ModelCard, SceneNetworksSpec, SceneSpec
from trainer.export import (
    EMBEDDING_OUTPUT,
    FEATURE_MAP_OUTPUT,
    TOLERANCE,
    CardFields,
    ExportCheck,
    ExportError,
    check_against_torch,
    export_onnx,
    head_weights_npz,
)
from trainer.models.isn import IsnModel


def export_isn_bundle(
    model: IsnModel, fields: CardFields, partitionings: Sequence[Partitioning], hierarchy: Hierarchy | None,
    out_path: str | Path, check_images: torch.Tensor | None = None,
) -> tuple[Path, ExportCheck]:
    """One bundle: the scene classifier and every scene network's heads; the card says how the scene routes."""
    model = model.eval().cpu()
    sizes = [len(partitioning) for partitioning in partitionings]
    if sizes != model.network_partition_sizes:
        raise ExportError(f"partitionings have {sizes} classes but the networks' heads {model.network_partition_sizes}")
    model_bytes = export_onnx(model, fields.input_size_px)
    size = fields.input_size_px
    images = check_images if check_images is not None else torch.randn(
        3, 3, size, size, generator=torch.Generator().manual_seed(0))
    check = check_against_torch(model, model_bytes, images)
    if check.worst > TOLERANCE:
        raise ExportError(f"ONNX differs from torch by {check.worst:.2e} (> {TOLERANCE}): {check.max_abs_diff}")
    contents = {"model.onnx": model_bytes, "heads.npz": head_weights_npz(model)}
    partition_refs, hierarchy_ref = geography_files(partitionings, hierarchy, contents)
    networks = SceneNetworksSpec(model.threshold, {label: model.network_heads(label) for label in model.scene_labels})
    training = {**fields.training, "method": "individual scene networks (ECCV'18 ISNs): one set of location heads per "
                f"scene on a shared backbone, each trained on images with scene probability > {model.threshold}"}
    card = ModelCard(
        model_id=fields.model_id, backbone=model.backbone_name,
        input=InputSpec(size, tuple(fields.mean), tuple(fields.std)),  # type: ignore[arg-type]
        crops=fields.crops, files={role: file_ref(name, contents[name]) for role, name in
                                   (("model", "model.onnx"), ("heads", "heads.npz"))},
        embedding_output=EMBEDDING_OUTPUT, feature_map_output=FEATURE_MAP_OUTPUT,
        heads={name: HeadSpec(int(model.heads[name].out_features)) for name in model.head_names},
        partitionings=tuple(partition_refs), hierarchy=hierarchy_ref,
        scene=SceneSpec(model.scene_labels, "head", "scene"), scene_networks=networks,
        training=training, evaluation=dict(fields.evaluation), license=fields.license,
    )
    path = write_bundle(out_path, card, contents)
    load_bundle(path)
    return path, check
