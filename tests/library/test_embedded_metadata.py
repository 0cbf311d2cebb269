"""Metadata reads are header reads: a PNG is never decoded, a WebP never read whole, hostile sizes stay cheap.

Pillow decodes a whole PNG to find an eXIf chunk (0.5 s for a 12 MP PNG in a scan), reads a whole WebP into
memory, and skips junk in a JPEG header a byte at a time (a file of SOI and gigabytes of junk took hours). Each
test compares what the scan reads with Pillow's full read of the same file, or bounds what a hostile file costs.
"""

from __future__ import annotations

import os
import struct
import time
import zlib
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image, ImageFile

from geotagger.geocore.library import metadata, png, webp, xmp
from geotagger.geocore.library.api import Library
from geotagger.geocore.library.decisions import Proposal
from geotagger.geocore.library.errors import ErrorKind, LibraryError
from geotagger.geocore.library.formats import Kind
from geotagger.geocore.library.gps import GpsFix
from geotagger.geocore.library.metadata import read_metadata, written_estimate
from geotagger.geocore.vocabulary import Source
from tests.photo_factory import make_jpeg, make_pixels, make_png, make_webp

WHEN = datetime(2021, 6, 5, 14, 30, 15)
GPS = (-33.8568, 151.2153, 12.5)


