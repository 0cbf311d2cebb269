"""A corpus of hostile and real-camera photos, and the run that writes GPS into all of them and judges the result.

Hostile files are assembled byte by byte (`TiffLayout` places IFDs and values where a case wants them): aliasing
offsets, IFD loops, absurd counts, split and duplicated APP1, odd placement, both byte orders, BigTIFF, truncated
files, CMYK, trailing data, MPF. Real-camera JPEGs come from piexif's test images (tests/data/cameras, MIT).

`run_corpus(folder)` writes one position into every file through the public `Library` API and judges each file
with exiftool and with `metadata_diff`: either written with every prior tag identical and no new
`exiftool -validate` warning, or left byte-identical with a reason. Used by the test and by benchmarks/corpus.py.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import struct
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from geotagger.geocore.library.api import Library
from geotagger.geocore.library.gps import PROCESSING_METHODS, GpsFix
from geotagger.geocore.library.metadata_diff import Intended, unintended_differences
from geotagger.geocore.library.writer import FileResult
from geotagger.geocore.library.xmp import sidecar_candidates
from tests.library.exiftool_helpers import EXIFTOOL
from tests.photo_factory import make_heic, make_jpeg, make_png, make_tiff, make_webp

CAMERAS = Path(__file__).resolve().parents[1] / "data" / "cameras"
LAT, LON, RADIUS_KM, SOURCE = -33.8567844, 151.2152967, 0.5, "manual"
FIX = GpsFix(LAT, LON, None, PROCESSING_METHODS.get(SOURCE), RADIUS_KM)
# Tags a GPS write sets (exiftool names, group GPS); everything else that was readable must read back identical.
WRITTEN_GPS_TAGS = {"GPSVersionID", "GPSLatitudeRef", "GPSLatitude", "GPSLongitudeRef", "GPSLongitude",
                    "GPSMapDatum", "GPSProcessingMethod", "GPSHPositioningError"}
VOLATILE_GROUPS = ("System:", "ExifTool:", "File:")
# exiftool shows an MPF image's start as a file position, which moves when EXIF grows in front of it; the image
# itself (MPImage2:MPImage2, read from that start) is compared byte for byte instead.
# HEIF: a write appends an mdat with the Exif and XMP items; exiftool's MediaData* describe where mdat lies.
MOVING_POSITIONS = {"MPImageStart", "MediaDataSize", "MediaDataOffset"}
# What a location strip removes besides GPS: XMP and IPTC place names, and the IPTC digest that covers them.
STRIPPED_TAGS = {"XMP-photoshop:City", "XMP-photoshop:State", "XMP-photoshop:Country", "XMP-iptcCore:CountryCode",
                 "XMP-iptcCore:Location", "IPTC:City", "IPTC:Sub-location", "IPTC:Province-State",
                 "IPTC:Country-PrimaryLocationCode", "IPTC:Country-PrimaryLocationName", "Photoshop:IPTCDigest",
                 "File:CurrentIPTCDigest"}


# -- assembling TIFF structures ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """The offset of a named item of the layout (plus `delta`), resolved when the layout is packed."""

    target: str
    delta: int = 0


Value = bytes | Ref | int  # bytes: the value (inline or placed after the IFD); Ref/int: the 4-byte field itself


@dataclass
class TiffLayout:
    """IFDs and blobs placed in order after the header (or at a fixed `at`), with references between them."""

    endian: str = "<"
    items: list[tuple[str, object]] = field(default_factory=list)
    first: str | int = "IFD0"

    def ifd(self, name: str, entries: list[tuple[int, int, int, Value]], next_ifd: Ref | int = 0) -> TiffLayout:
        """An IFD: entries (tag, type, count, value) and its next-IFD pointer."""
        self.items.append((name, (entries, next_ifd)))
        return self

    def blob(self, name: str, data: bytes) -> TiffLayout:
        """Raw bytes at this point of the layout."""
        self.items.append((name, data))
        return self

    def pack(self) -> bytes:
        """The TIFF bytes (two passes: sizes do not depend on the offsets)."""
        offsets: dict[str, int] = {}
        data = b""
        for _ in range(2):
            data = self._pack_once(offsets)
        return data

    def _pack_once(self, offsets: dict[str, int]) -> bytes:
        e = self.endian
        first = self.first if isinstance(self.first, int) else offsets.get(self.first, 8)
        out = bytearray((b"II*\x00" if e == "<" else b"MM\x00*") + struct.pack(e + "I", first))
        for name, item in self.items:
            out += b"" if name.startswith("odd") else b"\x00" * (len(out) % 2)  # 'odd...': placed unaligned
            offsets[name] = len(out)
            if isinstance(item, bytes):
                out += item
                continue
            entries, next_ifd = item  # type: ignore[misc]
            values = bytearray()
            values_at = len(out) + 2 + 12 * len(entries) + 4
            directory = bytearray(struct.pack(e + "H", len(entries)))
            for tag, type_, count, value in entries:
                directory += struct.pack(e + "HHI", tag, type_, count) + self._field(value, values_at, values, offsets)
            directory += struct.pack(e + "I", self._resolve(next_ifd, offsets))
            out += directory + values
        return bytes(out)

    def _field(self, value: Value, values_at: int, values: bytearray, offsets: dict[str, int]) -> bytes:
        if isinstance(value, (Ref, int)):
            return struct.pack(self.endian + "I", self._resolve(value, offsets))
        if len(value) <= 4:
            return value.ljust(4, b"\x00")
        field_bytes = struct.pack(self.endian + "I", values_at + len(values))
        values += value + b"\x00" * (len(value) % 2)
        return field_bytes

    @staticmethod
    def _resolve(value: Ref | int, offsets: dict[str, int]) -> int:
        return value if isinstance(value, int) else offsets.get(value.target, 0) + value.delta


def ascii_value(text: str) -> bytes:
    """An ASCII tag value, NUL-terminated."""
    return text.encode() + b"\x00"


def rationals(endian: str, *pairs: tuple[int, int]) -> bytes:
    """RATIONAL values."""
    return b"".join(struct.pack(endian + "II", a, b) for a, b in pairs)


def short(endian: str, value: int) -> bytes:
    """One SHORT value."""
    return struct.pack(endian + "H", value)


def camera_ifd0(e: str, make: str = "Hostile Camera Company Ltd.", extra: list | None = None) -> list:
    """Typical IFD0 entries (without pointers)."""
    return [(0x10F, 2, len(make) + 1, ascii_value(make)), (0x110, 2, 9, ascii_value("Model X1")),
            (0x112, 3, 1, short(e, 1)), (0x11A, 5, 1, rationals(e, (72, 1))), (0x11B, 5, 1, rationals(e, (72, 1))),
            (0x128, 3, 1, short(e, 2)), (0x8298, 2, 15, ascii_value("(c) Somebody 1"))] + (extra or [])


def camera_exif(e: str, makernote: bytes | None = None) -> list:
    """Typical Exif IFD entries."""
    entries = [(0x829A, 5, 1, rationals(e, (1, 250))), (0x829D, 5, 1, rationals(e, (28, 10))),
               (0x8827, 3, 1, short(e, 200)), (0x9000, 7, 4, b"0232"),
               (0x9003, 2, 20, ascii_value("2021:07:04 10:11:12"))]
    if makernote is not None:
        entries.append((0x927C, 7, len(makernote), makernote))
    return entries


def gps_entries(e: str, extra: bool = True) -> list:
    """A camera GPS IFD: position plus the tags a GPS write must keep (altitude, speed, direction, time)."""
    entries = [(0, 1, 4, bytes([2, 3, 0, 0])), (1, 2, 2, b"N\x00"), (2, 5, 3, rationals(e, (48, 1), (51, 1), (0, 1))),
               (3, 2, 2, b"E\x00"), (4, 5, 3, rationals(e, (2, 1), (17, 1), (0, 1)))]
    if extra:
        entries += [(5, 1, 1, b"\x00"), (6, 5, 1, rationals(e, (355, 10))), (7, 5, 3, rationals(e, (10, 1), (11, 1),
                    (12, 1))), (0xC, 2, 2, b"K\x00"), (0xD, 5, 1, rationals(e, (42, 1))), (0x11, 5, 1,
                    rationals(e, (1234, 10))), (0x1D, 2, 11, ascii_value("2021:07:04"))]
    return entries


def standard_layout(e: str, gps: bool = True, makernote: bytes | None = b"MKNT" + bytes(range(200))) -> TiffLayout:
    """IFD0 -> Exif, GPS; an IFD1 with a JPEG thumbnail."""
    layout = TiffLayout(e)
    layout.ifd("IFD0", camera_ifd0(e) + [(0x8769, 4, 1, Ref("Exif"))] + ([(0x8825, 4, 1, Ref("GPS"))] if gps else []),
               Ref("IFD1"))
    layout.ifd("Exif", camera_exif(e, makernote))
    if gps:
        layout.ifd("GPS", gps_entries(e))
    thumb = jpeg_bytes((32, 24), quality=60)
    layout.ifd("IFD1", [(0x103, 3, 1, short(e, 6)), (0x201, 4, 1, Ref("thumb")), (0x202, 4, 1, len(thumb))])
    return layout.blob("thumb", thumb)


# -- JPEG assembly -----------------------------------------------------------------------------------------------


def jpeg_bytes(size: tuple[int, int] = (64, 48), mode: str = "RGB", quality: int = 85) -> bytes:
    """A plain JPEG (no metadata)."""
    buffer = io.BytesIO()
    Image.new(mode, size, (200, 40, 90) if mode == "RGB" else (10, 200, 30, 40)).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def segment(marker: int, payload: bytes) -> bytes:
    """One JPEG marker segment."""
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def with_segments(jpeg: bytes, *segments: bytes) -> bytes:
    """`jpeg` with `segments` inserted right after SOI."""
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def exif_app1(tiff: bytes) -> bytes:
    """An EXIF APP1 segment around TIFF bytes."""
    return segment(0xE1, b"Exif\x00\x00" + tiff)


def xmp_app1(body: str) -> bytes:
    """An XMP APP1 segment with a packet around an rdf:Description body."""
    packet = ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
              '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">' + body +
              '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>')
    return segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + packet.encode())


PLACE_XMP = ('<rdf:Description rdf:about="" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
             'xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/" '
             'xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
             'photoshop:City="Paris" photoshop:Country="France" Iptc4xmpCore:Location="Tour Eiffel" '
             'exif:GPSLatitude="48,51.5N" exif:GPSLongitude="2,17.7E">'
             '<dc:subject><rdf:Bag><rdf:li>tower</rdf:li><rdf:li>night</rdf:li></rdf:Bag></dc:subject>'
             '</rdf:Description>')


def iptc_app13(city: str | None = "Paris") -> bytes:
    """An APP13 with IPTC-IIM datasets (a caption, keywords and the city)."""
    def dataset(number: int, text: str) -> bytes:
        return b"\x1c\x02" + bytes([number]) + struct.pack(">H", len(text)) + text.encode()

    iim = dataset(0, "\x00\x04") + dataset(120, "A caption") + dataset(25, "kw1") + (dataset(90, city) if city else b"")
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iim)) + iim
    return segment(0xED, b"Photoshop 3.0\x00" + resource + b"\x00" * (len(iim) % 2))


# -- the cases ---------------------------------------------------------------------------------------------------


def _standard(e: str) -> bytes:
    return with_segments(jpeg_bytes(), exif_app1(standard_layout(e).pack()))


def _gps_alias(target: str) -> Callable[[], bytes]:
    def build() -> bytes:
        e = ">"
        layout = TiffLayout(e)
        layout.ifd("IFD0", camera_ifd0(e) + [(0x8769, 4, 1, Ref("Exif")), (0x8825, 4, 1, Ref(target))])
        layout.ifd("Exif", camera_exif(e, b"MKNT" + bytes(100)))
        return with_segments(jpeg_bytes(), exif_app1(layout.pack()))
    return build


def _gps_value_inside(target: str) -> Callable[[], bytes]:
    """The GPS latitude's value offset points into the Make string or the MakerNote."""
    def build() -> bytes:
        e = "<"
        layout = TiffLayout(e)
        layout.blob("make", b"A Very Long Camera Maker Name Incorporated\x00")
        layout.blob("mkn", b"MAKERNOTE" + bytes(range(120)))
        make = [(0x10F, 2, 43, Ref("make"))]
        layout.ifd("IFD0", make + camera_ifd0(e)[1:] + [(0x8769, 4, 1, Ref("Exif")), (0x8825, 4, 1, Ref("GPS"))])
        layout.ifd("Exif", camera_exif(e) + [(0x927C, 7, 129, Ref("mkn"))])
        gps = gps_entries(e, extra=False)
        gps[2] = (2, 5, 3, Ref(target, 8))
        layout.ifd("GPS", gps)
        layout.first = "IFD0"
        return with_segments(jpeg_bytes(), exif_app1(layout.pack()))
    return build


