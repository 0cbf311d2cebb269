"""JPEG segment walking and EXIF GPS edits as patches: only the EXIF APP1 (and, for strip, XMP/IPTC) change."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from geotagger.geocore.library import iptc, xmp
from geotagger.geocore.library.errors import CorruptMetadata, NoRoom, Truncated
from geotagger.geocore.library.gps import GpsFix
from geotagger.geocore.library.patches import Patch, apply_patches
from geotagger.geocore.library.tiffio import new_exif_tiff, set_gps_patches, strip_gps_patches

EXIF_HEADER = b"Exif\x00\x00"
MAX_SEGMENT_LENGTH = 0xFFFF
STANDALONE_MARKERS = {0x01, *range(0xD0, 0xD8)}


@dataclass(frozen=True)
class Segment:
    """A marker segment before the scan data: `offset` of its 0xFF, `length` as stored (includes the 2 bytes)."""

    marker: int
    offset: int
    length: int

    @property
    def payload_start(self) -> int:
        """Offset of the payload (after marker and length)."""
        return self.offset + 4

    @property
    def end(self) -> int:
        """Offset just past the segment."""
        return self.offset + 2 + self.length


def read_segments(data: bytes) -> tuple[list[Segment], int]:
    """The segments before the first SOS and the offset of that SOS; CorruptMetadata when malformed."""
    if data[:2] != b"\xff\xd8":
        raise CorruptMetadata("not a JPEG (no SOI)")
    segments: list[Segment] = []
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            raise CorruptMetadata(f"expected a marker at {position}")
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in STANDALONE_MARKERS:
            position += 2
            continue
        if marker in (0xDA, 0xD9):
            return segments, position
        (length,) = struct.unpack_from(">H", data, position + 2)
        if length < 2:
            raise CorruptMetadata(f"segment {marker:#x} at {position} has a bad length")
        if position + 2 + length > len(data):
            raise Truncated(f"truncated JPEG: segment {marker:#x} at {position} runs past the end of the file")
        segments.append(Segment(marker, position, length))
        position += 2 + length
    raise Truncated("truncated JPEG: no image data (SOS) found")


def exif_segments(data: bytes, segments: list[Segment]) -> list[Segment]:
    """Every APP1 holding EXIF (normally one)."""
    return [s for s in segments
            if s.marker == 0xE1 and data[s.payload_start : s.payload_start + 6] == EXIF_HEADER]


def exif_segment(data: bytes, segments: list[Segment]) -> Segment | None:
    """The first APP1 holding EXIF."""
    found = exif_segments(data, segments)
    return found[0] if found else None


def _starts_tiff(data: bytes, segment: Segment) -> bool:
    return data[segment.payload_start + 6 : segment.payload_start + 10] in (b"II*\x00", b"MM\x00*")


def _check_single_exif(data: bytes, segments: list[Segment], in_place: bool = False) -> None:
    """Refuse EXIF we cannot edit safely: continued in a second APP1 (exiftool's multi-segment EXIF, whose offsets
    run across both segments: growing the first shifts the rest; `in_place` edits are fine) or duplicated (the
    other copy would keep its GPS, contradicting a new one or defeating a strip)."""
    found = exif_segments(data, segments)
    continued = [segment for segment in found[1:] if not _starts_tiff(data, segment)]
    if continued and not in_place:
        raise CorruptMetadata("EXIF continues in a second APP1 segment (multi-segment EXIF); not patched")
    if len(found) - len(continued) > 1:
        raise CorruptMetadata(f"the file holds {len(found) - len(continued)} EXIF blocks; not patched")


def check_complete(data: bytes) -> None:
    """Raise Truncated when the JPEG ends before its image does: no SOS, or no EOI after it (cut mid-scan).

    Entropy-coded data never holds 0xFF 0xD9 (a 0xFF there is followed by 0x00 or a restart marker), so the first
    EOI after the SOS ends the image; data after it (camera trailers, MPF images) does not matter.
    """
    _segments, sos = read_segments(data)
    # Ending in EOI settles it without reading the image (a scan stays a header read); else search after SOS.
    if data[-2:] != b"\xff\xd9" and data.find(b"\xff\xd9", sos) < 0:
        raise Truncated("truncated JPEG: the image data has no end-of-image marker (file cut short); not written")


def image_data_start(data: bytes) -> int:
    """Offset of the SOS marker: everything from there on is the compressed image."""
    return read_segments(data)[1]


def set_gps_jpeg(data: bytes, fix: GpsFix, place: xmp.Place | None = None) -> list[Patch]:
    """Patches that write `fix` into the JPEG's EXIF, and into its XMP when that has a location or `place` is set."""
    check_complete(data)
    segments, _ = read_segments(data)
    patches = _exif_gps_patches(data, segments, fix) + _xmp_location_patches(data, segments, fix, place)
    patches += _iim_place_patches(data, segments, place)
    _check_mpf_offsets(data, segments, patches)
    return patches


