"""The vendored offline basemap (resources/basemap): its script files, their JSON, and offline place search."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from geocore.resources import resource_path

BASEMAP_SCRIPTS = ("countries-10m.js", "physical-50m.js", "places.js")
DECODER_SCRIPT = "topojson-client.min.js"
ATTRIBUTION = "Natural Earth (public domain) · GeoNames (CC BY 4.0)"
SIZE_BUDGET_BYTES = 10_000_000


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


def places_in(bounds: tuple[float, float, float, float], limit: int = 400) -> list[list[Any]]:
    """The most populous places inside (south, west, north, east), as the page's [name, lat, lon, pop, cc] rows."""
    south, west, north, east = bounds
    found = [[p.name, p.lat, p.lon, p.population, p.country_code] for p in places()
             if south <= p.lat <= north and west <= p.lon <= east]
    return found[:limit]
