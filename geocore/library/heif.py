"""HEIC/HEIF location removal for strip: the EXIF item's GPS is blanked in place (same size, nothing moves).

Finding the EXIF item means reading the ISOBMFF `meta` box: `iinf` names the item of type 'Exif', `iloc` says
where its bytes are. Only the simple, common layout is handled (one extent in the file itself); anything else is
reported as unsupported rather than guessed. Writing GPS into HEIC goes to sidecars.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from geocore.library.errors import CorruptMetadata
from geocore.library.patches import Patch
from geocore.library.tiffio import strip_gps_patches


class NoExifItem(CorruptMetadata):
    """The file has no EXIF at all: nothing to strip."""


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of the boxes in data[start:end]."""
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
        yield box_type, position + header, position + size
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
    """Patches blanking EXIF GPS inside a HEIF's EXIF item, in place (no byte moves)."""
    try:
        start, end = exif_tiff_span(data)
    except NoExifItem:
        return []
    patches = strip_gps_patches(data[start:end])
    if any(len(p.new) != len(p.old) for p in patches):
        raise CorruptMetadata("strip would change the EXIF item's size")
    return [Patch(p.offset + start, p.old, p.new) for p in patches]


def outside_exif_unchanged(old: bytes, new: bytes) -> bool:
    """True when every byte outside the EXIF item is identical (the coded image included)."""
    start, end = exif_tiff_span(old)
    view = memoryview(old)
    return len(old) == len(new) and new.startswith(view[:start]) and new.endswith(view[end:])
