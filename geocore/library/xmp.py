"""XMP: sidecar files (read both naming styles, merge without losing content) and location removal.

ElementTree keeps elements, attributes, comments and processing instructions inside the root; what lies outside it
(the XML declaration, top-level comments and processing instructions, the xpacket wrapper and its padding) is kept
byte for byte. Namespace prefixes found in a document are registered so they survive a rewrite under their own
names. A merge changes only the properties it sets: every other one, place names included, stays as it was.
"""

from __future__ import annotations

import functools
import io
import os
import re
import stat
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from xml.parsers import expat

from geotagger.geocore.library import provenance
from geotagger.geocore.library.errors import CorruptMetadata
from geotagger.geocore.library.gps import GpsFix, from_xmp_coordinate, to_rational, to_xmp_coordinate

JPEG_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "Iptc4xmpCore": "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    provenance.PREFIX: provenance.NAMESPACE,
}
RDF_DESCRIPTION = f"{{{NS['rdf']}}}Description"
LOCATION_PROPERTIES = {
    (NS["photoshop"], "City"), (NS["photoshop"], "State"), (NS["photoshop"], "Country"),
    (NS["Iptc4xmpCore"], "CountryCode"), (NS["Iptc4xmpCore"], "Location"),
    (NS["Iptc4xmpExt"], "LocationCreated"), (NS["Iptc4xmpExt"], "LocationShown"),
}
# Written with a place; a sub-location (Iptc4xmpCore:Location) belonged to the old place and goes with it.
PLACE_PROPERTIES = (("photoshop", "City"), ("photoshop", "State"), ("photoshop", "Country"),
                    ("Iptc4xmpCore", "CountryCode"), ("Iptc4xmpCore", "Location"))
XMP_ROOTS = {f"{{{NS['x']}}}xmpmeta", f"{{{NS['x']}}}xapmeta", f"{{{NS['rdf']}}}RDF"}
MAX_SIDECAR_BYTES = 16 * 1024 * 1024
PACKET_BEGIN = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
PACKET_END = '\n<?xpacket end="w"?>'
# Room left in a new embedded packet, as exiftool and Adobe leave it: later edits (ours or another tool's) then
# fit in place without moving anything after the packet.
PACKET_PADDING = "\n" + (" " * 99 + "\n") * 20
METADATA_DATE = (NS["xmp"], "MetadataDate")
LOCATION_CREATED = f"{{{NS['Iptc4xmpExt']}}}LocationCreated"
# IPTC Extension Location structure fields, in the order written (Photini and exiftool's MWG module write these).
LOCATION_FIELDS = (("City", "city"), ("ProvinceState", "state"), ("CountryName", "country"),
                   ("CountryCode", "country_code"), ("Sublocation", "sublocation"))


@dataclass(frozen=True)
class Place:
    """A location name from reverse geocoding."""

    city: str = ""
    state: str = ""
    country: str = ""
    country_code: str = ""
    # The named part of the city the point lies in (a GeoNames neighbourhood such as Deutz in Köln), when known.
    sublocation: str = ""


def sidecar_candidates(photo: Path) -> list[Path]:
    """Sidecar paths for `photo`, darktable/digiKam style (`a.CR2.xmp`) first, then Lightroom (`a.xmp`)."""
    return [photo.with_name(photo.name + ".xmp"), photo.with_suffix(".xmp")]


def sidecar_path(photo: Path, style: str = "append") -> Path:
    """Where a new sidecar goes: 'append' gives `a.CR2.xmp`, 'replace' gives `a.xmp`."""
    return sidecar_candidates(photo)[0 if style == "append" else 1]


@functools.lru_cache(maxsize=16)
def _xmp_names(folder: str, mtime_ns: int) -> dict[str, tuple[str, ...]]:
    """Lower-cased .xmp names in `folder` -> the names as stored (the folder's mtime keys the cache)."""
    names: dict[str, list[str]] = {}
    for name in os.listdir(folder):
        if name.lower().endswith(".xmp"):
            names.setdefault(name.lower(), []).append(name)
    return {key: tuple(sorted(found)) for key, found in names.items()}


