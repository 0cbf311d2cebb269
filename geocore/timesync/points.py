"""What every track parser shares: the error type, times to POSIX seconds, and the collector that becomes a Track.

An error names the file and, where there is one, the line or record ("track.nmea: line 12: ..."), so that one bad
file in a batch of many is found at once; the batch goes on (`load_tracks`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from geocore.library.gps import ALTITUDE_RANGE_M
from geocore.timesync.track import Track, make_track

_log = logging.getLogger(__name__)
FIRST_TIME_S = -62_135_596_800.0  # 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the range of a datetime
LAST_TIME_S = 253_402_300_799.0
FloatArray = npt.NDArray[np.float64]


class TrackFormatError(ValueError):
    """A track file that cannot be read; the message names the file, the line or record, and the reason."""

    def __init__(self, path: str | Path, reason: str, *, line: int | None = None, record: int | None = None) -> None:
        where = f"line {line}: " if line is not None else f"record {record}: " if record is not None else ""
        super().__init__(f"{path}: {where}{reason}")
        self.path = str(path)
        self.reason = f"{where}{reason}"
        self.line = line
        self.record = record


def parse_time_s(value: Any) -> float | None:
    """POSIX seconds of an ISO 8601 string (naive = UTC) or a number (s; ms above 1e11); None if unusable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        seconds = float(value)
        seconds = seconds / 1000.0 if abs(seconds) > 1e11 else seconds
        # NaN/inf (JSON allows them) or a time no datetime can hold would break sorting and every printed time
        return seconds if FIRST_TIME_S <= seconds <= LAST_TIME_S else None
    if isinstance(value, datetime):
        return datetime_to_s(value)
    if not isinstance(value, str) or "T" not in value:  # date-only values are too coarse to place a photo
        return None
    try:
        return datetime_to_s(datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00")))
    except ValueError:
        return None


def datetime_to_s(value: datetime) -> float:
    """POSIX seconds of a datetime; a naive one is UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def iso_times_s(texts: npt.ArrayLike) -> FloatArray:
    """POSIX seconds of many ISO 8601 times at once (bytes or str), NaN where unusable.

    The common form "YYYY-MM-DDTHH:MM:SS[.fff]Z" is converted with array arithmetic (a million in a fraction of
    a second); anything else (offsets, odd widths) goes through `parse_time_s` one by one.
    """
    raw = np.char.strip(np.asarray(texts, dtype="S"))
    out = np.full(raw.shape, np.nan)
    if raw.size == 0:
        return out
    width = raw.dtype.itemsize
    fixed = np.ascontiguousarray(raw, dtype=f"S{max(width, 20)}")
    digits = fixed.view(np.uint8).reshape(raw.size, -1)[:, :20].astype(np.int64) - 48
    z = ord("Z") - 48
    common = ((digits[:, 4] == -3) & (digits[:, 7] == -3) & (np.isin(digits[:, 10], (ord("T") - 48, -16)))
              & (digits[:, 13] == 10) & (digits[:, 16] == 10) & (np.char.endswith(raw, b"Z")))
    positions = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
    common &= ((digits[:, positions] >= 0) & (digits[:, positions] <= 9)).all(axis=1)
    common &= (digits[:, 19] == z) | (digits[:, 19] == -2)  # "...SSZ" or a fraction "...SS.fffZ"
    common[common] &= _valid_fields(digits[common])
    if common.any():
        d = digits[common]
        seconds = _civil_seconds(d)
        fraction = _fractions(raw[common])
        out[common] = seconds + fraction
    for index in np.flatnonzero(~common):
        value = parse_time_s(raw[index].decode("utf-8", "replace"))
        out[index] = np.nan if value is None else value
    return out


_DAYS_IN_MONTH = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _valid_fields(d: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Rows whose month, day (leap years included), hour, minute and second exist, as fromisoformat requires."""
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month, day = d[:, 5] * 10 + d[:, 6], d[:, 8] * 10 + d[:, 9]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    days = np.where(month_ok, _DAYS_IN_MONTH[np.clip(month, 0, 12)], 0) - ((month == 2) & ~leap)
    time_ok = (d[:, 11] * 10 + d[:, 12] < 24) & (d[:, 14] * 10 + d[:, 15] < 60) & (d[:, 17] * 10 + d[:, 18] < 60)
    return month_ok & (day >= 1) & (day <= days) & time_ok & (year >= 1)


def _civil_seconds(d: npt.NDArray[np.int64]) -> FloatArray:
    """Seconds since 1970 of digit rows YYYY-MM-DDTHH:MM:SS (days from the civil calendar, Howard Hinnant's rule)."""
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month, day = d[:, 5] * 10 + d[:, 6], d[:, 8] * 10 + d[:, 9]
    hour, minute, second = d[:, 11] * 10 + d[:, 12], d[:, 14] * 10 + d[:, 15], d[:, 17] * 10 + d[:, 18]
    year = year - (month <= 2)
    era = np.floor_divide(year, 400)
    year_of_era = year - era * 400
    day_of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    days = era * 146097 + day_of_era - 719468
    return (days * 86400 + hour * 3600 + minute * 60 + second).astype(np.float64)


def _fractions(raw: npt.NDArray[np.bytes_]) -> FloatArray:
    """The ".fff" part of "...SS.fffZ" times (0 when absent)."""
    out = np.zeros(raw.shape)
    has = np.char.find(raw, b".", 19) == 19
    if has.any():
        tails = np.char.rstrip(np.char.partition(raw[has], b".")[:, 2], b"Z")
        out[has] = np.char.add(b"0.", tails).astype(np.float64)
    return out


@dataclass
class Points:
    """Points being collected from one file, one list entry per point."""

    times_s: list[float] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    lon: list[float] = field(default_factory=list)
    altitude_m: list[float] = field(default_factory=list)
    segment: list[int] = field(default_factory=list)
    hdop: list[float] = field(default_factory=list)
    satellites: list[float] = field(default_factory=list)
    accuracy_m: list[float] = field(default_factory=list)
    skipped: int = 0
    next_segment: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, time_s: float | None, lat: float, lon: float, altitude_m: float | None, segment: int,
            hdop: float | None = None, satellites: float | None = None, accuracy_m: float | None = None) -> None:
        """One point; a point without a usable time is counted as skipped."""
        if time_s is None or not math.isfinite(time_s):
            self.skipped += 1
            return
        self.times_s.append(time_s)
        self.lat.append(lat)
        self.lon.append(lon)
        self.altitude_m.append(math.nan if altitude_m is None else altitude_m)
        self.segment.append(segment)
        self.hdop.append(math.nan if hdop is None else hdop)
        self.satellites.append(math.nan if satellites is None else satellites)
        self.accuracy_m.append(math.nan if accuracy_m is None else accuracy_m)

    def new_segment(self) -> int:
        """A new segment number (points of different segments are never interpolated between)."""
        self.next_segment += 1
        return self.next_segment - 1

    def finish(self, path: Path) -> Track:
        """The collected points as a Track; TrackFormatError when none has a time or a position is out of range."""
        return finish_arrays(path, np.asarray(self.times_s, dtype=np.float64), self.lat, self.lon, self.altitude_m,
                             self.segment, self.hdop, self.satellites, self.accuracy_m, self.skipped, self.notes)