def _ifd_loops() -> bytes:
    e = "<"
    layout = TiffLayout(e)
    layout.ifd("IFD0", camera_ifd0(e) + [(0x8769, 4, 1, Ref("Exif"))], Ref("IFD1"))
    layout.ifd("Exif", camera_exif(e) + [(0xA005, 4, 1, Ref("Exif"))])  # Interop pointer back to its parent
    layout.ifd("IFD1", [(0x103, 3, 1, short(e, 6))], Ref("IFD0"))  # next-IFD chain loops to IFD0
    return with_segments(jpeg_bytes(), exif_app1(layout.pack()))


def _absurd_counts() -> bytes:
    e = ">"
    layout = TiffLayout(e)
    layout.ifd("IFD0", camera_ifd0(e) + [(0x8769, 4, 1, Ref("Exif")), (0x8825, 4, 1, Ref("GPS"))], Ref("IFD1"))
    layout.ifd("Exif", camera_exif(e) + [(0x9286, 7, 0x7FFFFFFF, 0x10), (0xA420, 2, 0xFFFFFFFF, 0x20),
                                         (0xC000, 99, 5, 0)])  # huge UNDEFINED, huge ASCII, unknown type
    layout.ifd("GPS", gps_entries(e, extra=False) + [(0x1B, 7, 0x40000000, 0x30)])
    layout.blob("IFD1", struct.pack(e + "H", 0xFFFF) + bytes(20))  # an IFD claiming 65535 entries
    return with_segments(jpeg_bytes(), exif_app1(layout.pack()))


