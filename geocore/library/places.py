"""Offline place names (city, state, country) for written locations, from GeoNames via `geocore.geo.places`."""

from __future__ import annotations

from collections.abc import Sequence

from geocore.geo.places import Place as GeoNamesPlace
from geocore.geo.places import default_place_index
from geocore.library.xmp import Place

# GeoNames has every place with 1000+ people: further than this, the nearest one does not name the spot.
MAX_CITY_DISTANCE_KM = 50.0
MAX_COUNTRY_DISTANCE_KM = 150.0


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
    index = default_place_index()
    nearest, distance_km = index.nearest([lat for lat, _ in coordinates], [lon for _, lon in coordinates])
    return [_place(index.place(int(i), float(d))) for i, d in zip(nearest, distance_km, strict=True)]


def _place(nearest: GeoNamesPlace) -> Place:
    """The GeoNames place as written names, dropping names too far away to describe the point (at sea)."""
    if nearest.distance_km > MAX_COUNTRY_DISTANCE_KM:
        return Place()
    code = nearest.country_code
    if nearest.distance_km > MAX_CITY_DISTANCE_KM:
        return Place(country=country_name(code), country_code=code)
    return Place(city=nearest.name, state=nearest.admin1, country=country_name(code), country_code=code)


def place_name(lat: float, lon: float) -> Place:
    """Nearest GeoNames place for one point."""
    return place_names([(lat, lon)])[0]