def finish_arrays(path: Path, times_s: FloatArray, lat: npt.ArrayLike, lon: npt.ArrayLike,
                  altitude_m: npt.ArrayLike, segment: npt.ArrayLike, hdop: npt.ArrayLike | None = None,
                  satellites: npt.ArrayLike | None = None, accuracy_m: npt.ArrayLike | None = None,
                  skipped: int = 0, notes: list[str] | None = None) -> Track:
    """A Track from one file's arrays: untimed points dropped, positions checked, absurd elevations dropped."""
    notes = list(notes or [])
    lat_a, lon_a = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    alt = np.asarray(altitude_m, dtype=np.float64).copy()
    timed = np.isfinite(times_s)
    skipped += int((~timed).sum())
    if not timed.any():
        detail = f" ({skipped} points without a usable time)" if skipped else ""
        raise TrackFormatError(path, f"no track point with a time{detail}")
    bad = ~(np.isfinite(lat_a) & np.isfinite(lon_a) & (np.abs(lat_a) <= 90.0) & (np.abs(lon_a) <= 180.0))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise TrackFormatError(path, f"coordinate out of range: lat {lat_a[first]}, lon {lon_a[first]}",
                               record=first + 1)
    low, high = ALTITUDE_RANGE_M
    absurd = np.isfinite(alt) & ((alt < low) | (alt > high))
    if absurd.any():  # a logger glitch (<ele>9000000000</ele>): the position stays, not the height
        _log.warning("%s: %d elevation(s) outside %g..%g m ignored", path, int(absurd.sum()), low, high)
        notes.append(f"{path}: {int(absurd.sum())} elevation(s) outside {low:g}..{high:g} m ignored")
        alt[absurd] = np.nan
    if skipped:
        notes.append(f"{path}: {skipped} point(s) without a usable time skipped")
    hdop_a, satellites_a, accuracy_a = (np.asarray(c, dtype=np.float64)[timed] if c is not None else None
                                        for c in (hdop, satellites, accuracy_m))
    # segments numbered 0, 1, ... in the order of the file, whatever numbers the parser used
    segments = np.unique(np.asarray(segment, dtype=np.int64)[timed], return_inverse=True)[1].astype(np.int64)
    return make_track(times_s[timed], lat_a[timed], lon_a[timed], alt[timed], segments, (str(path),), hdop_a,
                      satellites_a, accuracy_a, notes)