def _split_app1() -> bytes:
    """EXIF continued in a second APP1: the Exif IFD lies past the end of the first segment."""
    tiff = standard_layout("<").pack()
    cut = len(tiff) // 2
    return with_segments(jpeg_bytes(), exif_app1(tiff[:cut]), segment(0xE1, b"Exif\x00\x00" + tiff[cut:]))


def _duplicate_app1() -> bytes:
    app1 = exif_app1(standard_layout("<").pack())
    return with_segments(jpeg_bytes(), app1, app1)


def _odd_placement() -> bytes:
    """Values before their IFDs, IFD0 last, the Exif IFD between the thumbnail and IFD0."""
    e = ">"
    layout = TiffLayout(e, first="IFD0")
    layout.blob("filler", b"\x00\xff" * 33)
    layout.ifd("GPS", gps_entries(e))
    layout.ifd("Exif", camera_exif(e, b"MKNT" + bytes(range(77))))
    layout.ifd("IFD0", camera_ifd0(e) + [(0x8769, 4, 1, Ref("Exif")), (0x8825, 4, 1, Ref("GPS"))])
    return with_segments(jpeg_bytes(), exif_app1(layout.pack()))


def _odd_offset_ifd() -> bytes:
    """An Exif IFD at an odd offset (TIFF says word-aligned; real files break it)."""
    e = "<"
    layout = TiffLayout(e)
    layout.ifd("IFD0", camera_ifd0(e) + [(0x8769, 4, 1, Ref("odd-exif"))])
    layout.blob("odd-pad", b"\x01")
    layout.ifd("odd-exif", camera_exif(e, b"MKNT" + bytes(range(50))))
    return with_segments(jpeg_bytes(), exif_app1(layout.pack()))


