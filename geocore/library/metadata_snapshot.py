"""Parsing a file's whole metadata into a snapshot: comparable keys and values, bounded on hostile input.

A snapshot maps keys to values: every IFD entry (type, count and value in canonical big-endian element order, so
a value compares by what it says, not where it is stored), MakerNote and thumbnail bytes, strips and tiles, the
XMP packet's properties (namespace-qualified paths into structs and arrays), IPTC-IIM datasets, ICC profiles, MPF
images and the compressed image. Large spans are `Span`s compared in place (memcmp), never hashed or copied.

Parsers are tolerant and bounded: IFD loops and aliases, absurd counts (bounded by the data), nesting depth and
IFD totals are capped; what cannot be parsed is kept as raw bytes, so it must come back byte-identical.
"""

from __future__ import annotations

import array
import struct
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from geotagger.geocore.library import heif, iptc, png, xmp
from geotagger.geocore.library.errors import CorruptMetadata

Key = tuple[Any, ...]
Snapshot = dict[Key, Any]
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}
ELEMENTS = {5: 2, 10: 2}  # RATIONAL / SRATIONAL: two 4-byte numbers per value
SUB_IFDS = {0x8769: "Exif", 0x8825: "GPS", 0xA005: "Interop", 0x014A: "SubIFD"}
DATA_TAGS = {0x111: 0x117, 0x144: 0x145, 0x201: 0x202}  # offsets tag -> byte counts tag: compared by content
MAKERNOTE_TAG = 0x927C
XMP_TAG = 700
GPS_POINTER_TAG = 0x8825
MAX_IFDS = 256
MAX_DEPTH = 8
MAX_ENTRIES = 100_000  # over all IFDs of a block: aliased pointers must not make a small file cost millions
MAX_PIECES = 1_000_000
MAX_XMP_DEPTH = 64
IPTC_RESOURCE = 0x0404
RDF = xmp.NS["rdf"]
XML_NS = "http://www.w3.org/XML/1998/namespace"
STANDALONE_MARKERS = {0x01, *range(0xD0, 0xD8)}
ICC_HEADER, MPF_HEADER, PHOTOSHOP_HEADER = b"ICC_PROFILE\x00", b"MPF\x00", b"Photoshop 3.0\x00"
PARSE_ERRORS = (CorruptMetadata, struct.error, IndexError, ValueError, OverflowError)


@dataclass(frozen=True, eq=False)
class Span:
    """Bytes data[start:end] compared in place (no copies of large image data)."""

    data: bytes
    start: int
    end: int

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Span) or self.end - self.start != other.end - other.start:
            return False
        return other.data.startswith(memoryview(self.data)[self.start : self.end], other.start)

    def __hash__(self) -> int:
        return hash(self.end - self.start)

    def __repr__(self) -> str:
        return f"<{self.end - self.start} bytes>"


# -- TIFF structures ---------------------------------------------------------------------------------------------


@dataclass
class TiffBlock:
    """A parsed TIFF structure: its entries, its bytes, and the byte ranges that GPS edits may change."""

    name: str
    data: bytes
    entries: Snapshot
    endian: str = ">"
    raw: bool = False  # not parseable: compared as bytes
    gps_owned: tuple[tuple[int, int], ...] = ()  # the GPS IFD and its values
    ifd0_directory: tuple[int, int] | None = None
    gps_pointer_entry: tuple[int, int] | None = None
    xmp_owned: tuple[tuple[int, int], ...] = ()  # a TIFF file's IFD0 XMP packet and its entry's count and offset


