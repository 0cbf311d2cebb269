"""What we write about a position: validator-accepted EXIF, our provenance namespace, GPS time, place names.

`written_estimate` recognises our estimates by the provenance namespace and, for files of earlier versions, by
GPSProcessingMethod ESTIMATED; exiftool -validate accepts what we write; track positions carry the fix time in
UTC so `exiftool -geosync` works on our files; IPTC-IIM place names follow the new place.
"""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone
from pathlib import Path

import piexif
import pytest

from geotagger.geocore.library import places
from geotagger.geocore.library.api import Library
from geotagger.geocore.library.decisions import Proposal
from geotagger.geocore.library.metadata import EstimateMarks, written_estimate
from geotagger.geocore.library.xmp import Place
from geotagger.geocore.vocabulary import SOURCE_TABLE, Source
from tests.library.exiftool_helpers import EXIFTOOL, exiftool_tags, needs_exiftool, validate_warnings
from tests.library.hostile_corpus import iptc_app13, with_segments
from tests.photo_factory import make_jpeg, make_raw_like

pytestmark = needs_exiftool
WHEN = datetime(2023, 5, 1, 12, 30, 0)
VALID_METHODS = {"GPS", "CELLID", "WLAN", "MANUAL"}


def _library(tmp_path: Path, **options) -> Library:
    return Library(tmp_path / "cache" / "lib.sqlite3", **options)


def _write(library: Library, path: Path, source: str, **proposal) -> None:
    library.scan([path.parent])
    photo = library.photo_by_path(path)
    [decision_id] = library.propose_many([Proposal(photo.id, 41.1456, -8.611, proposal.pop("radius_km", None),
                                                   source, state="accepted", **proposal)])
    report = library.write_batch([decision_id])
    assert all(r.ok for r in report.results), report.results


def test_every_source_writes_a_method_the_validator_accepts() -> None:
    assert {info.processing_method for info in SOURCE_TABLE.values()} <= VALID_METHODS
    assert SOURCE_TABLE[Source.GPS_TRACK].processing_method == "GPS"
    assert all(info.default_radius_km > 0 for info in SOURCE_TABLE.values())


@pytest.mark.parametrize("source", [s.value for s in Source])
def test_estimates_are_told_apart_by_our_namespace(tmp_path, source) -> None:
    path = make_jpeg(tmp_path / "photos" / "a.jpg", size=(32, 24), datetime_original=WHEN)
    before = validate_warnings(path)
    with _library(tmp_path) as library:
        _write(library, path, source)  # no radius: the source's default is written
    tags = exiftool_tags(path)
    assert tags["GPS:GPSProcessingMethod"] in VALID_METHODS
    assert tags["GPS:GPSHPositioningError"] == pytest.approx(SOURCE_TABLE[Source(source)].default_radius_km * 1000)
    assert tags["XMP-geotagger:Source"] == source
    assert validate_warnings(path) - before == set()
    assert written_estimate(path) is Source(source).is_estimate


def test_files_of_earlier_versions_are_estimates_by_their_method(tmp_path) -> None:
    path = make_jpeg(tmp_path / "old.jpg", size=(32, 24), gps=(41.1, -8.6, 10.0))
    exif = piexif.load(str(path))
    exif["GPS"][piexif.GPSIFD.GPSProcessingMethod] = b"ASCII\x00\x00\x00ESTIMATED"
    piexif.insert(piexif.dump(exif), str(path))
    assert written_estimate(path)
    assert not written_estimate(make_jpeg(tmp_path / "camera.jpg", size=(32, 24), gps=(41.1, -8.6, 10.0)))
    assert written_estimate(EstimateMarks((), ("estimated",)))
    assert not written_estimate(EstimateMarks((False,), ("ESTIMATED",)))  # our namespace decides when present


def test_sidecar_provenance_marks_a_raw_file(tmp_path) -> None:
    raw = make_raw_like(tmp_path / "photos" / "a.CR2")
    with _library(tmp_path) as library:
        _write(library, raw, "personal_model", radius_km=3.0)
    assert raw.with_name("a.CR2.xmp").exists()
    assert written_estimate(raw)


