"""A JPEG's scan metadata read from the bytes a scan already holds (its first 64 KiB), without Pillow.

A scan opened every JPEG three times (hash, truncation check, Pillow) and Pillow parsed every tag of IFD0 and the
Exif IFD into objects to give back seven of them: most of a first scan's time. This reader walks the segments of
the head, then reads only the wanted entries of IFD0, the Exif IFD and the GPS IFD.

It answers only for files it fully understands and where Pillow would say exactly the same: anything unusual (a
segment Pillow parses and could reject, MPF, two EXIF blocks, a value out of place, a type Pillow would convert
differently, an IFD that Pillow would warn about) gives None, and the caller reads the file through Pillow as
before, with its warnings and errors. tests/library/test_jpeg_metadata.py holds both readers to the same answers.
"""

from __future__ import annotations

import functools
import re
import struct
from dataclasses import dataclass
from typing import NamedTuple

EXIF_HEADER = b"Exif\x00\x00"
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# Segments Pillow skips or stores without parsing; APP0/APP2/APP13/APP14 payloads are checked one by one below.
PLAIN_MARKERS = frozenset({0xC4, 0xCC, 0xDD, 0xFE, *range(0xE0, 0xF0)})
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
MAX_ENTRIES = 1000
XMP_ORIENTATION = re.compile(rb'tiff:Orientation(="|>)([0-9])')  # what Pillow's getexif reads from XMP


class Rational(NamedTuple):
    """An EXIF RATIONAL as stored (Pillow's IFDRational has the same two attributes)."""

    numerator: int
    denominator: int


class Decline(Exception):
    """The file is not one this reader answers for exactly: read it through Pillow."""


@dataclass(frozen=True)
class JpegHead:
    """What the segments before the image data hold: pixel size, the EXIF TIFF bytes, the XMP packet, and where
    the image data starts."""

    width: int
    height: int
    exif: bytes | None
    xmp: bytes | None
    sos: int


def read_head(data: bytes) -> JpegHead:
    """The segments of `data` (a whole file or its head) up to the first SOS; Decline for anything unusual."""
    if data[:3] != b"\xff\xd8\xff":
        raise Decline
    position, size, exif, xmp = 2, None, None, None
    while True:
        if position + 4 > len(data) or data[position] != 0xFF:
            raise Decline  # past the head, or junk Pillow would skip
        marker = data[position + 1]
        if marker == 0xDA:
            break
        length = data[position + 2] << 8 | data[position + 3]
        end = position + 2 + length
        if length < 2 or end > len(data):
            raise Decline
        payload = data[position + 4 : end]
        if marker in SOF_MARKERS:
            if size is not None:
                raise Decline
            size = _frame_size(payload)
        elif marker == 0xDB:
            _check_quantization(payload)
        elif marker not in PLAIN_MARKERS:
            raise Decline
        elif marker == 0xE1 and payload.startswith(EXIF_HEADER):
            if exif is not None:
                raise Decline  # Pillow joins continued EXIF blocks
            exif = payload[6:]
        elif marker == 0xE1 and payload.startswith(XMP_HEADER):
            xmp = payload[len(XMP_HEADER) :]  # the last one, as Pillow keeps it
        else:
            _check_app(marker, payload)
        position = end
    if size is None:
        raise Decline
    return JpegHead(size[0], size[1], exif, xmp, position)


def _frame_size(payload: bytes) -> tuple[int, int]:
    if len(payload) < 6 or payload[0] != 8 or payload[5] not in (1, 3, 4):
        raise Decline  # Pillow refuses other bit depths and layer counts
    height, width = struct.unpack_from(">HH", payload, 1)
    if not width or not height:
        raise Decline
    return width, height


def _check_quantization(payload: bytes) -> None:
    """Pillow raises for a DQT whose tables do not fill it: leave that verdict to it."""
    position = 0
    while position < len(payload):
        position += 1 + (64 if payload[position] < 16 else 128)
        if position > len(payload):
            raise Decline


def _check_app(marker: int, payload: bytes) -> None:
    """Decline for the APP payloads Pillow parses and could stumble on (short JFIF/Adobe, ICC, Photoshop, MPF)."""
    if marker == 0xE0 and payload.startswith(b"JFIF") and len(payload) < 12:
        raise Decline
    if marker == 0xEE and payload.startswith(b"Adobe") and len(payload) < 12:
        raise Decline
    if marker == 0xE2 and (payload.startswith(b"MPF\x00") or payload.startswith(b"FPXR\x00")
                           or (payload.startswith(b"ICC_PROFILE\x00") and len(payload) < 14)):
        raise Decline
    if marker == 0xED and payload.startswith(b"Photoshop 3.0\x00"):
        raise Decline


@dataclass(frozen=True)
class ExifValues:
    """The raw values a scan keeps, in Pillow's shapes: text as Pillow decodes it, rationals as (num, den)."""

    make: str | None = None
    model: str | None = None
    orientation: int | None = None
    date_original: str | None = None
    subsec_original: str | None = None
    date_digitized: str | None = None
    subsec_digitized: str | None = None
    offset_original: str | None = None
    gps: dict[int, object] | None = None


@functools.lru_cache(maxsize=4)
def _single_valued(group: int | None) -> frozenset[int]:
    """Tags Pillow expects one value of, in an IFD group (None: IFD0): more makes it warn."""
    from PIL import TiffTags

    tags = TiffTags.TAGS_V2 if group is None else TiffTags.TAGS_V2_GROUPS.get(group, {})
    return frozenset(tag for tag, info in tags.items() if info.length == 1)


