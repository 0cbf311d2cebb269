"""Photo formats: content sniffing and one small writer class per format that can hold EXIF GPS in place.

JPEG, PNG, WebP, HEIC/HEIF, TIFF and DNG are written in place: EXIF GPS, plus XMP with place names and our
provenance (a writer that does not `embeds_xmp` would get them in a sidecar beside the file).
Proprietary camera RAW (CR2, CR3, NEF, ARW, ORF, RW2, RAF...) and BigTIFF get an XMP sidecar, as darktable,
digiKam and Lightroom expect: those files are never rewritten.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from geotagger.geocore.library import heif, png, webp, xmp
from geotagger.geocore.library.gps import GpsFix
from geotagger.geocore.library.jpeg import image_data_start, set_gps_jpeg, strip_location_jpeg
from geotagger.geocore.library.patches import Patch
from geotagger.geocore.library.tiffio import image_data_ranges, set_location_patches, strip_location_patches
from geotagger.geocore.library.xmp import Place


class Kind(str, enum.Enum):
    """Container format found by content."""

    JPEG = "jpeg"
    TIFF = "tiff"
    PNG = "png"
    WEBP = "webp"
    HEIF = "heif"
    BIGTIFF = "bigtiff"
    RAW = "raw"
    UNKNOWN = "unknown"


RAW_EXTENSIONS = frozenset({
    ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".dng", ".orf", ".rw2", ".raf", ".pef",
    ".srw", ".x3f", ".3fr", ".iiq", ".rwl", ".erf", ".mrw", ".kdc", ".dcr", ".mos", ".mef",
})
PHOTO_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".tif", ".tiff", ".png", ".webp", ".heic", ".heif", ".hif",
}) | RAW_EXTENSIONS
SNIFF_BYTES = 32


def sniff(head: bytes, suffix: str) -> Kind:
    """The container kind of a file from its first bytes; RAW when a RAW extension sits on a TIFF-like file."""
    suffix = suffix.lower()
    if head[:3] == b"\xff\xd8\xff":
        return Kind.JPEG
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return Kind.PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Kind.WEBP
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"crx ":
            return Kind.RAW
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis", b"hevc", b"hevx", b"avif"):
            return Kind.HEIF
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return Kind.RAW if suffix in RAW_EXTENSIONS else Kind.TIFF
    if head[:4] in (b"II+\x00", b"MM\x00+"):
        return Kind.RAW if suffix in RAW_EXTENSIONS else Kind.BIGTIFF
    if head[:4] in (b"IIRO", b"IIRS", b"MMOR", b"IIU\x00"):  # Olympus and Panasonic RAW variants of TIFF
        return Kind.RAW
    if head.startswith(b"FUJIFILMCCD-RAW"):
        return Kind.RAW
    return Kind.UNKNOWN


@dataclass(frozen=True)
class JpegWriter:
    """EXIF GPS in a JPEG's APP1; the compressed image after SOS is never touched."""

    name: str = "jpeg"
    extensions: frozenset[str] = frozenset({".jpg", ".jpeg", ".jpe", ".jfif"})
    embeds_xmp: bool = True

    def can_write(self, kind: Kind, suffix: str) -> bool:
        """True for JPEG content, whatever the extension says."""
        return kind is Kind.JPEG

    def set_gps(self, data: bytes, fix: GpsFix, place: Place | None = None) -> list[Patch]:
        """Patches writing `fix` (and place names into XMP)."""
        return set_gps_jpeg(data, fix, place)

    def strip(self, data: bytes) -> list[Patch]:
        """Patches removing all location data."""
        return strip_location_jpeg(data)

    def image_data_unchanged(self, old: bytes, new: bytes) -> bool:
        """True when the compressed image (SOS to the end) is byte-identical in `old` and `new`."""
        start_old, start_new = image_data_start(old), image_data_start(new)
        # endswith on a memoryview compares in place: no 5 MB copies for a 12 MP photo.
        return len(old) - start_old == len(new) - start_new and new.endswith(memoryview(old)[start_old:])


DNG_EXTENSIONS = frozenset({".dng"})


