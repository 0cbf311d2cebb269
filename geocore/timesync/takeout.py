"""Google location history, streamed: Takeout `Records.json`, the on-device Timeline export, Semantic Location History.

Forms read (each a JSON document of up to hundreds of MB, streamed item by item, see json_stream):
- Records.json: {"locations": [{"latitudeE7", "longitudeE7", "timestamp" | "timestampMs", "accuracy",
  "altitude"}, ...]}. E7 values above the range are the known Takeout overflow and are wrapped back by 2**32.
- Timeline export (Android, 2024+): {"semanticSegments": [...], "rawSignals": [...]}: `timelinePath` points
  ("point": "48.1°, 11.5°", "time"), `visit` places (topCandidate.placeLocation.latLng from startTime to endTime),
  `activity` start and end, and `rawSignals` positions ("LatLng", "accuracyMeters", "altitudeMeters",
  "timestamp"). The iOS export, a top-level array of the same segments with "geo:lat,lon" places and paths timed
  by "durationMinutesOffsetFromStartTime", reads the same way.
- Semantic Location History (monthly files): {"timelineObjects": [{"placeVisit"}, {"activitySegment"}]}.

The history is one continuous stream: every point is in one segment, and the gap limits decide what is bridged.
A visit is the one case where standing still for hours is known, so it becomes a point every VISIT_STEP_S
from its start to its end. Accuracy is kept per point for the radius. A record that cannot be used (no position,
no time, out of range) is skipped and counted, the first one named in the track's notes; malformed JSON is an
error naming the line and the record.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from geotagger.geocore.timesync.json_stream import JsonStreamError, iter_array_batches
from geotagger.geocore.timesync.points import TrackFormatError, finish_arrays, iso_times_s, parse_time_s
from geotagger.geocore.timesync.track import Track

_log = logging.getLogger(__name__)
VISIT_STEP_S = 10 * 60.0
MAX_VISIT_S = 31 * 86400.0
TAKEOUT_KEYS = ("locations", "semanticSegments", "rawSignals", "timelineObjects")
_LAT_LNG = re.compile(r"^\s*(?:geo:)?\s*(-?[\d.]+)\s*°?\s*,\s*(-?[\d.]+)\s*°?\s*$")
_E7 = 1e7
_WRAP = 2**32


class _History:
    """Columns being collected; times as text (converted in one go) or seconds."""

    def __init__(self) -> None:
        self.lat: list[float] = []
        self.lon: list[float] = []
        self.time: list[Any] = []
        self.accuracy: list[float] = []
        self.altitude: list[float] = []
        self.skipped = 0
        self.first_skipped = ""
        self.columns: list[tuple[np.ndarray, np.ndarray, list[str], np.ndarray, np.ndarray]] = []

    def add(self, time: Any, lat: float, lon: float, accuracy: Any = None, altitude: Any = None) -> None:
        self.lat.append(lat)
        self.lon.append(lon)
        self.time.append(time)
        self.accuracy.append(_number(accuracy))
        self.altitude.append(_number(altitude))

    def skip(self, number: int, line: int, why: str) -> None:
        self.skipped += 1
        if not self.first_skipped:
            self.first_skipped = f"record {number} (near line {line}): {why}"


def _number(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return math.nan
    return math.nan


def parse_takeout(path: Path) -> Track:
    """Track from a Google location history file in any of the forms of this module's docstring."""
    history = _History()
    by_item = batches = 0
    try:
        with open(path, encoding="utf-8-sig") as handle:
            for key, first, line, items in iter_array_batches(handle):
                batches += 1
                if key == "locations" and _records_batch(history, items):
                    continue
                by_item += 1
                for offset, item in enumerate(items):
                    if not isinstance(item, dict):
                        history.skip(first + offset, line, "not an object")
                    elif key == "locations":
                        _record(history, item, first + offset, line)
                    else:
                        _segment(history, key, item, first + offset, line)
    except JsonStreamError as error:
        raise TrackFormatError(path, f"not valid JSON: {error.reason}", line=error.line) from None
    except (OSError, UnicodeDecodeError) as error:
        raise TrackFormatError(path, f"cannot read: {error}") from error
    _log.debug("%s: %d of %d batches read column by column, %d item by item", path, batches - by_item, batches,
               by_item)
    return _finish(path, history)


