"""PNG location removal for strip: EXIF GPS in the eXIf chunk blanked in place, XMP location dropped.

PNG chunks carry their own length and CRC, so a chunk can be rewritten where it stands; the image (IDAT) chunks
are never touched. Writing GPS into PNGs is left to sidecars, as the issue asks.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from geocore.library import xmp
from geocore.library.errors import CorruptMetadata
from geocore.library.patches import Patch, apply_patches
from geocore.library.tiffio import strip_gps_patches

SIGNATURE = b"\x89PNG\r\n\x1a\n"
XMP_KEYWORD = b"XML:com.adobe.xmp"


@dataclass(frozen=True)
class Chunk:
    """A PNG chunk: `offset` of its length field, `length` of its data."""

    type: bytes
    offset: int
    length: int

    @property
    def data_start(self) -> int:
        """Offset of the chunk data."""
        return self.offset + 8

    @property
    def end(self) -> int:
        """Offset just past the CRC."""
        return self.offset + 12 + self.length


def read_chunks(data: bytes) -> list[Chunk]:
    """The chunks of a PNG; CorruptMetadata when the structure is broken."""
    if not data.startswith(SIGNATURE):
        raise CorruptMetadata("not a PNG file")
    chunks = []
    position = len(SIGNATURE)
    while position + 12 <= len(data):
        length, type_ = struct.unpack_from(">I4s", data, position)
        chunk = Chunk(type_, position, length)
        if chunk.end > len(data):
            raise CorruptMetadata(f"chunk {type_!r} runs past the end")
        chunks.append(chunk)
        position = chunk.end
        if type_ == b"IEND":
            break
    return chunks


def _chunk_bytes(type_: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + type_ + body + struct.pack(">I", zlib.crc32(type_ + body))


def _xmp_chunk_without_location(data: bytes, chunk: Chunk) -> bytes | None:
    """The iTXt XMP chunk rewritten without location, None when it has none (or is compressed)."""
    body = data[chunk.data_start : chunk.data_start + chunk.length]
    keyword, _, rest = body.partition(b"\x00")
    if keyword != XMP_KEYWORD or len(rest) < 2 or rest[0] != 0:  # compressed XMP: left alone
        return None
    _language, _, rest_after_language = rest[2:].partition(b"\x00")
    _translated, _, packet = rest_after_language.partition(b"\x00")
    stripped = xmp.strip_location_packet(packet)
    if stripped == packet:
        return None
    return _chunk_bytes(b"iTXt", body[: len(body) - len(packet)] + stripped)


def strip_location_png(data: bytes) -> list[Patch]:
    """Patches removing EXIF GPS (eXIf) and XMP location (iTXt) from a PNG."""
    patches = []
    for chunk in read_chunks(data):
        if chunk.type == b"eXIf":
            tiff = data[chunk.data_start : chunk.data_start + chunk.length]
            inner = strip_gps_patches(tiff)
            if inner:
                patches.append(Patch(chunk.offset, data[chunk.offset : chunk.end],
                                     _chunk_bytes(b"eXIf", apply_patches(tiff, inner))))
        elif chunk.type == b"iTXt":
            new_chunk = _xmp_chunk_without_location(data, chunk)
            if new_chunk is not None:
                patches.append(Patch(chunk.offset, data[chunk.offset : chunk.end], new_chunk))
    return patches


def image_chunks_unchanged(old: bytes, new: bytes) -> bool:
    """True when the IHDR/PLTE/IDAT chunks are byte-identical and in the same order."""
    kinds = (b"IHDR", b"PLTE", b"IDAT", b"fdAT", b"acTL", b"fcTL")
    before = [c for c in read_chunks(old) if c.type in kinds]
    after = [c for c in read_chunks(new) if c.type in kinds]
    return len(before) == len(after) and all(
        (a.type, a.length) == (b.type, b.length) and new.startswith(memoryview(old)[a.offset : a.end], b.offset)
        for a, b in zip(before, after, strict=True))
