"""Occlusion saliency for bundles without a spatial feature map (ViT bundles such as GeoCLIP): model-agnostic.

CAM needs a linear head on a pooled feature map; a ViT's pooled token has no such map. Occlusion asks the model
itself: each of `grid` x `grid` patches of every crop the prediction used is greyed (set to the card's mean colour,
0 after normalisation) and the drop in the explained score is that patch's importance. The explained score is the
displayed cell's log hierarchical probability (sum over levels of log p of the cell's ancestor), or the top scene's
log probability for a scene-only bundle. Run only when a photo is opened, batched (grid^2 x crops variants:
36 for GeoCLIP's single crop, ~15 s on 2 CPU cores for ViT-L/14, well under a second on a GPU).

What it explains, honestly: the crop(s) the model saw, at patch resolution; regions outside them stay blank.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from geotagger.geocore.inference.location import aggregate_crops
from geotagger.geocore.inference.preprocess import open_oriented
from geotagger.geocore.inference.saliency import compose_crops, overlay_png, resize_map

if TYPE_CHECKING:
    from geotagger.geocore.inference.predictor import PhotoPrediction, Predictor, Saliency

DEFAULT_GRID = 6
DEFAULT_BATCH = 12


def occluded_variants(crop: npt.NDArray[np.float32], grid: int) -> npt.NDArray[np.float32]:
    """(grid^2, 3, S, S): `crop` with patch k (row-major) set to 0, the normalised mean colour."""
    size = crop.shape[-1]
    edges = np.linspace(0, size, grid + 1).round().astype(int)
    variants = np.repeat(crop[None], grid * grid, axis=0)
    for row in range(grid):
        for column in range(grid):
            variants[row * grid + column, :, edges[row]:edges[row + 1], edges[column]:edges[column + 1]] = 0.0
    return variants


def explained_score(predictor: Predictor, prediction: PhotoPrediction, outputs: dict[str, np.ndarray]) -> tuple[
    npt.NDArray[np.float64], str, str
]:
    """Per row of `outputs` (one row per view): the log score being explained, its target name and its words."""
    bundle = predictor.bundle
    if bundle.hierarchy is not None and prediction.hierarchy_top:
        shown = prediction.hierarchy_top[0]
        cell = bundle.hierarchy.finest.keys.index(shown.key)
        ancestors = bundle.hierarchy.parent_index[cell]
        score = sum(np.log(np.maximum(outputs[ref.head][:, ancestor], 1e-30))
                    for ref, ancestor in zip(bundle.card.partitionings, ancestors, strict=True))
        return np.asarray(score, np.float64), f"{bundle.hierarchy.finest.name}:{shown.key}", shown.label
    scene = bundle.card.scene
    if scene is None or bundle.scene_weights is not None:
        raise ValueError(f"{bundle.path}: the bundle has neither location nor scene heads to explain")
    probabilities = outputs[scene.head]
    best = int(np.argmax(aggregate_crops(probabilities, "mean")))
    return np.log(np.maximum(probabilities[:, best], 1e-30)), f"scene:{scene.labels[best]}", scene.labels[best]


def occlusion_maps(predictor: Predictor, crops: npt.NDArray[np.float32], prediction: PhotoPrediction,
                   grid: int = DEFAULT_GRID, batch: int = DEFAULT_BATCH) -> tuple[list[npt.NDArray[np.float32]], str,
                                                                                   str]:
    """Per crop a (grid, grid) map of how much greying each patch lowers the explained score; target, label."""
    heads = list(predictor.bundle.card.heads)
    base = predictor.session.run(crops, heads)
    base_score, target, label = explained_score(predictor, prediction, base)
    maps = []
    for index, crop in enumerate(crops):
        variants = occluded_variants(crop, grid)
        runs = [predictor.session.run(variants[start:start + batch], heads) for start in range(0, len(variants), batch)]
        joined = {name: np.concatenate([run[name] for run in runs]) for name in heads}
        score, _, _ = explained_score(predictor, prediction, joined)
        maps.append((base_score[index] - score).reshape(grid, grid).astype(np.float32))
    return maps, target, label


def occlusion_saliency(predictor: Predictor, path: str | Path, preview_long_px: int = 512,
                       grid: int = DEFAULT_GRID) -> Saliency:
    """The occlusion map of the photo's prediction on the crops it used, fitted to a preview, with its overlay."""
    from geotagger.geocore.inference.predictor import Saliency

    photo = predictor.prepare(path)
    prediction = next(iter(predictor.predict_paths([path])))
    maps, target, label = occlusion_maps(predictor, photo.crops, prediction, grid)
    saliency = compose_crops(maps, photo.boxes, photo.resized_size)
    preview, _ = open_oriented(path, min_short_px=preview_long_px // 2)
    preview.thumbnail((preview_long_px, preview_long_px))
    fitted = resize_map(saliency, preview.size)
    words = (f'occlusion: where greying a patch ({grid}x{grid} per crop) most lowers the model\'s belief in "{label}"'
             f"; only the {len(photo.boxes)} crop(s) the model saw are explained")
    extras: dict[str, Any] = {"explains": words, "prediction": prediction}
    known = {item.name for item in dataclasses.fields(Saliency)}
    return Saliency(fitted, overlay_png(preview, fitted), f"occlusion:{target}",
                    **{name: value for name, value in extras.items() if name in known})
