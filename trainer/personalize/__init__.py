"""Personal models: learn a user's own places from their geotagged photos, on a laptop CPU.

`personalize(folders, out)`: scan the folders into the library cache, keep the photos whose GPS came from a receiver
or the user (never an estimate: trainer.personalize.provenance), embed them once through the base bundle's ONNX
graph (cached in SQLite), evaluate on held-out days (accuracy, calibration, the "no place in your library"
threshold: trainer.personalize.training), then refit on every photo and write a bundle whose card carries the
held-out figures.

Retrieval (the library photos nearest in embedding space) says "no place in your library" (a relative
similarity, geocore.inference.personal.NoveltyIndex, thresholded on held-out days: trainer.personalize.calibration),
and its vote is blended with the heads to choose the cell (geocore.inference.personal; trainer.personalize.retrieval
measures the blend on the held-out days and ships it only where it scores higher). As the final point inside the
winning cell (geocore.inference.gallery's best_in_cell) it was measured at 86.3% within 1 km against 86.7% for the
cell's centroid, and 92.9% within 25 km either way, so the point stays the cell's centroid. The confidence radius is
the held-out error quantile of photos of similar confidence (geocore.inference.personal.RadiusTable).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geotagger.geocore.geo.distance import AccuracyTable, format_accuracy_tables
from geotagger.geocore.inference.bundle import ModelBundle
from geotagger.geocore.library.api import Library
from geotagger.trainer.data.labels import SkipReport
from geotagger.trainer.evaluate import table_to_dict
from geotagger.trainer.personalize.bundle_graph import write_personal_bundle
from geotagger.trainer.personalize.calibration import SimilarityBank
from geotagger.trainer.personalize.embeddings import EmbeddingStats, cached_embeddings
from geotagger.trainer.personalize.heads import HeadOptions
from geotagger.trainer.personalize.levels import day_groups
from geotagger.trainer.personalize.provenance import estimate_reason, estimate_written_by_us
from geotagger.trainer.personalize.retrieval import build_gallery
from geotagger.trainer.personalize.training import (
    Evaluation,
    TrainingError,
    build_partitionings,
    evaluate,
    fit,
    shipped,
)

LOG = logging.getLogger(__name__)
MIN_PHOTOS = 20
__all__ = ["PersonalizeError", "PersonalizeOptions", "PersonalizeResult", "build_partitionings", "personalize"]


class PersonalizeError(ValueError):
    """A personal model cannot be made (too few geotagged photos, no base model, ...); the message says why."""


@dataclass
class PersonalizeOptions:
    """Settings of `personalize`; None base_model/cache_path mean the shipped base bundle and the app's cache."""

    base_model: str | None = None
    holdout_share: float = 0.2
    epochs: int = 60
    cache_path: str | None = None
    partitioning: str = "s2"  # "s2" or "semantic"
    seed: int = 0
    model_id: str | None = None


