"""The photo factory makes real, readable photos whose EXIF and pixels are what was asked for."""

from __future__ import annotations

from datetime import datetime

import piexif
import pytest
from PIL import Image

from tests.photo_factory import make_heic, make_jpeg, make_png, make_raw_like, make_tiff, make_webp


def test_jpeg_carries_gps_time_makernote_thumbnail_icc(tmp_path) -> None:
    path = make_jpeg(tmp_path / "a.jpg", gps=(-33.5, 151.25, 12.0), datetime_original=datetime(2021, 1, 2, 3, 4, 5))
    with Image.open(path) as image:
        assert image.size == (640, 480)
        assert image.info.get("icc_profile")
        exif = piexif.load(image.info["exif"])
    assert exif["Exif"][piexif.ExifIFD.DateTimeOriginal] == b"2021:01:02 03:04:05"
    assert exif["Exif"][piexif.ExifIFD.OffsetTimeOriginal] == b"+02:00"
    assert exif["Exif"][piexif.ExifIFD.MakerNote].startswith(b"FAKEMAKERNOTE")
    assert exif["GPS"][piexif.GPSIFD.GPSLatitudeRef] == b"S"
    assert exif["thumbnail"][:2] == b"\xff\xd8"


def test_seeds_give_different_bytes(tmp_path) -> None:
    first = make_jpeg(tmp_path / "a.jpg", color_seed=1).read_bytes()
    second = make_jpeg(tmp_path / "b.jpg", color_seed=2).read_bytes()
    assert first != second


@pytest.mark.parametrize("maker", [make_tiff, make_png, make_webp, make_heic, make_raw_like])
def test_other_formats_open_with_exif(tmp_path, maker) -> None:
    suffix = {make_tiff: ".tif", make_png: ".png", make_webp: ".webp", make_heic: ".heic", make_raw_like: ".CR2"}
    path = maker(tmp_path / f"x{suffix[maker]}", datetime_original=datetime(2020, 6, 1, 8, 0, 0))
    if maker is make_heic:
        import pillow_heif

        pillow_heif.register_heif_opener()
    with Image.open(path) as image:
        assert image.size[0] > 0
        assert image.getexif().get_ifd(0x8769).get(0x9003) == "2020:06:01 08:00:00"
