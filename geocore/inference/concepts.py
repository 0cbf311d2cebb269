"""Concept influence (Theiner et al., SemP, WACV'22): which semantic concepts drive the predicted cell.

For an explanation map e of the predicted cell and a concept mask from the segmentation map, dilated by beta
pixels (m):

    ci = (share of the top-k pixels of e that lie inside m) / (share of the image's pixels inside m)

ci = 1 is what a concept gets by chance; ci > 1 means the explanation concentrates on it. Both shares use the
same dilated mask, so a concept covering the whole image scores exactly 1. numpy only: `geotag-train concepts`
(trainer.concepts, which aggregates over error bands) and the app's detail panel compute it here, the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

DEFAULT_TOP_K = 1000
DEFAULT_BETA_PX = 3
SHOWN_CONCEPTS = 5


def dilate(mask: npt.NDArray[np.bool_], beta_px: int) -> npt.NDArray[np.bool_]:
    """Binary dilation by a disk of radius `beta_px` pixels (Euclidean; 0 leaves the mask unchanged)."""
    if beta_px <= 0:
        return mask.copy()
    height, width = mask.shape
    padded = np.pad(mask, beta_px)
    out = np.zeros_like(mask)
    for dy in range(-beta_px, beta_px + 1):
        for dx in range(-beta_px, beta_px + 1):
            if dy * dy + dx * dx <= beta_px * beta_px:
                out |= padded[beta_px + dy:beta_px + dy + height, beta_px + dx:beta_px + dx + width]
    return out


def top_k_mask(explanation: npt.NDArray[np.floating], k: int) -> npt.NDArray[np.bool_]:
    """The k pixels of highest explanation (ties broken by raster order, so the result is deterministic)."""
    flat = explanation.ravel()
    k = max(1, min(int(k), flat.size))
    chosen = np.argsort(-flat, kind="stable")[:k]
    mask = np.zeros(flat.size, dtype=bool)
    mask[chosen] = True
    return mask.reshape(explanation.shape)


def concept_influence(
    explanation: npt.NDArray[np.floating], concept_mask: npt.NDArray[np.bool_], k: int, beta_px: int
) -> float:
    """ci of one concept in one image; NaN when the (dilated) concept is absent."""
    if explanation.shape != concept_mask.shape:
        raise ValueError(f"explanation {explanation.shape} and mask {concept_mask.shape} differ in shape")
    dilated = dilate(concept_mask.astype(bool), beta_px)
    image_share = float(dilated.mean())
    if image_share == 0.0:
        return math.nan
    top = top_k_mask(explanation, k)
    return float(dilated[top].mean()) / image_share


def image_concept_scores(
    explanation: npt.NDArray[np.floating], segmentation: npt.NDArray[np.integer], class_names: Sequence[str],
    k: int = DEFAULT_TOP_K, beta_px: int = DEFAULT_BETA_PX,
) -> dict[str, float]:
    """ci of every concept present in the class map `segmentation` (same shape as the explanation)."""
    return {class_names[int(index)]: concept_influence(explanation, segmentation == index, k, beta_px)
            for index in np.unique(segmentation) if 0 <= int(index) < len(class_names)}


@dataclass(frozen=True)
class ConceptScore:
    """One concept's influence on a guess."""

    concept: str
    ci: float


def driving_concepts(scores: Mapping[str, float], count: int = SHOWN_CONCEPTS) -> list[ConceptScore]:
    """The concepts above chance (ci > 1), strongest first (ties by name), at most `count`."""
    ranked = sorted(((name, value) for name, value in scores.items() if math.isfinite(value) and value > 1.0),
                    key=lambda item: (-item[1], item[0]))
    return [ConceptScore(name, float(value)) for name, value in ranked[:count]]


def saliency_concepts(
    saliency_map: npt.NDArray[np.floating], photo_path: str | Path, segmentation: Any,
    k: int = DEFAULT_TOP_K, beta_px: int = DEFAULT_BETA_PX,
) -> dict[str, float]:
    """ci of every concept of a photo: its explanation map (Predictor.saliency, preview frame) against the
    segmentation (geocore.inference.segmentation.SegmentationModel) of the same oriented photo at that size."""
    from geotagger.geocore.inference.preprocess import open_oriented

    height, width = saliency_map.shape
    preview, _ = open_oriented(photo_path, min_short_px=min(height, width))
    classes = segmentation.segment(preview, (width, height))
    return image_concept_scores(saliency_map, classes, segmentation.class_names, k, beta_px)


@dataclass(frozen=True)
class Explanation:
    """A guess explained: the saliency overlay and, when a segmentation is installed, the concepts behind it."""

    overlay_png: bytes
    concepts: list[ConceptScore] | None  # None: no segmentation installed (nothing to list)


class ConceptExplainer:
    """Saliency plus concept influence for the app, with the installed segmentation loaded once per file.

    The segmentation is found beside the location bundle (geocore.inference.segmentation.find_segmentation); one
    that cannot be loaded is remembered with its reason (`problem`) and the photo is explained without concepts.
    """

    def __init__(self, k: int = DEFAULT_TOP_K, beta_px: int = DEFAULT_BETA_PX, count: int = SHOWN_CONCEPTS) -> None:
        import threading

        self.k, self.beta_px, self.count = k, beta_px, count
        self.problem = ""
        self._loaded: dict[tuple[Path, int], Any] = {}
        self._lock = threading.Lock()

    def segmentation_for(self, location_bundle: str | Path | None) -> Any:
        """The SegmentationModel installed for this bundle, or None (none installed, or it cannot load)."""
        from geotagger.geocore.inference.segmentation import SegmentationError, find_segmentation, load_segmentation

        path = find_segmentation(location_bundle)
        if path is None:
            return None
        try:
            key = (path, path.stat().st_mtime_ns)  # a replaced file is loaded again
        except OSError:
            return None
        with self._lock:
            if key not in self._loaded:
                try:
                    self._loaded[key] = load_segmentation(path)
                    self.problem = ""
                except SegmentationError as error:
                    self._loaded[key], self.problem = None, str(error)
            return self._loaded[key]

    def explain(self, predictor: Any, photo_path: str | Path) -> Explanation:
        """Predictor.saliency of the photo and its driving concepts (a visual proposal's explanation)."""
        saliency = predictor.saliency(photo_path)
        segmentation = self.segmentation_for(getattr(predictor.bundle, "path", None))
        if segmentation is None:
            return Explanation(bytes(saliency.overlay_png), None)
        scores = saliency_concepts(saliency.map, photo_path, segmentation, self.k, self.beta_px)
        return Explanation(bytes(saliency.overlay_png), driving_concepts(scores, self.count))
