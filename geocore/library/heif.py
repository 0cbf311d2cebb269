"""HEIC/HEIF location edits: the Exif and XMP items written in place, the item boxes kept consistent.

Finding the EXIF item means reading the ISOBMFF `meta` box: `iinf` names the item of type 'Exif', `iloc` says
where its bytes are, `iref` 'cdsc' ties it to the image it describes (libheif, and so Apple's and Google's readers,
look for that link). A strip blanks the GPS in place (same size, nothing moves). A write puts the new Exif item
and an XMP item (type 'mime', application/rdf+xml) in a new `mdat` at the end of the file and rebuilds `meta`
with their entries; as `meta` changes size, every item offset behind it moves by the same amount, and the verify
step decodes the primary image before and after. The old Exif bytes, referenced by nothing any more, are zeroed.

Writing a file again must not grow it each time: an Exif (or XMP) payload of the same size as the item's is
written where the item is, with `meta` untouched; a GPS IFD that is the Exif's own tail (where our previous write
put it) is rebuilt where it stands instead of appended again; and an `mdat` at the end of the file that holds
nothing but the items being rewritten (the one our previous write added) is replaced, not followed by another.
Layouts a write cannot keep consistent (image sequences, items stored by reference, the last box running to the
end of the file) are refused with a reason.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from geotagger.geocore.library import xmp
from geotagger.geocore.library.errors import CorruptMetadata
from geotagger.geocore.library.gps import GpsFix
from geotagger.geocore.library.patches import Patch, apply_patches
from geotagger.geocore.library.tiffio import (
    GPS_POINTER_TAG,
    TiffView,
    new_exif_tiff,
    ranges_owned_by_others,
    set_gps_patches,
    strip_gps_patches,
)


class NoExifItem(CorruptMetadata):
    """The file has no EXIF at all: nothing to strip."""


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of the boxes in data[start:end]."""
    for box_type, _box_start, payload_start, box_end in boxes_at(data, start, end):
        yield box_type, payload_start, box_end


