"""PNG location edits as patches: EXIF GPS in the `eXIf` chunk, XMP in the `iTXt` chunk `XML:com.adobe.xmp`.

PNG chunks carry their own length and CRC, so a chunk can be rewritten where it stands; the image (IDAT) chunks
are never touched. A write updates the existing eXIf and XMP chunks where they are, or adds them just before the
first IDAT (PNG 1.5 wants eXIf there; readers such as exiftool and exiv2 find XMP there too). A compressed XMP
chunk or a second eXIf is refused rather than left contradicting the new position.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from geocore.library import xmp
from geocore.library.errors import CorruptMetadata, Truncated
from geocore.library.gps import GpsFix
from geocore.library.patches import Patch, apply_patches
from geocore.library.tiffio import new_exif_tiff, set_gps_patches, strip_gps_patches

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


def _xmp_chunk_body(packet: bytes) -> bytes:
    """iTXt body: keyword, uncompressed, no language, no translated keyword, the packet."""
    return XMP_KEYWORD + b"\x00\x00\x00" + b"\x00" + b"\x00" + packet


def _xmp_packet(data: bytes, chunk: Chunk) -> bytes | None:
    """The packet of an iTXt XMP chunk; None for another iTXt; CorruptMetadata for compressed XMP."""
    body = data[chunk.data_start : chunk.data_start + chunk.length]
    keyword, _, rest = body.partition(b"\x00")
    if keyword != XMP_KEYWORD:
        return None
    if len(rest) < 2 or rest[0] != 0:
        raise CorruptMetadata("compressed XMP in PNG is not rewritten; left as it is")
    return rest[2:].partition(b"\x00")[2].partition(b"\x00")[2]


def _exif_chunk_patch(data: bytes, chunks: list[Chunk], fix: GpsFix, at: int) -> Patch:
    exif = [c for c in chunks if c.type == b"eXIf"]
    if len(exif) > 1:
        raise CorruptMetadata(f"the file holds {len(exif)} eXIf chunks; not patched")
    if not exif:
        tiff = new_exif_tiff()
        return Patch(at, b"", _chunk_bytes(b"eXIf", apply_patches(tiff, set_gps_patches(tiff, fix))))
    chunk = exif[0]
    tiff = data[chunk.data_start : chunk.data_start + chunk.length]
    return Patch(chunk.offset, data[chunk.offset : chunk.end],
                 _chunk_bytes(b"eXIf", apply_patches(tiff, set_gps_patches(tiff, fix))))


def _xmp_chunk_patch(data: bytes, chunks: list[Chunk], fix: GpsFix, place: xmp.Place | None, at: int) -> Patch:
    found = [(c, p) for c in chunks if c.type == b"iTXt" for p in (_xmp_packet(data, c),) if p is not None]
    if len(found) > 1:
        raise CorruptMetadata("the file holds two XMP chunks; not patched")
    if not found:
        return Patch(at, b"", _chunk_bytes(b"iTXt", _xmp_chunk_body(xmp.merge_location(None, fix, place, True))))
    chunk, packet = found[0]
    merged = xmp.fit_to_size(xmp.merge_location(packet, fix, place), len(packet))
    body = data[chunk.data_start : chunk.data_start + chunk.length]
    return Patch(chunk.offset, data[chunk.offset : chunk.end],
                 _chunk_bytes(b"iTXt", body[: len(body) - len(packet)] + merged))


def set_gps_png(data: bytes, fix: GpsFix, place: xmp.Place | None = None) -> list[Patch]:
    """Patches writing `fix` into the eXIf chunk and `fix`, place names and provenance into the XMP chunk."""
    chunks = read_chunks(data)
    if not chunks or chunks[-1].type != b"IEND":
        raise Truncated("truncated PNG: no IEND chunk; not written")
    first_idat = next((c.offset for c in chunks if c.type == b"IDAT"), None)
    if first_idat is None:
        raise CorruptMetadata("PNG without image data (IDAT)")
    return [_exif_chunk_patch(data, chunks, fix, first_idat), _xmp_chunk_patch(data, chunks, fix, place, first_idat)]


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
