"""Read GPS tracks from GPX, KML and GeoJSON files into a Track; bad files raise TrackFormatError naming the file.

Times without a zone are read as UTC (the GPX schema requires UTC; KML and GeoJSON writers nearly always add `Z`).
Points without a usable time (missing, date only, unparsable) are skipped and counted; a file with no timed point
at all is an error. Elevations outside geocore.library.gps.ALTITUDE_RANGE_M are dropped (logged with the file). Formats:
- GPX (gpxpy): every <trkseg> is a segment; <rte> and <wpt> carry no track time and are ignored.
- KML: every <gx:Track> is a segment (<when> paired in order with <gx:coord> "lon lat [alt]"); every LineString
  whose Placemark has a <TimeSpan> with begin and end is a segment whose vertices get times at constant speed along
  the line (the only reading of an untimed line that respects its start and end); Point Placemarks with a
  <TimeStamp><when> together form one more segment.
- GeoJSON: LineString / MultiLineString features whose properties hold `coordTimes`, `times` or
  `coordinateProperties.times` (togeojson's forms; one time per vertex, a list of lists for MultiLineString),
  and Point features with a `time`, `timestamp`, `when` or `datetime` property (together one segment).
  A time is an ISO 8601 string or POSIX seconds (milliseconds above 1e11).
"""

from __future__ import annotations

import json
import logging
import math
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import gpxpy
import gpxpy.gpx

from geocore.geo.distance import haversine_km
from geocore.library.gps import ALTITUDE_RANGE_M, plausible_altitude
from geocore.timesync.track import Track, make_track

TRACK_SUFFIXES = {".gpx": "gpx", ".kml": "kml", ".geojson": "geojson", ".json": "geojson"}
POINT_TIME_KEYS = ("time", "timestamp", "when", "datetime")
_log = logging.getLogger(__name__)


