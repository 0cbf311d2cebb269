"""IPTC-IIM inside a JPEG APP13 (Photoshop 3.0 image resources): removing location datasets for strip."""

from __future__ import annotations

import hashlib
import struct

from geocore.library.errors import CorruptMetadata

PHOTOSHOP_HEADER = b"Photoshop 3.0\x00"
IPTC_RESOURCE = 0x0404
IPTC_DIGEST_RESOURCE = 0x0425
# Record 2 datasets: city, sub-location, province/state, country code, country name.
LOCATION_DATASETS = {90, 92, 95, 100, 101}


def _resources(payload: bytes) -> list[tuple[int, bytes, bytes]]:
    """(resource id, name block, data) of each 8BIM resource."""
    resources = []
    position = len(PHOTOSHOP_HEADER)
    while position + 12 <= len(payload) and payload[position : position + 4] == b"8BIM":
        (resource_id,) = struct.unpack_from(">H", payload, position + 4)
        name_length = payload[position + 6]
        name_block_length = name_length + 1 + ((name_length + 1) % 2)
        name_block = payload[position + 6 : position + 6 + name_block_length]
        size_at = position + 6 + name_block_length
        (size,) = struct.unpack_from(">I", payload, size_at)
        data = payload[size_at + 4 : size_at + 4 + size]
        if len(data) != size:
            raise CorruptMetadata("Photoshop resource runs past the segment")
        resources.append((resource_id, name_block, data))
        position = size_at + 4 + size + size % 2
    return resources


def _pack_resources(resources: list[tuple[int, bytes, bytes]]) -> bytes:
    out = bytearray(PHOTOSHOP_HEADER)
    for resource_id, name_block, data in resources:
        out += b"8BIM" + struct.pack(">H", resource_id) + name_block + struct.pack(">I", len(data)) + data
        out += b"\x00" * (len(data) % 2)
    return bytes(out)


def strip_location_iim(data: bytes) -> bytes:
    """IPTC-IIM datasets without the record-2 location ones."""
    out = bytearray()
    position = 0
    while position + 5 <= len(data) and data[position] == 0x1C:
        record, dataset = data[position + 1], data[position + 2]
        (size,) = struct.unpack_from(">H", data, position + 3)
        header = 5
        if size & 0x8000:  # extended dataset: size given in the next (size & 0x7fff) bytes
            count = size & 0x7FFF
            size = int.from_bytes(data[position + 5 : position + 5 + count], "big")
            header += count
        end = position + header + size
        if not (record == 2 and dataset in LOCATION_DATASETS):
            out += data[position:end]
        position = end
    return bytes(out + data[position:])


def strip_location_app13(payload: bytes) -> bytes:
    """An APP13 payload without IPTC location datasets (the IPTC digest is refreshed when present)."""
    resources = _resources(payload)
    changed = False
    new_resources = []
    for resource_id, name_block, data in resources:
        if resource_id == IPTC_RESOURCE:
            stripped = strip_location_iim(data)
            changed = changed or stripped != data
            data = stripped
        new_resources.append((resource_id, name_block, data))
    if not changed:
        return payload
    iim = next((d for r, _, d in new_resources if r == IPTC_RESOURCE), b"")
    new_resources = [(r, n, hashlib.md5(iim).digest() if r == IPTC_DIGEST_RESOURCE else d)
                     for r, n, d in new_resources]
    return _pack_resources(new_resources)