def _truncated_scan() -> bytes:
    data = _standard("<")
    return data[: len(data) - 200]


def _truncated_app1() -> bytes:
    data = _standard(">")
    return data[:300]


def _cmyk() -> bytes:
    return with_segments(jpeg_bytes(mode="CMYK"), exif_app1(standard_layout("<").pack()))


def _trailing() -> bytes:
    return _standard(">") + b"TRAILER-DATA" * 50


def _mpf(mpf_first: bool, keep_offsets_valid: bool = True) -> Callable[[], bytes]:
    """An MPO-style JPEG with a second image; `mpf_first` puts the MPF index before EXIF (growing EXIF would move
    the second image away from its offset); without `keep_offsets_valid` the index points into the EXIF bytes."""
    def build() -> bytes:
        first, second = Image.new("RGB", (64, 48), "red"), Image.new("RGB", (64, 48), "blue")
        buffer = io.BytesIO()
        first.save(buffer, "MPO", save_all=True, append_images=[second])
        mpo = buffer.getvalue()
        app1 = exif_app1(standard_layout("<").pack())
        if not mpf_first:
            return with_segments(mpo, app1)
        at = mpo.find(b"\xff\xe2")
        end = at + 2 + struct.unpack_from(">H", mpo, at + 2)[0]
        index = bytearray(mpo[:end])
        if keep_offsets_valid:
            _shift_mp_offsets(index, at + 8, len(app1))
        return bytes(index) + app1 + mpo[end:]
    return build


