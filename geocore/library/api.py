"""The Library: one object the GUI, the CLI, time sync and the trainer use for everything photo-side.

All methods may be called from worker threads: writes to the cache are serialised by one lock, reads run
concurrently (WAL). Long operations take `progress(done, total, path)` and a `cancel` threading.Event.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from geotagger.geocore.library import db as schema
from geotagger.geocore.library import jobs as job_builders
from geotagger.geocore.library.decisions import DecisionStore, _new_id, in_chunks
from geotagger.geocore.library.errors import ErrorKind, LibraryError, error_from_os
from geotagger.geocore.library.formats import Kind
from geotagger.geocore.library.gps import PROCESSING_METHODS, GpsFix, PositionError, validate_position
from geotagger.geocore.library.provenance import Provenance
from geotagger.geocore.library.records import DecisionRecord, PhotoRecord, PredictionRecord, from_row
from geotagger.geocore.library.scanner import FoundFile, ProgressCallback, Scanner, ScanReport, inspect_file
from geotagger.geocore.library.thumbnails import make_thumbnail, thumbnail_file
from geotagger.geocore.library.writer import BatchReport, FileJob, FileResult, SafeWriter, recover
from geotagger.geocore.library.xmp import Place
from geotagger.geocore.vocabulary import Source, source_of

if TYPE_CHECKING:  # NumPy is imported where features are read or written: undo and set never need its 75 ms
    import numpy as np

PHOTO_FILTERS = ("all", "no_gps", "has_gps", "error", "proposed", "accepted", "rejected", "written", "review")
MODEL_SOURCES = (Source.MODEL, Source.PERSONAL_MODEL)  # their provenance names the model of the latest prediction


class Library(DecisionStore):
    """Photo cache plus safe writing. `db_path` None: $GEOTAGGER_DB or the per-user data folder.

    Args:
        db_path: SQLite file of the cache.
        thumbnail_dir: where thumbnails go (default: next to the database).
        sidecar_style: 'append' (`a.CR2.xmp`, darktable/digiKam) or 'replace' (`a.xmp`, Lightroom).
        keep_mtime: keep the files' modification time when writing.
        backup_originals: also keep `name_original` copies (exiftool style) besides the journal.
        place_names: write city/state/country into XMP (offline GeoNames).
    """

    def __init__(self, db_path: Path | str | None = None, *, thumbnail_dir: Path | str | None = None,
                 sidecar_style: str = "append", keep_mtime: bool = True, backup_originals: bool = False,
                 place_names: bool = False) -> None:
        self.database = schema.Database(db_path)
        self.thumbnail_dir = Path(thumbnail_dir) if thumbnail_dir else self.database.path.parent / "thumbnails"
        if sidecar_style not in ("append", "replace"):
            raise ValueError("sidecar_style must be 'append' or 'replace'")
        self.sidecar_style = sidecar_style
        self.place_names = place_names
        self.writer = SafeWriter(self.database, keep_mtime=keep_mtime, backup_originals=backup_originals)
        self._scanner = Scanner(self.database)
        self.recovered = recover(self.database)

    def close(self) -> None:
        """Release the database and the writer's threads."""
        self.writer.close()
        self.database.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- scanning and photos ------------------------------------------------------------------------------------

    def scan(self, folders: Iterable[Path | str], progress: ProgressCallback | None = None,
             cancel: threading.Event | None = None, include_hidden: bool = False) -> ScanReport:
        """Scan folders recursively into the cache (unchanged files only stat'ed)."""
        return self._scanner.scan(folders, progress, cancel, include_hidden)

    def photos(self, where: str = "all", folder: Path | str | None = None, after_id: int = 0) -> list[PhotoRecord]:
        """Cached photos by state (PHOTO_FILTERS: GPS, errors, or having a decision in a state), by path;
        `after_id`: only rows added after that one (a scan's progress, read as it goes)."""
        table, decisions = schema.photos, schema.decisions
        query = sa.select(table).order_by(table.c.path)
        if after_id:
            query = query.where(table.c.id > after_id)
        if where not in PHOTO_FILTERS:
            raise ValueError(f"unknown photo filter {where!r}; one of {PHOTO_FILTERS}")
        with_decision = (decisions.c.review.is_(True) if where == "review" else decisions.c.state == where)
        filters: dict[str, Any] = {
            "all": None, "no_gps": table.c.gps_lat.is_(None) & table.c.error_kind.is_(None),
            "has_gps": table.c.gps_lat.is_not(None), "error": table.c.error_kind.is_not(None),
        }
        condition = filters.get(where, table.c.id.in_(sa.select(decisions.c.photo_id).where(with_decision)))
        if condition is not None:
            query = query.where(condition)
        if folder is not None:
            # Exact prefix, not LIKE: SQLite's LIKE ignores ASCII case ('Trip' would match 'trip'), even escaped
            prefix = schema.path_prefix_bytes(str(Path(folder).absolute()))  # bytes: paths are stored as OS bytes
            query = query.where(sa.func.substr(table.c.path, 1, len(prefix)) == prefix)
        with self.database.engine.connect() as connection:
            return [from_row(PhotoRecord, row) for row in connection.execute(query)]

    def photo(self, photo_id: int) -> PhotoRecord:
        """One photo by id; KeyError when unknown."""
        return self._photo_where(schema.photos.c.id == photo_id, photo_id)

    def photo_by_path(self, path: Path | str) -> PhotoRecord:
        """One photo by path; KeyError when not scanned."""
        return self._photo_where(schema.photos.c.path == str(Path(path).absolute()), path)

    def photos_by_paths(self, paths: Iterable[Path | str]) -> dict[str, PhotoRecord]:
        """Many photos by path in a few queries (absolute path -> record); paths not scanned are left out."""
        found: dict[str, PhotoRecord] = {}
        with self.database.engine.connect() as connection:
            for chunk in in_chunks(str(Path(path).absolute()) for path in paths):
                query = sa.select(schema.photos).where(schema.photos.c.path.in_(chunk))
                found.update((row.path, from_row(PhotoRecord, row)) for row in connection.execute(query))
        return found

    def photos_by_ids(self, photo_ids: Iterable[int]) -> dict[int, PhotoRecord]:
        """Many photos by id in a few queries; unknown ids are left out."""
        found: dict[int, PhotoRecord] = {}
        with self.database.engine.connect() as connection:
            for chunk in in_chunks(photo_ids):
                query = sa.select(schema.photos).where(schema.photos.c.id.in_(chunk))
                found.update((row.id, from_row(PhotoRecord, row)) for row in connection.execute(query))
        return found

    def photos_in_order(self, photo_ids: Iterable[int]) -> list[PhotoRecord]:
        """These photos in the order given (repeats dropped), in a few queries; KeyError for an unknown id."""
        ids = list(dict.fromkeys(photo_ids))
        found = self.photos_by_ids(ids)
        missing = [photo_id for photo_id in ids if photo_id not in found]
        if missing:
            raise KeyError(f"photo not in the library: {missing[0]}")
        return [found[photo_id] for photo_id in ids]

    def _photo_where(self, condition: Any, label: object) -> PhotoRecord:
        with self.database.engine.connect() as connection:
            row = connection.execute(sa.select(schema.photos).where(condition)).first()
        if row is None:
            raise KeyError(f"photo not in the library: {label}")
        return from_row(PhotoRecord, row)

    def ensure_scanned(self, paths: Sequence[Path | str]) -> list[PhotoRecord | LibraryError]:
        """Scan individual files not yet in the cache (CLI `set`/`strip` on loose files); records or errors."""
        out: list[PhotoRecord | LibraryError] = []
        for raw in paths:
            path = Path(raw).absolute()
            try:
                out.append(self.photo_by_path(path))
                continue
            except KeyError:
                pass
            try:
                info = path.stat()
            except OSError as exc:
                out.append(error_from_os(exc, path))
                continue
            self._store_rows([inspect_file(FoundFile(str(path), info.st_size, info.st_mtime_ns, None))])
            out.append(self.photo_by_path(path))
        return out

    def _store_rows(self, rows: list[dict]) -> None:
        table = schema.photos
        with self.database.write_lock, self.database.engine.begin() as connection:
            for row in rows:
                existing = connection.execute(sa.select(table.c.id).where(table.c.path == row["path"])).scalar()
                if existing is None:
                    connection.execute(sa.insert(table).values(**row))
                else:
                    connection.execute(sa.update(table).where(table.c.id == existing).values(**row))

    def refresh_photos(self, photo_ids: Iterable[int]) -> None:
        """Re-read photos after our own writes: identity and GPS change, predictions and features stay."""
        rows = []
        for photo_id in set(photo_ids):
            photo = self.photo(photo_id)
            try:
                info = photo.file_path.stat()
            except OSError:
                continue
            sidecar = job_builders.existing_sidecar(photo.file_path)
            sidecar_mtime = sidecar.stat().st_mtime_ns if sidecar is not None else None
            rows.append(inspect_file(FoundFile(photo.path, info.st_size, info.st_mtime_ns, sidecar_mtime)))
        self._store_rows(rows)
        with self.database.write_lock, self.database.engine.begin() as connection:
            for row in rows:
                refreshed_id = connection.execute(sa.select(schema.photos.c.id)
                                                  .where(schema.photos.c.path == row["path"])).scalar()
                connection.execute(sa.update(schema.features).where(schema.features.c.photo_id == refreshed_id)
                                   .values(head_hash=row["head_hash"]))

    def thumbnail(self, photo_id: int) -> Path:
        """Path of the photo's cached thumbnail, made on first request; LibraryError when undecodable."""
        photo = self.photo(photo_id)
        if photo.head_hash is None or photo.size is None:
            raise LibraryError(ErrorKind(photo.error_kind or "io_error"), photo.path, photo.error or "not readable")
        target = thumbnail_file(self.thumbnail_dir, photo.head_hash, photo.size)
        made = make_thumbnail(photo.file_path, target, Kind(photo.kind or "unknown"))
        if photo.thumbnail_path != str(made):
            with self.database.write_lock, self.database.engine.begin() as connection:
                connection.execute(sa.update(schema.photos).where(schema.photos.c.id == photo_id)
                                   .values(thumbnail_path=str(made)))
        return made

    # -- predictions and features -------------------------------------------------------------------------------

    def put_prediction(self, photo_id: int, model_id: str, settings_key: str, payload: dict,
                       lat: float | None, lon: float | None, radius_km: float | None) -> int:
        """Store (replace) a model's prediction for a photo under a settings key; returns its id."""
        table = schema.predictions
        with self.database.write_lock, self.database.engine.begin() as connection:
            connection.execute(sa.delete(table).where((table.c.photo_id == photo_id) & (table.c.model_id == model_id)
                                                      & (table.c.settings_key == settings_key)))
            return _new_id(connection.execute(sa.insert(table).values(
                photo_id=photo_id, model_id=model_id, settings_key=settings_key, payload_json=json.dumps(payload),
                lat=lat, lon=lon, radius_km=radius_km, created_ns=time.time_ns())))

    def predictions(self, photo_id: int, model_id: str | None = None) -> list[PredictionRecord]:
        """Cached predictions of a photo (optionally of one model)."""
        table = schema.predictions
        query = sa.select(table).where(table.c.photo_id == photo_id)
        if model_id is not None:
            query = query.where(table.c.model_id == model_id)
        with self.database.engine.connect() as connection:
            return [from_row(PredictionRecord, row) for row in connection.execute(query.order_by(table.c.id))]

    def latest_predictions(self, photo_ids: Iterable[int], model_id: str | None = None,
                           settings_key: str | None = None) -> dict[int, PredictionRecord]:
        """The newest cached prediction per photo (optionally of one model and setting), in a few queries."""
        table = schema.predictions
        latest: dict[int, PredictionRecord] = {}
        with self.database.engine.connect() as connection:
            for chunk in in_chunks(photo_ids):
                query = sa.select(table).where(table.c.photo_id.in_(chunk))
                if model_id is not None:
                    query = query.where(table.c.model_id == model_id)
                if settings_key is not None:
                    query = query.where(table.c.settings_key == settings_key)
                query = query.order_by(table.c.id)
                latest.update((row.photo_id, from_row(PredictionRecord, row)) for row in connection.execute(query))
        return latest

    def put_features(self, photo_id: int, model_id: str, vector: np.ndarray) -> None:
        """Cache a backbone feature vector (float32) for a photo version and model."""
        self.put_features_many(model_id, {photo_id: vector})

    def put_features_many(self, model_id: str, vectors: dict[int, np.ndarray]) -> None:
        """Cache many feature vectors of one model in one transaction (tied to each file's current version)."""
        import numpy as np

        table, photos = schema.features, schema.photos
        with self.database.write_lock, self.database.engine.begin() as connection:
            heads = dict(connection.execute(sa.select(photos.c.id, photos.c.head_hash)
                                            .where(photos.c.id.in_(list(vectors)))).all())
            for photo_id, vector in vectors.items():
                if photo_id not in heads:
                    raise KeyError(f"photo not in the library: {photo_id}")
                flat = np.ascontiguousarray(vector, dtype="<f4").ravel()
                connection.execute(sa.delete(table).where((table.c.photo_id == photo_id)
                                                          & (table.c.model_id == model_id)))
                connection.execute(sa.insert(table).values(photo_id=photo_id, model_id=model_id,
                                                           head_hash=heads[photo_id] or "", dim=int(flat.size),
                                                           vector=flat.tobytes()))

    def get_features(self, photo_id: int, model_id: str) -> np.ndarray | None:
        """The cached feature vector, None when absent or made from another version of the file."""
        return self.get_features_many([photo_id], model_id).get(photo_id)

    def get_features_many(self, photo_ids: Sequence[int], model_id: str) -> dict[int, np.ndarray]:
        """Cached, current feature vectors for many photos at once."""
        import numpy as np

        table, photos = schema.features, schema.photos
        query = (sa.select(table.c.photo_id, table.c.vector).join(photos, photos.c.id == table.c.photo_id)
                 .where(table.c.model_id == model_id, table.c.photo_id.in_(list(photo_ids)),
                        table.c.head_hash == photos.c.head_hash))
        with self.database.engine.connect() as connection:
            return {row[0]: np.frombuffer(row[1], dtype="<f4").copy() for row in connection.execute(query)}

    # -- writing, undo, strip -----------------------------------------------------------------------------------

    def write_batch(self, decision_ids: Sequence[int] | None = None, *, all_proposed: bool = False,
                    sidecar_only: bool = False, dry_run: bool = False, progress: ProgressCallback | None = None,
                    cancel: threading.Event | None = None) -> BatchReport:
        """Write decisions (default: every accepted one) into the files; per-file results, never raises per file."""
        chosen, report_results = self._one_per_photo(self.decisions_to_write(decision_ids, all_proposed))
        places = self._places(chosen)
        fixes = self._fixes(chosen)
        jobs: list[FileJob] = []
        photos = self.photos_by_ids(d.photo_id for d in chosen)  # a few queries, not one per photo
        for decision, place in zip(chosen, places, strict=True):
            photo = photos[decision.photo_id]
            try:
                # Decisions stored before positions were bounded may hold values no file can carry
                validate_position(decision.lat, decision.lon, decision.altitude_m, decision.radius_km)
                fix = fixes[decision.id]()
            except PositionError as exc:
                report_results.append(FileResult(photo.file_path, "photo", False, ErrorKind.UNSUPPORTED,
                                                 f"decision {decision.id}: {exc}", photo.id, decision.id))
                continue
            try:
                jobs += job_builders.write_jobs(photo, fix, place, sidecar_only=sidecar_only,
                                                style=self.sidecar_style, decision_id=decision.id)
            except LibraryError as exc:
                report_results.append(FileResult(photo.file_path, "photo", False, exc.kind, exc.reason, photo.id,
                                                 decision.id))
        return self._run("write", jobs, report_results, dry_run, progress, cancel)

    def _fixes(self, chosen: Sequence[DecisionRecord]) -> dict[int, Callable[[], GpsFix]]:
        """decision id -> a maker of what is written for it (PositionError when it cannot be): EXIF method and
        GPSHPositioningError (the source's default radius when the decision has none), the fix time of a track
        position, and the provenance for our XMP namespace (source, model, radius, when)."""
        fix_times = self.fix_times([d.id for d in chosen])
        models = self.latest_predictions([d.photo_id for d in chosen if source_of(d.source) in MODEL_SOURCES])
        written_at = datetime.now(timezone.utc)

        def maker(decision: DecisionRecord) -> Callable[[], GpsFix]:
            source = source_of(decision.source)
            radius_km = decision.radius_km if decision.radius_km is not None else (
                source.info.default_radius_km if source is not None else None)
            utc_s = fix_times.get(decision.id)
            fix_time = datetime.fromtimestamp(utc_s, tz=timezone.utc) if utc_s is not None else None
            prediction = models.get(decision.photo_id)
            model_id = prediction.model_id if prediction is not None and source in MODEL_SOURCES else None
            origin = Provenance(decision.source, source is None or source.is_estimate, model_id, radius_km,
                                written_at, fix_time)
            return lambda: GpsFix(decision.lat, decision.lon, decision.altitude_m,
                                  PROCESSING_METHODS.get(decision.source), radius_km, fix_time, origin)
        return {decision.id: maker(decision) for decision in chosen}

    def _one_per_photo(self, chosen: list[DecisionRecord]) -> tuple[list[DecisionRecord], list[FileResult]]:
        """One write per file per batch: the newest decision wins, the others are reported as superseded."""
        latest = {d.photo_id: d.id for d in chosen}
        skipped = [FileResult(self.photo(d.photo_id).file_path, "photo", False, ErrorKind.NOTHING_TO_DO,
                              f"superseded by decision {latest[d.photo_id]}", d.photo_id, d.id)
                   for d in chosen if latest[d.photo_id] != d.id]
        return [d for d in chosen if latest[d.photo_id] == d.id], skipped

    def _places(self, chosen: Sequence[Any]) -> list[Place | None]:
        if not self.place_names or not chosen:
            return [None] * len(chosen)
        from geotagger.geocore.library.places import place_names

        places = place_names([(d.lat, d.lon) for d in chosen])
        self.store_places([(d.id, p) for d, p in zip(chosen, places, strict=True)])
        return list(places)

    def _run(self, operation: str, jobs: list[FileJob], results: list[FileResult], dry_run: bool,
             progress: ProgressCallback | None, cancel: threading.Event | None) -> BatchReport:
        if not jobs:  # nothing to change: no batch, so `undo --list` shows no empty one
            return BatchReport("", operation, results, dry_run)
        batch_id = "dry-run" if dry_run else self.writer.new_batch(operation)
        done, cancelled = self.writer.run(batch_id, jobs, dry_run, progress, cancel)
        # Decisions and the cache follow each chunk in the journal transaction that settles it (see journal.py)
        return BatchReport(batch_id, operation, results + done, dry_run, cancelled)

    def strip(self, paths: Sequence[Path | str], progress: ProgressCallback | None = None,
              cancel: threading.Event | None = None, dry_run: bool = False) -> BatchReport:
        """Remove all location data (EXIF GPS, XMP GPS and place names, IPTC location) from files and sidecars."""
        results: list[FileResult] = []
        jobs: list[FileJob] = []
        for raw, found in zip(paths, self.ensure_scanned(paths), strict=True):
            try:
                if isinstance(found, LibraryError):
                    raise found
                jobs += job_builders.strip_jobs(found)
            except LibraryError as exc:
                results.append(FileResult(Path(raw), "photo", False, exc.kind, exc.reason))
        return self._run("strip", jobs, results, dry_run, progress, cancel)

    def undo(self, batch_id: str | None = None, paths: Sequence[Path | str] | None = None,
             progress: ProgressCallback | None = None, cancel: threading.Event | None = None,
             dry_run: bool = False) -> BatchReport:
        """Restore the exact original bytes of a batch's files, or of given photos (all our changes to them).

        A dry run checks the newest change of each file (it would be restored first; older stacked changes can
        only be checked once it is) and changes nothing.
        """
        rows = self._journal_rows(batch_id, paths)
        results: list[FileResult] = []
        if not rows:  # an unknown or already undone batch: no empty undo batch in `undo --list`
            return BatchReport("", "undo", results)
        if dry_run:
            newest = list({row["path"]: row for row in reversed(rows)}.values())
            done, cancelled = self.writer.run("dry-run", [job_builders.undo_job(row) for row in newest], True,
                                              progress, cancel)
            return BatchReport("dry-run", "undo", done, True, cancelled)
        undo_batch = self.writer.new_batch("undo")
        cancelled = False
        while rows and not cancelled:  # newest change per file first: one round per stacked change
            this_round = list({row["path"]: row for row in reversed(rows)}.values())
            taken = {row["id"] for row in this_round}
            rows = [row for row in rows if row["id"] not in taken]
            done, cancelled = self.writer.run(undo_batch, [job_builders.undo_job(row) for row in this_round], False,
                                              progress, cancel)
            results += done
            failed = {str(r.path) for r in done if not r.ok}
            rows = [row for row in rows if row["path"] not in failed]  # older changes stay while a newer one does
        return BatchReport(undo_batch, "undo", results, cancelled=cancelled)

    def journal_rows(self, path: Path | str | None = None, batch_id: str | None = None) -> list[dict]:
        """Journal rows (newest first) for a file and/or batch: what was changed and how to undo it."""
        table = schema.journal
        query = sa.select(table).order_by(table.c.id.desc())
        if path is not None:
            query = query.where(table.c.path == str(Path(path).absolute()))
        if batch_id is not None:
            query = query.where(table.c.batch_id == batch_id)
        with self.database.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def _journal_rows(self, batch_id: str | None, paths: Sequence[Path | str] | None) -> list[dict]:
        table = schema.journal
        query = sa.select(table).where(table.c.state == "done").order_by(table.c.id.desc())
        if batch_id is not None:
            query = query.where(table.c.batch_id == batch_id)
        if paths is not None:
            wanted = [str(Path(p).absolute()) for p in paths]
            photo_ids = sa.select(schema.photos.c.id).where(schema.photos.c.path.in_(wanted))
            query = query.where(table.c.path.in_(wanted) | table.c.photo_id.in_(photo_ids))
        if batch_id is None and paths is None:
            raise ValueError("undo needs a batch id or paths")
        with self.database.engine.connect() as connection:
            batch_ops = dict(connection.execute(sa.select(schema.batches.c.id, schema.batches.c.operation)).all())
            rows = [dict(row._mapping) for row in connection.execute(query)]
        return [row for row in rows if batch_ops.get(row["batch_id"]) != "undo"]

    def batches(self) -> list[dict]:
        """All batches, newest first, with their operation and counts per journal state."""
        table, batches = schema.journal, schema.batches
        query = (sa.select(batches.c.id, batches.c.operation, batches.c.created_ns, table.c.state,
                           sa.func.count(table.c.id)).join(table, table.c.batch_id == batches.c.id, isouter=True)
                 .group_by(batches.c.id, table.c.state).order_by(batches.c.created_ns.desc()))
        out: dict[str, dict] = {}
        with self.database.engine.connect() as connection:
            for batch_id, operation, created_ns, state, count in connection.execute(query):
                entry = out.setdefault(batch_id, {"id": batch_id, "operation": operation, "created_ns": created_ns,
                                                  "states": {}})
                if state is not None:
                    entry["states"][state] = count
        return list(out.values())
