"""The main window's map side: the other photos' markers, tracks after a sync, place names for every photo and
for the top cells, the trip map export, and where file dialogs open."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QFileDialog

from geotagger.app.map.data import cell_place_labels, markers_delta_json, markers_json, photo_payload, place_texts
from geotagger.app.row_intake import apply_for_a_while
from geotagger.app.workers import Job
from geotagger.geocore.mapping.tracks import track_lines

if TYPE_CHECKING:
    from geotagger.app.items import PhotoItem

PLACES_PER_STEP = 10  # names set between two looks at the clock
# GUI-thread time per turn for names: half a row slice's (row_intake.TURN_BUDGET_S); a name can wait, a new row
# is what the user watches for
PLACES_BUDGET_S = 0.004
PLACED_STATES = frozenset(("has_gps", "proposed", "accepted", "written"))  # shown as the map's other photos


class MapActions:
    """Mixed into MainWindow (before TrackActions, whose sync it wraps)."""

    # provided by MainWindow
    backend: Any
    pools: Any
    model: Any
    map: Any
    detail: Any
    settings: Any
    _track_paths: list[Path]
    _places_wanted: set[str]
    _places_timer: Any
    _places_found: list[tuple[str, Any, Any, str]]
    _places_apply_timer: Any
    _cell_places: dict[str, str]
    _others_sent: Any
    _others_current_key: str | None

    if TYPE_CHECKING:
        def current_item(self) -> PhotoItem | None: ...
        def selected_keys(self) -> list[str]: ...
        def start_job(self, function: Any, title: str, pool: Any, on_batch: Any = None, on_done: Any = None) -> Any:
            ...
        def start_side_job(self, job: Job, on_done: Any) -> None: ...
        def _place_ready(self, key: str, lat: Any, lon: Any, text: str, shown_key: str | None = None) -> None: ...

    def photos_folder(self) -> str:
        """Where file dialogs open: the folder of the shown photo, else the last folder opened."""
        item = self.current_item()
        if item is not None:
            return str(item.path.parent)
        return self.settings.recent_folders[0] if self.settings.recent_folders else ""

    def export_map_dialog(self) -> None:
        """File ▸ Export map…: the listed photos (the selection when there is one) as one HTML trip map."""
        keys = self.selected_keys() if len(self.selected_keys()) > 1 else list(self.model.rows_by_key)
        folder = Path(self.photos_folder() or ".")
        name, _ = QFileDialog.getSaveFileName(self, "Export map", str(folder / "trip.html"), "Web page (*.html)")
        if name:
            self.export_map(keys, Path(name))

    def export_map(self, keys: list[str], out: Path) -> None:
        """Write the trip map in the background; the status bar says where it went."""
        tracks = list(self._track_paths)
        self.start_job(lambda ctx: self.backend.export_map(keys, out, tracks, ctx), "Exporting map", self.pools.work,
                       on_done=lambda path: f"Map written to {path}")

    def sync_tracks(self, paths: list[Path]) -> None:
        """Remember the track files (the map draws them once the sync is done), then sync as TrackActions does."""
        self._track_paths = list(dict.fromkeys([*self._track_paths, *paths]))
        super().sync_tracks(paths)

    def _show_tracks(self) -> None:
        paths = list(self._track_paths)
        job = Job(lambda ctx: track_lines(paths), "Tracks")
        self.start_side_job(job, self.map.show_tracks)

    def _want_places(self, items: list[PhotoItem]) -> None:
        """Name every listed photo with a position, in batches off the GUI thread (one lookup per batch)."""
        if not self.settings.show_place_names:
            return
        self._places_wanted.update(i.key for i in items if i.has_location and not i.place and i.state != "error")
        if self._places_wanted and not self._places_timer.isActive():
            self._places_timer.start()

    def _load_places(self) -> None:
        wanted = [self.model.item(key) for key in self._places_wanted]
        self._places_wanted.clear()
        points = [(i.key, i.lat, i.lon) for i in wanted if i is not None and i.has_location]
        if not points:
            return
        job = Job(lambda ctx: place_texts(points, self.backend.places), "Place names")
        self.start_side_job(job, self._apply_places)

    def _apply_places(self, found: list[tuple[str, Any, Any, str]]) -> None:
        """Names looked up: into their rows for a slice of each event-loop turn, so 20,000 of them never stall the
        window. One queue for every lookup: two lookups ending together still take one slice per turn."""
        self._places_found += found
        if not self._places_apply_timer.isActive():
            self._apply_waiting_places()

    def _apply_waiting_places(self) -> None:
        current = self.current_item()
        shown_key = "" if current is None else current.key

        def apply(entries: Sequence[tuple[str, Any, Any, str]]) -> None:
            for entry in entries:
                self._place_ready(*entry, shown_key=shown_key)

        done = apply_for_a_while(self._places_found, apply, PLACES_PER_STEP, PLACES_BUDGET_S)
        del self._places_found[:done]
        if self._places_found:
            self._places_apply_timer.start()

    def _load_cell_places(self, item: PhotoItem) -> None:
        """Name the shown photo's top cells by their Class2GPS point ("Lisbon, PT"), once per cell."""
        cells = [c for cells in (getattr(item.prediction, "top_cells", None) or {}).values() for c in cells]
        cells += list(getattr(item.prediction, "hierarchy_top", None) or [])
        missing = {c.key: (c.lat, c.lon) for c in cells if c.key not in self._cell_places}
        if not missing:
            self.detail.set_cell_places(self._cell_places)
            return
        key = item.key
        job = Job(lambda ctx: cell_place_labels(missing, self.backend.places), "Cell names")
        self.start_side_job(job, lambda names: self._cell_places_ready(key, names))

    def _cell_places_ready(self, key: str, names: dict[str, str]) -> None:
        self._cell_places.update(names)
        current = self.current_item()
        if current is not None and current.key == key:
            self.detail.set_cell_places(self._cell_places)
            self.map.show_photo(photo_payload(current, self._cell_places))

    def _refresh_others(self) -> None:
        """Every other photo's marker. 20,000 rows: after the first full set the GUI thread looks only at the rows
        added or replaced since (the model keeps them) and at the selection, and sends only the markers that changed
        (the page applies them in order: side jobs run one at a time); names and JSON are made in a worker."""
        current = self.current_item()
        touched, self.model.touched = self.model.touched, {}
        sent, shown_key = self._others_sent, self._others_current_key
        self._others_current_key = current.key if current is not None else None
        if sent is None or self.model.cleared:
            self.model.cleared = False
            self._others_sent = {item.key: item for item in self.model.items if _on_map(item) and item is not current}
            rows = [_marker_row(item) for item in self._others_sent.values()]
            self.start_side_job(Job(lambda ctx: markers_json(rows), "Map markers"), self.map.show_others_text)
            return
        if shown_key is not None and shown_key not in touched:  # the photo shown before is one of the others again
            touched[shown_key] = self.model.item(shown_key)  # type: ignore[assignment]
        if current is not None:
            touched[current.key] = current
        if not touched:
            return
        current_key = None if current is None else current.key
        # The comparison with what was sent runs in the side job too (after a large scan `touched` is every row: 20-40
        # ms of Python here). Side jobs run one at a time and in order, and only they change `sent` from now on.
        self.start_side_job(Job(lambda ctx: _marker_changes(touched, sent, current_key), "Map markers"),
                            self.map.update_others_text)


def _marker_changes(touched: dict[str, Any], sent: dict[str, Any], current_key: str | None) -> list[str]:
    """The marker messages for rows touched since the last look (`sent` updated to match); runs in a side job."""
    changed, removed = [], []
    for key, item in touched.items():
        if item is not None and _on_map(item) and key != current_key:
            if sent.get(key) is not item:  # rows are replaced, never changed in place: identity says "changed"
                sent[key] = item
                changed.append(_marker_row(item))
        elif key in sent:
            removed.append(sent.pop(key).path)
    return markers_delta_json(changed, removed) if changed or removed else []


def _on_map(item: Any) -> bool:
    return item.lat is not None and item.lon is not None and item.state in PLACED_STATES


def _marker_row(item: Any) -> tuple[Any, Any, Any, str, str]:
    return item.path, item.lat, item.lon, item.state, item.source
