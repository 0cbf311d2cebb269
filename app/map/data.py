"""What the map draws, as plain data (no Qt): the shown photo with its proposal cells, the other photos' markers."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from geotagger.app.items import VISUAL_SOURCES, PhotoItem
from geotagger.app.predictions import _s2_polygon

if TYPE_CHECKING:
    from geotagger.app.place_names import PlaceNamer

CELLS_ON_MAP = 8
SEMANTIC_RADIUS_KM = 25.0
MIN_CELL_PROBABILITY = 0.005  # a 0 % cell says nothing; the one holding the pin is drawn whatever its share


def _inside(polygon: list[list[float]], lat: float, lon: float) -> bool:
    """Ray casting in lat/lon (cells are small enough for straight edges)."""
    inside = False
    for (lat_a, lon_a), (lat_b, lon_b) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        if (lat_a > lat) != (lat_b > lat) and lon < (lon_b - lon_a) * (lat - lat_a) / (lat_b - lat_a) + lon_a:
            inside = not inside
    return inside


def _distance_km(lat_a: float, lon_a: float, lat_b: float, lon_b: float) -> float:
    phi_a, phi_b = math.radians(lat_a), math.radians(lat_b)
    h = (math.sin((phi_b - phi_a) / 2) ** 2
         + math.cos(phi_a) * math.cos(phi_b) * math.sin(math.radians(lon_b - lon_a) / 2) ** 2)
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def proposal_cells(prediction: Any, lat: float | None, lon: float | None,
                   places: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The hierarchy's top cells (the ones the pin was chosen from), the cell holding the pin marked `selected`.
    `places` names cells by their Class2GPS point ("Lisbon, PT"); the token stays for the tooltip."""
    cells = list(getattr(prediction, "hierarchy_top", None) or [])
    if not cells and getattr(prediction, "top_cells", None):
        cells = list(prediction.top_cells[list(prediction.top_cells)[-1]])
    if not cells:
        return []
    kinds = getattr(prediction, "kinds", {}) or {}
    kind = list(kinds.values())[-1] if kinds else "s2"
    out: list[dict[str, Any]] = []
    for rank, cell in enumerate(cells[:CELLS_ON_MAP]):
        entry: dict[str, Any] = {"label": (places or {}).get(cell.key) or cell.label, "token": cell.key,
                                 "probability": cell.probability, "lat": cell.lat, "lon": cell.lon}
        polygon = _s2_polygon(cell.key) if kind == "s2" else None
        if polygon:
            entry["polygon"] = polygon
        else:
            entry["radius_km"] = SEMANTIC_RADIUS_KM
        entry["selected"] = lat is not None and lon is not None and (
            _inside(polygon, lat, lon) if polygon else _distance_km(lat, lon, cell.lat, cell.lon) <= SEMANTIC_RADIUS_KM)
        if entry["selected"] or cell.probability >= MIN_CELL_PROBABILITY or rank == 0:
            out.append(entry)
    first = next((e for e in out if e["selected"]), None)
    for entry in out:  # only one cell is "the" proposal cell
        entry["selected"] = entry is first
    return out


def photo_payload(item: PhotoItem, places: dict[str, str] | None = None) -> dict[str, Any]:
    """The shown photo: id, name, position, radius, whether it may be dragged, and (for visual proposals or
    photos without a position) its proposal cells."""
    show_cells = item.source in VISUAL_SOURCES or not item.has_location
    cells = proposal_cells(item.prediction, item.lat, item.lon, places) if show_cells else []
    return {"id": item.key, "name": item.name, "lat": item.lat, "lon": item.lon,
            "radius_km": item.radius_km or 0.0, "editable": item.state != "error", "cells": cells}


def marker_payload(item: PhotoItem) -> dict[str, Any]:
    """One other photo's marker, styled by its state on the page."""
    return {"id": item.key, "name": item.name, "lat": item.lat, "lon": item.lon, "state": item.state,
            "source": item.source}


def cell_place_labels(points: dict[str, tuple[float, float]], namer: PlaceNamer) -> dict[str, str]:
    """Cell token -> 'City, CC' of its Class2GPS point (offline GeoNames); runs in a worker."""
    keys = list(points)
    found = namer.texts([points[key] for key in keys], short=True)
    return {key: name for key, name in zip(keys, found, strict=True) if name}


def place_texts(points: list[tuple[str, Any, Any]], namer: PlaceNamer) -> list[tuple[str, Any, Any, str]]:
    """(key, lat, lon) -> (key, lat, lon, 'City, State, Country') in one offline lookup; runs in a worker."""
    found = namer.texts([(round(lat, 4), round(lon, 4)) for _, lat, lon in points])
    return [(key, lat, lon, text) for (key, lat, lon), text in zip(points, found, strict=True)]


# Markers per message to the page: each message is encoded and copied on the GUI thread (see MapView's outbox).
MARKERS_PER_MESSAGE = 1000


def markers_json(rows: list[tuple[Any, Any, Any, str, str]]) -> list[str]:
    """(path, lat, lon, state, source) rows as the page's marker messages, made in a worker: the full set (a JSON
    list) of the first MARKERS_PER_MESSAGE, then the rest as changes to it."""
    import json

    first, rest = rows[:MARKERS_PER_MESSAGE], rows[MARKERS_PER_MESSAGE:]
    return [json.dumps(_markers(first), ensure_ascii=True, allow_nan=False), *markers_delta_json(rest, [])]


def markers_delta_json(changed: list[tuple[Any, Any, Any, str, str]], removed: list[Any]) -> list[str]:
    """Changes to the page's markers, as messages of at most MARKERS_PER_MESSAGE markers: rows as in markers_json,
    and the paths of markers to take away (all in the first message, so none is taken away after it came back)."""
    import json

    messages = []
    for start in range(0, max(len(changed), 1), MARKERS_PER_MESSAGE):
        piece = changed[start:start + MARKERS_PER_MESSAGE]
        gone = [str(path) for path in removed] if start == 0 else []
        if piece or gone:
            messages.append(json.dumps({"changed": _markers(piece), "removed": gone}, ensure_ascii=True,
                                       allow_nan=False))
    return messages


def _markers(rows: list[tuple[Any, Any, Any, str, str]]) -> list[dict[str, Any]]:
    return [{"id": str(path), "name": path.name, "lat": lat, "lon": lon, "state": state, "source": source}
            for path, lat, lon, state, source in rows]
