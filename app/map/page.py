"""Builds the app's map page with folium (geocore.mapping.page) and attaches our live layer (page.js) to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from geotagger.app.items import STATE_COLOURS, STATE_LABELS
from geotagger.geocore.mapping.basemap import ATTRIBUTION
from geotagger.geocore.mapping.page import live_page, safe_json, safe_script_text
from geotagger.geocore.resources import resources_dir

__all__ = ["TILE_PROVIDERS", "base_url_dir", "build_page", "marker_styles", "safe_json", "safe_json_text"]

PAGE_JS = Path(__file__).with_name("page.js")
QWEBCHANNEL_JS = "qrc:///qtwebchannel/qwebchannel.js"
OFFLINE_MAX_ZOOM = 11  # the vendored basemap is drawn for town level; closer needs tiles

# Tile providers offered when the user turns online tiles on; each needs its attribution shown on the map.
TILE_PROVIDERS: dict[str, dict[str, Any]] = {
    "OpenStreetMap": {
        "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "attribution": "© OpenStreetMap contributors",
        "max_zoom": 19,
    },
    "OpenTopoMap": {
        "url": "https://tile.opentopomap.org/{z}/{x}/{y}.png",
        "attribution": "Map data: © OpenStreetMap contributors, SRTM | Map style: © OpenTopoMap (CC-BY-SA)",
        "max_zoom": 17,
    },
}
# Marker styles by what the position is: filled = settled (in the file, accepted, written), hollow = proposed.
MARKER_STYLES = ("has_gps", "proposed", "accepted", "written")


def marker_styles() -> dict[str, dict[str, Any]]:
    """{state: {color, fill, label}} for the map's photo markers and its legend."""
    labels = {"has_gps": "GPS from the file"}
    return {state: {"color": STATE_COLOURS[state], "fill": state != "proposed",
                    "label": labels.get(state, STATE_LABELS[state])} for state in MARKER_STYLES}


def page_config(tile_provider: str | None, archive: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the page needs at start: online tiles (or none), the user's tile archive, styles, attribution."""
    provider = TILE_PROVIDERS.get(tile_provider or "")
    tiles = dict(provider, name=tile_provider) if provider else None
    max_zoom = 16 if tiles else (min(int(archive["max_zoom"]) + 1, 18) if archive else OFFLINE_MAX_ZOOM)
    return {"tiles": tiles, "archive": archive, "offline_attribution": ATTRIBUTION, "styles": marker_styles(),
            "follow_max_zoom": max_zoom}


def build_page(tile_provider: str | None = None, archive: dict[str, Any] | None = None) -> str:
    """The full HTML of the map page: folium's map, the vendored Leaflet and basemap, our live layer."""
    return live_page(page_config(tile_provider, archive), PAGE_JS.read_text(encoding="utf-8"), (QWEBCHANNEL_JS,))


def safe_json_text(text: str) -> str:
    """Escape already-serialised JSON text the same way as safe_json."""
    return safe_script_text(text)


def base_url_dir() -> Path:
    """The folder relative URLs of the page resolve against (resources: Leaflet and the basemap)."""
    return resources_dir()
