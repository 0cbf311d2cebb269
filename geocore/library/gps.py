"""GPS values and their encodings: EXIF rationals (precise to well under 1 cm) and XMP "DD,MM.mmmmmmN" strings."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from geotagger.geocore.library.provenance import Provenance
from geotagger.geocore.vocabulary import Source

# EXIF GPSProcessingMethod per decision source (geocore.vocabulary's table): estimates never pass for receiver fixes.
PROCESSING_METHODS = {source.value: source.processing_method for source in Source}

SECONDS_DENOMINATOR = 1_000_000  # 1e-6 arc-second = 3e-8 m: far below 1 cm
UINT32_MAX = 2**32 - 1  # each half of an EXIF RATIONAL
# Positions entering the library: the deepest ocean trench to the edge of space (Karman line); no two points on
# Earth are farther apart than half the equator, so a larger confidence radius says nothing.
ALTITUDE_RANGE_M = (-11_000.0, 100_000.0)
MAX_RADIUS_KM = 20_038.0


class PositionError(ValueError):
    """A position that cannot be right (out of range, not finite); `field` names the value, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _check_range(field: str, value: float, low: float, high: float, unit: str) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high):
        raise PositionError(field, f"{field} {value!r}{unit} is outside {low:g}{unit}..{high:g}{unit}")


def validate_position(lat: float, lon: float, alt_m: float | None = None, radius_km: float | None = None) -> None:
    """PositionError (a ValueError, one-line message) unless every given value is finite and physically possible."""
    _check_range("latitude", lat, -90.0, 90.0, "°")
    _check_range("longitude", lon, -180.0, 180.0, "°")
    if alt_m is not None:
        _check_range("altitude", alt_m, *ALTITUDE_RANGE_M, " m")
    if radius_km is not None:
        _check_range("radius", radius_km, 0.0, MAX_RADIUS_KM, " km")


def plausible_altitude(alt_m: float | None) -> bool:
    """True for an altitude a position may carry (see ALTITUDE_RANGE_M); False for None, NaN and absurd values."""
    return alt_m is not None and math.isfinite(alt_m) and ALTITUDE_RANGE_M[0] <= alt_m <= ALTITUDE_RANGE_M[1]


@dataclass(frozen=True)
class GpsFix:
    """A location to write: degrees (WGS-84), optional altitude, how it was found, confidence radius; `fix_time`
    (aware, written as GPSDateStamp/GPSTimeStamp in UTC) for a position measured at a known instant (a track fix),
    `provenance` for our XMP namespace."""

    lat: float
    lon: float
    alt_m: float | None = None
    method: str | None = None
    radius_km: float | None = None
    fix_time: datetime | None = None
    provenance: Provenance | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lat) and -90.0 <= self.lat <= 90.0):
            raise ValueError(f"latitude out of range: {self.lat}")
        if not (math.isfinite(self.lon) and -180.0 <= self.lon <= 180.0):
            raise ValueError(f"longitude out of range: {self.lon}")
        # Only what EXIF can hold is checked here (files are read into GpsFix too, with whatever altitude they
        # carry); positions entering the library pass validate_position, which also bounds them physically.
        if self.alt_m is not None and not (math.isfinite(self.alt_m) and abs(self.alt_m) <= UINT32_MAX):
            raise PositionError("altitude", f"altitude {self.alt_m!r} m cannot be written (EXIF holds at most "
                                            f"{UINT32_MAX} m)")
        if self.radius_km is not None and not (math.isfinite(self.radius_km)
                                               and 0 <= self.radius_km * 1000.0 <= UINT32_MAX):
            raise PositionError("radius", f"radius {self.radius_km!r} km must be >= 0 and at most "
                                          f"{UINT32_MAX // 1000} km")


def degrees_to_dms_rationals(value_deg: float) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """|value| as EXIF (degrees/1, minutes/1, seconds/1e6) rationals."""
    micro_seconds = round(abs(value_deg) * 3600 * SECONDS_DENOMINATOR)
    degrees, rest = divmod(micro_seconds, 3600 * SECONDS_DENOMINATOR)
    minutes, seconds = divmod(rest, 60 * SECONDS_DENOMINATOR)
    return (int(degrees), 1), (int(minutes), 1), (int(seconds), SECONDS_DENOMINATOR)


def dms_rationals_to_degrees(values: tuple[tuple[int, int], ...]) -> float:
    """EXIF (deg, min, sec) rationals to unsigned decimal degrees."""
    parts = [num / den if den else 0.0 for num, den in values]
    parts += [0.0] * (3 - len(parts))
    return parts[0] + parts[1] / 60 + parts[2] / 3600


def to_rational(value: float, max_denominator: int = 1000) -> tuple[int, int]:
    """|value| as an EXIF unsigned rational (both parts < 2**32); ValueError when no such rational is near it."""
    magnitude = abs(value)
    if not math.isfinite(magnitude) or magnitude > UINT32_MAX:
        raise ValueError(f"{value} cannot be stored as an EXIF rational (at most {UINT32_MAX})")
    # The denominator bound keeps the numerator in range, so one rounding is enough: no search, no loop.
    limit = max(1, min(max_denominator, int(UINT32_MAX // max(magnitude, 1.0))))
    fraction = Fraction(magnitude).limit_denominator(limit)
    if fraction.numerator > UINT32_MAX:  # rounding up at the very top of the range
        fraction = Fraction(math.floor(magnitude))
    return fraction.numerator, fraction.denominator


def to_xmp_coordinate(value_deg: float, is_latitude: bool) -> str:
    """XMP GPSCoordinate "DD,MM.mmmmmmmmR" (8 decimals of minutes: ~2 mm)."""
    ref = ("N" if value_deg >= 0 else "S") if is_latitude else ("E" if value_deg >= 0 else "W")
    total_minutes = round(abs(value_deg) * 60, 8)
    degrees = int(total_minutes // 60)
    minutes = total_minutes - degrees * 60
    return f"{degrees},{minutes:011.8f}{ref}"


_XMP_COORD = re.compile(r"^\s*(\d+(?:\.\d+)?),(\d+(?:\.\d+)?)(?:,(\d+(?:\.\d+)?))?\s*([NSEW])\s*$", re.IGNORECASE)


def from_xmp_coordinate(text: str) -> float:
    """Parse "DD,MM.mmmR" or "DD,MM,SSR" to signed degrees; ValueError when malformed."""
    match = _XMP_COORD.match(text)
    if match is None:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"not an XMP GPS coordinate: {text!r}") from None
    degrees = float(match.group(1)) + float(match.group(2)) / 60 + float(match.group(3) or 0) / 3600
    return -degrees if match.group(4).upper() in "SW" else degrees
