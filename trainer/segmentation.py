"""Importing semantic segmentation models (ADE20K-style class maps) in ONNX, checked on import.

The file format and the runner live in geocore.inference.segmentation (the app runs them without torch); this
module checks a graph and writes the `.geoseg` file. Used by `geotag-train concepts` and by TransLocator (maps
cached for training; the graph merged into the TransLocator bundle so prediction runs it).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from geotagger.geocore.inference.card import IMAGENET_MEAN, IMAGENET_STD
from geotagger.geocore.inference.segmentation import (
    CLASSES_NAME,
    MODEL_NAME,
    SPEC_NAME,
    SegmentationError,
    SegmentationModel,
    load_segmentation,
)

__all__ = ["SegmentationError", "SegmentationModel", "import_segmentation", "load_segmentation", "probe",
           "read_classes", "tiny_segmentation_onnx"]


def read_classes(path: str | Path) -> list[str]:
    """Class names, one a line (blank lines ignored; an ADE20K `idx,name` CSV line keeps its name)."""
    names = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not names:
        raise SegmentationError(f"{path}: no class names")
    return names


def probe(model_bytes: bytes, n_classes: int, input_size_px: int) -> str:
    """Run the graph on noise; "logits" or "labels" by its output, or SegmentationError saying why not."""
    from geotagger.geocore.inference.runtime import import_onnxruntime

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