def existing_sidecars(photo: Path) -> list[Path]:
    """The sidecars of `photo` that exist (links included), in `sidecar_candidates` order, matched without regard
    to case as the scan does (`a.CR2.XMP` and `A.xmp` are sidecars too)."""
    folder = photo.parent
    try:
        names = _xmp_names(str(folder), os.stat(folder).st_mtime_ns)
    except OSError:
        names = {}
    found: list[Path] = []
    for candidate in sidecar_candidates(photo):
        # The exact name is looked up directly too: a folder mtime too coarse to notice a new file cannot hide it.
        exact = [candidate] if os.path.lexists(candidate) else []
        for path in exact + [folder / name for name in names.get(candidate.name.lower(), ())]:
            if path not in found:
                found.append(path)
    return found


def unsafe_sidecar_reason(path: Path) -> str | None:
    """Why `path` must not be written as a sidecar (a link, or not a regular file), None when it is safe."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        return "sidecar is a symbolic link; it is never written through"
    if not stat.S_ISREG(info.st_mode):
        return "sidecar is not a regular file"
    return None


def read_sidecar(path: Path) -> bytes | None:
    """A sidecar's bytes, None when it is not a regular file of sane size (a FIFO or /dev/zero named .xmp)."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SIDECAR_BYTES:
            return None
        return path.read_bytes()
    except OSError:
        return None


def _split_name(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        uri, _, local = tag[1:].partition("}")
        return uri, local
    return "", tag


def _is_location(tag: str) -> bool:
    """GPS, place names and our provenance of a position (which says nothing once the position is gone)."""
    uri, local = _split_name(tag)
    return (uri == NS["exif"] and local.startswith("GPS")) or (uri, local) in LOCATION_PROPERTIES or \
        uri == provenance.NAMESPACE


def parse_packet(data: bytes) -> ET.Element:
    """Parse an XMP packet or sidecar; registers its prefixes; CorruptMetadata when not XML."""
    try:
        for _event, (prefix, uri) in ET.iterparse(io.BytesIO(data), events=("start-ns",)):
            if prefix and not prefix.startswith("ns"):
                ET.register_namespace(prefix, uri)
        parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True, insert_pis=True))
        parser.feed(data)
        return parser.close()
    except ET.ParseError as exc:
        raise CorruptMetadata(f"XMP is not well-formed XML: {exc}") from None


def parse_xmp_document(data: bytes) -> ET.Element:
    """Parse an XMP packet or sidecar and check it is one (an HTML page named .xmp is not); CorruptMetadata if not."""
    root = parse_packet(data)
    if root.tag not in XMP_ROOTS:
        raise CorruptMetadata(f"not an XMP packet (root element {root.tag!r}); left as it is")
    return root


def _root_span(data: bytes) -> tuple[int, int]:
    """(start, end) of the root element in `data`: what lies outside is kept byte for byte."""
    parser = expat.ParserCreate()
    depth = 0
    span = [-1, -1]

    def start(_name: str, _attrs: object) -> None:
        nonlocal depth
        if depth == 0 and span[0] < 0:
            span[0] = parser.CurrentByteIndex
        depth += 1

    def end(_name: str) -> None:
        nonlocal depth
        depth -= 1
        if depth == 0 and span[1] < 0:
            span[1] = data.index(b">", parser.CurrentByteIndex) + 1

    parser.StartElementHandler, parser.EndElementHandler = start, end
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise CorruptMetadata(f"XMP is not well-formed XML: {exc}") from None
    if span[0] < 0 or span[1] < 0:
        raise CorruptMetadata("XMP has no root element")
    return span[0], span[1]