@dataclass(frozen=True)
class TiffWriter:
    """EXIF GPS and XMP (tag 700) in a classic TIFF or a DNG (a TIFF too): a new GPS IFD (and IFD0 copy when
    needed) and packet are appended or the packet rewritten within its padding; strips, tiles and the raw
    SubIFDs stay in place."""

    name: str = "tiff"
    extensions: frozenset[str] = frozenset({".tif", ".tiff", ".dng"})
    embeds_xmp: bool = True

    def can_write(self, kind: Kind, suffix: str) -> bool:
        """True for classic TIFF content that is not a proprietary camera RAW (DNG is written in place)."""
        if kind is Kind.RAW:
            return suffix.lower() in DNG_EXTENSIONS
        return kind is Kind.TIFF and suffix.lower() not in RAW_EXTENSIONS

    def set_gps(self, data: bytes, fix: GpsFix, place: Place | None = None) -> list[Patch]:
        """Patches writing `fix` (GPS IFD) and `fix`, place names and provenance (IFD0 XMP)."""
        return set_location_patches(data, fix, lambda old: xmp.merge_location(old, fix, place, old is None))

    def strip(self, data: bytes) -> list[Patch]:
        """Patches removing the GPS IFD and the XMP location (in place)."""
        return strip_location_patches(data, xmp.strip_location_packet)

    def image_data_unchanged(self, old: bytes, new: bytes) -> bool:
        """True when every strip/tile of the image is at the same place with the same bytes."""
        ranges = image_data_ranges(old)
        return ranges == image_data_ranges(new) and all(
            new.startswith(memoryview(old)[start:end], start) for start, end in ranges)


@dataclass(frozen=True)
class WebpWriter:
    """EXIF and XMP chunks in a WebP, a simple one converted to the extended (VP8X) form; image chunks untouched."""

    name: str = "webp"
    extensions: frozenset[str] = frozenset({".webp"})
    embeds_xmp: bool = True

    def can_write(self, kind: Kind, suffix: str) -> bool:
        """True for WebP content."""
        return kind is Kind.WEBP

    def set_gps(self, data: bytes, fix: GpsFix, place: Place | None = None) -> list[Patch]:
        """Patches writing `fix` (EXIF) and `fix`, place names and provenance (XMP)."""
        return webp.set_gps_webp(data, fix, place)

    def strip(self, data: bytes) -> list[Patch]:
        """Patches removing EXIF GPS and XMP location."""
        return webp.strip_location_webp(data)

    def image_data_unchanged(self, old: bytes, new: bytes) -> bool:
        """True when the VP8/VP8L/ALPH/ANMF chunks are byte-identical (and a VP8X canvas matches them)."""
        return webp.image_chunks_unchanged(old, new)


@dataclass(frozen=True)
class PngWriter:
    """EXIF in the eXIf chunk and XMP in an iTXt chunk of a PNG; image chunks untouched."""

    name: str = "png"
    extensions: frozenset[str] = frozenset({".png"})
    embeds_xmp: bool = True

    def can_write(self, kind: Kind, suffix: str) -> bool:
        """True for PNG content."""
        return kind is Kind.PNG

    def set_gps(self, data: bytes, fix: GpsFix, place: Place | None = None) -> list[Patch]:
        """Patches writing `fix` (eXIf) and `fix`, place names and provenance (iTXt XMP)."""
        return png.set_gps_png(data, fix, place)

    def strip(self, data: bytes) -> list[Patch]:
        """Patches removing EXIF GPS and XMP location."""
        return png.strip_location_png(data)

    def image_data_unchanged(self, old: bytes, new: bytes) -> bool:
        """True when IHDR/PLTE/IDAT (and APNG frame) chunks are byte-identical, in order."""
        return png.image_chunks_unchanged(old, new)


@dataclass(frozen=True)
class HeifWriter:
    """EXIF (and XMP) items of a HEIC/HEIF: item info, location and reference boxes kept consistent."""

    name: str = "heif"
    extensions: frozenset[str] = frozenset({".heic", ".heif", ".hif"})
    embeds_xmp: bool = True

    def can_write(self, kind: Kind, suffix: str) -> bool:
        """True for HEIF content (AVIF too: the same container)."""
        return kind is Kind.HEIF

    def set_gps(self, data: bytes, fix: GpsFix, place: Place | None = None) -> list[Patch]:
        """Patches writing `fix` into the Exif item and `fix`, place names and provenance into the XMP item."""
        return heif.set_gps_heif(data, fix, place)

    def strip(self, data: bytes) -> list[Patch]:
        """Patches blanking EXIF GPS in place."""
        return heif.strip_location_heif(data)

    def image_data_unchanged(self, old: bytes, new: bytes) -> bool:
        """True when every item but Exif/XMP has the same bytes and the primary image decodes to the same pixels."""
        return heif.images_unchanged(old, new)


FormatWriter = JpegWriter | TiffWriter | WebpWriter | PngWriter | HeifWriter
FORMAT_WRITERS: tuple[FormatWriter, ...] = (JpegWriter(), TiffWriter(), WebpWriter(), PngWriter(), HeifWriter())


def writer_for(kind: Kind, path: Path) -> FormatWriter | None:
    """The in-place writer for this content, or None when only a sidecar is safe."""
    return next((writer for writer in FORMAT_WRITERS if writer.can_write(kind, path.suffix)), None)


def is_photo_name(name: str) -> bool:
    """True when a file name has a photo extension (case-insensitive)."""
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in PHOTO_EXTENSIONS
