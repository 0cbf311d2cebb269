"""MapView: the Leaflet page in a QWebEngineView, talking to Python through a QWebChannel bridge."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, QUrl, Signal, Slot
from PySide6.QtWebChannel import QWebChannel
from PySide6.QtWebEngineCore import (
    QWebEnginePage,
    QWebEngineProfile,
    QWebEngineSettings,
    QWebEngineUrlRequestInfo,
    QWebEngineUrlRequestInterceptor,
)
from PySide6.QtWebEngineWidgets import QWebEngineView

from geotagger.app import __version__
from geotagger.app.map.page import TILE_PROVIDERS, base_url_dir, build_page
from geotagger.app.priorities import lower_web_engine_priority
from geotagger.app.qt_compat import make_none_immortal
from geotagger.geocore.mapping.tiles import RASTER_FORMATS, TileArchiveError, open_archive

USER_AGENT = f"Geotagger/{__version__} (+https://github.com/geotagger/geotagger; desktop photo geotagging)"
LOCAL_SCHEMES = {b"file", b"qrc", b"data", b"blob", b"about"}


class OfflineGuard(QWebEngineUrlRequestInterceptor):
    """Blocks every request that would leave the machine, except tiles from the provider the user turned on."""

    def __init__(self, allowed_host: str | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.allowed_host = allowed_host
        self.blocked: list[str] = []

    def interceptRequest(self, info: QWebEngineUrlRequestInfo) -> None:  # noqa: N802 (Qt override)
        url = info.requestUrl()
        if bytes(url.scheme().encode()) in LOCAL_SCHEMES:
            return
        if self.allowed_host and url.host() == self.allowed_host:
            return
        self.blocked.append(url.toString())
        info.block(True)


def _make_profile(host: str | None) -> tuple[QWebEngineProfile, OfflineGuard]:
    """An off-the-record profile (no cache or cookies on disk) with our User-Agent and the request guard."""
    profile = QWebEngineProfile()
    profile.setHttpUserAgent(USER_AGENT)
    guard = OfflineGuard(host, profile)
    profile.setUrlRequestInterceptor(guard)
    return profile, guard


class MapBridge(QObject):
    """The object the page sees as `bridge`: signals carry JSON text to JS, slots receive the user's clicks."""

    showPhoto = Signal(str)  # noqa: N815 (JS-facing names)
    showOthers = Signal(str)  # noqa: N815
    showTracks = Signal(str)  # noqa: N815
    goTo = Signal(str)  # noqa: N815
    locationPicked = Signal(float, float)  # noqa: N815
    photoClicked_ = Signal(str)
    ready = Signal()

    def __init__(self, archive: Any = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.archive = archive
        self.tiles_served = 0

    @Slot(int, int, int, result=str)
    def tile(self, z: int, x: int, y: int) -> str:
        """One tile of the user's archive as a data: URI ('' where it has none); the page never reads files."""
        data = self._archive_tile(z, x, y, vector=False)
        if not data or self.archive is None:
            return ""
        mime = RASTER_FORMATS.get(self.archive.info.tile_format, "image/png")
        return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"

    @Slot(int, int, int, result=str)
    def vectorTile(self, z: int, x: int, y: int) -> str:  # noqa: N802 (JS-facing name)
        """One vector tile of the user's archive, decompressed, as base64 ('' where it has none); the page decodes
        it with the vendored VectorGrid (Mapbox Vector Tile) code, so nothing is fetched."""
        data = self._archive_tile(z, x, y, vector=True)
        return base64.b64encode(data).decode("ascii") if data else ""

    def _archive_tile(self, z: int, x: int, y: int, *, vector: bool) -> bytes:
        """The archive's tile (b'' outside the tile grid, where it has none, or for the other kind of archive)."""
        if (self.archive is None or not (self.archive.info.vector if vector else self.archive.info.raster)
                or not (0 <= z <= 24 and 0 <= x < (1 << z) and 0 <= y < (1 << z))):
            return b""
        try:
            data = self.archive.tile(z, x, y)
        except (OSError, ValueError, TileArchiveError):
            return b""
        if data:
            self.tiles_served += 1
        return data or b""

    @Slot()
    def pageReady(self) -> None:  # noqa: N802
        self.ready.emit()

    @Slot(float, float)
    def markerMoved(self, lat: float, lon: float) -> None:  # noqa: N802
        self.locationPicked.emit(lat, lon)

    @Slot(float, float)
    def mapClicked(self, lat: float, lon: float) -> None:  # noqa: N802
        self.locationPicked.emit(lat, lon)

    @Slot(str)
    def photoClicked(self, photo_id: str) -> None:  # noqa: N802
        self.photoClicked_.emit(photo_id)


class MapView(QWebEngineView):
    """The map widget; `show_photo` and `show_others` take plain Python data, never HTML."""

    locationPicked = Signal(float, float)  # noqa: N815
    photoClicked = Signal(str)  # noqa: N815
    loaded = Signal()

    def __init__(self, tile_provider: str | None = None, parent: Any = None, archive_path: str = "") -> None:
        make_none_immortal()
        super().__init__(parent)
        self.is_ready = False
        self.archive, self.archive_problem = None, ""
        if archive_path:
            try:
                self.archive = open_archive(Path(archive_path))
                if not (self.archive.info.raster or self.archive.info.vector):
                    self.archive_problem = (f"{Path(archive_path).name}: {self.archive.info.tile_format} tiles cannot "
                                            "be drawn (PNG, JPEG, WebP or vector tiles)")
                    self.archive = None
            except TileArchiveError as error:
                self.archive_problem = str(error)
        self._pending: dict[str, str] = {}
        self._pending_deltas: list[str] = []  # marker changes sent before the page was up, in order
        # Marker messages go to the page one per event-loop turn: QWebChannel encodes and copies each one on the
        # GUI thread, and the 20,000 markers a large scan changes at once held it for 60 ms and more.
        self._outbox: list[str] = []
        self._outbox_timer = QTimer(self, singleShot=True, interval=0, timeout=self._send_next_marker_message)
        provider = TILE_PROVIDERS.get(tile_provider or "")
        host = QUrl(provider["url"].replace("{z}/{x}/{y}", "0/0/0")).host() if provider else None
        self.profile, self.guard = _make_profile(host)
        page = QWebEnginePage(self.profile, self)
        # The page must die before its profile: making the profile the page's child orders it so.
        self.profile.setParent(page)
        # Tiles are plain <img> loads, which a local page may make anyway; this setting (cross-origin XHR from local
        # pages) stays off, and with it on QtWebEngine 6.12 even stops loading the page's own local scripts.
        page.settings().setAttribute(QWebEngineSettings.WebAttribute.LocalContentCanAccessRemoteUrls, False)
        self.setPage(page)
        self.bridge = MapBridge(self.archive, self)
        self.channel = QWebChannel(self)
        self.channel.registerObject("bridge", self.bridge)
        page.setWebChannel(self.channel)
        self.bridge.ready.connect(self._on_ready)
        self.bridge.locationPicked.connect(self.locationPicked)
        self.bridge.photoClicked_.connect(self.photoClicked)
        base = QUrl.fromLocalFile(str(base_url_dir()) + "/")
        archive_info = self.archive.info.to_json() if self.archive is not None else None
        self.setHtml(build_page(tile_provider if provider else None, archive_info), base)

    def _on_ready(self) -> None:
        self.is_ready = True
        lower_web_engine_priority()  # the renderer exists now; renderers forked later inherit it
        for name, text in self._pending.items():
            getattr(self.bridge, name).emit(text)
        self._queue_marker_messages(self._pending_deltas)
        self._pending.clear()
        self._pending_deltas.clear()
        self.loaded.emit()

    def _send(self, signal_name: str, value: Any) -> None:
        text = json.dumps(value, ensure_ascii=True, allow_nan=False)
        if self.is_ready:
            getattr(self.bridge, signal_name).emit(text)
        else:
            self._pending[signal_name] = text  # only the latest state matters once the page is up

    def show_photo(self, photo: dict[str, Any]) -> None:
        """Draw one photo: name, lat/lon (or None), radius_km, editable, cells [{label, probability, polygon}]."""
        self._send("showPhoto", photo)

    def _queue_marker_messages(self, texts: list[str]) -> None:
        self._outbox.extend(texts)
        if self._outbox and not self._outbox_timer.isActive():
            self._outbox_timer.start()

    def _send_next_marker_message(self) -> None:
        if self._outbox:
            self.bridge.showOthers.emit(self._outbox.pop(0))
        if self._outbox:
            self._outbox_timer.start()

    def show_others_text(self, text: str | list[str]) -> None:
        """The same as show_others, with the JSON already made (in a worker: 20,000 markers are megabytes); a list:
        the full set followed by changes to it (markers_json's pieces)."""
        texts = [text] if isinstance(text, str) else list(text)
        if not texts:
            return
        if self.is_ready:
            self._outbox.clear()  # a full set replaces the changes still waiting to be sent
            self._queue_marker_messages(texts)
        else:
            self._pending["showOthers"] = texts[0]
            self._pending_deltas[:] = texts[1:]  # a full set replaces what came before it

    def show_others(self, points: list[dict[str, Any]]) -> None:
        """The clustered layer of other photos' locations: [{id, name, lat, lon}]."""
        self.show_others_text(json.dumps(points, ensure_ascii=True, allow_nan=False))

    def update_others_text(self, text: str | list[str]) -> None:
        """Changes to that layer as JSON text, {"changed": [points], "removed": [ids]} (or a list of them); applied
        in order, also those sent before the page is up (after the full set that came before them)."""
        texts = [text] if isinstance(text, str) else list(text)
        if self.is_ready:
            self._queue_marker_messages(texts)
        else:
            self._pending_deltas.extend(texts)

    def update_others(self, changed: list[dict[str, Any]], removed: list[str]) -> None:
        self.update_others_text(json.dumps({"changed": changed, "removed": removed}, ensure_ascii=True,
                                           allow_nan=False))

    def show_tracks(self, tracks: list[dict[str, Any]]) -> None:
        """GPS tracks as lines with time ticks: [{name, segments, ticks, start, end}] (geocore.mapping.tracks)."""
        self._send("showTracks", tracks)

    def go_to(self, lat: float, lon: float, label: str, zoom: int = 11) -> None:
        """Centre the map on a place (a search result), marked with its name."""
        self._send("goTo", {"lat": lat, "lon": lon, "label": label, "zoom": zoom})
