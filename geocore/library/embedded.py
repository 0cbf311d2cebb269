"""What a PNG or WebP says about itself, read from its chunk structure alone: pixel size, EXIF, XMP.

Pillow would do for less code, at a price a scan cannot pay: it decodes a whole PNG to look for an eXIf chunk
after the image data (half a second and the pixels' memory for a 12 MP PNG), reads a whole WebP into memory, and
reads every unknown chunk before a PNG's image whole (a hostile 2 GB chunk takes 2 GB). Here the file is mapped,
not read: the chunk parsers of the writers walk the chunk headers, and only the metadata chunks are touched.
The file must be complete (its last chunk whole; a PNG ends in IEND), as a JPEG must end in EOI: a photo cut
short is damaged, not a normal photo. Pixels are never checked; the writers never touch them either.
"""

from __future__ import annotations

import mmap
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from geotagger.geocore.library import png, webp
from geotagger.geocore.library.errors import CorruptMetadata
from geotagger.geocore.library.formats import Kind


@dataclass(frozen=True)
class Embedded:
    """The metadata a container holds: `exif` is TIFF bytes (no 'Exif\\0\\0'), `xmp` an XMP packet."""

    width: int
    height: int
    exif: bytes | None = None
    xmp: bytes | None = None


def read_embedded(path: Path, kind: Kind) -> Embedded:
    """The PNG's or WebP's metadata; CorruptMetadata when its structure is broken or cut short."""
    with open(path, "rb") as handle:
        if handle.seek(0, 2) == 0:
            raise CorruptMetadata("empty file")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            # mmap reads like bytes (slices, struct, find) without loading the file
            return read_png(data) if kind is Kind.PNG else read_webp(data)  # type: ignore[arg-type]


def read_png(data: bytes) -> Embedded:
    """IHDR's size, the eXIf chunk (else an ImageMagick raw profile: what readers take) and the XMP iTXt chunk."""
    chunks = png.read_chunks(data)
    if not chunks or chunks[0].type != b"IHDR" or chunks[0].length < 8:
        raise CorruptMetadata("PNG without an IHDR chunk first")
    if chunks[-1].type != b"IEND":
        raise CorruptMetadata("truncated PNG: no IEND chunk (file cut short)")
    if not any(chunk.type == b"IDAT" for chunk in chunks):
        raise CorruptMetadata("PNG without image data (no IDAT chunk)")
    width, height = struct.unpack_from(">II", data, chunks[0].data_start)
    exif = next((bytes(data[c.data_start : c.data_start + c.length]) for c in chunks if c.type == b"eXIf"), None)
    if exif is not None and exif.startswith(png.EXIF_HEADER):
        exif = exif[len(png.EXIF_HEADER) :]  # some writers lead the TIFF with it, as in JPEG
    if exif is None:
        exif = png.legacy_exif(data)
    return Embedded(width, height, exif, _png_xmp(data, chunks))


def _png_xmp(data: bytes, chunks: list[png.Chunk]) -> bytes | None:
    for chunk in chunks:
        keyword = png.XMP_KEYWORD + b"\x00"
        if chunk.type == b"iTXt" and data[chunk.data_start : chunk.data_start + len(keyword)] == keyword:
            try:
                return png.text_of(chunk.type, bytes(data[chunk.data_start : chunk.data_start + chunk.length]))[1]
            except (zlib.error, CorruptMetadata):
                return None  # an unreadable packet is no location; the rest of the file still counts
    return None


def read_webp(data: bytes) -> Embedded:
    """The canvas size (VP8X, else the bitstream header) and the EXIF and XMP chunks."""
    chunks = webp.read_chunks(data)
    found = {chunk.fourcc: chunk for chunk in reversed(chunks)}  # the first of each kind
    header = found.get(b"VP8X")
    if header is not None and header.size >= 10:
        start = header.payload_start
        width = 1 + int.from_bytes(data[start + 4 : start + 7], "little")
        height = 1 + int.from_bytes(data[start + 7 : start + 10], "little")
    else:
        image = next((c for c in chunks if c.fourcc in (b"VP8 ", b"VP8L")), None)
        if image is None:
            raise CorruptMetadata("WebP without image data")
        width, height, _alpha = webp.canvas_size(data, image)
    exif = found.get(b"EXIF")
    packet = found.get(b"XMP ")
    return Embedded(width, height,
                    webp.exif_payload(data, exif)[1] if exif is not None else None,
                    bytes(data[packet.payload_start : packet.payload_start + packet.size]) if packet else None)
