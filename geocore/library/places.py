"""Offline place names from GeoNames through `reverse_geocoder` (mode=1: single process), loaded on first use."""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Sequence
from typing import Any

from geocore.library.xmp import Place

# GeoNames has every place with 1000+ people: further than this, the nearest one does not name the spot.
MAX_CITY_DISTANCE_KM = 50.0
MAX_COUNTRY_DISTANCE_KM = 150.0

_lock = threading.Lock()
_geocoder: Any = None


def _load() -> Any:
    """The reverse geocoder, built once; its loading chatter on stdout is swallowed."""
    global _geocoder
    with _lock:
        if _geocoder is None:
            import reverse_geocoder

            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                _geocoder = reverse_geocoder.RGeocoder(mode=1, verbose=False)
        return _geocoder


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


def place_names(coordinates: Sequence[tuple[float, float]]) -> list[Place]:
    """Nearest GeoNames place (city, state, country, country code) for each (lat, lon)."""
    if not coordinates:
        return []
    geocoder = _load()
    with contextlib.redirect_stdout(io.StringIO()):
        rows = geocoder.query([(float(lat), float(lon)) for lat, lon in coordinates])
    return [_place(lat, lon, row) for (lat, lon), row in zip(coordinates, rows, strict=True)]


def _place(lat: float, lon: float, row: dict) -> Place:
    """The GeoNames row as a Place, dropping names that are too far away to describe the point (at sea)."""
    from geocore.geo.distance import haversine_km

    distance_km = float(haversine_km(lat, lon, float(row["lat"]), float(row["lon"])))
    if distance_km > MAX_COUNTRY_DISTANCE_KM:
        return Place()
    code = row.get("cc", "")
    if distance_km > MAX_CITY_DISTANCE_KM:
        return Place(country=country_name(code), country_code=code)
    return Place(city=row.get("name", ""), state=row.get("admin1", ""), country=country_name(code), country_code=code)


def place_name(lat: float, lon: float) -> Place:
    """Nearest GeoNames place for one point."""
    return place_names([(lat, lon)])[0]