def boxes_at(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, box start, payload start, box end) of the boxes in data[start:end]."""
    position = start
    while position + 8 <= end:
        size, box_type = struct.unpack_from(">I4s", data, position)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, position + 8)
            header = 16
        elif size == 0:
            size = end - position
        if size < header or position + size > end:
            raise CorruptMetadata(f"box {box_type!r} at {position} runs past its parent")
        yield box_type, position, position + header, position + size
        position += size


def _child(data: bytes, start: int, end: int, wanted: bytes) -> tuple[int, int]:
    found = next(((s, e) for t, s, e in _boxes(data, start, end) if t == wanted), None)
    if found is None:
        raise CorruptMetadata(f"no {wanted.decode()} box")
    return found


def _exif_item_id(data: bytes, start: int, end: int) -> int:
    """The item id of type 'Exif' in an `iinf` box payload."""
    version = data[start]
    first_entry = start + 4 + (2 if version == 0 else 4)
    for box_type, s, _e in _boxes(data, first_entry, end):
        if box_type != b"infe" or data[s] < 2:
            continue
        item_id, id_end = (struct.unpack_from(">H", data, s + 4)[0], s + 6) if data[s] == 2 else \
            (struct.unpack_from(">I", data, s + 4)[0], s + 8)
        if data[id_end + 2 : id_end + 6] == b"Exif":
            return int(item_id)
    raise NoExifItem("no Exif item")


def _read_uint(data: bytes, position: int, size: int) -> tuple[int, int]:
    return (int.from_bytes(data[position : position + size], "big") if size else 0), position + size


def _item_extent(data: bytes, start: int, item_id: int) -> tuple[int, int]:
    """(offset, length) of an item in an `iloc` box payload; only one extent in the file is supported."""
    version = data[start]
    offset_size, length_size = data[start + 4] >> 4, data[start + 4] & 0x0F
    base_offset_size, index_size = data[start + 5] >> 4, (data[start + 5] & 0x0F if version in (1, 2) else 0)
    count_size = 2 if version < 2 else 4
    count, position = _read_uint(data, start + 6, count_size)
    for _ in range(count):
        this_id, position = _read_uint(data, position, 2 if version < 2 else 4)
        method = 0
        if version in (1, 2):
            method, position = _read_uint(data, position, 2)
        position += 2  # data_reference_index
        base, position = _read_uint(data, position, base_offset_size)
        extents, position = _read_uint(data, position, 2)
        spans = []
        for _ in range(extents):
            position += index_size
            extent_offset, position = _read_uint(data, position, offset_size)
            extent_length, position = _read_uint(data, position, length_size)
            spans.append((base + extent_offset, extent_length))
        if this_id == item_id:
            if (method & 0x0F) != 0 or len(spans) != 1:
                raise CorruptMetadata("Exif item not stored as one extent in the file")
            return spans[0]
    raise CorruptMetadata("Exif item has no location")


def exif_tiff_span(data: bytes) -> tuple[int, int]:
    """(start, end) of the TIFF structure of the EXIF item in a HEIF file."""
    meta_start, meta_end = _child(data, 0, len(data), b"meta")
    children_start = meta_start + 4  # meta is a FullBox
    item_id = _exif_item_id(data, *_child(data, children_start, meta_end, b"iinf"))
    offset, length = _item_extent(data, _child(data, children_start, meta_end, b"iloc")[0], item_id)
    if offset + length > len(data) or length < 4:
        raise CorruptMetadata("Exif item outside the file")
    (tiff_offset,) = struct.unpack_from(">I", data, offset)
    tiff_start = offset + 4 + tiff_offset
    if tiff_start >= offset + length:
        raise CorruptMetadata("bad Exif item header")
    return tiff_start, offset + length


def strip_location_heif(data: bytes) -> list[Patch]:
    """Patches blanking EXIF GPS inside a HEIF's EXIF item and removing location from its XMP item, both in place
    (no byte moves: the XMP packet keeps its size by growing its padding)."""
    try:
        start, end = exif_tiff_span(data)
        patches = strip_gps_patches(data[start:end])
    except NoExifItem:
        start, patches = 0, []
    if any(len(p.new) != len(p.old) for p in patches):
        raise CorruptMetadata("strip would change the EXIF item's size")
    return [Patch(p.offset + start, p.old, p.new) for p in patches] + _xmp_strip_patches(data)


def _xmp_strip_patches(data: bytes) -> list[Patch]:
    """The XMP item without location, rewritten where it is; CorruptMetadata when it cannot keep its size."""
    try:
        layout = read_layout(data)
    except CorruptMetadata:
        return []  # a layout we cannot read has no XMP item we could have written
    items = layout.items_of(b"mime", XMP_CONTENT_TYPE)
    if not items:
        return []
    span = _file_extent(layout, items[0].item_id)
    packet = item_bytes(data, layout, items[0].item_id)
    stripped = xmp.strip_location_packet(packet)
    if stripped == packet:
        return []
    stripped = xmp.fit_to_size(stripped, len(packet))
    if span is None or len(stripped) != len(packet):
        raise CorruptMetadata("the XMP item's location cannot be removed in place; not stripped")
    return [Patch(span[0], packet, stripped)]


# -- writing: Exif and XMP items added or replaced, the meta box rebuilt, every moved offset moved -----------------

XMP_CONTENT_TYPE = b"application/rdf+xml"
EXIF_ITEM_PREFIX = b"\x00\x00\x00\x06Exif\x00\x00"  # offset to the TIFF header, then the usual APP1 marker


@dataclass
class Extent:
    """One extent of an item's data: absolute offset (construction method 0) or one inside `idat` (method 1)."""

    index: int
    offset: int
    length: int


@dataclass
class ItemLocation:
    """One `iloc` entry."""

    item_id: int
    method: int
    data_reference: int
    base_offset: int
    extents: list[Extent]