def _records_batch(history: _History, items: list[Any]) -> bool:
    """A batch of Records.json locations column by column (the common case: every item a plain record with integer
    E7 values and an ISO timestamp); False to read the batch item by item instead."""
    try:
        lat = np.array([item["latitudeE7"] for item in items], dtype=np.int64)
        lon = np.array([item["longitudeE7"] for item in items], dtype=np.int64)
        stamps = [item["timestamp"] for item in items]
        accuracy = np.array([item.get("accuracy") for item in items], dtype=np.float64)
        altitude = np.array([item.get("altitude") for item in items], dtype=np.float64)
    except (KeyError, TypeError, ValueError, OverflowError):
        return False  # a record without these, with timestampMs, or with odd values
    if not all(type(stamp) is str for stamp in stamps):
        return False
    lat = np.where(lat > 900_000_000, lat - _WRAP, lat)
    lon = np.where(lon > 1_800_000_000, lon - _WRAP, lon)
    history.columns.append((lat / _E7, lon / _E7, stamps, accuracy, altitude))
    return True


def _record(history: _History, item: dict[str, Any], number: int, line: int) -> None:
    """One Records.json location."""
    lat_e7, lon_e7 = item.get("latitudeE7"), item.get("longitudeE7")
    if not isinstance(lat_e7, int) or not isinstance(lon_e7, int):
        history.skip(number, line, "no latitudeE7/longitudeE7")
        return
    if lat_e7 > 900_000_000:
        lat_e7 -= _WRAP
    if lon_e7 > 1_800_000_000:
        lon_e7 -= _WRAP
    stamp = item.get("timestamp")
    if stamp is None:
        milliseconds = item.get("timestampMs")
        stamp = _number(milliseconds) / 1000.0 if milliseconds is not None else None
    history.add(stamp, lat_e7 / _E7, lon_e7 / _E7, item.get("accuracy"), item.get("altitude"))


def _lat_lng(value: Any) -> tuple[float, float] | None:
    """A place as the Timeline writes it: "48.1°, 11.5°", "geo:48.1,11.5" or {"latLng": ...} / E7 fields."""
    if isinstance(value, dict):
        if "latLng" in value or "LatLng" in value:
            return _lat_lng(value.get("latLng", value.get("LatLng")))
        lat, lon = value.get("latitudeE7", value.get("latE7")), value.get("longitudeE7", value.get("lngE7"))
        return (lat / _E7, lon / _E7) if isinstance(lat, int) and isinstance(lon, int) else None
    if not isinstance(value, str):
        return None
    match = _LAT_LNG.match(value)
    return (float(match.group(1)), float(match.group(2))) if match else None


def _segment(history: _History, key: str, item: dict[str, Any], number: int, line: int) -> None:
    """One semantic segment, raw signal or timeline object; counts it as skipped when nothing in it is usable."""
    before = len(history.lat)
    if key == "rawSignals":
        position = item.get("position")
        if isinstance(position, dict):
            place = _lat_lng(position)
            if place is not None:
                history.add(position.get("timestamp"), *place, position.get("accuracyMeters"),
                            position.get("altitudeMeters"))
        elif item.keys() & {"wifiScan", "activityRecord"}:
            return  # signals without a position: nothing to skip
    elif key == "timelineObjects":
        _timeline_object(history, item)
    else:
        _semantic(history, item)
    if len(history.lat) == before:
        history.skip(number, line, "no timed position")


def _semantic(history: _History, item: dict[str, Any]) -> None:
    start, end = parse_time_s(item.get("startTime")), parse_time_s(item.get("endTime"))
    for point in item.get("timelinePath") or []:
        place = _lat_lng(point.get("point")) if isinstance(point, dict) else None
        if place is None:
            continue
        when = point.get("time")
        if when is None and start is not None:
            when = start + 60.0 * _number(point.get("durationMinutesOffsetFromStartTime"))
        history.add(when, *place)
    visit = item.get("visit")
    if isinstance(visit, dict) and isinstance(visit.get("topCandidate"), dict):
        place = _lat_lng(visit["topCandidate"].get("placeLocation"))
        if place is not None and start is not None and end is not None:
            _visit(history, place, start, end)
    activity = item.get("activity")
    if isinstance(activity, dict):
        for moment, where in ((start, activity.get("start")), (end, activity.get("end"))):
            place = _lat_lng(where)
            if place is not None and moment is not None:
                history.add(moment, *place)


