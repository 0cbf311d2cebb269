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

from geotagger.geocore.library.gps import ALTITUDE_RANGE_M
from geotagger.geocore.timesync.track import Track, make_track

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
    """POSIX seconds of many ISO 8601 times at once (bytes or str), NaN where unusable; the same as `parse_time_s`.

    The common forms "YYYY-MM-DD(T| )HH:MM:SS[(.|,)f...][Z|(+|-)HH[[:]MM]]" are read with array arithmetic on the
    bytes (numpy's datetime64 parser for the fixed-width part): a million in a few hundredths of a second. Anything
    else goes through `parse_time_s` one by one.
    """
    try:
        raw = np.asarray(texts, dtype="S")
    except UnicodeEncodeError:  # a non-ASCII text among them: never a time this reads
        values = [parse_time_s(text) for text in np.asarray(texts, dtype=object).ravel().tolist()]
        return np.array([np.nan if value is None else value for value in values], dtype=np.float64)
    out = np.full(raw.shape, np.nan)
    if raw.size == 0:
        return out
    if raw.dtype.itemsize < _TIME_WIDTH:  # room for every position looked at below
        raw = raw.astype(f"S{_TIME_WIDTH}")
    raw = np.ascontiguousarray(raw).ravel()
    seconds, good = _vector_times(raw.view(np.uint8).reshape(raw.size, raw.dtype.itemsize))
    out.ravel()[good] = seconds[good]
    for index in np.flatnonzero(~good):
        value = parse_time_s(raw[index].decode("utf-8", "replace"))
        out.ravel()[index] = np.nan if value is None else value
    return out


_TIME_WIDTH = 40  # 19 + "." + 12 fraction digits + "+HH:MM" + a NUL
_FRACTION_DIGITS = 12
_DAYS_IN_MONTH = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int16)


def _vector_times(u: npt.NDArray[np.uint8]) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Seconds of rows of bytes in the common forms, and which rows were in one of them."""
    columns = np.ascontiguousarray(u[:, :_TIME_WIDTH].T)  # a column at a time reads memory in order
    whole, good = _whole_seconds(u, columns)
    separator = (columns[19] == ord(".")) | (columns[19] == ord(","))
    run = separator.copy()
    count = np.zeros(u.shape[0], dtype=np.int64)
    micro = np.zeros(u.shape[0], dtype=np.int64)
    for k in range(_FRACTION_DIGITS):  # fromisoformat reads any number of digits and keeps six
        digit = columns[20 + k]
        run &= _is_digit(digit)
        if not run.any():
            break
        count += run
        if k < 6:
            micro += np.where(run, (digit.astype(np.int64) - 48) * 10 ** (5 - k), 0)
    good &= ~separator | (count > 0)
    offset_s, ok = _zone(u, np.where(separator, 20 + count, 19))
    good &= ok
    micro_total = (whole - offset_s) * 1_000_000 + micro
    exact = np.abs(micro_total) < 2**53  # as timedelta.total_seconds() divides; past 2255 the float sum is closer
    return np.where(exact, micro_total / 1e6, (whole - offset_s) + micro / 1e6), good


def _zone(u: npt.NDArray[np.uint8], tail: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64],
                                                                              npt.NDArray[np.bool_]]:
    """The UTC offset in seconds of what follows the time at `tail` (nothing, Z, +HH, +HHMM, +HH:MM), and which
    rows end so."""
    if tail.size and tail.min() == tail.max():  # one form throughout (nearly every file): whole columns
        at = [u[:, int(tail[0]) + k] for k in range(7)]
    else:
        rows = np.arange(u.shape[0])
        at = [u[rows, tail + k] for k in range(7)]
    zulu = ((at[0] == ord("Z")) | (at[0] == ord("z"))) & (at[1] == 0)
    sign = ((at[0] == ord("+")) | (at[0] == ord("-"))) & _is_digit(at[1]) & _is_digit(at[2])
    hours = (at[1].astype(np.int64) - 48) * 10 + at[2] - 48
    colon = at[3] == ord(":")
    minute_at = [np.where(colon, at[4], at[3]), np.where(colon, at[5], at[4])]
    minutes = (minute_at[0].astype(np.int64) - 48) * 10 + minute_at[1] - 48
    with_minutes = sign & _is_digit(minute_at[0]) & _is_digit(minute_at[1]) & (np.where(colon, at[6], at[5]) == 0)
    minutes = np.where(with_minutes, minutes, 0)
    offset = ((sign & (at[3] == 0)) | with_minutes) & (hours < 24) & (minutes < 60)
    offset_s = np.where(offset, np.where(at[0] == ord("-"), -1, 1) * (hours * 3600 + minutes * 60), 0)
    return offset_s, (at[0] == 0) | zulu | offset


def _whole_seconds(u: npt.NDArray[np.uint8], columns: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.int64],
                                                                                        npt.NDArray[np.bool_]]:
    """Seconds since 1970 of rows starting YYYY-MM-DD(T| )HH:MM:SS with fields that exist, and which rows do."""
    shape = (columns[4] == ord("-")) & (columns[7] == ord("-")) & (columns[13] == ord(":")) \
        & (columns[16] == ord(":")) & ((columns[10] == ord("T")) | (columns[10] == ord(" ")))
    for k in (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18):
        shape &= _is_digit(columns[k])
    shape &= (columns[0] != ord("0")) | (columns[1] != ord("0")) | (columns[2] != ord("0")) \
        | (columns[3] != ord("0"))  # year 0 is no datetime
    shape &= _valid_fields(columns)
    rows = np.flatnonzero(shape)
    seconds = np.zeros(u.shape[0], dtype=np.int64)
    # numpy's own parser, on validated rows only: an invalid one among thousands crashes numpy 2.4's cast
    seconds[rows] = np.ascontiguousarray(u[rows, :19]).view("S19").ravel().astype("datetime64[s]").astype(np.int64)
    return seconds, shape


def _is_digit(column: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    return (column >= 48) & (column <= 57)


def _two_digits(columns: npt.NDArray[np.uint8], start: int) -> npt.NDArray[np.int16]:
    return (columns[start].astype(np.int16) - 48) * 10 + columns[start + 1] - 48


def _valid_fields(columns: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Rows whose month, day (leap years included), hour, minute and second exist, as fromisoformat requires."""
    month, day = _two_digits(columns, 5), _two_digits(columns, 8)
    month_ok = (month >= 1) & (month <= 12)
    days = _DAYS_IN_MONTH[np.where(month_ok, month, 0)]
    valid = month_ok & (day >= 1) & (day <= days) & (_two_digits(columns, 11) < 24) \
        & (_two_digits(columns, 14) < 60) & (_two_digits(columns, 17) < 60)
    leap_day = np.flatnonzero(valid & (month == 2) & (day == 29))
    if leap_day.size:
        year = (_two_digits(columns, 0)[leap_day].astype(np.int64) * 100 + _two_digits(columns, 2)[leap_day])
        valid[leap_day] = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    return valid


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