def _iim_place_patches(data: bytes, segments: list[Segment], place: xmp.Place | None) -> list[Patch]:
    """IPTC-IIM place datasets follow the new place names when the file has them (never Paris in IIM and Sydney
    in XMP and GPS); a file without IIM place names gets none."""
    if place is None or not xmp.names_place(place):
        return []
    patches = []
    for segment in segments:
        payload = data[segment.payload_start : segment.end]
        if segment.marker == 0xED and payload.startswith(iptc.PHOTOSHOP_HEADER):
            new_payload = iptc.set_location_app13(payload, place.city, place.state, place.country, place.country_code,
                                                  place.sublocation)
            if new_payload != payload:
                patches.append(Patch(segment.offset, data[segment.offset : segment.end],
                                     _segment_bytes(0xED, new_payload)))
    return patches


def _check_mpf_offsets(data: bytes, segments: list[Segment], patches: list[Patch]) -> None:
    """Refuse a size change after an MPF index: its image offsets count from its own header, so bytes inserted
    between that header and the images it points at (after this image's EOI) would aim them at the wrong place."""
    mpf = next((s for s in segments if s.marker == 0xE2 and data[s.payload_start : s.payload_start + 4] == b"MPF\x00"),
               None)
    if mpf is not None and any(p.offset > mpf.offset and len(p.new) != len(p.old) for p in patches):
        raise CorruptMetadata("metadata after the MPF index would change size and break its image offsets; not patched")


def _segment_bytes(marker: int, payload: bytes) -> bytes:
    if len(payload) + 2 > MAX_SEGMENT_LENGTH:
        raise NoRoom("metadata segment would exceed 64 KiB; write a sidecar (--sidecar-only)")
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _xmp_location_patches(data: bytes, segments: list[Segment], fix: GpsFix,
                          place: xmp.Place | None) -> list[Patch]:
    """Keep embedded XMP in step with the new EXIF GPS (a stale XMP position would contradict it); an XMP packet
    without GPS (only place names, say) is left alone unless place names or our provenance are to be written."""
    wanted = xmp.names_place(place) or fix.provenance is not None
    for segment in segments:
        payload = data[segment.payload_start : segment.end]
        if segment.marker == 0xE1 and payload.startswith(xmp.JPEG_XMP_HEADER):
            packet = payload[len(xmp.JPEG_XMP_HEADER) :]
            if not (wanted or xmp.has_gps(packet)):
                return []
            merged = xmp.JPEG_XMP_HEADER + xmp.fit_to_size(xmp.merge_location(packet, fix, place), len(packet))
            return [Patch(segment.offset, data[segment.offset : segment.end], _segment_bytes(0xE1, merged))]
    if not wanted:
        return []
    # A new XMP segment goes after APP0/APP1 (EXIF first, as readers expect); insertions at one offset keep order.
    at = next((s.offset for s in segments if s.marker not in (0xE0, 0xE1)), segments[-1].end if segments else 2)
    return [Patch(at, b"", _segment_bytes(0xE1, xmp.JPEG_XMP_HEADER + xmp.merge_location(None, fix, place, True)))]


def _exif_gps_patches(data: bytes, segments: list[Segment], fix: GpsFix) -> list[Patch]:
    _check_single_exif(data, segments)
    segment = exif_segment(data, segments)
    if segment is None:
        tiff = new_exif_tiff()
        tiff = apply_patches(tiff, set_gps_patches(tiff, fix))
        app1 = b"\xff\xe1" + struct.pack(">H", len(tiff) + 8) + EXIF_HEADER + tiff
        jfif = next((s for s in segments if s.marker == 0xE0), None)
        at = jfif.end if jfif is not None and jfif.offset == 2 else 2
        return [Patch(at, b"", app1)]
    tiff_start = segment.payload_start + 6
    tiff = data[tiff_start : segment.end]
    inner = set_gps_patches(tiff, fix)
    growth = sum(len(p.new) - len(p.old) for p in inner)
    new_length = segment.length + growth
    if new_length > MAX_SEGMENT_LENGTH:
        raise NoRoom("no room left in the 64 KiB EXIF block; write a sidecar (--sidecar-only)")
    length_at = segment.offset + 2
    length_patch = Patch(length_at, data[length_at : length_at + 2], struct.pack(">H", new_length))
    return [length_patch] + [Patch(p.offset + tiff_start, p.old, p.new) for p in inner]


def strip_location_jpeg(data: bytes) -> list[Patch]:
    """Patches that remove EXIF GPS, XMP GPS/location and IPTC location from a JPEG."""
    segments, _ = read_segments(data)
    patches: list[Patch] = []
    _check_single_exif(data, segments, in_place=True)  # in place: a continued EXIF keeps its offsets
    segment = exif_segment(data, segments)
    if segment is not None:
        tiff_start = segment.payload_start + 6
        inner = strip_gps_patches(data[tiff_start : segment.end])
        patches += [Patch(p.offset + tiff_start, p.old, p.new) for p in inner]
    for segment in segments:
        payload = data[segment.payload_start : segment.end]
        if segment.marker == 0xE1 and payload.startswith(xmp.JPEG_XMP_HEADER):
            new_payload = xmp.strip_location_packet_jpeg(payload)
        elif segment.marker == 0xED and payload.startswith(iptc.PHOTOSHOP_HEADER):
            new_payload = iptc.strip_location_app13(payload)
        else:
            continue
        if new_payload != payload:
            new_segment = data[segment.offset : segment.offset + 2] + struct.pack(">H", len(new_payload) + 2)
            patches.append(Patch(segment.offset, data[segment.offset : segment.end], new_segment + new_payload))
    _check_mpf_offsets(data, segments, patches)
    return patches
