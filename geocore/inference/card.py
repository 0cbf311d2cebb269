"""The model card (`model_card.json`): the single source of truth of a bundle, with validation.

Format version 1, written by `trainer.export`, read by `geocore.inference.bundle`:

    format_version   1
    model_id         unique id of the model (str)
    backbone         "efficientnet_lite0" | "resnet50" | "tiny" | ...
    input            {"size_px": 224, "mean": [3 floats], "std": [3 floats]}   (RGB in [0, 1], then (x - mean) / std)
    crops            {"count": 1|3|5, "aggregation": "mean"|"max", "resize_short_px": 256}
    files            {"model": FileRef, "heads": FileRef}               FileRef = {"file": "model.onnx", "sha256": hex}
                     optionally "gallery": FileRef (reference points inside the finest cells, see
                     geocore.inference.gallery; needs partitionings)
    outputs          {"embedding": "embedding", "feature_map": "feature_map" or null (no spatial map, e.g. a ViT:
                      saliency by occlusion),
                      "heads": {name: {"classes": N, "kind": "probabilities"}}}  (heads are softmax'ed in the graph)
    partitionings    [{"name", "kind": "s2"|"semantic", "head": "geo_0", "classes": N, "file", "sha256"}], coarse->fine
    hierarchy        FileRef or null (needed when there are two or more partitionings)
    scene            null or {"labels": [...], "source": "head"|"imagenet_mapping"|"places365",
                      "head": "scene"|"imagenet"|"places365", "mapping": FileRef or null, "fine_labels": [...]}
                     (places365: the mapping CSV also has a `scenes16` column; fine_labels are its 16 names)
    scene_networks   optional (individual scene networks, ECCV'18 ISNs): {"threshold": 0.3, "heads": {scene label:
                      {partitioning head: that network's output head}}}; the predicted scene (the card's own scene
                      head) picks the network, so partitioning heads are routed names, not graph outputs
    training, evaluation   free-form dicts (what it was trained on; accuracy tables)
    license          str

Crop schemes: count 1 = resize the short side to `resize_short_px`, centre crop; count 3 = resize the short side to
`size_px`, three crops evenly spaced along the longer side (the paper); count 5 = resize the short side to
`resize_short_px`, four corners and the centre (the PyTorch reference).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

FORMAT_VERSION = 1
CARD_NAME = "model_card.json"
CROP_COUNTS = (1, 3, 5)
AGGREGATIONS = ("mean", "max")
SCENE_SOURCES = ("head", "imagenet_mapping", "places365")
MAPPED_SCENE_SOURCES = ("imagenet_mapping", "places365")  # class probabilities summed through a mapping file
PARTITIONING_KINDS = ("s2", "semantic")
# ImageNet normalisation: the default a trainer writes into a card; readers always take the card's values.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Bounds of a sane card: far beyond any real model, small enough that nothing downstream allocates absurdly.
MIN_INPUT_PX, MAX_INPUT_PX, MAX_RESIZE_PX = 8, 4096, 8192
MAX_CLASSES = 10_000_000
MIN_STD, MAX_NORMALISATION = 1e-6, 1e3
MAX_NAME_CHARS, MAX_LICENSE_CHARS, MAX_LIST_ITEMS = 200, 20_000, 100_000
MAX_FREE_FORM_DEPTH = 32
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
    """Where scene probabilities come from: a scene head, or ImageNet/Places365 classes summed through a mapping."""

    labels: tuple[str, ...]
    source: str
    head: str
    mapping: FileRef | None = None
    fine_labels: tuple[str, ...] = ()  # places365: the 16 super-categories (S16) of the mapping's scenes16 column


@dataclass(frozen=True)
class SceneNetworksSpec:
    """Individual scene networks: per scene label, the output head that stands for each partitioning head.

    `threshold` records the training rule (a network learnt from the images whose scene probability exceeds it);
    at prediction the most probable scene picks the network.
    """

    threshold: float
    heads: dict[str, dict[str, str]]

    def network_heads(self, label: str) -> dict[str, str]:
        """Partitioning head -> graph output of the network of scene `label`."""
        return self.heads[label]


@dataclass(frozen=True)
class ModelCard:
    """Everything geocore needs to run a bundle and everything a user needs to judge it."""

    model_id: str
    backbone: str
    input: InputSpec
    crops: CropSpec
    files: dict[str, FileRef]
    embedding_output: str
    feature_map_output: str | None  # None: the graph has no spatial feature map (saliency by occlusion)
    heads: dict[str, HeadSpec]
    partitionings: tuple[PartitioningRef, ...] = ()
    hierarchy: FileRef | None = None
    scene: SceneSpec | None = None
    training: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    license: str = ""
    format_version: int = FORMAT_VERSION
    scene_networks: SceneNetworksSpec | None = None

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
        "scene": _scene_dict(card.scene),
        "training": card.training,
        "evaluation": card.evaluation,
        "license": card.license,
        # only ISN cards carry the key: every other card stays byte-identical to those written before it existed
        **({"scene_networks": asdict(card.scene_networks)} if card.scene_networks is not None else {}),
    }


def _scene_dict(scene: SceneSpec | None) -> dict[str, Any] | None:
    if scene is None:
        return None
    data = asdict(scene)
    if not scene.fine_labels:
        del data["fine_labels"]  # cards without S16 stay byte-identical to those written before it existed
    return data


def card_from_json(text: str | bytes, origin: str) -> ModelCard:
    """Parse and validate a card; raises BundleError naming `origin`, the field and the problem (one line)."""
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except _FieldError as error:
        raise BundleError(f"{origin}: malformed {CARD_NAME}: {error}") from None
    except RecursionError:
        raise BundleError(f"{origin}: malformed {CARD_NAME}: nested too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(f"{origin}: {CARD_NAME} is not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise BundleError(f"{origin}: {CARD_NAME} must hold a JSON object")
    version = data.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise BundleError(f"{origin}: unknown bundle format version {version!r} (this version reads {FORMAT_VERSION})")
    try:
        card = _card_from_dict(data)
    except KeyError as error:
        raise BundleError(f"{origin}: malformed {CARD_NAME}: missing field {error}") from None
    except _FieldError as error:
        raise BundleError(f"{origin}: malformed {CARD_NAME}: {error}") from None
    validate_card(card, origin)
    return card


class _FieldError(ValueError):
    """One card field of the wrong type or out of range: '<dotted.field>: <problem>'."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")