class _TiffParser:
    """Walks every IFD of TIFF-structured bytes (classic or BigTIFF) into snapshot entries, bounded."""

    def __init__(self, data: bytes, name: str) -> None:
        self.data, self.block = data, TiffBlock(name, data, {(name, "@present"): True})
        magic = data[:4]
        if len(data) < 8 or magic not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            raise CorruptMetadata("not a TIFF structure")
        self.endian = "<" if magic[:2] == b"II" else ">"
        self.block.endian = self.endian
        self.big = magic[2:] in (b"+\x00", b"\x00+")
        self.offset_size, self.entry_size = (8, 20) if self.big else (4, 12)
        self.ifds_left, self.entries_left = MAX_IFDS, MAX_ENTRIES

    def parse(self) -> TiffBlock:
        """The whole structure: the IFD chain from IFD0 and every sub-IFD."""
        first = self._uint(8 if self.big else 4, self.offset_size)
        self.block.entries[(self.block.name, "@header")] = (self.endian, self.big)
        offset, index, chain = first, 0, set()
        while offset and index < MAX_IFDS and offset not in chain:
            chain.add(offset)
            offset = self._ifd(offset, f"IFD{index}", frozenset({offset}), 0)
            index += 1
        if offset:
            self._put(f"IFD{index}", "@state", value="IFD chain loops or is too long")
        return self.block

    def _uint(self, offset: int, size: int) -> int:
        code = {1: "B", 2: "H", 4: "I", 8: "Q"}[size]
        return int(struct.unpack_from(self.endian + code, self.data, offset)[0])

    def _put(self, group: str, *rest: Any, value: Any) -> None:
        self.block.entries[(self.block.name, group, *rest)] = value

    def _ifd(self, offset: int, group: str, ancestors: frozenset[int], depth: int) -> int:
        """Parse one IFD into `group`; returns its next-IFD offset (0 when unreadable)."""
        count_size = 8 if self.big else 2
        self.ifds_left -= 1
        if self.ifds_left < 0 or depth > MAX_DEPTH:
            self._put(group, "@state", value="too many IFDs")
            return 0
        if offset < 8 or offset + count_size > len(self.data):
            self._put(group, "@state", value=f"offset {offset} outside the data")
            return 0
        count = self._uint(offset, count_size)
        end = offset + count_size + count * self.entry_size + self.offset_size
        if end > len(self.data):
            self._put(group, "@state", value=f"{count} entries run past the end")
            return 0
        self.entries_left -= count
        if self.entries_left < 0:
            self._put(group, "@state", value="too many entries over all IFDs")
            return 0
        self._put(group, "@state", value="ok")
        if group == "IFD0":
            self.block.ifd0_directory = (offset, end)
        entries = [self._entry(offset + count_size + i * self.entry_size) for i in range(count)]
        seen: dict[int, int] = {}
        for tag, type_, n, field_at in entries:
            occurrence = seen[tag] = seen.get(tag, -1) + 1
            self._value(group, tag, occurrence, type_, n, field_at, entries, ancestors | {offset}, depth)
        if group.endswith(".GPS"):
            self._own_gps(offset, end, entries)
        return self._uint(end - self.offset_size, self.offset_size)

    def _entry(self, at: int) -> tuple[int, int, int, int]:
        tag, type_ = struct.unpack_from(self.endian + "HH", self.data, at)
        return tag, type_, self._uint(at + 4, self.offset_size), at + 4 + self.offset_size

    def _span_of(self, type_: int, count: int, field_at: int) -> tuple[int, int] | None:
        """(start, end) of an entry's value bytes, None when the type is unknown or the value cannot fit."""
        size = TYPE_SIZES.get(type_, 0) * count
        if type_ not in TYPE_SIZES or size > len(self.data):
            return None
        if size <= self.offset_size:
            return field_at, field_at + size
        start = self._uint(field_at, self.offset_size)
        return (start, start + size) if start + size <= len(self.data) else None

    def _value(self, group: str, tag: int, occurrence: int, type_: int, count: int, field_at: int,
               entries: list[tuple[int, int, int, int]], ancestors: frozenset[int], depth: int) -> None:
        span = self._span_of(type_, count, field_at)
        if span is None:  # unknown type, absurd count, out of the data: the stored field must stay as it is
            raw = self.data[field_at : field_at + self.offset_size]
            self._put(group, tag, occurrence, value=(type_, count, "unreadable", raw))
            return
        if tag in SUB_IFDS and type_ in (4, 13, 16, 18) and (tag != GPS_POINTER_TAG or group == "IFD0"):
            self._sub_ifds(group, tag, occurrence, type_, count, span, ancestors, depth)
            if tag == GPS_POINTER_TAG:
                self.block.gps_pointer_entry = (field_at - 4 - self.offset_size, field_at + self.offset_size)
            return
        if tag in DATA_TAGS:
            self._put(group, tag, occurrence, value=(type_, count, self._pieces(type_, span, tag, entries)))
            return
        if tag == XMP_TAG and group == "IFD0" and self.block.name == "tiff" and not occurrence and type_ in (1, 2, 7):
            # a TIFF file's XMP: compared property by property, as in every other container
            self.block.entries.update(xmp_properties(self.data[span[0] : span[1]]))
            self.block.xmp_owned = (span, (field_at - 4, field_at + self.offset_size))
            return
        value = self._canonical(type_, span) if span[1] - span[0] <= 4096 else Span(self.data, *span)
        if tag == MAKERNOTE_TAG:  # many MakerNotes hold offsets relative to the TIFF header: it must not move
            self._put(group, tag, occurrence, "@offset", value=span[0])
        self._put(group, tag, occurrence, value=(type_, count, value))

    def _canonical(self, type_: int, span: tuple[int, int]) -> bytes:
        """Value bytes with every number in big-endian order (compares by value whatever the byte order)."""
        raw = self.data[span[0] : span[1]]
        width = TYPE_SIZES[type_] // ELEMENTS.get(type_, 1)
        if self.endian == ">" or width == 1:
            return raw
        numbers = array.array({2: "H", 4: "I", 8: "Q"}[width], raw)
        if sys.byteorder == "little":
            numbers.byteswap()
        return numbers.tobytes()

    def _numbers(self, type_: int, span: tuple[int, int]) -> list[int]:
        width = TYPE_SIZES[type_]
        if type_ not in (3, 4, 13, 16, 18) or (span[1] - span[0]) // width > MAX_PIECES:
            return []
        code = {2: "H", 4: "I", 8: "Q"}[width]
        return list(struct.unpack_from(f"{self.endian}{(span[1] - span[0]) // width}{code}", self.data, span[0]))

    def _pieces(self, type_: int, span: tuple[int, int], tag: int,
                entries: list[tuple[int, int, int, int]]) -> Any:
        """Strips, tiles or the thumbnail as the bytes they point at (the offsets themselves may move)."""
        counts_entry = next((e for e in entries if e[0] == DATA_TAGS[tag]), None)
        counts_span = counts_entry and self._span_of(counts_entry[1], counts_entry[2], counts_entry[3])
        offsets = self._numbers(type_, span)
        counts = self._numbers(counts_entry[1], counts_span) if counts_entry and counts_span else []
        if not offsets or len(offsets) != len(counts):
            return ("offsets", self._canonical(type_, span))
        pieces = []
        for start, size in zip(offsets, counts, strict=True):
            if start + size > len(self.data):
                return ("offsets out of the data", self._canonical(type_, span))
            pieces.append(Span(self.data, start, start + size))
        return tuple(pieces)

    def _sub_ifds(self, group: str, tag: int, occurrence: int, type_: int, count: int, span: tuple[int, int],
                  ancestors: frozenset[int], depth: int) -> None:
        self._put(group, tag, occurrence, value=(type_, count, "IFD"))
        offsets = self._numbers(type_, span)[:MAX_IFDS]
        for index, offset in enumerate(offsets):
            name = f"{group}.{SUB_IFDS[tag]}" + (f"[{index}]" if len(offsets) > 1 or tag == 0x014A else "")
            name += f"#{occurrence}" if occurrence else ""
            if offset in ancestors:
                self._put(name, "@state", value="loops back to a parent IFD")
                continue
            self._ifd(offset, name, ancestors, depth + 1)

    def _own_gps(self, offset: int, end: int, entries: list[tuple[int, int, int, int]]) -> None:
        owned = [(offset, end)]
        for _tag, type_, count, field_at in entries:
            span = self._span_of(type_, count, field_at)
            if span is not None and span[1] - span[0] > self.offset_size:
                owned.append(span)
        self.block.gps_owned = tuple(owned)


