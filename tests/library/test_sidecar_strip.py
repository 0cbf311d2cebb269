"""XMP sidecars for formats that are never rewritten, place names, and stripping location for sharing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from geotagger.geocore.library.api import Library
from geotagger.geocore.library.errors import ErrorKind
from tests.library.exiftool_helpers import EXIFTOOL, exiftool_tags, needs_exiftool, sha256_of, validate_warnings
from tests.photo_factory import make_heic, make_jpeg, make_png, make_raw_like

pytestmark = needs_exiftool

DARKTABLE_SIDECAR = b"""<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:darktable="http://darktable.sf.net/"
    xmlns:exif="http://ns.adobe.com/exif/1.0/"
   xmp:Rating="4"
   exif:GPSLatitude="1,0.0N"
   darktable:xmp_version="5">
   <darktable:history>
    <rdf:Seq>
     <rdf:li darktable:operation="exposure" darktable:enabled="1"/>
    </rdf:Seq>
   </darktable:history>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def _library(tmp_path: Path, **options) -> Library:
    return Library(tmp_path / "cache.sqlite3", **options)


def _accept(library: Library, path: Path, lat: float, lon: float) -> None:
    library.accept(library.propose(library.photo_by_path(path).id, lat, lon, 1.0, "manual"))


@pytest.mark.parametrize(("maker", "name"), [(make_raw_like, "c.CR2"), (make_raw_like, "e.NEF"),
                                             (make_raw_like, "f.ORF")])
def test_sidecar_for_files_we_never_rewrite(tmp_path, maker, name) -> None:
    # PNG, HEIC, WebP and DNG are written in place now (tests/library/test_in_place_formats.py); RAW is never
    path = maker(tmp_path / "photos" / name)
    sha = sha256_of(path)
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    _accept(library, path, -22.9519, -43.2105)
    report = library.write_batch()
    assert report.failed == [] and report.results[0].target == "sidecar"
    sidecar = path.with_name(path.name + ".xmp")
    tags = exiftool_tags(sidecar)
    assert abs(tags["XMP-exif:GPSLatitude"] - -22.9519) < 1e-6
    assert abs(tags["XMP-exif:GPSLongitude"] - -43.2105) < 1e-6
    assert sha256_of(path) == sha
    assert library.photo_by_path(path).gps_source == "xmp"
    assert library.undo(batch_id=report.batch_id).failed == []
    assert not sidecar.exists()


def test_lightroom_naming_and_reading_both_styles(tmp_path) -> None:
    path = make_raw_like(tmp_path / "photos" / "IMG_1.NEF")
    library = _library(tmp_path, sidecar_style="replace")
    library.scan([tmp_path / "photos"])
    _accept(library, path, 10.0, 20.0)
    assert library.write_batch().failed == []
    assert (tmp_path / "photos" / "IMG_1.xmp").exists() and not (tmp_path / "photos" / "IMG_1.NEF.xmp").exists()
    fresh = Library(tmp_path / "other.sqlite3")
    fresh.scan([tmp_path / "photos"])
    photo = fresh.photo_by_path(path)
    assert (photo.gps_lat, photo.gps_lon, photo.gps_source) == (pytest.approx(10.0), pytest.approx(20.0), "xmp")


def test_merge_keeps_existing_sidecar_content_and_undo_restores_it(tmp_path) -> None:
    path = make_raw_like(tmp_path / "photos" / "x.ARW")
    sidecar = tmp_path / "photos" / "x.ARW.xmp"
    sidecar.write_bytes(DARKTABLE_SIDECAR)
    library = _library(tmp_path, place_names=True)
    library.scan([tmp_path / "photos"])
    _accept(library, path, 48.8566, 2.3522)
    report = library.write_batch()
    assert report.failed == []
    tags = exiftool_tags(sidecar)
    assert tags["XMP-xmp:Rating"] == 4 and tags["XMP-darktable:Xmp_version"] == 5
    assert "exposure" in str(tags.get("XMP-darktable:HistoryOperation"))
    assert abs(tags["XMP-exif:GPSLatitude"] - 48.8566) < 1e-6
    assert tags["XMP-photoshop:City"] == "Paris" and tags["XMP-iptcCore:CountryCode"] == "FR"
    assert tags["XMP-photoshop:Country"] == "France"
    assert library.decisions(state="written")[0].place_city == "Paris"
    assert library.undo(batch_id=report.batch_id).failed == []
    assert sidecar.read_bytes() == DARKTABLE_SIDECAR


def _jpeg_with_all_location(tmp_path: Path) -> Path:
    path = make_jpeg(tmp_path / "photos" / "share.jpg", gps=(45.0, 7.0, 300.0))
    subprocess.run([EXIFTOOL or "exiftool", "-q", "-overwrite_original", "-XMP-exif:GPSLatitude=45.0",
                    "-XMP-exif:GPSLongitude=7.0", "-XMP-photoshop:City=Torino", "-XMP-dc:Title=Holiday",
                    "-IPTC:City=Torino", "-IPTC:Country-PrimaryLocationName=Italy", "-IPTC:Keywords=alps",
                    "-IPTC:Province-State=Piemonte", str(path)], check=True)
    return path


