"""Imported semantic segmentation models (ADE20K-style class maps) in ONNX, checked on import.

A segmentation file (`*.geoseg`) is a zip of `segmentation.onnx`, `classes.txt` (one class name a line, index =
line number) and `segmentation.json`: {"input_size_px", "mean", "std", "output": "logits"|"labels", "classes"}.
The graph takes one (N, 3, S, S) float32 input normalised with mean/std and gives either class logits
(N, C, h, w) or class indices (N, h, w). Used by `geotag-train concepts` and by TransLocator (maps cached for
training; the graph merged into the TransLocator bundle so prediction runs it).
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from geocore.inference.card import IMAGENET_MEAN, IMAGENET_STD

MODEL_NAME, CLASSES_NAME, SPEC_NAME = "segmentation.onnx", "classes.txt", "segmentation.json"


class SegmentationError(ValueError):
    """The segmentation model or its class list cannot be used."""


@dataclass
class SegmentationModel:
    """An imported segmentation graph, its class names and preprocessing."""

    model_bytes: bytes
    class_names: list[str]
    input_size_px: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    output: str = "logits"

    def __post_init__(self) -> None:
        from geocore.inference.runtime import import_onnxruntime

        ort = import_onnxruntime()
        self._session = ort.InferenceSession(self.model_bytes, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def normalise(self, image: Image.Image) -> npt.NDArray[np.float32]:
        """(1, 3, S, S) network input of an RGB image (squashed to the square input)."""
        resized = image.convert("RGB").resize((self.input_size_px, self.input_size_px), Image.Resampling.BILINEAR)
        pixels = np.asarray(resized, dtype=np.float32) / 255.0
        pixels = (pixels - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return pixels.transpose(2, 0, 1)[None].astype(np.float32)

    def class_map_of_input(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        """(N, h, w) class indices of normalised inputs."""
        raw = self._session.run(None, {self._input: batch})[0]
        labels = raw.argmax(axis=1) if self.output == "logits" else raw.reshape(raw.shape[0], *raw.shape[-2:])
        return labels.astype(np.int64)

    def segment(self, image: Image.Image, size: tuple[int, int] | None = None) -> npt.NDArray[np.int64]:
        """(height, width) class map of `image`, at `size` (width, height; default the image's) by nearest."""
        labels = self.class_map_of_input(self.normalise(image))[0]
        width, height = size or image.size
        resized = Image.fromarray(labels.astype(np.int32)).resize((width, height), Image.Resampling.NEAREST)
        return np.asarray(resized, dtype=np.int64)


def read_classes(path: str | Path) -> list[str]:
    """Class names, one a line (blank lines ignored; an ADE20K `idx,name` CSV line keeps its name)."""
    names = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not names:
        raise SegmentationError(f"{path}: no class names")
    return names


def probe(model_bytes: bytes, n_classes: int, input_size_px: int) -> str:
    """Run the graph on noise; "logits" or "labels" by its output, or SegmentationError saying why not."""
    from geocore.inference.runtime import import_onnxruntime

    ort = import_onnxruntime()
    try:
        session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
        noise = np.random.default_rng(0).standard_normal((1, 3, input_size_px, input_size_px)).astype(np.float32)
        raw = session.run(None, {session.get_inputs()[0].name: noise})[0]
    except Exception as error:  # onnxruntime raises many types for a bad graph
        raise SegmentationError(f"the ONNX graph does not run on a (1, 3, {input_size_px}, {input_size_px}) input: "
                                f"{error}") from None
    if raw.ndim == 4 and raw.shape[1] == n_classes and np.issubdtype(raw.dtype, np.floating):
        return "logits"
    if raw.ndim in (3, 4) and np.issubdtype(raw.dtype, np.integer) and raw.min() >= 0 and raw.max() < n_classes:
        return "labels"
    raise SegmentationError(f"output {raw.dtype} {raw.shape} is neither (N, {n_classes}, h, w) logits nor (N, h, w) "
                            f"class indices below {n_classes}")


def import_segmentation(onnx_path: str | Path, classes_path: str | Path, out_path: str | Path,
                        input_size_px: int = 512) -> Path:
    """Check and write a `.geoseg` file; returns its path."""
    model_bytes, names = Path(onnx_path).read_bytes(), read_classes(classes_path)
    output = probe(model_bytes, len(names), input_size_px)
    spec = {"input_size_px": input_size_px, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
            "output": output, "classes": len(names)}
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MODEL_NAME, model_bytes)
        archive.writestr(CLASSES_NAME, "\n".join(names) + "\n")
        archive.writestr(SPEC_NAME, json.dumps(spec, indent=2))
    load_segmentation(out)
    return out


def load_segmentation(path: str | Path) -> SegmentationModel:
    """A `.geoseg` file back as a runnable model."""
    try:
        with zipfile.ZipFile(path) as archive:
            spec: dict[str, Any] = json.loads(archive.read(SPEC_NAME))
            names = archive.read(CLASSES_NAME).decode("utf-8").splitlines()
            model_bytes = archive.read(MODEL_NAME)
    except (OSError, KeyError, zipfile.BadZipFile, ValueError) as error:
        raise SegmentationError(f"{path}: not a segmentation file ({error})") from None
    if len(names) != spec.get("classes"):
        raise SegmentationError(f"{path}: {len(names)} class names for {spec.get('classes')} classes")
    return SegmentationModel(model_bytes, names, int(spec["input_size_px"]), tuple(spec["mean"]),  # type: ignore[arg-type]
                             tuple(spec["std"]), str(spec["output"]))  # type: ignore[arg-type]


def tiny_segmentation_onnx(n_classes: int, seed: int = 0) -> bytes:
    """A 1x1-conv "segmentation" graph (logits per pixel from colour): test and benchmark fixture."""
    import warnings

    import torch

    torch.manual_seed(seed)
    conv = torch.nn.Conv2d(3, n_classes, 1).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation on every call
        torch.onnx.export(conv, (torch.zeros(1, 3, 16, 16),), buffer, input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "n", 2: "h", 3: "w"}, "logits": {0: "n", 2: "h", 3: "w"}},
                          opset_version=17, dynamo=False)
    return buffer.getvalue()
