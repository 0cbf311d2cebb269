"""Writing GPS into JPEG and TIFF in place: exiftool reads it, nothing else changes, undo restores every byte."""

from __future__ import annotations

import os
import stat
from datetime import datetime
from pathlib import Path

import piexif
import pytest
from PIL import Image

from geotagger.geocore.library.api import Library
from geotagger.geocore.library.errors import ErrorKind
from geotagger.geocore.library.jpeg import image_data_start
from tests.library.exiftool_helpers import (
    exiftool_tags,
    needs_exiftool,
    non_gps_tags,
    sha256_of,
    validate_warnings,
)
from tests.photo_factory import make_jpeg, make_tiff, make_webp

pytestmark = needs_exiftool
WHEN = datetime(2023, 5, 1, 12, 30, 0)
# exiftool knows only GPS|CELLID|WLAN|MANUAL: estimates are MANUAL, told apart by our XMP namespace (issue 15).


def _library(tmp_path: Path, **options) -> Library:
    return Library(tmp_path / "cache" / "lib.sqlite3", **options)


def _place(library: Library, path: Path, lat: float, lon: float, source: str, **kwargs) -> int:
    photo = library.photo_by_path(path)
    decision_id = library.propose(photo.id, lat, lon, kwargs.pop("radius_km", 2.0), source, **kwargs)
    library.accept(decision_id)
    return decision_id


@pytest.mark.parametrize(("source", "method"), [("manual", "MANUAL"), ("gps_track", "GPS"), ("model", "MANUAL")])
@pytest.mark.parametrize("existing_gps", [None, (10.5, 20.25, 5.0)])
def test_jpeg_write_is_exact_and_undoable(tmp_path, source, method, existing_gps) -> None:
    path = make_jpeg(tmp_path / "photos" / "IMG_0001.JPG", gps=existing_gps, datetime_original=WHEN,
                     makernote=b"MKN" + os.urandom(3000), orientation=6)
    original_sha, before_tags, before_warnings = sha256_of(path), exiftool_tags(path), validate_warnings(path)
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    _place(library, path, -33.856784123, 151.215297456, source, altitude_m=12.5, radius_km=0.25)
    report = library.write_batch()
    assert [r.ok for r in report.results] == [True], report.results
    after = exiftool_tags(path)
    assert abs(after["Composite:GPSLatitude"] - -33.856784123) < 1e-6
    assert abs(after["Composite:GPSLongitude"] - 151.215297456) < 1e-6
    assert after["GPS:GPSProcessingMethod"] == method and after["GPS:GPSMapDatum"] == "WGS-84"
    assert after["GPS:GPSVersionID"] == "2 3 0 0" and after["GPS:GPSHPositioningError"] == 250
    assert abs(after["GPS:GPSAltitude"] - 12.5) < 1e-3
    assert non_gps_tags(after) == non_gps_tags(before_tags)
    new_warnings = validate_warnings(path) - before_warnings
    assert new_warnings == set()
    _assert_untouched_except_exif(path, library)
    undo = library.undo(batch_id=report.batch_id)
    assert [r.ok for r in undo.results] == [True]
    assert sha256_of(path) == original_sha


def _assert_untouched_except_exif(path: Path, library: Library) -> None:
    """Image data, MakerNote, thumbnail, ICC and DateTimeOriginal are byte-identical to the original."""
    row = library.journal_rows(path)[0]
    from geotagger.geocore.library.patches import apply_patches, decode_patches, invert_patches

    written = path.read_bytes()
    original = apply_patches(written, invert_patches(decode_patches(row["patches"])))
    assert written[image_data_start(written):] == original[image_data_start(original):]
    before, after = piexif.load(original), piexif.load(written)
    assert after["Exif"] == before["Exif"]
    assert after["thumbnail"] == before["thumbnail"]
    assert after["1st"] == before["1st"]
    assert {k: v for k, v in after["0th"].items() if k != 34853} == {k: v for k, v in before["0th"].items()
                                                                      if k != 34853}
    with Image.open(path) as image:
        assert image.info["icc_profile"]


def test_jpeg_without_exif_gets_valid_exif(tmp_path) -> None:
    path = make_jpeg(tmp_path / "photos" / "plain.jpeg", exif=False, icc=False)
    before = validate_warnings(path)
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    _place(library, path, 51.5, -0.12, "manual")
    assert library.write_batch().failed == []
    tags = exiftool_tags(path)
    assert abs(tags["Composite:GPSLatitude"] - 51.5) < 1e-6 and abs(tags["Composite:GPSLongitude"] + 0.12) < 1e-6
    assert validate_warnings(path) - before == set()


