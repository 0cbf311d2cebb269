"""In-place writes for every common format, judged by exiftool and exiv2 reading the file itself (issue 15).

For JPEG, TIFF, DNG, PNG (with and without eXIf), WebP (simple lossy, simple lossless, extended with EXIF) and
HEIC (with and without EXIF GPS): the position reads back to 1e-6 degrees in both tools, `exiftool -validate`
shows no new warning, every other tag reads back the same, the pixels decode identically, and undo restores the
exact bytes.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import pytest
from PIL import Image

from geotagger.geocore.library import places
from geotagger.geocore.library.api import Library
from geotagger.geocore.library.xmp import Place
from tests.library.exiftool_helpers import exiftool_tags, needs_exiftool, sha256_of, validate_warnings
from tests.photo_factory import make_heic, make_jpeg, make_pixels, make_png, make_raw_like, make_tiff, make_webp

EXIV2 = shutil.which("exiv2")
needs_exiv2 = pytest.mark.skipif(EXIV2 is None, reason="exiv2 not installed (apt-get install exiv2)")
pytestmark = [needs_exiftool, needs_exiv2]
WHEN = datetime(2023, 5, 1, 12, 30, 0)
LAT, LON = -33.856784123, 151.215297456
SYDNEY = Place("Sydney", "New South Wales", "Australia", "AU")
# What a write adds or changes, as exiftool names it: GPS, our XMP, place names, MetadataDate.
INTENDED_GROUPS = ("GPS:", "XMP-exif:GPS", "XMP-geotagger:", "XMP-photoshop:City", "XMP-photoshop:State",
                   "XMP-iptcCore:Location",  # a sub-location of the old place goes with it
                   "XMP-photoshop:Country", "XMP-iptcCore:CountryCode", "XMP-iptcExt:LocationCreated",
                   "XMP-xmp:MetadataDate", "XMP-x:XMPToolkit", "Composite:GPS", "Composite:LocationCreated")
VOLATILE = ("System:", "ExifTool:", "File:FileSize", "SourceFile", "File:FileModifyDate", "File:FileAccessDate",
            "File:FileInodeChangeDate", "QuickTime:MediaDataSize", "QuickTime:MediaDataOffset")  # where mdat lies


def _simple_webp(path: Path, lossless: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = make_pixels((48, 32), 3)
    if lossless:
        image = image.convert("RGBA")
    image.save(path, "WEBP", lossless=lossless, quality=80)
    assert path.read_bytes()[12:16] == (b"VP8L" if lossless else b"VP8 ")
    return path


def _plain_png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    make_pixels((48, 32), 4).save(path, "PNG")
    return path


def _tiff_with_xmp(path: Path) -> Path:
    """A TIFF whose IFD0 already holds XMP (written by exiftool) with a title and a sub-location."""
    from tests.library.exiftool_helpers import EXIFTOOL

    make_tiff(path, size=(48, 32), datetime_original=WHEN)
    subprocess.run([EXIFTOOL or "exiftool", "-q", "-overwrite_original", "-XMP-dc:Title=Keep me",
                    "-XMP-iptcCore:Location=Old corner", str(path)], check=True)
    return path


SMALL = {"size": (48, 32), "datetime_original": WHEN}
CASES: dict[str, Callable[[Path], Path]] = {
    "jpeg": lambda folder: make_jpeg(folder / "a.jpg", **SMALL),
    "jpeg_gps": lambda folder: make_jpeg(folder / "a.jpg", gps=(10.5, 20.25, 5.0), **SMALL),
    "tiff": lambda folder: make_tiff(folder / "a.tif", **SMALL),
    "tiff_xmp": lambda folder: _tiff_with_xmp(folder / "a.tif"),
    "dng": lambda folder: make_raw_like(folder / "a.dng", datetime_original=WHEN, make="Adobe", model="DNG"),
    "png_exif": lambda folder: make_png(folder / "a.png", **SMALL),
    "png_plain": lambda folder: _plain_png(folder / "a.png"),
    "webp_exif": lambda folder: make_webp(folder / "a.webp", **SMALL),
    "webp_simple_lossy": lambda folder: _simple_webp(folder / "a.webp", lossless=False),
    "webp_simple_lossless": lambda folder: _simple_webp(folder / "a.webp", lossless=True),
    "heic": lambda folder: make_heic(folder / "a.heic", size=(64, 64), datetime_original=WHEN),
    "heic_gps": lambda folder: make_heic(folder / "a.heic", size=(64, 64), gps=(48.85, 2.29, 35.0)),
}


def exiv2_position(path: Path) -> tuple[float, float]:
    """Latitude and longitude as exiv2 reads them from the file's EXIF."""
    keys = ["Exif.GPSInfo.GPSLatitudeRef", "Exif.GPSInfo.GPSLatitude", "Exif.GPSInfo.GPSLongitudeRef",
            "Exif.GPSInfo.GPSLongitude"]
    args = [EXIV2 or "exiv2", "-q", "-Pkv", *(arg for key in keys for arg in ("-K", key)), str(path)]
    out = subprocess.run(args, capture_output=True, text=True, check=False).stdout
    values = dict(re.split(r"\s+", line.strip(), maxsplit=1) for line in out.splitlines() if line.strip())

    def degrees(key: str) -> float:
        parts = [Fraction(part) for part in values[key].split()]
        return float(parts[0] + parts[1] / 60 + parts[2] / 3600)

    lat, lon = degrees(keys[1]), degrees(keys[3])
    return (-lat if values[keys[0]] == "S" else lat), (-lon if values[keys[2]] == "W" else lon)


