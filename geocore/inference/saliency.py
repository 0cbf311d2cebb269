"""Saliency maps that explain the displayed prediction, and colour overlays.

What is explained is a probability, not a raw logit: for the hierarchy the log of p_hier(c) = prod_l P_l(c_l),
the product over levels of each level's crop-aggregated softmax probability of the displayed cell's ancestor c_l;
for a scene, the log of the scene probability s_j = sum_k m_kj P(k) / sum_k u_k P(k) (ImageNet classes summed into
scenes, renormalised over mapped classes; u_k = sum_j m_kj).

Derivation (a linear head on global average pooling): the logits of crop i are z_i = W mean_yx F_i(y, x) + b, so
d f / d F_i(y, x) = W^T g_i / HW with g_i = d f / d z_i (for every head involved, summed). The map shown is
gradient x input: M_i(y, x) = (W^T g_i) . F_i(y, x) + g_i . b. Its mean over positions, summed over crops, is
sum_i g_i . z_i, the first-order change of f when every logit is scaled, so the map splits f's sensitivity over
the pixels that carry it. For a single softmax level, g_i = delta_c - p_i (the CAM of class c minus the
probability-weighted mean CAM: what makes c more likely than the alternatives, not just large). For f = log(v . P)
with P the aggregate of the crops' softmax outputs p_i:
- mean over n crops: g_i = p_i * (v - v . p_i) / (n v . P);
- max renormalised (P = Q / sum Q, Q_k = max_i p_ik, A_ik = 1 where crop i is that max):
  g_i = (w_i - p_i sum w_i) / (v . Q) - (a_i - p_i sum a_i) / sum Q, with w_ik = v_k A_ik p_ik, a_ik = A_ik p_ik.
The crops are the prediction's own (count, boxes and aggregation from the predictor).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image

from geotagger.geocore.inference.bundle import ModelBundle
from geotagger.geocore.inference.preprocess import Box


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


def log_mixture_gradient(probabilities: npt.ArrayLike, mix: npt.ArrayLike, aggregation: str) -> npt.NDArray[
    np.float64
]:
    """d log(mix . aggregate(p)) / d z_i for every crop i: (crops, classes); p are the crops' softmax outputs."""
    p = np.asarray(probabilities, dtype=np.float64)
    v = np.asarray(mix, dtype=np.float64)
    if aggregation == "mean":
        total = max(float(v @ p.mean(axis=0)), 1e-300)
        return p * (v[None, :] - (p @ v)[:, None]) / (len(p) * total)
    if aggregation != "max":
        raise ValueError(f"aggregation must be 'mean' or 'max', not {aggregation!r}")
    winner = (p == p.max(axis=0, keepdims=True)) & (np.cumsum(p == p.max(axis=0, keepdims=True), axis=0) == 1)
    maxima = p.max(axis=0)
    weighted, plain = v[None, :] * winner * p, winner * p

    def part(u: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return u - p * u.sum(axis=1, keepdims=True)

    return part(weighted) / max(float(v @ maxima), 1e-300) - part(plain) / max(float(maxima.sum()), 1e-300)


def gradient_maps(feature_maps: npt.ArrayLike, heads: Sequence[tuple[npt.ArrayLike, npt.ArrayLike]],
                  gradients: Sequence[npt.ArrayLike]) -> list[npt.NDArray[np.float32]]:
    """Gradient x input map of every crop: sum over heads of (W^T g_i) . F_i(y, x) + g_i . b.

    `heads` are (weight (K, C), bias (K,)) pairs and `gradients` their (crops, K) logit gradients.
    """
    features = np.asarray(feature_maps, dtype=np.float64)
    maps = []
    for crop, feature_map in enumerate(features):
        weight = np.zeros(feature_map.shape[0], dtype=np.float64)
        bias = 0.0
        for (head_weight, head_bias), gradient in zip(heads, gradients, strict=True):
            g = np.asarray(gradient, dtype=np.float64)[crop]
            weight += g @ np.asarray(head_weight, dtype=np.float64)
            bias += float(g @ np.asarray(head_bias, dtype=np.float64))
        maps.append(class_activation_map(feature_map, weight, bias))
    return maps


def softmax(logits: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Row-wise softmax."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def crop_logits(feature_maps: npt.ArrayLike, weight: npt.ArrayLike, bias: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """(crops, K) logits of a linear head on the globally averaged feature maps (crops, C, h, w)."""
    pooled = np.asarray(feature_maps, dtype=np.float64).mean(axis=(2, 3))
    return np.asarray(pooled @ np.asarray(weight, dtype=np.float64).T + np.asarray(bias, dtype=np.float64))


def hierarchy_saliency(bundle: ModelBundle, feature_maps: npt.ArrayLike, finest_index: int,
                       aggregation: str) -> list[npt.NDArray[np.float32]]:
    """Per-crop maps of log p_hier of finest cell `finest_index` (its ancestor at every level)."""
    assert bundle.hierarchy is not None
    ancestors = bundle.hierarchy.parent_index[finest_index]
    heads, gradients = [], []
    for level, ref in enumerate(bundle.card.partitionings):
        weights = bundle.heads[ref.head]
        probabilities = softmax(crop_logits(feature_maps, weights.weight, weights.bias))
        target = np.zeros(probabilities.shape[1])
        target[int(ancestors[level])] = 1.0
        heads.append((weights.weight, weights.bias))
        gradients.append(log_mixture_gradient(probabilities, target, aggregation))
    return gradient_maps(feature_maps, heads, gradients)


def scene_saliency(bundle: ModelBundle, feature_maps: npt.ArrayLike, scene_index: int,
                   aggregation: str) -> list[npt.NDArray[np.float32]]:
    """Per-crop maps of the log scene probability (a sum of class probabilities, renormalised; see above)."""
    assert bundle.card.scene is not None
    weights = bundle.heads[bundle.card.scene.head]
    probabilities = softmax(crop_logits(feature_maps, weights.weight, weights.bias))
    if bundle.scene_weights is None:
        gradient = log_mixture_gradient(probabilities, np.eye(probabilities.shape[1])[scene_index], aggregation)
    else:
        mix = np.asarray(bundle.scene_weights, dtype=np.float64)
        gradient = (log_mixture_gradient(probabilities, mix[:, scene_index], aggregation)
                    - log_mixture_gradient(probabilities, mix.sum(axis=1), aggregation))
    return gradient_maps(feature_maps, [(weights.weight, weights.bias)], [gradient])


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
