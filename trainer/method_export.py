"""Bundles of the papers' further methods: individual scene networks (and TransLocator), checked against torch."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.geo.partitioning import Partitioning
from geotagger.geocore.inference.bundle import file_ref, geography_files, load_bundle, write_bundle
from geotagger.geocore.inference.card import HeadSpec, InputSpec, ModelCard, SceneNetworksSpec, SceneSpec
from geotagger.trainer.export import (
    EMBEDDING_OUTPUT,
    FEATURE_MAP_OUTPUT,
    INPUT_NAME,
    MAX_IR_VERSION,
    OPSET,
    CardFields,
    ExportCheck,
    ExportError,
    check_against_torch,
    export_onnx,
    head_weights_npz,
)
from geotagger.trainer.models.isn import IsnModel
from geotagger.trainer.models.translocator import TransLocator
from geotagger.trainer.segmentation import SegmentationModel

SEGMENTATION_INPUT = "segmentation_logits"


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
    check = check_against_torch(model, model_bytes, _check_images(check_images, size)).require_parity()
    networks = SceneNetworksSpec(model.threshold, {label: model.network_heads(label) for label in model.scene_labels})
    training = {**fields.training, "method": "individual scene networks (ECCV'18 ISNs): one set of location heads per "
                f"scene on a shared backbone, each trained on images with scene probability > {model.threshold}"}
    path = _write_method_bundle(model, model_bytes, fields, size, partitionings, hierarchy, out_path,
                                training=training, feature_map_output=FEATURE_MAP_OUTPUT,
                                scene=SceneSpec(model.scene_labels, "head", "scene"), scene_networks=networks)
    return path, check


def _check_images(given: torch.Tensor | None, size: int) -> torch.Tensor:
    """The images an export is checked on: the caller's, else three seeded random ones."""
    return given if given is not None else torch.randn(3, 3, size, size, generator=torch.Generator().manual_seed(0))


def _write_method_bundle(
    model: IsnModel | TransLocator, model_bytes: bytes, fields: CardFields, size: int,
    partitionings: Sequence[Partitioning], hierarchy: Hierarchy | None, out_path: str | Path, *,
    training: dict[str, Any], feature_map_output: str | None, scene: SceneSpec | None,
    scene_networks: SceneNetworksSpec | None = None,
) -> Path:
    """Write (and load back) the bundle of a checked graph: its heads, geography and card."""
    contents = {"model.onnx": model_bytes, "heads.npz": head_weights_npz(model)}  # type: ignore[arg-type]
    partition_refs, hierarchy_ref = geography_files(partitionings, hierarchy, contents)
    card = ModelCard(
        model_id=fields.model_id, backbone=model.backbone_name,
        input=InputSpec(size, tuple(fields.mean), tuple(fields.std)),  # type: ignore[arg-type]
        crops=fields.crops, files={role: file_ref(name, contents[name]) for role, name in
                                   (("model", "model.onnx"), ("heads", "heads.npz"))},
        embedding_output=EMBEDDING_OUTPUT, feature_map_output=feature_map_output,
        heads={name: HeadSpec(int(model.heads[name].out_features)) for name in model.head_names},
        partitionings=tuple(partition_refs), hierarchy=hierarchy_ref, scene=scene, scene_networks=scene_networks,
        training=training, evaluation=dict(fields.evaluation), license=fields.license,
    )
    path = write_bundle(out_path, card, contents)
    load_bundle(path)
    return path


class _TranslocatorGraph(torch.nn.Module):
    """Graph body: segmentation logits (N, C, h, w) -> class map at the input size -> heads' probabilities."""

    def __init__(self, model: TransLocator) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor, segmentation_logits: torch.Tensor) -> tuple[torch.Tensor, ...]:
        size = self.model.config.image_px
        classes = torch.nn.functional.interpolate(segmentation_logits.argmax(dim=1, keepdim=True).float(),
                                                  size=(size, size), mode="nearest")[:, 0].long()
        embedding = self.model.forward_features(image, classes)
        logits = self.model.forward_head(embedding)
        return tuple(torch.softmax(logits[name], dim=-1) for name in self.model.head_names) + (embedding,)


