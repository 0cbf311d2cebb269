"""File ▸ Sync with GPS track…: choose track files, match in the background (geocore via the backend), summarise."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QFileDialog

from geocore.workflow import TRACK_SUFFIXES

if TYPE_CHECKING:
    from app.items import PhotoItem
    from geocore.workflow import TrackSyncResult

SYNC_TITLE = "Sync with GPS track"


def track_file_filter() -> str:
    """The file dialog's filter: every track suffix in both cases (Qt's name filters may be case-sensitive)."""
    patterns = sorted({f"*{suffix}" for suffix in TRACK_SUFFIXES} | {f"*{suffix.upper()}" for suffix in TRACK_SUFFIXES})
    return f"GPS tracks ({' '.join(patterns)});;All files (*)"


class TrackActions:
    """Mixed into MainWindow. The sync stores decisions, so it runs on the single writer thread."""

    # provided by MainWindow
    backend: Any
    pools: Any
    model: Any
    trackSyncFinished: Any  # noqa: N815

    if TYPE_CHECKING:  # provided by QMainWindow / MainWindow
        def apply_updates(self, items: list[PhotoItem]) -> None: ...
        def start_job(self, function: Any, title: str, pool: Any, on_batch: Any = None, on_done: Any = None) -> Any:
            ...
        def show_summary(self, title: str, text: str, details: str = "") -> None: ...

    def sync_tracks_dialog(self) -> None:
        """Ask for GPX / KML / GeoJSON files (several at once), then sync with them."""
        files, _ = QFileDialog.getOpenFileNames(self, SYNC_TITLE, "", track_file_filter())  # type: ignore[arg-type]
        if files:
            self.sync_tracks([Path(file) for file in files])

    def sync_tracks(self, paths: list[Path]) -> None:
        """Place the library's photos without GPS on these tracks in the background; placed rows refresh as
        they come, the summary follows at the end."""
        keys = list(self.model.rows_by_key)  # the photos listed in the window, not every photo of the cache
        self.start_job(lambda ctx: self.backend.sync_tracks(paths, keys, ctx), "Syncing with GPS track",
                       self.pools.writer,
                       on_batch=self.apply_updates, on_done=self._tracks_synced)

    def _tracks_synced(self, summary: TrackSyncResult) -> str:
        self.show_summary(SYNC_TITLE, summary.text(), summary.details())
        self.trackSyncFinished.emit(summary)
        return summary.text()  # the status bar's last word on this job
