"""Read GPS tracks and location histories into a Track, any mix of formats, files or folders of them.

Formats (chosen by suffix, and for .json and text logs by content; see each module for its rules):
- GPX (gpx.py): tracks, routes and waypoints with times; HDOP and satellites.
- KML and KMZ (zipped KML, here): every <gx:Track> is a segment (<when> paired in order with <gx:coord>
  "lon lat [alt]"); every LineString whose Placemark has a <TimeSpan> with begin and end is a segment whose
  vertices get times at constant speed along the line (the only reading of an untimed line that respects its
  start and end); Point Placemarks with a <TimeStamp><when> together form one more segment.
- GeoJSON (here): LineString / MultiLineString features whose properties hold `coordTimes`, `times` or
  `coordinateProperties.times` (togeojson's forms), and Point features with a `time`, `timestamp`, `when` or
  `datetime` property (together one segment). A time is an ISO 8601 string or POSIX seconds (ms above 1e11).
- Google location history (takeout.py): Records.json, the Timeline export, Semantic Location History.
- TCX (here): every <Track> is a segment of <Trackpoint> with <Time>, <Position>, <AltitudeMeters>.
- NMEA 0183, IGC, CSV (text_formats.py); FIT (fit.py).
Times without a zone are read as UTC (GPX, TCX and FIT are UTC by definition; KML and GeoJSON writers nearly always
add `Z`). Points without a usable time are skipped and counted; a file with no timed point at all is an error, and
every error names the file and, where it can, the line or record. Elevations outside
geocore.library.gps.ALTITUDE_RANGE_M are dropped (noted with the file).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
import zipfile
from collections.abc import Iterable, Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

from geotagger.geocore.geo.distance import haversine_km
from geotagger.geocore.timesync.fit import parse_fit
from geotagger.geocore.timesync.gpx import parse_gpx_bytes
from geotagger.geocore.timesync.points import Points, TrackFormatError, parse_time_s
from geotagger.geocore.timesync.takeout import looks_like_takeout, parse_takeout
from geotagger.geocore.timesync.text_formats import parse_csv, parse_igc, parse_nmea
from geotagger.geocore.timesync.track import Track

__all__ = ["TRACK_SUFFIXES", "TrackFormatError", "expand_track_paths", "load_track", "load_tracks", "parse_geojson",
           "parse_gpx", "parse_kml", "parse_tcx", "parse_time_s"]

TRACK_SUFFIXES = {".gpx": "gpx", ".kml": "kml", ".kmz": "kmz", ".geojson": "geojson", ".json": "json",
                  ".tcx": "tcx", ".nmea": "nmea", ".nma": "nmea", ".igc": "igc", ".fit": "fit", ".csv": "csv",
                  ".log": "nmea"}
POINT_TIME_KEYS = ("time", "timestamp", "when", "datetime")
MAX_KMZ_KML_BYTES = 512 * 1024 * 1024  # a zip bomb must not fill the memory


def _kind(path: Path) -> str:
    """The format of a file: by suffix, then by content for .json (GeoJSON or location history) and text logs."""
    kind = TRACK_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise TrackFormatError(path, f"unknown track format {path.suffix!r} (use {', '.join(sorted(TRACK_SUFFIXES))})")
    if kind in ("json", "geojson"):
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            return "takeout" if looks_like_takeout(handle.read(4096)) else "geojson"
    return kind


def load_track(path: str | Path) -> Track:
    """Read one track file, choosing the parser by suffix and content; TrackFormatError names what is wrong."""
    path = Path(path)
    try:
        return _load_track(path)
    except RecursionError:  # JSON nested thousands deep (json and our streaming reader recurse): one bad file
        raise TrackFormatError(path, "nested too deeply to be a track (hostile or broken JSON)") from None
    except MemoryError:
        raise TrackFormatError(path, "too large to read into memory") from None


def _load_track(path: Path) -> Track:
    try:
        kind = _kind(path)
        if kind in ("takeout", "nmea", "igc", "csv", "fit"):
            readers = {"takeout": parse_takeout, "nmea": parse_nmea, "igc": parse_igc, "csv": parse_csv,
                       "fit": parse_fit}
            return readers[kind](path)
        data = path.read_bytes()
    except OSError as error:
        raise TrackFormatError(path, f"cannot read: {error}") from error
    if kind == "gpx":
        return parse_gpx_bytes(data, path)
    if kind == "kmz":
        return parse_kml(_kml_from_kmz(data, path), path)
    if kind == "tcx":
        return parse_tcx(data, path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise TrackFormatError(path, f"cannot read: {error}") from error
    return parse_kml(text, path) if kind == "kml" else parse_geojson(text, path)


def expand_track_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders replaced by the track files under them (any depth, suffixes in any case, hidden
    files and folders left out), sorted so that runs are repeatable."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            out.append(path)
            continue
        found = [child for child in path.rglob("*") if child.suffix.lower() in TRACK_SUFFIXES and child.is_file()
                 and not any(part.startswith(".") for part in child.relative_to(path).parts)
                 and _looks_like_track(child)]
        out += sorted(found)
    return out


_HEAD_BYTES = 4096
_GEOJSON_TYPES = ('"FeatureCollection"', '"Feature"', '"LineString"', '"MultiLineString"', '"Point"')


def _looks_like_track(path: Path) -> bool:
    """Whether a file found in a folder is a track: suffixes that other files share (.json settings, photo
    sidecars from Google Photos, .csv tables, .log files) are kept only when their head looks like one."""
    kind = TRACK_SUFFIXES[path.suffix.lower()]
    if kind not in ("json", "geojson", "csv", "nmea"):
        return True
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            head = handle.read(_HEAD_BYTES)
    except OSError:
        return True  # let the reader say why it cannot be read
    if kind in ("json", "geojson"):
        return looks_like_takeout(head) or any(name in head for name in _GEOJSON_TYPES)
    if kind == "nmea":
        return any(marker in head for marker in ("$GP", "$GN", "$GL", "$GA", "$GB"))
    first = head.splitlines()[0].lower() if head else ""
    has_position = any(name in first for name in ("lat", "lon", "lng"))
    return has_position and any(name in first for name in ("time", "date", "utc"))


def load_tracks(paths: Iterable[str | Path]) -> tuple[list[Track], list[TrackFormatError]]:
    """Read every file (folders: every track file in them); bad files are returned as errors, the batch goes on."""
    tracks, errors = [], []
    for path in expand_track_paths(paths):
        try:
            tracks.append(load_track(path))
        except TrackFormatError as error:
            errors.append(error)
    return tracks, errors


def parse_gpx(text: str | bytes, path: str | Path = "<gpx>") -> Track:
    """Track from GPX text or bytes (see gpx.py)."""
    return parse_gpx_bytes(text.encode("utf-8") if isinstance(text, str) else text, Path(path))


def _kml_from_kmz(data: bytes, path: Path) -> str:
    """The main KML of a KMZ: doc.kml, else the first .kml at the top, else the first anywhere."""
    try:
        with zipfile.ZipFile(BytesIO(data)) as archive:
            names = [info for info in archive.infolist() if info.filename.lower().endswith(".kml")]
            if not names:
                raise TrackFormatError(path, "KMZ without a .kml inside")
            names.sort(key=lambda info: (info.filename.lower() != "doc.kml", "/" in info.filename, info.filename))
            if names[0].file_size > MAX_KMZ_KML_BYTES:
                raise TrackFormatError(path, f"{names[0].filename} inside the KMZ is too large")
            return archive.read(names[0]).decode("utf-8-sig")
    except (zipfile.BadZipFile, UnicodeDecodeError, OSError) as error:
        raise TrackFormatError(path, f"not a readable KMZ: {error}") from error


def parse_tcx(data: bytes, path: str | Path = "<tcx>") -> Track:
    """Track from TCX (Garmin Training Center): every <Track> is a segment of timed <Trackpoint>s."""
    path = Path(path)
    points = Points()
    segment = 0
    try:
        for event, element in ElementTree.iterparse(BytesIO(data), events=("start", "end")):
            name = _local(element.tag)
            if event == "start":
                segment = points.new_segment() if name == "Track" else segment
            elif name == "Trackpoint":
                _tcx_point(path, element, points, segment)
                element.clear()
    except ElementTree.ParseError as error:
        raise TrackFormatError(path, f"not valid XML: {error}", line=error.position[0]) from error
    return points.finish(path)


def _tcx_point(path: Path, element: ElementTree.Element, points: Points, segment: int) -> None:
    values = {_local(child.tag): (child.text or "").strip() for child in element.iter()}
    if "LatitudeDegrees" not in values or "LongitudeDegrees" not in values:
        points.skipped += 1  # a point without position (indoor, signal lost)
        return
    try:
        lat, lon = float(values["LatitudeDegrees"]), float(values["LongitudeDegrees"])
        altitude = float(values["AltitudeMeters"]) if values.get("AltitudeMeters") else None
    except ValueError:
        raise TrackFormatError(path, f"unreadable Trackpoint at {values.get('Time', '?')}",
                               record=len(points.times_s) + points.skipped + 1) from None
    points.add(parse_time_s(values.get("Time")), lat, lon, altitude, segment)


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
    points = Points()
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
    return points.finish(path)


def _read_gx_track(path: Path, gx_track: ElementTree.Element, points: Points) -> None:
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


def _read_timed_line(path: Path, placemark: ElementTree.Element, line: ElementTree.Element, points: Points) -> None:
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
        if not (abs(lat) <= 90.0 and abs(lon) <= 180.0):
            raise TrackFormatError(path, f"coordinate out of range: lat {lat}, lon {lon}")
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
    points = Points()
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
    return points.finish(path)


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


def _read_geojson_lines(path: Path, kind: str, coordinates: Any, properties: dict[str, Any], points: Points) -> None:
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
