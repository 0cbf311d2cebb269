"""Beyond the photo factory: the shipped sample photos and little-endian EXIF as Pillow and cameras write it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from geotagger.geocore.library.api import Library
from tests.library.exiftool_helpers import exiftool_tags, needs_exiftool, non_gps_tags, sha256_of, validate_warnings
from tests.photo_factory import make_pixels

pytestmark = needs_exiftool
SAMPLES = sorted(p for p in (Path(__file__).resolve().parents[2] / "resources" / "samples").glob("*")
                 if p.suffix.lower() in (".jpg", ".jpeg"))


def _write_and_check(tmp_path: Path, path: Path, lat: float, lon: float) -> None:
    sha, tags, warnings = sha256_of(path), exiftool_tags(path), validate_warnings(path)
    library = Library(tmp_path / "lib.sqlite3")
    library.scan([path.parent])
    library.set_manual(library.photo_by_path(path).id, lat, lon, radius_km=0.01)
    report = library.write_batch()
    assert report.failed == [], report.failed
    after = exiftool_tags(path)
    assert abs(after["Composite:GPSLatitude"] - lat) < 1e-6 and abs(after["Composite:GPSLongitude"] - lon) < 1e-6
    assert non_gps_tags(after) == non_gps_tags(tags)
    assert validate_warnings(path) - warnings == set()
    assert library.undo(batch_id=report.batch_id).failed == []
    assert sha256_of(path) == sha


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_shipped_sample_photos(tmp_path, sample) -> None:
    path = tmp_path / "photos" / sample.name
    path.parent.mkdir()
    shutil.copyfile(sample, path)
    _write_and_check(tmp_path, path, -54.801912, -68.302951)


def test_little_endian_exif_from_pillow(tmp_path) -> None:
    path = tmp_path / "photos" / "le.jpg"
    path.parent.mkdir()
    exif = Image.Exif()
    exif.endian = "<"  # Intel byte order, as most cameras write it
    exif[0x010F], exif[0x0110], exif[0x0112] = "FUJIFILM", "X-T3", 1
    exif.get_ifd(0x8769)[0x9003] = "2021:08:01 07:30:00"
    exif.get_ifd(0x8769)[0x927C] = b"FUJIFILM\x0c\x00\x00\x00" + bytes(200)  # MakerNote-like
    make_pixels((300, 200), 5).save(path, "JPEG", exif=exif.tobytes(), quality=85)
    data = path.read_bytes()
    tiff_at = data.index(b"Exif\x00\x00") + 6
    assert data[tiff_at : tiff_at + 2] == b"II"
    _write_and_check(tmp_path, path, 64.1466, -21.9426)
