"""Personal models: learn a user's own places from their geotagged photos, on a laptop CPU.

`personalize(folders, out)`: scan the folders into the library cache, embed every geotagged photo once through the
base bundle's ONNX graph (cached in SQLite), build partitionings adapted to the number and spread of the photos
(small tau, S2 or semantic) from the training share, train linear heads on the embeddings, evaluate them on the
held-out share, and write a bundle whose card carries that held-out accuracy table.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geocore.geo.distance import AccuracyTable, format_accuracy_tables
from geocore.geo.hierarchy import Hierarchy
from geocore.geo.partitioning import Partitioning, PartitioningError, build_s2_partitionings
from geocore.inference.bundle import ModelBundle
from geocore.library.api import Library
from trainer.data.labels import SkipReport, label_locations
from trainer.evaluate import accuracy_tables, table_to_dict
from trainer.personalize.bundle_graph import write_personal_bundle
from trainer.personalize.embeddings import EmbeddingStats, cached_embeddings
from trainer.personalize.heads import HeadOptions, train_heads

LOG = logging.getLogger(__name__)
MIN_PHOTOS = 20


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
    """What was built and how well it does on the held-out photos."""

    bundle_path: Path
    tables: dict[str, AccuracyTable]
    train_photos: int
    holdout_photos: int
    partitioning_sizes: dict[str, int]
    skipped: SkipReport
    embeddings: EmbeddingStats
    seconds: dict[str, float] = field(default_factory=dict)

    def format(self) -> str:
        """Summary for the terminal."""
        sizes = ", ".join(f"{name}: {count}" for name, count in self.partitioning_sizes.items())
        timing = ", ".join(f"{name} {value:.1f} s" for name, value in self.seconds.items())
        return (f"wrote {self.bundle_path}\n{self.skipped.summary('photos')}\n"
                f"trained on {self.train_photos} photos, held out {self.holdout_photos}; classes {sizes}\n"
                f"embeddings: {self.embeddings.cached} cached, {self.embeddings.computed} computed; {timing}\n"
                f"held-out accuracy:\n{format_accuracy_tables(self.tables)}")


def adaptive_taus(n_photos: int) -> tuple[int, list[int]]:
    """(tau_min, tau_max values coarse -> fine) scaled to the library: ~4 / 20 / 80+ classes at most."""
    tau_min = int(np.clip(n_photos // 150, 3, 50))
    candidates = [n_photos // 4, n_photos // 20, n_photos // 80]
    tau_max = sorted({max(value, 2 * tau_min) for value in candidates}, reverse=True)
    return tau_min, tau_max


def build_partitionings(lat: np.ndarray, lon: np.ndarray, kind: str) -> list[Partitioning]:
    """Nested partitionings of the training locations, coarse -> fine, duplicates removed."""
    tau_min, tau_max = adaptive_taus(len(lat))
    if kind == "semantic":
        built = _semantic_partitionings(lat, lon, tau_min)
    elif kind == "s2":
        built = build_s2_partitionings(lat, lon, tau_min, tau_max)
    else:
        raise PersonalizeError(f"unknown partitioning kind {kind!r} (s2 or semantic)")
    unique: list[Partitioning] = []
    for partitioning in built:
        if len(partitioning) and (not unique or unique[-1].keys != partitioning.keys):
            unique.append(partitioning)
    if not unique:
        raise PersonalizeError(f"no place holds {tau_min} photos: too few photos per place to learn from")
    return unique


def _semantic_partitionings(lat: np.ndarray, lon: np.ndarray, tau_min: int) -> list[Partitioning]:
    """Semantic partitionings for tau_min x 8/3/1, dropping coarse levels that would leave out many photos.

    Photos without a class at the coarsest tau are left out of every semantic level, so a library spread over many
    small regions needs a smaller coarsest tau; below 80% coverage the coarsest level goes.
    """
    from geocore.geo.semantic import build_semantic_partitionings

    taus = [tau_min * 8, tau_min * 3, tau_min]
    while taus:
        try:
            built = build_semantic_partitionings(lat, lon, taus)
        except PartitioningError:
            built = []
        if built and (len(taus) == 1 or built[0].counts.sum() >= 0.8 * len(lat)):
            return built
        taus = taus[1:]
    raise PersonalizeError(f"no region or place holds {tau_min} photos: too few photos per place to learn from")


@dataclass
class LocatedLibrary:
    """Geotagged photos of the library folders, as cached rows."""

    photo_ids: list[int]
    paths: list[str]
    lat: np.ndarray
    lon: np.ndarray


def scan_library(library: Library, folders: Sequence[str | Path], report: SkipReport) -> LocatedLibrary:
    """Scan `folders` into the cache; geotagged photos, with the others counted by reason."""
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
    located = [r for r in rows.values() if r.has_gps]
    return LocatedLibrary([r.id for r in located], [r.path for r in located],
                          np.array([r.gps_lat for r in located], dtype=np.float64),
                          np.array([r.gps_lon for r in located], dtype=np.float64))


def _split(n: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    holdout = max(1, int(round(n * share))) if share > 0 else 0
    return np.sort(order[holdout:]), np.sort(order[:holdout])


def _load_base(path: str | None) -> ModelBundle:
    from geocore.inference.bundle import load_bundle
    from geocore.inference.card import BundleError
    from geocore.inference.files import BASE_BUNDLE

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
    train, holdout = _split(len(kept), options.holdout_share, options.seed)
    try:
        partitionings = build_partitionings(lat[train], lon[train], options.partitioning)
        hierarchy = Hierarchy(partitionings)
    except PartitioningError as error:
        raise PersonalizeError(str(error)) from None
    names = [photos.paths[i] for i in kept[train]]
    labelled, classes = label_locations(names, lat[train], lon[train], partitionings, report)
    heads = train_heads(vectors[train][labelled], classes, [len(p) for p in partitionings],
                        HeadOptions(epochs=options.epochs, seed=options.seed))
    seconds["heads"] = time.perf_counter() - started
    tables: dict[str, AccuracyTable] = {}
    if len(holdout):
        probabilities = [head.probabilities(vectors[holdout]) for head in heads]
        tables = accuracy_tables(partitionings, hierarchy, probabilities, lat[holdout], lon[holdout])
    sizes = {p.name: len(p) for p in partitionings}
    details = {
        "training": {"kind": "personal", "photos": int(len(labelled)), "folders": [str(f) for f in folders],
                     "partitioning": options.partitioning, "classes": sizes, "base_model": base.model_id,
                     "head_epochs": options.epochs, "seed": options.seed},
        "evaluation": {"holdout_share": options.holdout_share, "holdout_photos": int(len(holdout)),
                       "tables": {name: table_to_dict(table) for name, table in tables.items()}},
    }
    model_id = options.model_id or f"personal-{time.strftime('%Y%m%d-%H%M%S')}"
    path = write_personal_bundle(base, heads, partitionings, hierarchy, model_id, details, out_path)
    seconds["total_after_scan"] = seconds["embeddings"] + time.perf_counter() - started
    report.log("photos")
    return PersonalizeResult(path, tables, int(len(labelled)), int(len(holdout)), sizes, report, stats, seconds)