@dataclass
class ItemLocations:
    """A parsed `iloc` box: its version, field sizes and entries."""

    version: int
    offset_size: int
    length_size: int
    base_offset_size: int
    index_size: int
    items: list[ItemLocation]

    def find(self, item_id: int) -> ItemLocation | None:
        """The entry of `item_id`, if any."""
        return next((item for item in self.items if item.item_id == item_id), None)

    def pack(self) -> bytes:
        """The box payload (FullBox header included), in this object's field sizes."""
        id_size = 2 if self.version < 2 else 4
        out = bytearray(struct.pack(">B3x", self.version))
        out += bytes([self.offset_size << 4 | self.length_size,
                      self.base_offset_size << 4 | (self.index_size if self.version in (1, 2) else 0)])
        out += len(self.items).to_bytes(id_size, "big")
        for item in self.items:
            out += item.item_id.to_bytes(id_size, "big")
            if self.version in (1, 2):
                out += struct.pack(">H", item.method & 0x0F)
            out += struct.pack(">H", item.data_reference) + item.base_offset.to_bytes(self.base_offset_size, "big")
            out += struct.pack(">H", len(item.extents))
            for extent in item.extents:
                if self.version in (1, 2):
                    out += extent.index.to_bytes(self.index_size, "big")
                out += extent.offset.to_bytes(self.offset_size, "big") + extent.length.to_bytes(self.length_size, "big")
        return bytes(out)


def parse_iloc(data: bytes, start: int, end: int) -> ItemLocations:
    """The `iloc` box payload at data[start:end]; CorruptMetadata when it does not fit."""
    version = data[start]
    if version > 2 or start + 8 > end:
        raise CorruptMetadata(f"iloc version {version} not understood")
    sizes = ItemLocations(version, data[start + 4] >> 4, data[start + 4] & 0x0F, data[start + 5] >> 4,
                          data[start + 5] & 0x0F if version in (1, 2) else 0, [])
    if any(size not in (0, 4, 8) for size in (sizes.offset_size, sizes.length_size, sizes.base_offset_size)):
        raise CorruptMetadata("iloc field sizes not understood")
    id_size = 2 if version < 2 else 4
    count, position = _read_uint(data, start + 6, id_size)
    for _ in range(count):
        item_id, position = _read_uint(data, position, id_size)
        method = 0
        if version in (1, 2):
            method, position = _read_uint(data, position, 2)
        reference, position = _read_uint(data, position, 2)
        base, position = _read_uint(data, position, sizes.base_offset_size)
        extent_count, position = _read_uint(data, position, 2)
        extents = []
        for _ in range(extent_count):
            index, position = _read_uint(data, position, sizes.index_size)
            offset, position = _read_uint(data, position, sizes.offset_size)
            length, position = _read_uint(data, position, sizes.length_size)
            extents.append(Extent(index, offset, length))
        sizes.items.append(ItemLocation(item_id, method & 0x0F, reference, base, extents))
        if position > end:
            raise CorruptMetadata("iloc runs past its box")
    return sizes


@dataclass
class ItemInfo:
    """One `infe` entry: id, type, MIME content type (for 'mime' items) and the box as stored."""

    item_id: int
    item_type: bytes
    content_type: bytes
    box: bytes


def parse_iinf(data: bytes, start: int, end: int) -> tuple[int, list[ItemInfo]]:
    """(version, entries) of an `iinf` payload; entries of infe versions before 2 have an empty type."""
    version = data[start]
    entries = []
    for box_type, s, e in _boxes(data, start + 4 + (2 if version == 0 else 4), end):
        if box_type != b"infe":
            continue
        infe_version = data[s]
        id_size = 4 if infe_version >= 3 else 2
        item_id = int.from_bytes(data[s + 4 : s + 4 + id_size], "big")
        item_type, content_type = b"", b""
        if infe_version >= 2:
            at = s + 4 + id_size + 2
            item_type = data[at : at + 4]
            strings = data[at + 4 : e].split(b"\x00")
            content_type = strings[1] if item_type == b"mime" and len(strings) > 1 else b""
        entries.append(ItemInfo(item_id, item_type, content_type, data[s - 8 : e]))
    return version, entries