def translocator_onnx(model: TransLocator, segmentation: SegmentationModel) -> bytes:
    """One graph "image" -> the imported segmentation -> TransLocator: the bundle runs the segmentation itself."""
    import onnx
    from onnx import compose

    if segmentation.output != "logits":
        raise ExportError("TransLocator bundles need a segmentation graph that outputs logits (N, C, h, w)")
    size, names = model.config.image_px, [*model.head_names, EMBEDDING_OUTPUT]
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation on every call
        example = (torch.zeros(2, 3, size, size), torch.zeros(2, len(segmentation.class_names), size // 4, size // 4))
        torch.onnx.export(_TranslocatorGraph(model.eval()), example, buffer,
                          input_names=[INPUT_NAME, SEGMENTATION_INPUT], output_names=names,
                          dynamic_axes={INPUT_NAME: {0: "batch"}, SEGMENTATION_INPUT: {0: "batch", 2: "h", 3: "w"},
                                        **{name: {0: "batch"} for name in names}},
                          opset_version=OPSET, dynamo=False)
    body = onnx.load_from_string(buffer.getvalue())
    seg = compose.add_prefix(onnx.load_from_string(segmentation.model_bytes), "seg/")
    seg_input, seg_output = seg.graph.input[0].name, seg.graph.output[0].name
    for node in seg.graph.node:  # the segmentation reads the bundle's own input
        node.input[:] = [INPUT_NAME if name == seg_input else name for name in node.input]
    for node in body.graph.node:
        node.input[:] = [seg_output if name == SEGMENTATION_INPUT else name for name in node.input]
    nodes = list(seg.graph.node) + list(body.graph.node)
    del body.graph.node[:]
    body.graph.node.extend(nodes)
    body.graph.initializer.extend(seg.graph.initializer)
    kept = [value for value in body.graph.input if value.name != SEGMENTATION_INPUT]
    del body.graph.input[:]
    body.graph.input.extend(kept)
    body.ir_version = min(body.ir_version, seg.ir_version, MAX_IR_VERSION)
    onnx.checker.check_model(body, full_check=True)
    return body.SerializeToString()


def check_translocator(model: TransLocator, segmentation: SegmentationModel, model_bytes: bytes,
                       images: torch.Tensor) -> ExportCheck:
    """onnxruntime on the merged graph vs torch on the class maps the segmentation graph gives for the same input."""
    from geotagger.geocore.inference.runtime import import_onnxruntime

    ort = import_onnxruntime()
    onnx_outputs = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"]).run(
        None, {INPUT_NAME: images.numpy().astype(np.float32)})
    classes = torch.from_numpy(segmentation.class_map_of_input(images.numpy().astype(np.float32)))
    size = model.config.image_px
    classes = torch.nn.functional.interpolate(classes[:, None].float(), size=(size, size), mode="nearest")[:, 0].long()
    with torch.no_grad():
        embedding = model.eval().forward_features(images, classes)
        logits = model.forward_head(embedding)
    torch_outputs = [torch.softmax(logits[name], dim=-1) for name in model.head_names] + [embedding]
    names = [*model.head_names, EMBEDDING_OUTPUT]
    return ExportCheck({name: float(np.max(np.abs(a - b.numpy())))
                        for name, a, b in zip(names, onnx_outputs, torch_outputs, strict=True)})


def export_translocator_bundle(
    model: TransLocator, segmentation: SegmentationModel, fields: CardFields, partitionings: Sequence[Partitioning],
    hierarchy: Hierarchy | None, out_path: str | Path, check_images: torch.Tensor | None = None,
) -> tuple[Path, ExportCheck]:
    """A checked bundle whose graph runs the segmentation and TransLocator; saliency by occlusion (no feature map)."""
    model = model.eval().cpu()
    size = model.config.image_px
    if fields.input_size_px != size or sizes_of(partitionings) != model.partition_sizes:
        raise ExportError(f"card input {fields.input_size_px} px / partitionings {sizes_of(partitionings)} do not "
                          f"match the model ({size} px, {model.partition_sizes})")
    if tuple(segmentation.mean) != tuple(fields.mean) or tuple(segmentation.std) != tuple(fields.std):
        raise ExportError("the segmentation model and the card normalise differently: one input cannot serve both")
    model_bytes = translocator_onnx(model, segmentation)
    check = check_translocator(model, segmentation, model_bytes, _check_images(check_images, size)).require_parity()
    training = {**fields.training, "method": "TransLocator: dual-branch ViT (RGB + segmentation map), CLS fusion "
                "after every layer", "segmentation_classes": segmentation.class_names}
    scene = SceneSpec(("indoor", "natural", "urban"), "head", "scene") if "scene" in model.heads else None
    path = _write_method_bundle(model, model_bytes, fields, size, partitionings, hierarchy, out_path,
                                training=training, feature_map_output=None, scene=scene)
    return path, check


def sizes_of(partitionings: Sequence[Partitioning]) -> list[int]:
    """Classes per partitioning."""
    return [len(partitioning) for partitioning in partitionings]


def run_evaluation(run_dir: Path) -> dict[str, Any]:
    """What the run measured: summary.json and the last metrics.csv row, when present."""
    evaluation: dict[str, Any] = {}
    summary = run_dir / "summary.json"
    if summary.is_file():
        with contextlib.suppress(OSError, json.JSONDecodeError):  # a damaged summary must not block the export
            evaluation["summary"] = json.loads(summary.read_text(encoding="utf-8"))
    metrics = run_dir / "metrics.csv"
    if metrics.is_file():
        with open(metrics, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        if rows:
            evaluation["last_epoch"] = rows[-1]
    return evaluation


def export_run_bundle(
    run_dir: str | Path, out_path: str | Path, model_id: str | None = None, which: str = "best", crops: int = 1,
    aggregation: str = "mean", license: str = "",
) -> tuple[Path, ExportCheck, dict[str, Any]]:
    """The checked bundle of an ISN or TransLocator run folder; returns it, the check and the run's figures."""
    from geotagger.geocore.inference.card import CropSpec
    from geotagger.trainer.segmentation import load_segmentation
    from geotagger.trainer.training.config import config_to_dict
    from geotagger.trainer.training.loop import load_run_model

    run_dir = Path(run_dir)
    model, partitionings, config = load_run_model(run_dir, which)
    evaluation = run_evaluation(run_dir)
    size = config.model.input_size
    training = {"run": run_dir.resolve().name, "checkpoint": which, "config": config_to_dict(config),
                "images": int(float(evaluation.get("last_epoch", {}).get("train_images", 0))),
                "epochs": config.optim.epochs}
    fields = CardFields(model_id or run_dir.resolve().name, input_size_px=size,
                        crops=CropSpec(crops, aggregation, max(config.model.eval_resize, size)), training=training,
                        evaluation=evaluation, license=license)
    hierarchy = Hierarchy(partitionings)
    if config.model.method == "isn":
        training["threshold"] = config.model.isn_threshold
        path, check = export_isn_bundle(model, fields, partitionings, hierarchy, out_path)
    elif config.model.method == "translocator":
        assert config.model.segmentation is not None
        training["layout"] = config.model.vit_layout
        segmentation = load_segmentation(config.model.segmentation)
        path, check = export_translocator_bundle(model, segmentation, fields, partitionings, hierarchy, out_path)
    else:
        raise ExportError(f"run {run_dir} trained {config.model.method!r}: export it with `geotag-train export`")
    return path, check, evaluation
