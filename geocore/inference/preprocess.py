"""Photo -> normalised network crops: EXIF orientation first, DCT-scaled JPEG decoding, card-driven crops.

A 12 MP JPEG is decoded at 1/2, 1/4 or 1/8 scale by libjpeg (`Image.draft`), just large enough for the resize the
crop scheme needs, so it is never decoded in full. HEIC/HEIF is read through pillow-heif, other formats by Pillow.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps

from geotagger.geocore.inference.card import CropSpec, InputSpec

Box = tuple[int, int, int, int]
_HEIF_LOCK = threading.Lock()
_heif_registered = False


class PhotoError(ValueError):
    """A photo that cannot be read or decoded; the message says why."""


def register_heif() -> bool:
    """Teach Pillow HEIC/HEIF (once, thread-safe); False when pillow-heif is not installed."""
    global _heif_registered
    with _HEIF_LOCK:
        if not _heif_registered:
            try:
                from pillow_heif import register_heif_opener
            except ImportError:
                return False
            register_heif_opener()
            _heif_registered = True
    return True


@dataclass(frozen=True)
class PreparedPhoto:
    """Crops ready for the network plus the geometry needed to map saliency back onto the photo."""

    crops: npt.NDArray[np.float32]  # (count, 3, size, size), normalised
    boxes: list[Box]  # crop boxes in the resized, oriented image
    resized_size: tuple[int, int]  # (width, height) of the resized, oriented image
    original_size: tuple[int, int]  # (width, height) of the photo after EXIF orientation


def target_short_side(crops: CropSpec, size_px: int, count: int) -> int:
    """Short side the photo is resized to: the input size for 3 crops (the paper), `resize_short_px` otherwise."""
    return size_px if count == 3 else crops.resize_short_px


def resized_dimensions(width: int, height: int, short_px: int) -> tuple[int, int]:
    """(width, height) scaled so that the short side is `short_px`."""
    scale = short_px / min(width, height)
    return max(short_px, round(width * scale)), max(short_px, round(height * scale))


def crop_boxes(width: int, height: int, count: int, size: int) -> list[Box]:
    """Crop boxes (left, top, right, bottom) of side `size` in a `width` x `height` image.

    1: centre. 3: evenly spaced along the longer side, first and last touching the edges. 5: four corners + centre.
    """
    if width < size or height < size:
        raise ValueError(f"image {width}x{height} smaller than crop {size}")
    centre = ((width - size) // 2, (height - size) // 2)
    if count == 1:
        origins = [centre]
    elif count == 3:
        if width >= height:
            origins = [(round(i * (width - size) / 2), centre[1]) for i in range(3)]
        else:
            origins = [(centre[0], round(i * (height - size) / 2)) for i in range(3)]
    elif count == 5:
        origins = [(0, 0), (width - size, 0), (0, height - size), (width - size, height - size), centre]
    else:
        raise ValueError(f"crop count must be 1, 3 or 5, not {count}")
    return [(left, top, left + size, top + size) for left, top in origins]


def open_oriented(path: str | Path, min_short_px: int | None = None) -> tuple[Image.Image, tuple[int, int]]:
    """(RGB image with EXIF orientation applied, full oriented size); JPEGs DCT-downscaled to >= `min_short_px`."""
    path = Path(path)
    register_heif()  # by content, not extension: a misnamed HEIC must open too
    try:
        with Image.open(path) as image:
            full_size = _oriented_size(image)
            if min_short_px is not None:
                draft_short_side(image, min_short_px)
            oriented = ImageOps.exif_transpose(image)
            rgb = oriented.convert("RGB") if oriented.mode != "RGB" else oriented.copy()
            return rgb, full_size
    except FileNotFoundError:
        raise PhotoError("file not found") from None
    except Image.DecompressionBombError:
        raise PhotoError("image too large (decompression bomb guard)") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise PhotoError(_describe(error)) from None


def draft_short_side(image: Image.Image, min_short_px: int) -> None:
    """Let libjpeg decode a JPEG at 1/2, 1/4 or 1/8 scale while its short side stays >= `min_short_px`."""
    if image.format != "JPEG":
        return
    # draft picks the largest 1/2^k reduction that keeps both sides >= the requested size
    scale = min_short_px / max(1, min(image.size))
    image.draft("RGB", (math.ceil(image.width * scale), math.ceil(image.height * scale)))


def _oriented_size(image: Image.Image) -> tuple[int, int]:
    orientation = image.getexif().get(0x0112, 1)
    return (image.height, image.width) if orientation in (5, 6, 7, 8) else (image.width, image.height)


def _describe(error: Exception) -> str:
    text = str(error) or type(error).__name__
    if "cannot identify image file" in text:
        return "not an image Pillow can read"
    if "truncated" in text:
        return f"truncated or damaged image ({text})"
    return text


def prepare_photo(path: str | Path, spec: InputSpec, crops: CropSpec, count: int | None = None) -> PreparedPhoto:
    """Decode, orient, resize and crop a photo as the card says; raises PhotoError."""
    count = count or crops.count
    short_px = target_short_side(crops, spec.size_px, count)
    image, original_size = open_oriented(path, min_short_px=short_px)
    resized_size = resized_dimensions(*image.size, short_px)
    resized = image.resize(resized_size, Image.Resampling.BILINEAR)
    boxes = crop_boxes(*resized_size, count, spec.size_px)
    pixels = np.asarray(resized, dtype=np.float32)
    stack = np.stack([pixels[top:bottom, left:right] for left, top, right, bottom in boxes])
    return PreparedPhoto(normalise(stack, spec), boxes, resized_size, original_size)


def prepare_or_reason(
    path: str | Path, spec: InputSpec, crops: CropSpec, count: int | None = None
) -> PreparedPhoto | str:
    """`prepare_photo`, or why it failed: any decoder failure is this photo's problem, never its batch's."""
    try:
        return prepare_photo(path, spec, crops, count)
    except PhotoError as error:
        return str(error)
    except Exception as error:  # pillow plug-ins raise what they like on damaged files
        return f"cannot read photo: {type(error).__name__}: {error}"


def normalise(pixels: npt.NDArray[np.float32], spec: InputSpec) -> npt.NDArray[np.float32]:
    """(k, H, W, 3) RGB 0..255 -> (k, 3, H, W) float32 normalised with the card's mean/std."""
    scale = np.float32(1.0 / 255.0) / np.asarray(spec.std, dtype=np.float32)
    offset = np.asarray(spec.mean, dtype=np.float32) / np.asarray(spec.std, dtype=np.float32)
    normalised = pixels * scale - offset
    return np.ascontiguousarray(normalised.transpose(0, 3, 1, 2), dtype=np.float32)