class _Tiff:
    """The few reads needed from one EXIF TIFF block, each checked the way Pillow would warn about it."""

    def __init__(self, data: bytes) -> None:
        if data[:4] not in (b"II*\x00", b"MM\x00*"):
            raise Decline
        self.data = data
        self.endian = "<" if data[:2] == b"II" else ">"

    def ifd(self, offset: int, group: int | None = None) -> dict[int, tuple[int, int, bytes]]:
        """tag -> (type, count, value bytes) of the IFD at `offset`; Decline wherever Pillow would warn."""
        data, endian, single = self.data, self.endian, _single_valued(group)
        if offset < 8 or offset + 2 > len(data):
            raise Decline
        (count,) = struct.unpack_from(endian + "H", data, offset)
        if count > MAX_ENTRIES or offset + 6 + 12 * count > len(data):
            raise Decline
        entries: dict[int, tuple[int, int, bytes]] = {}
        out_of_line = 0
        table = data[offset + 2 : offset + 2 + 12 * count]
        for tag, type_, number, field in struct.iter_unpack(endian + "HHI4s", table):
            unit = TYPE_SIZES.get(type_)
            if unit is None or (number > 1 and type_ not in (1, 2, 7) and tag in single):
                raise Decline  # a type Pillow skips, or "too many entries" for a one-value tag
            size = unit * number
            if tag in entries:
                raise Decline  # Pillow keeps the first of duplicated tags and skips its out-of-line size
            if size == 0:
                continue  # Pillow keeps no empty value
            if size > 4:
                (start,) = struct.unpack(endian + "I", field)
                out_of_line += size
                if start + size > len(data) or out_of_line > len(data):
                    raise Decline
                value = data[start : start + size]
            else:
                value = field[:size]
            entries[tag] = (type_, number, value)
        return entries

    def pointer(self, entries: dict[int, tuple[int, int, bytes]], tag: int) -> int | None:
        """A sub-IFD offset, None when absent."""
        found = entries.get(tag)
        if found is None:
            return None
        if found[0] != 4 or found[1] != 1:
            raise Decline
        return int(struct.unpack(self.endian + "I", found[2])[0])

    def rationals(self, found: tuple[int, int, bytes]) -> tuple[Rational, ...]:
        """An unsigned RATIONAL entry's values."""
        numbers = struct.unpack(self.endian + "I" * (2 * found[1]), found[2])
        return tuple(Rational(num, den) for num, den in zip(numbers[0::2], numbers[1::2], strict=True))


def _string(entries: dict[int, tuple[int, int, bytes]], tag: int) -> str | None:
    """An ASCII value as Pillow gives it (one trailing NUL dropped, Latin-1)."""
    found = entries.get(tag)
    if found is None or found[1] == 0:
        return None
    if found[0] != 2:
        raise Decline
    value = found[2]
    return (value[:-1] if value.endswith(b"\x00") else value).decode("latin-1")


def _short(tiff: _Tiff, entries: dict[int, tuple[int, int, bytes]], tag: int) -> int | None:
    found = entries.get(tag)
    if found is None or found[1] == 0:
        return None
    if found[0] != 3 or found[1] != 1:
        raise Decline
    return int(struct.unpack(tiff.endian + "H", found[2])[0])


def _gps(tiff: _Tiff, entries: dict[int, tuple[int, int, bytes]]) -> dict[int, object]:
    """The GPS tags a scan reads, in the shapes metadata._gps_from_pil expects from Pillow."""
    gps: dict[int, object] = {}
    for tag in (1, 3):
        text = _string(entries, tag)
        if text is not None:
            gps[tag] = text
    for tag in (2, 4):
        found = entries.get(tag)
        if found is not None:
            if found[0] != 5 or found[1] != 3:
                raise Decline
            gps[tag] = tiff.rationals(found)
    altitude = entries.get(6)
    if altitude is not None:
        if altitude[0] != 5 or altitude[1] != 1:
            raise Decline
        num, den = tiff.rationals(altitude)[0]
        gps[6] = num / den if den else float("nan")
    reference = entries.get(5)
    if reference is not None:
        if reference[0] not in (1, 7) or reference[1] != 1:
            raise Decline
        gps[5] = reference[2][0]
    return gps


def read_exif(data: bytes) -> ExifValues:
    """The scan's tags of an EXIF TIFF block; Decline where Pillow might read or warn otherwise."""
    if data.startswith(EXIF_HEADER):
        raise Decline  # a doubled header, which Pillow strips
    tiff = _Tiff(data)
    try:
        ifd0 = tiff.ifd(struct.unpack_from(tiff.endian + "I", data, 4)[0])
        exif_offset, gps_offset = tiff.pointer(ifd0, 0x8769), tiff.pointer(ifd0, 0x8825)
        sub = tiff.ifd(exif_offset, 0x8769) if exif_offset is not None else {}
        gps = _gps(tiff, tiff.ifd(gps_offset, 0x8825)) if gps_offset is not None else None
    except struct.error:
        raise Decline from None
    return ExifValues(
        make=_string(ifd0, 0x10F), model=_string(ifd0, 0x110), orientation=_short(tiff, ifd0, 0x112),
        date_original=_string(sub, 0x9003), subsec_original=_string(sub, 0x9291),
        date_digitized=_string(sub, 0x9004), subsec_digitized=_string(sub, 0x9292),
        offset_original=_string(sub, 0x9011), gps=gps,
    )


def xmp_orientation(packet: bytes | None) -> int | None:
    """The orientation Pillow takes from XMP when EXIF has none."""
    match = XMP_ORIENTATION.search(packet) if packet else None
    return int(match[2]) if match else None