def _full_box(box_type: bytes, version: int, flags: int, body: bytes) -> bytes:
    return struct.pack(">I4sB", 12 + len(body), box_type, version) + flags.to_bytes(3, "big") + body


def _box(box_type: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), box_type) + payload


def _new_infe(item_id: int, item_type: bytes, content_type: bytes = b"") -> bytes:
    version = 2 if item_id <= 0xFFFF else 3
    body = item_id.to_bytes(2 if version == 2 else 4, "big") + b"\x00\x00" + item_type + b"\x00"
    return _full_box(b"infe", version, 0, body + (content_type + b"\x00" if content_type else b""))


@dataclass
class Layout:
    """What a HEIF write needs to know: the meta box, its children, items and the primary item."""

    meta: tuple[int, int, int]  # box start, payload start, end
    children: list[tuple[bytes, int, int, int]]  # (type, box start, payload start, end) of each meta child
    locations: ItemLocations
    iinf_version: int
    infos: list[ItemInfo]
    primary: int

    def items_of(self, wanted: bytes, content_type: bytes = b"") -> list[ItemInfo]:
        """Items of one type (and MIME content type)."""
        return [i for i in self.infos if i.item_type == wanted and (not content_type or i.content_type == content_type)]


def read_layout(data: bytes) -> Layout:
    """The meta box of a HEIF file; CorruptMetadata for structures a write cannot keep consistent."""
    top = list(boxes_at(data, 0, len(data)))
    metas = [(b, s, e) for t, b, s, e in top if t == b"meta"]
    if len(metas) != 1:
        raise CorruptMetadata("HEIF file without exactly one top-level meta box")
    if any(t in (b"moov", b"moof") for t, _b, _s, _e in top):
        raise CorruptMetadata("HEIF image sequence (moov): chunk offsets not rewritten; not written")
    box_start, payload_start, end = metas[0]
    children = list(boxes_at(data, payload_start + 4, end))
    found = {t: (s, e) for t, _b, s, e in children}
    for needed in (b"iloc", b"iinf", b"pitm"):
        if needed not in found:
            raise CorruptMetadata(f"no {needed.decode()} box")
    iinf_version, infos = parse_iinf(data, *found[b"iinf"])
    pitm_start = found[b"pitm"][0]
    primary = _read_uint(data, pitm_start + 4, 2 if data[pitm_start] == 0 else 4)[0]
    return Layout((box_start, payload_start, end), children,
                  parse_iloc(data, *found[b"iloc"]), iinf_version, infos, primary)


def item_bytes(data: bytes, layout: Layout, item_id: int) -> bytes:
    """An item's data (construction method 0 or 1); CorruptMetadata for others."""
    location = layout.locations.find(item_id)
    if location is None:
        raise CorruptMetadata(f"item {item_id} has no location")
    if location.method == 1:
        idat = next(((s, e) for t, _b, s, e in layout.children if t == b"idat"), None)
        if idat is None:
            raise CorruptMetadata("item stored in a missing idat box")
        origin, limit = idat[0] + location.base_offset, idat[1]
    elif location.method == 0 and location.data_reference == 0:
        origin, limit = location.base_offset, len(data)
    else:
        raise CorruptMetadata(f"item {item_id} is stored by reference or construction; not read")
    pieces = []
    for extent in location.extents:
        start = origin + extent.offset
        if start + extent.length > limit:
            raise CorruptMetadata(f"item {item_id} extends past its container")
        pieces.append(data[start : start + extent.length])
    return b"".join(pieces)


