"""Reading what a photo already says: capture time and offset, camera, orientation, pixel size, existing GPS."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import mmap
import struct
import threading
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageFile, UnidentifiedImageError

from geotagger.geocore.library import embedded, jpeg, jpeg_metadata, provenance, xmp
from geotagger.geocore.library.errors import CorruptMetadata, ErrorKind, LibraryError, Truncated
from geotagger.geocore.library.formats import Kind, sniff
from geotagger.geocore.library.gps import GpsFix, dms_rationals_to_degrees
from geotagger.geocore.library.tiffio import TiffView, read_gps_fix

HEAD_READ_BYTES = 64 * 1024  # what a scan reads of each file (scanner.HEAD_BYTES)
# What Pillow is given of a JPEG our parser declined: the segments before the image data hold the metadata, and
# real ones stay far below this (ICC profiles, Extended XMP depth maps: a few MiB). SOS's own header is short.
JPEG_HEADER_LIMIT = 16 * 1024 * 1024
SOS_HEADER_LIMIT = 1024
_heif_lock = threading.Lock()
_heif_registered = False
# warnings.catch_warnings swaps process-wide state: one Pillow metadata read at a time keeps captures apart.
_pillow_lock = threading.Lock()


def _ensure_heif_opener() -> None:
    """Register pillow-heif once, on first need (not at import time)."""
    global _heif_registered
    with _heif_lock:
        if not _heif_registered:
            import pillow_heif

            pillow_heif.register_heif_opener()
            _heif_registered = True


@dataclass(frozen=True)
class PhotoMetadata:
    """Metadata read from a photo (and its sidecar). Times are naive ISO strings, as written by the camera."""

    width: int | None = None
    height: int | None = None
    capture_time: str | None = None
    capture_offset: str | None = None
    make: str | None = None
    model: str | None = None
    orientation: int | None = None
    gps: GpsFix | None = None
    gps_source: str | None = None
    warnings: tuple[str, ...] = ()  # what Pillow complained about (corrupt EXIF...): for the per-file report


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.strip("\x00 ").strip()
    return value or None


def exif_time_to_iso(value: object) -> str | None:
    """'YYYY:MM:DD HH:MM:SS' to 'YYYY-MM-DDTHH:MM:SS'; None when blank or malformed."""
    text = _text(value)
    if text is None or len(text) < 19 or text.startswith("0000"):
        return None
    date, _, clock = text[:19].partition(" ")
    parts = date.split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts) or len(clock) != 8:
        return None
    return f"{parts[0]}-{parts[1]}-{parts[2]}T{clock}"


def _with_subseconds(iso: str | None, subseconds: object) -> str | None:
    """The ISO time with SubSecTimeOriginal/Digitized ("25" = .25 s) appended: burst shots one second apart on a
    fast track are metres apart, and exiftool uses it too."""
    digits = (_text(subseconds) or "").strip()
    if iso is None or not digits.isdigit():
        return iso
    return f"{iso}.{digits[:6]}"


def _gps_from_pil(gps_ifd: dict) -> GpsFix | None:
    try:
        if not all(key in gps_ifd for key in (1, 2, 3, 4)):
            return None
        lat = dms_rationals_to_degrees(tuple((v.numerator, v.denominator) for v in gps_ifd[2]))
        lon = dms_rationals_to_degrees(tuple((v.numerator, v.denominator) for v in gps_ifd[4]))
        lat = -lat if _text(gps_ifd[1]) in ("S", "s") else lat
        lon = -lon if _text(gps_ifd[3]) in ("W", "w") else lon
        alt_m = float(gps_ifd[6]) if 6 in gps_ifd else None
        if alt_m is not None and gps_ifd.get(5) in (1, b"\x01"):
            alt_m = -alt_m
        return GpsFix(lat, lon, alt_m)
    except (TypeError, ValueError, ZeroDivisionError, AttributeError):
        return None  # malformed GPS is treated as absent, the rest of the metadata still counts


@contextlib.contextmanager
def _pillow_warnings() -> Iterator[list[str]]:
    """Capture Pillow's warnings (raw `UserWarning: Corrupt EXIF data` on stderr helps nobody) into a list."""
    notes: list[str] = []
    with _pillow_lock, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield notes
        finally:
            for warning in caught:
                text = " ".join(str(warning.message).split())
                if not issubclass(warning.category, Image.DecompressionBombWarning) and text not in notes:
                    notes.append(text)


def _open_unguarded(fp: BinaryIO) -> ImageFile.ImageFile:
    """Open like `Image.open`, without the decompression-bomb check: metadata reads never decode pixels."""
    Image.init()
    prefix = fp.read(16)
    for format_id in Image.ID:
        factory, accept = Image.OPEN[format_id]
        if accept is not None and accept(prefix) in (False, None, ""):
            continue
        fp.seek(0)
        try:
            return factory(fp, "")
        except (SyntaxError, IndexError, TypeError, struct.error):
            continue
    raise UnidentifiedImageError("cannot identify image file")