def _shift_mp_offsets(data: bytearray, tiff_at: int, shift: int) -> None:
    """Add `shift` to the non-zero image offsets in the MP entries of the MPF index (TIFF header at `tiff_at`)."""
    e = "<" if data[tiff_at : tiff_at + 2] == b"II" else ">"
    ifd = tiff_at + struct.unpack_from(e + "I", data, tiff_at + 4)[0]
    for index in range(struct.unpack_from(e + "H", data, ifd)[0]):
        tag, _type, count, value = struct.unpack_from(e + "HHII", data, ifd + 2 + 12 * index)
        if tag == 0xB002:
            for entry in range(count // 16):
                at = tiff_at + value + 16 * entry + 8
                offset = struct.unpack_from(e + "I", data, at)[0]
                if offset:
                    struct.pack_into(e + "I", data, at, offset + shift)


def _place_names_xmp() -> bytes:
    return with_segments(jpeg_bytes(), exif_app1(standard_layout("<").pack()), xmp_app1(PLACE_XMP), iptc_app13())


def _deep_xmp() -> bytes:
    body = '<rdf:Description rdf:about="" xmlns:a="urn:a">' + "<a:x>" * 200 + "v" + "</a:x>" * 200
    return with_segments(jpeg_bytes(), exif_app1(standard_layout(">").pack()), xmp_app1(body + "</rdf:Description>"))


def _tiff(e: str) -> bytes:
    """A classic TIFF with one strip, GPS and EXIF."""
    pixels = bytes(range(256)) * 12
    layout = TiffLayout(e)
    layout.ifd("IFD0", [(0x100, 3, 1, short(e, 64)), (0x101, 3, 1, short(e, 16)), (0x102, 3, 3, short(e, 8) * 3),
                        (0x103, 3, 1, short(e, 1)), (0x106, 3, 1, short(e, 2)), (0x10F, 2, 6, ascii_value("Nikon")),
                        (0x111, 4, 1, Ref("strip")), (0x115, 3, 1, short(e, 3)), (0x116, 3, 1, short(e, 16)),
                        (0x117, 4, 1, 64 * 16 * 3), (0x8769, 4, 1, Ref("Exif")), (0x8825, 4, 1, Ref("GPS"))])
    layout.ifd("Exif", camera_exif(e))
    layout.ifd("GPS", gps_entries(e))
    return layout.blob("strip", pixels).pack()


def _bigtiff() -> bytes:
    """A small BigTIFF (written as a sidecar: in-place BigTIFF writing is not supported)."""
    e = "<"
    pixels = bytes(64 * 16)
    entries = [(0x100, 3, 1, 64), (0x101, 3, 1, 16), (0x103, 3, 1, 1), (0x106, 3, 1, 1), (0x111, 16, 1, 0),
               (0x115, 3, 1, 1), (0x116, 3, 1, 16), (0x117, 16, 1, len(pixels))]
    ifd_at = 16
    strip_at = ifd_at + 8 + 20 * len(entries) + 8
    directory = struct.pack(e + "Q", len(entries))
    for tag, type_, count, value in entries:
        value = strip_at if tag == 0x111 else value
        directory += struct.pack(e + "HHQ", tag, type_, count) + struct.pack(e + ("H" if type_ == 3 else "Q"),
                                                                              value).ljust(8, b"\x00")
    return b"II+\x00" + struct.pack(e + "HHQ", 8, 0, ifd_at) + directory + struct.pack(e + "Q", 0) + pixels


# -- PNG, WebP and HEIC written in place (issue 15) ---------------------------------------------------------------


def _pillow_bytes(fmt: str, mode: str = "RGB", **options: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, (40, 24), (90, 140, 200, 120)[: len(mode)]).save(out, fmt, **options)
    return out.getvalue()


def _png_chunk(type_: bytes, body: bytes) -> bytes:
    import zlib

    return struct.pack(">I", len(body)) + type_ + body + struct.pack(">I", zlib.crc32(type_ + body))


def _png_with(*chunks: bytes) -> bytes:
    """A plain PNG with `chunks` inserted right after IHDR."""
    data = _pillow_bytes("PNG")
    ihdr_end = 8 + 12 + struct.unpack_from(">I", data, 8)[0]
    return data[:ihdr_end] + b"".join(chunks) + data[ihdr_end:]


def _compressed_xmp_png() -> bytes:
    import zlib

    packet = zlib.compress(xmp_app1('<photoshop:City>Paris</photoshop:City>')[4 + 29 :])
    return _png_with(_png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + packet))


