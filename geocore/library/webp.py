"""WebP (RIFF) location edits as patches: the EXIF and XMP chunks, the VP8X header and the RIFF size change.

A simple WebP (one VP8 or VP8L chunk) becomes the extended form, as libwebp's muxer and exiftool make it: a VP8X
chunk first, with the canvas size read from the bitstream and the EXIF, XMP (and, for VP8L, alpha) flags, then the
image, then EXIF and XMP. An extended WebP gets its EXIF and XMP chunks updated where they are, or added after the
image chunks, and the matching VP8X flags set. Image chunks are never touched.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from geotagger.geocore.library import xmp
from geotagger.geocore.library.errors import CorruptMetadata, Truncated
from geotagger.geocore.library.gps import GpsFix
from geotagger.geocore.library.patches import Patch, apply_patches
from geotagger.geocore.library.tiffio import new_exif_tiff, set_gps_patches, strip_gps_patches

EXIF_PREFIX = b"Exif\x00\x00"
IMAGE_CHUNKS = (b"VP8 ", b"VP8L", b"ALPH", b"ANMF")
FLAG_ALPHA, FLAG_EXIF, FLAG_XMP = 0x10, 0x08, 0x04


# A hostile file of empty chunks (8 or 12 bytes each) would make a gigabyte into a hundred million Chunk objects.
# Real files stay far below: 200,000 chunks are 1.6 GB of 8 KiB image chunks, or 1.8 hours of animation at 30 fps.
MAX_CHUNKS = 200_000


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
        if len(chunks) > MAX_CHUNKS:
            raise CorruptMetadata(f"WebP of more than {MAX_CHUNKS:,} chunks; not read")
        position = chunk.end
    return chunks


def _chunk_bytes(fourcc: bytes, payload: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) % 2)


def _replace_chunk(data: bytes, chunk: Chunk, payload: bytes) -> list[Patch]:
    """Patches replacing a chunk's payload (pad byte included) and fixing the RIFF size."""
    new_chunk = _chunk_bytes(chunk.fourcc, payload)
    growth = len(new_chunk) - (chunk.end - chunk.offset)
    (riff_size,) = struct.unpack_from("<I", data, 4)
    return [Patch(4, data[4:8], struct.pack("<I", riff_size + growth)),
            Patch(chunk.offset, data[chunk.offset : chunk.end], new_chunk)]


def exif_payload(data: bytes, chunk: Chunk) -> tuple[bytes, bytes]:
    """(prefix, TIFF bytes) of an EXIF chunk; some writers put 'Exif\\0\\0' before the TIFF header."""
    payload = data[chunk.payload_start : chunk.payload_start + chunk.size]
    prefix = EXIF_PREFIX if payload.startswith(EXIF_PREFIX) else b""
    return prefix, payload[len(prefix) :]


def canvas_size(data: bytes, chunk: Chunk) -> tuple[int, int, bool]:
    """(width, height, has alpha) from a VP8 or VP8L bitstream header; CorruptMetadata when it is not one."""
    start = chunk.payload_start
    if chunk.fourcc == b"VP8 " and chunk.size >= 10 and data[start + 3 : start + 6] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", data, start + 6)
        return width & 0x3FFF, height & 0x3FFF, False
    if chunk.fourcc == b"VP8L" and chunk.size >= 5 and data[start] == 0x2F:
        (bits,) = struct.unpack_from("<I", data, start + 1)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool(bits >> 28 & 1)
    raise CorruptMetadata(f"unreadable {chunk.fourcc!r} bitstream header")


def _vp8x_payload(flags: int, width: int, height: int) -> bytes:
    return bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")


def _checked_chunks(data: bytes) -> list[Chunk]:
    chunks = read_chunks(data)
    (riff_size,) = struct.unpack_from("<I", data, 4)
    if riff_size + 8 != len(data) or not chunks or chunks[-1].end != len(data):
        raise Truncated("WebP whose RIFF size does not match the file (cut short or trailing data); not written")
    return chunks


