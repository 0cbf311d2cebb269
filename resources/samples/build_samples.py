"""Rebuild the sample JPEGs from the scikit-image wheel's skimage/data (run once; the JPEGs are committed).

Usage: python resources/samples/build_samples.py /path/to/extracted/skimage/data
Only facts documented by scikit-image are written into EXIF (see LICENSES.md); nothing is invented.
"""

from __future__ import annotations

import sys
from pathlib import Path

import piexif
from PIL import Image

HERE = Path(__file__).resolve().parent

# name -> (source file, description, artist, datetime_original or None, gps (lat, lon) or None)
SAMPLES = {
    "rocket_dscovr_launch.jpg": (
        "rocket.jpg", "Falcon 9 carrying DSCOVR lifting off, SLC-40, Cape Canaveral", "SpaceX (public domain)",
        "2015:02:11 18:03:42", (28.56194, -80.57722)),
    "chelsea_the_cat.jpg": ("chelsea.png", "Chelsea the cat", "Stefan van der Walt (CC0)", None, None),
    "coffee_cup.jpg": ("coffee.png", "Coffee cup, courtesy of Pikolo Espresso Bar", "Rachel Michetti (CC0)", None, None),
    "astronaut_eileen_collins.jpg": (
        "astronaut.png", "Astronaut Eileen Collins, NASA Great Images", "NASA (public domain)", None, None),
}


def _rational(value: float) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60 * 1000)
    return ((degrees, 1), (minutes, 1), (seconds, 1000))


def build(data_dir: Path) -> None:
    for out_name, (src, description, artist, when, gps) in SAMPLES.items():
        zeroth = {piexif.ImageIFD.ImageDescription: description.encode(), piexif.ImageIFD.Artist: artist.encode()}
        exif: dict = {"0th": zeroth, "Exif": {}, "GPS": {}}
        if when:
            exif["Exif"][piexif.ExifIFD.DateTimeOriginal] = when.encode()
            exif["Exif"][piexif.ExifIFD.OffsetTimeOriginal] = b"-05:00"
        if gps:
            lat, lon = gps
            exif["GPS"] = {
                piexif.GPSIFD.GPSLatitudeRef: b"N" if lat >= 0 else b"S", piexif.GPSIFD.GPSLatitude: _rational(abs(lat)),
                piexif.GPSIFD.GPSLongitudeRef: b"E" if lon >= 0 else b"W",
                piexif.GPSIFD.GPSLongitude: _rational(abs(lon)),
            }
        image = Image.open(data_dir / src).convert("RGB")
        image.save(HERE / out_name, "JPEG", quality=88, exif=piexif.dump(exif))
        print(out_name, image.size)


if __name__ == "__main__":
    build(Path(sys.argv[1]))
