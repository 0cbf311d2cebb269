"""What a write changes inside a file's EXIF: only the GPS tags we set; nothing another structure owns (issue 11).

Every file here is built in the test, often with deliberately aliased offsets; exiftool is the judge of what the
file says before and after.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import piexif
import pytest

from geotagger.geocore.library.api import Library
from geotagger.geocore.library.errors import ErrorKind
from tests.library.exiftool_helpers import exiftool_tags, needs_exiftool, non_gps_tags, sha256_of, validate_warnings
from tests.photo_factory import build_exif, make_pixels

pytestmark = needs_exiftool
LONG_MAKE = b"Canon Incorporated, Imaging Business Division"  # long enough to hide a GPS value inside it
RICH_GPS = {
    piexif.GPSIFD.GPSVersionID: (2, 2, 0, 0),
    piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: ((10, 1), (30, 1), (0, 1)),
    piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: ((20, 1), (15, 1), (0, 1)),
    piexif.GPSIFD.GPSAltitudeRef: 0, piexif.GPSIFD.GPSAltitude: (1234, 10),
    piexif.GPSIFD.GPSTimeStamp: ((10, 1), (20, 1), (30, 1)), piexif.GPSIFD.GPSDateStamp: b"2023:05:01",
    piexif.GPSIFD.GPSSatellites: b"07", piexif.GPSIFD.GPSSpeedRef: b"K", piexif.GPSIFD.GPSSpeed: (42, 1),
    piexif.GPSIFD.GPSImgDirectionRef: b"T", piexif.GPSIFD.GPSImgDirection: (2705, 10),
    piexif.GPSIFD.GPSMapDatum: b"WGS-84",
}
# GPS tags a write sets (exiftool names); all others must keep their values.
SET_TAGS = {"GPS:GPSVersionID", "GPS:GPSLatitudeRef", "GPS:GPSLatitude", "GPS:GPSLongitudeRef", "GPS:GPSLongitude",
            "GPS:GPSMapDatum", "GPS:GPSProcessingMethod", "GPS:GPSHPositioningError"}


def _library(tmp_path: Path) -> Library:
    return Library(tmp_path / "cache" / "lib.sqlite3")


def _exif_bytes(gps: dict | None = None, make: bytes = b"Canon", description: bytes | None = None) -> bytes:
    """EXIF ('Exif\\0\\0' + big-endian TIFF) with camera tags, a MakerNote, a thumbnail and `gps`."""
    exif = piexif.load(build_exif((64, 48)))
    exif["0th"][piexif.ImageIFD.Make] = make
    exif["0th"][piexif.ImageIFD.Copyright] = b"(c) Someone Who Cares"
    if description is not None:
        exif["0th"][piexif.ImageIFD.ImageDescription] = description
    exif["Exif"][piexif.ExifIFD.DateTimeOriginal] = b"2023:05:01 12:30:00"
    exif["GPS"] = dict(gps or {})
    return piexif.dump(exif)


def _jpeg_with(path: Path, app1_payloads: list[bytes]) -> Path:
    """A small real JPEG whose EXIF APP1 segments are exactly `app1_payloads`, right after SOI."""
    buffer = io.BytesIO()
    make_pixels((64, 48)).save(buffer, "JPEG", quality=85)
    plain = buffer.getvalue()
    segments = b"".join(b"\xff\xe1" + struct.pack(">H", len(p) + 2) + p for p in app1_payloads)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(plain[:2] + segments + plain[2:])
    return path


class Tiff:
    """Just enough of a big-endian TIFF reader to find and re-aim offsets in a test file."""

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)

    def u32(self, at: int) -> int:
        return int(struct.unpack_from(">I", self.data, at)[0])

    def entry(self, ifd: int, tag: int) -> int:
        """Offset of the 12-byte entry for `tag` in the IFD at `ifd`."""
        count = struct.unpack_from(">H", self.data, ifd)[0]
        for index in range(count):
            at = ifd + 2 + 12 * index
            if struct.unpack_from(">H", self.data, at)[0] == tag:
                return at
        raise KeyError(tag)

    def value_offset(self, ifd: int, tag: int) -> int:
        return self.u32(self.entry(ifd, tag) + 8)

    def aim(self, ifd: int, tag: int, offset: int) -> None:
        struct.pack_into(">I", self.data, self.entry(ifd, tag) + 8, offset)

    @property
    def ifd0(self) -> int:
        return self.u32(4)

    @property
    def exif_ifd(self) -> int:
        return self.value_offset(self.ifd0, 0x8769)

    @property
    def gps_ifd(self) -> int:
        return self.value_offset(self.ifd0, 0x8825)


def _write(library: Library, path: Path, lat: float, lon: float, **kwargs) -> list:
    photo = library.photo_by_path(path)
    library.accept(library.propose(photo.id, lat, lon, kwargs.pop("radius_km", 1.0), "manual", **kwargs))
    # the photo's own result (a format that cannot embed XMP would also get a sidecar)
    return [r for r in library.write_batch().results if r.target == "photo"]


def _makernote(path: Path) -> bytes:
    """The MakerNote bytes of a JPEG's first EXIF block (exiftool does not show an unknown MakerNote)."""
    data = path.read_bytes()
    tiff = Tiff(data[data.index(b"Exif\x00\x00") + 6 :])
    count = struct.unpack_from(">I", tiff.data, tiff.entry(tiff.exif_ifd, 0x927C) + 4)[0]
    start = tiff.value_offset(tiff.exif_ifd, 0x927C)
    return bytes(tiff.data[start : start + count])


