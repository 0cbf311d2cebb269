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

from geocore.geo.distance import AccuracyTable, accuracy_table, format_accuracy_tables, haversine_km
from geocore.geo.hierarchy import Hierarchy
from geocore.geo.partitioning import Partitioning
from trainer.data.labels import SkipReport, valid_coordinates
from trainer.data.sources import read_meta_csv, resolve_image_paths

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
    errors = {}
    for partitioning, probs in zip(partitionings, probabilities, strict=True):
        best = np.asarray(probs).argmax(axis=1)
        errors[partitioning.name] = haversine_km(lat, lon, partitioning.lat[best], partitioning.lon[best])
    best_fine = hierarchy.hierarchical_probabilities(probabilities).argmax(axis=1)
    finest = hierarchy.finest
    errors[HIERARCHY_ROW] = haversine_km(lat, lon, finest.lat[best_fine], finest.lon[best_fine])
    return errors


def accuracy_tables(
    partitionings: Sequence[Partitioning], hierarchy: Hierarchy, probabilities: Sequence[np.ndarray],
    lat: np.ndarray, lon: np.ndarray,
) -> dict[str, AccuracyTable]:
    """The paper's table rows: every partitioning alone, then the hierarchy."""
    errors = prediction_errors_km(partitionings, hierarchy, probabilities, lat, lon)
    return {name: accuracy_table(values) for name, values in errors.items()}


def bundle_probabilities(
    bundle: Any, paths: Sequence[str], crops: int | None, batch_size: int, report: SkipReport
) -> tuple[list[np.ndarray], np.ndarray]:
    """Per-partitioning probabilities (N_ok, n_j) of the photos geocore could read, and the mask of those photos."""
    from geocore.inference.location import aggregate_crops
    from geocore.inference.preprocess import PhotoError, prepare_photo
    from geocore.inference.runtime import create_session

    session = create_session(bundle)
    card, heads = bundle.card, [ref.head for ref in bundle.card.partitionings]
    count = crops or card.crops.count
    rows: list[list[np.ndarray]] = [[] for _ in heads]
    ok = np.zeros(len(paths), dtype=bool)
    for start in range(0, len(paths), batch_size):
        prepared, owners = [], []
        for index in range(start, min(start + batch_size, len(paths))):
            try:
                prepared.append(prepare_photo(paths[index], card.input, card.crops, count).crops)
                owners.append(index)
            except PhotoError as error:
                report.skip(f"unreadable image: {error}", paths[index])
        if not prepared:
            continue
        outputs = session.run(np.concatenate(prepared))
        ok[owners] = True
        for level, head in enumerate(heads):
            per_photo = outputs[head].reshape(len(prepared), count, -1)
            rows[level].extend(aggregate_crops(crops_probs, card.crops.aggregation) for crops_probs in per_photo)
    return [np.stack(level) if level else np.zeros((0, 1)) for level in rows], ok


def evaluate_bundle(
    model_path: str | Path, csv_path: str | Path, image_root: str | Path, crops: int | None = None,
    batch_size: int = 32,
) -> EvaluationResult:
    """Accuracy tables of a bundle on a test CSV (ids relative to `image_root`); unusable rows are counted."""
    from geocore.inference.bundle import load_bundle
    from geocore.inference.card import BundleError

    try:
        bundle = load_bundle(model_path)
    except BundleError as error:
        raise EvaluationError(str(error)) from None
    if not bundle.has_location or bundle.hierarchy is None:
        raise EvaluationError(f"{model_path}: the bundle has no location heads to evaluate")
    report = SkipReport()
    photos = resolve_image_paths(read_meta_csv(csv_path, report), image_root, report)
    valid = valid_coordinates(photos.lat, photos.lon)
    for index in np.flatnonzero(~valid):
        report.skip("invalid coordinates", photos.names[index])
    photos = photos.subset(np.flatnonzero(valid))
    probabilities, ok = bundle_probabilities(bundle, photos.names, crops, batch_size, report)
    if not ok.any():
        raise EvaluationError(f"no usable test photo in {csv_path}\n{report.summary('test photos')}")
    tables = accuracy_tables(bundle.partitionings, bundle.hierarchy, probabilities, photos.lat[ok], photos.lon[ok])
    report.log("test photos")
    return EvaluationResult(tables, report, bundle.model_id)