@dataclass
class PersonalizeResult:
    """What was built and how well it does on the held-out days."""

    bundle_path: Path
    tables: dict[str, AccuracyTable]
    train_photos: int
    holdout_photos: int
    partitioning_sizes: dict[str, int]
    skipped: SkipReport
    embeddings: EmbeddingStats
    seconds: dict[str, float] = field(default_factory=dict)
    evaluation: Evaluation = field(default_factory=Evaluation)
    outside: dict[str, int] = field(default_factory=dict)  # partitioning -> photos of the bundle it does not hold
    shipped_photos: int = 0

    def format(self) -> str:
        """Summary for the terminal."""
        sizes = ", ".join(f"{name}: {count}" for name, count in self.partitioning_sizes.items())
        timing = ", ".join(f"{name} {value:.1f} s" for name, value in self.seconds.items())
        missing = {name: count for name, count in self.outside.items() if count}
        coverage = ("every photo is used by every level" if not missing else "photos outside a level: "
                    + ", ".join(f"{name} {count}" for name, count in missing.items()))
        lines = [f"wrote {self.bundle_path}", self.skipped.summary("photos"),
                 f"evaluated on {self.holdout_photos} photos of held-out days (trained on the other "
                 f"{self.train_photos}); the bundle is refitted on all {self.shipped_photos}; classes {sizes}; "
                 f"{coverage}",
                 f"embeddings: {self.embeddings.cached} cached, {self.embeddings.computed} computed; {timing}"]
        evaluation = self.evaluation
        if evaluation.ece_calibrated is not None:
            lines.append(f"calibration error (ECE, top cell): {evaluation.ece_raw:.3f} before, "
                         f"{evaluation.ece_calibrated:.3f} after temperature scaling"
                         + (f", {evaluation.ece_shown:.3f} with the retrieval vote" if evaluation.retrieval_rule
                            and evaluation.ece_shown is not None else ""))
        if "truth_inside_percent" in evaluation.radius:
            radius = evaluation.radius
            lines.append(f"confidence radius: the truth lies inside it for {radius['truth_inside_percent']:.0f}% of "
                         f"held-out photos (median radius {radius['median_radius_km']:.2f} km, median error "
                         f"{radius['median_error_km']:.2f} km, 90% within {radius['p90_error_km']:.1f} km)")
        if evaluation.retrieval:
            lines.append(_retrieval_line(evaluation.retrieval))
        for name, why in evaluation.dropped_levels.items():
            lines.append(f"level {name} not shipped: {why}")
        if evaluation.unknown_place:
            unknown = evaluation.unknown_place
            unseen = unknown.get("heldout_unseen_place_withheld_percent")
            lines.append(f"no proposal below relative similarity {unknown['min_score']:.3f} to the library: on "
                         f"held-out days {unknown['heldout_withheld_percent']:.1f}% of photos of known places"
                         + (f", {unseen:.0f}% of places seen that day only" if unseen is not None else ""))
        elif evaluation.min_similarity is not None:
            lines.append(f"no proposal below similarity {evaluation.min_similarity:.3f} to the nearest library photo")
        return "\n".join(lines + [f"held-out accuracy:\n{format_accuracy_tables(self.tables)}"])


def _retrieval_line(entry: dict) -> str:
    figures = entry.get("heldout", {})
    heads, blend = figures.get("heads", {}), figures.get("with_retrieval", {})
    verdict = "kept" if entry.get("enabled") else "left out (no better)"
    return (f"retrieval vote beside the heads: {verdict}; held-out within 1 / 25 km: heads "
            f"{heads.get('within_1km_percent', 0):.1f} / {heads.get('within_25km_percent', 0):.1f}%, with the vote "
            f"{blend.get('within_1km_percent', 0):.1f} / {blend.get('within_25km_percent', 0):.1f}%")


@dataclass
class LocatedLibrary:
    """Geotagged photos of the library folders whose GPS may teach (receiver or user), as cached rows."""

    photo_ids: list[int]
    paths: list[str]
    lat: np.ndarray
    lon: np.ndarray
    capture_times: list[str | None] = field(default_factory=list)


def scan_library(library: Library, folders: Sequence[str | Path], report: SkipReport) -> LocatedLibrary:
    """Scan `folders` into the cache; photos with trusted GPS, the others counted by reason (estimates too)."""
    for folder in folders:
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"photo folder not found: {folder}")
    scan = library.scan(folders)
    rows = {record.id: record for folder in folders for record in library.photos("all", folder=folder)}
    for record in rows.values():
        if not record.has_gps:
            reason = f"unreadable file ({record.error_kind})" if record.error_kind else "no GPS"
            report.skip(reason, f"{record.path}: {record.error}" if record.error else record.path)
    known = {record.path for record in rows.values()}
    for issue in scan.issues:  # problems with files or folders that never became photo rows
        if str(getattr(issue, "path", "")) not in known:
            report.skip("scan problem", str(issue))
    report.considered += len(rows)
    written = estimate_written_by_us(library.decisions_of_photos(list(rows)))
    located = []
    for record in (r for r in rows.values() if r.has_gps):
        reason = estimate_reason(record.id, record.path, written)
        if reason:
            report.skip(reason, record.path)
        else:
            located.append(record)
    return LocatedLibrary([r.id for r in located], [r.path for r in located],
                          np.array([r.gps_lat for r in located], dtype=np.float64),
                          np.array([r.gps_lon for r in located], dtype=np.float64),
                          [r.capture_time for r in located])