def _two_exif_png() -> bytes:
    tiff = standard_layout("<").pack()
    return _png_with(_png_chunk(b"eXIf", tiff), _png_chunk(b"eXIf", tiff))


def _trailing_webp() -> bytes:
    return make_webp_bytes() + b"TRAILING"


def make_webp_bytes() -> bytes:
    """An extended WebP with EXIF from the factory, as bytes."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return make_webp(Path(folder) / "w.webp", size=(40, 24), gps=(1.0, 2.0, 3.0)).read_bytes()


def _heic_bytes(exif: bool = True, open_ended: bool = False) -> bytes:
    import tempfile

    import pillow_heif

    with tempfile.TemporaryDirectory() as folder:
        if exif:
            data = make_heic(Path(folder) / "h.heic", size=(64, 64), gps=(1.0, 2.0, 3.0)).read_bytes()
        else:
            pillow_heif.from_pillow(Image.new("RGB", (64, 64), (10, 200, 30))).save(Path(folder) / "h.heic")
            data = (Path(folder) / "h.heic").read_bytes()
    if open_ended:  # the last box (mdat) says "to the end of the file": nothing may be appended after it
        position = 0
        while position + struct.unpack_from(">I", data, position)[0] < len(data):
            position += struct.unpack_from(">I", data, position)[0]
        data = data[:position] + b"\x00\x00\x00\x00" + data[position + 4 :]
    return data


def format_cases() -> dict[str, Callable[[], bytes]]:
    """PNG, WebP and HEIC layouts the in-place writers convert, update or refuse."""
    return {
        "plain.png": lambda: _pillow_bytes("PNG"), "compressed_xmp.png": _compressed_xmp_png,
        "two_exif.png": _two_exif_png,
        "simple_lossy.webp": lambda: _pillow_bytes("WEBP", quality=80),
        "simple_lossless_alpha.webp": lambda: _pillow_bytes("WEBP", "RGBA", lossless=True),
        "trailing.webp": _trailing_webp, "no_exif.heic": lambda: _heic_bytes(exif=False),
        "open_ended.heic": lambda: _heic_bytes(open_ended=True),
    }


def hostile_cases() -> dict[str, Callable[[], bytes]]:
    """File name -> builder of its bytes."""
    return {
        "plain_II.jpg": lambda: _standard("<"), "plain_MM.jpg": lambda: _standard(">"),
        "gps_is_exif_ifd.jpg": _gps_alias("Exif"), "gps_is_ifd0.jpg": _gps_alias("IFD0"),
        "gps_value_in_make.jpg": _gps_value_inside("make"), "gps_value_in_makernote.jpg": _gps_value_inside("mkn"),
        "ifd_loops.jpg": _ifd_loops, "absurd_counts.jpg": _absurd_counts, "split_app1.jpg": _split_app1,
        "duplicate_app1.jpg": _duplicate_app1, "odd_placement.jpg": _odd_placement,
        "odd_offset_ifd.jpg": _odd_offset_ifd, "truncated_scan.jpg": _truncated_scan,
        "truncated_app1.jpg": _truncated_app1, "cmyk.jpg": _cmyk, "trailing_data.jpg": _trailing,
        "mpf.jpg": _mpf(False), "mpf_before_exif.jpg": _mpf(True),
        "mpf_offset_into_exif.jpg": _mpf(True, keep_offsets_valid=False), "place_names.jpg": _place_names_xmp,
        "deep_xmp.jpg": _deep_xmp, "plain_II.tif": lambda: _tiff("<"), "plain_MM.tif": lambda: _tiff(">"),
        "big.tif": _bigtiff, **format_cases(),
    }


def build_corpus(folder: Path) -> list[Path]:
    """Write the hostile cases, factory-made files of every format and the vendored camera JPEGs into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, build in hostile_cases().items():
        path = folder / name
        path.write_bytes(build())
        paths.append(path)
    gps = (48.8584, 2.2945, 35.0)
    small = {"size": (48, 32), "gps": gps}
    paths += [make_jpeg(folder / "factory.jpg", **small), make_tiff(folder / "factory.tif", **small),
              make_png(folder / "factory.png", **small), make_webp(folder / "factory.webp", **small),
              make_heic(folder / "factory.heic", size=(64, 64), gps=gps)]
    dng = folder / "camera.dng"
    dng.write_bytes((folder / "factory.tif").read_bytes())
    sidecar = dng.with_name(dng.name + ".xmp")
    sidecar.write_bytes(xmp_app1(PLACE_XMP)[4 + 29 :])
    paths.append(dng)
    for camera in sorted(CAMERAS.glob("*.jpg")):
        paths.append(Path(shutil.copyfile(camera, folder / f"camera_{camera.name}")))
    return paths


