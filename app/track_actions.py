"""File ▸ Sync with GPS track…: the track-sync dialog (tracks, camera clocks, offsets, a live count), then the
match in the background (geocore via the backend) and a summary. Camera clock settings are remembered per camera
in clock.json in the app's config folder, the file the CLI reads too."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QDialog

from geotagger.app.track_dialog import TrackSyncDialog
from geotagger.app.workers import Job
from geotagger.geocore.workflow import CLOCK_FILE, TRACK_SUFFIXES, ClockSettings, TimeOptions, load_clock, save_clock

if TYPE_CHECKING:
    from geotagger.app.items import PhotoItem
    from geotagger.geocore.workflow import TrackSyncResult

SYNC_TITLE = "Sync with GPS track"


def track_file_filter() -> str:
    """The file dialog's filter: every track suffix in both cases (Qt's name filters may be case-sensitive)."""
    patterns = sorted({f"*{suffix}" for suffix in TRACK_SUFFIXES} | {f"*{suffix.upper()}" for suffix in TRACK_SUFFIXES})
    return f"GPS tracks ({' '.join(patterns)});;All files (*)"


class TrackActions:
    """Mixed into MainWindow. The sync stores decisions, so it runs on the single writer thread."""

    # provided by MainWindow
    pools: Any
    model: Any
    trackSyncFinished: Any  # noqa: N815
    config_folder: Path
    track_options: TimeOptions | None = None  # the dialog's last settings, used by the next sync

    if TYPE_CHECKING:  # provided by QMainWindow / MainWindow
        def apply_updates(self, items: list[PhotoItem]) -> None: ...
        def start_job(self, function: Any, title: str, pool: Any, on_batch: Any = None, on_done: Any = None) -> Any:
            ...
        def show_summary(self, title: str, text: str, details: str = "") -> None: ...

    @property
    def backend(self) -> Any:
        return self._backend

    @backend.setter
    def backend(self, backend: Any) -> None:
        """The window's backend; its session reads the camera clocks from this window's clock.json, so a sync
        given no options (a scan's neighbour sync before the dialog was opened) starts from them."""
        self._backend = backend
        backend.session.clock_path = self.config_folder / CLOCK_FILE

    def track_dialog(self, tracks: list[Path] | None = None) -> TrackSyncDialog:
        """The sync dialog over the listed photos, with the remembered camera clock settings."""
        keys = list(self.model.rows_by_key)
        dialog = TrackSyncDialog(self, keys, self.remembered_clock(), self._preview_job(keys),  # type: ignore[arg-type]
                                 track_file_filter(), tracks)
        self._track_dialog = dialog  # tests reach the open dialog here
        return dialog

    def sync_tracks_dialog(self) -> None:
        """Ask for tracks and time settings, then sync; the camera settings are remembered for next time."""
        dialog = self.track_dialog()
        if dialog.exec() != QDialog.DialogCode.Accepted or not dialog.track_paths():
            return
        self.accept_track_dialog(dialog)

    def accept_track_dialog(self, dialog: TrackSyncDialog) -> None:
        """Remember the dialog's camera settings and sync with its tracks and options."""
        self.track_options = dialog.options()
        self.backend.time_options = TimeOptions(clock=self.track_options.clock)  # neighbour sync: same clocks
        save_clock(self.track_options.clock.remembered(self.remembered_clock()), self.config_folder / CLOCK_FILE)
        self.sync_tracks(dialog.track_paths())

    def remembered_clock(self) -> ClockSettings:
        return load_clock(self.config_folder / CLOCK_FILE)

    def _preview_job(self, keys: list[str]) -> Any:
        def run(paths: list[Path], options: TimeOptions, on_result: Any) -> None:
            job = Job(lambda ctx: self.backend.preview_tracks(paths, keys, options), "Track preview")
            job.signals.done.connect(on_result)
            self.pools.work.start(job)
            self._preview_jobs = [*getattr(self, "_preview_jobs", [])[-4:], job]  # kept alive until done

        return run

    def sync_tracks(self, paths: list[Path]) -> None:
        """Place the library's photos without GPS on these tracks in the background; placed rows refresh as
        they come, the summary follows at the end."""
        keys = list(self.model.rows_by_key)  # the photos listed in the window, not every photo of the cache
        options = self.track_options or self.backend.session.default_time_options()  # the remembered clocks
        self.start_job(lambda ctx: self.backend.sync_tracks(paths, keys, ctx, options), "Syncing with GPS track",
                       self.pools.writer,
                       on_batch=self.apply_updates, on_done=self._tracks_synced)

    def _tracks_synced(self, summary: TrackSyncResult) -> str:
        self.show_summary(SYNC_TITLE, summary.text(), summary.details())
        self.trackSyncFinished.emit(summary)
        return summary.text()  # the status bar's last word on this job