def test_track_positions_carry_the_fix_time_and_pass_geosync(tmp_path) -> None:
    photos = tmp_path / "photos"
    ours = make_jpeg(photos / "ours.jpg", size=(32, 24), datetime_original=WHEN, offset="+01:00")
    fix = datetime(2023, 5, 1, 11, 30, 0, tzinfo=timezone.utc)  # the same instant as 12:30 at +01:00
    with _library(tmp_path) as library:
        _write(library, ours, "gps_track", fix_utc_s=fix.timestamp(), radius_km=0.01)
    tags = exiftool_tags(ours)
    assert tags["GPS:GPSDateStamp"] == "2023:05:01" and tags["GPS:GPSTimeStamp"] == "11:30:00"
    assert tags["Composite:GPSDateTime"].startswith("2023:05:01 11:30:00")
    track = tmp_path / "track.gpx"
    track.write_text('<?xml version="1.0"?><gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">'
                     '<trk><trkseg><trkpt lat="41.1" lon="-8.6"><time>2023-05-01T11:00:00Z</time></trkpt>'
                     '<trkpt lat="41.2" lon="-8.7"><time>2023-05-01T12:00:00Z</time></trkpt></trkseg></trk></gpx>')
    other = make_jpeg(photos / "other.jpg", size=(32, 24), datetime_original=WHEN)
    result = subprocess.run([EXIFTOOL or "exiftool", f"-geosync={ours}", "-geotag", str(track),
                             "-overwrite_original", str(other)], capture_output=True, text=True, check=False)
    assert "No GPSTimeStamp" not in result.stderr + result.stdout
    assert result.returncode == 0 and "1 image files updated" in result.stdout, result.stdout + result.stderr


def test_iim_place_names_follow_the_new_place(tmp_path, monkeypatch) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    path = photos / "iim.jpg"
    path.write_bytes(with_segments(make_jpeg(tmp_path / "src.jpg", size=(32, 24)).read_bytes(), iptc_app13("Paris")))
    assert exiftool_tags(path)["IPTC:City"] == "Paris"
    monkeypatch.setattr(places, "place_names",
                        lambda coordinates: [Place("Porto", "Porto", "Portugal", "PT") for _ in coordinates])
    with _library(tmp_path, place_names=True) as library:
        _write(library, path, "manual")
    tags = exiftool_tags(path)
    assert tags["IPTC:City"] == "Porto" and tags["IPTC:Country-PrimaryLocationName"] == "Portugal"
    assert tags["IPTC:Country-PrimaryLocationCode"] == "PRT" and tags["XMP-photoshop:City"] == "Porto"
    assert "IPTC:Sub-location" not in tags


def test_a_known_sublocation_is_written_where_readers_look(tmp_path, monkeypatch) -> None:
    """IPTC Extension LocationCreated/Sublocation, the legacy Iptc4xmpCore:Location and IIM 2:92, all one name."""
    photos = tmp_path / "photos"
    photos.mkdir()
    path = photos / "deutz.jpg"
    path.write_bytes(with_segments(make_jpeg(tmp_path / "src.jpg", size=(32, 24)).read_bytes(), iptc_app13("Paris")))
    monkeypatch.setattr(places, "place_names", lambda coordinates: [
        Place("Köln", "North Rhine-Westphalia", "Germany", "DE", sublocation="Deutz") for _ in coordinates])
    with _library(tmp_path, place_names=True) as library:
        _write(library, path, "manual")
    tags = exiftool_tags(path)
    assert tags["IPTC:City"] == "Köln" and tags["IPTC:Sub-location"] == "Deutz"
    assert tags["XMP-iptcCore:Location"] == "Deutz" and tags["XMP-iptcExt:LocationCreatedSublocation"] == "Deutz"
    assert tags["XMP-iptcExt:LocationCreatedCity"] == "Köln"


def test_both_sidecar_names_are_updated(tmp_path) -> None:
    raw = make_raw_like(tmp_path / "photos" / "b.NEF")
    darktable, lightroom = raw.with_name("b.NEF.xmp"), raw.with_name("b.XMP")
    for sidecar in (darktable, lightroom):
        sidecar.write_bytes(b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf='
                            b'"http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""/>'
                            b"</rdf:RDF></x:xmpmeta>")
    with _library(tmp_path) as library:
        _write(library, raw, "manual", radius_km=0.02)
    for sidecar in (darktable, lightroom):
        assert exiftool_tags(sidecar)["XMP-exif:GPSLatitude"] == pytest.approx(41.1456, abs=1e-6)
