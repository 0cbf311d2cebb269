"""A small TIFF/EXIF structure reader and the GPS-IFD edits, done as byte patches.

Edits never move existing bytes: a new GPS IFD (and, when IFD0 has no GPS pointer, a copy of IFD0 with one more
entry) is appended, and pointers are patched. MakerNotes, thumbnails and every other value keep their offsets, so
nothing that uses absolute offsets (many MakerNotes do) breaks. Replaced GPS data is zeroed so an old location
does not linger in the file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from geocore.library.errors import CorruptMetadata
from geocore.library.gps import GpsFix, degrees_to_dms_rationals, dms_rationals_to_degrees, to_rational
from geocore.library.patches import Patch

TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
GPS_POINTER_TAG = 0x8825
EXIF_POINTER_TAG = 0x8769
MAX_ENTRIES = 1000


@dataclass(frozen=True)
class Entry:
    """One 12-byte IFD entry; `raw` is the entry as stored (kept verbatim when IFD0 is copied)."""

    tag: int
    type: int
    count: int
    value_field: bytes
    offset: int
    raw: bytes

    @property
    def value_size(self) -> int:
        """Bytes the value occupies."""
        return TYPE_SIZES.get(self.type, 1) * self.count


@dataclass(frozen=True)
class Ifd:
    """An image file directory at `offset`: entries and the next-IFD offset."""

    offset: int
    entries: tuple[Entry, ...]
    next_offset: int

    @property
    def size(self) -> int:
        """Bytes of the directory itself (count, entries, next pointer)."""
        return 2 + 12 * len(self.entries) + 4

    def find(self, tag: int) -> Entry | None:
        """The entry with `tag`, if any."""
        return next((entry for entry in self.entries if entry.tag == tag), None)


class TiffView:
    """Read-only view of TIFF-structured bytes (a TIFF file or the payload of an EXIF block)."""

    def __init__(self, data: bytes) -> None:
        if len(data) < 8 or data[:4] not in (b"II*\x00", b"MM\x00*"):
            raise CorruptMetadata("not a TIFF structure")
        self.data = data
        self.endian = "<" if data[:2] == b"II" else ">"
        self.ifd0_offset = self.u32(4)

    def u16(self, offset: int) -> int:
        """Unsigned 16-bit value at `offset`."""
        return int(struct.unpack_from(self.endian + "H", self.data, offset)[0])

    def u32(self, offset: int) -> int:
        """Unsigned 32-bit value at `offset`."""
        return int(struct.unpack_from(self.endian + "I", self.data, offset)[0])

    def read_ifd(self, offset: int) -> Ifd:
        """Parse the IFD at `offset`; CorruptMetadata when it does not fit in the data."""
        if offset < 8 or offset + 2 > len(self.data):
            raise CorruptMetadata(f"IFD offset {offset} outside the data")
        count = self.u16(offset)
        end = offset + 2 + 12 * count + 4
        if count > MAX_ENTRIES or end > len(self.data):
            raise CorruptMetadata(f"IFD at {offset} runs past the end")
        entries = []
        for index in range(count):
            position = offset + 2 + 12 * index
            tag, type_, n = struct.unpack_from(self.endian + "HHI", self.data, position)
            raw = self.data[position : position + 12]
            entries.append(Entry(tag, type_, n, raw[8:12], position, raw))
        return Ifd(offset, tuple(entries), self.u32(end - 4))

    def value_bytes(self, entry: Entry) -> bytes:
        """The bytes of an entry's value (inline or at its offset)."""
        if entry.value_size <= 4:
            return entry.value_field[: entry.value_size]
        start = struct.unpack(self.endian + "I", entry.value_field)[0]
        if start + entry.value_size > len(self.data):
            raise CorruptMetadata(f"value of tag {entry.tag:#x} runs past the end")
        return self.data[start : start + entry.value_size]

    def value_range(self, entry: Entry) -> tuple[int, int] | None:
        """(start, end) of an out-of-line value, None when the value is inline."""
        if entry.value_size <= 4:
            return None
        start = struct.unpack(self.endian + "I", entry.value_field)[0]
        return start, start + entry.value_size

    def pointer(self, entry: Entry) -> int:
        """An entry's value read as a LONG offset (sub-IFD pointers)."""
        return int(struct.unpack(self.endian + "I", entry.value_field)[0])

    def gps_ifd(self) -> Ifd | None:
        """The GPS IFD referenced from IFD0, or None."""
        entry = self.read_ifd(self.ifd0_offset).find(GPS_POINTER_TAG)
        return None if entry is None else self.read_ifd(self.pointer(entry))

    def rationals(self, entry: Entry) -> tuple[tuple[int, int], ...]:
        """An unsigned RATIONAL entry's values."""
        raw = self.value_bytes(entry)
        numbers = struct.unpack(self.endian + "I" * (2 * entry.count), raw)
        return tuple(zip(numbers[0::2], numbers[1::2], strict=True))


