"""The model card (`model_card.json`): the single source of truth of a bundle, with validation.

Format version 1, written by `trainer.export`, read by `geocore.inference.bundle`:

    format_version   1
    model_id         unique id of the model (str)
    backbone         "efficientnet_lite0" | "resnet50" | "tiny" | ...
    input            {"size_px": 224, "mean": [3 floats], "std": [3 floats]}   (RGB in [0, 1], then (x - mean) / std)
    crops            {"count": 1|3|5, "aggregation": "mean"|"max", "resize_short_px": 256}
    files            {"model": FileRef, "heads": FileRef}               FileRef = {"file": "model.onnx", "sha256": hex}
    outputs          {"embedding": "embedding", "feature_map": "feature_map",
                      "heads": {name: {"classes": N, "kind": "probabilities"}}}  (heads are softmax'ed in the graph)
    partitionings    [{"name", "kind": "s2"|"semantic", "head": "geo_0", "classes": N, "file", "sha256"}], coarse->fine
    hierarchy        FileRef or null (needed when there are two or more partitionings)
    scene            null or {"labels": [...], "source": "head"|"imagenet_mapping", "head": "scene"|"imagenet",
                      "mapping": FileRef or null}
    training, evaluation   free-form dicts (what it was trained on; accuracy tables)
    license          str

Crop schemes: count 1 = resize the short side to `resize_short_px`, centre crop; count 3 = resize the short side to
`size_px`, three crops evenly spaced along the longer side (the paper); count 5 = resize the short side to
`resize_short_px`, four corners and the centre (the PyTorch reference).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

FORMAT_VERSION = 1
CARD_NAME = "model_card.json"
CROP_COUNTS = (1, 3, 5)
AGGREGATIONS = ("mean", "max")
SCENE_SOURCES = ("head", "imagenet_mapping")
PARTITIONING_KINDS = ("s2", "semantic")
# ImageNet normalisation: the default a trainer writes into a card; readers always take the card's values.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$")


class BundleError(ValueError):
    """A model bundle that cannot be used; the message names the bundle and the reason."""


@dataclass(frozen=True)
class FileRef:
    """A file inside the bundle and its SHA-256."""

    file: str
    sha256: str


@dataclass(frozen=True)
class InputSpec:
    """Network input: square side in pixels and the per-channel normalisation of RGB values in [0, 1]."""

    size_px: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


@dataclass(frozen=True)
class CropSpec:
    """Test-time crops: how many, how their probabilities are combined, the short side for schemes 1 and 5."""

    count: int = 3
    aggregation: str = "mean"
    resize_short_px: int = 256


@dataclass(frozen=True)
class HeadSpec:
    """One probability output of the graph."""

    classes: int
    kind: str = "probabilities"


@dataclass(frozen=True)
class PartitioningRef:
    """A partitioning shipped in the bundle and the head that predicts it."""

    name: str
    kind: str
    head: str
    classes: int
    file: str
    sha256: str


@dataclass(frozen=True)
class SceneSpec:
    """Where scene probabilities come from: a scene head, or ImageNet classes summed through a mapping."""

    labels: tuple[str, ...]
    source: str
    head: str
    mapping: FileRef | None = None


@dataclass(frozen=True)
class ModelCard:
    """Everything geocore needs to run a bundle and everything a user needs to judge it."""

    model_id: str
    backbone: str
    input: InputSpec
    crops: CropSpec
    files: dict[str, FileRef]
    embedding_output: str
    feature_map_output: str
    heads: dict[str, HeadSpec]
    partitionings: tuple[PartitioningRef, ...] = ()
    hierarchy: FileRef | None = None
    scene: SceneSpec | None = None
    training: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    license: str = ""
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        """Serialise in the documented layout."""
        return json.dumps(card_to_dict(self), indent=2, sort_keys=False)

    def bundled_files(self) -> list[FileRef]:
        """Every file the card points to, with its checksum."""
        refs = list(self.files.values()) + [FileRef(p.file, p.sha256) for p in self.partitionings]
        if self.hierarchy is not None:
            refs.append(self.hierarchy)
        if self.scene is not None and self.scene.mapping is not None:
            refs.append(self.scene.mapping)
        return refs


def card_to_dict(card: ModelCard) -> dict[str, Any]:
    """The card as plain JSON data."""
    return {
        "format_version": card.format_version,
        "model_id": card.model_id,
        "backbone": card.backbone,
        "input": asdict(card.input),
        "crops": asdict(card.crops),
        "files": {role: asdict(ref) for role, ref in card.files.items()},
        "outputs": {
            "embedding": card.embedding_output,
            "feature_map": card.feature_map_output,
            "heads": {name: asdict(head) for name, head in card.heads.items()},
        },
        "partitionings": [asdict(ref) for ref in card.partitionings],
        "hierarchy": asdict(card.hierarchy) if card.hierarchy else None,
        "scene": asdict(card.scene) if card.scene else None,
        "training": card.training,
        "evaluation": card.evaluation,
        "license": card.license,
    }


def card_from_json(text: str | bytes, origin: str) -> ModelCard:
    """Parse and validate a card; raises BundleError naming `origin` and the problem."""
    try:
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(f"{origin}: {CARD_NAME} is not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise BundleError(f"{origin}: {CARD_NAME} must hold a JSON object")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(f"{origin}: unknown bundle format version {version!r} (this version reads {FORMAT_VERSION})")
    try:
        card = _card_from_dict(data)
    except (KeyError, TypeError, ValueError) as error:
        detail = f"missing field {error}" if isinstance(error, KeyError) else str(error)
        raise BundleError(f"{origin}: malformed {CARD_NAME}: {detail}") from None
    validate_card(card, origin)
    return card


def _file_ref(data: dict[str, Any] | None) -> FileRef | None:
    return None if data is None else FileRef(str(data["file"]), str(data["sha256"]))


def _card_from_dict(data: dict[str, Any]) -> ModelCard:
    outputs = data["outputs"]
    scene = data.get("scene")
    return ModelCard(
        model_id=str(data["model_id"]),
        backbone=str(data["backbone"]),
        input=InputSpec(int(data["input"]["size_px"]), _triple(data["input"]["mean"]), _triple(data["input"]["std"])),
        crops=CropSpec(**{key: data["crops"][key] for key in ("count", "aggregation", "resize_short_px")}),
        files={str(role): FileRef(str(ref["file"]), str(ref["sha256"])) for role, ref in data["files"].items()},
        embedding_output=str(outputs["embedding"]),
        feature_map_output=str(outputs["feature_map"]),
        heads={str(name): HeadSpec(int(head["classes"]), str(head["kind"])) for name, head in outputs["heads"].items()},
        partitionings=tuple(PartitioningRef(**ref) for ref in data.get("partitionings") or []),
        hierarchy=_file_ref(data.get("hierarchy")),
        scene=None if scene is None else SceneSpec(
            tuple(scene["labels"]), str(scene["source"]), str(scene["head"]), _file_ref(scene.get("mapping"))
        ),
        training=dict(data.get("training") or {}),
        evaluation=dict(data.get("evaluation") or {}),
        license=str(data.get("license", "")),
    )


def _triple(values: Any) -> tuple[float, float, float]:
    floats = [float(value) for value in values]
    if len(floats) != 3:
        raise ValueError(f"expected 3 channel values, got {len(floats)}")
    return floats[0], floats[1], floats[2]


def validate_card(card: ModelCard, origin: str) -> None:
    """Check the card's internal consistency; raises BundleError."""
    problems = _card_problems(card)
    if problems:
        raise BundleError(f"{origin}: invalid {CARD_NAME}: " + "; ".join(problems))


