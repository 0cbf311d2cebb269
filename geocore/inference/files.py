"""Which files the predictor reads: folders walked recursively, extensions matched case-insensitively."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from geocore.resources import resource_path

DECODABLE_EXTENSIONS = frozenset(
    [".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".tif", ".tiff", ".webp", ".heic", ".heif", ".hif", ".bmp"]
)
BASE_BUNDLE = resource_path("models", "base.geomodel")


def is_decodable(path: Path) -> bool:
    """True when the extension (any case) is one the predictor decodes."""
    return path.suffix.lower() in DECODABLE_EXTENSIONS


def expand_paths(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files as given (even with unknown extensions, so they get an error record) and photos inside folders."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for folder, subfolders, names in os.walk(path):
                subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
                for name in sorted(names):
                    candidate = Path(folder) / name
                    if not name.startswith(".") and is_decodable(candidate):
                        yield candidate
        else:
            yield path
