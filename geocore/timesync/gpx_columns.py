"""GPX read column by column with numpy: no Python object per point (a million points in well under a second).

The file's bytes are one uint8 array. Every "<" is found at once and classified by the eight bytes after it (and
the root's namespace prefix, if the file uses one); a point is an opening `<trkpt`, `<rtept` or `<wpt` with its
closing tag, its `lat`/`lon` attributes (either order, either quote) are read from a fixed window after the name,
and its `<ele>`, `<time>`, `<sat>` and `<hdop>` are the text up to the next "<" of the recognised direct children
(the nesting depth of every tag is one cumulative sum). Numbers are converted by numpy, times by `iso_times_s`.

The reader declines (None, and gpx.py tries its regular expressions, then ElementTree) whenever it cannot prove
that it read the file as an XML parser would: entities, comments or CDATA, a point name anywhere it did not
recognise as a point's tag (so every "trkpt", "rtept", "wpt" in the file is accounted for), attributes laid out
otherwise, children with attributes, a recognised child nested deeper than a direct child, a child given twice.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

from geotagger.geocore.timesync.points import FloatArray, finish_arrays, iso_times_s
from geotagger.geocore.timesync.track import Track

IntArray = npt.NDArray[np.intp]
Bytes = npt.NDArray[np.uint8]
_ROOT = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?gpx[\s>/]")
_POINTS = (b"trkpt", b"rtept", b"wpt")
_CHILDREN = (b"ele", b"time", b"sat", b"hdop")
_SEGMENT_ENDS = (b"trkseg", b"rte")
_IS_SPACE = np.zeros(256, dtype=bool)
_IS_SPACE[[32, 9, 10, 13]] = True
_IS_QUOTE = np.zeros(256, dtype=bool)
_IS_QUOTE[[34, 39]] = True
_VALUE_WINDOW = 28  # "-116.9998257540824955" (a Python repr) and some white space
_MAX_VALUE = 64
MAX_BYTES = 256 << 20  # the index arrays take about four times the file: beyond this the other readers


class _Decline(Exception):
    """This reader cannot vouch for its reading of the file."""


def read_gpx_columns(data: bytes, path: Path) -> Track | None:
    """Track from GPX bytes, or None when this reader cannot vouch for the result (see the module docstring)."""
    root = _ROOT.search(data, 0, 1 << 16)
    if len(data) > MAX_BYTES or root is None or not data[-256:].rstrip().endswith(b"gpx>"):
        return None  # not GPX, or cut off: the streaming reader says where, and keeps the points before
    a = np.frombuffer(data, dtype=np.uint8)
    if (a == ord("&")).any():
        return None  # entities: ElementTree expands (or refuses) them
    try:
        return _Tags(data, a, root.group(1) + b":" if root.group(1) else b"").track(path)
    except _Decline:
        return None


def _windows(a: Bytes, starts: IntArray, width: int) -> Bytes:
    """Rows of `width` bytes from each start (zero past the end of the data)."""
    n = a.size
    near = starts > n - width
    if not near.any():
        return as_strided(a, shape=(n - width + 1, width), strides=(1, 1), writeable=False)[starts]
    # the few rows that run past the end (the last tags of a file) come from a padded copy of its tail only
    keep = min(n, width)
    tail = np.zeros(keep + width, dtype=np.uint8)
    tail[:keep] = a[n - keep:]
    out = np.empty((starts.size, width), dtype=np.uint8)
    out[near] = _windows(tail, np.minimum(starts[near], n) - (n - keep), width)
    if not near.all():
        out[~near] = _windows(a, starts[~near], width)
    return out


def _text(a: Bytes, starts: IntArray, lengths: IntArray, most: int) -> npt.NDArray[np.bytes_]:
    """The bytes from each start, each cut to its length (at most `most`), as a fixed-width bytes array
    (NUL-padded, which numpy ignores); white space around a value is stripped as ElementTree's readers do."""
    width = int(lengths.max(initial=1))
    if (lengths < 0).any() or width > most:
        raise _Decline
    width = max(width, 1)
    rows = _windows(a, starts, width)
    rows = np.where(np.arange(width) < lengths[:, None], rows, 0).astype(np.uint8)
    text = np.ascontiguousarray(rows).view(f"S{width}").ravel()
    last = rows[np.arange(rows.shape[0]), np.maximum(lengths - 1, 0)]
    if _IS_SPACE[rows[:, 0]].any() or _IS_SPACE[last].any():
        text = np.strings.strip(text)
    return text


