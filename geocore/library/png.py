"""PNG location edits as patches: EXIF GPS in the `eXIf` chunk, XMP in the `iTXt` chunk `XML:com.adobe.xmp`.

PNG chunks carry their own length and CRC, so a chunk can be rewritten where it stands; the image (IDAT) chunks
are never touched. A write updates the existing eXIf and XMP chunks where they are, or adds them just before the
first IDAT (PNG 1.5 wants eXIf there; readers such as exiftool and exiv2 find XMP there too). A compressed XMP
chunk or a second eXIf is refused rather than left contradicting the new position.

Files that went through ImageMagick (and older PHP/GIMP pipelines) keep EXIF as a hex "raw profile" in a text
chunk (tEXt, zTXt or iTXt keyword `Raw profile type exif` or `Raw profile type APP1`), which exiftool, exiv2 and
Pillow read. A write converts it: the same EXIF, with the new GPS, goes into an eXIf chunk (what Apple's and
Google's readers look for) and the raw profile is removed, so no reader sees two positions and no tag is lost. A
file holding both forms, or two raw profiles, is refused. Strip edits a raw profile where it stands.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from geotagger.geocore.library import xmp
from geotagger.geocore.library.errors import CorruptMetadata, Truncated
from geotagger.geocore.library.gps import GpsFix
from geotagger.geocore.library.patches import Patch, apply_patches
from geotagger.geocore.library.tiffio import new_exif_tiff, set_gps_patches, strip_gps_patches

SIGNATURE = b"\x89PNG\r\n\x1a\n"
XMP_KEYWORD = b"XML:com.adobe.xmp"
RAW_PROFILE_KEYWORDS = (b"Raw profile type exif", b"Raw profile type APP1")
EXIF_HEADER = b"Exif\x00\x00"
TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
# zlib output of a hostile raw profile is capped: an EXIF block is at most 64 KiB in JPEG, far less in practice.
MAX_PROFILE_TEXT = 16 * 1024 * 1024


# A hostile file of empty chunks (8 or 12 bytes each) would make a gigabyte into a hundred million Chunk objects.
# Real files stay far below: 200,000 chunks are 1.6 GB of 8 KiB image chunks, or 1.8 hours of animation at 30 fps.
MAX_CHUNKS = 200_000


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
    if data[: len(SIGNATURE)] != SIGNATURE:  # a slice: mmap has no startswith
        raise CorruptMetadata("not a PNG file")
    chunks = []
    position = len(SIGNATURE)
    while position + 12 <= len(data):
        length, type_ = struct.unpack_from(">I4s", data, position)
        chunk = Chunk(type_, position, length)
        if chunk.end > len(data):
            raise CorruptMetadata(f"chunk {type_!r} runs past the end")
        chunks.append(chunk)
        if len(chunks) > MAX_CHUNKS:
            raise CorruptMetadata(f"PNG of more than {MAX_CHUNKS:,} chunks; not read")
        position = chunk.end
        if type_ == b"IEND":
            break
    return chunks


@dataclass(frozen=True)
class RawProfile:
    """An EXIF raw profile in a text chunk: the chunk, its keyword, the TIFF inside and whether 'Exif\\0\\0' led."""

    chunk: Chunk
    keyword: bytes
    tiff: bytes
    exif_header: bool


def _inflate(compressed: bytes) -> bytes:
    inflater = zlib.decompressobj()
    text = inflater.decompress(compressed, MAX_PROFILE_TEXT)
    if inflater.unconsumed_tail:
        raise CorruptMetadata("raw profile larger than 16 MiB; not read")
    return text


def text_of(type_: bytes, body: bytes) -> tuple[bytes, bytes]:
    """Keyword and (decompressed) text of a tEXt, zTXt or iTXt chunk body; zlib.error for bad compression."""
    keyword, _, rest = body.partition(b"\x00")
    if type_ == b"tEXt":
        return keyword, rest
    if type_ == b"zTXt":
        return keyword, _inflate(rest[1:])
    compressed = rest[:1] == b"\x01"
    text = rest[2:].partition(b"\x00")[2].partition(b"\x00")[2]
    return keyword, _inflate(text) if compressed else text


def _decode_raw_profile(text: bytes) -> bytes:
    """The bytes of ImageMagick's layout: newline, profile name, newline, length, newline, hex digits."""
    lines = text.lstrip(b"\n").split(b"\n", 2)
    if len(lines) < 3 or not lines[1].strip().isdigit():
        raise CorruptMetadata("raw profile without its length line")
    payload = bytes.fromhex(lines[2].decode("ascii"))
    if len(payload) != int(lines[1]):
        raise CorruptMetadata(f"raw profile says {int(lines[1])} bytes, holds {len(payload)}")
    return payload


def _encode_raw_profile(name: bytes, payload: bytes) -> bytes:
    """ImageMagick's layout of a raw profile (72 hex digits a line)."""
    digits = payload.hex().encode("ascii")
    lines = b"\n".join(digits[i : i + 72] for i in range(0, len(digits), 72))
    return b"\n" + name + b"\n" + f"{len(payload):8d}".encode("ascii") + b"\n" + lines + b"\n"