def _exif_item_payload(data: bytes, layout: Layout, fix: GpsFix) -> tuple[int | None, bytes]:
    """(existing Exif item id or None, the new Exif item data with `fix` written)."""
    items = layout.items_of(b"Exif")
    if len(items) > 1:
        raise CorruptMetadata(f"the file holds {len(items)} Exif items; not patched")
    if not items:
        tiff = new_exif_tiff()
        return None, EXIF_ITEM_PREFIX + apply_patches(tiff, set_gps_patches(tiff, fix))
    old = item_bytes(data, layout, items[0].item_id)
    if len(old) < 4:
        raise CorruptMetadata("Exif item too short")
    tiff_start = 4 + struct.unpack_from(">I", old, 0)[0]
    tiff = old[tiff_start:]
    return items[0].item_id, old[:tiff_start] + tiff_with_gps(tiff, fix)


def tiff_with_gps(tiff: bytes, fix: GpsFix) -> bytes:
    """`tiff` carrying `fix`; when its GPS IFD is its own tail (our previous write), the new one takes its place."""
    written = apply_patches(tiff, set_gps_patches(tiff, fix))
    try:
        return _gps_tail_reused(tiff, written)
    except (CorruptMetadata, struct.error):
        return written


def _gps_tail_reused(tiff: bytes, written: bytes) -> bytes:
    """`written` with its appended GPS IFD moved down over the old one, when the old one was the tail of `tiff`,
    was cleared whole, and nothing else points there; else `written` as it is."""
    before, after = TiffView(tiff), TiffView(written)
    old_gps, new_gps = before.gps_ifd(), after.gps_ifd()
    others = ranges_owned_by_others(before)
    if old_gps is None or new_gps is None or others is None or old_gps.offset % 2 or new_gps.offset < len(tiff):
        return written
    dead = (old_gps.offset, len(tiff))
    if any(written[dead[0] : dead[1]]) or any(a < dead[1] and dead[0] < b for a, b in others):
        return written
    shift = new_gps.offset - dead[0]
    block = bytearray(written[new_gps.offset :])
    for entry in new_gps.entries:
        span = after.value_range(entry)
        if span is None:
            continue
        if span[0] >= new_gps.offset:  # our value, inside the appended block: it moves with it
            struct.pack_into(after.endian + "I", block, entry.offset - new_gps.offset + 8, span[0] - shift)
        elif span[1] > dead[0]:
            return written  # a kept value lies in the old tail
    pointer = after.read_ifd(after.ifd0_offset).find(GPS_POINTER_TAG)
    if pointer is None:
        return written
    head = bytearray(written[: dead[0]])
    struct.pack_into(after.endian + "I", head, pointer.offset + 8, dead[0])
    return bytes(head + block)


def _xmp_item_payload(data: bytes, layout: Layout, fix: GpsFix, place: xmp.Place | None) -> tuple[int | None, bytes]:
    """(existing XMP item id or None, the packet with `fix`, place names and provenance merged)."""
    items = layout.items_of(b"mime", XMP_CONTENT_TYPE)
    if len(items) > 1:
        raise CorruptMetadata("the file holds two XMP items; not patched")
    if not items:
        return None, xmp.merge_location(None, fix, place, True)
    packet = item_bytes(data, layout, items[0].item_id)
    return items[0].item_id, xmp.fit_to_size(xmp.merge_location(packet, fix, place), len(packet))


def _refuse_open_ended(data: bytes) -> None:
    """A last box whose size field is 0 runs to the end of the file: appending would put our box inside it."""
    for _type, box_start, _payload, _end in boxes_at(data, 0, len(data)):
        if struct.unpack_from(">I", data, box_start)[0] == 0:
            raise CorruptMetadata("the last box runs to the end of the file (size 0); not appended to")


