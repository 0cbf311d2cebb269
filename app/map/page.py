"""Builds the map page: our own template around the vendored Leaflet (folium's pages pull Leaflet from CDNs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.map.topojson import RESOURCES, world_geojson_text

LEAFLET_DIR = RESOURCES / "leaflet"
PAGE_JS = Path(__file__).with_name("page.js")

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


def safe_json(value: Any) -> str:
    """JSON text that cannot close a <script> or open markup, whatever strings it carries."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page_config(tile_provider: str | None) -> dict[str, Any]:
    """What the page needs to know at start: online tiles (or none) and the attribution to show."""
    provider = TILE_PROVIDERS.get(tile_provider or "")
    return {"tiles": provider, "offline_attribution": "Country outlines: Natural Earth (public domain)"}


def build_page(tile_provider: str | None = None) -> str:
    """The full HTML of the map page; only trusted data (vendored outline, settings) is inlined, as escaped JSON."""
    script = PAGE_JS.read_text(encoding="utf-8")
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'self' file: qrc:;
 img-src 'self' file: qrc: data: https:;
 script-src 'self' file: qrc: 'unsafe-inline'; style-src 'self' file: 'unsafe-inline'">
<link rel="stylesheet" href="leaflet.css">
<style>
html, body, #map {{ margin: 0; height: 100%; width: 100%; }}
#map {{ background: #c9dbe9; }}
.gt-cluster {{ background: rgba(37, 99, 235, 0.85); color: white; border: 2px solid white; border-radius: 50%;
  text-align: center; font: bold 11px/24px sans-serif; box-shadow: 0 0 3px rgba(0,0,0,.5); }}
.gt-legend {{ background: rgba(255,255,255,.85); padding: 4px 6px; font: 12px sans-serif; border-radius: 4px; }}
</style>
<script src="leaflet.js"></script>
<script src="qrc:///qtwebchannel/qwebchannel.js"></script>
<script>
window.GEOTAGGER_CONFIG = {safe_json(page_config(tile_provider))};
window.GEOTAGGER_WORLD = {safe_json_text(world_geojson_text())};
</script>
</head><body><div id="map"></div>
<script>
{script}
</script>
</body></html>
"""


def safe_json_text(text: str) -> str:
    """Escape already-serialised JSON text the same way as safe_json."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def base_url_dir() -> Path:
    """The folder relative URLs of the page resolve against (the vendored Leaflet)."""
    return LEAFLET_DIR