@contextlib.contextmanager
def _open_for_metadata(source: Path | bytes) -> Iterator[ImageFile.ImageFile]:
    """An image opened for its size and metadata only, whatever its pixel count (a 200-megapixel JPEG too)."""
    with open(source, "rb") if isinstance(source, Path) else io.BytesIO(source) as fp:
        try:
            image = Image.open(fp)
        except Image.DecompressionBombError:
            fp.seek(0)
            image = _open_unguarded(fp)
        with image:  # sub-IFDs are read lazily from the open file (TIFF)
            yield image


def read_exif_gps_pil(data: bytes) -> GpsFix | None:
    """GPS from a whole file's bytes through Pillow: an independent check of what our writer produced."""
    if data[4:8] == b"ftyp":
        _ensure_heif_opener()
    with _pillow_warnings(), _open_for_metadata(data) as image:
        return _gps_from_pil(image.getexif().get_ifd(0x8825))


def _from_image(source: Path | bytes, kind: Kind) -> PhotoMetadata:
    """Through Pillow: headers only (`source`: a JPEG's header bytes, else the file)."""
    if kind is Kind.HEIF:
        _ensure_heif_opener()
    with _pillow_warnings() as notes, _open_for_metadata(source) as image:
        exif = image.getexif()
        width, height = image.size
        embedded_xmp = image.info.get("xmp")
        described = _described(width, height, exif, embedded_xmp if isinstance(embedded_xmp, bytes) else None)
    return _with_notes(described, notes)  # the capture fills `notes` as it closes


def _from_embedded(path: Path, kind: Kind) -> PhotoMetadata:
    """A PNG or WebP from its chunk structure (embedded): never decoded, never read whole."""
    try:
        found = embedded.read_embedded(path, kind)
    except CorruptMetadata as exc:
        raise LibraryError(ErrorKind.CORRUPT, path, f"cannot read image: {exc}") from None
    with _pillow_warnings() as notes:
        exif = Image.Exif()
        if found.exif is not None:
            exif.load(found.exif)
        described = _described(found.width, found.height, exif, found.xmp)
    return _with_notes(described, notes)


def _with_notes(meta: PhotoMetadata, notes: list[str]) -> PhotoMetadata:
    return dataclasses.replace(meta, warnings=tuple(f"Pillow: {note}" for note in notes)) if notes else meta


def _described(width: int, height: int, exif: Image.Exif, embedded_xmp: bytes | None) -> PhotoMetadata:
    """PhotoMetadata of what Pillow's EXIF reader and the embedded XMP say; reads the EXIF's sub-IFDs, so it runs
    inside the capture of Pillow's warnings."""
    sub = exif.get_ifd(0x8769)
    gps = _gps_from_pil(exif.get_ifd(0x8825))
    gps_source = "exif" if gps is not None else None
    if gps is None and embedded_xmp is not None:
        gps = _xmp_gps(embedded_xmp)
        gps_source = "xmp" if gps is not None else None
    orientation = exif.get(0x112)
    return PhotoMetadata(
        width=width, height=height,
        capture_time=_with_subseconds(exif_time_to_iso(sub.get(0x9003)), sub.get(0x9291))
        or _with_subseconds(exif_time_to_iso(sub.get(0x9004)), sub.get(0x9292)),
        capture_offset=_text(sub.get(0x9011)),
        make=_text(exif.get(0x10F)), model=_text(exif.get(0x110)),
        orientation=orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else None,
        gps=gps, gps_source=gps_source,
    )


def _jpeg_header(path: Path) -> bytes:
    """The bytes Pillow needs of a JPEG (its segments up to the image data); LibraryError(CORRUPT) for a truncated
    one: it is damaged, and must not be listed as a normal photo. Pillow skips junk between segments a byte at a
    time, so it never sees more than JPEG_HEADER_LIMIT: a file of SOI and gigabytes of junk would take it hours."""
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        try:
            jpeg.check_complete(data)  # type: ignore[arg-type]  # mmap reads like bytes, without loading the file
            end = jpeg.image_data_start(data) + 4 + SOS_HEADER_LIMIT  # type: ignore[arg-type]
        except Truncated as exc:
            raise LibraryError(ErrorKind.CORRUPT, path, str(exc).removesuffix("; not written")) from None
        except CorruptMetadata:
            end = JPEG_HEADER_LIMIT  # odd but complete: the writer refuses what it cannot patch, with its own reason
        return data[: min(end, JPEG_HEADER_LIMIT)]