def set_gps_heif(data: bytes, fix: GpsFix, place: xmp.Place | None = None) -> list[Patch]:
    """Patches writing `fix` into the Exif item and `fix`, place names and provenance into the XMP item."""
    layout = read_layout(data)
    _refuse_open_ended(data)
    if layout.primary not in {info.item_id for info in layout.infos}:
        raise CorruptMetadata("the primary item has no item info")
    exif_id, exif_payload = _exif_item_payload(data, layout, fix)
    xmp_id, packet = _xmp_item_payload(data, layout, fix, place)
    next_id = max([info.item_id for info in layout.infos] + [loc.item_id for loc in layout.locations.items]) + 1
    new_exif, new_xmp = exif_id is None, xmp_id is None
    exif_id = next_id if exif_id is None else exif_id
    xmp_id = (next_id + new_exif) if xmp_id is None else xmp_id
    if max(exif_id, xmp_id) > 0xFFFF and (layout.locations.version < 2 or layout.iinf_version == 0):
        raise CorruptMetadata("item ids beyond what this file's boxes can hold; not patched")
    added = [(exif_id, b"Exif", b"")] * new_exif + [(xmp_id, b"mime", XMP_CONTENT_TYPE)] * new_xmp
    payloads = {exif_id: exif_payload, xmp_id: packet}
    in_place = {item_id: patch for item_id in payloads if item_id not in (i for i, _t, _c in added)
                for patch in [_in_place_patch(data, layout, item_id, payloads[item_id])] if patch is not None}
    if len(in_place) == len(payloads):
        return list(in_place.values())  # same sizes: nothing moves, meta stays as it is
    tail = _our_trailing_mdat(data, layout, set(payloads) - {i for i, _t, _c in added})
    if tail is not None:  # everything in the last mdat moves: it is replaced, not followed by another
        in_place = {item_id: patch for item_id, patch in in_place.items() if patch.offset < tail}
    moved = {item_id: payload for item_id, payload in payloads.items() if item_id not in in_place}
    mdat_at = len(data) if tail is None else tail
    meta_start, _payload, meta_end = layout.meta
    new_meta = _rebuilt_meta(data, layout, added, {item_id: len(payload) for item_id, payload in moved.items()},
                             mdat_at)
    cleared = [p for item_id in moved for p in _cleared_item(data, layout, item_id) if p.offset < mdat_at]
    return [Patch(meta_start, data[meta_start:meta_end], new_meta), *cleared, *in_place.values(),
            Patch(mdat_at, data[mdat_at:], _box(b"mdat", b"".join(moved.values())))]


def _our_trailing_mdat(data: bytes, layout: Layout, item_ids: set[int]) -> int | None:
    """Start of the file's last box when it is an mdat behind meta whose payload is exactly the data of some of
    `item_ids` (what our previous write appended), else None."""
    last = None
    for box in boxes_at(data, 0, len(data)):
        last = box
    if last is None or last[0] != b"mdat" or last[1] < layout.meta[2] or last[3] != len(data):
        return None
    payload_start = last[2]
    inside: list[tuple[int, int]] = []
    for location in layout.locations.items:
        span = _file_extent(layout, location.item_id)
        starts_inside = span is not None and span[0] >= payload_start
        if location.method == 0 and location.data_reference == 0 and any(
                location.base_offset + e.offset + e.length > payload_start for e in location.extents):
            if location.item_id not in item_ids or not starts_inside:
                return None  # something else lives there
            assert span is not None
            inside.append(span)
    inside.sort()
    covered = payload_start
    for start, end in inside:
        if start != covered:
            return None
        covered = end
    return last[1] if inside and covered == len(data) else None


def _file_extent(layout: Layout, item_id: int) -> tuple[int, int] | None:
    """(start, end) of an item stored as one extent in the file itself, else None."""
    location = layout.locations.find(item_id)
    if location is None or location.method != 0 or location.data_reference != 0 or len(location.extents) != 1:
        return None
    start = location.base_offset + location.extents[0].offset
    return start, start + location.extents[0].length


def _in_place_patch(data: bytes, layout: Layout, item_id: int, payload: bytes) -> Patch | None:
    """The item rewritten where it is when the new payload has its size (XMP within its padding), else None."""
    span = _file_extent(layout, item_id)
    if span is None or span[1] - span[0] != len(payload) or span[1] > len(data) or \
            span[0] < layout.meta[2] <= span[1] or (span[0] < layout.meta[2] and span[1] > layout.meta[0]):
        return None
    return Patch(span[0], data[span[0] : span[1]], payload)


