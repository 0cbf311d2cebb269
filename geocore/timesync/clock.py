"""Capture time to UTC: OffsetTimeOriginal, the camera's IANA time zone, or the zone at the place; clock offsets.

Order of precedence for the UTC offset of a photo's DateTimeOriginal (camera wall-clock time, no zone):
1. OffsetTimeOriginal written by the camera ("+02:00").
2. The camera time zone the user sets (IANA name, DST-aware through zoneinfo).
3. The time zone at the photo's place, inferred offline (timezonefinder) from a track or from geotagged
   neighbours, iteratively (see `infer_zone_from_positions`).

DST is handled deterministically: a wall-clock time that occurs twice (the hour repeated when clocks go back) is
read as its first occurrence, the one still on summer time (zoneinfo fold=0); a wall-clock time that never
occurs (the hour skipped when clocks go forward) is read with the offset in force before the change (fold=0
again), as a camera clock that was not yet moved forward would show it.

A camera clock offset (seconds) is what must be added to the camera's UTC instant to get the true UTC instant; it
is kept per camera (make and model) and applied after the zone conversion, so that an offset measured from one
reference photo applies unchanged to every other photo of that camera.
"""

from __future__ import annotations

import math
import re
import statistics
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_OFFSET_PATTERN = re.compile(r"^\s*([+-])(\d{1,2}):?(\d{2})\s*$")
MAX_ZONE_ITERATIONS = 4


class TimeZoneError(ValueError):
    """An unknown IANA zone name or an unreadable UTC offset."""


def parse_utc_offset(text: str) -> timedelta:
    """Offset of an EXIF OffsetTimeOriginal value ("+02:00", "-0530", "Z")."""
    if text.strip().upper() == "Z":
        return timedelta(0)
    match = _OFFSET_PATTERN.match(text)
    if match is None:
        raise TimeZoneError(f"unreadable UTC offset {text!r}")
    sign = -1 if match.group(1) == "-" else 1
    hours, minutes = int(match.group(2)), int(match.group(3))
    if hours > 14 or minutes >= 60:
        raise TimeZoneError(f"UTC offset out of range {text!r}")
    return sign * timedelta(hours=hours, minutes=minutes)


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The IANA zone `name` (cached); TimeZoneError if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise TimeZoneError(f"unknown time zone {name!r}") from error


def local_to_utc_s(local: datetime, zone_name: str) -> float:
    """POSIX seconds of a naive wall-clock time in an IANA zone (fold=0 for repeated and skipped times)."""
    aware = local.replace(tzinfo=zone(zone_name), fold=0)
    return aware.timestamp()


def offset_to_utc_s(local: datetime, utc_offset: timedelta) -> float:
    """POSIX seconds of a naive wall-clock time with a fixed UTC offset."""
    return local.replace(tzinfo=timezone(utc_offset)).timestamp()


@dataclass(frozen=True)
class CaptureTime:
    """What the photo says about when it was taken (plain data, filled from EXIF by the caller).

    Attributes:
        local: DateTimeOriginal, naive wall-clock time of the camera.
        utc_offset: OffsetTimeOriginal text ("+02:00") or None.
        camera: camera key ("Make Model"), selects the clock offset.
    """

    local: datetime
    utc_offset: str | None = None
    camera: str = ""


@dataclass
class ClockSettings:
    """The user's time settings: camera zone and clock offsets, per camera key with a default."""

    camera_zone: str | None = None
    camera_zones: dict[str, str] = field(default_factory=dict)
    clock_offsets_s: dict[str, float] = field(default_factory=dict)
    default_clock_offset_s: float = 0.0
    global_offset_s: float = 0.0  # exiftool's -geosync: added to every camera's offset, for this run only

    def zone_for(self, camera: str) -> str | None:
        """The zone the user set for this camera, else the general camera zone."""
        return self.camera_zones.get(camera, self.camera_zone)

    def clock_offset_s(self, camera: str) -> float:
        """Seconds to add to this camera's UTC instant to get the true one (its own offset plus the global one)."""
        return self.clock_offsets_s.get(camera, self.default_clock_offset_s) + self.global_offset_s

    def remembered(self, other: ClockSettings) -> ClockSettings:
        """These settings over the remembered `other` ones: per camera, what is set here wins."""
        return ClockSettings(self.camera_zone or other.camera_zone, {**other.camera_zones, **self.camera_zones},
                             {**other.clock_offsets_s, **self.clock_offsets_s},
                             self.default_clock_offset_s or other.default_clock_offset_s, self.global_offset_s)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the GUI's settings file)."""
        return {"camera_zone": self.camera_zone, "camera_zones": dict(self.camera_zones),
                "clock_offsets_s": dict(self.clock_offsets_s), "default_clock_offset_s": self.default_clock_offset_s}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClockSettings:
        """Inverse of `to_dict`; TimeZoneError for an unknown zone, ValueError for a bad offset."""
        settings = cls(
            camera_zone=data.get("camera_zone") or None,
            camera_zones={str(k): str(v) for k, v in (data.get("camera_zones") or {}).items()},
            clock_offsets_s={str(k): float(v) for k, v in (data.get("clock_offsets_s") or {}).items()},
            default_clock_offset_s=float(data.get("default_clock_offset_s") or 0.0),
        )
        for name in [settings.camera_zone, *settings.camera_zones.values()]:
            if name:
                zone(name)
        return settings