def raw_profile_tiff(type_: bytes, body: bytes) -> tuple[bytes, bool] | None:
    """The TIFF of an EXIF raw profile chunk body (and whether 'Exif\\0\\0' led it); None for other chunks.

    CorruptMetadata when the keyword says EXIF but the text is not a readable profile.
    """
    if type_ not in TEXT_CHUNKS or not body.startswith(RAW_PROFILE_KEYWORDS):
        return None
    try:
        keyword, text = text_of(type_, body)
        if keyword not in RAW_PROFILE_KEYWORDS:
            return None
        payload = _decode_raw_profile(text)
    except (zlib.error, ValueError, UnicodeDecodeError) as exc:
        raise CorruptMetadata(f"unreadable raw EXIF profile: {exc}") from None
    if payload.startswith(EXIF_HEADER):
        return payload[len(EXIF_HEADER):], True
    if payload[:4] in (b"II*\x00", b"MM\x00*"):
        return payload, False
    if keyword == b"Raw profile type APP1":
        return None  # an APP1 profile may hold XMP or another APP1 payload: not EXIF
    raise CorruptMetadata("raw EXIF profile without a TIFF header")


def raw_profiles(data: bytes, chunks: list[Chunk]) -> list[RawProfile]:
    """The EXIF raw profiles among `chunks`."""
    found = []
    for chunk in chunks:
        if chunk.type in TEXT_CHUNKS:
            body = data[chunk.data_start : chunk.data_start + chunk.length]
            parsed = raw_profile_tiff(chunk.type, body)
            if parsed is not None:
                found.append(RawProfile(chunk, body.partition(b"\x00")[0], *parsed))
    return found


def _raw_profile_chunk(data: bytes, profile: RawProfile, tiff: bytes) -> bytes:
    """The profile's chunk holding `tiff` instead, in the same chunk type, compression and profile name."""
    chunk = profile.chunk
    body = data[chunk.data_start : chunk.data_start + chunk.length]
    _keyword, text = text_of(chunk.type, body)
    name = text.lstrip(b"\n").split(b"\n", 1)[0]
    new_text = _encode_raw_profile(name, (EXIF_HEADER if profile.exif_header else b"") + tiff)
    keyword, _, rest = body.partition(b"\x00")
    if chunk.type == b"tEXt":
        new_body = keyword + b"\x00" + new_text
    elif chunk.type == b"zTXt":
        new_body = keyword + b"\x00" + rest[:1] + zlib.compress(new_text)
    else:
        language, _, after_language = rest[2:].partition(b"\x00")
        translated, _, _old = after_language.partition(b"\x00")
        encoded = zlib.compress(new_text) if rest[:1] == b"\x01" else new_text
        new_body = keyword + b"\x00" + rest[:2] + language + b"\x00" + translated + b"\x00" + encoded
    return _chunk_bytes(chunk.type, new_body)


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


def _exif_chunk_patches(data: bytes, chunks: list[Chunk], fix: GpsFix, at: int) -> list[Patch]:
    exif = [c for c in chunks if c.type == b"eXIf"]
    if len(exif) > 1:
        raise CorruptMetadata(f"the file holds {len(exif)} eXIf chunks; not patched")
    profiles = raw_profiles(data, chunks)
    if profiles and (exif or len(profiles) > 1):
        raise CorruptMetadata("the file holds EXIF twice (eXIf and raw profile text chunks); not patched")
    if profiles:
        return _converted_profile_patches(data, profiles[0], fix, at)
    return [_exif_chunk_patch(data, exif, fix, at)]


def _converted_profile_patches(data: bytes, profile: RawProfile, fix: GpsFix, at: int) -> list[Patch]:
    """The raw profile's EXIF with `fix` as an eXIf chunk (where the profile was, if before IDAT); profile gone."""
    chunk = profile.chunk
    old = data[chunk.offset : chunk.end]
    new_chunk = _chunk_bytes(b"eXIf", apply_patches(profile.tiff, set_gps_patches(profile.tiff, fix)))
    if chunk.offset < at:
        return [Patch(chunk.offset, old, new_chunk)]
    return [Patch(at, b"", new_chunk), Patch(chunk.offset, old, b"")]


def _exif_chunk_patch(data: bytes, exif: list[Chunk], fix: GpsFix, at: int) -> Patch:
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
    return [*_exif_chunk_patches(data, chunks, fix, first_idat),
            _xmp_chunk_patch(data, chunks, fix, place, first_idat)]


def strip_location_png(data: bytes) -> list[Patch]:
    """Patches removing EXIF GPS (eXIf, raw profiles) and XMP location (iTXt) from a PNG."""
    patches = []
    chunks = read_chunks(data)
    for profile in raw_profiles(data, chunks):
        inner = strip_gps_patches(profile.tiff)
        if inner:
            chunk = profile.chunk
            patches.append(Patch(chunk.offset, data[chunk.offset : chunk.end],
                                 _raw_profile_chunk(data, profile, apply_patches(profile.tiff, inner))))
    for chunk in chunks:
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


def legacy_exif(data: bytes) -> bytes | None:
    """The TIFF of a PNG's EXIF raw profile when it has no eXIf chunk (what a reader should take), else None."""
    try:
        chunks = read_chunks(data)
        if any(c.type == b"eXIf" for c in chunks):
            return None
        profiles = raw_profiles(data, chunks)
    except CorruptMetadata:
        return None
    return profiles[0].tiff if profiles else None


def image_chunks_unchanged(old: bytes, new: bytes) -> bool:
    """True when the IHDR/PLTE/IDAT chunks are byte-identical and in the same order."""
    kinds = (b"IHDR", b"PLTE", b"IDAT", b"fdAT", b"acTL", b"fcTL")
    before = [c for c in read_chunks(old) if c.type in kinds]
    after = [c for c in read_chunks(new) if c.type in kinds]
    return len(before) == len(after) and all(
        (a.type, a.length) == (b.type, b.length) and new.startswith(memoryview(old)[a.offset : a.end], b.offset)
        for a, b in zip(before, after, strict=True))
