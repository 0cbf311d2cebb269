"""WebP (RIFF) EXIF edits as patches: only the EXIF (and for strip, XMP) chunk and the RIFF size change.

Only extended WebPs that already carry an EXIF chunk are edited in place; adding one would mean rewriting the
VP8X header, so those files get a sidecar instead.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from geocore.library import xmp
from geocore.library.errors import CorruptMetadata
from geocore.library.gps import GpsFix
from geocore.library.patches import Patch, apply_patches
from geocore.library.tiffio import set_gps_patches, strip_gps_patches

EXIF_PREFIX = b"Exif\x00\x00"
IMAGE_CHUNKS = (b"VP8 ", b"VP8L", b"ALPH", b"ANMF")


@dataclass(frozen=True)
class Chunk:
    """A RIFF chunk: `offset` of its header, `size` of its payload (without the pad byte)."""

    fourcc: bytes
    offset: int
    size: int

    @property
    def payload_start(self) -> int:
        """Offset of the payload."""
        return self.offset + 8

    @property
    def end(self) -> int:
        """Offset just past the chunk and its pad byte."""
        return self.offset + 8 + self.size + self.size % 2


def read_chunks(data: bytes) -> list[Chunk]:
    """The chunks of a WebP file; CorruptMetadata when the RIFF structure is broken."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise CorruptMetadata("not a WebP file")
    chunks = []
    position = 12
    while position + 8 <= len(data):
        fourcc = data[position : position + 4]
        (size,) = struct.unpack_from("<I", data, position + 4)
        chunk = Chunk(fourcc, position, size)
        if chunk.payload_start + size > len(data):
            raise CorruptMetadata(f"chunk {fourcc!r} runs past the end")
        chunks.append(chunk)
        position = chunk.end
    return chunks


def has_exif_chunk(path: Path) -> bool:
    """True when the WebP at `path` has an EXIF chunk (reads only chunk headers)."""
    with open(path, "rb") as handle:
        header = handle.read(12)
        if header[:4] != b"RIFF" or header[8:12] != b"WEBP":
            return False
        while True:
            chunk_header = handle.read(8)
            if len(chunk_header) < 8:
                return False
            if chunk_header[:4] == b"EXIF":
                return True
            (size,) = struct.unpack("<I", chunk_header[4:])
            handle.seek(size + size % 2, 1)


def _chunk_bytes(fourcc: bytes, payload: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) % 2)


def _replace_chunk(data: bytes, chunk: Chunk, payload: bytes) -> list[Patch]:
    """Patches replacing a chunk's payload (pad byte included) and fixing the RIFF size."""
    new_chunk = _chunk_bytes(chunk.fourcc, payload)
    growth = len(new_chunk) - (chunk.end - chunk.offset)
    (riff_size,) = struct.unpack_from("<I", data, 4)
    return [Patch(4, data[4:8], struct.pack("<I", riff_size + growth)),
            Patch(chunk.offset, data[chunk.offset : chunk.end], new_chunk)]


def _exif_payload(data: bytes, chunk: Chunk) -> tuple[bytes, bytes]:
    """(prefix, TIFF bytes) of an EXIF chunk; some writers put 'Exif\\0\\0' before the TIFF header."""
    payload = data[chunk.payload_start : chunk.payload_start + chunk.size]
    prefix = EXIF_PREFIX if payload.startswith(EXIF_PREFIX) else b""
    return prefix, payload[len(prefix) :]


def set_gps_webp(data: bytes, fix: GpsFix) -> list[Patch]:
    """Patches writing `fix` into the WebP's EXIF chunk."""
    chunk = next((c for c in read_chunks(data) if c.fourcc == b"EXIF"), None)
    if chunk is None:
        raise CorruptMetadata("WebP without an EXIF chunk")
    prefix, tiff = _exif_payload(data, chunk)
    return _replace_chunk(data, chunk, prefix + apply_patches(tiff, set_gps_patches(tiff, fix)))


def strip_location_webp(data: bytes) -> list[Patch]:
    """Patches removing EXIF GPS and XMP location from a WebP (each chunk rewritten at its place)."""
    patches: list[Patch] = []
    riff_growth = 0
    for chunk in read_chunks(data):
        if chunk.fourcc == b"EXIF":
            prefix, tiff = _exif_payload(data, chunk)
            new_payload = prefix + apply_patches(tiff, strip_gps_patches(tiff))
        elif chunk.fourcc == b"XMP ":
            new_payload = xmp.strip_location_packet(data[chunk.payload_start : chunk.payload_start + chunk.size])
        else:
            continue
        size_patch, chunk_patch = _replace_chunk(data, chunk, new_payload)
        if chunk_patch.new != chunk_patch.old:
            patches.append(chunk_patch)
            riff_growth += len(chunk_patch.new) - len(chunk_patch.old)
    if patches and riff_growth:
        (riff_size,) = struct.unpack_from("<I", data, 4)
        patches.append(Patch(4, data[4:8], struct.pack("<I", riff_size + riff_growth)))
    return patches


def image_chunks_unchanged(old: bytes, new: bytes) -> bool:
    """True when every image chunk (VP8, VP8L, ALPH, ANMF) is byte-identical, in the same order."""
    before = [c for c in read_chunks(old) if c.fourcc in IMAGE_CHUNKS]
    after = [c for c in read_chunks(new) if c.fourcc in IMAGE_CHUNKS]
    return len(before) == len(after) and all(
        (a.fourcc, a.size) == (b.fourcc, b.size) and new.startswith(memoryview(old)[a.offset : a.end], b.offset)
        for a, b in zip(before, after, strict=True))