def test_tiff_write_in_place_and_undo(tmp_path) -> None:
    path = make_tiff(tmp_path / "photos" / "scan.TIF", datetime_original=WHEN)
    original_sha, before_tags, before_warnings = sha256_of(path), exiftool_tags(path), validate_warnings(path)
    with Image.open(path) as image:
        pixels = image.tobytes()
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    _place(library, path, 35.6586, 139.7454, "gps_track")
    report = library.write_batch()
    assert report.failed == [] and report.results[0].target == "photo"
    after = exiftool_tags(path)
    assert abs(after["Composite:GPSLatitude"] - 35.6586) < 1e-6
    assert abs(after["Composite:GPSLongitude"] - 139.7454) < 1e-6
    assert non_gps_tags(after) == non_gps_tags(before_tags)
    assert validate_warnings(path) - before_warnings == set()
    with Image.open(path) as image:
        assert image.tobytes() == pixels
    assert library.strip([path]).failed == []
    assert not [k for k in exiftool_tags(path) if "GPS" in k]
    with Image.open(path) as image:
        assert image.tobytes() == pixels
    assert library.undo(paths=[path]).failed == []
    assert sha256_of(path) == original_sha


def test_mtime_and_permissions_are_kept(tmp_path) -> None:
    path = make_jpeg(tmp_path / "photos" / "a.jpg")
    os.chmod(path, 0o640)
    os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_123_456_789))
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    _place(library, path, 1.0, 2.0, "manual")
    assert library.write_batch().failed == []
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o640
    assert info.st_mtime_ns == 1_600_000_000_123_456_789
    assert not list(path.parent.glob(".*"))  # no temp file left


def test_changed_since_scan_is_refused_and_batch_goes_on(tmp_path) -> None:
    first = make_jpeg(tmp_path / "photos" / "a.jpg", color_seed=1)
    second = make_jpeg(tmp_path / "photos" / "b.jpg", color_seed=2)
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    _place(library, first, 1.0, 2.0, "manual")
    _place(library, second, 3.0, 4.0, "manual")
    make_jpeg(first, color_seed=9)  # edited by another program after the scan
    changed_sha = sha256_of(first)
    report = library.write_batch()
    by_name = {r.path.name: r for r in report.results}
    assert by_name["a.jpg"].error_kind is ErrorKind.CHANGED
    assert by_name["b.jpg"].ok
    assert sha256_of(first) == changed_sha


def test_undo_refuses_a_file_edited_after_writing(tmp_path) -> None:
    path = make_jpeg(tmp_path / "photos" / "a.jpg")
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    _place(library, path, 1.0, 2.0, "manual")
    batch = library.write_batch().batch_id
    with open(path, "ab") as handle:
        handle.write(b"edited")
    report = library.undo(batch_id=batch)
    assert report.results[0].error_kind is ErrorKind.CHANGED
    assert path.read_bytes().endswith(b"edited")


def test_dry_run_changes_nothing(tmp_path) -> None:
    path = make_jpeg(tmp_path / "photos" / "a.jpg")
    sha = sha256_of(path)
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    _place(library, path, 1.0, 2.0, "manual")
    report = library.write_batch(dry_run=True)
    assert report.results[0].ok and report.dry_run
    assert sha256_of(path) == sha
    assert library.decisions(state="accepted")


def test_rewrite_then_undo_by_path_restores_the_first_original(tmp_path) -> None:
    path = make_jpeg(tmp_path / "photos" / "a.jpg", gps=(5.0, 6.0))
    sha = sha256_of(path)
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    _place(library, path, 1.0, 2.0, "manual")
    library.write_batch()
    _place(library, path, -7.0, -8.0, "gps_track")
    library.write_batch()
    tags = exiftool_tags(path)
    assert abs(tags["Composite:GPSLatitude"] + 7.0) < 1e-6
    assert b"\x00\x00\x00\x05\x00\x00\x00\x01" not in path.read_bytes()[:65536]  # the old 5 deg is blanked
    assert library.undo(paths=[path]).failed == []
    assert sha256_of(path) == sha


def test_backup_originals_option(tmp_path) -> None:
    path = make_jpeg(tmp_path / "photos" / "a.jpg")
    original = path.read_bytes()
    library = _library(tmp_path, backup_originals=True)
    library.scan([tmp_path / "photos"])
    _place(library, path, 1.0, 2.0, "manual")
    assert library.write_batch().failed == []
    assert (tmp_path / "photos" / "a.jpg_original").read_bytes() == original


