"""GPS values and their encodings: EXIF rationals (precise to well under 1 cm) and XMP "DD,MM.mmmmmmN" strings."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

# EXIF GPSProcessingMethod per decision source: estimates must never pass for receiver fixes.
PROCESSING_METHODS = {
    "model": "ESTIMATED",
    "personal_model": "ESTIMATED",
    "time_neighbour": "ESTIMATED",
    "gps_track": "GPS",
    "manual": "MANUAL",
}

SECONDS_DENOMINATOR = 1_000_000  # 1e-6 arc-second = 3e-8 m: far below 1 cm


@dataclass(frozen=True)
class GpsFix:
    """A location to write: degrees (WGS-84), optional altitude, how it was found, confidence radius."""

    lat: float
    lon: float
    alt_m: float | None = None
    method: str | None = None
    radius_km: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lat) and -90.0 <= self.lat <= 90.0):
            raise ValueError(f"latitude out of range: {self.lat}")
        if not (math.isfinite(self.lon) and -180.0 <= self.lon <= 180.0):
            raise ValueError(f"longitude out of range: {self.lon}")
        if self.alt_m is not None and not math.isfinite(self.alt_m):
            raise ValueError(f"altitude not finite: {self.alt_m}")
        if self.radius_km is not None and not (math.isfinite(self.radius_km) and self.radius_km >= 0):
            raise ValueError(f"radius must be >= 0: {self.radius_km}")


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
    """A non-negative float as an EXIF unsigned rational."""
    fraction = Fraction(abs(value)).limit_denominator(max_denominator)
    while fraction.numerator >= 2**32:
        max_denominator //= 10
        fraction = Fraction(abs(value)).limit_denominator(max(max_denominator, 1))
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