def _cleared_item(data: bytes, layout: Layout, item_id: int) -> list[Patch]:
    """Zero a moved item's old bytes (they would keep the old position) unless something else also uses them."""
    location = layout.locations.find(item_id)
    if location is None or location.method != 0 or location.data_reference != 0:
        return []
    spans = [(location.base_offset + e.offset, location.base_offset + e.offset + e.length) for e in location.extents]
    others = [(loc.base_offset + e.offset, loc.base_offset + e.offset + e.length)
              for loc in layout.locations.items if loc is not location and loc.method == 0 for e in loc.extents]
    meta = (layout.meta[0], layout.meta[2])
    if any(a < d and c < b for a, b in spans for c, d in [*others, meta]) or any(b > len(data) for _a, b in spans):
        return []
    return [Patch(a, data[a:b], bytes(b - a)) for a, b in spans if a < b]


def _rebuilt_meta(data: bytes, layout: Layout, added: list[tuple[int, bytes, bytes]],
                  lengths: dict[int, int], mdat_at: int) -> bytes:
    """The meta box with new item infos, references and locations; offsets behind it moved by its growth."""
    meta_start, payload_start, meta_end = layout.meta
    replaced: dict[bytes, bytes] = {}
    for box_type, _box_start, child_start, child_end in layout.children:
        if box_type == b"iinf":
            replaced[b"iinf"] = _grown_iinf(data, child_start, child_end, added)
        elif box_type == b"iref" and added:
            replaced[b"iref"] = _grown_iref(data, child_start, child_end, added, layout.primary)
    if added and b"iref" not in replaced:
        replaced[b"iref"] = _grown_iref(b"\x00" * 4, 0, 4, added, layout.primary)
    header_size = payload_start + 4 - meta_start
    for _attempt in range(3):  # the offset field size can grow once with the offsets it must hold
        body = _meta_body(data, layout, replaced, _moved_locations(layout, 0, mdat_at, lengths).pack())
        delta = header_size + len(body) - (meta_end - meta_start)
        locations = _moved_locations(layout, delta, mdat_at + delta + 8, lengths)
        final = _meta_body(data, layout, replaced, locations.pack())
        if len(final) == len(body):
            fullbox = data[payload_start : payload_start + 4]
            if header_size == 20:  # 64-bit box size
                return struct.pack(">I4sQ", 1, b"meta", 20 + len(final)) + fullbox + final
            return struct.pack(">I4s", 12 + len(final), b"meta") + fullbox + final
    raise CorruptMetadata("iloc offsets do not settle; not patched")


def _meta_body(data: bytes, layout: Layout, replaced: dict[bytes, bytes], iloc_payload: bytes) -> bytes:
    out = bytearray()
    for box_type, box_start, _child_start, child_end in layout.children:
        if box_type == b"iloc":
            out += _box(b"iloc", iloc_payload)
        elif box_type in replaced:
            out += _box(box_type, replaced[box_type])
        else:
            out += data[box_start:child_end]
    if b"iref" in replaced and not any(t == b"iref" for t, *_rest in layout.children):
        out += _box(b"iref", replaced[b"iref"])
    return bytes(out)


