"""Which files the predictor decodes (extensions matched case-insensitively) and where the base bundle is.

Folders are walked by the library's scanner (geocore.library.scanner.walk_photos), the one walker: the
workflow session hands the predictor the photos it found.
"""

from __future__ import annotations

from pathlib import Path

from geotagger.geocore.resources import resource_path

DECODABLE_EXTENSIONS = frozenset(
    [".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".tif", ".tiff", ".webp", ".heic", ".heif", ".hif", ".bmp"]
)
BASE_BUNDLE = resource_path("models", "base.geomodel")


def is_decodable(path: Path) -> bool:
    """True when the extension (any case) is one the predictor decodes."""
    return path.suffix.lower() in DECODABLE_EXTENSIONS
