"""Class activation maps (CAM) from the final feature map and the linear head weights, and colour overlays.

For a linear head on global average pooling, logit_k = mean_yx(W_k . F[:, y, x]) + b_k, so the map
CAM_k(y, x) = W_k . F[:, y, x] + b_k is exact: its mean is the logit. For the ImageNet base bundle the scene's
weight vector is the ImageNet class weights summed through the scene mapping (the same linear combination that
turns class probabilities into scene probabilities, applied to the weights).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image

from geocore.inference.bundle import ModelBundle
from geocore.inference.preprocess import Box


def class_activation_map(
    feature_map: npt.NDArray[np.floating], weight: npt.NDArray[np.floating], bias: float = 0.0
) -> npt.NDArray[np.float32]:
    """CAM (h, w) = weight . feature_map[:, y, x] + bias for one (C, h, w) feature map."""
    cam = np.tensordot(np.asarray(weight, dtype=np.float64), np.asarray(feature_map, dtype=np.float64), axes=1)
    return (cam + bias).astype(np.float32)


def target_weights(bundle: ModelBundle, head: str, index: int) -> tuple[npt.NDArray[np.float32], float]:
    """(weight (C,), bias) of class `index` of `head`; for an ImageNet-mapped scene, the mapped combination."""
    scene = bundle.card.scene
    if scene is not None and head == "scene":
        head = scene.head
        if bundle.scene_weights is not None:
            source = bundle.heads[head]
            mix = bundle.scene_weights[:, index]
            return (mix @ source.weight.astype(np.float64)).astype(np.float32), float(mix @ source.bias)
    weights = bundle.heads[head]
    return weights.weight[index], float(weights.bias[index])


def compose_crops(cams: Sequence[npt.NDArray[np.float32]], boxes: Sequence[Box], size: tuple[int, int]) -> npt.NDArray[
    np.float32
]:
    """Paste every crop's CAM, upsampled to its box, into a (height, width) map; overlaps are blended.

    In an overlap each crop counts more towards its own middle (feathering): a plain average would leave a visible
    seam at every crop edge, since neighbouring crops see different context. The result is scaled to [0, 1];
    pixels no crop covers get 0.
    """
    width, height = size
    total = np.zeros((height, width), dtype=np.float64)
    count = np.zeros((height, width), dtype=np.float64)
    for cam, (left, top, right, bottom) in zip(cams, boxes, strict=True):
        upsampled = Image.fromarray(np.ascontiguousarray(cam, dtype=np.float32)).resize(
            (right - left, bottom - top), Image.Resampling.BILINEAR
        )
        weight = np.outer(_feather(bottom - top), _feather(right - left))
        total[top:bottom, left:right] += np.asarray(upsampled, dtype=np.float64) * weight
        count[top:bottom, left:right] += weight
    covered = count > 0
    averaged = np.divide(total, count, out=np.zeros_like(total), where=covered)
    low, high = averaged[covered].min(), averaged[covered].max()
    scaled = np.where(covered, (averaged - low) / (high - low) if high > low else 0.0, 0.0)
    return scaled.astype(np.float32)


def _feather(length: int) -> npt.NDArray[np.float64]:
    """Blending weights along one side of a crop: 1 in the middle, falling towards the edges (never to 0)."""
    position = np.arange(length, dtype=np.float64) + 0.5
    return np.maximum(np.minimum(position, length - position) / (length / 2), 0.05)


def resize_map(saliency: npt.NDArray[np.float32], size: tuple[int, int]) -> npt.NDArray[np.float32]:
    """Resize a float map to (width, height)."""
    image = Image.fromarray(np.ascontiguousarray(saliency, dtype=np.float32)).resize(size, Image.Resampling.BILINEAR)
    return np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)


def colourise(saliency: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    """Map [0, 1] to a blue -> cyan -> yellow -> red ramp (H, W, 3)."""
    stops = np.array([[0, 0, 160], [0, 200, 255], [255, 230, 0], [230, 0, 0]], dtype=np.float64)
    position = np.clip(saliency, 0, 1) * (len(stops) - 1)
    lower = np.minimum(position.astype(int), len(stops) - 2)
    fraction = (position - lower)[..., None]
    return (stops[lower] * (1 - fraction) + stops[lower + 1] * fraction).astype(np.uint8)


def overlay_png(preview: Image.Image, saliency: npt.NDArray[np.float32], opacity: float = 0.5) -> bytes:
    """PNG bytes of `preview` with the saliency map blended on top (map resized to the preview)."""
    fitted = resize_map(saliency, preview.size)
    colours = colourise(fitted).astype(np.float32)
    base = np.asarray(preview.convert("RGB"), dtype=np.float32)
    alpha = opacity * (0.35 + 0.65 * fitted[..., None])  # weak activations stay mostly transparent
    blended = base * (1 - alpha) + colours * alpha
    buffer = io.BytesIO()
    Image.fromarray(np.clip(blended, 0, 255).astype(np.uint8), "RGB").save(buffer, "PNG")
    return buffer.getvalue()
