"""Evaluation as the papers report it: percent of photos within 1/25/200/750/2500 km and the median error, for every
partitioning alone and for the hierarchical prediction.

Bundles are evaluated through geocore's own inference code (bundle loading, preprocessing and crops from the card,
onnxruntime, crop aggregation), so what is measured is what the app ships.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geotagger.geocore.geo.distance import AccuracyTable, accuracy_table, format_accuracy_tables, haversine_km
from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.geo.partitioning import Partitioning
from geotagger.geocore.inference.location import class_points, hierarchical_points
from geotagger.trainer.data.labels import SkipReport, keep_valid_coordinates
from geotagger.trainer.data.sources import read_meta_csv, resolve_image_paths

LOG = logging.getLogger(__name__)
HIERARCHY_ROW = "hierarchy"


class EvaluationError(ValueError):
    """An evaluation that cannot give a meaningful table (no bundle, no usable photo, no location heads)."""


@dataclass
class EvaluationResult:
    """Accuracy tables by row name (partitionings, then "hierarchy") and what was skipped."""

    tables: dict[str, AccuracyTable]
    skipped: SkipReport = field(default_factory=SkipReport)
    model_id: str = ""

    def format(self) -> str:
        """The paper's table plus the skip summary."""
        title = f"model {self.model_id}: " if self.model_id else ""
        return f"{title}{self.skipped.summary('test photos')}\n{format_accuracy_tables(self.tables)}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON and model cards."""
        return {name: table_to_dict(table) for name, table in self.tables.items()}

    def write_json(self, path: str | Path) -> None:
        """Write the tables as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")


def table_to_dict(table: AccuracyTable) -> dict[str, Any]:
    """An AccuracyTable as JSON-ready data (thresholds as strings, e.g. "25")."""
    return {"within_percent": {f"{km:g}": value for km, value in table.within_percent.items()},
            "median_km": table.median_km, "count": table.count}


def prediction_errors_km(
    partitionings: Sequence[Partitioning], hierarchy: Hierarchy, probabilities: Sequence[np.ndarray],
    lat: np.ndarray, lon: np.ndarray,
) -> dict[str, np.ndarray]:
    """Great-circle error of every photo for each partitioning alone and for the hierarchy (product of softmax)."""
    errors = {partitioning.name: haversine_km(lat, lon, *class_points(partitioning, probs))
              for partitioning, probs in zip(partitionings, probabilities, strict=True)}
    errors[HIERARCHY_ROW] = haversine_km(lat, lon, *hierarchical_points(hierarchy, probabilities))
    return errors


def accuracy_tables(
    partitionings: Sequence[Partitioning], hierarchy: Hierarchy, probabilities: Sequence[np.ndarray],
    lat: np.ndarray, lon: np.ndarray,
) -> dict[str, AccuracyTable]:
    """The paper's table rows: every partitioning alone, then the hierarchy."""
    errors = prediction_errors_km(partitionings, hierarchy, probabilities, lat, lon)
    return {name: accuracy_table(values) for name, values in errors.items()}


def predicted_points(
    predictor: Any, paths: Sequence[str], report: SkipReport
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """Predicted (lat, lon) per row (each partitioning's top cell, and the hierarchy's point) from geocore's
    Predictor, for the photos it could read; also the mask of those photos."""
    names = [p.name for p in predictor.bundle.partitionings] + [HIERARCHY_ROW]
    lat = {name: np.full(len(paths), np.nan) for name in names}
    lon = {name: np.full(len(paths), np.nan) for name in names}
    ok = np.zeros(len(paths), dtype=bool)
    for index, prediction in enumerate(predictor.predict_paths(paths)):
        if not prediction.ok:
            report.skip(f"unreadable image: {prediction.error}", paths[index])
            continue
        ok[index] = True
        lat[HIERARCHY_ROW][index], lon[HIERARCHY_ROW][index] = prediction.lat, prediction.lon
        for name, cells in prediction.partitioning_top.items():
            lat[name][index], lon[name][index] = cells[0].lat, cells[0].lon
    return lat, lon, ok


def evaluate_bundle(
    model_path: str | Path, csv_path: str | Path, image_root: str | Path, crops: int | None = None,
    batch_size: int = 32,
) -> EvaluationResult:
    """Accuracy tables of a bundle on a test CSV (ids relative to `image_root`) through geocore's Predictor."""
    from geotagger.geocore.inference.bundle import load_bundle
    from geotagger.geocore.inference.card import BundleError
    from geotagger.geocore.inference.predictor import Predictor

    try:
        bundle = load_bundle(model_path)
    except BundleError as error:
        raise EvaluationError(str(error)) from None
    if not bundle.has_location or bundle.hierarchy is None:
        raise EvaluationError(f"{model_path}: the bundle has no location heads to evaluate")
    report = SkipReport()
    photos = resolve_image_paths(read_meta_csv(csv_path, report), image_root, report)
    valid = keep_valid_coordinates(photos.names, photos.lat, photos.lon, report)
    photos = photos.subset(np.flatnonzero(valid))
    predictor = Predictor(bundle, crops=crops, top_k=1, batch_photos=batch_size)
    pred_lat, pred_lon, ok = predicted_points(predictor, photos.names, report)
    if not ok.any():
        raise EvaluationError(f"no usable test photo in {csv_path}\n{report.summary('test photos')}")
    tables = {name: accuracy_table(haversine_km(photos.lat[ok], photos.lon[ok], pred_lat[name][ok],
                                                pred_lon[name][ok])) for name in pred_lat}
    report.log("test photos")
    return EvaluationResult(tables, report, bundle.model_id)
