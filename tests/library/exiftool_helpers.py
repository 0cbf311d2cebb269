"""exiftool as the independent judge of what we wrote (installed in CI by .ci/run)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(EXIFTOOL is None, reason="exiftool not installed")
VOLATILE_GROUPS = ("System:", "ExifTool:", "Composite:", "File:FileSize")


def exiftool_tags(path: Path, numeric: bool = True) -> dict:
    """All tags (-a -G1), numeric values."""
    args = [EXIFTOOL or "exiftool", "-j", "-a", "-G1", "-s"] + (["-n"] if numeric else []) + [str(path)]
    return json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)[0]


def validate_warnings(path: Path) -> set[str]:
    """The warnings `exiftool -validate -warning -a` reports."""
    out = subprocess.run([EXIFTOOL or "exiftool", "-validate", "-warning", "-a", "-s", str(path)],
                         capture_output=True, text=True, check=False).stdout
    return {line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Warning")}


# What every write adds to the XMP besides GPS: our provenance namespace and MetadataDate (issue 15).
# A WebP's VP8X flags gain the XMP bit when its XMP chunk is added.
WRITTEN_XMP = ("XMP-exif:GPS", "XMP-geotagger:", "XMP-xmp:MetadataDate", "RIFF:WebP_Flags")


def non_gps_tags(tags: dict) -> dict:
    """Tags except GPS ones (EXIF and XMP), our provenance and MetadataDate, and those that describe the file."""
    return {k: v for k, v in tags.items() if not k.startswith(VOLATILE_GROUPS) and not k.startswith("GPS:")
            and not k.startswith(WRITTEN_XMP) and k != "SourceFile"}


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
