"""PNG EXIF kept as an ImageMagick raw profile (`Raw profile type exif` / `APP1` in tEXt, zTXt or iTXt).

exiftool, exiv2 and Pillow read these; a write converts the profile into an eXIf chunk with the new GPS and
removes it, so readers see one position and every other tag; undo restores the exact bytes.
"""

from __future__ import annotations

import io
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from PIL import PngImagePlugin

from geotagger.geocore.library import png
from geotagger.geocore.library.api import Library
from geotagger.geocore.library.formats import Kind
from geotagger.geocore.library.metadata import read_metadata
from tests.library.exiftool_helpers import EXIFTOOL, exiftool_tags, sha256_of, validate_warnings
from tests.library.test_in_place_formats import (
    LAT,
    LON,
    _write,
    assert_other_tags_kept,
    decoded_pixels,
    exiv2_position,
    pytestmark,
)
from tests.photo_factory import build_exif, make_pixels

__all__ = ["pytestmark"]  # exiftool and exiv2 needed, as for the other in-place formats
KEYWORDS = {"exif": "Raw profile type exif", "APP1": "Raw profile type APP1"}


def _chunk(type_: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + type_ + body + struct.pack(">I", zlib.crc32(type_ + body))


def legacy_png(path: Path, profile: str, chunk_type: str, after_idat: bool = False,
               gps: tuple[float, float, float] | None = (10.5, 20.25, 5.0)) -> Path:
    """A PNG whose EXIF (Canon, a date, `gps`) is a hex raw profile, laid out as ImageMagick writes it."""
    exif = build_exif((48, 32), gps=gps, make="Canon", model="EOS R", makernote=None, thumbnail=False)
    hex_digits = exif.hex()
    text = (f"\n{profile}\n{len(exif):8d}\n" + "\n".join(hex_digits[i:i + 72] for i in range(0, len(hex_digits), 72))
            + "\n")
    keyword = KEYWORDS[profile].encode("latin-1")
    body = {"tEXt": keyword + b"\x00" + text.encode("ascii"),
            "zTXt": keyword + b"\x00\x00" + zlib.compress(text.encode("ascii")),
            "iTXt": keyword + b"\x00\x01\x00\x00\x00" + zlib.compress(text.encode("ascii"))}[chunk_type]
    buffer = io.BytesIO()
    make_pixels((48, 32), 5).save(buffer, "PNG", pnginfo=PngImagePlugin.PngInfo())
    data = buffer.getvalue()
    chunks = png.read_chunks(data)
    at = chunks[-1].offset if after_idat else next(c.offset for c in chunks if c.type == b"IDAT")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[:at] + _chunk(chunk_type.encode(), body) + data[at:])
    return path


def _chunk_types(path: Path) -> list[bytes]:
    return [c.type for c in png.read_chunks(path.read_bytes())]