def test_place_names_go_into_embedded_xmp_and_stale_xmp_gps_follows(tmp_path) -> None:
    import subprocess

    from tests.library.exiftool_helpers import EXIFTOOL

    named = make_jpeg(tmp_path / "photos" / "named.jpg", color_seed=1)
    stale = make_jpeg(tmp_path / "photos" / "stale.jpg", color_seed=2)
    subprocess.run([EXIFTOOL or "exiftool", "-q", "-overwrite_original", "-XMP-exif:GPSLatitude=10",
                    "-XMP-exif:GPSLongitude=10", "-XMP-dc:Title=Keep me", str(stale)], check=True)
    shas = {path: sha256_of(path) for path in (named, stale)}
    warnings = {path: validate_warnings(path) for path in (named, stale)}
    library = _library(tmp_path, place_names=True)
    library.scan([tmp_path / "photos"])
    _place(library, named, 41.9028, 12.4964, "manual")
    _place(library, stale, 41.9028, 12.4964, "manual")
    report = library.write_batch()
    assert report.failed == []
    for path in (named, stale):
        tags = exiftool_tags(path)
        assert abs(tags["Composite:GPSLatitude"] - 41.9028) < 1e-6
        assert abs(tags["XMP-exif:GPSLatitude"] - 41.9028) < 1e-6
        assert abs(tags["XMP-exif:GPSLongitude"] - 12.4964) < 1e-6
        assert tags["XMP-photoshop:City"] == "Rome" and tags["XMP-iptcCore:CountryCode"] == "IT"
        assert validate_warnings(path) - warnings[path] == set()
    assert exiftool_tags(stale)["XMP-dc:Title"] == "Keep me"
    assert library.undo(batch_id=report.batch_id).failed == []
    assert {path: sha256_of(path) for path in (named, stale)} == shas


def test_touch_changes_mtime_and_undo_puts_it_back(tmp_path) -> None:
    path = make_jpeg(tmp_path / "photos" / "a.jpg")
    os.utime(path, ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))
    library = _library(tmp_path, keep_mtime=False)
    library.scan([tmp_path / "photos"])
    _place(library, path, 1.0, 2.0, "manual")
    assert library.write_batch().failed == []
    assert path.stat().st_mtime_ns != 1_500_000_000_000_000_000
    assert library.undo(paths=[path]).failed == []
    assert path.stat().st_mtime_ns == 1_500_000_000_000_000_000


def test_two_decisions_for_one_file_in_one_batch(tmp_path) -> None:
    path = make_jpeg(tmp_path / "photos" / "a.jpg")
    sha = sha256_of(path)
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    photo_id = library.photo_by_path(path).id
    first = library.propose(photo_id, 1.0, 2.0, 1.0, "model")
    second = library.propose(photo_id, 3.0, 4.0, 1.0, "gps_track")
    report = library.write_batch([first, second])
    outcome = {r.decision_id: r for r in report.results}
    assert outcome[second].ok and outcome[first].error_kind is ErrorKind.NOTHING_TO_DO
    assert abs(exiftool_tags(path)["Composite:GPSLatitude"] - 3.0) < 1e-6
    assert library.undo(paths=[path]).failed == [] and sha256_of(path) == sha


def test_webp_with_exif_chunk_is_written_in_place_and_stripped(tmp_path) -> None:
    path = make_webp(tmp_path / "photos" / "w.webp", gps=(5.0, 6.0), datetime_original=WHEN)
    sha, before_tags, before_warnings = sha256_of(path), exiftool_tags(path), validate_warnings(path)
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    _place(library, path, -12.345678, 98.7654321, "manual")
    report = library.write_batch()
    assert report.failed == [] and report.results[0].target == "photo"
    after = exiftool_tags(path)
    assert abs(after["Composite:GPSLatitude"] + 12.345678) < 1e-6
    assert abs(after["Composite:GPSLongitude"] - 98.7654321) < 1e-6
    assert non_gps_tags(after) == non_gps_tags(before_tags)
    assert validate_warnings(path) - before_warnings == set()
    assert library.strip([path]).failed == []
    assert not [k for k in exiftool_tags(path) if "GPS" in k]
    assert library.undo(paths=[path]).failed == []
    assert sha256_of(path) == sha