def _moved_locations(layout: Layout, delta: int, appended_at: int, lengths: dict[int, int]) -> ItemLocations:
    """iloc entries with every file offset behind meta moved by `delta` and ours pointing into the new mdat."""
    old = layout.locations
    meta_start, meta_end = layout.meta[0], layout.meta[2]
    moved = ItemLocations(old.version, max(old.offset_size, 4), max(old.length_size, 4), old.base_offset_size,
                          old.index_size, [])
    ours = list(lengths)
    for item in old.items:
        if item.item_id in ours:
            continue
        extents = [Extent(e.index, e.offset, e.length) for e in item.extents]
        base = item.base_offset
        if item.method == 0 and item.data_reference == 0:
            for extent in extents:
                if meta_start <= base + extent.offset < meta_end:
                    raise CorruptMetadata(f"item {item.item_id} points into the meta box; not patched")
            if old.base_offset_size and base >= meta_end:
                base += delta
            else:
                for extent in extents:
                    extent.offset += delta if base + extent.offset >= meta_end else 0
        moved.items.append(ItemLocation(item.item_id, item.method, item.data_reference, base, extents))
    position = appended_at
    for item_id in ours:  # in the base offset when there is one, as libheif writes it (exiv2 reads only that)
        base, offset = (position, 0) if moved.base_offset_size else (0, position)
        moved.items.append(ItemLocation(item_id, 0, 0, base, [Extent(0, offset, lengths[item_id])]))
        position += lengths[item_id]
    limit, base_limit = 1 << (8 * moved.offset_size), 1 << (8 * moved.base_offset_size)
    if any(e.offset >= limit for item in moved.items for e in item.extents) or \
            any(item.base_offset >= base_limit for item in moved.items if moved.base_offset_size):
        if moved.offset_size == 8:
            raise CorruptMetadata("item offsets beyond 64 bits")
        layout.locations.offset_size = 8
        return _moved_locations(layout, delta, appended_at, lengths)
    moved.items.sort(key=lambda item: item.item_id)
    return moved


def _grown_iinf(data: bytes, start: int, end: int, added: list[tuple[int, bytes, bytes]]) -> bytes:
    """The iinf payload with infe boxes for the added items and its entry count raised."""
    version = data[start]
    count_size = 2 if version == 0 else 4
    count = int.from_bytes(data[start + 4 : start + 4 + count_size], "big") + len(added)
    if count >= 1 << (8 * count_size):
        raise CorruptMetadata("too many items for this iinf box")
    new_entries = b"".join(_new_infe(item_id, item_type, content) for item_id, item_type, content in added)
    entries = data[start + 4 + count_size : end]
    return data[start : start + 4] + count.to_bytes(count_size, "big") + entries + new_entries


def _grown_iref(data: bytes, start: int, end: int, added: list[tuple[int, bytes, bytes]], primary: int) -> bytes:
    """The iref payload with a 'cdsc' reference from each added item to the primary image."""
    version = data[start]
    id_size = 2 if version == 0 else 4
    if version == 0 and max([primary, *(item_id for item_id, _t, _c in added)]) > 0xFFFF:
        raise CorruptMetadata("item ids beyond what this file's iref box can hold; not patched")
    refs = b"".join(_box(b"cdsc", item_id.to_bytes(id_size, "big") + struct.pack(">H", 1)
                         + primary.to_bytes(id_size, "big")) for item_id, _type, _content in added)
    return data[start:end] + refs


def primary_pixels(data: bytes) -> bytes:
    """The primary image decoded (libheif through pillow-heif), as raw pixel bytes with mode and size."""
    import pillow_heif

    heif_file = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=False)
    image = heif_file[heif_file.primary_index]
    return f"{image.mode} {image.size}".encode() + b"\x00" + bytes(image.data)


def images_unchanged(old: bytes, new: bytes) -> bool:
    """True when every item but the Exif and XMP ones holds the same bytes under the same info, and the primary
    image decodes to the same pixels."""
    try:
        before, after = read_layout(old), read_layout(new)
        ours = {i.item_id for i in before.items_of(b"Exif") + before.items_of(b"mime", XMP_CONTENT_TYPE)}
        infos = {i.item_id: i.box for i in after.infos}
        for info in before.infos:
            if info.item_id in ours:
                continue
            if infos.get(info.item_id) != info.box or item_bytes(old, before, info.item_id) != \
                    item_bytes(new, after, info.item_id):
                return False
        return before.primary == after.primary and primary_pixels(old) == primary_pixels(new)
    except (CorruptMetadata, struct.error, ValueError, RuntimeError):
        return False
