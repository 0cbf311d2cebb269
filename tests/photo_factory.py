"""Generate real photos with real EXIF for tests: JPEG, TIFF, PNG, WebP, HEIC and a fake camera RAW.

Every image has structure (gradients plus seeded noise), so the compressed bytes differ between `color_seed`s.
EXIF is built with piexif and carries what real cameras write: make/model, orientation, capture time with its
offset, optionally GPS, a MakerNote-like blob, a JPEG thumbnail in IFD1 and an ICC profile.

    from tests.photo_factory import make_jpeg
    path = make_jpeg(tmp_path / "a.jpg", gps=(48.8584, 2.2945, 35.0), datetime_original=datetime(2023, 5, 1, 12))
"""

from __future__ import annotations

import io
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import numpy as np
import piexif
from PIL import Image, ImageCms

GpsTuple = tuple[float, float] | tuple[float, float, float]

DEFAULT_MAKERNOTE = b"FAKEMAKERNOTE\x00\x01\x02\x03" + bytes(range(256)) * 2


def make_pixels(size: tuple[int, int] = (640, 480), color_seed: int = 0) -> Image.Image:
    """An RGB image with gradients and seeded noise (deterministic per seed)."""
    width, height = size
    rng = np.random.default_rng(color_seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(0, 255, size=3).astype(np.float32)
    red = (base[0] + 255 * xx / max(width - 1, 1)) % 256
    green = (base[1] + 255 * yy / max(height - 1, 1)) % 256
    blue = (base[2] + 128 * np.sin((xx + yy) / (7.0 + color_seed % 5))) % 256
    pixels = np.stack([red, green, blue], axis=-1)
    pixels += rng.normal(0, 12, size=pixels.shape).astype(np.float32)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def srgb_icc() -> bytes:
    """A small sRGB ICC profile (as cameras and editors embed)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _rational(value: float, denominator: int = 1_000_000) -> tuple[int, int]:
    fraction = Fraction(value).limit_denominator(denominator)
    return fraction.numerator, fraction.denominator


def _dms(value_deg: float) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    value_deg = abs(value_deg)
    degrees = int(value_deg)
    minutes_float = (value_deg - degrees) * 60
    minutes = int(minutes_float)
    seconds = (minutes_float - minutes) * 60
    return (degrees, 1), (minutes, 1), (round(seconds * 100_000), 100_000)


def gps_ifd(gps: GpsTuple) -> dict[int, object]:
    """A piexif GPS IFD for (lat, lon[, alt_m]) as a camera with a GPS receiver writes it."""
    lat, lon = gps[0], gps[1]
    ifd: dict[int, object] = {
        piexif.GPSIFD.GPSVersionID: (2, 3, 0, 0),
        piexif.GPSIFD.GPSLatitudeRef: b"N" if lat >= 0 else b"S",
        piexif.GPSIFD.GPSLatitude: _dms(lat),
        piexif.GPSIFD.GPSLongitudeRef: b"E" if lon >= 0 else b"W",
        piexif.GPSIFD.GPSLongitude: _dms(lon),
        piexif.GPSIFD.GPSMapDatum: b"WGS-84",
    }
    if len(gps) > 2:
        alt_m = float(gps[2])  # type: ignore[misc]
        ifd[piexif.GPSIFD.GPSAltitudeRef] = 0 if alt_m >= 0 else 1
        ifd[piexif.GPSIFD.GPSAltitude] = _rational(abs(alt_m), 1000)
    return ifd


def build_exif(
    size: tuple[int, int],
    *,
    gps: GpsTuple | None = None,
    datetime_original: datetime | None = None,
    offset: str | None = "+02:00",
    make: str | None = "Canon",
    model: str | None = "EOS",
    orientation: int = 1,
    makernote: bytes | None = DEFAULT_MAKERNOTE,
    thumbnail: bool = True,
    color_seed: int = 0,
) -> bytes:
    """EXIF bytes (starting 'Exif\\0\\0') with the usual camera tags."""
    zeroth: dict[int, object] = {
        piexif.ImageIFD.Orientation: orientation,
        piexif.ImageIFD.XResolution: (72, 1),
        piexif.ImageIFD.YResolution: (72, 1),
        piexif.ImageIFD.ResolutionUnit: 2,
        piexif.ImageIFD.Software: b"photo_factory 1.0",
    }
    if make is not None:
        zeroth[piexif.ImageIFD.Make] = make.encode()
    if model is not None:
        zeroth[piexif.ImageIFD.Model] = model.encode()
    exif_ifd: dict[int, object] = {
        piexif.ExifIFD.ExifVersion: b"0232",
        piexif.ExifIFD.PixelXDimension: size[0],
        piexif.ExifIFD.PixelYDimension: size[1],
        piexif.ExifIFD.ExposureTime: (1, 250),
        piexif.ExifIFD.FNumber: (28, 10),
        piexif.ExifIFD.ISOSpeedRatings: 200,
        piexif.ExifIFD.ColorSpace: 1,
        piexif.ExifIFD.ComponentsConfiguration: b"\x01\x02\x03\x00",
    }
    if datetime_original is not None:
        stamp = datetime_original.strftime("%Y:%m:%d %H:%M:%S").encode()
        zeroth[piexif.ImageIFD.DateTime] = stamp
        exif_ifd[piexif.ExifIFD.DateTimeOriginal] = stamp
        exif_ifd[piexif.ExifIFD.DateTimeDigitized] = stamp
        if offset is not None:
            exif_ifd[piexif.ExifIFD.OffsetTimeOriginal] = offset.encode()
            exif_ifd[piexif.ExifIFD.OffsetTime] = offset.encode()
    if makernote is not None:
        exif_ifd[piexif.ExifIFD.MakerNote] = makernote
    exif_dict: dict[str, object] = {"0th": zeroth, "Exif": exif_ifd, "GPS": gps_ifd(gps) if gps else {}}
    if thumbnail:
        exif_dict.update(_thumbnail_ifd(color_seed))
    return piexif.dump(exif_dict)


def _thumbnail_ifd(color_seed: int) -> dict[str, object]:
    """IFD1 with an embedded 160x120 JPEG thumbnail, as cameras write it."""
    buffer = io.BytesIO()
    make_pixels((160, 120), color_seed).save(buffer, "JPEG", quality=75)
    first = {
        piexif.ImageIFD.Compression: 6,
        piexif.ImageIFD.XResolution: (72, 1),
        piexif.ImageIFD.YResolution: (72, 1),
        piexif.ImageIFD.ResolutionUnit: 2,
    }
    return {"1st": first, "thumbnail": buffer.getvalue()}


def _prepare(path: Path | str, size: tuple[int, int], color_seed: int) -> tuple[Path, Image.Image]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path, make_pixels(size, color_seed)


def make_jpeg(
    path: Path | str,
    size: tuple[int, int] = (640, 480),
    *,
    gps: GpsTuple | None = None,
    datetime_original: datetime | None = None,
    offset: str | None = "+02:00",
    make: str | None = "Canon",
    model: str | None = "EOS",
    orientation: int = 1,
    makernote: bytes | None = DEFAULT_MAKERNOTE,
    thumbnail: bool = True,
    icc: bool = True,
    color_seed: int = 0,
    quality: int = 90,
    exif: bool = True,
) -> Path:
    """Write a JPEG with camera-like EXIF (and ICC) to `path`; returns the path."""
    path, image = _prepare(path, size, color_seed)
    options: dict[str, object] = {"quality": quality}
    if exif:
        options["exif"] = build_exif(
            size, gps=gps, datetime_original=datetime_original, offset=offset, make=make, model=model,
            orientation=orientation, makernote=makernote, thumbnail=thumbnail, color_seed=color_seed,
        )
    if icc:
        options["icc_profile"] = srgb_icc()
    image.save(path, "JPEG", **options)
    return path


def _save_with_exif(path: Path, image: Image.Image, fmt: str, exif_bytes: bytes, icc: bool, **extra: object) -> Path:
    options: dict[str, object] = {"exif": exif_bytes, **extra}
    if icc:
        options["icc_profile"] = srgb_icc()
    image.save(path, fmt, **options)
    return path


def make_tiff(path: Path | str, size: tuple[int, int] = (320, 240), *, gps: GpsTuple | None = None,
              datetime_original: datetime | None = None, offset: str | None = "+02:00", make: str | None = "Nikon",
              model: str | None = "D750", orientation: int = 1, icc: bool = True, color_seed: int = 0) -> Path:
    """Write an uncompressed RGB TIFF with EXIF tags; returns the path."""
    path, image = _prepare(path, size, color_seed)
    exif_bytes = build_exif(size, gps=gps, datetime_original=datetime_original, offset=offset, make=make,
                            model=model, orientation=orientation, makernote=None, thumbnail=False)
    return _save_with_exif(path, image, "TIFF", exif_bytes, icc)


def make_png(path: Path | str, size: tuple[int, int] = (320, 240), *, gps: GpsTuple | None = None,
             datetime_original: datetime | None = None, offset: str | None = "+02:00", make: str | None = "Google",
             model: str | None = "Pixel", orientation: int = 1, icc: bool = True, color_seed: int = 0) -> Path:
    """Write a PNG with an eXIf chunk; returns the path."""
    path, image = _prepare(path, size, color_seed)
    exif_bytes = build_exif(size, gps=gps, datetime_original=datetime_original, offset=offset, make=make,
                            model=model, orientation=orientation, makernote=None, thumbnail=False)
    return _save_with_exif(path, image, "PNG", exif_bytes, icc)


def make_webp(path: Path | str, size: tuple[int, int] = (320, 240), *, gps: GpsTuple | None = None,
              datetime_original: datetime | None = None, offset: str | None = "+02:00", make: str | None = "Google",
              model: str | None = "Pixel", orientation: int = 1, icc: bool = True, color_seed: int = 0,
              exif: bool = True) -> Path:
    """Write a lossy WebP with EXIF (and ICC) chunks (`exif=False`: a plain simple-format WebP); returns the path."""
    path, image = _prepare(path, size, color_seed)
    if not exif:
        image.save(path, "WEBP", quality=85)
        return path
    exif_bytes = build_exif(size, gps=gps, datetime_original=datetime_original, offset=offset, make=make,
                            model=model, orientation=orientation, makernote=None, thumbnail=False)
    return _save_with_exif(path, image, "WEBP", exif_bytes, icc, quality=85)


def make_heic(path: Path | str, size: tuple[int, int] = (320, 240), *, gps: GpsTuple | None = None,
              datetime_original: datetime | None = None, offset: str | None = "+02:00", make: str | None = "Apple",
              model: str | None = "iPhone 12", orientation: int = 1, icc: bool = True, color_seed: int = 0) -> Path:
    """Write a HEIC (via pillow-heif) with EXIF; returns the path."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    path, image = _prepare(path, size, color_seed)
    exif_bytes = build_exif(size, gps=gps, datetime_original=datetime_original, offset=offset, make=make,
                            model=model, orientation=orientation, makernote=None, thumbnail=False)
    return _save_with_exif(path, image, "HEIF", exif_bytes, icc, quality=80)


def make_raw_like(path: Path | str, size: tuple[int, int] = (160, 120), *, gps: GpsTuple | None = None,
                  datetime_original: datetime | None = None, offset: str | None = "+02:00",
                  make: str | None = "Canon", model: str | None = "EOS 5D", color_seed: int = 0) -> Path:
    """Write a TIFF-structured file meant to carry a RAW extension (.CR2, .NEF, .DNG...); returns the path."""
    path, image = _prepare(path, size, color_seed)
    exif_bytes = build_exif(size, gps=gps, datetime_original=datetime_original, offset=offset, make=make,
                            model=model, makernote=None, thumbnail=False)
    image.save(path, "TIFF", exif=exif_bytes)
    return path