def _visit(history: _History, place: tuple[float, float], start: float, end: float) -> None:
    if not 0 <= end - start <= MAX_VISIT_S:
        history.add(start, *place)
        return
    steps = max(1, math.ceil((end - start) / VISIT_STEP_S))
    for moment in np.linspace(start, end, steps + 1).tolist():
        history.add(moment, *place)


def _timeline_object(history: _History, item: dict[str, Any]) -> None:
    visit, segment = item.get("placeVisit"), item.get("activitySegment")
    for block, start_key, end_key in ((visit, "location", "location"), (segment, "startLocation", "endLocation")):
        if not isinstance(block, dict):
            continue
        duration = block.get("duration") or {}
        start = parse_time_s(duration.get("startTimestamp", _ms(duration.get("startTimestampMs"))))
        end = parse_time_s(duration.get("endTimestamp", _ms(duration.get("endTimestampMs"))))
        first, last = _lat_lng(block.get(start_key)), _lat_lng(block.get(end_key))
        if block is visit and first is not None and start is not None and end is not None:
            _visit(history, first, start, end)
            continue
        for moment, place in ((start, first), (end, last)):
            if moment is not None and place is not None:
                history.add(moment, *place)
        for point in (block.get("simplifiedRawPath") or {}).get("points") or []:
            place = _lat_lng(point) if isinstance(point, dict) else None
            if place is not None:
                history.add(point.get("timestamp", _ms(point.get("timestampMs"))), *place)


def _ms(value: Any) -> float | None:
    number = _number(value) if value is not None else math.nan
    return number / 1000.0 if math.isfinite(number) else None


def _finish(path: Path, history: _History) -> Track:
    notes = []
    if history.skipped:
        notes.append(f"{path}: {history.skipped} record(s) without a usable position skipped, first "
                     f"{history.first_skipped}")
    # batches read column by column come first, the rest after: make_track sorts by time anyway
    lat = np.concatenate([c[0] for c in history.columns] + [np.asarray(history.lat, dtype=np.float64)])
    lon = np.concatenate([c[1] for c in history.columns] + [np.asarray(history.lon, dtype=np.float64)])
    times = np.concatenate([iso_times_s(c[2]) for c in history.columns] + [_times(history.time)])
    accuracy = np.concatenate([c[3] for c in history.columns] + [np.asarray(history.accuracy, dtype=np.float64)])
    altitude = np.concatenate([c[4] for c in history.columns] + [np.asarray(history.altitude, dtype=np.float64)])
    if not len(lat):
        raise TrackFormatError(path, "no location with a time" + (
            f" ({history.skipped} unusable, first {history.first_skipped})" if history.skipped else ""))
    bad = ~((np.abs(lat) <= 90) & (np.abs(lon) <= 180))
    if bad.any():  # one corrupt record among years of them must not cost the whole history
        first = int(np.flatnonzero(bad)[0])
        notes.append(f"{path}: {int(bad.sum())} position(s) out of range skipped, first lat {lat[first]}, "
                     f"lon {lon[first]}")
        times[bad] = np.nan
    zeros = np.zeros(len(lat), dtype=np.int64)
    return finish_arrays(path, times, np.where(bad, 0.0, lat), np.where(bad, 0.0, lon), altitude, zeros,
                         accuracy_m=accuracy, notes=notes)


def _times(values: list[Any]) -> np.ndarray:
    """Seconds for a mix of ISO strings (converted in one go) and numbers."""
    out = np.full(len(values), np.nan)
    text_index = [i for i, value in enumerate(values) if isinstance(value, str)]
    if len(text_index) == len(values):
        return iso_times_s(values) if values else out
    if text_index:
        out[text_index] = iso_times_s([values[i] for i in text_index])
    for index, value in enumerate(values):
        if not isinstance(value, str) and value is not None:
            seconds = parse_time_s(value)
            out[index] = np.nan if seconds is None else seconds
    return out


def looks_like_takeout(head: str) -> bool:
    """Whether the first few KB of a .json file are Google location history rather than GeoJSON."""
    stripped = head.lstrip("\ufeff \t\r\n")
    if stripped.startswith("["):
        return any(key in head for key in ('"startTime"', '"timelinePath"', '"visit"'))
    return any(f'"{key}"' in head for key in TAKEOUT_KEYS) and '"FeatureCollection"' not in head