def test_strip_removes_exif_xmp_and_iptc_location_and_undo_restores(tmp_path) -> None:
    path = _jpeg_with_all_location(tmp_path)
    sha, warnings = sha256_of(path), validate_warnings(path)
    library = _library(tmp_path)
    report = library.strip([path])
    assert report.failed == [] and len(report.written) == 1
    tags = exiftool_tags(path)
    location_keys = [k for k in tags if k.startswith("GPS:") or "GPS" in k or k.endswith(
        ("City", "Country-PrimaryLocationName", "Province-State"))]
    assert location_keys == []
    assert tags["IPTC:Keywords"] == "alps" and tags["XMP-dc:Title"] == "Holiday"
    assert validate_warnings(path) - warnings == set()
    assert library.undo(paths=[path]).failed == []
    assert sha256_of(path) == sha


def test_strip_sidecar_heic_and_raw(tmp_path) -> None:
    png = make_png(tmp_path / "photos" / "a.png")
    heic = make_heic(tmp_path / "photos" / "b.heic", gps=(1.0, 2.0))
    raw = make_raw_like(tmp_path / "photos" / "c.CR2", gps=(1.0, 2.0))
    heic_sha, heic_warnings = sha256_of(heic), validate_warnings(heic)
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    _accept(library, png, 3.0, 4.0)
    library.write_batch()  # in place (eXIf and iTXt)
    report = library.strip([png, heic, raw, tmp_path / "photos" / "missing.jpg"])
    by_name = {r.path.name: r for r in report.results}
    assert by_name["a.png"].ok and by_name["b.heic"].ok
    assert by_name["c.CR2"].error_kind is ErrorKind.UNSUPPORTED  # proprietary RAW files are never rewritten
    assert by_name["missing.jpg"].error_kind is ErrorKind.NOT_FOUND
    assert not [k for k in exiftool_tags(png) if "GPS" in k]
    assert not [k for k in exiftool_tags(heic) if "GPS" in k] and exiftool_tags(heic)["IFD0:Make"] == "Apple"
    assert validate_warnings(heic) - heic_warnings == set()
    assert library.undo(paths=[heic]).failed == [] and sha256_of(heic) == heic_sha


def test_strip_png_exif_and_xmp_in_place(tmp_path) -> None:
    path = make_png(tmp_path / "photos" / "p.png", gps=(5.0, 6.0, 10.0))
    subprocess.run([EXIFTOOL or "exiftool", "-q", "-overwrite_original", "-XMP-photoshop:City=Somewhere",
                    "-XMP-dc:Title=Kept", str(path)], check=True)
    sha, warnings = sha256_of(path), validate_warnings(path)
    library = _library(tmp_path)
    report = library.strip([path])
    assert report.failed == [] and report.results[0].target == "photo"
    tags = exiftool_tags(path)
    assert not [k for k in tags if "GPS" in k or k.endswith("City")]
    assert tags["XMP-dc:Title"] == "Kept"
    assert validate_warnings(path) - warnings == set()
    assert library.undo(paths=[path]).failed == [] and sha256_of(path) == sha


def test_two_photos_sharing_one_lightroom_sidecar(tmp_path) -> None:
    raw = make_raw_like(tmp_path / "photos" / "IMG_1.CR2")
    png = make_raw_like(tmp_path / "photos" / "IMG_1.NEF")  # two RAW files, one Lightroom-style name
    library = _library(tmp_path, sidecar_style="replace")
    library.scan([tmp_path / "photos"])
    _accept(library, raw, 10.0, 20.0)
    _accept(library, png, 30.0, 40.0)
    report = library.write_batch()
    assert report.failed == [] and len(report.written) == 2
    assert abs(exiftool_tags(tmp_path / "photos" / "IMG_1.xmp")["XMP-exif:GPSLatitude"] - 30.0) < 1e-6
    assert library.undo(batch_id=report.batch_id).failed == []
    assert not (tmp_path / "photos" / "IMG_1.xmp").exists()


def test_malformed_photoshop_segment_fails_one_file_and_the_strip_goes_on(tmp_path) -> None:
    import struct

    from geotagger.geocore.library import iptc

    bad = make_jpeg(tmp_path / "p" / "bad.jpg", gps=(1.0, 2.0))
    good = make_jpeg(tmp_path / "p" / "good.jpg", gps=(3.0, 4.0), color_seed=1)
    # A resource name longer than the segment: the parser's unpack runs off the end (struct.error, not ValueError)
    payload = iptc.PHOTOSHOP_HEADER + b"8BIM\x04\x04" + bytes([200]) + b"\x00" * 8
    data = bad.read_bytes()
    bad.write_bytes(data[:2] + b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload + data[2:])
    before = bad.read_bytes()
    library = Library(tmp_path / "lib.sqlite3")
    library.scan([tmp_path / "p"])
    results = {r.path.name: r for r in library.strip([bad, good]).results}
    assert not results["bad.jpg"].ok and results["bad.jpg"].error_kind is ErrorKind.CORRUPT
    assert results["good.jpg"].ok and bad.read_bytes() == before
