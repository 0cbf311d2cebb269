"""Retrieval beside the heads, measured on held-out days: kept only for a library where it helps.

The gallery is the library's photos (unit embeddings stored float16, positions, finest cell); the app blends their
vote with the heads as geocore.inference.personal describes. `compare` scores the heads alone and the blend on the
held-out days (within 1 km + within 25 km, as the level choice does) with the same geocore code the app runs, on a
gallery of the training days only; the bundle carries the gallery and the rule only when the blend scored higher.
The heads keep the temperature fitted for them alone: one fitted to the blend's shown probability instead (lowest
held-out ECE of the blend) was measured to calibrate worse on the benchmark's own held-out photos (ECE 0.209 / 0.128
/ 0.083 against 0.094 / 0.138 / 0.087 on seeds 0/1/2: the refit on every photo shifts the blend's confidence).

Measured on benchmarks/personal_accuracy.py's library (seeds 0-4, the benchmark's own held-out photos), within
25 km: heads alone 92.9/91.2/91.6/86.3/94.2%, the nearest library photo 95.1/93.8/95.1/88.1/94.2%, the blend chosen
per library 96.5/93.8/95.1/92.5/96.9%; within 1 km 86.7/88.9/87.2/81.9/91.2% -> 91.6/90.7/88.9/85.8/93.4%. The misses
left are mostly generic indoor shots away from home (2.7/4.4/4.9/5.3/2.2% of held-out photos): they look alike
everywhere, so the blend sends them where most such shots were taken.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from geotagger.geocore.geo.distance import haversine_km
from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.inference.gallery import Gallery
from geotagger.geocore.inference.personal import NoveltyIndex, RetrievalRule, blend_vote, retrieval_votes, unit

RULE = RetrievalRule()
RULES = (RULE, RetrievalRule(spread_share=0.5))  # the tight vote's region alone; a wider one for spread votes


def build_gallery(vectors: np.ndarray, lat: np.ndarray, lon: np.ndarray, hierarchy: Hierarchy) -> Gallery:
    """The gallery of these photos, with embeddings rounded to float16 exactly as the bundle stores them."""
    embedding = unit(vectors).astype(np.float16).astype(np.float32)
    fine_index = hierarchy.finest.assign(lat, lon).astype(np.int64)
    return Gallery(np.asarray(lat, np.float64), np.asarray(lon, np.float64), embedding, fine_index)


def gallery_npz(gallery: Gallery, days: np.ndarray | None = None) -> bytes:
    """gallery.npz (geocore.inference.gallery) of a gallery; with the photos' days, also "reference": each photo's
    reference similarity among the other days (geocore.inference.personal.reference_similarity)."""
    buffer = io.BytesIO()
    extra = {}
    if days is not None and len(days) == len(gallery):
        extra["reference"] = NoveltyIndex.build(gallery.embedding, days=days).reference.astype(np.float32)
    np.savez(buffer, lat=gallery.lat, lon=gallery.lon, embedding=gallery.embedding.astype(np.float16),
             fine_index=gallery.fine_index.astype(np.int32), **extra)
    return buffer.getvalue()


def normalised(hierarchy: Hierarchy, probabilities: list[np.ndarray]) -> np.ndarray:
    """p_hier per photo, rows summing to 1."""
    hierarchical = hierarchy.hierarchical_probabilities(probabilities)
    return hierarchical / np.maximum(hierarchical.sum(axis=1, keepdims=True), 1e-300)


def shown_errors_km(hierarchy: Hierarchy, distribution: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Distance (km) from the shown cell's point (Class2GPS of the best finest cell) to the truth."""
    best = distribution.argmax(axis=1)
    return np.asarray(haversine_km(hierarchy.finest.lat[best], hierarchy.finest.lon[best], lat, lon))


def _figures(error_km: np.ndarray) -> dict[str, float]:
    return {"within_1km_percent": float(100 * np.mean(error_km <= 1.0)),
            "within_25km_percent": float(100 * np.mean(error_km <= 25.0)), "median_km": float(np.median(error_km))}


@dataclass
class Comparison:
    """Heads alone against the blend on held-out days: the rule kept (None: heads alone) and the distributions."""

    rule: RetrievalRule | None
    distribution: np.ndarray  # (N, finest cells) of the kept pipeline
    figures: dict[str, Any] = field(default_factory=dict)

    def card_entry(self) -> dict[str, Any]:
        """The card's "retrieval" entry: the rule (or enabled false) and what the held-out days said."""
        entry = (self.rule or RULE).to_card()
        entry["enabled"] = self.rule is not None
        return {**entry, "heldout": self.figures}


def _score(values: dict[str, float]) -> float:
    return values["within_1km_percent"] + values["within_25km_percent"]


def compare(hierarchy: Hierarchy, probabilities: list[np.ndarray], gallery: Gallery, vectors: np.ndarray,
            lat: np.ndarray, lon: np.ndarray, rules: Sequence[RetrievalRule] = RULES) -> Comparison:
    """Score heads alone and each blend on held-out photos (gallery: the training days); keep what scores highest.

    A blend must beat the heads alone; among blends, an earlier (simpler) rule wins a tie.
    """
    heads = normalised(hierarchy, probabilities)
    heads_figures = _figures(shown_errors_km(hierarchy, heads, lat, lon))
    best: tuple[RetrievalRule | None, np.ndarray, dict[str, float]] = (None, heads, heads_figures)
    candidates = []
    for rule in rules:
        votes, inside = retrieval_votes(gallery, rule, vectors, hierarchy)
        blended = blend_vote(heads, votes, inside, rule)
        figures = _figures(shown_errors_km(hierarchy, blended, lat, lon))
        candidates.append({**rule.to_card(), **figures})
        if _score(figures) > _score(best[2]) + 1e-9:
            best = (rule, blended, figures)
    blend_figures = best[2] if best[0] is not None else max(candidates, key=_score)
    return Comparison(best[0], best[1], {"heads": heads_figures, "with_retrieval": blend_figures,
                                         "candidates": candidates})
