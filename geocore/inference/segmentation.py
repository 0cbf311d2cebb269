"""Imported semantic segmentation models (`*.geoseg`: ADE20K-style class maps in ONNX), run without torch.

A segmentation file is a zip of `segmentation.onnx`, `classes.txt` (one class name a line, index = line number)
and `segmentation.json`: {"input_size_px", "mean", "std", "output": "logits"|"labels", "classes"}. The graph takes
one (N, 3, S, S) float32 input normalised with mean/std and gives class logits (N, C, h, w) or class indices
(N, h, w). `geotag-train import segmentation` writes and checks one; the app lists the concepts behind a guess
when one is installed beside the location bundle (or shipped in resources/models).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from geotagger.geocore.inference.card import IMAGENET_MEAN, IMAGENET_STD
from geotagger.geocore.resources import resource_path

MODEL_NAME, CLASSES_NAME, SPEC_NAME = "segmentation.onnx", "classes.txt", "segmentation.json"
SEGMENTATION_SUFFIX = ".geoseg"


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
        from geotagger.geocore.inference.runtime import import_onnxruntime

        ort = import_onnxruntime()
        self._session = ort.InferenceSession(self.model_bytes, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def normalise(self, image: Image.Image) -> npt.NDArray[np.float32]:
        """(1, 3, S, S) network input of an RGB image (squashed to the square input)."""
        resized = image.convert("RGB").resize((self.input_size_px, self.input_size_px), Image.Resampling.BILINEAR)
        pixels = np.asarray(resized, dtype=np.float32) / np.float32(255.0)
        normalised = (pixels - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(normalised.transpose(2, 0, 1)[None], dtype=np.float32)

    def class_map_of_input(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        """(N, h, w) class indices of normalised inputs."""
        raw = self._session.run(None, {self._input: batch})[0]
        labels = raw.argmax(axis=1) if self.output == "logits" else raw.reshape(raw.shape[0], *raw.shape[-2:])
        return np.asarray(labels, dtype=np.int64)

    def segment(self, image: Image.Image, size: tuple[int, int] | None = None) -> npt.NDArray[np.int64]:
        """(height, width) class map of `image`, at `size` (width, height; default the image's) by nearest."""
        labels = self.class_map_of_input(self.normalise(image))[0]
        width, height = size or image.size
        resized = Image.fromarray(labels.astype(np.int32)).resize((width, height), Image.Resampling.NEAREST)
        return np.asarray(resized, dtype=np.int64)


def load_segmentation(path: str | Path) -> SegmentationModel:
    """A `.geoseg` file as a runnable model; SegmentationError saying why not."""
    try:
        with zipfile.ZipFile(path) as archive:
            spec: dict[str, Any] = json.loads(archive.read(SPEC_NAME))
            names = archive.read(CLASSES_NAME).decode("utf-8").splitlines()
            model_bytes = archive.read(MODEL_NAME)
        if len(names) != spec.get("classes"):
            raise SegmentationError(f"{path}: {len(names)} class names for {spec.get('classes')} classes")
        mean, std = tuple(float(v) for v in spec["mean"]), tuple(float(v) for v in spec["std"])
        if len(mean) != 3 or len(std) != 3:
            raise SegmentationError(f"{path}: mean and std need 3 values each")
        return SegmentationModel(model_bytes, names, int(spec["input_size_px"]), (mean[0], mean[1], mean[2]),
                                 (std[0], std[1], std[2]), str(spec["output"]))
    except SegmentationError:
        raise
    except (OSError, KeyError, TypeError, zipfile.BadZipFile, ValueError) as error:
        raise SegmentationError(f"{path}: not a segmentation file ({error})") from None
    except Exception as error:  # onnxruntime raises its own types for a graph it cannot load
        raise SegmentationError(f"{path}: the segmentation graph does not load ({error})") from None


def find_segmentation(location_bundle: str | Path | None) -> Path | None:
    """The installed segmentation: the first `*.geoseg` beside the location bundle, else in resources/models."""
    folders = [Path(location_bundle).parent] if location_bundle is not None else []
    folders.append(resource_path("models"))
    for folder in folders:
        if folder.is_dir():
            found = sorted(p for p in folder.iterdir() if p.suffix.lower() == SEGMENTATION_SUFFIX and p.is_file())
            if found:
                return found[0]
    return None
