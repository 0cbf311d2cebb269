"""GPX 1.0/1.1 into numpy arrays, fast: tracks (<trkseg>), routes (<rte>) and waypoints (<wpt>) with times.

Every <trkseg> and every <rte> is a segment; the timed <wpt> of a file together form one more (a phone app's
"mark my position" points). <ele>, <time>, <sat> and <hdop> are read.

Two readers give the same arrays. The fast one matches each point with one regular expression over the bytes,
in the element order the GPX schema prescribes (ele, time, ..., sat, hdop, ...), and converts whole columns with
numpy: about ten times gpxpy on a million points. It is used only when it accounts for every point of the file
(the count of "<trkpt", "<rtept" and "<wpt" openings); anything unusual (namespace prefixes, comments holding
points, self-closing points, entities) falls back to the streaming ElementTree reader, which reads any GPX.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ElementTree
from io import BytesIO
from pathlib import Path

import numpy as np

from geotagger.geocore.timesync.gpx_columns import optional_numbers, read_gpx_columns
from geotagger.geocore.timesync.points import Points, TrackFormatError, finish_arrays, iso_times_s, parse_time_s
from geotagger.geocore.timesync.track import Track

_log = logging.getLogger(__name__)

_ATTRIBUTE = rb"""\s*=\s*["']([^"'<>]*)["']"""
_QUALITY = rb"(?:(?:(?!<sat>|</{tag}>).)*?<sat>([^<]*)</sat>)?(?:(?:(?!<hdop>|</{tag}>).)*?<hdop>([^<]*)</hdop>)?"
_ELE_AFTER_TIME = re.compile(rb"</time>\s*<ele>")
_SEGMENT_END = re.compile(rb"</(?:trkseg|rte)\s*>")
_KINDS = (b"trkpt", b"rtept", b"wpt")


def _pattern(tag: bytes, lon_first: bool, quality: bool) -> re.Pattern[bytes]:
    """One point in the GPX schema's element order: lat/lon, then ele, time (and sat, hdop when asked)."""
    first, second = (b"lon", b"lat") if lon_first else (b"lat", b"lon")
    head = rb"<" + tag + rb"\s+" + first + _ATTRIBUTE + rb"\s+" + second + _ATTRIBUTE + rb"\s*>"
    # <ele> before <time> as the schema says, or after it as some phone apps write it
    body = rb"\s*(?:<ele>([^<]*)</ele>)?\s*(?:<time>([^<]*)</time>)?\s*(?:<ele>([^<]*)</ele>)?"
    # without sat/hdop the rest of the point need not be matched: ele and time must follow the tag at once, so they
    # can only be this point's; the count of openings still proves that every point was matched
    rest = (_QUALITY.replace(b"{tag}", tag) + rb".*?</" + tag + rb"\s*>") if quality else b""
    return re.compile(head + body + rest, re.S)


def parse_gpx_bytes(data: bytes, path: Path) -> Track:
    """Track from the bytes of a GPX file: the column reader (gpx_columns) when it can vouch for the file, else
    the regular expressions when they account for every point, else the streaming ElementTree reader."""
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    columns = read_gpx_columns(data, path)
    if columns is not None:
        _log.debug("%s: read by the column reader", path)
        return columns
    if b"<!--" not in data and b"&" not in data and b"<![CDATA[" not in data:
        fast = _fast(data, path)
        if fast is not None:
            _log.debug("%s: the column reader declined; read by the regular expressions", path)
            return fast
    _log.debug("%s: the column reader and the regular expressions declined; read by ElementTree", path)
    return _streaming(data, path)


def _fast(data: bytes, path: Path) -> Track | None:
    """The regular-expression reader; None when it does not account for every point."""
    if not data[-256:].rstrip().endswith(b"</gpx>"):
        return None  # cut off: the streaming reader says where, and keeps the points before
    quality = b"<hdop>" in data or b"<sat>" in data
    # one segment or route (the usual logger file) needs no split, and no copy of the file
    several = data.count(b"</trkseg") + data.count(b"</rte") > 1
    pieces = _SEGMENT_END.split(data) if several else [data]
    tables: list[np.ndarray] = []
    segments: list[np.ndarray] = []
    for kind, tag in enumerate(_KINDS):
        expected = data.count(b"<" + tag)  # a count that includes anything else starting so falls back: correct
        if not expected:
            continue
        if data.count(b"</" + tag) != expected:
            return None  # a self-closing or unclosed point
        simple = not quality and _ELE_AFTER_TIME.search(data) is None
        found = _strict(tag, kind, pieces, expected, tables, segments) if simple else 0
        for lon_first in (False, True) if found != expected else ():
            pattern = _pattern(tag, lon_first, quality)
            for index, piece in enumerate(pieces):
                rows = pattern.findall(piece)
                if rows:
                    table = np.array(rows, dtype="S")
                    tables.append(table[:, [1, 0, *range(2, table.shape[1])]] if lon_first else table)
                    segments.append(np.full(len(rows), len(pieces) if kind == 2 else index))
                    found += len(rows)
            if found == expected:
                break
        if found != expected:
            return None
    if not tables:
        return None  # the streaming reader tells an empty GPX from a file that is not GPX at all
    return _from_tables(path, tables, segments, quality, data)


