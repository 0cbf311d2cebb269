"""The photo list: one PhotoItem per file, a table model over them, and a proxy that filters and sorts."""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRegularExpression, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor, QIcon, QPixmap, QStandardItem, QStandardItemModel

from geotagger.geocore.library.paths import display_path

# States in the order a photo moves through them; "error" can happen at any step.
STATES = ("scanned", "has_gps", "proposed", "accepted", "rejected", "written", "error")
STATE_LABELS = {
    "scanned": "No location", "has_gps": "Has GPS", "proposed": "Proposed", "accepted": "Accepted",
    "rejected": "Rejected", "written": "Written", "error": "Error",
}
STATE_COLOURS = {
    "scanned": "#9ca3af", "has_gps": "#2563eb", "proposed": "#f59e0b", "accepted": "#16a34a",
    "rejected": "#dc2626", "written": "#0d9488", "error": "#7f1d1d",
}
VISUAL_SOURCES = frozenset(("model", "personal"))  # positions guessed from the image: the only ones with saliency
SETTLED_SOURCES = frozenset(("exif", "xmp", "track", "manual", "pasted"))  # the confidence filter keeps these
REVIEW_MARK = "⚑ review"  # after the state of a proposal the fusion rule flags (its reason is the tool tip)
COLUMNS = ("Photo", "State", "Source", "Model conf.", "Place", "Taken")
PLACE_COLUMN = 4
COLUMN_TIPS = {3: "Confidence of the place model's guess; empty where the position came from the file, a track, "
                  "a neighbour or you", 5: "Capture time (the camera's clock)"}
TAKEN_COLUMN = 5
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
FILTER_ROLE = Qt.ItemDataRole.UserRole + 2


@dataclass
class PhotoItem:
    """What the window knows about one photo; geocore objects stay in `record` and `prediction`."""

    path: Path
    state: str = "scanned"
    source: str = ""  # "exif", "model", "track", "neighbour", "manual", "pasted"
    lat: float | None = None
    lon: float | None = None
    radius_km: float | None = None
    confidence: float | None = None  # 0..1, shown as percent
    place: str = ""
    taken: str = ""
    camera: str = ""
    error: str = ""
    decision_id: int | None = None  # the library decision this row shows
    prediction: Any = None
    record: Any = None
    facts: dict[str, str] = field(default_factory=dict)
    review: bool = False  # the fusion rule flags this photo's proposal for review
    review_reason: str = ""
    notes: str = ""  # how the shown proposal was found

    @property
    def key(self) -> str:
        return str(self.path)  # the exact path (a name that is not UTF-8 keeps its escapes): never shown

    @property
    def name(self) -> str:
        """The file name as shown: bytes that are not UTF-8 become U+FFFD (Qt would silently drop them)."""
        return display_path(self.path.name)

    @property
    def shown_path(self) -> str:
        return display_path(self.path)

    @property
    def has_location(self) -> bool:
        return self.lat is not None and self.lon is not None


def _state_icon(state: str) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(STATE_COLOURS.get(state, "#000000")))
    return QIcon(pixmap)


def _display(item: PhotoItem, column: int) -> str:
    if column == 0:
        return item.name
    if column == 1:
        label = STATE_LABELS.get(item.state, item.state)
        return f"{label} {REVIEW_MARK}" if item.review else label
    if column == 2:
        return item.source
    if column == 3:
        return "" if not shows_confidence(item) else f"{100 * item.confidence:.0f} %"
    if column == PLACE_COLUMN:
        return item.error if item.state == "error" else item.place
    return item.taken


def shows_confidence(item: PhotoItem) -> bool:
    """The model's confidence is the photo's only for a visual guess (or a photo with no position yet)."""
    return item.confidence is not None and (item.source in VISUAL_SOURCES or not item.has_location)


def format_radius(radius_km: float | None) -> str:
    """'± 15 m' under a kilometre, '± 2.5 km' above, '—' for none."""
    if radius_km is None:
        return "—"
    if radius_km < 1.0:
        return f"± {1000 * radius_km:.0f} m"
    return f"± {radius_km:,.1f} km"


def needs_review(item: PhotoItem) -> bool:
    """A photo the reviewer still has to look at: a proposal nobody accepted or rejected yet."""
    return item.state == "proposed"


def _sort_key(item: PhotoItem, column: int) -> Any:
    if column == 1:
        return STATES.index(item.state) if item.state in STATES else len(STATES)
    if column == 3:
        return -1.0 if not shows_confidence(item) else float(item.confidence)  # type: ignore[arg-type]
    return _display(item, column).lower()


def escaped_tooltip(text: str) -> str:
    """Qt renders a tool tip as HTML when it looks like HTML: a file name must never be taken for markup."""
    return f"<p style='white-space:pre'>{html.escape(text)}</p>"


def state_tooltip(item: PhotoItem) -> str:
    """Why a photo is in error, or why its proposal needs review, and how it was found."""
    if item.error:
        return item.error
    lines = [f"Review: {item.review_reason}"] if item.review and item.review_reason else []
    return "\n".join(lines + ([item.notes] if item.notes else []))