@dataclass(frozen=True)
class ResolvedTime:
    """The true UTC instant of a photo and how it was obtained ("offset_tag", "camera_zone", "place_zone:<name>")."""

    utc_s: float
    how: str


def resolve_known_zone(capture: CaptureTime, settings: ClockSettings) -> ResolvedTime | None:
    """UTC from OffsetTimeOriginal or the user's camera zone, clock offset applied; None if neither is known."""
    offset_s = settings.clock_offset_s(capture.camera)
    if capture.utc_offset:
        try:
            return ResolvedTime(offset_to_utc_s(capture.local, parse_utc_offset(capture.utc_offset)) + offset_s,
                                "offset_tag")
        except TimeZoneError:
            pass  # a garbled tag is treated like a missing one: the next rule decides
    zone_name = settings.zone_for(capture.camera)
    if zone_name:
        return ResolvedTime(local_to_utc_s(capture.local, zone_name) + offset_s, "camera_zone")
    return None


PositionAt = Callable[[float], "tuple[float, float] | None"]
ZoneAt = Callable[[float, float], "str | None"]


def infer_zone_from_positions(
    capture: CaptureTime, settings: ClockSettings, position_at: PositionAt, zone_at: ZoneAt
) -> ResolvedTime | None:
    """UTC via the zone of the place where the positions put the photo, iterated to a fixed point.

    Start by reading the wall-clock time as UTC; look up where the track (or the neighbours) were then and the zone
    there; re-read the wall-clock time in that zone; repeat until the zone no longer changes (at most
    MAX_ZONE_ITERATIONS; near a zone border that oscillates, the last zone is kept, deterministically).
    """
    offset_s = settings.clock_offset_s(capture.camera)
    utc_s = offset_to_utc_s(capture.local, timedelta(0)) + offset_s
    zone_name: str | None = None
    for _ in range(MAX_ZONE_ITERATIONS):
        position = position_at(utc_s)
        if position is None:
            return None
        found = zone_at(*position)
        if found is None:
            return None
        if found == zone_name:
            break
        zone_name = found
        utc_s = local_to_utc_s(capture.local, zone_name) + offset_s
    if zone_name is None:
        return None
    return ResolvedTime(utc_s, f"place_zone:{zone_name}")


@lru_cache(maxsize=1)
def _zone_finder() -> Any:
    from timezonefinder import TimezoneFinder  # loading its polygons takes ~0.3 s: only when needed

    return TimezoneFinder()


_zone_finder_lock = threading.Lock()


def zone_at_place(lat: float, lon: float) -> str | None:
    """IANA zone at a place, offline (timezonefinder; oceans give Etc/GMT±N). Safe from several threads."""
    with _zone_finder_lock:  # one shared finder; its lookups are not documented as thread-safe
        name = _zone_finder().timezone_at(lng=float(lon), lat=float(lat))
    return str(name) if name else None


def clock_offset_from_reference_s(camera_utc_s: float, true_utc_s: float) -> float:
    """Clock offset of a camera from one reference photo whose true time is known."""
    return true_utc_s - camera_utc_s


@dataclass(frozen=True)
class OffsetEstimate:
    """A clock offset estimated from pairs: median, median absolute deviation, and how many pairs."""

    offset_s: float
    spread_s: float
    pair_count: int


def estimate_clock_offset_s(pairs: Sequence[tuple[float, float]]) -> OffsetEstimate:
    """Robust clock offset from (camera_utc_s, reference_utc_s) pairs of the same scene: the median difference."""
    if not pairs:
        raise ValueError("no pair to estimate a clock offset from")
    differences = [float(reference) - float(camera) for camera, reference in pairs]
    median = statistics.median(differences)
    spread = statistics.median(abs(difference - median) for difference in differences)
    return OffsetEstimate(median, spread, len(pairs))


def estimate_offsets_by_camera(pairs: Mapping[str, Sequence[tuple[float, float]]]) -> dict[str, OffsetEstimate]:
    """One robust estimate per camera key."""
    return {camera: estimate_clock_offset_s(camera_pairs) for camera, camera_pairs in pairs.items() if camera_pairs}


