"""Thumbnails made once per file version and cached on disk (EXIF orientation applied)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from PIL import Image, ImageOps

from geotagger.geocore.library.errors import ErrorKind, LibraryError, error_from_os
from geotagger.geocore.library.formats import Kind
from geotagger.geocore.library.metadata import _ensure_heif_opener

THUMBNAIL_PX = 256


def thumbnail_file(cache_dir: Path, head_hash: str, size: int) -> Path:
    """Cache location of a file version's thumbnail (two-level fan-out keeps folders small)."""
    return cache_dir / head_hash[:2] / f"{head_hash}-{size}.jpg"


def make_thumbnail(source: Path, target: Path, kind: Kind, max_px: int = THUMBNAIL_PX) -> Path:
    """Write a JPEG thumbnail of `source` to `target` unless it exists; returns `target`."""
    if target.exists():
        return target
    if kind is Kind.HEIF:
        _ensure_heif_opener()
    try:
        with Image.open(source) as image:
            image.draft("RGB", (max_px * 2, max_px * 2))  # JPEG: decode at reduced scale, much faster
            small = ImageOps.exif_transpose(image).convert("RGB")
            small.thumbnail((max_px, max_px))
        _save_atomically(small, target)
        return target
    except OSError as exc:
        if isinstance(exc, (PermissionError, FileNotFoundError)):
            raise error_from_os(exc, source) from None
        raise LibraryError(ErrorKind.CORRUPT, source, f"cannot decode image: {exc}") from None
    except Image.DecompressionBombError:  # not an OSError: it would escape as an untyped crash
        raise LibraryError(ErrorKind.UNSUPPORTED, source, "image too large (decompression bomb guard)") from None
    except (ValueError, SyntaxError) as exc:
        raise LibraryError(ErrorKind.CORRUPT, source, f"cannot decode image: {exc}") from None


def _save_atomically(image: Image.Image, target: Path) -> None:
    """JPEG to a partial file, then renamed: readers never see half a thumbnail, a failure leaves no debris."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # Unique per thread too: the GUI's workers may make the same thumbnail at once, and a shared partial file
    # would interleave their bytes into a thumbnail that is then cached for good.
    partial = target.with_name(f"{target.name}.{os.getpid()}-{threading.get_ident()}.part")
    try:
        image.save(partial, "JPEG", quality=85)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