def _reject_constant(name: str) -> Any:
    raise _FieldError("(number)", f"{name} is not allowed in a card")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def _get(data: dict[str, Any], key: str, field: str) -> Any:
    if key not in data:
        raise KeyError(field)
    return data[key]


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _FieldError(field, f"expected an object, got {_kind(value)}")
    return value


def _list(value: Any, field: str, max_items: int = MAX_LIST_ITEMS) -> list[Any]:
    if not isinstance(value, list):
        raise _FieldError(field, f"expected a list, got {_kind(value)}")
    if len(value) > max_items:
        raise _FieldError(field, f"more than {max_items} entries")
    return value


def _text(value: Any, field: str, max_chars: int = MAX_NAME_CHARS) -> str:
    if not isinstance(value, str):
        raise _FieldError(field, f"expected a string, got {_kind(value)}")
    if not value.strip() or len(value) > max_chars or any(ord(char) < 32 for char in value):
        raise _FieldError(field, f"must be 1..{max_chars} printable characters")
    return value


def _optional_text(value: Any, field: str) -> str | None:
    return None if value is None else _text(value, field)


def _integer(value: Any, field: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _FieldError(field, f"expected an integer, got {_kind(value)}")
    if not low <= value <= high:
        raise _FieldError(field, f"{value} is outside {low}..{high}")
    return value


def _number(value: Any, field: str, low: float, high: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _FieldError(field, f"expected a number, got {_kind(value)}")
    number = float(value)
    if not (math.isfinite(number) and low <= number <= high):  # 1e999 parses to inf
        raise _FieldError(field, f"{number} is not a finite number in {low:g}..{high:g}")
    return number


def _triple(value: Any, field: str, low: float, high: float) -> tuple[float, float, float]:
    values = _list(value, field)
    if len(values) != 3:
        raise _FieldError(field, f"expected 3 channel values, got {len(values)}")
    first, second, third = (_number(item, f"{field}[{index}]", low, high) for index, item in enumerate(values))
    return first, second, third


def _file_ref(value: Any, field: str) -> FileRef:
    ref = _object(value, field)
    return FileRef(_text(_get(ref, "file", f"{field}.file"), f"{field}.file"),
                   _text(_get(ref, "sha256", f"{field}.sha256"), f"{field}.sha256"))


def _optional_file_ref(value: Any, field: str) -> FileRef | None:
    return None if value is None else _file_ref(value, field)


def _free_form(value: Any, field: str) -> dict[str, Any]:
    """training/evaluation: any JSON object, but finite numbers only and bounded depth (it is shown and re-saved)."""
    if value is None:
        return {}
    _check_plain_json(_object(value, field), field, 0)
    return dict(value)


def _check_plain_json(value: Any, field: str, depth: int) -> None:
    if depth > MAX_FREE_FORM_DEPTH:
        raise _FieldError(field, f"nested deeper than {MAX_FREE_FORM_DEPTH} levels")
    if isinstance(value, float) and not math.isfinite(value):
        raise _FieldError(field, f"{value} is not a finite number")
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        _check_plain_json(child, field, depth + 1)


def _input_spec(value: Any) -> InputSpec:
    spec = _object(value, "input")
    size_px = _integer(_get(spec, "size_px", "input.size_px"), "input.size_px", MIN_INPUT_PX, MAX_INPUT_PX)
    mean = _triple(_get(spec, "mean", "input.mean"), "input.mean", -MAX_NORMALISATION, MAX_NORMALISATION)
    std = _triple(_get(spec, "std", "input.std"), "input.std", MIN_STD, MAX_NORMALISATION)
    return InputSpec(size_px, mean, std)


def _crop_spec(value: Any) -> CropSpec:
    spec = _object(value, "crops")
    count = _integer(_get(spec, "count", "crops.count"), "crops.count", min(CROP_COUNTS), max(CROP_COUNTS))
    aggregation = _text(_get(spec, "aggregation", "crops.aggregation"), "crops.aggregation")
    resize = _get(spec, "resize_short_px", "crops.resize_short_px")
    return CropSpec(count, aggregation, _integer(resize, "crops.resize_short_px", MIN_INPUT_PX, MAX_RESIZE_PX))


def _heads(value: Any) -> dict[str, HeadSpec]:
    heads = {}
    for name, raw in _object(value, "outputs.heads").items():
        field = f"outputs.heads.{_text(name, 'outputs.heads')}"
        head = _object(raw, field)
        classes = _integer(_get(head, "classes", f"{field}.classes"), f"{field}.classes", 1, MAX_CLASSES)
        heads[name] = HeadSpec(classes, _text(_get(head, "kind", f"{field}.kind"), f"{field}.kind"))
    return heads


def _partitioning_ref(value: Any, field: str) -> PartitioningRef:
    ref = _object(value, field)
    texts = {key: _text(_get(ref, key, f"{field}.{key}"), f"{field}.{key}")
             for key in ("name", "kind", "head", "file", "sha256")}
    classes = _integer(_get(ref, "classes", f"{field}.classes"), f"{field}.classes", 1, MAX_CLASSES)
    return PartitioningRef(texts["name"], texts["kind"], texts["head"], classes, texts["file"], texts["sha256"])


def _scene_spec(value: Any) -> SceneSpec | None:
    if value is None:
        return None
    scene = _object(value, "scene")
    labels = _list(_get(scene, "labels", "scene.labels"), "scene.labels")
    return SceneSpec(
        tuple(_text(label, f"scene.labels[{index}]") for index, label in enumerate(labels)),
        _text(_get(scene, "source", "scene.source"), "scene.source"),
        _text(_get(scene, "head", "scene.head"), "scene.head"),
        _optional_file_ref(scene.get("mapping"), "scene.mapping"),
        tuple(_text(label, f"scene.fine_labels[{index}]")
              for index, label in enumerate(_list(scene.get("fine_labels") or [], "scene.fine_labels"))),
    )


def _scene_networks(value: Any) -> SceneNetworksSpec | None:
    if value is None:
        return None
    spec = _object(value, "scene_networks")
    threshold = _number(_get(spec, "threshold", "scene_networks.threshold"), "scene_networks.threshold", 0.0, 1.0)
    heads: dict[str, dict[str, str]] = {}
    for label, mapping in _object(_get(spec, "heads", "scene_networks.heads"), "scene_networks.heads").items():
        field = f"scene_networks.heads.{_text(label, 'scene_networks.heads')}"
        heads[label] = {_text(head, field): _text(output, f"{field}.{head}")
                        for head, output in _object(mapping, field).items()}
    return SceneNetworksSpec(threshold, heads)


def _license(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_LICENSE_CHARS:
        raise _FieldError("license", f"expected a string of at most {MAX_LICENSE_CHARS} characters")
    return value


def _card_from_dict(data: dict[str, Any]) -> ModelCard:
    outputs = _object(_get(data, "outputs", "outputs"), "outputs")
    files = _object(_get(data, "files", "files"), "files")
    partitionings = _list(data.get("partitionings") or [], "partitionings")
    license_text = data.get("license")
    return ModelCard(
        model_id=_text(_get(data, "model_id", "model_id"), "model_id"),
        backbone=_text(_get(data, "backbone", "backbone"), "backbone"),
        input=_input_spec(_get(data, "input", "input")),
        crops=_crop_spec(_get(data, "crops", "crops")),
        files={_text(role, "files"): _file_ref(ref, f"files.{role}") for role, ref in files.items()},
        embedding_output=_text(_get(outputs, "embedding", "outputs.embedding"), "outputs.embedding"),
        feature_map_output=_optional_text(_get(outputs, "feature_map", "outputs.feature_map"), "outputs.feature_map"),
        heads=_heads(_get(outputs, "heads", "outputs.heads")),
        partitionings=tuple(_partitioning_ref(ref, f"partitionings[{i}]") for i, ref in enumerate(partitionings)),
        hierarchy=_optional_file_ref(data.get("hierarchy"), "hierarchy"),
        scene=_scene_spec(data.get("scene")),
        training=_free_form(data.get("training"), "training"),
        evaluation=_free_form(data.get("evaluation"), "evaluation"),
        license=_license(license_text),
        scene_networks=_scene_networks(data.get("scene_networks")),
    )


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
    problems = _scene_network_problems(card)
    for ref in card.partitionings:
        if ref.kind not in PARTITIONING_KINDS:
            problems.append(f"partitioning {ref.name}: unknown kind {ref.kind!r}")
        if card.scene_networks is not None:
            continue  # routed heads: _scene_network_problems checks every network's outputs
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
        if scene.source in MAPPED_SCENE_SOURCES and scene.mapping is None:
            problems.append(f"scene source {scene.source} needs a mapping file")
        if (scene.source == "places365") != bool(scene.fine_labels):
            problems.append("scene fine_labels (S16) go with source places365 and only with it")
    if "gallery" in card.files and not card.partitionings:
        problems.append("a gallery file needs partitionings (its points lie in the finest cells)")
    if any(head.kind != "probabilities" for head in card.heads.values()):
        problems.append("every head output must be of kind 'probabilities'")
    return problems


def _scene_network_problems(card: ModelCard) -> list[str]:
    """An ISN card: a scene head of its own, one network per scene label, each with every partitioning's head."""
    networks = card.scene_networks
    if networks is None:
        return []
    if card.scene is None or card.scene.source != "head":
        return ["scene_networks need the bundle's own scene head (scene source 'head')"]
    problems = []
    if set(networks.heads) != set(card.scene.labels):
        problems.append(f"scene_networks cover {sorted(networks.heads)}, not the scene labels "
                        f"{list(card.scene.labels)}")
    if not card.partitionings:
        problems.append("scene_networks need partitionings")
    routed = {ref.head for ref in card.partitionings}
    for label, mapping in networks.heads.items():
        if set(mapping) != routed:
            problems.append(f"scene network {label}: maps {sorted(mapping)}, not the partitioning heads "
                            f"{sorted(routed)}")
        for ref in card.partitionings:
            output = card.heads.get(mapping.get(ref.head, ""))
            if ref.head in mapping and (output is None or output.classes != ref.classes):
                problems.append(f"scene network {label}: head {mapping[ref.head]!r} is not an output of "
                                f"{ref.classes} classes")
    if routed & set(card.heads):
        problems.append("routed partitioning heads must not also be graph outputs")
    return problems
