"""`geotag-train import places365`: a CSAIL Places365 ResNet-18 (CC BY) as a scene bundle giving S365, S16 and S3.

Inputs are files the user downloads from CSAIL: `resnet18_places365.pth.tar` (a torch checkpoint whose
"state_dict" has torchvision's ResNet-18 key names, maybe behind a "module." prefix), `categories_places365.txt`
("/a/airfield 0" per line) and the scene hierarchy exported to CSV (the published sheet: a category column, then
3 level-1 columns indoor / outdoor natural / outdoor man-made and 16 level-2 columns of 0/1 flags; header rows
are skipped). A class flagged under k super-categories gives each 1/k of its probability (ECCV'18, section 3.2).

The graph: input "image" (N, 3, 224, 224) with ImageNet normalisation (how CSAIL trained them), outputs
"places365" (softmax), "embedding" (N, 512) and "feature_map" (N, 512, 7, 7); the fc layer is a linear head on
global average pooling, so CAM applies exactly. No torchvision: the few layers are written here.
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from geotagger.geocore.inference.bundle import file_ref, write_bundle
from geotagger.geocore.inference.card import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    CropSpec,
    HeadSpec,
    InputSpec,
    ModelCard,
    SceneSpec,
)
from geotagger.geocore.inference.scene import S3_LABELS
from geotagger.trainer.export import (
    EMBEDDING_OUTPUT,
    FEATURE_MAP_OUTPUT,
    INPUT_NAME,
    OPSET,
    ExportError,
    _pin_ir_version,
    store_weights_fp16,
)

HEAD = "places365"
CLASSES = 365
MAPPING_MEMBER = "scene/places365_hierarchy.csv"
S16_LABELS = (
    "shopping and dining", "workplace", "home or hotel", "transportation (interiors, stations)",
    "sports and leisure", "cultural (art, education, religion, military, law, politics)", "water, ice, snow",
    "mountains, hills, desert, sky", "forest, field, jungle", "man-made elements",
    "transportation (roads, parking, bridges, boats, airports)", "cultural or historical building/place",
    "sportsfields, parks, leisure spaces", "industrial and construction", "houses, cabins, gardens, and farms",
    "commercial buildings, shops, markets, cities, and towns",
)
TOLERANCE = 1e-4
FP16_TOLERANCE = 1e-2
PLACES_LICENSE = ("Places365 ResNet-18 weights: CC BY (Zhou et al., Places: A 10 million Image Database for Scene "
                  "Recognition, TPAMI 2017, MIT CSAIL); conversion: Apache-2.0 (geotagger).")


class Places365Error(ValueError):
    """An input file that cannot be used."""


class BasicBlock(nn.Module):
    """ResNet basic block with torchvision's attribute names (conv1, bn1, conv2, bn2, downsample.0/.1)."""

    def __init__(self, inputs: int, outputs: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or inputs != outputs:
            self.downsample = nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class ResNet18(nn.Module):
    """ResNet-18 in the published layout (conv1, bn1, layer1..4, fc), split into features and head."""

    def __init__(self, classes: int = CLASSES) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]
        for index, (inputs, outputs, stride) in enumerate(widths, start=1):
            setattr(self, f"layer{index}", nn.Sequential(BasicBlock(inputs, outputs, stride),
                                                          BasicBlock(outputs, outputs, 1)))
        self.fc = nn.Linear(512, classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 512, h, w) final feature map."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for index in range(1, 5):
            x = getattr(self, f"layer{index}")(x)
        return x

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        feature_map = self.forward_features(x)
        embedding = feature_map.mean(dim=(2, 3))
        return torch.softmax(self.fc(embedding), dim=-1), embedding, feature_map


