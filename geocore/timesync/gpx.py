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

import re
import xml.etree.ElementTree as ElementTree
from io import BytesIO
from pathlib import Path

import numpy as np

from geocore.timesync.points import FloatArray, Points, TrackFormatError, finish_arrays, iso_times_s, parse_time_s
from geocore.timesync.track import Track

_ATTRIBUTE = rb"""\s*=\s*["']([^"'<>]*)["']"""
_POINT = re.compile(
    rb"<(trkpt|rtept|wpt)\s+(?:lat" + _ATTRIBUTE + rb"\s+lon" + _ATTRIBUTE + rb"|lon" + _ATTRIBUTE + rb"\s+lat"
    + _ATTRIBUTE + rb")\s*>"
    rb"\s*(?:<ele>([^<]*)</ele>)?\s*(?:<time>([^<]*)</time>)?"
    rb"(?:(?:(?!<sat>|</\1>).)*?<sat>([^<]*)</sat>)?"
    rb"(?:(?:(?!<hdop>|</\1>).)*?<hdop>([^<]*)</hdop>)?"
    rb".*?</\1\s*>",
    re.S,
)
_SEGMENT_END = re.compile(rb"</(?:trkseg|rte)\s*>")
_KINDS = {b"trkpt": 0, b"rtept": 1, b"wpt": 2}


def parse_gpx_bytes(data: bytes, path: Path) -> Track:
    """Track from the bytes of a GPX file (fast reader when it covers the file, else the streaming one)."""
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    openings = sum(len(re.findall(rb"<" + name + rb"[\s>/]", data)) for name in _KINDS)
    if b"<!--" not in data and b"&" not in data and b"<![CDATA[" not in data:
        fast = _fast(data, path, openings)
        if fast is not None:
            return fast
    return _streaming(data, path)


def _fast(data: bytes, path: Path, openings: int) -> Track | None:
    """The regular-expression reader; None when it does not account for every point."""
    pieces = _SEGMENT_END.split(data)
    rows: list[tuple[bytes, ...]] = []
    piece_of_row: list[int] = []
    for index, piece in enumerate(pieces):
        found = _POINT.findall(piece)
        rows += found
        piece_of_row += [index] * len(found)
    if len(rows) != openings:
        return None
    if not rows:
        return None  # the streaming reader tells an empty GPX from a file that is not GPX at all
    table = np.array(rows, dtype="S")
    kind = np.array([_KINDS[k] for k in table[:, 0].tolist()]) if len(set(table[:, 0].tolist())) > 1 else \
        np.full(len(rows), _KINDS[bytes(table[0, 0])])
    swapped = table[:, 1] == b""
    if swapped.any():  # lon="..." lat="...": the other pair of groups
        lat = np.where(swapped, _optional_numbers(table[:, 4]), _optional_numbers(table[:, 1]))
        lon = np.where(swapped, _optional_numbers(table[:, 3]), _optional_numbers(table[:, 2]))
    else:
        lat, lon = _optional_numbers(table[:, 1]), _optional_numbers(table[:, 2])
    if not (np.isfinite(lat).all() and np.isfinite(lon).all()):
        return None  # the streaming reader names the point
    altitude, times = _optional_numbers(table[:, 5]), iso_times_s(table[:, 6])
    satellites, hdop = _optional_numbers(table[:, 7]), _optional_numbers(table[:, 8])
    segment = np.where(kind == 2, len(pieces), np.asarray(piece_of_row))
    return finish_arrays(path, times, lat, lon, altitude, segment, hdop, satellites)


def _optional_numbers(column: np.ndarray) -> FloatArray:
    column = np.char.strip(column)
    out = np.full(column.shape, np.nan)
    present = column != b""
    if present.any():
        try:
            out[present] = column[present].astype(np.float64)
        except ValueError:
            out[present] = [_number_or_nan(value) for value in column[present].tolist()]
    return out


def _number_or_nan(value: bytes) -> float:
    try:
        return float(value)
    except ValueError:
        return float("nan")


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
        raise TrackFormatError(path, f"not valid GPX: {error}", line=line) from error
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