def _chunk(type_: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + type_ + body + struct.pack(">I", zlib.crc32(type_ + body))


def _png_chunks(data: bytes) -> list[bytes]:
    return [data[c.offset : c.end] for c in png.read_chunks(data)]


def _reordered_png(path: Path, move: bytes, before: bytes) -> Path:
    """The PNG with its `move` chunk put just before its `before` chunk (eXIf after the image data: legal, and
    where Pillow looks only after decoding)."""
    data = path.read_bytes()
    chunks = _png_chunks(data)
    moved = [c for c in chunks if c[4:8] == move]
    rest = [c for c in chunks if c[4:8] != move]
    at = next(i for i, c in enumerate(rest) if c[4:8] == before)
    path.write_bytes(png.SIGNATURE + b"".join(rest[:at] + moved + rest[at:]))
    return path


def _with_xmp_chunk(path: Path, packet: bytes, compressed: bool) -> Path:
    data = path.read_bytes()
    chunks = _png_chunks(data)
    text = zlib.compress(packet) if compressed else packet
    body = png.XMP_KEYWORD + b"\x00" + (b"\x01\x00" if compressed else b"\x00\x00") + b"\x00\x00" + text
    at = next(i for i, c in enumerate(chunks) if c[4:8] == b"IDAT")
    path.write_bytes(png.SIGNATURE + b"".join(chunks[:at] + [_chunk(b"iTXt", body)] + chunks[at:]))
    return path


def _pillow_reference(path: Path) -> tuple[tuple[int, int], str | None, GpsFix | None]:
    """Size, DateTimeOriginal and GPS through Pillow's full read (pixels loaded): the independent reference."""
    with Image.open(path) as image:
        image.load()
        exif = image.getexif()
        fix = metadata._gps_from_pil(exif.get_ifd(0x8825))
        return image.size, exif.get_ifd(0x8769).get(0x9003), fix


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any pixel decode fails the test: metadata reads must not need one."""
    def refuse(self: ImageFile.ImageFile) -> None:
        raise AssertionError(f"pixels of {self.format} decoded for a metadata read")
    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


def _files(tmp_path: Path) -> dict[str, tuple[Path, Kind]]:
    made = {
        "png": (make_png(tmp_path / "a.png", (96, 64), gps=GPS, datetime_original=WHEN), Kind.PNG),
        "png, eXIf after the image": (_reordered_png(
            make_png(tmp_path / "b.png", (96, 64), gps=GPS, datetime_original=WHEN), b"eXIf", b"IEND"), Kind.PNG),
        "webp": (make_webp(tmp_path / "c.webp", (96, 64), gps=GPS, datetime_original=WHEN), Kind.WEBP),
    }
    lossless = tmp_path / "d.webp"
    make_pixels((90, 70)).save(lossless, "WEBP", lossless=True,
                               exif=Image.open(made["webp"][0]).getexif().tobytes())
    made["webp, lossless"] = (lossless, Kind.WEBP)
    simple = make_webp(tmp_path / "e.webp", (50, 30), exif=False)
    made["webp, simple (no VP8X)"] = (simple, Kind.WEBP)
    return made


def test_scan_reads_what_pillow_reads_without_decoding(tmp_path: Path) -> None:
    files = _files(tmp_path)
    references = {name: _pillow_reference(path) for name, (path, _) in files.items()}
    for name, (path, kind) in files.items():
        size, when, fix = references[name]
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(ImageFile.ImageFile, "load", lambda self, name=name: pytest.fail(f"{name}: pixels decoded"))
            meta = read_metadata(path, kind)
        assert (meta.width, meta.height) == size, name
        assert meta.capture_time == (when.replace(":", "-", 2).replace(" ", "T") if when else None), name
        if fix is None:
            assert meta.gps is None, name
        else:
            assert meta.gps is not None and meta.gps_source == "exif", name
            assert (meta.gps.lat, meta.gps.lon) == pytest.approx((fix.lat, fix.lon), abs=1e-7), name
            assert meta.gps.alt_m == pytest.approx(fix.alt_m), name


@pytest.mark.parametrize("compressed", [False, True])
def test_png_xmp_location_is_read_compressed_or_not(tmp_path: Path, compressed: bool, no_decoding: None) -> None:
    path = make_png(tmp_path / "x.png", (40, 30), gps=None)
    packet = xmp.merge_location(None, GpsFix(48.8584, 2.2945, None), None, True)
    _with_xmp_chunk(path, packet, compressed)
    meta = read_metadata(path, Kind.PNG, sidecars=False)
    assert meta.gps_source == "xmp"
    assert meta.gps is not None and (meta.gps.lat, meta.gps.lon) == pytest.approx((48.8584, 2.2945))


@pytest.mark.parametrize("maker", [make_png, make_webp])
def test_our_estimates_in_png_and_webp_are_told_apart_without_decoding(tmp_path: Path, maker) -> None:
    path = maker(tmp_path / "photos" / f"a.{maker.__name__[5:]}", (40, 30), datetime_original=WHEN)
    camera = maker(tmp_path / "camera" / f"b.{maker.__name__[5:]}", (40, 30), gps=GPS)
    with Library(tmp_path / "lib.sqlite3") as library:
        library.scan([path.parent])
        photo = library.photo_by_path(path)
        [decision] = library.propose_many([Proposal(photo.id, 41.1456, -8.611, None, Source.MODEL.value,
                                                    state="accepted")])
        assert all(r.ok for r in library.write_batch([decision]).results)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("pixels decoded"))
        assert written_estimate(path)
        assert not written_estimate(camera)


def _assert_corrupt(path: Path, kind: Kind, words: str) -> None:
    with pytest.raises(LibraryError) as caught:
        read_metadata(path, kind, sidecars=False)
    assert caught.value.kind is ErrorKind.CORRUPT
    assert caught.value.path == path and words in caught.value.reason


@pytest.mark.parametrize("cut", ["at a chunk boundary", "inside a chunk"])
def test_png_cut_short_is_corrupt(tmp_path: Path, cut: str) -> None:
    path = make_png(tmp_path / "cut.png", (64, 48), gps=GPS)
    data = path.read_bytes()
    last_idat = [c for c in png.read_chunks(data) if c.type == b"IDAT"][-1]
    path.write_bytes(data[: last_idat.end if cut == "at a chunk boundary" else last_idat.end - 7])
    _assert_corrupt(path, Kind.PNG, "PNG" if cut == "at a chunk boundary" else "runs past the end")


def _sparse(path: Path, head: bytes, size: int) -> Path:
    with open(path, "wb") as handle:
        handle.write(head)
        handle.truncate(size)  # a hole: no disk used, gigabytes of zeros to whoever reads it
    return path


def test_huge_chunk_before_png_image_is_not_read(tmp_path: Path) -> None:
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
    length = 1_500_000_000
    path = _sparse(tmp_path / "huge.png", png.SIGNATURE + ihdr + struct.pack(">I", length) + b"abCd",
                   8 + len(ihdr) + 8 + length + 4)  # whole, but for IEND: Pillow would read 1.5 GB into memory
    started = time.monotonic()
    _assert_corrupt(path, Kind.PNG, "no IEND")
    assert time.monotonic() - started < 5


def test_file_of_empty_chunks_is_refused_not_listed(tmp_path: Path) -> None:
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes(10)
    count = webp.MAX_CHUNKS + 10
    path = _sparse(tmp_path / "chunks.webp", b"RIFF" + struct.pack("<I", 4 + 18 + 8 * count) + b"WEBP" + vp8x,
                   12 + 18 + 8 * count)
    _assert_corrupt(path, Kind.WEBP, "chunks; not read")


def test_jpeg_header_of_junk_costs_seconds_not_hours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _sparse(tmp_path / "junk.jpg", b"\xff\xd8\xff\xe1", 512 * 1024 * 1024)
    given: list[int] = []
    open_for_metadata = metadata._open_for_metadata

    def recording(source: Path | bytes):  # type: ignore[no-untyped-def]
        given.append(len(source) if isinstance(source, bytes) else os.path.getsize(source))
        return open_for_metadata(source)

    monkeypatch.setattr(metadata, "_open_for_metadata", recording)
    started = time.monotonic()
    _assert_corrupt(path, Kind.JPEG, "cannot read image")
    assert given == [metadata.JPEG_HEADER_LIMIT]
    assert time.monotonic() - started < 25  # unbounded, Pillow's byte-at-a-time skip took ~50 s for these 512 MiB


def test_odd_jpeg_still_read_through_pillow_header(tmp_path: Path) -> None:
    """A JPEG our header parser declines (fill bytes and an empty APP segment) still gives its metadata."""
    path = make_jpeg(tmp_path / "odd.jpg", (64, 48), gps=GPS, datetime_original=WHEN)
    data = path.read_bytes()
    path.write_bytes(data[:2] + b"\xff\xff\xff\xef\x00\x02" + data[2:])  # fill bytes, then an empty APP15
    meta = read_metadata(path, Kind.JPEG, head=path.read_bytes()[:65536], sidecars=False)
    assert (meta.width, meta.height) == (64, 48)
    assert meta.gps is not None and meta.gps.lat == pytest.approx(GPS[0])


def test_a_parser_failing_on_one_file_costs_that_file_not_the_scan(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from geotagger.geocore.library import scanner

    bad = make_jpeg(tmp_path / "photos" / "bad.jpg", (32, 24))
    good = make_jpeg(tmp_path / "photos" / "good.jpg", (32, 24), gps=GPS)
    real = scanner.read_metadata

    def failing(path: Path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if path.name == "bad.jpg":
            raise RecursionError("maximum recursion depth exceeded")  # as a deep structure in a parser would
        return real(path, *args, **kwargs)

    monkeypatch.setattr(scanner, "read_metadata", failing)
    with Library(tmp_path / "lib.sqlite3") as library:
        library.scan([bad.parent])
        failed, fine = library.photo_by_path(bad), library.photo_by_path(good)
    assert failed.error_kind == ErrorKind.CORRUPT.value and "RecursionError" in (failed.error or "")
    assert fine.error_kind is None and fine.gps_lat == pytest.approx(GPS[0])