def filter_text(item: PhotoItem) -> str:
    """What the proxy's regular expression filters on: '|state|source|confidence percent|'; a position from the
    file, a track, a neighbour or the user has no model confidence and passes any minimum ('keep')."""
    if item.has_location and item.source not in VISUAL_SOURCES:
        return f"|{item.state}|{item.source}|keep|"
    percent = -1 if item.confidence is None else round(100 * item.confidence)
    return f"|{item.state}|{item.source}|{percent}|"


class PhotoTableModel(QStandardItemModel):
    """Rows are PhotoItems, stored as Qt items: the views, the sorting and the filtering then run in C++ and never
    call back into Python (with workers busy in Python, every such call would wait for the GIL)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(COLUMNS))
        for column, tip in COLUMN_TIPS.items():
            self.setHeaderData(column, Qt.Orientation.Horizontal, tip, Qt.ItemDataRole.ToolTipRole)
        self.items: list[PhotoItem] = []
        self.rows_by_key: dict[str, int] = {}
        self.thumbnails: dict[str, QIcon] = {}
        self.state_counts: Counter[str] = Counter()  # kept as rows come and change: the status bar never walks rows
        # Rows added or replaced since the map last looked (key -> the row now), so that it never walks every row;
        # `cleared`: rows went away, the map must look at all of them again.
        self.touched: dict[str, PhotoItem] = {}
        self.cleared = False
        self._state_icons = {state: _state_icon(state) for state in STATES}

    def _cells(self, item: PhotoItem) -> list[QStandardItem]:
        cells = [QStandardItem() for _ in COLUMNS]  # not editable: the table has no edit triggers
        self._fill(cells, item)
        return cells

    def _fill(self, cells: list[QStandardItem], item: PhotoItem) -> None:
        """Write a photo into its row's cells in place (replacing the cells would drop them from the selection)."""
        for column, cell in enumerate(cells):
            cell.setText(_display(item, column))
            cell.setData(_sort_key(item, column), SORT_ROLE)
        cells[0].setData(filter_text(item), FILTER_ROLE)
        cells[0].setToolTip(escaped_tooltip(item.shown_path))
        cells[1].setIcon(self._state_icons.get(item.state, QIcon()))
        cells[1].setToolTip(escaped_tooltip(state_tooltip(item)) if state_tooltip(item) else "")
        icon = self.thumbnails.get(item.key)
        if icon is not None:
            cells[0].setIcon(icon)

    def add_items(self, items: list[PhotoItem]) -> None:
        """Append new photos and refresh those already listed (a re-scan)."""
        for item in items:
            row = self.rows_by_key.get(item.key)
            if row is None:
                self.rows_by_key[item.key] = len(self.items)
                self.items.append(item)
                self.state_counts[item.state] += 1
                self.touched[item.key] = item
                self.appendRow(self._cells(item))
            else:
                self.set_item(row, item)

    def set_item(self, row: int, item: PhotoItem) -> None:
        """Replace the photo in a row and refresh its cells."""
        self.state_counts[self.items[row].state] -= 1
        self.state_counts[item.state] += 1
        self.items[row] = item
        self.touched[item.key] = item
        self._fill([super(PhotoTableModel, self).item(row, column) for column in range(len(COLUMNS))], item)

    def set_place(self, row: int, place: str) -> None:
        """A place name arrived: only its cell changes (a whole row's refresh is a dozen change signals, each one
        met by the sort proxy, and 20,000 names arrive after a large scan). Not `touched`: a marker shows no place,
        and the map's refresh would only walk the 20,000 rows to find nothing changed."""
        item = self.items[row]
        item.place = place
        cell = super().item(row, PLACE_COLUMN)
        cell.setText(_display(item, PLACE_COLUMN))
        cell.setData(_sort_key(item, PLACE_COLUMN), SORT_ROLE)

    def item(self, key: str) -> PhotoItem | None:  # type: ignore[override]
        """The item for a path key, or None."""
        row = self.rows_by_key.get(key)
        return None if row is None else self.items[row]

    def set_thumbnail(self, key: str, icon: QIcon) -> None:
        """A thumbnail arrived: remember it and show it."""
        self.thumbnails[key] = icon
        row = self.rows_by_key.get(key)
        cell = None if row is None else super().item(row, 0)
        if cell is not None:
            cell.setIcon(icon)

    def clear_photos(self) -> None:
        """Forget every photo."""
        self.removeRows(0, self.rowCount())
        self.items, self.rows_by_key = [], {}
        self.state_counts.clear()
        self.touched, self.cleared = {}, True


class PhotoFilterProxy(QSortFilterProxyModel):
    """Filters by state, source and minimum confidence with one regular expression on the filter role (C++)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setFilterRole(FILTER_ROLE)
        self.setFilterKeyColumn(0)

    def set_filter(self, states: set[str], source: str = "", min_confidence: float = 0.0) -> None:
        """Show only these states (empty = all), this source ('' = any), at least this confidence (0..1)."""
        state_part = "|".join(re.escape(s) for s in sorted(states)) if states else "[^|]*"
        source_part = re.escape(source) if source else "[^|]*"
        threshold = round(100 * min_confidence)
        numbers = "|".join(str(p) for p in range(threshold, 101)) if threshold > 0 else "-?[0-9]+"
        confidence_part = f"keep|{numbers}"
        self.setFilterRegularExpression(QRegularExpression(
            rf"^\|({state_part})\|({source_part})\|({confidence_part})\|$"))