# -- judging -----------------------------------------------------------------------------------------------------


def exiftool_all(paths: list[Path]) -> dict[Path, dict]:
    """Every tag exiftool reads per file, binary values included (-b as base64), numeric; one exiftool run."""
    if not paths:
        return {}
    args = [EXIFTOOL or "exiftool", "-j", "-a", "-G1", "-s", "-n", "-b", *map(str, paths)]
    result = subprocess.run(args, capture_output=True, check=False)
    try:  # damaged strings can come out as invalid UTF-8
        found = {Path(item["SourceFile"]): item for item in json.loads(result.stdout.decode("utf-8", "replace"))}
    except ValueError:
        found = {}
    return {path: dict(found.get(path, {})) for path in paths}


def tags_and_warnings(paths: list[Path]) -> tuple[dict[Path, dict], dict[Path, set[str]]]:
    """`exiftool_all` and `validate_all` of the same files, the two exiftool processes running side by side."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        tags = pool.submit(exiftool_all, paths)
        warnings = pool.submit(validate_all, paths)
        return tags.result(), warnings.result()


def validate_all(paths: list[Path]) -> dict[Path, set[str]]:
    """`exiftool -validate -warning -a` warnings per file (numbers masked: a byte count may move), one run."""
    args = [EXIFTOOL or "exiftool", "-validate", "-warning", "-a", "-s", *map(str, paths)]
    out = subprocess.run(args, capture_output=True, text=True, check=False).stdout
    warnings: dict[Path, set[str]] = {path: set() for path in paths}
    current = paths[0] if len(paths) == 1 else None
    for line in out.splitlines():
        if line.startswith("======== "):
            current = Path(line[9:])
        elif line.startswith("Warning") and current is not None:
            warnings.setdefault(current, set()).add(re.sub(r"\d+ bytes", "N bytes", line.split(":", 1)[1].strip()))
    return warnings


def lost_tags(before: dict, after: dict, strip: bool = False) -> list[str]:
    """Prior tags that read back different or not at all, except the GPS tags a write sets (all location: strip)."""
    lost = []
    for key, value in before.items():
        if key == "SourceFile" or key.startswith(VOLATILE_GROUPS) or key.startswith("Composite:GPS"):
            continue
        if _intended(key, strip) or key.partition(":")[2] in MOVING_POSITIONS:
            continue
        if after.get(key) != value:
            lost.append(f"{key}: {_short(value)} -> {_short(after.get(key, '<missing>'))}")
    return lost


def _intended(key: str, strip: bool) -> bool:
    group, _, name = key.partition(":")
    if group == "XMP-geotagger" or key == "XMP-xmp:MetadataDate":  # our provenance: set by writes, gone on strip
        return True
    if key == "RIFF:WebP_Flags" and not strip:  # the VP8X XMP flag of the XMP chunk a write adds
        return True
    if (group == "GPS" and (strip or name in WRITTEN_GPS_TAGS)) or (group == "XMP-exif" and name.startswith("GPS")):
        return True
    return (strip and key in STRIPPED_TAGS) or (strip and group == "XMP-iptcExt" and name.startswith("Location"))


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) < 50 else text[:47] + "..."


@dataclass
class FileOutcome:
    """What happened to one corpus file."""

    name: str
    written: bool
    target: str = ""
    reason: str = ""
    lost: list[str] = field(default_factory=list)
    new_warnings: set[str] = field(default_factory=set)
    untouched: bool = True


@dataclass
class CorpusFigures:
    """The corpus run in numbers (lost tags must be 0)."""

    outcomes: list[FileOutcome]

    @property
    def files(self) -> int:
        """Files in the corpus."""
        return len(self.outcomes)

    @property
    def written(self) -> int:
        """Files written (in place or into their sidecar)."""
        return sum(o.written for o in self.outcomes)

    @property
    def refused(self) -> int:
        """Files left byte-identical with a reason."""
        return sum(not o.written for o in self.outcomes)

    @property
    def lost_tags(self) -> int:
        """Prior tags changed or lost over all written files."""
        return sum(len(o.lost) for o in self.outcomes)

    def summary(self) -> str:
        """One line of figures."""
        return f"files {self.files}, written {self.written}, refused {self.refused}, lost tags {self.lost_tags}"


def _sidecars(path: Path) -> dict[Path, bytes | None]:
    return {c: (c.read_bytes() if c.exists() else None) for c in sidecar_candidates(path)}


def run_corpus(folder: Path, database: Path) -> CorpusFigures:
    """Write one position into every file of `folder` through `Library` and judge every file."""
    paths = sorted(p for p in folder.iterdir() if not p.name.endswith(".xmp"))
    before = {p: (p.read_bytes(), _sidecars(p)) for p in paths}
    tags, warnings = tags_and_warnings(paths)
    with Library(database) as library:
        library.scan([folder])
        ids = {path: library.photo_by_path(path).id for path in paths}
        for path in paths:
            library.accept(library.propose(ids[path], LAT, LON, RADIUS_KM, SOURCE))
        report = library.write_batch()
    # the photo's own result first (a format that cannot embed XMP would also get a sidecar result)
    results = {r.photo_id: r for r in sorted(report.results, key=lambda r: r.target == "photo")}
    outcomes = [_outcome(path, before[path][0], before[path][1], results.get(ids[path])) for path in paths]
    _judge_photos(folder, outcomes, tags, warnings)
    _judge_sidecars(folder, outcomes, before)
    return CorpusFigures(outcomes)


def _outcome(path: Path, data: bytes, sidecars: dict[Path, bytes | None], result: FileResult | None) -> FileOutcome:
    ok = result is not None and result.ok
    reason = result.reason if result is not None else "no result"
    outcome = FileOutcome(path.name, ok, result.target if result is not None else "", "" if ok else reason)
    outcome.untouched = path.read_bytes() == data
    if not ok:
        outcome.untouched = outcome.untouched and _sidecars(path) == sidecars
    elif outcome.target == "photo":
        outcome.lost = [d.describe() for d in unintended_differences(data, path.read_bytes(), Intended.for_write(FIX))]
    elif not outcome.untouched:
        outcome.lost.append("the photo changed although only its sidecar was to be written")
    return outcome


def _judge_photos(folder: Path, outcomes: list[FileOutcome], tags: dict[Path, dict],
                  warnings: dict[Path, set[str]]) -> None:
    """exiftool as the second judge of files written in place: prior tags identical, no new warning."""
    written = [folder / o.name for o in outcomes if o.written and o.target == "photo"]
    tags_after, warnings_after = tags_and_warnings(written) if written else ({}, {})
    for outcome in outcomes:
        path = folder / outcome.name
        if path in tags_after:
            outcome.lost += lost_tags(tags[path], tags_after[path])
            outcome.new_warnings = warnings_after[path] - warnings[path]


def _judge_sidecars(folder: Path, outcomes: list[FileOutcome], before: dict) -> None:
    """Sidecar writes: only intended XMP properties differ (metadata_diff and exiftool)."""
    for outcome in outcomes:
        path = folder / outcome.name
        if not outcome.written or outcome.target != "sidecar":
            continue
        sidecar = next(c for c in sidecar_candidates(path) if c.exists())
        old = before[path][1].get(sidecar) or b""
        new = sidecar.read_bytes()
        outcome.lost += [d.describe() for d in unintended_differences(old, new, Intended.for_write(FIX), kind="xmp")]
        if old:
            probe = folder / ".probe.xmp"
            probe.write_bytes(old)
            outcome.lost += lost_tags(exiftool_all([probe])[probe], exiftool_all([sidecar])[sidecar])
            probe.unlink()
