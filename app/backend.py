"""The window's one door to geocore: Qt-free glue between the window's jobs and the workflow Session.

Every use case (scan, sync, predict, decide, write, undo, strip) is the Session's; this class only adapts a
job's context (progress, streamed results, cancel) to a Reporter and turns PhotoViews into list rows. Methods
that touch files or the cache run in a worker (scan and predict in the pool, decisions and writes on the single
writer thread) and return fresh PhotoItems for the GUI thread.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from geotagger.app import model_files, pictures
from geotagger.app.batch_summary import BatchSummary, FileError
from geotagger.app.items import PhotoItem
from geotagger.app.map import data as map_data
from geotagger.app.place_names import PlaceNamer
from geotagger.app.rows import item_from_view
from geotagger.app.scan_stream import ScanStreamer
from geotagger.app.settings import Settings
from geotagger.geocore.inference.concepts import ConceptExplainer
from geotagger.geocore.library.api import Library
from geotagger.geocore.workflow import (
    Reporter,
    Result,
    Session,
    SyncPreview,
    TimeOptions,
    TrackSyncResult,
    WorkflowSettings,
)
from geotagger.geocore.workflow.models import ModelProvider, base_bundle

LIBRARY_NAME = "library.sqlite"


def workflow_settings(settings: Settings) -> WorkflowSettings:
    """The session's settings from the app's (the same fields as the CLI's flags)."""
    return WorkflowSettings(
        write_mode=settings.write_mode, keep_mtime=settings.keep_timestamps, backups=settings.backups,
        sidecar_style="append" if settings.sidecar_naming == "photo.jpg.xmp" else "replace",
        place_names=settings.place_names, provider="auto" if settings.provider == "gpu" else "cpu",
        crops=settings.crops,
        # A chosen model that has gone (an unplugged drive) falls back to the shipped one rather than to none.
        model=settings.active_model if settings.active_model and Path(settings.active_model).exists() else "")


class Backend:
    """Owns the Session (its Library and its ModelProvider) for one window."""

    def __init__(self, data_folder: Path, settings: Settings) -> None:
        data_folder.mkdir(parents=True, exist_ok=True)
        self.data_folder = data_folder
        self.library_path = data_folder / LIBRARY_NAME
        library = Library(self.library_path, thumbnail_dir=data_folder / "thumbnails")
        # One core stays free for the GUI thread: inference threads and decoding otherwise stall the window.
        models = ModelProvider(None, threads=max(1, (os.cpu_count() or 2) - 1), decode_workers=1)
        self.session = Session(library, models)
        self.places = PlaceNamer()  # offline place names, looked up in a helper process
        self.settings = settings
        self.time_options: TimeOptions | None = None  # the sync dialog's camera clocks, for neighbour sync too
        self.concepts = ConceptExplainer()  # the installed segmentation, loaded once, for the concepts of a guess

    @property
    def settings(self) -> Settings:
        return self._settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        self._settings = settings
        self.session.apply(workflow_settings(settings))

    @property
    def recovery_warnings(self) -> list[str]:
        """Unsettled changes of an earlier crash (the window shows them once at start-up)."""
        return self.session.recovery_warnings

    @property
    def library(self) -> Library:
        return self.session.library

    def close(self) -> None:
        self.places.close()
        self.session.close()

    # ----- rows -----
    def _kinds(self) -> dict[str, str]:
        predictor = self.session.models.loaded
        return {p.name: p.kind for p in predictor.bundle.partitionings} if predictor is not None else {}

    def items(self, photo_ids: list[int]) -> list[PhotoItem]:
        kinds = self._kinds()
        return [item_from_view(view, kinds) for view in self.session.views(photo_ids)]

    def fresh_item(self, key: str) -> PhotoItem:
        """Re-read one photo and its decisions from the cache."""
        return self.items([self.library.photo_by_path(key).id])[0]

    def _reporter(self, ctx: Any, stream: bool = True) -> Reporter:
        kinds = self._kinds()
        return Reporter(ctx.progress, view=(lambda view: ctx.emit(item_from_view(view, kinds))) if stream else None,
                        cancel=ctx.cancel_event)

    # ----- use cases -----
    def scan(self, paths: list[Path], ctx: Any) -> int:
        """Scan folders and files (in a child process), then place photos by their time neighbours (the app does
        this at once; the CLI has `geotag sync-neighbours`); streams the rows, returns the count."""
        streamer = ScanStreamer(self, paths, ctx)  # rows appear while a large scan runs
        result = self.session.scan(paths, Reporter(streamer.progress, cancel=ctx.cancel_event), in_child=True)
        placed: set[int] = set()
        if not ctx.cancelled:
            placed = set(self.session.sync_neighbours(options=self.time_options, photo_ids=result.photo_ids).photo_ids)
        streamer.finish(result.photo_ids, placed)  # rows already listed and unchanged are not sent again
        ctx.progress(result.report.found, result.report.found,
                     f"{len(result.photo_ids)} photos, {len(result.failed)} problems")
        return len(result.photo_ids)

    def sync_tracks(self, paths: list[Path], keys: list[str], ctx: Any, options: TimeOptions | None = None
                    ) -> TrackSyncResult:
        """Place the photos the window lists (`keys`, never the rest of the cache) on these tracks."""
        return self.session.sync_tracks(paths, (), options or TimeOptions(), self._reporter(ctx),
                                        photo_ids=self.session.ids_of(keys))

    def preview_tracks(self, paths: list[Path], keys: list[str], options: TimeOptions) -> SyncPreview:
        """How many listed photos these settings would place (the sync dialog's live count); stores nothing."""
        return self.session.preview_tracks(paths, self.session.ids_of(keys), options)

    def predict(self, keys: list[str], ctx: Any, photo_ids: list[int] | None = None) -> int:
        """Predict photos, by key and by id (reusing cached predictions); rows refresh with proposals and review
        flags as predictions arrive."""
        ids = list(photo_ids or []) + (self.session.ids_of(keys) if keys else [])
        result = self.session.predict(reporter=self._reporter(ctx), photo_ids=ids)
        if result.notes:
            ctx.progress(0, 0, result.notes[0])
        return sum(o.kind == "predicted" for o in result.outcomes)

    def decide(self, keys: list[str], decision: str, lat: float | None, lon: float | None, ctx: Any) -> list[PhotoItem]:
        """accept / reject the shown proposal, or place photos by hand ('manual'); undoable."""
        ids = self.session.ids_of(keys)
        if decision == "manual" and lat is not None and lon is not None:
            self.session.place(ids, lat, lon)
        elif decision in ("accept", "reject"):
            (self.session.accept if decision == "accept" else self.session.reject)(ids)
        return self.items(ids)

    def write(self, keys: list[str], ctx: Any) -> BatchSummary:
        """Write the accepted decisions of these photos into their files (or sidecars)."""
        return self._summary("Write", self.session.write(self.session.ids_of(keys),
                                                         reporter=self._reporter(ctx, False)), keys)

    def strip(self, keys: list[str], ctx: Any) -> BatchSummary:
        """Remove every location from these files (undoable)."""
        return self._summary("Strip", self.session.strip(keys, self._reporter(ctx, False)), keys)

    def undo_last(self, ctx: Any) -> BatchSummary | list[PhotoItem] | None:
        """Undo the newest batch (files get their original bytes back) or the newest decision change."""
        if not self.session.history:
            ctx.progress(0, 0, "Nothing to undo")
            return None
        kind = self.session.history[-1][0]
        result = self.session.undo_last(self._reporter(ctx, False))
        if kind == "decisions":
            return self.items(result.photo_ids)
        keys = [record.path for record in self.session.records(result.photo_ids)]
        return self._summary("Undo", result, keys)

    def _summary(self, title: str, result: Result, keys: list[str]) -> BatchSummary:
        errors = [FileError(Path(o.path), o.kind, o.reason) for o in result.failed]
        if result.cancelled:
            errors.append(FileError(Path("(batch)"), "cancelled", "stopped before the end"))
        ids = self.session.ids_of(keys)
        return BatchSummary(title, self.items(ids), len(result.ok), errors, result.batch_id)

    # ----- models -----
    def predictor(self) -> Any:
        """The Predictor for the active bundle and settings, loaded once (None with `model_problem` set)."""
        return self.session.models.predictor()

    @property
    def model_problem(self) -> str:
        return self.session.models.problem

    def reset_predictor(self) -> None:
        """Forget the loaded model (the model, provider or crops setting changed); never waits for a load."""
        self.session.models.reset()

    def model_status(self) -> str:
        return self.session.models.status()

    def can_predict(self) -> bool:
        """Whether a model bundle is there to load (the shipped one or the chosen one)."""
        return self.session.models.chosen_bundle() is not None

    def can_explain(self) -> bool:
        return self.session.models.loaded is not None

    def base_bundle(self) -> Path | None:
        return base_bundle()

    def list_bundles(self) -> list[tuple[str, Path]]:
        return model_files.list_bundles(self.data_folder / "models")

    card_text = staticmethod(model_files.card_text)

    def import_bundle(self, path: Path) -> Path:
        return model_files.import_bundle(path, self.data_folder / "models")

    # ----- pictures and the map -----
    def thumbnail_bytes(self, path: Path, size_px: int) -> bytes | None:
        """The cached thumbnail's bytes (made once by the library), None when the photo cannot be decoded."""
        try:
            return self.library.thumbnail(self.library.photo_by_path(path).id).read_bytes()
        except Exception:  # an undecodable photo simply has no thumbnail; its state shows the error
            return None

    preview_image = staticmethod(pictures.preview_image)

    def saliency_overlay(self, path: Path) -> bytes | None:
        return pictures.saliency_overlay(self.session.models.loaded, path)

    def explain(self, path: Path) -> Any:
        """Saliency overlay plus the concepts that drove the guess (when a segmentation is installed)."""
        return pictures.explanation(self.concepts, self.session.models.loaded, path)

    def map_photo(self, item: PhotoItem, places: dict[str, str] | None = None) -> dict[str, Any]:
        """What the map page draws for the current photo (plain data: the page never parses it as HTML)."""
        return map_data.photo_payload(item, places)

    def export_map(self, keys: list[str], out: Path, tracks: list[Path], ctx: Any) -> Path:
        """Write the trip map of these photos (and tracks) as one self-contained HTML file."""
        from geotagger.geocore.mapping.trip import export_trip

        export_trip(self.session, self.session.ids_of(keys), out, tracks)
        return out

    def place_text(self, lat: float, lon: float) -> str:
        """'City, State, Country' from offline GeoNames ('' at sea or far from any place)."""
        return self.places.texts([(round(lat, 4), round(lon, 4))])[0]