def _written_or_refused_untouched(path: Path, results: list, before: dict, sha: str,
                                  makernote: bytes | None = None) -> bool:
    """True when written with every non-GPS tag identical; asserts a refusal is typed and leaves the file as it was."""
    assert len(results) == 1
    if results[0].ok:
        assert non_gps_tags(exiftool_tags(path)) == non_gps_tags(before)
        assert makernote is None or _makernote(path) == makernote
        return True
    assert results[0].error_kind is ErrorKind.CORRUPT, results[0]
    assert results[0].reason
    assert sha256_of(path) == sha
    return False


# -- defect 4: tags we do not set stay as they were ------------------------------------------------------------


@pytest.mark.parametrize("altitude_m", [None, 99.5])
def test_new_position_keeps_the_gps_tags_it_does_not_set(tmp_path, altitude_m) -> None:
    path = _jpeg_with(tmp_path / "photos" / "rich.jpg", [_exif_bytes(RICH_GPS)])
    before, warnings = exiftool_tags(path), validate_warnings(path)
    assert before["GPS:GPSImgDirection"] == 270.5 and before["GPS:GPSSatellites"] == "07"
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    results = _write(library, path, -33.85, 151.21, altitude_m=altitude_m)
    assert [r.ok for r in results] == [True], results
    after = exiftool_tags(path)
    assert abs(after["Composite:GPSLatitude"] + 33.85) < 1e-6 and abs(after["Composite:GPSLongitude"] - 151.21) < 1e-6
    changed = SET_TAGS | ({"GPS:GPSAltitude", "GPS:GPSAltitudeRef"} if altitude_m is not None else set())
    kept_before = {k: v for k, v in before.items() if k.startswith("GPS:") and k not in changed}
    kept_after = {k: v for k, v in after.items() if k.startswith("GPS:") and k not in changed}
    assert kept_after == kept_before
    assert "GPS:GPSTimeStamp" in kept_after and "GPS:GPSSpeed" in kept_after and "GPS:GPSAltitude" in after
    if altitude_m is not None:
        assert abs(after["GPS:GPSAltitude"] - 99.5) < 1e-3
    assert non_gps_tags(after) == non_gps_tags(before)
    assert validate_warnings(path) - warnings == set()


