"""Small tile archives made in a test: MBTiles (SQLite) and PMTiles v3 with a few coloured PNG tiles."""

from __future__ import annotations

import gzip
import io
import sqlite3
import struct
from pathlib import Path

from PIL import Image

from geocore.mapping.tiles import zxy_to_tile_id


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


def write_mbtiles(path: Path, tiles: dict[tuple[int, int, int], bytes]) -> Path:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    db.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)")
    zooms = [z for z, _, _ in tiles]
    db.executemany("INSERT INTO metadata VALUES (?, ?)", [("name", "test streets"), ("format", "png"),
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


def write_pmtiles(path: Path, tiles: dict[tuple[int, int, int], bytes], bounds=(-180.0, -85.0, 180.0, 85.0)) -> Path:
    """A clustered PMTiles v3 archive with one gzip root directory (no leaves), tiles uncompressed."""
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
    header += bytes([1, 2, 1, 2, min(zooms), max(zooms)])
    header += struct.pack("<iiii", *(round(v * 1e7) for v in bounds))
    header += bytes([min(zooms)]) + struct.pack("<ii", 0, 0)
    assert len(header) == 127
    path.write_bytes(header + root + metadata + bytes(blob))
    return path
