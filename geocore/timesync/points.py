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

    The common forms "YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM)" are converted with array arithmetic on the bytes (a
    million in a fraction of a second); anything else goes through `parse_time_s` one by one.
    """
    raw = np.asarray(texts, dtype="S")
    out = np.full(raw.shape, np.nan)
    if raw.size == 0:
        return out
    if raw.dtype.itemsize < 29:  # room for every position looked at below ("...SS.fff+HH:MM")
        raw = raw.astype("S29")
    raw = np.ascontiguousarray(raw)
    u = raw.view(np.uint8).reshape(raw.size, raw.dtype.itemsize)
    length = np.char.str_len(raw)
    common = _common_shape(u)
    rows = np.arange(raw.size)
    has_fraction = common & (u[:, 19] == ord(".")) & (length >= 24)
    for k in (20, 21, 22):
        has_fraction &= _is_digit(u[:, k])
    tail = np.where(has_fraction, 23, 19)
    at_tail = u[rows, np.minimum(tail, u.shape[1] - 1)]
    zulu = common & (at_tail == ord("Z")) & (length == tail + 1)
    offset = common & np.isin(at_tail, (ord("+"), ord("-"))) & (length == tail + 6)
    offset_s = np.zeros(raw.size)
    if offset.any():
        offset, offset_s = _offsets(u, rows, tail, offset)
    good = zulu | offset
    if good.any():
        good_rows = np.flatnonzero(good)
        seconds = _civil_seconds(u[good_rows])
        fraction = np.where(has_fraction[good_rows], _digits(u[good_rows], 20, 3) / 1000.0, 0.0)
        out[good_rows] = seconds + fraction - offset_s[good_rows]
    for index in np.flatnonzero(~good):
        value = parse_time_s(raw[index].decode("utf-8", "replace"))
        out[index] = np.nan if value is None else value
    return out


def _is_digit(column: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    return (column >= 48) & (column <= 57)


def _digits(u: npt.NDArray[np.uint8], start: int, count: int) -> npt.NDArray[np.int64]:
    value = np.zeros(u.shape[0], dtype=np.int64)
    for k in range(start, start + count):
        value = value * 10 + (u[:, k].astype(np.int64) - 48)
    return value


def _common_shape(u: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Rows shaped YYYY-MM-DD[T ]HH:MM:SS with fields that exist."""
    shape = (u[:, 4] == ord("-")) & (u[:, 7] == ord("-")) & ((u[:, 10] == ord("T")) | (u[:, 10] == ord(" ")))
    shape &= (u[:, 13] == ord(":")) & (u[:, 16] == ord(":"))
    for k in (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18):
        shape &= _is_digit(u[:, k])
    shape[shape] &= _valid_fields(u[shape])
    return shape


def _offsets(u: npt.NDArray[np.uint8], rows: npt.NDArray[np.intp], tail: npt.NDArray[np.intp],
             offset: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.bool_], FloatArray]:
    """Rows whose "+HH:MM" after the seconds is readable, and that offset in seconds."""
    last = u.shape[1] - 1
    picks = [u[rows, np.minimum(tail + k, last)] for k in range(6)]
    offset = offset & (picks[3] == ord(":")) & _is_digit(picks[1]) & _is_digit(picks[2]) & _is_digit(picks[4]) \
        & _is_digit(picks[5])
    hours = (picks[1].astype(np.int64) - 48) * 10 + picks[2] - 48
    minutes = (picks[4].astype(np.int64) - 48) * 10 + picks[5] - 48
    offset &= (hours <= 14) & (minutes < 60)
    sign = np.where(picks[0] == ord("-"), -1.0, 1.0)
    return offset, np.where(offset, sign * (hours * 3600 + minutes * 60), 0.0)


_DAYS_IN_MONTH = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _fields(u: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.int64], ...]:
    """Year, month, day, hour, minute, second of rows shaped YYYY-MM-DDTHH:MM:SS."""
    return (_digits(u, 0, 4), _digits(u, 5, 2), _digits(u, 8, 2), _digits(u, 11, 2), _digits(u, 14, 2),
            _digits(u, 17, 2))


def _valid_fields(u: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Rows whose month, day (leap years included), hour, minute and second exist, as fromisoformat requires."""
    year, month, day, hour, minute, second = _fields(u)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    days = np.where(month_ok, _DAYS_IN_MONTH[np.clip(month, 0, 12)], 0) - ((month == 2) & ~leap)
    return month_ok & (day >= 1) & (day <= days) & (hour < 24) & (minute < 60) & (second < 60) & (year >= 1)


def _civil_seconds(u: npt.NDArray[np.uint8]) -> FloatArray:
    """Seconds since 1970 of rows YYYY-MM-DDTHH:MM:SS (days from the civil calendar, Howard Hinnant's rule)."""
    year, month, day, hour, minute, second = _fields(u)
    year = year - (month <= 2)
    era = np.floor_divide(year, 400)
    year_of_era = year - era * 400
    day_of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    days = era * 146097 + day_of_era - 719468
    return (days * 86400 + hour * 3600 + minute * 60 + second).astype(np.float64)


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
