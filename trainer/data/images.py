"""Decoding photos for training: EXIF orientation first, JPEG DCT scaling for speed, clear errors."""

from __future__ import annotations

import io
import os
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from geotagger.geocore.inference.files import DECODABLE_EXTENSIONS
from geotagger.geocore.inference.preprocess import draft_short_side, register_heif


class ImageReadError(Exception):
    """A photo that cannot be used, with the file (or record id) and the reason."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name, self.reason = name, reason


def open_rgb(source: str | os.PathLike[str] | bytes, min_side_px: int, name: str | None = None) -> Image.Image:
    """Decode a photo (path or encoded bytes) into an upright RGB image at least `min_side_px` on its short side."""
    label = name or (str(source) if not isinstance(source, bytes) else "<bytes>")
    register_heif()  # HEIC/HEIF photos from phones, when pillow-heif is installed
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL's DecompressionBomb/EXIF warnings: the error path reports instead
            handle = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115
            with handle, Image.open(handle) as image:
                draft_short_side(image, min_side_px)
                upright = ImageOps.exif_transpose(image)
                rgb = upright.convert("RGB")
                rgb.load()
    except FileNotFoundError:
        raise ImageReadError(label, "file not found") from None
    except PermissionError:
        raise ImageReadError(label, "no permission to read") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise ImageReadError(label, f"unreadable image ({error})") from None
    if min(rgb.size) < 8:
        raise ImageReadError(label, f"image too small ({rgb.width}x{rgb.height})")
    return rgb


def has_image_extension(path: str | os.PathLike[str]) -> bool:
    """True for photo file names, case-insensitively (`.JPG` counts)."""
    return os.path.splitext(str(path))[1].lower() in DECODABLE_EXTENSIONS
