"""Concept influence (Theiner et al., SemP, WACV'22) over a test set: `geotag-train concepts`.

The ci score itself (geocore.inference.concepts, shared with the app's detail panel) is averaged per concept
within each band of geolocation error (1 / 25 / 200 / 750 / 2500 km, as the accuracy tables) and ordered by
magnitude.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geotagger.geocore.inference.concepts import (
    DEFAULT_BETA_PX,
    DEFAULT_TOP_K,
    concept_influence,
    dilate,
    image_concept_scores,
    saliency_concepts,
    top_k_mask,
)

ERROR_THRESHOLDS_KM = (1.0, 25.0, 200.0, 750.0, 2500.0)
__all__ = ["DEFAULT_BETA_PX", "DEFAULT_TOP_K", "aggregate", "concept_influence", "dilate", "error_band",
           "image_concept_scores", "plot_png", "read_truth", "score_photos", "top_k_mask", "write_csv"]


def error_band(error_km: float) -> str:
    """The accuracy band an error falls in: '1 km', '25 km', ... '2500 km' (at most), or '> 2500 km'."""
    for threshold in ERROR_THRESHOLDS_KM:
        if error_km <= threshold:
            return f"{threshold:g} km"
    return f"> {ERROR_THRESHOLDS_KM[-1]:g} km"


BAND_ORDER = tuple(f"{threshold:g} km" for threshold in ERROR_THRESHOLDS_KM) + (f"> {ERROR_THRESHOLDS_KM[-1]:g} km",)


@dataclass(frozen=True)
class ConceptRow:
    """Mean ci of one concept over the images of one error band (in which it appears)."""

    band: str
    concept: str
    mean_ci: float
    images: int


def aggregate(scored: Iterable[tuple[float, Mapping[str, float]]]) -> list[ConceptRow]:
    """(error km, {concept: ci}) per image -> rows per band (closest first), each band by mean ci, largest first."""
    sums: dict[tuple[str, str], list[float]] = defaultdict(list)
    for error_km, scores in scored:
        for concept, value in scores.items():
            if math.isfinite(value):
                sums[(error_band(error_km), concept)].append(value)
    rows = [ConceptRow(band, concept, float(np.mean(values)), len(values)) for (band, concept), values in sums.items()]
    return sorted(rows, key=lambda row: (BAND_ORDER.index(row.band), -row.mean_ci, row.concept))


def write_csv(rows: Sequence[ConceptRow], path: str | Path) -> Path:
    """band,concept,mean_ci,images (one row per band and concept)."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["band", "concept", "mean_ci", "images"])
        writer.writerows([row.band, row.concept, f"{row.mean_ci:.4f}", row.images] for row in rows)
    return path


def plot_png(rows: Sequence[ConceptRow], path: str | Path, top: int = 8) -> Path:
    """Horizontal bars of the `top` concepts per band, with a line at ci = 1 (chance)."""
    from PIL import Image, ImageDraw

    bands = [band for band in BAND_ORDER if any(row.band == band for row in rows)]
    bar_h, label_w, plot_w, margin = 14, 160, 360, 10
    blocks = [[row for row in rows if row.band == band][:top] for band in bands]
    height = margin + sum(20 + bar_h * len(block) + margin for block in blocks) + margin
    image = Image.new("RGB", (label_w + plot_w + 2 * margin + 50, max(height, 40)), "white")
    draw = ImageDraw.Draw(image)
    scale = plot_w / max([row.mean_ci for row in rows] + [1.0])
    y = margin
    for band, block in zip(bands, blocks, strict=True):
        draw.text((margin, y), f"error {band}" if band.startswith(">") else f"error <= {band}", fill="black")
        y += 20
        for row in block:
            draw.text((margin, y), row.concept[:24], fill="black")
            x0 = margin + label_w
            draw.rectangle((x0, y + 2, x0 + int(row.mean_ci * scale), y + bar_h - 2), fill=(70, 110, 190))
            draw.text((x0 + int(row.mean_ci * scale) + 4, y), f"{row.mean_ci:.2f}", fill="black")
            y += bar_h
        chance = margin + label_w + int(scale)
        draw.line((chance, y - bar_h * len(block), chance, y), fill=(200, 40, 40))
        y += margin
    path = Path(path)
    image.save(path, format="PNG")
    return path


def read_truth(path: str | Path) -> dict[str, tuple[float, float]]:
    """File name -> (lat, lon) from a CSV with an id column (IMG_ID, id, name or path) and LAT/LON columns."""
    with Path(path).open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = {name.lower(): name for name in reader.fieldnames or []}
        key = next((fields[name] for name in ("img_id", "id", "name", "path") if name in fields), None)
        if key is None or "lat" not in fields or "lon" not in fields:
            raise ValueError(f"{path}: needs an IMG_ID/id/name/path column and LAT, LON columns")
        return {Path(row[key]).name: (float(row[fields["lat"]]), float(row[fields["lon"]])) for row in reader}


def score_photos(
    predictor: object, segmentation: object, paths: Sequence[Path], truth: Mapping[str, tuple[float, float]],
    k: int = DEFAULT_TOP_K, beta_px: int = DEFAULT_BETA_PX,
) -> list[tuple[float, dict[str, float]]]:
    """(error km, ci per concept) for every photo with a truth and a prediction: explanation of the predicted cell
    (Predictor.saliency) against the segmentation of the same preview."""
    from geotagger.geocore.geo.distance import haversine_km

    scored = []
    for path in paths:
        if path.name not in truth:
            continue
        saliency = predictor.saliency(path)  # type: ignore[attr-defined]
        prediction = saliency.prediction
        if prediction is None or prediction.lat is None:
            continue
        lat, lon = truth[path.name]
        error_km = float(haversine_km(prediction.lat, prediction.lon, lat, lon))
        scored.append((error_km, saliency_concepts(saliency.map, path, segmentation, k, beta_px)))
    return scored
