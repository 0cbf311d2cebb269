"""XMP writes change only the properties they set, and never write through a link or into a non-XMP file (issue 11)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from geotagger.geocore.library.api import Library
from geotagger.geocore.library.errors import ErrorKind
from tests.library.exiftool_helpers import EXIFTOOL, exiftool_tags, needs_exiftool, sha256_of
from tests.photo_factory import make_jpeg, make_raw_like

pytestmark = needs_exiftool
PROLOG = (b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- written by SomeEditor 3.1: keep me -->\n'
          b'<?some-editor state="42"?>\n')
EPILOG = b"\n<!-- trailing note -->\n<?another-pi keep?>\n"
PLACES_SIDECAR = PROLOG + b"""<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
   photoshop:City="Lyon"
   exif:GPSLatitude="45,45.0N"
   exif:GPSLongitude="4,50.0E"
   exif:GPSImgDirection="2705/10"
   Iptc4xmpCore:Location="Vieux Lyon">
   <photoshop:Country>France</photoshop:Country>
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Old town</rdf:li></rdf:Alt></dc:title>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>""" + EPILOG
# XMP properties a write without place names sets (exiftool names, -n values).
SET_XMP = {"XMP-exif:GPSLatitude", "XMP-exif:GPSLongitude", "XMP-exif:GPSVersionID", "XMP-exif:GPSMapDatum",
           "XMP-exif:GPSProcessingMethod", "XMP-exif:GPSHPositioningError", "XMP-exif:GPSAltitude",
           "XMP-exif:GPSAltitudeRef"}
VICTIM = b"""<?xml version="1.0"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" dc:format="victim"/>
</rdf:RDF></x:xmpmeta>
"""


def _library(tmp_path: Path) -> Library:
    return Library(tmp_path / "cache" / "lib.sqlite3")


def _write(tmp_path: Path, path: Path, lat: float = -22.95, lon: float = -43.21) -> list:
    library = _library(tmp_path)
    library.scan([path.parent])
    photo = library.photo_by_path(path)
    library.accept(library.propose(photo.id, lat, lon, 1.0, "manual"))
    return library.write_batch().results


def _xmp_tags(path: Path) -> dict:
    return {k: v for k, v in exiftool_tags(path).items() if k.startswith("XMP-")}


def _unset(tags: dict) -> dict:
    """Tags a write does not set (our provenance namespace and MetadataDate are set by every write)."""
    return {k: v for k, v in tags.items() if k not in SET_XMP and not k.startswith(("XMP-geotagger:",
                                                                                    "XMP-xmp:MetadataDate"))}


# -- defect 5: place names and every other property survive ----------------------------------------------------


def test_sidecar_keeps_place_names_and_gps_tags_it_does_not_set(tmp_path) -> None:
    photo = make_raw_like(tmp_path / "photos" / "IMG_1.CR2")
    sidecar = photo.with_name("IMG_1.CR2.xmp")
    sidecar.write_bytes(PLACES_SIDECAR)
    before = _xmp_tags(sidecar)
    assert before["XMP-photoshop:City"] == "Lyon" and before["XMP-iptcCore:Location"] == "Vieux Lyon"
    results = _write(tmp_path, photo)
    assert [(r.ok, r.target) for r in results] == [(True, "sidecar")], results
    after = _xmp_tags(sidecar)
    assert abs(after["XMP-exif:GPSLatitude"] + 22.95) < 1e-6 and abs(after["XMP-exif:GPSLongitude"] + 43.21) < 1e-6
    assert _unset(after) == _unset(before)
    assert after["XMP-exif:GPSImgDirection"] == 270.5 and after["XMP-photoshop:Country"] == "France"


@pytest.mark.parametrize("with_gps", [False, True])
def test_jpeg_embedded_xmp_keeps_place_names(tmp_path, with_gps) -> None:
    path = make_jpeg(tmp_path / "photos" / "a.jpg")
    args = ["-XMP-photoshop:City=Paris", "-XMP-photoshop:Country=France", "-XMP-iptcCore:Location=Montmartre",
            "-XMP-photoshop:State=IDF", "-XMP-dc:Title=Keep me"]
    args += ["-XMP-exif:GPSLatitude=48.88", "-XMP-exif:GPSLongitude=2.34", "-XMP-exif:GPSSpeed=3"] if with_gps else []
    subprocess.run([EXIFTOOL or "exiftool", "-q", "-overwrite_original", *args, str(path)], check=True)
    before = _xmp_tags(path)
    results = _write(tmp_path, path, 41.9, 12.5)
    assert [r.ok for r in results] == [True], results
    after = _xmp_tags(path)
    assert _unset(after) == _unset(before)
    assert after["XMP-photoshop:City"] == "Paris" and after["XMP-iptcCore:Location"] == "Montmartre"
    if with_gps:
        assert abs(after["XMP-exif:GPSLatitude"] - 41.9) < 1e-6 and after["XMP-exif:GPSSpeed"] == 3


# -- defect 8: links, non-XMP files, case, top-level comments ---------------------------------------------------


def test_sidecar_symlink_is_never_written_through(tmp_path) -> None:
    victim = tmp_path / "home" / "victim.xml"
    victim.parent.mkdir()
    victim.write_bytes(VICTIM)
    photo = make_raw_like(tmp_path / "photos" / "IMG_1.CR2")
    os.symlink(victim, photo.with_name("IMG_1.CR2.xmp"))
    results = _write(tmp_path, photo)
    assert len(results) == 1 and not results[0].ok
    assert results[0].error_kind is ErrorKind.UNSUPPORTED and "link" in results[0].reason
    assert victim.read_bytes() == VICTIM
    assert photo.with_name("IMG_1.CR2.xmp").is_symlink()


def test_dangling_sidecar_symlink_creates_nothing(tmp_path) -> None:
    target = tmp_path / "home" / "new-file.xml"
    target.parent.mkdir()
    photo = make_raw_like(tmp_path / "photos" / "IMG_1.CR2")
    os.symlink(target, photo.with_name("IMG_1.CR2.xmp"))
    results = _write(tmp_path, photo)
    assert not results[0].ok and not target.exists()


def test_strip_refuses_a_symlinked_sidecar(tmp_path) -> None:
    victim = tmp_path / "home" / "victim.xmp"
    victim.parent.mkdir()
    victim.write_bytes(PLACES_SIDECAR)
    photo = make_raw_like(tmp_path / "photos" / "IMG_1.CR2")
    os.symlink(victim, photo.with_name("IMG_1.xmp"))
    library = _library(tmp_path)
    library.scan([photo.parent])
    results = library.strip([photo]).results
    assert [r.ok for r in results if r.target == "sidecar"] == [False]
    assert victim.read_bytes() == PLACES_SIDECAR


def test_a_non_xmp_file_named_xmp_is_refused(tmp_path) -> None:
    photo = make_raw_like(tmp_path / "photos" / "IMG_1.CR2")
    html = b"<html><head><title>not XMP</title></head><body><p>hello</p></body></html>\n"
    sidecar = photo.with_name("IMG_1.CR2.xmp")
    sidecar.write_bytes(html)
    results = _write(tmp_path, photo)
    assert not results[0].ok and results[0].error_kind is ErrorKind.CORRUPT and "XMP" in results[0].reason
    assert sidecar.read_bytes() == html


@pytest.mark.parametrize("name", ["IMG_1.CR2.XMP", "IMG_1.XMP"])
def test_uppercase_xmp_is_the_same_sidecar(tmp_path, name) -> None:
    photo = make_raw_like(tmp_path / "photos" / "IMG_1.CR2")
    sidecar = photo.with_name(name)
    sidecar.write_bytes(PLACES_SIDECAR)
    results = _write(tmp_path, photo)
    assert [r.ok for r in results] == [True], results
    assert sorted(p.name for p in photo.parent.iterdir()) == sorted(["IMG_1.CR2", name])
    assert results[0].path.name == name
    assert abs(_xmp_tags(sidecar)["XMP-exif:GPSLatitude"] + 22.95) < 1e-6


def test_top_level_comments_and_processing_instructions_are_kept(tmp_path) -> None:
    photo = make_raw_like(tmp_path / "photos" / "IMG_1.CR2")
    sidecar = photo.with_name("IMG_1.CR2.xmp")
    sidecar.write_bytes(PLACES_SIDECAR)
    assert [r.ok for r in _write(tmp_path, photo)] == [True]
    written = sidecar.read_bytes()
    assert written.startswith(PROLOG) and written.endswith(EPILOG)


def test_scan_reads_gps_from_an_uppercase_sidecar(tmp_path) -> None:
    photo = make_raw_like(tmp_path / "photos" / "IMG_2.CR2")
    photo.with_name("IMG_2.XMP").write_bytes(PLACES_SIDECAR)
    library = _library(tmp_path)
    library.scan([photo.parent])
    record = library.photo_by_path(photo)
    assert record.gps_source == "xmp" and abs(record.gps_lat - 45.75) < 1e-6
    assert sha256_of(photo.with_name("IMG_2.XMP"))


def test_a_sidecar_in_another_encoding_is_refused_untouched(tmp_path) -> None:
    photo = make_raw_like(tmp_path / "photos" / "IMG_1.CR2")
    sidecar = photo.with_name("IMG_1.CR2.xmp")
    latin = PLACES_SIDECAR.replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"').replace(b"Lyon\"", b"L\xe9on\"")
    sidecar.write_bytes(latin)
    results = _write(tmp_path, photo)
    assert not results[0].ok and "UTF-8" in results[0].reason
    assert sidecar.read_bytes() == latin


def test_embedded_xmp_is_edited_in_its_padding(tmp_path) -> None:
    """Like exiftool: the packet keeps its size when its padding allows, so nothing after it moves."""
    from geotagger.geocore.library.jpeg import read_segments
    from geotagger.geocore.library.xmp import JPEG_XMP_HEADER

    def xmp_length(data: bytes) -> int:
        return next(s.length for s in read_segments(data)[0]
                    if data[s.payload_start : s.payload_start + len(JPEG_XMP_HEADER)] == JPEG_XMP_HEADER)

    path = make_jpeg(tmp_path / "photos" / "a.jpg")
    subprocess.run([EXIFTOOL or "exiftool", "-q", "-overwrite_original", "-XMP-exif:GPSLatitude=48.88",
                    "-XMP-exif:GPSLongitude=2.34", "-XMP-photoshop:City=Paris", str(path)], check=True)
    before = xmp_length(path.read_bytes())
    assert [r.ok for r in _write(tmp_path, path, 41.9, 12.5)] == [True]
    assert xmp_length(path.read_bytes()) == before
    library = _library(tmp_path)
    assert library.strip([path]).failed == []
    assert xmp_length(path.read_bytes()) == before and "XMP-photoshop:City" not in exiftool_tags(path)
