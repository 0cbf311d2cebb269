"""The window's one door to geocore: library (scan, decisions, writes, undo), prediction, time neighbours, tracks.

Every method that touches files or the cache runs in a worker (scan and predict in the pool, decisions and writes
on the single writer thread) and returns fresh PhotoItems for the GUI thread.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.items import PhotoItem
from app.predictions import PredictionView, map_cells, shipped_bundles
from app.settings import Settings
from geocore.fusion import SOURCE_PRIORITY
from geocore.library.api import Library
from geocore.library.records import DecisionRecord, PhotoRecord
from geocore.timesync.clock import ClockSettings, format_duration
from geocore.timesync.match import DEFAULT_MAX_GAP_S
from geocore.timesync.parsers import load_tracks
from geocore.timesync.store import store_result, timed_photo
from geocore.timesync.sync import SyncResult, TimedPhoto, propose_from_track, suggest_offsets
from geocore.timesync.track import Track, merge_tracks

# The state a photo shows, from its decisions: an accepted one wins, then a written one, then a proposal.
STATE_ORDER = ("accepted", "written", "proposed", "rejected")
SOURCE_LABELS = {"model": "model", "personal_model": "personal", "gps_track": "track", "time_neighbour": "neighbour",
                 "manual": "manual"}
LIBRARY_NAME = "library.sqlite"
PREVIEW_PX = 720
PERSONAL_PREFIX = "personal-"


@dataclass
class BatchSummary:
    """A finished write, strip or undo: fresh items, how many files succeeded, and every per-file error."""

    title: str
    items: list[PhotoItem] = field(default_factory=list)
    succeeded: int = 0
    errors: list[Any] = field(default_factory=list)  # FileResult-like: .path, .kind, .reason
    batch_id: str = ""


@dataclass(frozen=True)
class FileError:
    """One file that failed, as the summary lists it."""

    path: Path
    kind: str
    reason: str


@dataclass
class TrackSyncSummary:
    """A finished GPS-track sync: how many photos were placed, why the others were not, which files failed."""

    placed: int = 0
    to_review: int = 0
    unlocated: dict[str, str] = field(default_factory=dict)  # photo path -> geocore's reason
    failed: list[FileError] = field(default_factory=list)  # track files that could not be read
    track_files: int = 0
    track_points: int = 0
    hints: list[str] = field(default_factory=list)
    cancelled: bool = False

    def reason_counts(self) -> Counter[str]:
        """Unlocated photos by kind of reason: geocore's reasons read 'kind: detail' (the detail names times)."""
        return Counter(reason.split(": ", 1)[0] for reason in self.unlocated.values())

    def text(self) -> str:
        """One line for the status bar and the summary box."""
        placed = f"{self.placed} photos placed" + (f" ({self.to_review} to review)" if self.to_review else "")
        reasons = ", ".join(f"{count} {kind}" for kind, count in self.reason_counts().most_common())
        unlocated = f"{len(self.unlocated)} left unlocated" + (f" ({reasons})" if reasons else "")
        failed = f"{len(self.failed)} track file{'' if len(self.failed) == 1 else 's'} failed"
        if not self.track_files:
            return f"Track sync: no usable track, {failed}."
        return f"Track sync: {placed}, {unlocated}, {failed}" + (" (cancelled)" if self.cancelled else "") + "."

    def details(self) -> str:
        """Every failed file and unlocated photo with its reason, and clock-offset hints."""
        lines = [f"{error.path}: {error.reason}" for error in self.failed]
        if self.track_files:
            lines.append(f"{self.track_points} track points from {self.track_files} file(s)")
        lines += [f"unlocated {Path(path).name}: {reason}" for path, reason in sorted(self.unlocated.items())]
        return "\n".join(lines + self.hints)


def choose_decision(decisions: list[DecisionRecord]) -> DecisionRecord | None:
    """The decision a photo shows: accepted > written > proposed (in geocore.fusion's source order) > rejected."""
    for state in STATE_ORDER:
        candidates = [d for d in decisions if d.state == state]
        if candidates:
            return min(candidates, key=lambda d: (_priority(d.source), d.radius_km or 0.0, -d.id))
    return None


def _priority(source: str) -> int:
    return SOURCE_PRIORITY.index(source) if source in SOURCE_PRIORITY else len(SOURCE_PRIORITY)


