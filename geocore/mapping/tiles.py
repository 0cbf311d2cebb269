"""Offline tile archives the user supplies: MBTiles (SQLite) and PMTiles v3, raster or vector (Mapbox Vector Tiles,
"pbf") tiles read by z/x/y; vector tiles come out decompressed, as the page's decoder reads them."""

from __future__ import annotations

import gzip
import sqlite3
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RASTER_FORMATS = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}
PMTILES_TYPES = {1: "pbf", 2: "png", 3: "jpg", 4: "webp", 5: "avif"}
VECTOR_FORMATS = {"pbf", "mvt"}
PMTILES_COMPRESSIONS = {0: "unknown", 1: "none", 2: "gzip", 3: "brotli", 4: "zstd"}
PMTILES_HEADER_BYTES = 127
MAX_DIRECTORY_DEPTH = 4


class TileArchiveError(ValueError):
    """A file that is not a tile archive we can draw, with the reason in words."""


@dataclass
class ArchiveInfo:
    """What the map needs to know about an archive: tile format, zoom range, bounds, attribution."""

    path: str
    kind: str  # "mbtiles" | "pmtiles"
    tile_format: str  # "png" | "jpg" | "webp" | "pbf"
    min_zoom: int = 0
    max_zoom: int = 14
    bounds: tuple[float, float, float, float] | None = None  # west, south, east, north
    attribution: str = ""
    name: str = ""

    @property
    def raster(self) -> bool:
        return self.tile_format in RASTER_FORMATS

    @property
    def vector(self) -> bool:
        return self.tile_format in VECTOR_FORMATS

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "format": self.tile_format, "min_zoom": self.min_zoom, "max_zoom": self.max_zoom,
                "bounds": list(self.bounds) if self.bounds else None, "attribution": self.attribution,
                "name": self.name or Path(self.path).name, "mime": RASTER_FORMATS.get(self.tile_format, ""),
                "vector": self.vector}


