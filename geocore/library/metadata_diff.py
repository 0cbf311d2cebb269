"""The verify step's judge: the whole metadata before and after a write differs only where the write meant it to.

`check_only_intended(old, new, intended)` parses both versions (`metadata_snapshot`), compares every key by value,
and raises `UnintendedChange` (a `VerifyError`: the write is refused, the file left untouched) for any difference
that `intended` does not cover. Inside each EXIF/TIFF block it also checks the bytes themselves: our writers never
move existing data, so every byte that no intended change owns must be identical, which catches data that only a
MakerNote's private offsets point at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from geotagger.geocore.library import provenance, xmp
from geotagger.geocore.library.gps import GpsFix
from geotagger.geocore.library.metadata_snapshot import (
    GPS_POINTER_TAG,
    IPTC_RESOURCE,
    Key,
    Parsed,
    Span,
    TiffBlock,
    snapshot,
)
from geotagger.geocore.library.writer import VerifyError

MISSING = "<missing>"
MINIMAL_IFD0_TAGS = frozenset({0x11A, 0x11B, 0x128, 0x213})  # what a writer adds when it creates EXIF
LOCATION_DATASETS = frozenset({90, 92, 95, 100, 101})
IPTC_DIGEST = 0x0425
PLACE_PROPERTIES = frozenset({(xmp.NS["photoshop"], "City"), (xmp.NS["photoshop"], "State"),
                              (xmp.NS["photoshop"], "Country"), (xmp.NS["Iptc4xmpCore"], "CountryCode"),
                              (xmp.NS["Iptc4xmpExt"], "LocationCreated"), (xmp.NS["Iptc4xmpCore"], "Location")})
VP8X_FLAGS_WE_SET = 0x08 | 0x04  # EXIF and XMP present


class UnintendedChange(VerifyError):
    """The written bytes differ from the original in more than the intended metadata."""

    def __init__(self, differences: list[Difference]) -> None:
        self.differences = differences
        shown = "; ".join(d.describe() for d in differences[:3])
        more = f" (+{len(differences) - 3} more)" if len(differences) > 3 else ""
        super().__init__(f"write would change what it must not: {shown}{more}")


@dataclass(frozen=True)
class Difference:
    """One key whose value differs (`MISSING` on the side where it is absent)."""

    key: Key
    before: Any
    after: Any

    def describe(self) -> str:
        """One line for the per-file report, e.g. 'EXIF IFD0.GPS tag 0x0006 would be lost'."""
        where = _where(self.key)
        if self.key[1:2] in (("@bytes",), ("@raw",)):
            return f"{where} would change"
        if self.after == MISSING:
            return f"{where} would be lost"
        if self.before == MISSING:
            return f"{where} would appear"
        return f"{where} would change ({_short(self.before)} -> {_short(self.after)})"


PREFIXES = {uri: prefix for prefix, uri in xmp.NS.items()}


def _where(key: Key) -> str:
    """A key in words: block, IFD and tag in hex, XMP properties as prefix:name paths."""
    block, rest = key[0], key[1:]
    if rest[:1] == ("@bytes",):
        return f"{block.upper()} bytes {rest[1]}..{rest[2]} (owned by no intended change)"
    if rest[:1] == ("@raw",):  # not parseable property by property (malformed, nested too deep): bytes must stay
        return f"{block.upper()} block that cannot be compared entry by entry"
    if block in ("exif", "tiff", "mpf") and len(rest) >= 2 and isinstance(rest[1], int):
        extra = f" (occurrence {rest[2] + 1})" if len(rest) > 2 and isinstance(rest[2], int) and rest[2] else ""
        offset = " offset" if rest[-1] == "@offset" else ""
        return f"{block.upper()} {rest[0]} tag {rest[1]:#06x}{offset}{extra}"
    if block == "xmp" and rest and isinstance(rest[0], tuple):
        parts = [f"{PREFIXES.get(p[0], p[0])}:{p[1]}" if isinstance(p, tuple) else f"[{p}]" for p in rest[0]]
        return "XMP " + "/".join(parts)
    return " ".join(str(part) for part in key)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class Intended:
    """What a write means to change: GPS tags it sets, GPS removal, XMP GPS, place names, location strip."""

    gps_tags: frozenset[int] = frozenset()
    remove_gps: bool = False
    xmp_gps: bool = False
    place_names: bool = False
    strip_location: bool = False

    @classmethod
    def for_write(cls, fix: GpsFix, place: xmp.Place | None = None) -> Intended:
        """A GPS write: the tags `tiffio.build_gps_ifd` sets for `fix`, XMP exif:GPS*, our provenance namespace,
        xmp:MetadataDate, place names (XMP and IPTC-IIM) if given."""
        tags = {0, 1, 2, 3, 4, 0x12} | ({5, 6} if fix.alt_m is not None else set())
        tags |= ({0x1B} if fix.method else set()) | ({0x1F} if fix.radius_km is not None else set())
        tags |= {7, 0x1D} if fix.fix_time is not None else set()
        return cls(gps_tags=frozenset(tags), xmp_gps=True, place_names=xmp.names_place(place))

    @classmethod
    def for_strip(cls) -> Intended:
        """A location strip: GPS IFD, XMP location properties and IPTC location datasets may go."""
        return cls(remove_gps=True, strip_location=True)

    def allows(self, difference: Difference, created: set[str]) -> bool:
        """True when this difference is one the write means to make (`created`: blocks the write added)."""
        block = difference.key[0]
        if block in ("exif", "tiff"):
            return self._allows_tiff(difference, block in created)
        if block == "xmp":
            return self._allows_xmp(difference)
        if block == "iptc":
            return (self.strip_location or self.place_names) and _iptc_location(difference, self.place_names)
        if block in ("webp", "heif"):
            return bool(self.gps_tags) and _container_change(difference)
        return False

    def _allows_tiff(self, difference: Difference, created: bool) -> bool:
        key, removed = difference.key, difference.after == MISSING
        writes = bool(self.gps_tags)
        if key[1:] == ("@present",) or key[1:] == ("@header",):
            return created and writes
        group = key[1]
        if group == "IFD0.GPS":
            return (writes and (key[2] in self.gps_tags or key[2] == "@state")) or (self.remove_gps and removed)
        if group == "IFD0" and key[2] == GPS_POINTER_TAG:
            return (writes and difference.before in (MISSING, difference.after)) or (self.remove_gps and removed)
        if group == "IFD0" and created and writes:
            return difference.before == MISSING and (key[2] in MINIMAL_IFD0_TAGS or key[2] in ("@state", "@next"))
        return False

    def _allows_xmp(self, difference: Difference) -> bool:
        key = difference.key
        if key[1] == "@present":
            return self.xmp_gps and difference.before == MISSING
        name = key[1][0] if isinstance(key[1], tuple) and key[1] else None
        if not isinstance(name, tuple):
            return False
        uri, local = name
        if self.xmp_gps and uri == xmp.NS["exif"] and local.startswith("GPS"):
            return True
        if self.place_names and name in PLACE_PROPERTIES:
            return True
        if (self.xmp_gps or self.strip_location) and name == xmp.METADATA_DATE:
            return True  # every metadata change updates it
        if self.xmp_gps and uri == provenance.NAMESPACE:
            return True
        return self.strip_location and difference.after == MISSING and xmp._is_location(f"{{{uri}}}{local}")


def _iptc_location(difference: Difference, rewrites: bool = False) -> bool:
    """A strip removes IIM location datasets; a write with place names (`rewrites`) may also change them."""
    key, removed = difference.key, difference.after == MISSING
    if key[1] == "resource":
        return key[2] == IPTC_DIGEST or (key[2] == IPTC_RESOURCE and removed)
    return key[1] == "dataset" and key[2] == 2 and key[3] in LOCATION_DATASETS and (removed or rewrites)


def _container_change(difference: Difference) -> bool:
    """Container bookkeeping a write may change: a WebP's VP8X header (created, or its EXIF/XMP flags set) and
    the HEIF Exif item's own entries (its references, added with a new item). Everything else stays compared."""
    key, before, after = difference.key, difference.before, difference.after
    if key[:2] == ("webp", b"VP8X") and isinstance(after, Span):
        new = after.data[after.start : after.end]
        if before == MISSING:
            return len(new) == 10 and new[0] & ~(VP8X_FLAGS_WE_SET | 0x10) == 0
        old = before.data[before.start : before.end] if isinstance(before, Span) else b""
        return len(old) == len(new) == 10 and old[1:] == new[1:] and (old[0] ^ new[0]) & ~VP8X_FLAGS_WE_SET == 0
    return key[0] == "heif" and key[1] in ("exif item", "xmp item") and before == MISSING