def test_strip_still_removes_every_gps_tag(tmp_path) -> None:
    path = _jpeg_with(tmp_path / "photos" / "rich.jpg", [_exif_bytes(RICH_GPS)])
    before = exiftool_tags(path)
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    _write(library, path, -33.85, 151.21)
    assert library.strip([path]).failed == []
    after = exiftool_tags(path)
    assert not [k for k in after if k.startswith("GPS:")]
    assert non_gps_tags(after) == non_gps_tags(before)
    assert b"2023:05:01\x00" not in path.read_bytes().split(b"2023:05:01 12:30:00")[-1]  # GPSDateStamp cleared


# -- defect 7: bytes that belong to something else are never cleared -------------------------------------------


def _aliased(tmp_path: Path, name: str, alias) -> tuple[Path, dict, str]:
    raw = _exif_bytes(RICH_GPS, make=LONG_MAKE)
    tiff = Tiff(raw[6:])
    alias(tiff)
    path = _jpeg_with(tmp_path / "photos" / name, [raw[:6] + bytes(tiff.data)])
    return path, exiftool_tags(path), sha256_of(path)


ALIASES = {
    "gps_is_exif_ifd": lambda t: t.aim(t.ifd0, 0x8825, t.exif_ifd),
    "gps_is_ifd0": lambda t: t.aim(t.ifd0, 0x8825, t.ifd0),
    "latitude_inside_make": lambda t: t.aim(t.gps_ifd, 2, t.value_offset(t.ifd0, 0x10F) + 4),
    "longitude_inside_makernote": lambda t: t.aim(t.gps_ifd, 4, t.value_offset(t.exif_ifd, 0x927C) + 8),
    "datestamp_is_copyright": lambda t: t.aim(t.gps_ifd, 0x1D, t.value_offset(t.ifd0, 0x8298)),
}


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_aliased_offsets_lose_nothing_on_write(tmp_path, alias) -> None:
    path, before, sha = _aliased(tmp_path, f"{alias}.jpg", ALIASES[alias])
    makernote = _makernote(path)
    for tag in ("IFD0:Make", "IFD0:Copyright", "ExifIFD:DateTimeOriginal", "ExifIFD:ExposureTime",
                "ExifIFD:FNumber", "IFD1:ThumbnailImage"):
        assert tag in before, tag
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    results = _write(library, path, 45.0, 7.0)
    if _written_or_refused_untouched(path, results, before, sha, makernote):
        after = exiftool_tags(path)
        assert abs(after["Composite:GPSLatitude"] - 45.0) < 1e-6 and abs(after["Composite:GPSLongitude"] - 7.0) < 1e-6


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_aliased_offsets_lose_nothing_on_strip(tmp_path, alias) -> None:
    path, before, sha = _aliased(tmp_path, f"{alias}.jpg", ALIASES[alias])
    makernote = _makernote(path)
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    results = library.strip([path]).results
    if _written_or_refused_untouched(path, results, before, sha, makernote):
        assert not [k for k in exiftool_tags(path) if k.startswith("GPS:")]


def test_aliased_gps_ifd_is_refused_for_a_write_not_half_done(tmp_path) -> None:
    path, _before, sha = _aliased(tmp_path, "alias.jpg", ALIASES["gps_is_exif_ifd"])
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    results = _write(library, path, 45.0, 7.0)
    assert results[0].error_kind is ErrorKind.CORRUPT and "GPS IFD" in results[0].reason
    assert sha256_of(path) == sha


def _split_exif(raw: bytes, split_at: int) -> list[bytes]:
    """The EXIF as exiftool's multi-segment form: the TIFF continued in a second APP1 after its own header."""
    tiff = raw[6:]
    return [raw[:6] + tiff[:split_at], raw[:6] + tiff[split_at:]]