def _strict(tag: bytes, kind: int, pieces: list[bytes], expected: int, tables: list[np.ndarray],
            segments: list[np.ndarray]) -> int:
    """The layout nearly every logger writes (`<trkpt lat="." lon="."><ele>.</ele><time>.</time>`), matched by a
    simpler pattern (a third faster); 0, adding nothing, unless it accounts for every point of this kind."""
    pattern = re.compile(b"<" + tag + rb' lat="([^"<>]*)" lon="([^"<>]*)">(?:<ele>([^<]*)</ele>)?'
                         rb"(?:<time>([^<]*)</time>)?")
    found_tables, found_segments, found = [], [], 0
    for index, piece in enumerate(pieces):
        rows = pattern.findall(piece)
        if rows:
            table = np.array(rows, dtype="S")
            found_tables.append(np.concatenate([table, np.zeros((len(rows), 1), dtype=table.dtype)], axis=1))
            found_segments.append(np.full(len(rows), len(pieces) if kind == 2 else index))
            found += len(rows)
    if found != expected:
        return 0
    tables += found_tables
    segments += found_segments
    return found


def _from_tables(path: Path, tables: list[np.ndarray], segments: list[np.ndarray], quality: bool,
                 data: bytes) -> Track | None:
    width = max(table.shape[1] for table in tables)
    columns = [np.concatenate([table[:, k] for table in tables]) for k in range(width)]
    # a <time> or <ele> the patterns did not take (after another child, with an attribute, given twice) would be
    # lost: every one in the file is a point's, bar the <metadata> time before the first point
    first_point = min(at for at in (data.find(b"<" + tag) for tag in _KINDS) if at >= 0)
    for name, taken in ((b"<time", columns[3]), (b"<ele", np.concatenate([columns[2], columns[4]]))):
        if data.count(name) != int((taken != b"").sum()) + data.count(name, 0, first_point):
            return None
    lat, lon = optional_numbers(columns[0]), optional_numbers(columns[1])
    if not (np.isfinite(lat).all() and np.isfinite(lon).all()):
        return None  # the streaming reader names the point
    altitude, times = optional_numbers(columns[2]), iso_times_s(columns[3])  # it strips what it must
    altitude = np.where(np.isnan(altitude), optional_numbers(columns[4]), altitude)
    satellites, hdop = (optional_numbers(columns[5]), optional_numbers(columns[6])) if quality else (None, None)
    return finish_arrays(path, times, lat, lon, altitude, np.concatenate(segments), hdop, satellites)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _streaming(data: bytes, path: Path) -> Track:
    """Any GPX through ElementTree.iterparse, each point cleared once read (bounded memory)."""
    points = Points()
    waypoint_segment: int | None = None
    segment = points.new_segment()
    try:
        for event, element in ElementTree.iterparse(BytesIO(data), events=("start", "end")):
            name = _local(element.tag)
            if event == "start":
                if name in ("trkseg", "rte"):
                    segment = points.new_segment()
                continue
            if name in ("trkpt", "rtept", "wpt"):
                if name == "wpt" and waypoint_segment is None:
                    waypoint_segment = points.new_segment()
                _add_element(path, element, points, segment if waypoint_segment is None or name != "wpt"
                             else waypoint_segment)
                element.clear()
    except ElementTree.ParseError as error:
        line = error.position[0] if error.position else None
        if not points.times_s:
            raise TrackFormatError(path, f"not valid GPX: {error}", line=line) from error
        # a logger that died mid-write leaves a cut-off file: the points before the break are still good
        points.notes.append(f"{path}: line {line}: not valid GPX ({error}); the {len(points.times_s)} points "
                            "before it are used")
    return points.finish(path)


def _add_element(path: Path, element: ElementTree.Element, points: Points, segment: int) -> None:
    children = {_local(child.tag): (child.text or "").strip() for child in element}
    try:
        lat, lon = float(element.get("lat", "")), float(element.get("lon", ""))
    except ValueError:
        raise TrackFormatError(path, f"<{_local(element.tag)}> without a readable lat/lon",
                               record=len(points.times_s) + points.skipped + 1) from None
    points.add(parse_time_s(children.get("time")), lat, lon, _maybe(children.get("ele")), segment,
               _maybe(children.get("hdop")), _maybe(children.get("sat")))


def _maybe(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return None