class TrackFormatError(ValueError):
    """A track file that cannot be read; the message names the file and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass
class _Points:
    """Points being collected from one file, one list entry per point."""

    times_s: list[float] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    lon: list[float] = field(default_factory=list)
    altitude_m: list[float] = field(default_factory=list)
    segment: list[int] = field(default_factory=list)
    skipped: int = 0
    ignored_altitudes: int = 0
    next_segment: int = 0

    def add(self, time_s: float | None, lat: float, lon: float, altitude_m: float | None, segment: int) -> None:
        if time_s is None:
            self.skipped += 1
            return
        self.times_s.append(time_s)
        self.lat.append(lat)
        self.lon.append(lon)
        if altitude_m is not None and not plausible_altitude(altitude_m):
            self.ignored_altitudes += 1  # a logger glitch (<ele>9000000000</ele>): the position stays, not the height
            altitude_m = None
        self.altitude_m.append(math.nan if altitude_m is None else altitude_m)
        self.segment.append(segment)

    def new_segment(self) -> int:
        self.next_segment += 1
        return self.next_segment - 1


FIRST_TIME_S = -62_135_596_800.0  # 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the range of a datetime
LAST_TIME_S = 253_402_300_799.0


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
        return _datetime_to_s(value)
    if not isinstance(value, str) or "T" not in value:  # date-only values are too coarse to place a photo
        return None
    try:
        return _datetime_to_s(datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00")))
    except ValueError:
        return None


def _datetime_to_s(value: datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def _check_position(path: Path, lat: float, lon: float) -> None:
    if not (math.isfinite(lat) and math.isfinite(lon) and -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise TrackFormatError(path, f"coordinate out of range: lat {lat}, lon {lon}")


def _finish(path: Path, points: _Points) -> Track:
    if not points.times_s:
        detail = f" ({points.skipped} points without a usable time)" if points.skipped else ""
        raise TrackFormatError(path, f"no track point with a time{detail}")
    for lat, lon in zip(points.lat, points.lon, strict=True):
        _check_position(path, lat, lon)
    if points.ignored_altitudes:
        low, high = ALTITUDE_RANGE_M
        _log.warning("%s: %d elevation(s) outside %g..%g m ignored", path, points.ignored_altitudes, low, high)
    return make_track(points.times_s, points.lat, points.lon, points.altitude_m, points.segment, (str(path),))


def load_track(path: str | Path) -> Track:
    """Read one track file, choosing the parser by suffix (.gpx, .kml, .geojson, .json)."""
    path = Path(path)
    kind = TRACK_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise TrackFormatError(path, f"unknown track format {path.suffix!r} (use .gpx, .kml, .geojson)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise TrackFormatError(path, f"cannot read: {error}") from error
    parser = {"gpx": parse_gpx, "kml": parse_kml, "geojson": parse_geojson}[kind]
    return parser(text, path)


def load_tracks(paths: Iterable[str | Path]) -> tuple[list[Track], list[TrackFormatError]]:
    """Read every file; bad files are returned as errors so that the batch goes on."""
    tracks, errors = [], []
    for path in paths:
        try:
            tracks.append(load_track(path))
        except TrackFormatError as error:
            errors.append(error)
    return tracks, errors


def parse_gpx(text: str, path: str | Path = "<gpx>") -> Track:
    """Track from GPX text; each <trkseg> is a segment."""
    path = Path(path)
    try:
        gpx = gpxpy.parse(text)
    except (gpxpy.gpx.GPXException, ValueError, ElementTree.ParseError) as error:
        raise TrackFormatError(path, f"not valid GPX: {error}") from error
    points = _Points()
    for gpx_track in gpx.tracks:
        for gpx_segment in gpx_track.segments:
            segment = points.new_segment()
            for point in gpx_segment.points:
                points.add(parse_time_s(point.time), point.latitude, point.longitude, point.elevation, segment)
    return _finish(path, points)


def _local(tag: str) -> str:
    """Element name without its namespace: KML 2.0/2.1/2.2 and gx all read alike."""
    return tag.rsplit("}", 1)[-1]


def _children(element: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    return [child for child in element if _local(child.tag) == name]


def _descendants(element: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    return [child for child in element.iter() if _local(child.tag) == name]


def _kml_coordinate(path: Path, text: str, separator: str | None) -> tuple[float, float, float | None]:
    parts = text.strip().split(separator)
    try:
        numbers = [float(part) for part in parts if part.strip()]
    except ValueError as error:
        raise TrackFormatError(path, f"bad coordinate {text.strip()!r}") from error
    if len(numbers) < 2:
        raise TrackFormatError(path, f"bad coordinate {text.strip()!r}")
    return numbers[1], numbers[0], numbers[2] if len(numbers) > 2 else None


def parse_kml(text: str, path: str | Path = "<kml>") -> Track:
    """Track from KML text: gx:Track, LineString with TimeSpan, Point Placemarks with TimeStamp."""
    path = Path(path)
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as error:
        raise TrackFormatError(path, f"not valid XML: {error}") from error
    if _local(root.tag) != "kml":
        raise TrackFormatError(path, f"root element is <{_local(root.tag)}>, not <kml>")
    points = _Points()
    for gx_track in _descendants(root, "Track"):
        _read_gx_track(path, gx_track, points)
    point_segment: int | None = None
    for placemark in _descendants(root, "Placemark"):
        for line in _descendants(placemark, "LineString"):
            _read_timed_line(path, placemark, line, points)
        timestamp = _placemark_time(placemark, "TimeStamp", "when")
        for point in _descendants(placemark, "Point"):
            point_segment = points.new_segment() if point_segment is None else point_segment
            for coordinates in _children(point, "coordinates"):
                lat, lon, alt = _kml_coordinate(path, coordinates.text or "", ",")
                points.add(timestamp, lat, lon, alt, point_segment)
    return _finish(path, points)


def _read_gx_track(path: Path, gx_track: ElementTree.Element, points: _Points) -> None:
    whens = [element.text or "" for element in _children(gx_track, "when")]
    coords = [element.text or "" for element in _children(gx_track, "coord")]
    if len(whens) != len(coords):
        raise TrackFormatError(path, f"gx:Track with {len(whens)} <when> but {len(coords)} <gx:coord>")
    segment = points.new_segment()
    for when, coord in zip(whens, coords, strict=True):
        lat, lon, alt = _kml_coordinate(path, coord, None)
        points.add(parse_time_s(when), lat, lon, alt, segment)


def _placemark_time(placemark: ElementTree.Element, element_name: str, field_name: str) -> float | None:
    for element in _descendants(placemark, element_name):
        for value in _children(element, field_name):
            return parse_time_s((value.text or "").strip())
    return None


def _read_timed_line(path: Path, placemark: ElementTree.Element, line: ElementTree.Element, points: _Points) -> None:
    begin_s = _placemark_time(placemark, "TimeSpan", "begin")
    end_s = _placemark_time(placemark, "TimeSpan", "end")
    vertices = [
        _kml_coordinate(path, token, ",")
        for coordinates in _children(line, "coordinates")
        for token in (coordinates.text or "").split()
    ]
    if begin_s is None or end_s is None or end_s < begin_s or not vertices:
        points.skipped += len(vertices)
        return
    for lat, lon, _ in vertices:
        _check_position(path, lat, lon)
    lats = [v[0] for v in vertices]
    lons = [v[1] for v in vertices]
    steps_km = [0.0] + list(haversine_km(lats[:-1], lons[:-1], lats[1:], lons[1:]))
    cumulative_km = [sum(steps_km[: i + 1]) for i in range(len(steps_km))]
    total_km = cumulative_km[-1]
    segment = points.new_segment()
    for (lat, lon, alt), along_km in zip(vertices, cumulative_km, strict=True):
        fraction = along_km / total_km if total_km > 0 else 0.0
        points.add(begin_s + fraction * (end_s - begin_s), lat, lon, alt, segment)


def parse_geojson(text: str, path: str | Path = "<geojson>") -> Track:
    """Track from GeoJSON text: timed LineString/MultiLineString features and timed Point features."""
    path = Path(path)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise TrackFormatError(path, f"not valid JSON: {error}") from error
    if not isinstance(document, dict) or "type" not in document:
        raise TrackFormatError(path, "not a GeoJSON object (no 'type')")
    features = _geojson_features(path, document)
    points = _Points()
    point_segment: int | None = None
    for feature in features:
        geometry = feature.get("geometry") or {}
        properties = feature.get("properties") or {}
        if not isinstance(geometry, dict) or not isinstance(properties, dict):
            raise TrackFormatError(path, "feature geometry and properties must be objects")
        kind = geometry.get("type")
        if kind in ("LineString", "MultiLineString"):
            _read_geojson_lines(path, kind, geometry.get("coordinates"), properties, points)
        elif kind == "Point":
            point_segment = points.new_segment() if point_segment is None else point_segment
            time_s = next((parse_time_s(properties[key]) for key in POINT_TIME_KEYS if key in properties), None)
            lat, lon, alt = _geojson_position(path, geometry.get("coordinates"))
            points.add(time_s, lat, lon, alt, point_segment)
    return _finish(path, points)


def _geojson_features(path: Path, document: dict[str, Any]) -> list[dict[str, Any]]:
    kind = document["type"]
    if kind == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list) or not all(isinstance(f, dict) for f in features):
            raise TrackFormatError(path, "FeatureCollection without a list of features")
        return features
    if kind == "Feature":
        return [document]
    return [{"type": "Feature", "geometry": document, "properties": {}}]


def _geojson_position(path: Path, position: Any) -> tuple[float, float, float | None]:
    if not isinstance(position, list) or len(position) < 2:
        raise TrackFormatError(path, f"bad position {position!r}")
    try:
        numbers = [float(value) for value in position[:3]]
    except (TypeError, ValueError) as error:
        raise TrackFormatError(path, f"bad position {position!r}") from error
    return numbers[1], numbers[0], numbers[2] if len(numbers) > 2 else None


def _read_geojson_lines(path: Path, kind: str, coordinates: Any, properties: dict[str, Any], points: _Points) -> None:
    nested = properties.get("coordinateProperties")
    times = properties.get("coordTimes", properties.get("times"))
    if times is None and isinstance(nested, dict):
        times = nested.get("times")
    lines: Sequence[Any] = [coordinates] if kind == "LineString" else (coordinates or [])
    line_times: Sequence[Any] = [times] if kind == "LineString" else (times or [])
    if not isinstance(lines, list) or not all(isinstance(line, list) for line in lines):
        raise TrackFormatError(path, f"{kind} coordinates must be a list")
    if times is None:
        points.skipped += sum(len(line) for line in lines)
        return
    if len(line_times) != len(lines) or any(
        not isinstance(t, list) or len(t) != len(line) for t, line in zip(line_times, lines, strict=True)
    ):
        raise TrackFormatError(path, f"{kind}: coordTimes/times do not match the coordinates one to one")
    for line, stamps in zip(lines, line_times, strict=True):
        segment = points.new_segment()
        for position, stamp in zip(line, stamps, strict=True):
            lat, lon, alt = _geojson_position(path, position)
            points.add(parse_time_s(stamp), lat, lon, alt, segment)
