"""The toolbar's offline place search: type "Kyoto", pick, the map goes there; Enter can place the selection."""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QObject, QStringListModel, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QCompleter, QLineEdit

from geotagger.geocore.mapping.basemap import PlaceHit, places, search_places

MAX_HITS = 12


class PlaceSearch(QObject):
    """A line edit with completions from the shipped GeoNames places (loaded in a thread on first use)."""

    found = Signal(object)  # PlaceHit: show it on the map
    place_here = Signal(object)  # PlaceHit: put the selected photos there (Enter with `enter_places` on)
    _loaded = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.line = QLineEdit()
        self.line.setPlaceholderText("Find a place…")
        self.line.setClearButtonEnabled(True)
        self.line.setMaximumWidth(220)
        self.line.setToolTip("Offline search over GeoNames towns of 5,000 people or more ('Paris, US' narrows "
                             "by country)")
        self.names = QStringListModel(self)
        self.completer = QCompleter(self.names, self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        self.line.setCompleter(self.completer)
        self.enter_places = QAction("Enter places photos", self)
        self.enter_places.setCheckable(True)
        self.enter_places.setToolTip("Enter in the place search also moves the selected photos to the place found")
        self.hits: dict[str, PlaceHit] = {}
        self.current: PlaceHit | None = None
        self._loading = False
        self.ready = False
        self.line.textEdited.connect(self._typed)
        self.completer.activated.connect(self._picked)
        self._loaded.connect(lambda: self._typed(self.line.text()))

    def _load(self) -> None:
        places()
        search_places("a")  # folds the names once
        self.ready = True
        self._loaded.emit()

    def _typed(self, text: str) -> None:
        if not self.ready:
            if not self._loading:
                self._loading = True
                threading.Thread(target=self._load, name="place-index", daemon=True).start()
            return
        hits = search_places(text, MAX_HITS) if len(text.strip()) >= 2 else []
        self.hits = {hit.label if list(h.label for h in hits).count(hit.label) == 1
                     else f"{hit.label} ({hit.population:,})": hit for hit in hits}
        self.names.setStringList(list(self.hits))
        if hits and self.line.hasFocus():
            self.completer.complete()

    def _picked(self, label: str) -> None:
        hit = self.hits.get(label)
        if hit is not None:
            self.current = hit
            self.found.emit(hit)

    def search(self, text: str) -> PlaceHit | None:
        """Find `text` as if typed and picked (the first, most populous hit); None when nothing matches."""
        if not self.ready:
            self._load()
        self.line.setText(text)
        self._typed(text)
        hit = next(iter(self.hits.values()), None)
        if hit is not None:
            self.current = hit
            self.found.emit(hit)
        return hit

    def enter(self) -> None:
        """Enter in the search box: go to the picked (or first) place, and place the selection if asked."""
        hit = self.hits.get(self.line.text()) or self.current or self.search(self.line.text())
        if hit is None:
            return
        self.completer.popup().hide()
        self.found.emit(hit)
        if self.enter_places.isChecked():
            self.place_here.emit(hit)
