"""Small tile archives made in a test: MBTiles (SQLite) and PMTiles v3 with a few coloured PNG tiles."""

from __future__ import annotations

import gzip
import io
import sqlite3
import struct
from pathlib import Path

from PIL import Image

from geotagger.geocore.mapping.tiles import zxy_to_tile_id


def png_tile(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (256, 256), colour).save(out, "PNG")
    return out.getvalue()


def tiles_around(lat_lon: tuple[float, float], zooms: range) -> dict[tuple[int, int, int], bytes]:
    """A 3x3 block of tiles around a point at each zoom, coloured by zoom."""
    import math

    lat, lon = lat_lon
    tiles = {}
    for z in zooms:
        n = 1 << z
        x = int((lon + 180) / 360 * n)
        y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                if 0 <= x + dx < n and 0 <= y + dy < n:
                    tiles[(z, x + dx, y + dy)] = png_tile((40 * z % 255, 120, 200))
    return tiles


def write_mbtiles(path: Path, tiles: dict[tuple[int, int, int], bytes], tile_format: str = "png") -> Path:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    db.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)")
    zooms = [z for z, _, _ in tiles]
    db.executemany("INSERT INTO metadata VALUES (?, ?)", [("name", "test streets"), ("format", tile_format),
                   ("minzoom", str(min(zooms))), ("maxzoom", str(max(zooms))), ("attribution", "test tiles")])
    db.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)",
                   [(z, x, (1 << z) - 1 - y, data) for (z, x, y), data in tiles.items()])
    db.commit()
    db.close()
    return path


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def write_pmtiles(path: Path, tiles: dict[tuple[int, int, int], bytes], bounds=(-180.0, -85.0, 180.0, 85.0),
                  tile_type: int = 2, tile_compression: int = 1) -> Path:
    """A clustered PMTiles v3 archive with one gzip root directory (no leaves); tiles stored as given (type 2 PNG,
    1 vector; compression 1 none, 2 gzip)."""
    entries = sorted((zxy_to_tile_id(z, x, y), data) for (z, x, y), data in tiles.items())
    blob, offsets = bytearray(), []
    for _, data in entries:
        offsets.append(len(blob))
        blob += data
    directory = bytearray(_varint(len(entries)))
    previous = 0
    for tile_id, _ in entries:
        directory += _varint(tile_id - previous)
        previous = tile_id
    directory += b"".join(_varint(1) for _ in entries)
    directory += b"".join(_varint(len(data)) for _, data in entries)
    directory += b"".join(_varint(offset + 1) for offset in offsets)
    root = gzip.compress(bytes(directory))
    metadata = gzip.compress(b"{}")
    zooms = [z for z, _, _ in tiles]
    root_offset = 127
    meta_offset = root_offset + len(root)
    data_offset = meta_offset + len(metadata)
    header = b"PMTiles" + bytes([3])
    header += struct.pack("<QQQQQQQQ", root_offset, len(root), meta_offset, len(metadata), data_offset, 0,
                          data_offset, len(blob))
    header += struct.pack("<QQQ", len(entries), len(entries), len(entries))
    header += bytes([1, 2, tile_compression, tile_type, min(zooms), max(zooms)])
    header += struct.pack("<iiii", *(round(v * 1e7) for v in bounds))
    header += bytes([min(zooms)]) + struct.pack("<ii", 0, 0)
    assert len(header) == 127
    path.write_bytes(header + root + metadata + bytes(blob))
    return path


# ----- Mapbox Vector Tiles (protobuf), encoded by hand: the spec's Tile/Layer/Feature messages and geometry commands


def _field(number: int, wire_type: int) -> bytes:
    return _varint((number << 3) | wire_type)


def _bytes_field(number: int, data: bytes) -> bytes:
    return _field(number, 2) + _varint(len(data)) + data


def _zigzag(value: int) -> int:
    return (value << 1) ^ (value >> 31)


def _geometry(rings: list[list[tuple[int, int]]], closed: bool) -> list[int]:
    """MoveTo / LineTo (/ ClosePath) commands with zigzag deltas from the previous point."""
    out: list[int] = []
    cx = cy = 0
    for ring in rings:
        points = ring[:-1] if closed and ring[0] == ring[-1] else ring
        out += [(1 & 7) | (1 << 3), _zigzag(points[0][0] - cx), _zigzag(points[0][1] - cy)]
        cx, cy = points[0]
        out.append((2 & 7) | ((len(points) - 1) << 3))
        for x, y in points[1:]:
            out += [_zigzag(x - cx), _zigzag(y - cy)]
            cx, cy = x, y
        if closed:
            out.append((7 & 7) | (1 << 3))
    return out


def mvt_layer(name: str, features: list[tuple[int, list[list[tuple[int, int]]], dict[str, str]]],
              extent: int = 4096) -> bytes:
    """One layer: features are (geometry type 1/2/3, rings or lines in tile units, string properties)."""
    keys: list[str] = []
    values: list[str] = []
    body = _field(15, 0) + _varint(2) + _bytes_field(1, name.encode())
    for index, (geometry_type, rings, properties) in enumerate(features):
        tags: list[int] = []
        for key, value in properties.items():
            if key not in keys:
                keys.append(key)
            if value not in values:
                values.append(value)
            tags += [keys.index(key), values.index(value)]
        packed_tags = b"".join(_varint(t) for t in tags)
        packed_geometry = b"".join(_varint(c) for c in _geometry(rings, geometry_type == 3))
        feature = (_field(1, 0) + _varint(index + 1) + _bytes_field(2, packed_tags) + _field(3, 0)
                   + _varint(geometry_type) + _bytes_field(4, packed_geometry))
        body += _bytes_field(2, feature)
    body += b"".join(_bytes_field(3, k.encode()) for k in keys)
    body += b"".join(_bytes_field(4, _bytes_field(1, v.encode())) for v in values)
    body += _field(5, 0) + _varint(extent)
    return _bytes_field(3, body)


def vector_tile(z: int, x: int, y: int) -> bytes:
    """A tile with a lake (polygon) in its middle, its name (a point), two crossing streets (lines), a building."""
    lake = [[(1024, 1024), (3072, 1024), (3072, 3072), (1024, 3072), (1024, 1024)]]
    streets = [[(0, 512), (4096, 512)], [(512, 0), (512, 4096)]]
    building = [[(3300, 3300), (3800, 3300), (3800, 3800), (3300, 3800), (3300, 3300)]]
    return (mvt_layer("water", [(3, lake, {"class": "lake", "name": f"lake {z}/{x}/{y}"})])
            + mvt_layer("water_name", [(1, [[(2048, 2048)]], {"name": "a label point, left to our labels"})])
            + mvt_layer("transportation", [(2, [line], {"class": "street"}) for line in streets])
            + mvt_layer("building", [(3, building, {})]))


def vector_tiles_around(lat_lon: tuple[float, float], zooms: range,
                        compress: bool = True) -> dict[tuple[int, int, int], bytes]:
    """A 3x3 block of vector tiles around a point at each zoom (gzipped, as archives usually store them)."""
    return {key: (gzip.compress(vector_tile(*key)) if compress else vector_tile(*key))
            for key in tiles_around(lat_lon, zooms)}