def _from_raw_tiff(path: Path) -> PhotoMetadata:
    """GPS and camera of a TIFF-structured RAW that Pillow cannot open."""
    with open(path, "rb") as handle:
        data = handle.read(4 * 1024 * 1024)
    try:
        view = TiffView(data)
        ifd0 = view.read_ifd(view.ifd0_offset)
        make, model = (ifd0.find(tag) for tag in (0x10F, 0x110))
        gps = read_gps_fix(data)
        return PhotoMetadata(
            make=_text(view.value_bytes(make)) if make else None,
            model=_text(view.value_bytes(model)) if model else None,
            gps=gps, gps_source="exif" if gps else None,
        )
    except (CorruptMetadata, ValueError):
        return PhotoMetadata()


def read_metadata(path: Path, kind: Kind, head: bytes | None = None, sidecars: bool = True) -> PhotoMetadata:
    """Metadata of one photo; EXIF GPS wins over a sidecar's. Raises LibraryError for unreadable files.

    `head`: the file's first bytes when the caller has read them (a scan has): a well-formed JPEG is then read from
    them alone. `sidecars=False`: the caller knows there is no sidecar (the scan's folder listing found none).
    """
    meta = _from_jpeg_head(path, head) if kind is Kind.JPEG and head is not None else None
    if meta is None:
        meta = _from_file(path, kind)
    if meta.gps is None and sidecars:
        sidecar_gps = read_sidecar_gps(path)
        if sidecar_gps is not None:
            meta = PhotoMetadata(**{**meta.__dict__, "gps": sidecar_gps, "gps_source": "xmp"})
    return meta


def _from_file(path: Path, kind: Kind) -> PhotoMetadata:
    try:
        if kind in (Kind.PNG, Kind.WEBP):
            return _from_embedded(path, kind)
        return _from_image(_jpeg_header(path) if kind is Kind.JPEG else path, kind)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:  # the bomb guard is off: see above
        if kind is not Kind.RAW:
            if isinstance(exc, (PermissionError, FileNotFoundError)):
                raise
            raise LibraryError(ErrorKind.CORRUPT, path, f"cannot read image: {exc}") from None
        return _from_raw_tiff(path)


def _from_jpeg_head(path: Path, head: bytes) -> PhotoMetadata | None:
    """A well-formed JPEG's metadata from its head (jpeg_metadata), None when Pillow must read it."""
    try:
        found = jpeg_metadata.read_head(head)
        if not _ends_with_image_end(path, head, found.sos):
            return None
        exif = jpeg_metadata.read_exif(found.exif) if found.exif is not None else jpeg_metadata.ExifValues()
    except jpeg_metadata.Decline:
        return None
    gps = _gps_from_pil(exif.gps) if exif.gps is not None else None
    gps_source = "exif" if gps is not None else None
    if gps is None and found.xmp is not None:
        gps = _xmp_gps(found.xmp)
        gps_source = "xmp" if gps is not None else None
    orientation = exif.orientation if exif.orientation is not None else jpeg_metadata.xmp_orientation(found.xmp)
    return PhotoMetadata(
        width=found.width, height=found.height,
        capture_time=_with_subseconds(exif_time_to_iso(exif.date_original), exif.subsec_original)
        or _with_subseconds(exif_time_to_iso(exif.date_digitized), exif.subsec_digitized),
        capture_offset=_text(exif.offset_original), make=_text(exif.make), model=_text(exif.model),
        orientation=orientation if 1 <= (orientation or 0) <= 8 else None, gps=gps, gps_source=gps_source,
    )


def _ends_with_image_end(path: Path, head: bytes, sos: int) -> bool:
    """The truncation check of _jpeg_header on the head: True when the file ends in EOI (or, all in the
    head, has one after its SOS); False sends the file to the full check."""
    if len(head) < HEAD_READ_BYTES:  # the whole file
        return head[-2:] == b"\xff\xd9" or head.find(b"\xff\xd9", sos) >= 0
    try:
        with open(path, "rb") as handle:
            handle.seek(-2, io.SEEK_END)
            return handle.read(2) == b"\xff\xd9"
    except OSError:
        return False


def _xmp_gps(packet: bytes) -> GpsFix | None:
    if not _may_hold_gps(packet):
        return None
    try:
        return xmp.read_location(packet)
    except CorruptMetadata:
        return None


def _may_hold_gps(packet: bytes) -> bool:
    """False only when `packet` cannot name a GPS position (UTF-8 text without the name): no XML parse then. A
    NUL near the start may be UTF-16/32 text, which the parser reads."""
    return b"GPSLatitude" in packet or b"\x00" in packet[:64] or packet[:2] in (b"\xff\xfe", b"\xfe\xff")


