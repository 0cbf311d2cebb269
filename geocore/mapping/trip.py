"""The trip map: one self-contained HTML file (folium, Leaflet and the data inline) with the photos' positions,
thumbnails in pop-ups, GPS tracks and the basemap, for `File ▸ Export map…` and `geotag map`."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from geotagger.geocore.mapping.basemap import ATTRIBUTION, basemap_dir, places_in, read_js_data, topology_in
from geotagger.geocore.mapping.page import inline_page, safe_json
from geotagger.geocore.mapping.tracks import track_lines

TRIP_LAYER_JS = "trip-layer.js"
MARGIN_DEG = 1.0  # place labels around the trip, not the world's 69,000
MAX_THUMBNAIL_BYTES = 60_000


def _thumbnail_uri(session: Any, photo_id: int) -> str:
    """The library's cached thumbnail as a data: URI ('' when the photo has none)."""
    try:
        data = session.library.thumbnail(photo_id).read_bytes()
    except Exception:  # an undecodable photo is still on the map, without a picture
        return ""
    if not data.startswith(b"\xff\xd8") or len(data) > MAX_THUMBNAIL_BYTES:
        return ""
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


def trip_photos(session: Any, photo_ids: Sequence[int], thumbnails: bool = True) -> list[dict[str, Any]]:
    """Every photo with a position: name, lat, lon, state, source, capture time, thumbnail."""
    photos = []
    for view in session.views(photo_ids):
        if not view.has_location:
            continue
        record = view.record
        photos.append({"name": Path(view.path).name, "lat": view.lat, "lon": view.lon, "state": view.state.value,
                       "state_label": view.state.label, "source": view.source_label,
                       "taken": (record.capture_time or "").replace("T", " ") if record else "",
                       "thumbnail": _thumbnail_uri(session, view.photo_id) if thumbnails else ""})
    return photos


def trip_bounds(photos: list[dict[str, Any]], tracks: list[dict[str, Any]]) -> tuple[float, float, float, float]:
    """(south, west, north, east) around every photo and track point, with a margin."""
    lats = [p["lat"] for p in photos] + [pt[0] for t in tracks for s in t["segments"] for pt in s]
    lons = [p["lon"] for p in photos] + [pt[1] for t in tracks for s in t["segments"] for pt in s]
    if not lats:
        return (-60.0, -180.0, 75.0, 180.0)
    return (min(lats) - MARGIN_DEG, min(lons) - MARGIN_DEG, max(lats) + MARGIN_DEG, max(lons) + MARGIN_DEG)


def trip_html(photos: list[dict[str, Any]], tracks: list[dict[str, Any]], title: str = "Trip") -> str:
    """The page: basemap (Natural Earth, GeoNames places around the trip), tracks, photo markers with pop-ups."""
    folder = basemap_dir()
    data = {name: (folder / name).read_text(encoding="utf-8") for name in ("countries-10m.js", "admin1-50m.js")}
    water = topology_in(read_js_data(folder / "water-10m.js"), trip_bounds(photos, tracks))
    data["water"] = f"window.GEOTAGGER_WATER={safe_json(water)};"
    data["places"] = f"window.GEOTAGGER_PLACES={safe_json(places_in(trip_bounds(photos, tracks), 3000))};"
    data["trip"] = f"window.GEOTAGGER_TRIP={safe_json({'photos': photos, 'tracks': tracks, 'title': title})};"
    config = {"offline_attribution": ATTRIBUTION}
    return inline_page(config, (folder / TRIP_LAYER_JS).read_text(encoding="utf-8"), data)


def export_trip(session: Any, photo_ids: Sequence[int], out: Path, track_paths: Sequence[Path] = (),
                title: str = "", problems: list[str] | None = None) -> int:
    """Write the trip map of these photos (those with a position) and tracks to `out` (atomically); returns the
    number of tracks drawn, and adds "path: reason" of each unreadable track to `problems`."""
    photos = trip_photos(session, photo_ids)
    tracks = track_lines(track_paths, problems)
    html = trip_html(photos, tracks, title or out.stem)
    temporary = out.with_name(f".{out.name}.tmp")
    temporary.write_text(html, encoding="utf-8")
    temporary.replace(out)
    return len(tracks)
