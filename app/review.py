"""The review workflow of the main window: accept, reject, set/paste locations, write, undo, strip.

Enter (accept), Delete (reject) and Ctrl+V (paste a position) move on to the next photo that needs review in the
list's current sort and filter, as Lightroom and digiKam do, so a trip is reviewed without touching the mouse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox

from geotagger.app.items import STATE_LABELS, PhotoItem, needs_review
from geotagger.app.locations import format_location, parse_location
from geotagger.geocore.library.paths import display_path

DECIDABLE = ("proposed", "rejected", "accepted")
NOTHING_LEFT = "No photo left to review in this list"


class ReviewActions:
    """Mixed into MainWindow; decisions and writes go through the single writer thread."""

    # provided by MainWindow
    backend: Any
    pools: Any
    writeFinished: Any  # noqa: N815

    if TYPE_CHECKING:  # provided by QMainWindow / MainWindow
        def selected_items(self) -> list[PhotoItem]: ...
        def current_item(self) -> PhotoItem | None: ...
        def apply_updates(self, items: list[PhotoItem]) -> None: ...
        def start_job(self, function: Any, title: str, pool: Any, on_batch: Any = None, on_done: Any = None) -> Any:
            ...
        def open_settings(self) -> None: ...
        def statusBar(self) -> Any: ...  # noqa: N802

    # ----- dialogs, replaceable in tests -----
    def confirm(self, title: str, text: str) -> bool:
        """Ask yes/no; tests replace this."""
        answer = QMessageBox.question(self, title, text)  # type: ignore[arg-type]
        return answer == QMessageBox.StandardButton.Yes

    def show_summary(self, title: str, text: str, details: str = "") -> None:
        """Tell the user how a batch went, with per-file details on demand."""
        box = QMessageBox(self)  # type: ignore[call-overload]
        box.setWindowTitle(title)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(text)
        if details:
            box.setDetailedText(details)
        box.open()

    def show_error(self, title: str, text: str) -> None:
        """A bug or an unusable setting: shown once, never a crash."""
        self.show_summary(title, "Something went wrong; details below.", text)

    # ----- moving on -----
    def next_to_review(self, done_keys: set[str]) -> str | None:
        """The first photo after the decided ones (in the list's order) that still needs review, else from the top."""
        proxy, model = self.proxy, self.model  # type: ignore[attr-defined]
        rows = [proxy.mapFromSource(model.index(model.rows_by_key[key], 0)).row()
                for key in done_keys if key in model.rows_by_key]
        start = max(rows) + 1 if rows and max(rows) >= 0 else 0
        count = proxy.rowCount()
        for row in [*range(start, count), *range(0, start)]:
            item = model.items[proxy.mapToSource(proxy.index(row, 0)).row()]
            if item.key not in done_keys and needs_review(item):
                return str(item.key)
        return None

    def advance(self, done_keys: set[str]) -> str:
        """Select the next photo needing review; the words for the status bar when none is left."""
        key = self.next_to_review(done_keys)
        if key is None:
            return NOTHING_LEFT
        self.select_key(key)  # type: ignore[attr-defined]
        return ""

    # ----- decisions -----
    def _decide(self, items: list[PhotoItem], decision: str, lat: float | None = None,
                lon: float | None = None, advance: bool = False) -> None:
        """Store a decision in the background; with `advance`, move on to the next photo to review now."""
        if not items:
            return
        keys = [item.key for item in items]
        note = self.advance(set(keys)) if advance else ""

        def done(fresh: list[PhotoItem]) -> str | None:
            self.apply_updates(fresh)
            return note or None  # the status bar's last word on this job

        self.start_job(lambda ctx: self.backend.decide(keys, decision, lat, lon, ctx), "Saving", self.pools.writer,
                       on_done=done)

    def accept_selected(self) -> None:
        """Accept the proposed locations of the selected photos, then move on (Enter)."""
        search = getattr(self, "search", None)
        if search is not None and search.line.hasFocus():  # Enter in the place search belongs to the search
            search.enter()
            return
        selected = self.selected_items()
        chosen = [i for i in selected if i.state in DECIDABLE and i.has_location]
        if not chosen:
            self._say_why_not_accepted(selected)
            return
        self._decide(chosen, "accept", advance=True)

    def _say_why_not_accepted(self, selected: list[PhotoItem]) -> None:
        if not selected:
            return
        item = selected[0]
        if item.state == "rejected":
            text = (f"{item.name} was rejected: Enter does not bring a rejected proposal back. Undo (Ctrl+Z) "
                    "the rejection, or place the photo on the map.")
        else:
            text = f"Nothing to accept: {item.name} is {STATE_LABELS.get(item.state, item.state).lower()}."
        self.statusBar().showMessage(text, 8000)

    def reject_selected(self) -> None:
        """Reject the proposals of the selected photos, then move on (Delete)."""
        selected = self.selected_items()
        self._decide([i for i in selected if i.state in DECIDABLE], "reject", advance=True)

    def set_location_from_map(self, lat: float, lon: float, advance: bool = False) -> None:
        """A click or a marker drag on the map sets the location of every selected photo."""
        self._decide(self.selected_items(), "manual", lat, lon, advance)

    def set_location_dialog(self) -> None:
        """Type a position (lat, lon) for the selection."""
        text, ok = QInputDialog.getText(self, "Set location", "Latitude, longitude:")  # type: ignore[arg-type]
        position = parse_location(text) if ok else None
        if position:
            self.set_location_from_map(*position)
        elif ok:
            self.statusBar().showMessage(f"Not a position: {text!r}", 5000)

    def copy_location(self) -> None:
        """Put the current photo's location on the clipboard as 'lat, lon'."""
        item = self.current_item()
        if item is not None and item.has_location:
            QApplication.clipboard().setText(format_location(item.lat, item.lon))  # type: ignore[arg-type]
            self.statusBar().showMessage("Location copied", 3000)

    def paste_location(self) -> None:
        """Apply a 'lat, lon' from the clipboard to every selected photo."""
        position = parse_location(QApplication.clipboard().text())
        if position is None:
            self.statusBar().showMessage("The clipboard holds no position", 4000)
            return
        self.set_location_from_map(*position, advance=True)

    def undo(self) -> None:
        """Undo the last batch: a write or strip (restores the files), else the last decision."""
        self.start_job(self.backend.undo_last, "Undoing", self.pools.writer, on_done=self._batch_done("Undo"))

    # ----- writes -----
    def write_accepted(self) -> None:
        """Write every accepted location into its file, after a confirmation with counts."""
        items = [i for i in self.backend_items() if i.state == "accepted"]
        if not items:
            self.statusBar().showMessage("Nothing accepted to write", 4000)
            return
        mode = "XMP sidecars" if self.backend.settings.write_mode == "sidecar" else "the photo files (EXIF)"
        if not self.confirm("Write locations", f"Write {len(items)} accepted locations into {mode}?"):
            return
        keys = [i.key for i in items]
        self.start_job(lambda ctx: self.backend.write(keys, ctx), "Writing", self.pools.writer,
                       on_batch=self.apply_updates, on_done=self._batch_done("Write"))

    def strip_selected(self) -> None:
        """Remove GPS from the selected files (undoable), after a confirmation."""
        items = [i for i in self.selected_items() if i.state in ("has_gps", "written")]
        if not items or not self.confirm("Strip location", f"Remove the location from {len(items)} photos?"):
            return
        keys = [i.key for i in items]
        self.start_job(lambda ctx: self.backend.strip(keys, ctx), "Stripping", self.pools.writer,
                       on_batch=self.apply_updates, on_done=self._batch_done("Strip"))

    def backend_items(self) -> list[PhotoItem]:
        return list(self.model.items)  # type: ignore[attr-defined]

    def _batch_done(self, title: str) -> Any:
        def done(summary: Any) -> None:
            if summary is None:
                return
            if isinstance(summary, list):  # an undone decision: just fresher items
                self.apply_updates(summary)
                return
            self.apply_updates(summary.items)
            lines = [f"{display_path(e.path.name)}: {e.reason} ({e.kind})" for e in summary.errors]
            text = f"{title}: {summary.succeeded} succeeded, {len(summary.errors)} failed."
            self.show_summary(title, text, "\n".join(lines))
            self.writeFinished.emit(summary)
        return done
