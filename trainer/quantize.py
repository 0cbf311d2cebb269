"""Post-training static int8 quantisation of an exported float ONNX graph (QDQ, per-channel weights).

Why: on a 2-core CPU the int8 EfficientNet-Lite0 runs about 2.3x faster than float32 (VNNI/AVX2 kernels), and JPEG
decoding needs the rest of the CPU (benchmarks/predict.py). What stays float, and why:
- the stem conv: it sees normalised pixels, whose rounding costs the most accuracy for the least time;
- the last conv and everything after it (pooling, heads, softmax): the feature map that saliency reads stays float,
  the CAM of a float head on it still averages exactly to the head's logit, the heads in heads.npz are the ones the
  graph runs, and probabilities are not rounded to multiples of 1/255.
Activation ranges are the min/max over calibration views, so the result is deterministic for the same photos and
onnxruntime version. Weights use 7 of their 8 bits (`reduce_range`): x86 CPUs without VNNI multiply uint8 by int8
with VPMADDUBSW, whose 16-bit pair sums saturate with full-range weights; with 7 bits they cannot, so the model
gives the same answers on every x86 CPU, at no cost on the sanity set (top-1 87.5% vs 86.7% float32, 120 views).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from geotagger.geocore.resources import resource_path

CALIBRATION_DIR = resource_path("calibration")
# A sample photo no sanity check scores joins the vendored calibration photos (the others stay held out).
EXTRA_CALIBRATION_PHOTOS = (resource_path("samples") / "astronaut_eileen_collins.jpg",)
CALIBRATION_SHORT_SIDES = (224, 256, 320)
CALIBRATION_BATCH = 15


def calibration_photos() -> list[Path]:
    """The photos whose activations set the int8 ranges, in a fixed order."""
    return sorted(CALIBRATION_DIR.glob("*.jpg")) + list(EXTRA_CALIBRATION_PHOTOS)


def five_crop_views(image: Image.Image, short_sides: Sequence[int], size_px: int = 224) -> Iterator[np.ndarray]:
    """(size, size, 3) float views in [0, 1]: per short side, four corners + centre, each also mirrored."""
    for short_side in short_sides:
        scale = short_side / min(image.size)
        width, height = max(size_px, round(image.width * scale)), max(size_px, round(image.height * scale))
        resized = np.asarray(image.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
        corners = [(0, 0), (width - size_px, 0), (0, height - size_px), (width - size_px, height - size_px),
                   ((width - size_px) // 2, (height - size_px) // 2)]
        for left, top in corners:
            view = resized[top:top + size_px, left:left + size_px]
            yield view
            yield np.ascontiguousarray(view[:, ::-1])


def calibration_batch(
    mean: Sequence[float], std: Sequence[float], size_px: int = 224, photos: Sequence[Path] | None = None
) -> np.ndarray:
    """(N, 3, size, size) float32 views of the calibration photos, normalised with `mean`/`std`."""
    views: list[np.ndarray] = []
    for path in photos if photos is not None else calibration_photos():
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        views.extend(five_crop_views(image, CALIBRATION_SHORT_SIDES, size_px))
    stacked = (np.stack(views) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(stacked.transpose(0, 3, 1, 2), dtype=np.float32)


def float_node_names(model_bytes: bytes) -> list[str]:
    """Nodes kept in float: the first Conv and everything from the last Conv on (graph order is topological)."""
    import onnx

    nodes = list(onnx.load_from_string(model_bytes).graph.node)
    convs = [index for index, node in enumerate(nodes) if node.op_type == "Conv"]
    if not convs:
        return []
    return sorted({nodes[convs[0]].name, *(node.name for node in nodes[convs[-1]:])})


def quantize_int8(model_bytes: bytes, calibration: np.ndarray, input_name: str = "image") -> bytes:
    """The graph with int8 weights (per channel) and uint8 activations (ranges from `calibration`), as bytes."""
    from geotagger.geocore.inference.runtime import import_onnxruntime

    import_onnxruntime()  # telemetry off before onnxruntime.quantization loads the native library
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class _Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter(range(0, len(calibration), CALIBRATION_BATCH))

        def get_next(self) -> dict[str, np.ndarray] | None:
            start = next(self._batches, None)
            return None if start is None else {input_name: calibration[start:start + CALIBRATION_BATCH]}

    with tempfile.TemporaryDirectory(prefix="geotag-quantize-") as folder:
        source, prepared, quantised = (Path(folder) / name for name in ("float.onnx", "prepared.onnx", "int8.onnx"))
        source.write_bytes(model_bytes)
        quant_pre_process(str(source), str(prepared))  # shape inference + BatchNorm folding, as the tool advises
        prepared_bytes = prepared.read_bytes()
        quantize_static(
            str(prepared), str(quantised), _Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, reduce_range=True,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=float_node_names(prepared_bytes),
        )
        return quantised.read_bytes()