def decoded_pixels(path: Path) -> bytes:
    """The image as decoded (pillow-heif for HEIC), mode and size included."""
    data = path.read_bytes()
    if data[4:8] == b"ftyp":
        from geotagger.geocore.library.heif import primary_pixels

        return primary_pixels(data)
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return f"{image.mode} {image.size}".encode() + image.tobytes()


# A file without EXIF gets the minimal IFD0 EXIF requires; a simple WebP becomes an extended one (VP8X flags).
CREATED = {"File:ExifByteOrder", "IFD0:ResolutionUnit", "IFD0:XResolution", "IFD0:YCbCrPositioning",
           "IFD0:YResolution", "RIFF:WebP_Flags", "RIFF:ImageWidth", "RIFF:ImageHeight"}
CONVERTED = {("File:FileType", "WEBP", "Extended WEBP"), ("RIFF:WebP_Flags", 40, 44)}


def other_tags(tags: dict) -> dict:
    """Tags a write must leave as they were."""
    return {key: value for key, value in tags.items() if not key.startswith(INTENDED_GROUPS + VOLATILE)}


def assert_other_tags_kept(before: dict, after: dict) -> None:
    """Every prior tag reads back the same (but the container's own flags); new ones are only what EXIF needs."""
    kept, now = other_tags(before), other_tags(after)
    changed = {(key, value, now.get(key, "<missing>")) for key, value in kept.items() if now.get(key) != value}
    assert changed <= CONVERTED, changed
    assert set(now) - set(kept) <= CREATED, set(now) - set(kept)


def _write(tmp_path: Path, path: Path, monkeypatch: pytest.MonkeyPatch, source: str = "model") -> tuple[Library, str]:
    monkeypatch.setattr(places, "place_names", lambda coordinates: [SYDNEY for _ in coordinates])
    library = Library(tmp_path / "cache" / "lib.sqlite3", place_names=True)
    library.scan([path.parent])
    photo = library.photo_by_path(path)
    library.accept(library.propose(photo.id, LAT, LON, 12.0, source, altitude_m=21.5))
    report = library.write_batch()
    assert all(r.ok for r in report.results), report.results
    assert any(r.target == "photo" and Path(r.path) == path for r in report.results), report.results
    return library, report.batch_id


@pytest.mark.parametrize("case", sorted(CASES))
def test_written_in_place_and_read_by_exiftool_and_exiv2(tmp_path, monkeypatch, case) -> None:
    path = CASES[case](tmp_path / "photos")
    original_sha, before, before_warnings = sha256_of(path), exiftool_tags(path), validate_warnings(path)
    pixels = decoded_pixels(path)
    library, batch_id = _write(tmp_path, path, monkeypatch)
    after = exiftool_tags(path)  # the file alone: exiftool reads no sidecar unless asked
    assert abs(after["Composite:GPSLatitude"] - LAT) < 1e-6 and abs(after["Composite:GPSLongitude"] - LON) < 1e-6
    assert after["GPS:GPSProcessingMethod"] == "MANUAL" and after["GPS:GPSHPositioningError"] == 12000
    lat, lon = exiv2_position(path)
    assert abs(lat - LAT) < 1e-6 and abs(lon - LON) < 1e-6
    assert validate_warnings(path) - before_warnings == set()
    assert_other_tags_kept(before, after)
    assert decoded_pixels(path) == pixels
    assert after["XMP-photoshop:City"] == "Sydney" and after["XMP-iptcExt:LocationCreatedCity"] == "Sydney"
    assert after["XMP-geotagger:Estimated"] in (True, "True") and after["XMP-geotagger:Source"] == "model"
    assert "XMP-xmp:MetadataDate" in after and not path.with_name(path.name + ".xmp").exists()
    undo = library.undo(batch_id=batch_id)
    assert all(r.ok for r in undo.results), undo.results
    assert sha256_of(path) == original_sha
    assert not path.with_name(path.name + ".xmp").exists()
    library.close()