def parse_tiff(data: bytes, name: str) -> TiffBlock:
    """A TIFF structure as a block; an unparseable one becomes its raw bytes."""
    try:
        return _TiffParser(data, name).parse()
    except PARSE_ERRORS as exc:
        entries = {(name, "@present"): True, (name, "@raw"): (str(exc) or type(exc).__name__, Span(data, 0, len(data)))}
        return TiffBlock(name, data, entries, raw=True)


# -- XMP ---------------------------------------------------------------------------------------------------------


def xmp_properties(packet: bytes) -> Snapshot:
    """Every property of an XMP packet: namespace-qualified path (into structs and arrays) -> value."""
    out: Snapshot = {("xmp", "@present"): True}
    try:
        parser = ET.XMLParser(target=ET.TreeBuilder())
        parser.feed(packet)
        root = parser.close()
        rdf = root if root.tag == f"{{{RDF}}}RDF" else root.find(f".//{{{RDF}}}RDF")
        if rdf is None:
            raise ValueError("no rdf:RDF: not an XMP packet")
        for description in rdf.findall(f"{{{RDF}}}Description"):
            _collect(description, (), out, 0)
    except (ET.ParseError, RecursionError, _TooDeep, ValueError) as exc:
        return {("xmp", "@present"): True, ("xmp", "@raw"): (type(exc).__name__, Span(packet, 0, len(packet)))}
    return out