def test_disk_full_is_typed_leaves_no_temp_and_batch_goes_on(tmp_path, monkeypatch) -> None:
    import errno

    from geotagger.geocore.library import writer

    full = make_jpeg(tmp_path / "photos" / "full.jpg", color_seed=1)
    fine = make_jpeg(tmp_path / "photos" / "fine.jpg", color_seed=2)
    sha = sha256_of(full)
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    _place(library, full, 1.0, 2.0, "manual")
    _place(library, fine, 3.0, 4.0, "manual")
    real_open = os.open

    def open_temp(path, flags, mode=0o777):
        if str(path).endswith(".full.jpg" + writer.TEMP_SUFFIX):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, flags, mode)

    monkeypatch.setattr(writer.os, "open", open_temp)
    report = library.write_batch()
    monkeypatch.undo()
    outcome = {r.path.name: r for r in report.results}
    assert outcome["full.jpg"].error_kind is ErrorKind.DISK_FULL and outcome["fine.jpg"].ok
    assert sha256_of(full) == sha and not list((tmp_path / "photos").glob(".*"))
    states = {Path(row["path"]).name: row["state"] for row in library.journal_rows()}
    assert states == {"full.jpg": "abandoned", "fine.jpg": "done"}


def test_full_exif_block_is_refused_cleanly(tmp_path) -> None:
    path = make_jpeg(tmp_path / "photos" / "big.jpg", makernote=b"M" * 65_200, thumbnail=False)  # APP1 of 65,484 bytes
    sha = sha256_of(path)
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    _place(library, path, 1.0, 2.0, "manual")
    (result,) = library.write_batch().results
    assert result.error_kind is ErrorKind.UNSUPPORTED and "sidecar" in result.reason
    assert sha256_of(path) == sha
    assert library.write_batch(sidecar_only=True).failed == []
    assert (tmp_path / "photos" / "big.jpg.xmp").exists()


def test_bad_read_back_is_caught_before_the_rename(tmp_path, monkeypatch) -> None:
    from geotagger.geocore.library import writer

    path = make_jpeg(tmp_path / "photos" / "a.jpg")
    sha = sha256_of(path)
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    _place(library, path, 1.0, 2.0, "manual")
    real_write_temp = writer.write_temp

    def flaky_disk(target, pieces, mode, times, owner=None):
        data = bytearray(b"".join(pieces))
        data[-100] ^= 0xFF  # one flipped bit in the image data on its way to the disk
        return real_write_temp(target, bytes(data), mode, times, owner)

    monkeypatch.setattr(writer, "write_temp", flaky_disk)
    (result,) = library.write_batch().results
    assert result.error_kind is ErrorKind.VERIFY_FAILED
    assert sha256_of(path) == sha and not list(path.parent.glob(".*"))
    assert [row["state"] for row in library.journal_rows(path)] == ["abandoned"]


def test_symlinked_photo_writes_the_real_file(tmp_path) -> None:
    real = make_jpeg(tmp_path / "store" / "real.jpg")
    (tmp_path / "photos").mkdir()
    link = tmp_path / "photos" / "link.jpg"
    link.symlink_to(real)
    sha = sha256_of(real)
    library = _library(tmp_path)
    library.scan([tmp_path / "photos"])
    _place(library, link, 1.0, 2.0, "manual")
    assert library.write_batch().failed == []
    assert link.is_symlink() and abs(exiftool_tags(real)["Composite:GPSLatitude"] - 1.0) < 1e-6
    assert library.undo(paths=[link]).failed == [] and sha256_of(real) == sha and link.is_symlink()


def test_a_failing_stat_after_the_rename_keeps_the_write_undoable(tmp_path, monkeypatch) -> None:
    path = make_jpeg(tmp_path / "photos" / "a.jpg")
    original = path.read_bytes()
    library = Library(tmp_path / "lib.sqlite3")
    library.scan([tmp_path / "photos"])
    library.set_manual(library.photo_by_path(path).id, 1.0, 2.0)
    real_replace, real_stat, replaced = os.replace, os.stat, []

    def replace(source, target, *args, **kwargs):
        real_replace(source, target, *args, **kwargs)
        replaced.append(str(target))

    def stat(target, *args, **kwargs):  # e.g. a network share dropping out just after the rename
        if str(target) in replaced:
            raise OSError(5, "Input/output error")
        return real_stat(target, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "stat", stat)
    assert library.write_batch().results[0].ok
    monkeypatch.undo()
    assert [row["state"] for row in library.journal_rows(path)] == ["done"]
    assert library.undo(paths=[path]).results[0].ok and path.read_bytes() == original