def format_offset(seconds: float) -> str:
    """Human-readable signed offset, e.g. '+1 h 02 min 03 s'."""
    sign = "-" if seconds < 0 else "+"
    total = round(abs(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours} h {minutes:02d} min {secs:02d} s"



_DURATION_PATTERN = re.compile(r"^\s*([+-]?)(?:(\d+):)?(\d{1,2}):(\d{2}(?:\.\d+)?)\s*$")


# A clock reset to its factory date can be decades off; beyond a century a time is no longer a date.
MAX_OFFSET_YEARS = 100


def parse_duration_s(text: str) -> float:
    """Signed seconds from '330', '-12.5', '+0:05:30' or '-1:00:00' (H:MM:SS) or '5:30' (M:SS)."""
    try:
        seconds = float(text)
    except ValueError:
        match = _DURATION_PATTERN.match(text)
        if match is None:
            raise ValueError(f"unreadable duration {text!r} (seconds, or [+-]H:MM:SS)") from None
        sign = -1.0 if match.group(1) == "-" else 1.0
        hours = int(match.group(2)) if match.group(2) else 0
        seconds = sign * (hours * 3600 + int(match.group(3)) * 60 + float(match.group(4)))
    return _bounded(seconds, text)


def _bounded(seconds: float, text: str) -> float:
    """`seconds` when it can be a camera clock's error (finite, within MAX_OFFSET_YEARS); else ValueError."""
    if not math.isfinite(seconds) or abs(seconds) > MAX_OFFSET_YEARS * 365.25 * 86400:
        raise ValueError(f"time offset {text!r} is not a clock error (at most {MAX_OFFSET_YEARS} years either way)")
    return seconds


def format_duration(seconds: float) -> str:
    """Signed [+-]H:MM:SS, the form `parse_duration_s` reads back."""
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(round(abs(seconds)), 3600)
    return f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"


def camera_key(make: str | None, model: str | None) -> str:
    """The key clock offsets and zones are kept under: 'Make Model', without repeating a make the model starts with."""
    make_text, model_text = (make or "").strip(), (model or "").strip()
    first_word = make_text.split(" ")[0].lower()
    if model_text and first_word and model_text.lower().startswith(first_word):
        return model_text
    return f"{make_text} {model_text}".strip()


_GEOSYNC_PATTERN = re.compile(r"^\s*([+-]?)\s*(?:(?:(?:(\d+)\s+)?(\d+):)?(\d+):)?(\d+(?:\.\d*)?)\s*$")
_MOMENT_PATTERN = re.compile(
    r"^\s*(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2}(?:\.\d+)?)\s*(Z|[+-]\d{2}:?\d{2})?\s*$")


def parse_geosync_s(text: str) -> float:
    """Seconds to add to the image times, in exiftool's -geosync syntax.

    "[+-][[[DD ]HH:]MM:]SS[.ss]" ("+1:00:00", "-30", "1 02:00:00" one day two hours), or "IMAGE_TIME@GPS_TIME"
    (two date/times, "2024:06:01 10:00:00@2024:06:01 10:01:30"): the GPS time minus the image time. A side
    without a zone is read in the other side's zone: both are the wall-clock times the user saw.
    ValueError for anything else.
    """
    if "@" in text:
        image_text, gps_text = text.split("@", 1)
        image, image_zone = _moment(image_text)
        gps, gps_zone = _moment(gps_text)
        if image_zone is None or gps_zone is None:
            return (gps - image).total_seconds()
        return ((gps - gps_zone) - (image - image_zone)).total_seconds()
    match = _GEOSYNC_PATTERN.match(text)
    if match is None:
        raise ValueError(f"unreadable time offset {text!r} (exiftool -geosync form: [+-][[[DD ]HH:]MM:]SS[.ss], "
                         "or IMAGE_TIME@GPS_TIME)")
    sign = -1.0 if match.group(1) == "-" else 1.0
    days, hours, minutes = (int(group) if group else 0 for group in match.group(2, 3, 4))
    return _bounded(sign * (days * 86400 + hours * 3600 + minutes * 60 + float(match.group(5))), text)


def _moment(text: str) -> tuple[datetime, timedelta | None]:
    match = _MOMENT_PATTERN.match(text)
    if match is None:
        raise ValueError(f"unreadable date/time {text.strip()!r} (YYYY:MM:DD HH:MM:SS[.ss][Z|+HH:MM])")
    year, month, day, hour, minute = (int(group) for group in match.group(1, 2, 3, 4, 5))
    seconds = float(match.group(6))
    moment = datetime(year, month, day, hour, minute) + timedelta(seconds=seconds)
    return moment, parse_utc_offset(match.group(7)) if match.group(7) else None