def _card_problems(card: ModelCard) -> list[str]:
    problems = []
    if card.crops.count not in CROP_COUNTS:
        problems.append(f"crop count {card.crops.count} not in {CROP_COUNTS}")
    if card.crops.aggregation not in AGGREGATIONS:
        problems.append(f"crop aggregation {card.crops.aggregation!r} not in {AGGREGATIONS}")
    if card.input.size_px < 8 or card.crops.resize_short_px < card.input.size_px:
        problems.append(f"input size {card.input.size_px} px / resize {card.crops.resize_short_px} px inconsistent")
    if any(value <= 0 for value in card.input.std):
        problems.append("std values must be positive")
    if "model" not in card.files or "heads" not in card.files:
        problems.append("files must name 'model' and 'heads'")
    for ref in card.bundled_files():
        if not _SAFE_NAME.match(ref.file) or ".." in ref.file.split("/"):
            problems.append(f"unsafe file name {ref.file!r}")
        if not re.fullmatch(r"[0-9a-f]{64}", ref.sha256):
            problems.append(f"{ref.file}: sha256 must be 64 lowercase hex digits")
    problems += _head_problems(card)
    return problems


def _head_problems(card: ModelCard) -> list[str]:
    problems = []
    for ref in card.partitionings:
        if ref.kind not in PARTITIONING_KINDS:
            problems.append(f"partitioning {ref.name}: unknown kind {ref.kind!r}")
        head = card.heads.get(ref.head)
        if head is None:
            problems.append(f"partitioning {ref.name}: no output head {ref.head!r}")
        elif head.classes != ref.classes:
            problems.append(f"partitioning {ref.name}: head {ref.head} has {head.classes} classes, not {ref.classes}")
    if len(card.partitionings) > 1 and card.hierarchy is None:
        problems.append("two or more partitionings need a hierarchy file")
    if card.scene is not None:
        scene = card.scene
        if scene.source not in SCENE_SOURCES:
            problems.append(f"scene source {scene.source!r} not in {SCENE_SOURCES}")
        if scene.head not in card.heads:
            problems.append(f"scene head {scene.head!r} is not an output")
        elif scene.source == "head" and card.heads[scene.head].classes != len(scene.labels):
            problems.append(f"scene head has {card.heads[scene.head].classes} classes for {len(scene.labels)} labels")
        if scene.source == "imagenet_mapping" and scene.mapping is None:
            problems.append("scene source imagenet_mapping needs a mapping file")
    if any(head.kind != "probabilities" for head in card.heads.values()):
        problems.append("every head output must be of kind 'probabilities'")
    return problems