def _refuse_other_encodings(original: bytes) -> None:
    """The root is written back as UTF-8 between the original's own bytes: those must be UTF-8 too."""
    declared = re.match(rb"""(\xef\xbb\xbf)?\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)""", original)
    utf16 = original[:2] in (b"\xff\xfe", b"\xfe\xff")
    if utf16 or (declared and declared.group(2).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8")):
        raise CorruptMetadata("XMP in an encoding other than UTF-8 is not rewritten; left as it is")


def serialize_into(original: bytes, root: ET.Element) -> bytes:
    """`root` serialized in place of the original's root element, everything around it kept byte for byte."""
    _refuse_other_encodings(original)
    start, end = _root_span(original)
    for prefix, uri in NS.items():
        ET.register_namespace(prefix, uri)
    return original[:start] + ET.tostring(root, encoding="unicode").encode("utf-8") + original[end:]


def _new_document() -> ET.Element:
    root = ET.Element(f"{{{NS['x']}}}xmpmeta")
    rdf = ET.SubElement(root, f"{{{NS['rdf']}}}RDF")
    ET.SubElement(rdf, RDF_DESCRIPTION, {f"{{{NS['rdf']}}}about": ""})
    return root


def serialize(root: ET.Element, padded: bool = False) -> bytes:
    """The document as a UTF-8 XMP packet (with PACKET_PADDING when it is to be embedded in a file)."""
    for prefix, uri in NS.items():
        ET.register_namespace(prefix, uri)
    padding = PACKET_PADDING if padded else ""
    return (PACKET_BEGIN + ET.tostring(root, encoding="unicode") + padding + PACKET_END).encode("utf-8")


def remove_location(root: ET.Element) -> bool:
    """Remove GPS and location-name properties (elements and attributes) everywhere; True if any was found."""
    removed = False
    for parent in root.iter():
        for name in [key for key in parent.attrib if _is_location(key)]:
            del parent.attrib[name]
            removed = True
        for child in [c for c in parent if isinstance(c.tag, str) and _is_location(c.tag)]:
            parent.remove(child)
            removed = True
    return removed


def _description(root: ET.Element) -> ET.Element:
    found = root.find(f".//{RDF_DESCRIPTION}")
    if found is not None:
        return found
    rdf = root if root.tag == f"{{{NS['rdf']}}}RDF" else root.find(f".//{{{NS['rdf']}}}RDF")
    if rdf is None:
        rdf = ET.SubElement(root, f"{{{NS['rdf']}}}RDF")
    return ET.SubElement(rdf, RDF_DESCRIPTION, {f"{{{NS['rdf']}}}about": ""})


def _location_properties(fix: GpsFix, place: Place | None) -> list[tuple[str, str, str]]:
    props = [("exif", "GPSVersionID", "2.3.0.0"),
             ("exif", "GPSLatitude", to_xmp_coordinate(fix.lat, True)),
             ("exif", "GPSLongitude", to_xmp_coordinate(fix.lon, False)),
             ("exif", "GPSMapDatum", "WGS-84")]
    if fix.alt_m is not None:
        num, den = to_rational(fix.alt_m)
        props += [("exif", "GPSAltitude", f"{num}/{den}"), ("exif", "GPSAltitudeRef", "0" if fix.alt_m >= 0 else "1")]
    if fix.method:
        props.append(("exif", "GPSProcessingMethod", fix.method))
    if fix.radius_km is not None:
        num, den = to_rational(fix.radius_km * 1000.0, 100)
        props.append(("exif", "GPSHPositioningError", f"{num}/{den}"))
    if fix.fix_time is not None:  # XMP's GPSTimeStamp is the whole GPS date and time
        props.append(("exif", "GPSTimeStamp", provenance.utc_text(fix.fix_time)))
    if fix.provenance is not None:
        props += [(provenance.PREFIX, name, value) for name, value in fix.provenance.properties()]
    if place is not None:
        props += [(prefix, name, value) for prefix, name, value in (
            ("photoshop", "City", place.city), ("photoshop", "State", place.state),
            ("photoshop", "Country", place.country), ("Iptc4xmpCore", "CountryCode", place.country_code),
            ("Iptc4xmpCore", "Location", place.sublocation)) if value]
    return props


def _set_property(root: ET.Element, description: ET.Element, tag: str, text: str) -> None:
    """Give property `tag` the value `text` where it already is (attribute or simple element), else append it;
    other copies of it go (one property, one value)."""
    placed = False
    for element in list(root.iter()):
        if tag in element.attrib:
            if placed:
                del element.attrib[tag]
            else:
                element.attrib[tag] = text
                placed = True
        for child in [c for c in element if c.tag == tag]:
            if not placed and len(child) == 0 and not child.attrib:
                child.text = text
                placed = True
            else:
                element.remove(child)
    if not placed:
        _append_indented(description, tag, text)


def _remove_property(root: ET.Element, tag: str) -> None:
    for element in list(root.iter()):
        element.attrib.pop(tag, None)
        for child in [c for c in element if c.tag == tag]:
            element.remove(child)


def merge_location(existing: bytes | None, fix: GpsFix, place: Place | None = None, padded: bool = False) -> bytes:
    """A packet with `fix` (and place names) merged into `existing`, changing no other property but
    xmp:MetadataDate; a new packet is `padded` for embedding.

    GPS properties we do not set stay, as in EXIF; place names change only when a place is given (then the four
    place-name properties and IPTC Extension LocationCreated describe the new place: one it does not name is
    removed rather than left stale). Our provenance properties are replaced as a whole.
    """
    if not (existing and existing.strip()):
        root = _new_document()
        _merge_into(root, fix, place)
        ET.indent(root, space=" ")
        return serialize(root, padded)
    root = parse_xmp_document(existing)
    _merge_into(root, fix, place)
    return serialize_into(existing, root)


def names_place(place: Place | None) -> bool:
    """True when `place` names anything (a point at sea has no place names to write)."""
    return place is not None and any((place.city, place.state, place.country, place.country_code, place.sublocation))


def _merge_into(root: ET.Element, fix: GpsFix, place: Place | None) -> None:
    description = _description(root)
    if fix.provenance is not None:
        _remove_namespace(root, provenance.NAMESPACE)
    for prefix, name, value in _location_properties(fix, place):
        _set_property(root, description, f"{{{NS[prefix]}}}{name}", value)
    if place is not None:
        named = {(prefix, name) for prefix, name, _value in _location_properties(fix, place)}
        for prefix, name in PLACE_PROPERTIES:
            if (prefix, name) not in named:
                _remove_property(root, f"{{{NS[prefix]}}}{name}")
    if names_place(place):
        assert place is not None
        _remove_property(root, LOCATION_CREATED)
        _append_element(description, _location_created(place))
    touch_metadata_date(root)


def touch_metadata_date(root: ET.Element) -> None:
    """Set xmp:MetadataDate to now (local time with its offset), as every XMP writer does on a metadata change."""
    now = datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
    _set_property(root, _description(root), f"{{{METADATA_DATE[0]}}}{METADATA_DATE[1]}", now)


def _remove_namespace(root: ET.Element, uri: str) -> None:
    """Remove every property (attribute or element) of namespace `uri`."""
    for element in list(root.iter()):
        for name in [key for key in element.attrib if _split_name(key)[0] == uri]:
            del element.attrib[name]
        for child in [c for c in element if isinstance(c.tag, str) and _split_name(c.tag)[0] == uri]:
            element.remove(child)


def _location_created(place: Place) -> ET.Element:
    """Iptc4xmpExt:LocationCreated: a Bag holding one Location structure with the fields `place` names."""
    ext = NS["Iptc4xmpExt"]
    element = ET.Element(LOCATION_CREATED)
    bag = ET.SubElement(element, f"{{{NS['rdf']}}}Bag")
    item = ET.SubElement(bag, f"{{{NS['rdf']}}}li", {f"{{{NS['rdf']}}}parseType": "Resource"})
    for name, attribute in LOCATION_FIELDS:
        value = getattr(place, attribute)
        if value:
            ET.SubElement(item, f"{{{ext}}}{name}").text = value
    return element


def _append_element(parent: ET.Element, element: ET.Element) -> None:
    """Append a structured property, indented like its siblings."""
    child_indent = parent.text if parent.text and not parent.text.strip() else None
    closing_indent = parent[-1].tail if len(parent) else None
    if len(parent) and child_indent is not None:
        parent[-1].tail = child_indent
    if child_indent is not None and child_indent.startswith("\n"):
        ET.indent(element, space=" ", level=len(child_indent) - len(child_indent.rstrip(" ")))
    parent.append(element)
    element.tail = closing_indent


def _append_indented(parent: ET.Element, tag: str, text: str) -> None:
    """Append a property, indented like its siblings (the rest of the document keeps its own layout)."""
    child_indent = parent.text if parent.text and not parent.text.strip() else None
    closing_indent = parent[-1].tail if len(parent) else None
    if len(parent) and child_indent is not None:
        parent[-1].tail = child_indent
    element = ET.SubElement(parent, tag)
    element.text = text
    element.tail = closing_indent


def _find_value(root: ET.Element, uri: str, local: str) -> str | None:
    key = f"{{{uri}}}{local}"
    for element in root.iter():
        if key in element.attrib:
            return element.attrib[key]
        if element.tag == key and element.text:
            return element.text
    return None


def read_location(data: bytes) -> GpsFix | None:
    """The GPS position in an XMP packet or sidecar, None when absent; CorruptMetadata when malformed."""
    root = parse_packet(data)
    lat_text = _find_value(root, NS["exif"], "GPSLatitude")
    lon_text = _find_value(root, NS["exif"], "GPSLongitude")
    if lat_text is None or lon_text is None:
        return None
    try:
        lat, lon = from_xmp_coordinate(lat_text), from_xmp_coordinate(lon_text)
        alt_text = _find_value(root, NS["exif"], "GPSAltitude")
        alt_m = None
        if alt_text:
            num, _, den = alt_text.partition("/")
            alt_m = float(num) / float(den or 1)
            alt_m = -alt_m if _find_value(root, NS["exif"], "GPSAltitudeRef") == "1" else alt_m
        return GpsFix(lat, lon, alt_m)
    except (ValueError, ZeroDivisionError) as exc:
        raise CorruptMetadata(f"bad XMP GPS value: {exc}") from None


def has_location(data: bytes) -> bool:
    """True when an XMP packet holds any GPS or location-name property (False when it does not parse)."""
    return _has_any(data, _is_location)


def has_gps(data: bytes) -> bool:
    """True when an XMP packet holds a GPS property (a position a new EXIF GPS would contradict)."""
    return _has_any(data, _is_gps)


def _is_gps(tag: str) -> bool:
    uri, local = _split_name(tag)
    return uri == NS["exif"] and local.startswith("GPS")


def _has_any(data: bytes, wanted: Callable[[str], bool]) -> bool:
    try:
        root = parse_packet(data)
    except CorruptMetadata:
        return False
    return any(wanted(key) for element in root.iter() if isinstance(element.tag, str)
               for key in [element.tag, *element.attrib])


def strip_location_packet(data: bytes) -> bytes:
    """An XMP packet without location properties (unchanged bytes when it had none; MetadataDate set when not)."""
    root = parse_xmp_document(data)
    if not remove_location(root):
        return data
    touch_metadata_date(root)
    return serialize_into(data, root)


def strip_location_packet_jpeg(payload: bytes) -> bytes:
    """A JPEG XMP APP1 payload without location properties (the same size when its padding allows)."""
    packet = payload[len(JPEG_XMP_HEADER) :]
    stripped = strip_location_packet(packet)
    return payload if stripped == packet else JPEG_XMP_HEADER + fit_to_size(stripped, len(packet))


def fit_to_size(packet: bytes, size: int) -> bytes:
    """`packet` made `size` bytes long by growing or shrinking the whitespace padding before `<?xpacket end`, as
    exiftool edits in place; unchanged when the padding is too small (nothing else moves in the file then)."""
    end = packet.rfind(b"<?xpacket end")
    if end < 0 or len(packet) == size:
        return packet
    body = packet[:end]
    content = body.rstrip(b" \t\r\n")
    padding = body[len(content) :]
    change = size - len(packet)
    if change > 0:
        padding = padding[:1] + b" " * change + padding[1:]  # after the first newline, if any
    elif len(padding) + change >= 1:
        padding = padding[:1] + padding[1 - change :]  # keeps the first and the last whitespace character
    else:
        return packet
    return content + padding + packet[end:]