class _TooDeep(Exception):
    """XMP nested deeper than any real packet: compared as raw bytes instead."""


def _name(tag: str) -> tuple[str, str]:
    uri, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    return uri, local


def _add(out: Snapshot, path: tuple[Any, ...], value: Any) -> None:
    key: Key = ("xmp", path)
    while key in out:  # a property repeated in one description: each occurrence counts
        key = (*key, "+")
    out[key] = value


def _collect(node: ET.Element, path: tuple[Any, ...], out: Snapshot, depth: int) -> None:
    """Fields of a description/struct node: attributes (shorthand properties) and child elements."""
    if depth > MAX_XMP_DEPTH:
        raise _TooDeep
    for attribute, value in node.attrib.items():
        uri, local = _name(attribute)
        if uri not in (RDF, XML_NS):
            _add(out, (*path, (uri, local)), value)
    for child in node:
        if isinstance(child.tag, str):
            _property(child, (*path, _name(child.tag)), out, depth + 1)


def _property(element: ET.Element, path: tuple[Any, ...], out: Snapshot, depth: int) -> None:
    if depth > MAX_XMP_DEPTH:
        raise _TooDeep
    language = element.attrib.get(f"{{{XML_NS}}}lang")
    if language is not None:
        _add(out, (*path, "@lang"), language)
    resource = element.attrib.get(f"{{{RDF}}}resource")
    children = [c for c in element if isinstance(c.tag, str)]
    if resource is not None:
        _add(out, path, resource)
    elif element.attrib.get(f"{{{RDF}}}parseType") == "Resource":
        _collect(element, path, out, depth)
    elif not children:
        _add(out, path, element.text or "")
        _collect(element, path, out, depth)  # qualifiers written as attributes
    for child in children:
        kind = _name(child.tag)
        if kind[0] == RDF and kind[1] in ("Bag", "Seq", "Alt"):
            items = [i for i in child if isinstance(i.tag, str)]
            _add(out, (*path, "@array"), kind[1])
            for index, item in enumerate(items):
                _property(item, (*path, index), out, depth + 1)
        elif kind == (RDF, "Description"):
            _collect(child, path, out, depth + 1)
        elif resource is None and element.attrib.get(f"{{{RDF}}}parseType") != "Resource":
            _property(child, (*path, kind), out, depth + 1)


# -- IPTC (Photoshop image resources) ----------------------------------------------------------------------------


def iptc_snapshot(payload: bytes, occurrence: int) -> Snapshot:
    """APP13 Photoshop resources: IIM datasets one by one, every other resource as bytes."""
    out: Snapshot = {}
    try:
        for resource_id, data in _resources(payload):
            if resource_id == IPTC_RESOURCE:
                for record, dataset, value in _datasets(data):
                    _add_keyed(out, ("iptc", "dataset", record, dataset), value)
            else:
                _add_keyed(out, ("iptc", "resource", resource_id), data)
    except (CorruptMetadata, struct.error, IndexError) as exc:
        return {("iptc", "@raw", occurrence): (str(exc), Span(payload, 0, len(payload)))}
    return out


