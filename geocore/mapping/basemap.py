"""The vendored offline basemap (resources/basemap): its script files, their JSON, and offline place search."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from geotagger.geocore.resources import resource_path

BASEMAP_SCRIPTS = ("countries-10m.js", "admin1-50m.js", "water-10m.js", "places.js")
DECODER_SCRIPT = "topojson-client.min.js"
ATTRIBUTION = "Natural Earth (public domain) · GeoNames (CC BY 4.0)"
SIZE_BUDGET_BYTES = 10_000_000
WATER_BUDGET_BYTES = 2_800_000  # water-10m.js: build_basemap.py simplifies the lakes and rivers to fit


def basemap_dir() -> Path:
    """The folder of the vendored basemap."""
    return resource_path("basemap")


def read_js_data(path: Path) -> Any:
    """The JSON value of a `window.NAME=...;` data script."""
    text = path.read_text(encoding="utf-8").strip()
    start = text.index("=") + 1
    return json.loads(text[start:].rstrip(";"))


@dataclass(frozen=True)
class PlaceHit:
    """One populated place: name, position, people, ISO country code."""

    name: str
    lat: float
    lon: float
    population: int
    country_code: str

    @property
    def label(self) -> str:
        return f"{self.name}, {self.country_code}" if self.country_code else self.name

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "lat": self.lat, "lon": self.lon, "population": self.population,
                "country_code": self.country_code, "label": self.label}


def fold(text: str) -> str:
    """Lower case without accents: 'Zürich' and 'zurich' match."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=1)
def places() -> tuple[PlaceHit, ...]:
    """Every shipped place, most populous first (read once per process, ~0.3 s)."""
    rows = read_js_data(basemap_dir() / "places.js")
    return tuple(PlaceHit(str(r[0]), float(r[1]), float(r[2]), int(r[3]), str(r[4])) for r in rows)


@lru_cache(maxsize=1)
def _folded_names() -> tuple[str, ...]:
    return tuple(fold(place.name) for place in places())


def search_places(query: str, limit: int = 10) -> list[PlaceHit]:
    """Places whose name starts with the query (then contains it), most populous first; 'Paris, FR' narrows
    by country code."""
    name_part, _, country_part = query.partition(",")
    wanted, country = fold(name_part.strip()), country_part.strip().upper()
    if not wanted:
        return []
    prefix: list[PlaceHit] = []
    inside: list[PlaceHit] = []
    for place, folded in zip(places(), _folded_names(), strict=True):
        if country and place.country_code != country:
            continue
        if folded.startswith(wanted):
            prefix.append(place)
            if len(prefix) >= limit:
                break
        elif len(inside) < limit and wanted in folded:
            inside.append(place)
    return (prefix + inside)[:limit]


def _arc_boxes(topology: dict[str, Any]) -> list[tuple[float, float, float, float]]:
    """(west, south, east, north) of each arc of a quantised, delta-encoded topology."""
    (scale_x, scale_y), (shift_x, shift_y) = topology["transform"]["scale"], topology["transform"]["translate"]
    boxes = []
    for arc in topology["arcs"]:
        x = y = 0
        xs, ys = [], []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            xs.append(x)
            ys.append(y)
        boxes.append((min(xs) * scale_x + shift_x, min(ys) * scale_y + shift_y,
                      max(xs) * scale_x + shift_x, max(ys) * scale_y + shift_y))
    return boxes


def _arc_indices(arcs: Any) -> list[int]:
    if isinstance(arcs, list):
        return [index for item in arcs for index in _arc_indices(item)]
    return [~arcs if arcs < 0 else arcs]


class ArcRenumbering:
    """The arcs a pruned topology keeps, renumbered in the order they are first used (~i is arc i reversed)."""

    def __init__(self) -> None:
        self.used: dict[int, int] = {}

    def __call__(self, arcs: Any) -> Any:
        if isinstance(arcs, list):
            return [self(item) for item in arcs]
        old = ~arcs if arcs < 0 else arcs
        new = self.used.setdefault(old, len(self.used))
        return ~new if arcs < 0 else new

    def kept_arcs(self, topology: dict[str, Any]) -> list[Any]:
        arcs: list[Any] = [None] * len(self.used)
        for old, new in self.used.items():
            arcs[new] = topology["arcs"][old]
        return arcs


def topology_in(topology: dict[str, Any], bounds: tuple[float, float, float, float]) -> dict[str, Any]:
    """The parts of a quantised topology with an arc inside (south, west, north, east), the arcs renumbered: the
    trip map carries the lakes and rivers around the trip, not the world's. A Multi* geometry is a group (the water
    layer's lakes or rivers of one zoom): only its members near the box are kept, and its count `n` follows."""
    south, west, north, east = bounds
    boxes = _arc_boxes(topology)
    inside = [w <= east and e >= west and s <= north and n >= south for w, s, e, n in boxes]
    renumber = ArcRenumbering()

    def near(part: Any) -> bool:
        return any(inside[i] for i in _arc_indices(part))

    objects = {}
    for name, collection in topology["objects"].items():
        kept = []
        for geometry in collection["geometries"]:
            parts = geometry.get("arcs", [])
            if geometry["type"] in ("MultiPolygon", "MultiLineString"):  # a group: keep its members nearby
                parts = [part for part in parts if near(part)]
            elif not near(parts):
                parts = []
            if parts:
                properties = dict(geometry.get("properties") or {})
                if "n" in properties:
                    properties["n"] = len(parts)
                kept.append(dict(geometry, arcs=renumber(parts), properties=properties))
        objects[name] = {"type": "GeometryCollection", "geometries": kept}
    return {"type": "Topology", "transform": topology["transform"], "objects": objects,
            "arcs": renumber.kept_arcs(topology)}


def places_in(bounds: tuple[float, float, float, float], limit: int = 400) -> list[list[Any]]:
    """The most populous places inside (south, west, north, east), as the page's [name, lat, lon, pop, cc] rows."""
    south, west, north, east = bounds
    found = [[p.name, p.lat, p.lon, p.population, p.country_code] for p in places()
             if south <= p.lat <= north and west <= p.lon <= east]
    return found[:limit]