def load_weights(path: Path) -> ResNet18:
    """The checkpoint's state_dict in a ResNet18 (strict: every key, every shape)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError) as error:
        raise Places365Error(f"{path}: not a readable torch checkpoint ({error})") from None
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise Places365Error(f"{path}: no state_dict in the checkpoint")
    state = {key.removeprefix("module."): value for key, value in state.items()}
    model = ResNet18()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise Places365Error(f"{path}: not a Places365 ResNet-18 ({str(error).splitlines()[0]})") from None
    return model.eval()


def read_categories(path: Path) -> list[str]:
    """The 365 class names in index order ("/a/apartment_building/outdoor" -> "apartment_building/outdoor")."""
    names: dict[int, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            raise Places365Error(f"{path}:{number}: expected '<category> <index>'")
        names[int(parts[1])] = parts[0].strip("/").split("/", 1)[-1]
    if sorted(names) != list(range(CLASSES)):
        raise Places365Error(f"{path}: expected indices 0..{CLASSES - 1}, got {len(names)} entries")
    return [names[index] for index in range(CLASSES)]


def read_hierarchy(path: Path, categories: list[str]) -> list[tuple[list[str], list[str]]]:
    """Per class (index order): its S3 and S16 labels from the 0/1 flags of the hierarchy CSV."""
    rows: dict[str, list[int]] = {}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        for row in csv.reader(handle):
            flags = [cell.strip() for cell in row[1:20]]
            if len(flags) == 19 and all(flag in ("0", "1") for flag in flags):
                rows[row[0].strip().strip("'\"").strip("/").split("/", 1)[-1]] = [int(flag) for flag in flags]
    missing = [name for name in categories if name not in rows]
    if missing:
        raise Places365Error(f"{path}: no 3 + 16 flags for {len(missing)} categories, e.g. {missing[0]!r}")
    return [([S3_LABELS[i] for i in range(3) if rows[name][i]],
             [S16_LABELS[i] for i in range(16) if rows[name][3 + i]]) for name in categories]


def mapping_csv(categories: list[str], hierarchy: list[tuple[list[str], list[str]]]) -> bytes:
    """class_index,class_name,scenes,scenes16 (geocore.inference.scene reads both scene columns)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["class_index", "class_name", "scenes", "scenes16"])
    for index, (name, (s3, s16)) in enumerate(zip(categories, hierarchy, strict=True)):
        writer.writerow([index, name, "|".join(s3), "|".join(s16)])
    return buffer.getvalue().encode("utf-8")


def export_graph(model: ResNet18) -> tuple[bytes, float]:
    """ONNX (dynamic batch, float16-stored weights) and its worst difference from torch; raises ExportError."""
    import onnxruntime as ort

    buffer = io.BytesIO()
    names = [HEAD, EMBEDDING_OUTPUT, FEATURE_MAP_OUTPUT]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(2, 3, 224, 224),), buffer, input_names=[INPUT_NAME], output_names=names,
                          dynamic_axes={name: {0: "batch"} for name in [INPUT_NAME, *names]}, opset_version=OPSET,
                          dynamo=False)
    exact = _pin_ir_version(buffer.getvalue())
    images = torch.randn(3, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = [value.numpy() for value in model(images)]
    worst = 0.0
    for graph, tolerance in ((exact, TOLERANCE), (store_weights_fp16(exact), FP16_TOLERANCE)):
        session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
        got = session.run([HEAD], {INPUT_NAME: images.numpy()})[0]
        difference = float(np.max(np.abs(got - expected[0])))
        if difference > tolerance:
            raise ExportError(f"ONNX probabilities differ from torch by {difference:.2e} (> {tolerance})")
        worst = max(worst, difference) if graph is exact else worst
    return store_weights_fp16(exact), worst


def heads_npz(model: ResNet18) -> bytes:
    """The fc layer as the places365 head (CAM weights)."""
    buffer = io.BytesIO()
    np.savez(buffer, **{f"{HEAD}.weight": model.fc.weight.detach().numpy().astype(np.float16),
                        f"{HEAD}.bias": model.fc.bias.detach().numpy().astype(np.float32)})
    return buffer.getvalue()


def import_places365(weights: Path, categories_file: Path, hierarchy_file: Path, out: Path,
                     model_id: str = "places365-resnet18") -> tuple[Path, float]:
    """Convert, check against torch, write the scene bundle; (path, onnxruntime vs torch max abs difference)."""
    categories = read_categories(categories_file)
    hierarchy = read_hierarchy(hierarchy_file, categories)
    model = load_weights(weights)
    model_bytes, worst = export_graph(model)
    contents = {"model.onnx": model_bytes, "heads.npz": heads_npz(model),
                MAPPING_MEMBER: mapping_csv(categories, hierarchy)}
    card = ModelCard(
        model_id=model_id, backbone="resnet18", input=InputSpec(224, IMAGENET_MEAN, IMAGENET_STD),
        crops=CropSpec(1, "mean", 256),
        files={"model": file_ref("model.onnx", contents["model.onnx"]),
               "heads": file_ref("heads.npz", contents["heads.npz"])},
        embedding_output=EMBEDDING_OUTPUT, feature_map_output=FEATURE_MAP_OUTPUT, heads={HEAD: HeadSpec(CLASSES)},
        scene=SceneSpec(S3_LABELS, "places365", HEAD, file_ref(MAPPING_MEMBER, contents[MAPPING_MEMBER]),
                        S16_LABELS),
        training={"kind": "places365_import", "weights": weights.name, "classes": CLASSES,
                  "scene": "S365 = the classes; S16 and S3 = their probabilities summed through the published "
                           "hierarchy, a class in k super-categories giving each 1/k"},
        evaluation={"onnx_vs_torch_max_abs_diff": worst}, license=PLACES_LICENSE,
    )
    return write_bundle(out, card, contents), worst