def item_from(record: PhotoRecord, decisions: list[DecisionRecord], view: PredictionView | None) -> PhotoItem:
    """A PhotoItem from the cache's record, its decisions and (optionally) its prediction."""
    item = PhotoItem(Path(record.path), record=record, prediction=view)
    item.taken = (record.capture_time or "").replace("T", " ")
    item.camera = " ".join(p for p in (record.make, record.model) if p)
    item.facts = _facts(record)
    if record.error_kind:
        item.state, item.error = "error", f"{record.error_kind}: {record.error or ''}".strip()
        return item
    decision = choose_decision(decisions)
    if decision is not None and not (decision.state == "rejected" and record.has_gps):
        item.state, item.source = decision.state, SOURCE_LABELS.get(decision.source, decision.source)
        item.lat, item.lon, item.radius_km = decision.lat, decision.lon, decision.radius_km
        item.place = ", ".join(p for p in (decision.place_city, decision.place_country) if p)
        item.decision_id = decision.id
        if item.state == "rejected":
            item.lat = item.lon = None
    elif record.has_gps:
        item.state, item.source, item.lat, item.lon = "has_gps", "exif", record.gps_lat, record.gps_lon
    if view is not None and view.confidence is not None:
        item.confidence = view.confidence
    return item


def _facts(record: PhotoRecord) -> dict[str, str]:
    facts = {"File": record.path, "Taken": (record.capture_time or "unknown").replace("T", " ")}
    if record.capture_offset:
        facts["UTC offset"] = record.capture_offset
    camera = " ".join(p for p in (record.make, record.model) if p)
    if camera:
        facts["Camera"] = camera
    if record.width and record.height:
        facts["Pixels"] = f"{record.width} × {record.height}"
    if record.has_gps:
        facts["GPS in file"] = f"{record.gps_lat:.6f}, {record.gps_lon:.6f} ({record.gps_source or 'exif'})"
    return facts