def _numbers(view: TiffView, entry: Entry) -> tuple[int, ...]:
    """SHORT or LONG array values of an entry."""
    code = {3: "H", 4: "I"}.get(entry.type)
    if code is None:
        raise CorruptMetadata(f"tag {entry.tag:#x} is not SHORT/LONG")
    return tuple(struct.unpack(view.endian + code * entry.count, view.value_bytes(entry)))


def image_data_ranges(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every strip or tile of IFD0's image: the bytes a metadata edit must never touch."""
    view = TiffView(data)
    ifd0 = view.read_ifd(view.ifd0_offset)
    for offsets_tag, counts_tag in ((0x111, 0x117), (0x144, 0x145)):
        offsets, counts = ifd0.find(offsets_tag), ifd0.find(counts_tag)
        if offsets is not None and counts is not None:
            pairs = zip(_numbers(view, offsets), _numbers(view, counts), strict=True)
            return [(start, start + count) for start, count in pairs]
    raise CorruptMetadata("no strips or tiles in IFD0")


def read_gps_fix(data: bytes) -> GpsFix | None:
    """The GPS position stored in TIFF-structured bytes, None when absent or incomplete."""
    view = TiffView(data)
    ifd = view.gps_ifd()
    if ifd is None:
        return None
    entries = {entry.tag: entry for entry in ifd.entries}
    if not all(tag in entries for tag in (1, 2, 3, 4)):
        return None
    lat = dms_rationals_to_degrees(view.rationals(entries[2]))
    lon = dms_rationals_to_degrees(view.rationals(entries[4]))
    lat = -lat if view.value_bytes(entries[1])[:1] in (b"S", b"s") else lat
    lon = -lon if view.value_bytes(entries[3])[:1] in (b"W", b"w") else lon
    alt_m = None
    if 6 in entries:
        num, den = view.rationals(entries[6])[0]
        alt_m = num / den if den else None
        if alt_m is not None and 5 in entries and view.value_bytes(entries[5])[:1] == b"\x01":
            alt_m = -alt_m
    return GpsFix(lat, lon, alt_m)


def build_gps_ifd(fix: GpsFix, at: int, endian: str) -> bytes:
    """A complete GPS IFD (with its values) to be placed at offset `at` (even)."""
    def rationals(pairs: tuple[tuple[int, int], ...]) -> bytes:
        return b"".join(struct.pack(endian + "II", num, den) for num, den in pairs)

    items: list[tuple[int, int, int, bytes]] = [
        (0, 1, 4, bytes([2, 3, 0, 0])),
        (1, 2, 2, (b"N" if fix.lat >= 0 else b"S") + b"\x00"),
        (2, 5, 3, rationals(degrees_to_dms_rationals(fix.lat))),
        (3, 2, 2, (b"E" if fix.lon >= 0 else b"W") + b"\x00"),
        (4, 5, 3, rationals(degrees_to_dms_rationals(fix.lon))),
    ]
    if fix.alt_m is not None:
        items += [(5, 1, 1, bytes([0 if fix.alt_m >= 0 else 1])), (6, 5, 1, rationals((to_rational(fix.alt_m),)))]
    items.append((0x12, 2, 7, b"WGS-84\x00"))
    if fix.method:
        method = b"ASCII\x00\x00\x00" + fix.method.encode("ascii", "replace")
        items.append((0x1B, 7, len(method), method))
    if fix.radius_km is not None:
        items.append((0x1F, 5, 1, rationals((to_rational(fix.radius_km * 1000.0, 100),))))
    return _pack_ifd(items, at, endian)


def _pack_ifd(items: list[tuple[int, int, int, bytes]], at: int, endian: str, next_offset: int = 0) -> bytes:
    """Pack (tag, type, count, value) items into an IFD placed at `at`, values after it, even-aligned."""
    directory = bytearray(struct.pack(endian + "H", len(items)))
    values = bytearray()
    values_start = at + 2 + 12 * len(items) + 4
    for tag, type_, count, value in sorted(items):
        if len(value) <= 4:
            field = value.ljust(4, b"\x00")
        else:
            field = struct.pack(endian + "I", values_start + len(values))
            values += value + (b"\x00" if len(value) % 2 else b"")
        directory += struct.pack(endian + "HHI", tag, type_, count) + field
    directory += struct.pack(endian + "I", next_offset)
    return bytes(directory + values)


def _gps_zero_patches(view: TiffView, ifd: Ifd) -> list[Patch]:
    """Patches that blank an old GPS IFD and its out-of-line values (privacy: no stale location left)."""
    ranges = [(ifd.offset, ifd.offset + ifd.size)]
    ranges += [r for r in (view.value_range(entry) for entry in ifd.entries) if r is not None]
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [Patch(s, view.data[s:e], bytes(e - s)) for s, e in merged if e <= len(view.data)]


def _without_overlaps(fixed: list[Patch], optional: list[Patch]) -> list[Patch]:
    """`fixed` plus those `optional` patches that overlap none of them (never risk a conflicting edit)."""
    def overlaps(a: Patch, b: Patch) -> bool:
        return a.offset < b.offset + max(len(b.old), 1) and b.offset < a.offset + max(len(a.old), 1)

    return fixed + [p for p in optional if not any(overlaps(p, f) for f in fixed)]


def set_gps_patches(data: bytes, fix: GpsFix) -> list[Patch]:
    """Patches (offsets in `data`) that make TIFF-structured `data` carry `fix` in a fresh GPS IFD."""
    view = TiffView(data)
    ifd0 = view.read_ifd(view.ifd0_offset)
    pad = b"\x00" * (len(data) % 2)
    base = len(data) + len(pad)
    pointer = ifd0.find(GPS_POINTER_TAG)
    if pointer is not None:
        block = build_gps_ifd(fix, base, view.endian)
        fixed = [Patch(pointer.offset + 8, pointer.value_field, struct.pack(view.endian + "I", base)),
                 Patch(len(data), b"", pad + block)]
        old_gps = _old_gps_ifd(view, pointer)
        return _without_overlaps(fixed, _gps_zero_patches(view, old_gps) if old_gps else [])
    new_ifd0_size = ifd0.size + 12
    gps_at = base + new_ifd0_size
    gps_at += gps_at % 2
    gps_entry = struct.pack(view.endian + "HHII", GPS_POINTER_TAG, 4, 1, gps_at)
    raws = sorted([entry.raw for entry in ifd0.entries] + [gps_entry], key=lambda raw: struct.unpack(
        view.endian + "H", raw[:2])[0])
    new_ifd0 = struct.pack(view.endian + "H", len(raws)) + b"".join(raws)
    new_ifd0 += struct.pack(view.endian + "I", ifd0.next_offset)
    new_ifd0 += b"\x00" * (gps_at - base - len(new_ifd0))
    block = new_ifd0 + build_gps_ifd(fix, gps_at, view.endian)
    return [Patch(4, data[4:8], struct.pack(view.endian + "I", base)), Patch(len(data), b"", pad + block)]


def _old_gps_ifd(view: TiffView, pointer: Entry) -> Ifd | None:
    try:
        return view.read_ifd(view.pointer(pointer))
    except CorruptMetadata:
        return None  # a broken old GPS IFD is simply unlinked


def strip_gps_patches(data: bytes) -> list[Patch]:
    """Patches that remove the GPS IFD pointer from IFD0 (in place) and blank the GPS data."""
    view = TiffView(data)
    ifd0 = view.read_ifd(view.ifd0_offset)
    pointer = ifd0.find(GPS_POINTER_TAG)
    if pointer is None:
        return []
    kept = [entry.raw for entry in ifd0.entries if entry.tag != GPS_POINTER_TAG]
    rewritten = struct.pack(view.endian + "H", len(kept)) + b"".join(kept)
    rewritten += struct.pack(view.endian + "I", ifd0.next_offset) + b"\x00" * 12
    start, end = ifd0.offset, ifd0.offset + ifd0.size
    fixed = [Patch(start, data[start:end], rewritten)]
    old_gps = _old_gps_ifd(view, pointer)
    return _without_overlaps(fixed, _gps_zero_patches(view, old_gps) if old_gps else [])


def new_exif_tiff(endian: str = ">") -> bytes:
    """A TIFF structure whose IFD0 holds only the tags EXIF requires (to create EXIF where there was none)."""
    magic = b"MM\x00*" if endian == ">" else b"II*\x00"
    rational_72 = struct.pack(endian + "II", 72, 1)
    items = [(0x11A, 5, 1, rational_72), (0x11B, 5, 1, rational_72),
             (0x128, 3, 1, struct.pack(endian + "H", 2)), (0x213, 3, 1, struct.pack(endian + "H", 1))]
    return magic + struct.pack(endian + "I", 8) + _pack_ifd(items, 8, endian)