def _unowned_changes(old: TiffBlock, new: TiffBlock, intended: Intended) -> list[Difference]:
    """Bytes of the old block that changed though no intended change owns them (offsets kept by the writer)."""
    if old.raw or new.raw or old.endian != new.endian:
        return []
    allowed: list[tuple[int, int]] = []
    if intended.gps_tags or intended.remove_gps:
        allowed += [(4, 8), *old.gps_owned] + ([old.gps_pointer_entry] if old.gps_pointer_entry else [])
    if intended.remove_gps and old.ifd0_directory is not None:
        allowed.append((old.ifd0_directory[0], old.ifd0_directory[1] + 12))
    if intended.xmp_gps or intended.strip_location:
        allowed += old.xmp_owned  # the XMP packet (edited within its padding) and its entry (re-pointed)
    length = len(old.data)
    cursor, out = 0, []
    for start, end in sorted([*allowed, (length, length)]):
        stop = min(start, length)
        if stop > cursor and not _same(old.data, new.data, cursor, stop):
            out.append(Difference((old.name, "@bytes", cursor, stop), "original bytes", "changed bytes"))
        cursor = max(cursor, end)
    return out


def _same(old: bytes, new: bytes, start: int, end: int) -> bool:
    return end <= len(new) and new.startswith(memoryview(old)[start:end], start)


def differences(old: Parsed, new: Parsed) -> list[Difference]:
    """Every key whose value differs between two snapshots."""
    out = []
    for key in list(old.entries) + [k for k in new.entries if k not in old.entries]:
        before, after = old.entries.get(key, MISSING), new.entries.get(key, MISSING)
        if before != after:
            out.append(Difference(key, before, after))
    return out


def unintended_differences(old: bytes, new: bytes, intended: Intended, kind: str | None = None) -> list[Difference]:
    """The differences between `old` and `new` that `intended` does not cover (empty: the write is exact)."""
    before, after = snapshot(old, kind), snapshot(new, kind)
    created = {key[0] for key in after.entries if key[1:] == ("@present",) and key not in before.entries}
    found = [d for d in differences(before, after) if not intended.allows(d, created)]
    for name, block in before.blocks.items():
        if name in after.blocks:
            found += _unowned_changes(block, after.blocks[name], intended)
    return found


def check_only_intended(old: bytes, new: bytes, intended: Intended, kind: str | None = None) -> None:
    """Raise UnintendedChange unless the only differences between `old` and `new` are intended ones."""
    found = unintended_differences(old, new, intended, kind)
    if found:
        raise UnintendedChange(found)
