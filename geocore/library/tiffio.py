"""A small TIFF/EXIF structure reader and the GPS-IFD edits, done as byte patches.

Edits never move existing bytes: a new GPS IFD (and, when IFD0 has no GPS pointer, a copy of IFD0 with one more
entry) is appended, and pointers are patched. MakerNotes, thumbnails and every other value keep their offsets, so
nothing that uses absolute offsets (many MakerNotes do) breaks. Replaced GPS data is zeroed so an old location
does not linger in the file, but only bytes that belong to nothing else: offsets may alias (a GPS value inside the
Make string, a GPS pointer equal to the Exif IFD's), so the ranges owned by every other structure are computed first.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timezone

from geotagger.geocore.library.errors import CorruptMetadata
from geotagger.geocore.library.gps import GpsFix, degrees_to_dms_rationals, dms_rationals_to_degrees, to_rational
from geotagger.geocore.library.patches import Patch, apply_patches
from geotagger.geocore.library.xmp import fit_to_size as xmp_fit

TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
GPS_POINTER_TAG = 0x8825
EXIF_POINTER_TAG = 0x8769
INTEROP_POINTER_TAG = 0xA005
SUB_IFDS_TAG = 0x14A
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
    """SHORT, LONG or IFD array values of an entry."""
    code = {3: "H", 4: "I", 13: "I"}.get(entry.type)
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


def _gps_items(fix: GpsFix, endian: str) -> list[tuple[int, int, int, bytes]]:
    """(tag, type, count, value) of every GPS tag a write sets for `fix`."""
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
    if fix.fix_time is not None:  # as exiftool -geotag writes them: the fix's instant in UTC (-geosync reads it)
        utc = fix.fix_time.astimezone(timezone.utc) if fix.fix_time.tzinfo else fix.fix_time
        seconds = (utc.second * 1000 + utc.microsecond // 1000, 1000)
        items += [(7, 5, 3, rationals(((utc.hour, 1), (utc.minute, 1), seconds))),
                  (0x1D, 2, 11, utc.strftime("%Y:%m:%d").encode("ascii") + b"\x00")]
    return items


def build_gps_ifd(fix: GpsFix, at: int, endian: str, kept: tuple[Entry, ...] = ()) -> bytes:
    """A GPS IFD (with its values) to be placed at offset `at` (even); `kept` entries are copied verbatim."""
    return _pack_ifd(_gps_items(fix, endian), at, endian, kept_raws=[entry.raw for entry in kept])


def _pack_ifd(items: list[tuple[int, int, int, bytes]], at: int, endian: str, next_offset: int = 0,
              kept_raws: list[bytes] | None = None) -> bytes:
    """Pack (tag, type, count, value) items, plus raw entries kept as they are, into an IFD placed at `at`.

    New values follow the directory, even-aligned; kept entries still point at their old values.
    """
    raws = list(kept_raws or [])
    values = bytearray()
    values_start = at + 2 + 12 * (len(items) + len(raws)) + 4
    for tag, type_, count, value in items:
        if len(value) <= 4:
            field = value.ljust(4, b"\x00")
        else:
            field = struct.pack(endian + "I", values_start + len(values))
            values += value + (b"\x00" if len(value) % 2 else b"")
        raws.append(struct.pack(endian + "HHI", tag, type_, count) + field)
    raws.sort(key=lambda raw: struct.unpack(endian + "H", raw[:2])[0])  # stable: duplicates keep their order
    directory = struct.pack(endian + "H", len(raws)) + b"".join(raws) + struct.pack(endian + "I", next_offset)
    return directory + bytes(values)


# -- who owns which bytes: only bytes that belong to nothing else may be cleared ---------------------------------

Range = tuple[int, int]
SUB_IFD_TAGS = frozenset({EXIF_POINTER_TAG, INTEROP_POINTER_TAG, SUB_IFDS_TAG})
DATA_TAGS = ((0x111, 0x117), (0x144, 0x145), (0x201, 0x202))  # strips, tiles, IFD1's JPEG thumbnail
MAX_IFDS = 256


def _value_ranges(view: TiffView, entries: tuple[Entry, ...]) -> list[Range]:
    return [r for r in (view.value_range(entry) for entry in entries) if r is not None]


def _data_ranges(view: TiffView, ifd: Ifd) -> list[Range]:
    """Image data an IFD points at: strips, tiles, a JPEG thumbnail."""
    ranges = []
    for offsets_tag, counts_tag in DATA_TAGS:
        offsets, counts = ifd.find(offsets_tag), ifd.find(counts_tag)
        if offsets is not None and counts is not None:
            pairs = zip(_numbers(view, offsets), _numbers(view, counts), strict=False)
            ranges += [(start, start + count) for start, count in pairs]
    return ranges


def ranges_owned_by_others(view: TiffView) -> list[Range] | None:
    """Every byte range that belongs to something other than the GPS IFD (header, every IFD reached from IFD0
    but GPS, their values, MakerNote, strips, tiles, thumbnail); None when some structure does not parse, so
    that nothing is known to be free."""
    ranges: list[Range] = [(0, 8)]
    visited: set[int] = set()
    todo = [(view.ifd0_offset, True)]  # (offset, in the IFD0 chain): sub-IFDs' next pointers mean nothing
    try:
        while todo:
            offset, chained = todo.pop()
            if offset == 0 or offset in visited:
                continue
            if len(visited) >= MAX_IFDS:
                return None
            visited.add(offset)
            ifd = view.read_ifd(offset)
            ranges += [(ifd.offset, ifd.offset + ifd.size), *_value_ranges(view, ifd.entries), *_data_ranges(view, ifd)]
            if chained:
                todo.append((ifd.next_offset, True))
            for entry in ifd.entries:
                if entry.tag in SUB_IFD_TAGS and entry.type in (4, 13):
                    todo += [(sub, False) for sub in _numbers(view, entry)]
    except (CorruptMetadata, struct.error, ValueError):
        return None
    return ranges


def _overlaps(a: Range, b: Range) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _free_parts(ranges: list[Range], protected: list[Range], limit: int) -> list[Range]:
    """The parts of `ranges` (within 0..limit) that no `protected` range covers, merged."""
    cuts = sorted((max(s, 0), min(e, limit)) for s, e in protected if s < e)
    free: list[Range] = []
    for start, end in sorted((s, min(e, limit)) for s, e in ranges):
        cursor = start
        for cut_start, cut_end in cuts:
            if cut_end <= cursor or cut_start >= end:
                continue
            if cut_start > cursor:
                free.append((cursor, cut_start))
            cursor = max(cursor, cut_end)
        if cursor < end:
            free.append((cursor, end))
    merged: list[Range] = []
    for start, end in sorted(free):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _clear_patches(view: TiffView, ranges: list[Range], protected: list[Range] | None) -> list[Patch]:
    """Patches that zero those bytes of `ranges` nobody else owns (none at all when ownership is unknown)."""
    if protected is None:
        return []  # an unparsed structure could live anywhere: leaving stale GPS bytes beats destroying data
    free = _free_parts(ranges, protected, len(view.data))
    return [Patch(s, view.data[s:e], bytes(e - s)) for s, e in free if view.data[s:e].strip(b"\x00")]


def _chain_loops(view: TiffView) -> bool:
    """True when following next-IFD pointers from IFD0 comes back to an IFD already seen."""
    seen: set[int] = set()
    offset = view.ifd0_offset
    while offset and len(seen) < MAX_IFDS:
        if offset in seen:
            return True
        seen.add(offset)
        try:
            offset = view.read_ifd(offset).next_offset
        except CorruptMetadata:
            return False
    return False


def _refuse_odd_layout(view: TiffView, others: list[Range] | None, old_gps: Ifd | None) -> None:
    """A write appends and re-points: refuse layouts where that would change what other structures read."""
    if _chain_loops(view):
        raise CorruptMetadata("the IFD chain loops back on itself; not patched")
    if others is None:
        return
    if old_gps is not None and any(_overlaps((old_gps.offset, old_gps.offset + old_gps.size), r) for r in others):
        raise CorruptMetadata("the GPS IFD shares its bytes with another IFD or value (aliased offsets); not patched")
    if any(end > len(view.data) for _start, end in others):
        raise CorruptMetadata("an IFD or value lies past the end of the EXIF data; appending would change it")


def set_gps_patches(data: bytes, fix: GpsFix) -> list[Patch]:
    """Patches (offsets in `data`) that make TIFF-structured `data` carry `fix`.

    Like exiftool, GPS tags we do not set keep their values: the new GPS IFD holds our tags plus every other entry
    of the old one, copied verbatim (their values stay where they are). Only the old directory and the replaced
    values are cleared, and only where no other structure owns those bytes.
    """
    view = TiffView(data)
    ifd0 = view.read_ifd(view.ifd0_offset)
    others = ranges_owned_by_others(view)
    pointer = ifd0.find(GPS_POINTER_TAG)
    old_gps = _old_gps_ifd(view, pointer) if pointer is not None else None
    _refuse_odd_layout(view, others, old_gps)
    pad = b"\x00" * (len(data) % 2)
    base = len(data) + len(pad)
    if pointer is None:
        return _set_gps_with_new_ifd0(view, ifd0, fix, base, pad)
    set_tags = {tag for tag, *_rest in _gps_items(fix, view.endian)}
    kept = tuple(entry for entry in old_gps.entries if entry.tag not in set_tags) if old_gps else ()
    block = build_gps_ifd(fix, base, view.endian, kept)
    fixed = [Patch(pointer.offset + 8, pointer.value_field, struct.pack(view.endian + "I", base)),
             Patch(len(data), b"", pad + block)]
    if old_gps is None:
        return fixed
    replaced = [(old_gps.offset, old_gps.offset + old_gps.size)]
    replaced += _value_ranges(view, tuple(e for e in old_gps.entries if e.tag in set_tags))
    protected = None if others is None else others + _value_ranges(view, kept)
    return _without_overlaps(fixed, _clear_patches(view, replaced, protected))


def _set_gps_with_new_ifd0(view: TiffView, ifd0: Ifd, fix: GpsFix, base: int, pad: bytes) -> list[Patch]:
    """IFD0 has no GPS pointer: a copy of IFD0 with one more entry and a fresh GPS IFD are appended."""
    data = view.data
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


def _without_overlaps(fixed: list[Patch], optional: list[Patch]) -> list[Patch]:
    """`fixed` plus those `optional` patches that overlap none of them (never risk a conflicting edit)."""
    def overlaps(a: Patch, b: Patch) -> bool:
        return a.offset < b.offset + max(len(b.old), 1) and b.offset < a.offset + max(len(a.old), 1)

    return fixed + [p for p in optional if not any(overlaps(p, f) for f in fixed)]


def _old_gps_ifd(view: TiffView, pointer: Entry) -> Ifd | None:
    try:
        return view.read_ifd(view.pointer(pointer))
    except CorruptMetadata:
        return None  # a broken old GPS IFD is simply unlinked


def strip_gps_patches(data: bytes) -> list[Patch]:
    """Patches that remove the GPS IFD pointer from IFD0 (in place) and blank the GPS bytes nothing else owns."""
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
    if old_gps is None:
        return fixed
    gps_ranges = [(old_gps.offset, old_gps.offset + old_gps.size), *_value_ranges(view, old_gps.entries)]
    return _without_overlaps(fixed, _clear_patches(view, gps_ranges, ranges_owned_by_others(view)))


def new_exif_tiff(endian: str = ">") -> bytes:
    """A TIFF structure whose IFD0 holds only the tags EXIF requires (to create EXIF where there was none)."""
    magic = b"MM\x00*" if endian == ">" else b"II*\x00"
    rational_72 = struct.pack(endian + "II", 72, 1)
    items = [(0x11A, 5, 1, rational_72), (0x11B, 5, 1, rational_72),
             (0x128, 3, 1, struct.pack(endian + "H", 2)), (0x213, 3, 1, struct.pack(endian + "H", 1))]
    return magic + struct.pack(endian + "I", 8) + _pack_ifd(items, 8, endian)


# -- XMP in IFD0 (tag 700): TIFF and DNG carry place names and provenance in the file itself ----------------------

XMP_TAG = 700
XMP_TYPES = (1, 2, 7)  # BYTE per the XMP specification; ASCII and UNDEFINED seen in the wild


def set_location_patches(data: bytes, fix: GpsFix, packet_for: Callable[[bytes | None], bytes]) -> list[Patch]:
    """GPS patches (`set_gps_patches`) plus IFD0's XMP packet: `packet_for(old packet or None)` is written over
    the old one when it fits its size (padding), else appended with the XMP entry re-pointed; IFD0 without an
    XMP entry is copied once more with one (the header then points at the copy)."""
    gps = set_gps_patches(data, fix)
    append = next((p for p in gps if p.offset == len(data) and not p.old), Patch(len(data), b"", b""))
    header = next((p for p in gps if p.offset == 4 and len(p.old) == 4), None)
    in_place = [p for p in gps if p is not append and p is not header]
    middle = apply_patches(data, gps)
    view = TiffView(middle)
    entry = view.read_ifd(view.ifd0_offset).find(XMP_TAG)
    old = view.value_bytes(entry) if entry is not None and entry.type in XMP_TYPES else None
    if entry is not None and old is None:
        raise CorruptMetadata("IFD0 XMP entry of an unexpected type; not patched")
    packet = packet_for(old)
    tail = bytearray(append.new)
    value = view.value_range(entry) if entry is not None else None
    if old is not None and value is not None and value[1] <= len(data):
        fitted = xmp_fit(packet, len(old))
        if len(fitted) == len(old):
            in_place.append(Patch(value[0], data[value[0] : value[1]], fitted))
            return _assembled(data, in_place, header, tail)
    tail += b"\x00" * (len(middle) % 2)
    xmp_at = len(data) + len(tail)
    tail += packet
    if entry is not None:
        field = struct.pack(view.endian + "II", len(packet), xmp_at)
        at = entry.offset + 4
        if at >= len(data):
            tail[at - len(data) : at - len(data) + 8] = field
        else:
            in_place.append(Patch(at, data[at : at + 8], field))
        return _assembled(data, in_place, header, tail)
    tail += b"\x00" * (len(tail) % 2)
    ifd_at = len(data) + len(tail)
    ifd0 = view.read_ifd(view.ifd0_offset)
    raws = sorted([e.raw for e in ifd0.entries] + [struct.pack(view.endian + "HHII", XMP_TAG, 1, len(packet), xmp_at)],
                  key=lambda raw: struct.unpack(view.endian + "H", raw[:2])[0])
    tail += struct.pack(view.endian + "H", len(raws)) + b"".join(raws)
    tail += struct.pack(view.endian + "I", ifd0.next_offset)
    return _assembled(data, in_place, Patch(4, data[4:8], struct.pack(view.endian + "I", ifd_at)), tail)


def _assembled(data: bytes, in_place: list[Patch], header: Patch | None, tail: bytearray) -> list[Patch]:
    return in_place + ([header] if header is not None else []) + ([Patch(len(data), b"", bytes(tail))] if tail else [])


def strip_location_patches(data: bytes, strip_packet: Callable[[bytes], bytes]) -> list[Patch]:
    """GPS strip patches plus IFD0's XMP packet without location, in place (it keeps its size: padding grows);
    CorruptMetadata when the packet cannot keep its size."""
    patches = strip_gps_patches(data)
    view = TiffView(data)
    entry = view.read_ifd(view.ifd0_offset).find(XMP_TAG)
    value = view.value_range(entry) if entry is not None and entry.type in XMP_TYPES else None
    if value is None:
        return patches
    old = data[value[0] : value[1]]
    stripped = strip_packet(old)
    if stripped == old:
        return patches
    fitted = xmp_fit(stripped, len(old))
    if len(fitted) != len(old) or any(p.offset < value[1] and value[0] < p.offset + len(p.old) for p in patches):
        raise CorruptMetadata("the XMP packet's location cannot be removed in place; not stripped")
    return patches + [Patch(value[0], old, fitted)]