def _load_base(path: str | None) -> ModelBundle:
    from geotagger.geocore.inference.bundle import load_bundle
    from geotagger.geocore.inference.card import BundleError
    from geotagger.geocore.inference.files import BASE_BUNDLE

    try:
        base = load_bundle(path or BASE_BUNDLE)
    except BundleError as error:
        hint = "" if path else " (build it with: geotag-train base-model --out resources/models/base.geomodel)"
        raise PersonalizeError(f"{error}{hint}") from None
    return base


def personalize(folders: Sequence[str | Path], out_path: str | Path, options: PersonalizeOptions | None = None,
                progress: Callable[[int, int], None] | None = None) -> PersonalizeResult:
    """Build a personal bundle from the geotagged photos under `folders`; raises PersonalizeError.

    `progress(done, total)` is called while embeddings are computed (the long part; cached photos are skipped).
    """
    options, seconds, report = options or PersonalizeOptions(), {}, SkipReport()
    if not 0 <= options.holdout_share < 0.9:
        raise PersonalizeError("the held-out share must be in [0, 0.9)")
    base, started = _load_base(options.base_model), time.perf_counter()
    library = Library(options.cache_path)
    try:
        photos = scan_library(library, folders, report)
        seconds["scan"] = time.perf_counter() - started
        if len(photos.paths) < MIN_PHOTOS:
            raise PersonalizeError(f"only {len(photos.paths)} geotagged photos; at least {MIN_PHOTOS} are needed\n"
                                   + report.summary("photos"))
        vectors, ok, stats = cached_embeddings(library, base, photos.photo_ids, photos.paths, report, progress)
    finally:
        library.close()
    seconds["embeddings"] = stats.seconds
    kept = np.flatnonzero(ok)
    return _train_and_write(base, photos, kept, vectors, stats, report, options, out_path, seconds, folders)


def _train_and_write(
    base: ModelBundle, photos: LocatedLibrary, kept: np.ndarray, vectors: np.ndarray, stats: EmbeddingStats,
    report: SkipReport, options: PersonalizeOptions, out_path: str | Path, seconds: dict[str, float],
    folders: Sequence[str | Path],
) -> PersonalizeResult:
    started = time.perf_counter()
    lat, lon = photos.lat[kept], photos.lon[kept]
    names = [photos.paths[i] for i in kept]
    head_options = HeadOptions(epochs=options.epochs, seed=options.seed)
    groups = day_groups([photos.capture_times[i] for i in kept]) if photos.capture_times else np.arange(len(kept))
    try:
        evaluation = evaluate(vectors, lat, lon, names, groups, options.partitioning, head_options,
                              options.holdout_share)
        fitted = fit(vectors, lat, lon, names, options.partitioning, head_options, report)
    except TrainingError as error:
        raise PersonalizeError(str(error)) from None
    seconds["heads"] = time.perf_counter() - started
    fitted = shipped(fitted, evaluation)
    sizes = {p.name: len(p) for p in fitted.partitionings}
    details = {
        "training": {"kind": "personal", "photos": fitted.used, "folders": [str(f) for f in folders],
                     "partitioning": options.partitioning, "classes": sizes, "base_model": base.model_id,
                     "head_epochs": options.epochs, "seed": options.seed,
                     "excluded": dict(report.counts), "dropped_levels": evaluation.dropped_levels},
        "evaluation": {"holdout_share": options.holdout_share, "holdout_photos": evaluation.holdout_photos,
                       "split": "by capture day", "train_photos": evaluation.train_photos,
                       "tables": {name: table_to_dict(table) for name, table in evaluation.tables.items()},
                       **evaluation.card_entries()},
    }
    model_id = options.model_id or f"personal-{time.strftime('%Y%m%d-%H%M%S')}"
    bank = SimilarityBank.build(vectors, options.seed) if evaluation.min_similarity is not None else None
    gallery = (build_gallery(vectors, lat, lon, fitted.hierarchy)
               if evaluation.retrieval_rule is not None or evaluation.unknown_place else None)
    path = write_personal_bundle(base, fitted.heads, fitted.partitionings, fitted.hierarchy, model_id, details,
                                 out_path, bank, gallery, groups)
    seconds["total_after_scan"] = seconds["embeddings"] + time.perf_counter() - started
    report.log("photos")
    return PersonalizeResult(path, evaluation.tables, evaluation.train_photos, evaluation.holdout_photos, sizes,
                             report, stats, seconds, evaluation, fitted.outside, fitted.used)