class MBTiles:
    """An MBTiles file (tiles table with TMS rows); one connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        try:
            metadata = dict(self._db().execute("SELECT name, value FROM metadata").fetchall())
        except sqlite3.DatabaseError as error:
            raise TileArchiveError(f"{path.name}: not an MBTiles file ({error})") from None
        bounds = _floats(metadata.get("bounds", ""))
        zooms = self._db().execute("SELECT MIN(zoom_level), MAX(zoom_level) FROM tiles").fetchone()
        min_zoom, max_zoom = int(metadata.get("minzoom", zooms[0] or 0)), int(metadata.get("maxzoom", zooms[1] or 0))
        tile_format = str(metadata.get("format", "png")).lower()
        tile_format = "pbf" if tile_format in ("mvt", "application/x-protobuf", "application/vnd.mapbox-vector-tile") \
            else tile_format
        self.info = ArchiveInfo(str(path), "mbtiles", tile_format, min_zoom, max_zoom,
                                bounds, str(metadata.get("attribution", "")), str(metadata.get("name", "")))

    def _db(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._local.connection = connection
        return connection

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The tile's bytes (XYZ numbering), None when the archive has none there."""
        row = self._db().execute("SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                                 (z, x, (1 << z) - 1 - y)).fetchone()
        if not row:
            return None
        data = bytes(row[0])
        if self.info.vector and data[:2] == b"\x1f\x8b":  # MBTiles vector tiles are usually gzipped
            try:
                return gzip.decompress(data)
            except (OSError, EOFError) as error:
                raise TileArchiveError(f"{self.path.name}: a broken gzip tile at {z}/{x}/{y} ({error})") from None
        return data


def _floats(text: str) -> tuple[float, float, float, float] | None:
    try:
        values = [float(v) for v in str(text).split(",")]
    except ValueError:
        return None
    return (values[0], values[1], values[2], values[3]) if len(values) == 4 else None


def zxy_to_tile_id(z: int, x: int, y: int) -> int:
    """PMTiles' tile id: tiles of lower zooms first, then the Hilbert index within the zoom."""
    base = ((1 << (2 * z)) - 1) // 3
    n = 1 << z
    rx = ry = 0
    d = 0
    s = n >> 1
    while s > 0:
        rx = 1 if x & s else 0
        ry = 1 if y & s else 0
        d += s * s * ((3 * rx) ^ ry)
        if ry == 0:  # rotate the quadrant
            if rx == 1:
                x, y = s - 1 - x, s - 1 - y
            x, y = y, x
        s >>= 1
    return base + d


@dataclass
class _Entry:
    tile_id: int
    offset: int
    length: int
    run_length: int


def _varints(data: bytes, position: int, count: int) -> tuple[list[int], int]:
    values = []
    for _ in range(count):
        value = shift = 0
        while True:
            if position >= len(data):
                raise TileArchiveError("PMTiles directory ends early")
            byte = data[position]
            position += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        values.append(value)
    return values, position


def parse_directory(data: bytes) -> list[_Entry]:
    """A PMTiles v3 directory (already decompressed)."""
    (count,), position = _varints(data, 0, 1)
    if count > len(data):
        raise TileArchiveError("PMTiles directory claims more entries than it has bytes")
    deltas, position = _varints(data, position, count)
    runs, position = _varints(data, position, count)
    lengths, position = _varints(data, position, count)
    offsets, position = _varints(data, position, count)
    entries: list[_Entry] = []
    tile_id = 0
    for index in range(count):
        tile_id += deltas[index]
        offset = offsets[index] - 1 if offsets[index] else entries[-1].offset + entries[-1].length
        entries.append(_Entry(tile_id, offset, lengths[index], runs[index]))
    return entries


@dataclass
class PMTiles:
    """A PMTiles v3 archive on disk (clustered or not); directories are cached as they are read."""

    path: Path
    info: ArchiveInfo = field(init=False)
    _directories: dict[tuple[int, int], list[_Entry]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        header = self._read(0, PMTILES_HEADER_BYTES)
        if len(header) < PMTILES_HEADER_BYTES or header[:7] != b"PMTiles" or header[7] != 3:
            raise TileArchiveError(f"{self.path.name}: not a PMTiles v3 archive")
        fields = struct.unpack("<QQQQQQQQ", header[8:72])
        (self.root_offset, self.root_length, _meta_offset, _meta_length, self.leaf_offset, _leaf_length,
         self.data_offset, _data_length) = fields
        self.internal_compression, self.tile_compression, tile_type = header[97], header[98], header[99]
        min_zoom, max_zoom = header[100], header[101]
        west, south, east, north = (v / 1e7 for v in struct.unpack("<iiii", header[102:118]))
        self.info = ArchiveInfo(str(self.path), "pmtiles", PMTILES_TYPES.get(tile_type, "unknown"), min_zoom,
                                max_zoom, (west, south, east, north))
        for compression in (self.internal_compression, self.tile_compression):
            if compression not in (0, 1, 2):
                name = PMTILES_COMPRESSIONS.get(compression, str(compression))
                raise TileArchiveError(f"{self.path.name}: {name} compression is not supported (none or gzip)")

    def _read(self, offset: int, length: int) -> bytes:
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            return handle.read(length)

    def _decompress(self, data: bytes, compression: int) -> bytes:
        if compression in (0, 1):
            return data
        if compression == 2:
            try:
                return gzip.decompress(data)
            except (OSError, EOFError) as error:
                raise TileArchiveError(f"{self.path.name}: broken gzip data ({error})") from None
        name = PMTILES_COMPRESSIONS.get(compression, str(compression))
        raise TileArchiveError(f"{self.path.name}: {name} compression is not supported (none or gzip)")

    def _directory(self, offset: int, length: int) -> list[_Entry]:
        key = (offset, length)
        if key not in self._directories:
            self._directories[key] = parse_directory(self._decompress(self._read(offset, length),
                                                                      self.internal_compression))
        return self._directories[key]

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The tile's bytes (XYZ numbering), None when the archive has none there."""
        tile_id = zxy_to_tile_id(z, x, y)
        offset, length = self.root_offset, self.root_length
        for _ in range(MAX_DIRECTORY_DEPTH):
            entry = _find(self._directory(offset, length), tile_id)
            if entry is None:
                return None
            if entry.run_length > 0:
                return self._decompress(self._read(self.data_offset + entry.offset, entry.length),
                                        self.tile_compression)
            offset, length = self.leaf_offset + entry.offset, entry.length
        return None


def _find(entries: list[_Entry], tile_id: int) -> _Entry | None:
    """The entry holding tile_id: an exact run, or the leaf directory starting before it."""
    low, high = 0, len(entries) - 1
    while low <= high:
        middle = (low + high) // 2
        if entries[middle].tile_id < tile_id:
            low = middle + 1
        elif entries[middle].tile_id > tile_id:
            high = middle - 1
        else:
            return entries[middle]
    if high >= 0:
        entry = entries[high]
        if entry.run_length == 0 or tile_id - entry.tile_id < entry.run_length:
            return entry
    return None


def open_archive(path: Path) -> MBTiles | PMTiles:
    """Open an archive by its content (PMTiles magic, else SQLite); TileArchiveError says why not."""
    if not path.is_file():
        raise TileArchiveError(f"{path}: no such file")
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head.startswith(b"PMTiles"):
        return PMTiles(path)
    if head.startswith(b"SQLite format 3"):
        return MBTiles(path)
    raise TileArchiveError(f"{path.name}: neither PMTiles nor MBTiles")
