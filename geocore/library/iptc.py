"""IPTC-IIM inside a JPEG APP13 (Photoshop 3.0 image resources): removing location datasets for strip."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from geotagger.geocore.library.errors import CorruptMetadata

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


@dataclass(frozen=True)
class IimDataset:
    """Where one IIM dataset lies in its resource: data[start:end], its value after `header` bytes."""

    start: int
    header: int
    end: int  # may lie past the data when the dataset is truncated: callers decide what that means
    record: int
    dataset: int

    @property
    def is_location(self) -> bool:
        return self.record == 2 and self.dataset in LOCATION_DATASETS


def iim_datasets(data: bytes) -> Iterator[IimDataset]:
    """The datasets of an IPTC-IIM block in order, while they start with the 0x1C tag marker."""
    position = 0
    while position + 5 <= len(data) and data[position] == 0x1C:
        (size,) = struct.unpack_from(">H", data, position + 3)
        header = 5
        if size & 0x8000:  # extended dataset: size given in the next (size & 0x7fff) bytes
            count = size & 0x7FFF
            size = int.from_bytes(data[position + 5 : position + 5 + count], "big")
            header += count
        yield IimDataset(position, header, position + header + size, data[position + 1], data[position + 2])
        position += header + size


def strip_location_iim(data: bytes) -> bytes:
    """IPTC-IIM datasets without the record-2 location ones."""
    out = bytearray()
    position = 0
    for dataset in iim_datasets(data):
        if not dataset.is_location:
            out += data[dataset.start : dataset.end]
        position = dataset.end
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


# -- writing place names: the IIM datasets follow XMP, so the file never names two places ----------------------

UTF8_MARKER = b"\x1b%G"  # record 1 dataset 90 (CodedCharacterSet) value for UTF-8
CITY, SUBLOCATION, PROVINCE_STATE, COUNTRY_CODE, COUNTRY_NAME = 90, 92, 95, 100, 101


def _alpha3(country_code: str) -> str:
    """IIM 2:100 wants ISO 3166 alpha-3 ('' when unknown)."""
    try:
        import pycountry
    except ImportError:
        return ""
    country = pycountry.countries.get(alpha_2=country_code.upper()) if country_code else None
    return str(country.alpha_3) if country is not None else ""


def _dataset(number: int, value: bytes) -> bytes:
    return bytes([0x1C, 2, number]) + struct.pack(">H", len(value)) + value


def _encode(text: str, utf8: bool) -> bytes | None:
    try:
        return text.encode("utf-8" if utf8 else "latin-1")
    except UnicodeEncodeError:
        return None  # not writable in this file's IIM character set: the dataset goes, XMP carries the name


def set_location_iim(data: bytes, city: str, state: str, country: str, country_code: str,
                     sublocation: str = "") -> bytes:
    """IIM datasets with the record-2 location ones replaced by these names (an old sub-location goes with its old
    place; the new place's, when known, is written), the new ones where the first old one stood."""
    utf8 = b"\x1c\x01\x5a\x00\x03" + UTF8_MARKER in data  # record 1 is the envelope: it comes first
    values = ((CITY, city), (SUBLOCATION, sublocation), (PROVINCE_STATE, state), (COUNTRY_CODE, _alpha3(country_code)),
              (COUNTRY_NAME, country))
    new = b"".join(_dataset(number, encoded) for number, text in values if text
                   for encoded in (_encode(text, utf8),) if encoded is not None)
    stripped = strip_location_iim(data)
    at = _first_location_offset(data)
    before = strip_location_iim(data[:at])
    return before + new + stripped[len(before) :]


def _first_location_offset(data: bytes) -> int:
    position = 0
    for dataset in iim_datasets(data):
        if dataset.is_location:
            return dataset.start
        position = dataset.end
    return position


def has_location_iim(payload: bytes) -> bool:
    """True when an APP13 payload holds IIM location datasets (False when it does not parse)."""
    try:
        iim = next((d for r, _, d in _resources(payload) if r == IPTC_RESOURCE), b"")
    except (CorruptMetadata, struct.error):
        return False
    return strip_location_iim(iim) != iim


def set_location_app13(payload: bytes, city: str, state: str, country: str, country_code: str,
                       sublocation: str = "") -> bytes:
    """An APP13 payload whose IIM names this place (only when it named one already; the digest is refreshed)."""
    if not has_location_iim(payload):
        return payload
    new_resources = []
    for resource_id, name_block, data in _resources(payload):
        if resource_id == IPTC_RESOURCE:
            data = set_location_iim(data, city, state, country, country_code, sublocation)
        new_resources.append((resource_id, name_block, data))
    iim = next((d for r, _, d in new_resources if r == IPTC_RESOURCE), b"")
    new_resources = [(r, n, hashlib.md5(iim).digest() if r == IPTC_DIGEST_RESOURCE else d)
                     for r, n, d in new_resources]
    return _pack_resources(new_resources)