@pytest.mark.parametrize("where", ["exif_ifd", "image_description"])
def test_exif_split_over_two_app1_segments_loses_nothing(tmp_path, where) -> None:
    raw = _exif_bytes(RICH_GPS, description=b"A description that must survive the write")
    tiff = Tiff(raw[6:])
    split_at = tiff.exif_ifd if where == "exif_ifd" else tiff.value_offset(tiff.ifd0, 0x10E) + 2
    path = _jpeg_with(tmp_path / "photos" / f"split_{where}.jpg", _split_exif(raw, split_at))
    before, sha = exiftool_tags(path), sha256_of(path)
    assert before["IFD0:ImageDescription"].startswith("A description")
    assert before["ExifIFD:DateTimeOriginal"] == "2023:05:01 12:30:00"
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    results = _write(library, path, 45.0, 7.0)
    assert not _written_or_refused_untouched(path, results, before, sha), "growing a split EXIF shifts its tail"
    assert "multi-segment" in results[0].reason
    if _written_or_refused_untouched(path, library.strip([path]).results, before, sha):  # in place: offsets hold
        assert not [k for k in exiftool_tags(path) if k.startswith("GPS:")]


def test_tiff_keeps_the_gps_tags_it_does_not_set(tmp_path) -> None:
    import subprocess

    from tests.library.exiftool_helpers import EXIFTOOL
    from tests.photo_factory import make_tiff

    path = make_tiff(tmp_path / "photos" / "scan.tif", gps=(10.5, 20.25, 5.0))
    subprocess.run([EXIFTOOL or "exiftool", "-q", "-overwrite_original", "-GPSImgDirection=270.5",
                    "-GPSImgDirectionRef=T", "-GPSSpeed=42", "-GPSSpeedRef=K", "-GPSSatellites=07",
                    "-GPSDateStamp=2023:05:01", "-GPSTimeStamp=10:20:30", str(path)], check=True)
    before = exiftool_tags(path)
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    assert [r.ok for r in _write(library, path, -33.85, 151.21)] == [True]
    after = exiftool_tags(path)
    assert abs(after["Composite:GPSLatitude"] + 33.85) < 1e-6
    unset = {k: v for k, v in before.items() if k.startswith("GPS:") and k not in SET_TAGS}
    assert {k: v for k, v in after.items() if k in unset} == unset and "GPS:GPSImgDirection" in unset
    assert non_gps_tags(after) == non_gps_tags(before)


def test_tiff_gps_value_inside_the_image_strips_is_not_cleared(tmp_path) -> None:
    from tests.photo_factory import make_tiff

    path = make_tiff(tmp_path / "photos" / "alias.tif", gps=(10.5, 20.25, 5.0))
    data = bytearray(path.read_bytes())
    endian = "<" if data[:2] == b"II" else ">"
    ifd0 = struct.unpack_from(endian + "I", data, 4)[0]

    def entry(ifd: int, tag: int) -> int:
        count = struct.unpack_from(endian + "H", data, ifd)[0]
        return next(ifd + 2 + 12 * i for i in range(count)
                    if struct.unpack_from(endian + "H", data, ifd + 2 + 12 * i)[0] == tag)

    strip_start = struct.unpack_from(endian + "I", data, entry(ifd0, 0x111) + 8)[0]  # first strip's offset
    gps = struct.unpack_from(endian + "I", data, entry(ifd0, 0x8825) + 8)[0]
    struct.pack_into(endian + "I", data, entry(gps, 2) + 8, strip_start + 16)  # GPSLatitude inside the pixels
    path.write_bytes(bytes(data))
    before, sha = exiftool_tags(path), sha256_of(path)
    pixels = bytes(data[strip_start : strip_start + 4096])
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    results = _write(library, path, 45.0, 7.0)
    assert _written_or_refused_untouched(path, results, before, sha)
    assert path.read_bytes()[strip_start : strip_start + 4096] == pixels
    assert library.strip([path]).failed == []
    assert path.read_bytes()[strip_start : strip_start + 4096] == pixels


def test_two_exif_blocks_are_refused_for_set_and_strip(tmp_path) -> None:
    """A second EXIF would keep its GPS: a write would contradict it, a strip would not remove every location."""
    path = _jpeg_with(tmp_path / "photos" / "two.jpg", [_exif_bytes(RICH_GPS), _exif_bytes(RICH_GPS)])
    before, sha = exiftool_tags(path), sha256_of(path)
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    for results in (_write(library, path, 45.0, 7.0), library.strip([path]).results):
        assert not _written_or_refused_untouched(path, results, before, sha)
        assert "2 EXIF blocks" in results[0].reason
