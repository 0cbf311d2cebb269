"""The photo list: one PhotoItem per file, a table model over them, and a proxy that filters and sorts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor, QIcon, QPixmap

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
COLUMNS = ("Photo", "State", "Source", "Confidence", "Place", "Taken")
SORT_ROLE = Qt.ItemDataRole.UserRole + 1


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

    @property
    def key(self) -> str:
        return str(self.path)

    @property
    def has_location(self) -> bool:
        return self.lat is not None and self.lon is not None


def _state_icon(state: str) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(STATE_COLOURS.get(state, "#000000")))
    return QIcon(pixmap)


class PhotoTableModel(QAbstractTableModel):
    """Rows are PhotoItems; thumbnails come from a callback so the model never loads images itself."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.items: list[PhotoItem] = []
        self.rows_by_key: dict[str, int] = {}
        self.thumbnail_for: Any = None  # callable(PhotoItem) -> QIcon | None
        self._state_icons = {state: _state_icon(state) for state in STATES}

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.items)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self.items[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(item, column)
        if role == SORT_ROLE:
            return self._sort_key(item, column)
        if role == Qt.ItemDataRole.DecorationRole:
            if column == 0 and self.thumbnail_for is not None:
                return self.thumbnail_for(item)
            return self._state_icons.get(item.state) if column == 1 else None
        if role == Qt.ItemDataRole.ToolTipRole:
            return item.error or str(item.path)
        return None

    @staticmethod
    def _display(item: PhotoItem, column: int) -> str:
        if column == 0:
            return item.path.name
        if column == 1:
            return STATE_LABELS.get(item.state, item.state)
        if column == 2:
            return item.source
        if column == 3:
            return "" if item.confidence is None else f"{100 * item.confidence:.0f} %"
        if column == 4:
            return item.error if item.state == "error" else item.place
        return item.taken

    @staticmethod
    def _sort_key(item: PhotoItem, column: int) -> Any:
        if column == 1:
            return STATES.index(item.state) if item.state in STATES else len(STATES)
        if column == 3:
            return -1.0 if item.confidence is None else item.confidence
        return PhotoTableModel._display(item, column).lower()

    def add_items(self, items: list[PhotoItem]) -> None:
        """Append new photos and refresh those already listed (a re-scan), in one model update per batch."""
        fresh = []
        for item in items:
            row = self.rows_by_key.get(item.key)
            if row is None:
                fresh.append(item)
            else:
                self.items[row] = item
                self.item_changed(row)
        if not fresh:
            return
        start = len(self.items)
        self.beginInsertRows(QModelIndex(), start, start + len(fresh) - 1)
        for offset, item in enumerate(fresh):
            self.rows_by_key[item.key] = start + offset
            self.items.append(item)
        self.endInsertRows()

    def item(self, key: str) -> PhotoItem | None:
        """The item for a path key, or None."""
        row = self.rows_by_key.get(key)
        return None if row is None else self.items[row]

    def item_changed(self, row: int) -> None:
        """Tell the views one row changed."""
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def key_changed(self, key: str) -> None:
        """Tell the views the row of this key changed."""
        row = self.rows_by_key.get(key)
        if row is not None:
            self.item_changed(row)

    def clear(self) -> None:
        """Forget every photo."""
        self.beginResetModel()
        self.items, self.rows_by_key = [], {}
        self.endResetModel()


class PhotoFilterProxy(QSortFilterProxyModel):
    """Filters by state, source and minimum confidence; sorts by each column's natural order."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.states: set[str] = set()  # empty = all
        self.source = ""
        self.min_confidence = 0.0
        self.setSortRole(SORT_ROLE)

    def set_filter(self, states: set[str], source: str = "", min_confidence: float = 0.0) -> None:
        """Replace the filter and re-filter."""
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.10; invalidateFilter is deprecated there
            self.beginFilterChange()
            self.states, self.source, self.min_confidence = set(states), source, min_confidence
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
            return
        self.states, self.source, self.min_confidence = set(states), source, min_confidence
        self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:  # noqa: N802
        model = self.sourceModel()
        assert isinstance(model, PhotoTableModel)
        item = model.items[source_row]
        if self.states and item.state not in self.states:
            return False
        if self.source and item.source != self.source:
            return False
        return not (self.min_confidence > 0 and (item.confidence or 0.0) < self.min_confidence)