def read_sidecar_gps(photo: Path) -> GpsFix | None:
    """GPS from either sidecar naming style, None when absent or unreadable."""
    for candidate in xmp.existing_sidecars(photo):
        data = xmp.read_sidecar(candidate)
        if data is None or not _may_hold_gps(data):
            continue
        try:
            fix = xmp.read_location(data)
        except CorruptMetadata:
            continue
        if fix is not None:
            return fix
    return None


# -- is this position an estimate of ours? -----------------------------------------------------------------------

EXIF_CHARSET_PREFIXES = (b"ASCII\x00\x00\x00", b"UNICODE\x00", b"JIS\x00\x00\x00\x00\x00", b"\x00" * 8)


@dataclass(frozen=True)
class EstimateMarks:
    """What a photo says about how its position was found: our provenance's Estimated values (embedded XMP and
    sidecars) and every GPSProcessingMethod (EXIF, XMP, sidecars)."""

    provenance_estimated: tuple[bool, ...] = ()
    processing_methods: tuple[str, ...] = ()


def written_estimate(metadata: EstimateMarks | Path | str) -> bool:
    """True when the photo's position is an estimate Geotagger wrote (a model's, a time neighbour's).

    Our XMP namespace decides when present (geotagger:Estimated, in the file or a sidecar); files written by
    versions before it carry GPSProcessingMethod 'ESTIMATED' instead. A MANUAL method alone says nothing: EXIF
    gives estimates and the user's own placements that same value. Estimates are never training data and never
    time neighbours: errors would chain.
    """
    marks = metadata if isinstance(metadata, EstimateMarks) else estimate_marks(Path(metadata))
    if marks.provenance_estimated:
        return any(marks.provenance_estimated)
    return any(method.strip().upper() == provenance.LEGACY_ESTIMATE_METHOD for method in marks.processing_methods)


def estimate_marks(path: Path) -> EstimateMarks:
    """The marks of `path`: EXIF and embedded XMP (headers only, as a scan reads them), then every sidecar."""
    estimated: list[bool] = []
    methods: list[str] = []
    packets: list[bytes] = []
    try:
        exif, embedded_xmp = _exif_and_xmp(path)
        method = _method_text(exif.get_ifd(0x8825).get(0x1B))
        methods += [method] if method else []
        packets += [embedded_xmp] if embedded_xmp else []
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError, LibraryError):
        pass
    for sidecar in xmp.existing_sidecars(path):
        data = xmp.read_sidecar(sidecar)
        packets += [data] if data else []
    for packet in packets:
        found_estimated, found_method = _xmp_marks(packet)
        estimated += found_estimated
        methods += found_method
    return EstimateMarks(tuple(estimated), tuple(methods))


def _exif_and_xmp(path: Path) -> tuple[Image.Exif, bytes | None]:
    """A photo's EXIF and embedded XMP packet, read the way a scan reads them (never the pixels)."""
    with open(path, "rb") as handle:
        head = handle.read(64)
    kind = sniff(head, path.suffix)
    if kind in (Kind.PNG, Kind.WEBP):
        found = embedded.read_embedded(path, kind)
        exif = Image.Exif()
        with _pillow_warnings():
            if found.exif is not None:
                exif.load(found.exif)
            exif.get_ifd(0x8825)  # parsed now, inside the warnings capture
        return exif, found.xmp
    if head[4:8] == b"ftyp":  # any ISO-BMFF brand: pillow-heif knows more of them than sniff lists
        _ensure_heif_opener()
    with _pillow_warnings(), _open_for_metadata(_jpeg_header(path) if kind is Kind.JPEG else path) as image:
        exif = image.getexif()
        exif.get_ifd(0x8825)
        packet = image.info.get("xmp")
        return exif, packet if isinstance(packet, bytes) else None


def _method_text(value: object) -> str | None:
    if isinstance(value, bytes):
        prefix = next((p for p in EXIF_CHARSET_PREFIXES if value.startswith(p)), b"")
        value = value[len(prefix) :].decode("ascii", "replace")
    return _text(value)


def _xmp_marks(packet: bytes) -> tuple[list[bool], list[str]]:
    """(geotagger:Estimated values, exif:GPSProcessingMethod values) of one packet; nothing when unreadable."""
    try:
        root = xmp.parse_packet(packet)
    except CorruptMetadata:
        return [], []
    estimated = [text.strip().lower() == "true" for text in _values(root, provenance.NAMESPACE, provenance.ESTIMATED)]
    return estimated, [text.strip() for text in _values(root, xmp.NS["exif"], "GPSProcessingMethod")]


def _values(root: ET.Element, uri: str, local: str) -> list[str]:
    key = f"{{{uri}}}{local}"
    found = []
    for element in root.iter():
        if key in element.attrib:
            found.append(element.attrib[key])
        if element.tag == key and element.text:
            found.append(element.text)
    return found