def _gps_latitudes(path: Path) -> list[str]:
    """Every GPSLatitude exiftool finds in the file, duplicates included."""
    out = subprocess.run([EXIFTOOL or "exiftool", "-a", "-G1", "-s", "-n", "-GPSLatitude", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return [line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("[GPS]")]


@pytest.mark.parametrize("after_idat", [False, True], ids=["before_idat", "after_idat"])
@pytest.mark.parametrize("chunk_type", ["tEXt", "zTXt", "iTXt"])
@pytest.mark.parametrize("profile", ["exif", "APP1"])
def test_raw_profile_becomes_the_eXIf_with_the_new_position(tmp_path, monkeypatch, profile, chunk_type,
                                                            after_idat) -> None:
    path = legacy_png(tmp_path / "photos" / "a.png", profile, chunk_type, after_idat)
    before, warnings, sha, pixels = exiftool_tags(path), validate_warnings(path), sha256_of(path), decoded_pixels(path)
    assert before["IFD0:Make"] == "Canon" and _gps_latitudes(path) == ["10.5"]  # exiftool reads the profile
    meta = read_metadata(path, Kind.PNG, sidecars=False)
    assert meta.gps is not None and meta.gps.lat == pytest.approx(10.5) and meta.make == "Canon"
    library, batch_id = _write(tmp_path, path, monkeypatch)
    after = exiftool_tags(path)
    latitudes = _gps_latitudes(path)  # unsigned, the reference apart
    assert len(latitudes) == 1 and abs(float(latitudes[0]) - abs(LAT)) < 1e-6  # one position only, the new one
    assert abs(after["Composite:GPSLatitude"] - LAT) < 1e-6 and abs(after["Composite:GPSLongitude"] - LON) < 1e-6
    assert exiv2_position(path) == (pytest.approx(LAT, abs=1e-6), pytest.approx(LON, abs=1e-6))
    types = _chunk_types(path)
    assert types.count(b"eXIf") == 1 and types.index(b"eXIf") < types.index(b"IDAT")
    assert png.raw_profiles(path.read_bytes(), png.read_chunks(path.read_bytes())) == []
    assert_other_tags_kept(before, after)
    assert validate_warnings(path) - warnings == set()
    assert decoded_pixels(path) == pixels
    assert all(r.ok for r in library.undo(batch_id=batch_id).results) and sha256_of(path) == sha
    library.close()


@pytest.mark.parametrize("chunk_type", ["tEXt", "zTXt", "iTXt"])
def test_strip_edits_the_raw_profile_where_it_stands(tmp_path, chunk_type) -> None:
    path = legacy_png(tmp_path / "photos" / "a.png", "exif", chunk_type)
    sha, types = sha256_of(path), _chunk_types(path)
    library = Library(tmp_path / "cache" / "lib.sqlite3")
    library.scan([path.parent])
    stripped = library.strip([path])
    assert stripped.failed == [], stripped.results
    assert _gps_latitudes(path) == [] and exiftool_tags(path)["IFD0:Make"] == "Canon"
    assert "GPSLatitude" not in subprocess.run(["exiv2", "-q", "-pa", str(path)], capture_output=True, text=True).stdout
    assert _chunk_types(path) == types  # still the same text chunk, no eXIf added
    assert all(r.ok for r in library.undo(batch_id=stripped.batch_id).results) and sha256_of(path) == sha
    library.close()


def _with_exif_chunk(path: Path) -> Path:
    data = path.read_bytes()
    at = next(c.offset for c in png.read_chunks(data) if c.type == b"IDAT")
    tiff = build_exif((48, 32), make="Other", makernote=None, thumbnail=False)[6:]
    path.write_bytes(data[:at] + _chunk(b"eXIf", tiff) + data[at:])
    return path


def _broken_hex(path: Path) -> Path:
    data = path.read_bytes()
    chunk = next(c for c in png.read_chunks(data) if c.type == b"tEXt")
    body = data[chunk.data_start : chunk.data_start + chunk.length]
    path.write_bytes(data[: chunk.offset] + _chunk(b"tEXt", body[:-40] + b"zz" + body[-38:]) + data[chunk.end :])
    return path


@pytest.mark.parametrize("spoil", [_with_exif_chunk, _broken_hex], ids=["eXIf_and_profile", "broken_hex"])
def test_ambiguous_or_broken_profile_is_refused_and_the_file_kept(tmp_path, spoil) -> None:
    path = spoil(legacy_png(tmp_path / "photos" / "a.png", "exif", "tEXt"))
    sha = sha256_of(path)
    library = Library(tmp_path / "cache" / "lib.sqlite3")
    library.scan([path.parent])
    photo = library.photo_by_path(path)
    library.accept(library.propose(photo.id, LAT, LON, 1.0, "manual"))
    report = library.write_batch()
    assert [r for r in report.results if r.target == "photo" and not r.ok], report.results
    assert sha256_of(path) == sha and not path.with_name(path.name + ".xmp").exists()
    library.close()