def set_gps_webp(data: bytes, fix: GpsFix, place: xmp.Place | None = None) -> list[Patch]:
    """Patches writing `fix` into the EXIF chunk and `fix`, place names and provenance into the XMP chunk."""
    chunks = _checked_chunks(data)
    exif = [c for c in chunks if c.fourcc == b"EXIF"]
    xmp_chunks = [c for c in chunks if c.fourcc == b"XMP "]
    if len(exif) > 1 or len(xmp_chunks) > 1:
        raise CorruptMetadata("WebP with two EXIF or two XMP chunks; not patched")
    image = [c for c in chunks if c.fourcc in IMAGE_CHUNKS]
    if not image:
        raise CorruptMetadata("WebP without image data")
    patches = _header_patches(data, chunks, image)
    after_image = image[-1].end
    if exif:
        prefix, tiff = exif_payload(data, exif[0])
        patches.append(_chunk_patch(data, exif[0], prefix + apply_patches(tiff, set_gps_patches(tiff, fix))))
    else:
        tiff = new_exif_tiff()
        patches.append(Patch(after_image, b"", _chunk_bytes(b"EXIF", apply_patches(tiff, set_gps_patches(tiff, fix)))))
    if xmp_chunks:
        chunk = xmp_chunks[0]
        packet = data[chunk.payload_start : chunk.payload_start + chunk.size]
        patches.append(_chunk_patch(data, chunk, xmp.fit_to_size(xmp.merge_location(packet, fix, place), len(packet))))
    else:
        at = exif[0].end if exif else after_image
        patches.append(Patch(at, b"", _chunk_bytes(b"XMP ", xmp.merge_location(None, fix, place, True))))
    growth = sum(len(p.new) - len(p.old) for p in patches)
    (riff_size,) = struct.unpack_from("<I", data, 4)
    return [Patch(4, data[4:8], struct.pack("<I", riff_size + growth)), *patches]


def _chunk_patch(data: bytes, chunk: Chunk, payload: bytes) -> Patch:
    return Patch(chunk.offset, data[chunk.offset : chunk.end], _chunk_bytes(chunk.fourcc, payload))


def _header_patches(data: bytes, chunks: list[Chunk], image: list[Chunk]) -> list[Patch]:
    """The VP8X header with the EXIF and XMP flags: created for a simple file, its flag byte set otherwise."""
    first = chunks[0]
    if first.fourcc == b"VP8X":
        if first.size < 10:
            raise CorruptMetadata("VP8X chunk too short")
        flags_at = first.payload_start
        flags = data[flags_at] | FLAG_EXIF | FLAG_XMP
        return [] if flags == data[flags_at] else [Patch(flags_at, data[flags_at : flags_at + 1], bytes([flags]))]
    if len(image) != 1 or first is not image[0] or first.fourcc not in (b"VP8 ", b"VP8L"):
        raise CorruptMetadata("simple WebP with more than one image chunk; not converted")
    width, height, alpha = canvas_size(data, first)
    flags = FLAG_EXIF | FLAG_XMP | (FLAG_ALPHA if alpha else 0)
    return [Patch(12, b"", _chunk_bytes(b"VP8X", _vp8x_payload(flags, width, height)))]


def vp8x_matches_image(data: bytes) -> bool:
    """True when a VP8X canvas equals a single still image's size (always True for other layouts)."""
    chunks = read_chunks(data)
    image = [c for c in chunks if c.fourcc in (b"VP8 ", b"VP8L")]
    if not chunks or chunks[0].fourcc != b"VP8X" or len(image) != 1 or any(c.fourcc == b"ANMF" for c in chunks):
        return True
    start = chunks[0].payload_start
    canvas = (int.from_bytes(data[start + 4 : start + 7], "little") + 1,
              int.from_bytes(data[start + 7 : start + 10], "little") + 1)
    return canvas == canvas_size(data, image[0])[:2]


def strip_location_webp(data: bytes) -> list[Patch]:
    """Patches removing EXIF GPS and XMP location from a WebP (each chunk rewritten at its place)."""
    patches: list[Patch] = []
    riff_growth = 0
    for chunk in read_chunks(data):
        if chunk.fourcc == b"EXIF":
            prefix, tiff = exif_payload(data, chunk)
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
    """True when every image chunk (VP8, VP8L, ALPH, ANMF) is byte-identical, in the same order, and a VP8X
    canvas still matches the image."""
    if not vp8x_matches_image(new):
        return False
    before = [c for c in read_chunks(old) if c.fourcc in IMAGE_CHUNKS]
    after = [c for c in read_chunks(new) if c.fourcc in IMAGE_CHUNKS]
    return len(before) == len(after) and all(
        (a.fourcc, a.size) == (b.fourcc, b.size) and new.startswith(memoryview(old)[a.offset : a.end], b.offset)
        for a, b in zip(before, after, strict=True))