@pytest.mark.parametrize("case", ["heic", "tiff"])
def test_a_second_write_replaces_the_first_and_undo_walks_back(tmp_path, monkeypatch, case) -> None:
    path = CASES[case](tmp_path / "photos")
    original_sha = sha256_of(path)
    library, first = _write(tmp_path, path, monkeypatch)
    written_sha = sha256_of(path)
    photo = library.photo_by_path(path)
    library.accept(library.propose(photo.id, 45.0, 7.5, 0.01, "manual"))
    second = library.write_batch()
    assert all(r.ok for r in second.results), second.results
    tags = exiftool_tags(path)
    assert abs(tags["Composite:GPSLatitude"] - 45.0) < 1e-6 and exiv2_position(path)[0] == pytest.approx(45.0)
    assert tags["XMP-geotagger:Estimated"] in (False, "False")
    assert library.undo(batch_id=second.batch_id).results[0].ok and sha256_of(path) == written_sha
    assert library.undo(batch_id=first).results[0].ok and sha256_of(path) == original_sha
    library.close()


def _rich_heic(path: Path) -> Path:
    """A HEIC with an ICC profile, EXIF orientation, two top-level images and a thumbnail on each."""
    import pillow_heif

    from tests.photo_factory import srgb_icc

    path.parent.mkdir(parents=True, exist_ok=True)
    first = make_pixels((64, 48), 1)
    first.info["icc_profile"] = srgb_icc()
    heif_file = pillow_heif.from_pillow(first)
    heif_file.add_from_pillow(make_pixels((32, 32), 2))
    exif = Image.Exif()
    exif[0x112], exif[0x10F] = 6, "Apple"
    heif_file.save(path, quality=80, exif=exif.tobytes(), thumbnails=[16])
    return path


def _heif_contents(path: Path) -> list:
    """What pillow-heif sees: per image its size, mode, pixels, ICC profile and thumbnails' pixels."""
    import pillow_heif

    heif_file = pillow_heif.open_heif(path)
    return [(image.size, image.mode, bytes(image.data), image.info.get("icc_profile"),
             [(thumb.size, bytes(thumb.data)) for thumb in
              (image.get_thumbnail(index) for index in range(len(image.info["thumbnails"])))])
            for image in heif_file] + [heif_file.primary_index]


def test_heic_keeps_its_images_profile_orientation_and_thumbnails(tmp_path, monkeypatch) -> None:
    path = _rich_heic(tmp_path / "photos" / "rich.heic")
    contents, sha, before = _heif_contents(path), sha256_of(path), exiftool_tags(path)
    assert len(contents) == 3 and contents[0][3] and contents[0][4]  # two images, a profile, thumbnails
    library, batch_id = _write(tmp_path, path, monkeypatch)
    assert _heif_contents(path) == contents
    after = exiftool_tags(path)
    assert after["IFD0:Orientation"] == before["IFD0:Orientation"] == 6
    assert abs(exiv2_position(path)[0] - LAT) < 1e-6 and abs(after["Composite:GPSLatitude"] - LAT) < 1e-6
    assert_other_tags_kept(before, after)
    assert library.undo(batch_id=batch_id).results[0].ok and sha256_of(path) == sha
    library.close()


@pytest.mark.parametrize("case", ["png_plain", "webp_simple_lossy", "heic", "tiff_xmp"])
def test_strip_removes_what_the_write_added(tmp_path, monkeypatch, case) -> None:
    path = CASES[case](tmp_path / "photos")
    library, _batch = _write(tmp_path, path, monkeypatch)
    written_sha = sha256_of(path)
    stripped = library.strip([path])
    assert stripped.failed == [], stripped.results
    tags = exiftool_tags(path)
    assert not [key for key in tags if "GPS" in key or key.startswith(("XMP-geotagger:", "XMP-photoshop:City"))]
    out = subprocess.run([EXIV2 or "exiv2", "-q", "-pa", str(path)], capture_output=True, text=True).stdout
    assert "GPSLatitude" not in out and "geotagger" not in out
    assert all(r.ok for r in library.undo(batch_id=stripped.batch_id).results)
    assert sha256_of(path) == written_sha
    library.close()