def _code(name: bytes) -> int:
    return int.from_bytes(name, "little")


def _attribute(a: Bytes, start: IntArray) -> tuple[npt.NDArray[np.int64], FloatArray, IntArray]:
    """(name, value, index just past the closing quote) of ` nam="value"` (white space, a three-letter name) at
    each start."""
    head = _windows(a, start, 6)
    name = head[:, 1] | head[:, 2].astype(np.int64) << 8 | head[:, 3].astype(np.int64) << 16
    quote = head[:, 5]
    if not (_IS_SPACE[head[:, 0]] & (head[:, 4] == ord("=")) & _IS_QUOTE[quote]).all():
        raise _Decline
    rows = _windows(a, start + 6, _VALUE_WINDOW)
    closing = rows == quote[:, None]
    length = closing.argmax(axis=1)
    if not closing[np.arange(rows.shape[0]), length].all():
        raise _Decline
    text = np.where(np.arange(_VALUE_WINDOW) < length[:, None], rows, np.uint8(0)).view(f"S{_VALUE_WINDOW}").ravel()
    try:
        value = text.astype(np.float64)
    except ValueError:
        raise _Decline from None  # the other readers name the point
    return name, value, start + 6 + length + 1


class _Tags:
    """Every tag of the file, classified; the points and their children as index arrays into `lt`."""

    def __init__(self, data: bytes, a: Bytes, prefix: bytes) -> None:
        self.a, self.found = a, set[bytes]()
        self.lt = np.flatnonzero(a == ord("<"))
        after = a[self.lt + 1]  # the file ends in "gpx>": never a "<" last
        if (after == ord("!")).any():
            raise _Decline  # a comment, CDATA or a DOCTYPE
        self.closing = after == ord("/")
        # nesting depth before each tag; a self-closing tag counts as open, which only makes the tags after it
        # in the same element look deeper (never shallower), and a child that looks deeper declines
        step = np.where(self.closing, np.int8(-1), np.where(after == ord("?"), np.int8(0), np.int8(1)))
        self.depth = np.cumsum(step, dtype=np.int32) - step
        self.name_at = self.lt + 1 + self.closing + len(prefix)
        head = _windows(a, self.name_at, 4).view("<u4").ravel()  # the first four bytes of every tag's name
        if prefix:
            own = _windows(a, self.lt + 1 + self.closing, len(prefix)) == np.frombuffer(prefix, dtype=np.uint8)
            head = np.where(own.all(axis=1), head, np.uint32(0))
        self.head: npt.NDArray[np.uint32] = head
        self._head3: npt.NDArray[np.uint32] | None = None
        self._points()
        self._accounted(data)

    def _named(self, name: bytes) -> tuple[IntArray, Bytes]:
        """The tags called `name` (with the file's prefix) as indices into `lt`, and the byte after each name."""
        if len(name) >= 4:
            index = np.flatnonzero(self.head == np.uint32(_code(name[:4])))
        else:
            if self._head3 is None:
                self._head3 = self.head & np.uint32(0xFFFFFF)
            index = np.flatnonzero(self._head3 == np.uint32(_code(name)))
        rest = _windows(self.a, self.name_at[index] + min(len(name), 4), len(name) - min(len(name), 4) + 1)
        same = (rest[:, :-1] == np.frombuffer(name[4:], dtype=np.uint8)).all(axis=1)
        return index[same], rest[same, -1]

    def _ends(self, name: bytes) -> IntArray:
        index, after = self._named(name)
        return index[self.closing[index] & ((after == ord(">")) | _IS_SPACE[after])]

    def _points(self) -> None:
        opens, closes, kinds, close_kinds = [], [], [], []
        for kind, name in enumerate(_POINTS):
            index, after = self._named(name)
            opens.append(index[~self.closing[index] & _IS_SPACE[after]])
            closes.append(self._ends(name))
            kinds.append(np.full(opens[-1].size, kind))
            close_kinds.append(np.full(closes[-1].size, kind))
        self.opens, self.closes = np.concatenate(opens), np.concatenate(closes)
        if not self.opens.size or self.opens.size != self.closes.size:
            raise _Decline
        order, close_order = np.argsort(self.opens, kind="stable"), np.argsort(self.closes, kind="stable")
        self.opens, self.kinds, self.closes = self.opens[order], np.concatenate(kinds)[order], self.closes[close_order]
        if not ((self.opens < self.closes).all() and (self.closes[:-1] < self.opens[1:]).all()
                and (self.kinds == np.concatenate(close_kinds)[close_order]).all()):
            raise _Decline

    def _accounted(self, data: bytes) -> None:
        """Decline unless every "trkpt", "rtept" and "wpt" in the bytes is the name of a point's tag read here."""
        if sum(data.count(name) for name in _POINTS) != 2 * self.opens.size:
            raise _Decline

    def track(self, path: Path) -> Track:
        """The points as a Track."""
        lat, lon = self._coordinates()
        children = {name: self._child(name) for name in _CHILDREN}
        ends = np.sort(np.concatenate([self._ends(name) for name in _SEGMENT_ENDS]))
        segment = np.searchsorted(ends, self.opens)
        segment = np.where(self.kinds == 2, ends.size + 1, segment)  # the waypoints of the file: one more segment
        times = iso_times_s(children[b"time"])
        altitude, hdop, satellites = (optional_numbers(children[name]) for name in (b"ele", b"hdop", b"sat"))
        quality = (b"hdop" in self.found) or (b"sat" in self.found)
        return finish_arrays(path, times, lat, lon, altitude, segment, hdop if quality else None,
                             satellites if quality else None)

    def _coordinates(self) -> tuple[FloatArray, FloatArray]:
        """lat and lon of every point: ` lat="..." lon="...">` right after the name, either order, either quote."""
        lengths = np.array([len(name) for name in _POINTS])[self.kinds]
        name1, value1, after1 = _attribute(self.a, self.name_at[self.opens] + lengths)
        name2, value2, after2 = _attribute(self.a, after1)
        if not (self.a[np.minimum(after2, self.a.size - 1)] == ord(">")).all():
            raise _Decline
        lat_first = name1 == _code(b"lat")
        if not ((lat_first & (name2 == _code(b"lon"))) | (~lat_first & (name1 == _code(b"lon"))
                                                          & (name2 == _code(b"lat")))).all():
            raise _Decline
        if not (np.isfinite(value1).all() and np.isfinite(value2).all()):
            raise _Decline
        return np.where(lat_first, value1, value2), np.where(lat_first, value2, value1)

    def _child(self, name: bytes) -> npt.NDArray[np.bytes_]:
        """The text of every point's `<name>` child (b"" where it has none)."""
        index, after = self._named(name)
        opening = ~self.closing[index]
        if (opening & (_IS_SPACE[after] | (after == ord("/")))).any():
            raise _Decline  # with attributes or self-closing: ElementTree's reading is not this one
        found = index[opening & (after == ord(">"))]
        point = np.searchsorted(self.opens, found) - 1
        inside = (point >= 0) & (found < self.closes[np.maximum(point, 0)])
        found, point = found[inside], point[inside]
        if not found.size:
            return np.zeros(self.opens.size, dtype="S1")
        if (self.depth[found] != self.depth[self.opens[point]] + 1).any() or (np.diff(point) == 0).any():
            raise _Decline  # nested deeper than a direct child, or given twice
        self.found.add(name)
        start = self.name_at[found] + len(name) + 1
        values = _text(self.a, start, self.lt[found + 1] - start, _MAX_VALUE)
        if point.size == self.opens.size:
            return values  # every point has one, in order
        text = np.zeros(self.opens.size, dtype=values.dtype)
        text[point] = values
        return text


def optional_numbers(column: npt.NDArray[np.bytes_]) -> FloatArray:
    """Floats of a column of texts; NaN where a text is empty or not a number (as the streaming reader reads it)."""
    out = np.full(column.shape, np.nan)
    present = column != b""
    if present.all():
        try:
            return column.astype(np.float64)  # numpy's float parsing skips surrounding white space
        except ValueError:
            pass
    column = np.strings.strip(column)
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