def _add_keyed(out: Snapshot, key: Key, value: Any) -> None:
    index = 0
    while (*key, index) in out:
        index += 1
    out[(*key, index)] = value


def _resources(payload: bytes) -> Iterator[tuple[int, bytes]]:
    position = payload.find(b"\x00") + 1
    while position + 12 <= len(payload) and payload[position : position + 4] == b"8BIM":
        (resource_id,) = struct.unpack_from(">H", payload, position + 4)
        name_length = payload[position + 6]
        size_at = position + 6 + name_length + 1 + ((name_length + 1) % 2)
        (size,) = struct.unpack_from(">I", payload, size_at)
        if size_at + 4 + size > len(payload):
            raise CorruptMetadata("Photoshop resource runs past the segment")
        yield resource_id, payload[size_at + 4 : size_at + 4 + size]
        position = size_at + 4 + size + size % 2
    if position < len(payload) and payload[position:].strip(b"\x00"):
        yield -1, payload[position:]  # trailing bytes that are no resource: kept as they are


def _datasets(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    position = 0
    for dataset in iptc.iim_datasets(data):
        if dataset.end > len(data):
            raise CorruptMetadata("IPTC dataset runs past its resource")
        yield dataset.record, dataset.dataset, data[dataset.start + dataset.header : dataset.end]
        position = dataset.end
    if position < len(data) and data[position:].strip(b"\x00"):
        yield -1, -1, data[position:]


# -- containers --------------------------------------------------------------------------------------------------


@dataclass
class Parsed:
    """A file's snapshot and its TIFF blocks (for the byte-level check of what no intended change owns)."""

    entries: Snapshot = field(default_factory=dict)
    blocks: dict[str, TiffBlock] = field(default_factory=dict)

    def add_block(self, block: TiffBlock) -> None:
        """Take a parsed TIFF block in (the first of its name; later ones are compared as bytes)."""
        if block.name in self.blocks:
            _add_keyed(self.entries, (block.name, "@extra"), Span(block.data, 0, len(block.data)))
            return
        self.blocks[block.name] = block
        self.entries.update(block.entries)


def snapshot(data: bytes, kind: str | None = None) -> Parsed:
    """The whole metadata of a file's bytes (`kind` 'xmp' for sidecars; otherwise sniffed from the content)."""
    if kind == "xmp":
        return Parsed(xmp_properties(data) if data.strip() else {})
    if data[:3] == b"\xff\xd8\xff":
        return _jpeg(data)
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return _png(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    if data[4:8] == b"ftyp":
        return _heif(data)
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        parsed = Parsed()
        parsed.add_block(parse_tiff(data, "tiff"))
        return parsed
    return Parsed({("file", "bytes"): Span(data, 0, len(data))})


def _jpeg(data: bytes) -> Parsed:
    parsed, icc = Parsed(), []
    position = 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xFF or marker in STANDALONE_MARKERS:
            position += 1 if marker == 0xFF else 2
            continue
        if marker in (0xDA, 0xD9):
            break
        (length,) = struct.unpack_from(">H", data, position + 2)
        if length < 2 or position + 2 + length > len(data):
            break
        payload = data[position + 4 : position + 2 + length]
        if marker == 0xE2 and payload.startswith(ICC_HEADER):
            icc.append(payload[len(ICC_HEADER) + 2 :])
        else:
            _jpeg_segment(parsed, data, marker, payload, position + 4)
        position += 2 + length
    if icc:
        parsed.entries[("icc", "profile")] = b"".join(icc)
    parsed.entries[("jpeg", "image")] = Span(data, position, len(data))  # from SOS: scans, EOI, trailing data
    return parsed


def _jpeg_segment(parsed: Parsed, data: bytes, marker: int, payload: bytes, payload_at: int) -> None:
    entries = parsed.entries
    if marker == 0xE1 and payload.startswith(b"Exif\x00"):
        parsed.add_block(parse_tiff(payload[6:], "exif"))
    elif marker == 0xE1 and payload.startswith(xmp.JPEG_XMP_HEADER) and ("xmp", "@present") not in entries:
        entries.update(xmp_properties(payload[len(xmp.JPEG_XMP_HEADER) :]))
    elif marker == 0xE2 and payload.startswith(MPF_HEADER) and "mpf" not in parsed.blocks:
        block = parse_tiff(payload[len(MPF_HEADER) :], "mpf")
        parsed.add_block(block)
        entries.update(_mpf_images(block, data, payload_at + len(MPF_HEADER)))
    elif marker == 0xED and payload.startswith(PHOTOSHOP_HEADER):
        entries.update(iptc_snapshot(payload, sum(1 for key in entries if key[:2] == ("jpeg", 0xED))))
        _add_keyed(entries, ("jpeg", 0xED), "Photoshop")
    else:
        signature = payload[: max(payload.find(b"\x00"), 0)][:32] if 0xE0 <= marker <= 0xEF else b""
        _add_keyed(entries, ("jpeg", marker, signature), payload)


def _mpf_images(block: TiffBlock, data: bytes, base: int) -> Snapshot:
    """The images an MPF index points at (offsets relative to its header): they must stay where it says."""
    value = next((v for k, v in block.entries.items() if k[1:3] == ("IFD0", 0xB002) and len(k) == 4), None)
    if not isinstance(value, tuple) or not isinstance(value[2], bytes):
        return {}
    out: Snapshot = {}
    raw = value[2]  # UNDEFINED, so in the index's byte order: attributes, size, offset, two dependents (16 bytes)
    for index in range(min(len(raw) // 16, MAX_IFDS)):
        size, offset = struct.unpack_from(block.endian + "II", raw, index * 16 + 4)
        if offset:  # past the end a reader still reads what is there: compare that, and that it is cut short
            start = base + offset
            end = min(start + size, len(data))
            out[("MPF image", index + 1)] = Span(data, start, end) if start < end else ("outside the file", offset)
            if start + size > len(data):
                out[("MPF image", index + 1, "cut short by")] = start + size - len(data)
    return out


def _png(data: bytes) -> Parsed:
    parsed = Parsed()
    position = 8
    while position + 12 <= len(data):
        length, type_ = struct.unpack_from(">I4s", data, position)
        end = position + 12 + length
        if end > len(data):
            break
        body = data[position + 8 : position + 8 + length]
        packet = _png_xmp(body) if type_ == b"iTXt" else None
        legacy = _png_raw_profile(type_, body)
        if type_ == b"eXIf" or legacy is not None:  # a raw profile's EXIF is the EXIF a write converts to eXIf
            parsed.add_block(parse_tiff(body if legacy is None else legacy, "exif"))
        elif packet is not None and ("xmp", "@present") not in parsed.entries:
            parsed.entries.update(xmp_properties(packet))
        else:
            _add_keyed(parsed.entries, ("png", type_), Span(data, position + 8, position + 8 + length))
        position = end
        if type_ == b"IEND":
            break
    parsed.entries[("png", "@tail")] = Span(data, position, len(data))
    return parsed


def _png_raw_profile(type_: bytes, body: bytes) -> bytes | None:
    """The TIFF of an EXIF raw profile text chunk (ImageMagick's hex form), None for any other chunk."""
    try:
        found = png.raw_profile_tiff(type_, body)
    except CorruptMetadata:
        return None  # unreadable: compared as the chunk's bytes
    return found[0] if found else None


def _png_xmp(body: bytes) -> bytes | None:
    """The packet of an uncompressed iTXt XMP chunk, None for any other iTXt."""
    keyword, _, rest = body.partition(b"\x00")
    if keyword != b"XML:com.adobe.xmp" or len(rest) < 2 or rest[0] != 0:
        return None
    return rest[2:].partition(b"\x00")[2].partition(b"\x00")[2]


def _webp(data: bytes) -> Parsed:
    parsed = Parsed()
    position = 12
    while position + 8 <= len(data):
        fourcc = data[position : position + 4]
        (size,) = struct.unpack_from("<I", data, position + 4)
        start, end = position + 8, position + 8 + size
        if end > len(data):
            break
        if fourcc == b"EXIF":
            payload = data[start:end]
            parsed.add_block(parse_tiff(payload[6:] if payload.startswith(b"Exif\x00\x00") else payload, "exif"))
        elif fourcc == b"XMP " and ("xmp", "@present") not in parsed.entries:
            parsed.entries.update(xmp_properties(data[start:end]))
        else:
            _add_keyed(parsed.entries, ("webp", fourcc), Span(data, start, end))
        position = end + size % 2
    parsed.entries[("webp", "@tail")] = Span(data, position, len(data))
    return parsed


def _heif(data: bytes) -> Parsed:
    """Items by id (info box and data, wherever `iloc` puts them), references, the other boxes as bytes; the Exif
    item parsed as EXIF, the XMP item as XMP. Offsets are not compared (a write may move items), what they point
    at is; bytes no item uses are not metadata and are not compared."""
    parsed = Parsed()
    try:
        layout = heif.read_layout(data)
        _heif_boxes(parsed, data, layout)
        _heif_items(parsed, data, layout)
    except PARSE_ERRORS:
        parsed = Parsed({("heif", "file"): Span(data, 0, len(data))})
    return parsed


def _heif_boxes(parsed: Parsed, data: bytes, layout: heif.Layout) -> None:
    for box_type, box_start, _payload, end in heif.boxes_at(data, 0, len(data)):
        if box_type not in (b"meta", b"mdat"):
            _add_keyed(parsed.entries, ("heif", "box", box_type), Span(data, box_start, end))
    for box_type, box_start, payload, end in layout.children:
        if box_type == b"pitm":
            parsed.entries[("heif", "primary")] = layout.primary
        elif box_type == b"iref":
            _heif_references(parsed, data, layout, payload, end)
        elif box_type not in (b"iinf", b"iloc"):
            _add_keyed(parsed.entries, ("heif", "meta", box_type), Span(data, box_start, end))


def _heif_ours(layout: heif.Layout) -> dict[int, str]:
    """Exif and XMP item ids -> their snapshot names (the first of each; a second is compared as an item)."""
    ours = {}
    for name, items in (("exif item", layout.items_of(b"Exif")),
                        ("xmp item", layout.items_of(b"mime", heif.XMP_CONTENT_TYPE))):
        if items:
            ours[items[0].item_id] = name
    return ours


def _heif_items(parsed: Parsed, data: bytes, layout: heif.Layout) -> None:
    ours = _heif_ours(layout)
    for info in layout.infos:
        name = ours.get(info.item_id)
        try:
            content: Any = heif.item_bytes(data, layout, info.item_id)
        except CorruptMetadata as exc:
            content = ("unreadable", str(exc))
        if name is None:
            parsed.entries[("heif", "item", info.item_id)] = (info.box, content)
        elif name == "exif item" and isinstance(content, bytes) and len(content) >= 4:
            parsed.entries[("heif", name, "info")] = info.box[8:12]  # version and flags; the id may be new
            parsed.add_block(parse_tiff(content[4 + struct.unpack_from(">I", content)[0] :], "exif"))
        elif name == "xmp item" and isinstance(content, bytes):
            parsed.entries[("heif", name, "info")] = info.box[8:12]
            parsed.entries.update(xmp_properties(content))
        else:
            parsed.entries[("heif", "item", info.item_id)] = (info.box, content)


def _heif_references(parsed: Parsed, data: bytes, layout: heif.Layout, start: int, end: int) -> None:
    """iref entries: from an item of ours under its name (its id may be new), others by id."""
    ours = _heif_ours(layout)
    id_size = 2 if data[start] == 0 else 4
    for ref_type, _box_start, payload, ref_end in heif.boxes_at(data, start + 4, end):
        source = int.from_bytes(data[payload : payload + id_size], "big")
        count = int.from_bytes(data[payload + id_size : payload + id_size + 2], "big")
        targets = tuple(int.from_bytes(data[at : at + id_size], "big")
                        for at in range(payload + id_size + 2, min(ref_end, payload + id_size + 2 + count * id_size),
                                        id_size))
        where = ("heif", ours[source], "refs", ref_type) if source in ours else ("heif", "iref", ref_type, source)
        _add_keyed(parsed.entries, where, targets)
