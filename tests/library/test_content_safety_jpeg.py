"""JPEG edge cases of issue 11: huge images are metadata-edited without decoding, Pillow's EXIF warnings land in
the per-file report (not on stderr), and a truncated JPEG is flagged at scan and never written."""

from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path

import piexif
import pytest

from geotagger.geocore.library.api import Library
from geotagger.geocore.library.errors import CorruptMetadata, ErrorKind
from geotagger.geocore.library.gps import GpsFix
from geotagger.geocore.library.jpeg import image_data_start, read_segments, set_gps_jpeg
from tests.library.exiftool_helpers import exiftool_tags, needs_exiftool, non_gps_tags, sha256_of
from tests.photo_factory import build_exif, make_jpeg, make_pixels

pytestmark = needs_exiftool


def _library(tmp_path: Path) -> Library:
    return Library(tmp_path / "cache" / "lib.sqlite3")


def _accept(library: Library, path: Path, lat: float = 35.0, lon: float = 139.0) -> None:
    library.accept(library.propose(library.photo_by_path(path).id, lat, lon, 1.0, "manual"))


def _claim_size(data: bytes, width: int, height: int) -> bytes:
    """The JPEG with its SOF0 saying width x height (the compressed data stays the small image's)."""
    segments, _sos = read_segments(data)
    at = next(segment.offset for segment in segments if segment.marker == 0xC0)  # not the thumbnail's SOF
    return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]


def test_a_200_megapixel_jpeg_can_be_written_and_stripped(tmp_path) -> None:
    small = make_jpeg(tmp_path / "small.jpg", (64, 48))
    path = tmp_path / "photos" / "huge.jpg"
    path.parent.mkdir()
    path.write_bytes(_claim_size(small.read_bytes(), 20000, 10000))
    before = exiftool_tags(path)
    assert before["File:ImageWidth"] == 20000
    library = _library(tmp_path)
    library.scan([path.parent])
    record = library.photo_by_path(path)
    assert record.error_kind is None, record.error
    assert (record.width, record.height) == (20000, 10000)
    _accept(library, path)
    report = library.write_batch()
    assert report.failed == [], report.results
    assert abs(exiftool_tags(path)["Composite:GPSLatitude"] - 35.0) < 1e-6
    assert non_gps_tags(exiftool_tags(path)) == non_gps_tags(before)
    assert library.strip([path]).failed == []
    assert not [k for k in exiftool_tags(path) if k.startswith("GPS:")]


def _jpeg_with_corrupt_exif(path: Path) -> Path:
    """A JPEG whose Exif IFD pointer aims at an IFD of 5 entries cut after its count (Pillow: 'Corrupt EXIF data')."""
    raw = build_exif((64, 48), thumbnail=False, makernote=None)
    tiff = bytearray(raw[6:]) + b"\x00\x05\x00\x00"
    ifd0 = struct.unpack_from(">I", tiff, 4)[0]
    for index in range(struct.unpack_from(">H", tiff, ifd0)[0]):
        at = ifd0 + 2 + 12 * index
        if struct.unpack_from(">H", tiff, at)[0] == 0x8769:
            struct.pack_into(">I", tiff, at + 8, len(tiff) - 4)
    buffer = io.BytesIO()
    make_pixels((64, 48)).save(buffer, "JPEG", quality=85, exif=raw[:6] + bytes(tiff))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


def test_pillow_exif_warnings_go_into_the_report_not_stderr(tmp_path, capfd) -> None:
    path = _jpeg_with_corrupt_exif(tmp_path / "photos" / "corrupt.jpg")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        library = _library(tmp_path)
        library.scan([path.parent])
        record = library.photo_by_path(path)
        _accept(library, path)
        report = library.write_batch()
    assert [str(w.message) for w in caught if "EXIF" in str(w.message)] == []
    assert "EXIF" not in capfd.readouterr().err
    assert record.error_kind is None and record.error and "Corrupt EXIF" in record.error
    assert len(report.results) == 1 and (report.results[0].ok or report.results[0].reason)


def _truncated(tmp_path: Path, keep_fraction: float) -> tuple[Path, bytes]:
    path = make_jpeg(tmp_path / "photos" / "cut.jpg", (320, 240))
    data = path.read_bytes()
    sos = image_data_start(data)
    cut = data[: sos + int((len(data) - sos) * keep_fraction)]
    path.write_bytes(cut)
    return path, cut


@pytest.mark.parametrize("keep_fraction", [0.5, 0.999])
def test_a_truncated_jpeg_is_flagged_at_scan_and_not_written(tmp_path, keep_fraction) -> None:
    path, cut = _truncated(tmp_path, keep_fraction)
    library = _library(tmp_path)
    library.scan([path.parent])
    record = library.photo_by_path(path)
    assert record.error_kind == ErrorKind.CORRUPT.value and "truncated" in (record.error or "")
    _accept(library, path)
    report = library.write_batch()
    assert [r.ok for r in report.results] == [False]
    assert "truncated" in report.results[0].reason
    assert path.read_bytes() == cut


def test_set_gps_refuses_truncated_jpeg_bytes(tmp_path) -> None:
    _path, cut = _truncated(tmp_path, 0.5)
    with pytest.raises(CorruptMetadata, match="truncated"):
        set_gps_jpeg(cut, GpsFix(1.0, 2.0))


def test_a_jpeg_with_trailing_data_after_eoi_is_not_truncated(tmp_path) -> None:
    path = make_jpeg(tmp_path / "photos" / "trailer.jpg")
    path.write_bytes(path.read_bytes() + b"SAMSUNG-TRAILER" * 10)
    sha = sha256_of(path)
    library = _library(tmp_path)
    library.scan([path.parent])
    assert library.photo_by_path(path).error_kind is None
    _accept(library, path)
    assert library.write_batch().failed == []
    assert sha256_of(path) != sha and piexif.load(str(path))["GPS"]


def test_exif_after_an_mpf_index_is_not_grown(tmp_path) -> None:
    """MPF offsets count from the MPF header: growing EXIF behind it would aim them into the wrong bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(buffer, "MPO", save_all=True, append_images=[Image.new("RGB", (64, 48))])
    mpo = buffer.getvalue()
    mpf_at = mpo.index(b"\xff\xe2")
    mpf_end = mpf_at + 2 + struct.unpack_from(">H", mpo, mpf_at + 2)[0]
    exif = build_exif((64, 48), thumbnail=False)
    app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    path = tmp_path / "photos" / "mpf_first.jpg"
    path.parent.mkdir()
    path.write_bytes(mpo[:mpf_end] + app1 + mpo[mpf_end:])
    sha = sha256_of(path)
    library = _library(tmp_path)
    library.scan([path.parent])
    _accept(library, path)
    results = library.write_batch().results
    assert [r.ok for r in results] == [False] and "MPF" in results[0].reason
    assert sha256_of(path) == sha