class Backend:
    """Owns the Library and the Predictor; the undo stack remembers batches and decision changes."""

    def __init__(self, data_folder: Path, settings: Settings) -> None:
        data_folder.mkdir(parents=True, exist_ok=True)
        self.data_folder = data_folder
        self.settings = settings
        self.library_path = data_folder / LIBRARY_NAME
        self.library = Library(self.library_path, thumbnail_dir=data_folder / "thumbnails")
        self.configure_library()
        self.views: dict[str, PredictionView] = {}
        self.undo_stack: list[tuple[str, Any]] = []
        self._predictor: Any = None
        # Bumped by reset_predictor on the GUI thread, which must never wait for a model load in a worker.
        self._predictor_generation = 0
        self._predictor_lock = threading.Lock()
        self.model_problem = ""
        self._places: dict[tuple[float, float], str] = {}

    def configure_library(self) -> None:
        """Apply the write settings to the library (sidecar naming, timestamps, backups, place names)."""
        library, settings = self.library, self.settings
        library.sidecar_style = "append" if settings.sidecar_naming == "photo.jpg.xmp" else "replace"
        library.place_names = settings.place_names
        library.writer.keep_mtime = settings.keep_timestamps
        library.writer.backup_originals = settings.backups

    def close(self) -> None:
        """Release the cache."""
        self.library.close()

    # ----- scanning -----
    def scan(self, paths: list[Path], ctx: Any) -> int:
        """Scan folders and files into the cache, add time-neighbour proposals, stream PhotoItems; returns the count."""
        folders = [p for p in paths if p.is_dir()]
        files = [p for p in paths if p.is_file()]
        from geocore.library.scan_process import scan_in_subprocess

        # A child process scans: in a thread here, its Python work would keep taking the GIL from the event loop.
        report = scan_in_subprocess(self.library_path, folders,
                                    lambda done, total, path: ctx.progress(done, total, f"Scanning {path}"),
                                    ctx.cancel_event)
        records = [r for folder in folders for r in self.library.photos(folder=folder)]
        records += [r for r in self.library.ensure_scanned(files) if isinstance(r, PhotoRecord)]
        if not ctx.cancelled:
            self.propose_from_neighbours(records)
        by_photo = self._decisions_by_photo()
        for record in records:
            ctx.emit(item_from(record, by_photo.get(record.id, []), self.views.get(record.path)))
        ctx.progress(report.found, report.found, f"{len(records)} photos, {len(report.issues)} problems")
        return len(records)

    def _decisions_by_photo(self) -> dict[int, list[DecisionRecord]]:
        grouped: dict[int, list[DecisionRecord]] = defaultdict(list)
        for decision in self.library.decisions():
            grouped[decision.photo_id].append(decision)
        return grouped

    def propose_from_neighbours(self, records: list[PhotoRecord]) -> int:
        """Time-neighbour proposals (geocore.timesync) for photos without GPS, stored once per position."""
        from geocore.timesync.store import neighbour_proposals, store_result

        result = neighbour_proposals(self.library, [r for r in records if not r.error_kind])
        existing = {(d.photo_id, round(d.lat, 7), round(d.lon, 7)) for d in self.library.decisions(
            source="time_neighbour") if d.state != "rejected"}
        # A rescan finds the same placements again: only new ones are stored (with the fusion rule's review flag).
        result.proposals = {photo_id: proposal for photo_id, proposal in result.proposals.items()
                            if (int(photo_id), round(proposal.lat, 7), round(proposal.lon, 7)) not in existing}
        return len(store_result(self.library, result))

    # ----- GPS tracks (writer thread: the sync stores decisions) -----
    def sync_tracks(self, paths: list[Path], ctx: Any, max_gap_s: float = DEFAULT_MAX_GAP_S) -> TrackSyncSummary:
        """Place the library's photos without GPS on these track files by capture time; streams the placed items.

        Matching and storing are geocore's (geocore.timesync): source gps_track, the fusion rule's review flag,
        never accepted here. A track file that cannot be read is listed in the summary; the others are still used.
        Camera time zones and clock offsets have no setting in the app yet: defaults (OffsetTimeOriginal, else the
        zone at the track's position).
        """
        summary = TrackSyncSummary()
        ctx.progress(0, 3, f"Reading {len(paths)} track file(s)")
        tracks, errors = load_tracks(paths)
        summary.failed = [FileError(Path(error.path), "unreadable track", error.reason) for error in errors]
        if not tracks:
            return summary
        track = merge_tracks(tracks)
        summary.track_files, summary.track_points = len(tracks), len(track)
        records = {str(record.id): record for record in self.library.photos("no_gps")}
        photos = [timed_photo(record) for record in records.values()]
        ctx.progress(1, 3, f"Matching {len(photos)} photos without GPS to {len(track)} track points")
        result = propose_from_track(photos, track, ClockSettings(), max_gap_s)
        summary.unlocated = {records[photo_id].path: reason for photo_id, reason in result.unlocated.items()}
        summary.hints = self._offset_hints(photos, track, result, max_gap_s)
        if ctx.cancelled:
            summary.cancelled = True
            return summary
        ctx.progress(2, 3, f"Storing {len(result.proposals)} proposals")
        stored = store_result(self.library, result)
        summary.placed, summary.to_review = len(stored), sum(proposal.flagged for proposal in stored.values())
        by_photo = self._decisions_by_photo()
        for photo_id in stored:
            record = records[photo_id]
            ctx.emit(item_from(record, by_photo.get(record.id, []), self.views.get(record.path)))
        ctx.progress(3, 3, summary.text())
        return summary

    @staticmethod
    def _offset_hints(photos: list[TimedPhoto], track: Track, result: SyncResult, max_gap_s: float) -> list[str]:
        """geocore's guess of a camera clock off by whole quarter hours, worded for the summary's details."""
        return [f"hint: {hint.matched_with_hint} of {hint.photo_count} photos of {hint.camera!r} would meet the "
                f"track (now {hint.matched_now}) with a clock offset of {format_duration(hint.offset_s)} "
                f"(geotag sync-track --clock-offset)" for hint in suggest_offsets(photos, track, result, max_gap_s)]

    # ----- prediction -----
    def active_bundle(self) -> Path | None:
        """The chosen bundle, else the first shipped one; None when there is no model at all."""
        if self.settings.active_model and Path(self.settings.active_model).exists():
            return Path(self.settings.active_model)
        shipped = shipped_bundles()
        return shipped[0] if shipped else None

    def is_personal(self, bundle: Path) -> bool:
        """Bundles trained here by "Learn from my geotagged photos" (fusion ranks them above the base model)."""
        return bundle.parent == self.data_folder / "models" and bundle.name.startswith(PERSONAL_PREFIX)

    def base_bundle(self) -> Path | None:
        """The shipped base bundle personal models are built on (its embedding output)."""
        shipped = shipped_bundles()
        return shipped[0] if shipped else None

    def predictor(self) -> Any:
        """The Predictor for the active bundle and settings, loaded once (None with `model_problem` set)."""
        with self._predictor_lock:
            if self._predictor is None:
                generation = self._predictor_generation
                bundle = self.active_bundle()
                if bundle is None:
                    self.model_problem = "no model bundle installed (resources/models is empty)"
                    return None
                from geocore.inference.card import BundleError
                from geocore.inference.predictor import Predictor

                # "GPU" means CUDA when onnxruntime finds a usable one; otherwise CPU (the status bar says which).
                provider = "auto" if self.settings.provider == "gpu" else "cpu"
                try:
                    # One core stays free for the GUI thread: inference threads and photo decoding are what
                    # otherwise stalls the window while a folder is predicted.
                    spare_cores = max(1, (os.cpu_count() or 2) - 1)
                    loaded = Predictor(bundle, provider=provider, crops=self.settings.crops or None,
                                       threads=spare_cores, decode_workers=1)
                    self.model_problem = ""
                except (BundleError, OSError, ValueError) as error:
                    self.model_problem = f"{bundle.name}: {error}"
                    return None
                if generation != self._predictor_generation:
                    return loaded  # the settings changed during the load: serve this caller, keep nothing
                self._predictor = loaded
            return self._predictor

    def reset_predictor(self) -> None:
        """Forget the loaded model (the model, provider or crops setting changed); never waits for a load."""
        self._predictor_generation += 1
        self._predictor = None
        self.views.clear()

    def model_status(self) -> str:
        """One line for the status bar: the model in use and where it runs, or why there is none."""
        predictor = self._predictor
        if predictor is None:
            return f"No model: {self.model_problem}" if self.model_problem else "Model not loaded"
        return f"Model: {predictor.model_id} ({predictor.provider}, {predictor.crops} crop(s))"

    def can_explain(self) -> bool:
        """Whether a saliency map can be computed (a model is loaded)."""
        return self._predictor is not None

    def predict(self, keys: list[str], ctx: Any) -> int:
        """Predict photos (reusing cached predictions), store model proposals, stream updated items."""
        predictor = self.predictor()
        if predictor is None:
            ctx.progress(0, 0, f"No prediction: {self.model_problem}")
            return 0
        settings_key = f"crops={predictor.crops}"
        kinds = {p.name: p.kind for p in predictor.bundle.partitionings}
        # Two queries for the whole batch, not two per photo: this runs next to the GUI thread and shares its GIL.
        by_path = self.library.photos_by_paths(keys)
        records = {str(Path(k)): by_path[str(Path(k).absolute())] for k in keys if str(Path(k).absolute()) in by_path}
        cached = self.library.latest_predictions([record.id for record in records.values()], predictor.model_id,
                                                 settings_key)
        todo = []
        for key, record in records.items():
            hit = cached.get(record.id)
            if hit is not None and hit.payload_json:
                self.views[key] = PredictionView.from_json(json.loads(hit.payload_json), kinds)
            else:
                todo.append(key)
        done = 0
        for prediction in predictor.predict_paths(todo, lambda d, t: ctx.progress(d, t, "Predicting"),
                                                  ctx.cancel_event):
            done += 1
            self._store_prediction(records[prediction.path], prediction, predictor, settings_key, kinds)
            ctx.emit(self.fresh_item(prediction.path))
        predicted_now = set(todo)
        for key in keys:
            if key not in predicted_now and key in self.views:
                ctx.emit(self.fresh_item(key))
        return done

    def _store_prediction(self, record: PhotoRecord, prediction: Any, predictor: Any, settings_key: str,
                          kinds: dict[str, str]) -> None:
        payload = prediction.to_json()
        self.views[record.path] = PredictionView.from_json(payload, kinds)
        if prediction.error or prediction.lat is None:
            return
        self.library.put_prediction(record.id, predictor.model_id, settings_key, payload, prediction.lat,
                                    prediction.lon, prediction.radius_km)
        source = "personal_model" if self.is_personal(Path(str(predictor.bundle.path))) else "model"
        self.library.propose(record.id, prediction.lat, prediction.lon, prediction.radius_km, source,
                             notes=f"model {predictor.model_id}")

    def fresh_item(self, key: str) -> PhotoItem:
        """Re-read one photo and its decisions from the cache."""
        record = self.library.photo_by_path(key)
        return item_from(record, self.library.decisions(photo_id=record.id), self.views.get(record.path))

    # ----- decisions (writer thread) -----
    def decide(self, keys: list[str], decision: str, lat: float | None, lon: float | None, ctx: Any) -> list[PhotoItem]:
        """accept / reject the shown proposal, or place photos by hand ('manual'); undoable."""
        changes = []
        for key in keys:
            item = self.fresh_item(key)
            before = self.library.decision(item.decision_id) if item.decision_id else None
            if decision == "manual" and lat is not None and lon is not None:
                new_id = self.library.set_manual(item.record.id, lat, lon)
                changes.append((before, new_id))
            elif before is not None and decision == "accept" and before.state in ("proposed", "rejected"):
                self.library.accept(before.id)
                changes.append((before, before.id))
            elif before is not None and decision == "reject" and before.state in ("proposed", "accepted"):
                self.library.reject(before.id)
                changes.append((before, before.id))
        if changes:
            self.undo_stack.append(("decisions", changes))
        return [self.fresh_item(key) for key in keys]

    def _undo_decisions(self, changes: list[tuple[DecisionRecord | None, int]]) -> list[PhotoItem]:
        """Put decisions back as they were, with public Library calls only."""
        keys = []
        for before, changed_id in reversed(changes):
            changed = self.library.decision(changed_id)
            keys.append(self.library.photo(changed.photo_id).path)
            if before is None or before.id != changed_id:  # a manual placement: drop it, restore the old shown one
                self.library.reject(changed_id)
                if before is not None and before.state == "accepted":
                    self.library.accept(before.id)
            elif before.state == "accepted":
                self.library.accept(before.id)
            elif before.state == "rejected":
                self.library.reject(before.id)
            else:  # back to proposed: no public setter, so propose the same position again and drop the decided one
                self.library.reject(before.id)
                self.library.propose(before.photo_id, before.lat, before.lon, before.radius_km, before.source,
                                     altitude_m=before.altitude_m, notes=before.notes)
        return [self.fresh_item(key) for key in dict.fromkeys(keys)]

    # ----- writes (writer thread) -----
    def write(self, keys: list[str], ctx: Any) -> BatchSummary:
        """Write the accepted decisions of these photos into their files (or sidecars)."""
        items = [self.fresh_item(key) for key in keys]
        decision_ids = [i.decision_id for i in items if i.state == "accepted" and i.decision_id is not None]
        report = self.library.write_batch(decision_ids, sidecar_only=self.settings.write_mode == "sidecar",
                                          progress=lambda d, t, p: ctx.progress(d, t, f"Writing {Path(p).name}"),
                                          cancel=ctx.cancel_event)
        return self._summary("Write", report, keys)

    def strip(self, keys: list[str], ctx: Any) -> BatchSummary:
        """Remove every location from these files (undoable)."""
        report = self.library.strip(keys, progress=lambda d, t, p: ctx.progress(d, t, f"Stripping {Path(p).name}"),
                                    cancel=ctx.cancel_event)
        return self._summary("Strip", report, keys)

    def _summary(self, title: str, report: Any, keys: list[str], undoable: bool = True) -> BatchSummary:
        if undoable and report.written and not report.dry_run:
            self.undo_stack.append(("batch", (report.batch_id, keys)))
        errors = [FileError(r.path, getattr(r.error_kind, "value", str(r.error_kind)), r.reason) for r in report.failed]
        summary = BatchSummary(title, [self.fresh_item(k) for k in keys], len(report.written), errors, report.batch_id)
        if report.cancelled:
            summary.errors.append(FileError(Path("(batch)"), "cancelled", "stopped before the end"))
        return summary

    def undo_last(self, ctx: Any) -> BatchSummary | list[PhotoItem] | None:
        """Undo the newest batch (files get their original bytes back) or the newest decision change."""
        if not self.undo_stack:
            ctx.progress(0, 0, "Nothing to undo")
            return None
        kind, payload = self.undo_stack.pop()
        if kind == "decisions":
            return self._undo_decisions(payload)
        batch_id, keys = payload
        report = self.library.undo(batch_id, progress=lambda d, t, p: ctx.progress(d, t, f"Restoring {Path(p).name}"))
        return self._summary("Undo", report, keys, undoable=False)

    # ----- pictures -----
    def thumbnail_bytes(self, path: Path, size_px: int) -> bytes | None:
        """The cached thumbnail's bytes (made once by the library), None when the photo cannot be decoded."""
        try:
            record = self.library.photo_by_path(path)
            return self.library.thumbnail(record.id).read_bytes()
        except Exception:  # an undecodable photo simply has no thumbnail; its state shows the error
            return None

    def preview_image(self, path: Path) -> Any:
        """A preview for the detail panel, EXIF orientation applied, scaled while decoding (JPEG DCT scaling)."""
        from PySide6.QtCore import QSize, Qt
        from PySide6.QtGui import QImageReader

        reader = QImageReader(str(path))
        reader.setAutoTransform(True)
        size = reader.size()
        if size.isValid() and max(size.width(), size.height()) > PREVIEW_PX:
            reader.setScaledSize(size.scaled(QSize(PREVIEW_PX, PREVIEW_PX), Qt.AspectRatioMode.KeepAspectRatio))
        return reader.read()

    def saliency_overlay(self, path: Path) -> bytes | None:
        """The colour overlay PNG of the model's saliency for this photo, None when it cannot be computed."""
        predictor = self._predictor
        if predictor is None:
            return None
        try:
            return bytes(predictor.saliency(path).overlay_png)
        except Exception:  # saliency is an extra; a photo that cannot be explained just shows no overlay
            return None

    def map_photo(self, item: PhotoItem) -> dict[str, Any]:
        """What the map page draws for the current photo (plain data; the page escapes nothing because it
        never parses it as HTML)."""
        return {"id": item.key, "name": item.path.name, "lat": item.lat, "lon": item.lon,
                "radius_km": item.radius_km or 0.0, "editable": item.state != "error",
                "cells": map_cells(item.prediction)}

    def place_text(self, lat: float, lon: float) -> str:
        """'City, State, Country' from offline GeoNames ('' at sea or far from any place)."""
        key = (round(lat, 4), round(lon, 4))
        if key not in self._places:
            from geocore.library.places import place_names

            place = place_names([key])[0]
            self._places[key] = ", ".join(p for p in (place.city, place.state, place.country) if p)
        return self._places[key]

    # ----- models -----
    def list_bundles(self) -> list[tuple[str, Path]]:
        """(label, path) of shipped, personal and imported bundles."""
        bundles = [(f"Shipped: {p.name}", p) for p in shipped_bundles()]
        personal = self.data_folder / "models"
        if personal.is_dir():
            bundles += [(f"{'Personal' if self.is_personal(p) else 'Imported'}: {p.name}", p)
                        for p in sorted(personal.glob("*.geomodel"))]
        return bundles

    def card_text(self, path: Path) -> str:
        """A readable model card (the card JSON, validated by geocore), or why it cannot be read."""
        from geocore.inference.bundle import read_card
        from geocore.inference.card import card_to_dict

        # Called on the GUI thread for every row the models dialog selects: read the card alone; the model's
        # checksums are verified when the bundle is loaded to predict.
        try:
            card = read_card(path)
        except Exception as error:  # a broken bundle is shown with its reason, not a crash
            return f"{path.name}: cannot be loaded: {error}"
        return json.dumps(card_to_dict(card), indent=2, ensure_ascii=False)

    def import_bundle(self, path: Path) -> Path:
        """Copy an imported .geomodel into the models folder, never over another bundle of the same name."""
        import filecmp
        import shutil

        folder = self.data_folder / "models"
        folder.mkdir(parents=True, exist_ok=True)
        # "personal-*" names are reserved for models trained here (the fusion rule ranks those higher).
        name = f"imported-{path.name}" if path.name.startswith(PERSONAL_PREFIX) else path.name
        target, number = folder / name, 1
        while target.exists() and target.resolve() != path.resolve() and not filecmp.cmp(path, target, False):
            number += 1
            target = folder / f"{Path(name).stem}-{number}{Path(name).suffix}"
        if target.resolve() != path.resolve():
            shutil.copy2(path, target)
        return target
