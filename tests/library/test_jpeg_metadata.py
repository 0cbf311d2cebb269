"""The scan's own JPEG reader (jpeg_metadata) says what Pillow says, or declines and lets Pillow read the file."""

from __future__ import annotations

import dataclasses
import struct
from datetime import datetime
from pathlib import Path

import pytest

from geotagger.geocore.library import jpeg_metadata
from geotagger.geocore.library.errors import LibraryError
from geotagger.geocore.library.formats import Kind, sniff
from geotagger.geocore.library.metadata import PhotoMetadata, _from_file, _from_jpeg_head, read_metadata
from geotagger.geocore.library.scanner import HEAD_BYTES
from tests.library.hostile_corpus import build_corpus, jpeg_bytes, segment, with_segments, xmp_app1
from tests.photo_factory import make_jpeg


def _head(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(HEAD_BYTES)


def _pillow(path: Path) -> PhotoMetadata | str:
    try:
        return _from_file(path, Kind.JPEG)
    except LibraryError as exc:
        return f"{exc.kind.value}: {exc.reason}"


def _factory_variants(folder: Path) -> list[Path]:
    when = datetime(2023, 5, 17, 14, 3, 9)
    return [
        make_jpeg(folder / "plain.jpg", size=(96, 64)),
        make_jpeg(folder / "gps.jpg", size=(96, 64), gps=(-33.85, 151.21, -12.5), datetime_original=when),
        make_jpeg(folder / "north.jpg", size=(80, 60), gps=(45.0, 7.0), orientation=6, make=None, offset=None),
        make_jpeg(folder / "bare.jpg", size=(64, 48), exif=False, icc=False),
        make_jpeg(folder / "nothumb.jpg", size=(64, 48), thumbnail=False, makernote=None, model="X" * 300),
        make_jpeg(folder / "large.jpg", size=(900, 700), gps=(10.0, -20.0), quality=95),  # past the head
    ]


def test_answers_exactly_as_pillow_or_declines(tmp_path: Path) -> None:
    files = build_corpus(tmp_path / "corpus") + _factory_variants(tmp_path / "factory")
    answered = declined = 0
    for path in files:
        head = _head(path)
        if sniff(head[:32], path.suffix) is not Kind.JPEG:
            continue
        ours, pillow = _from_jpeg_head(path, head), _pillow(path)
        if ours is None:
            declined += 1
            continue
        answered += 1
        assert isinstance(pillow, PhotoMetadata), (path.name, pillow)
        assert pillow.warnings == (), (path.name, pillow.warnings)  # a file Pillow warns about is Pillow's to read
        assert ours == pillow, path.name
    assert answered >= 12 and declined >= 5, (answered, declined)


def test_common_camera_files_take_the_fast_path(tmp_path: Path) -> None:
    for path in _factory_variants(tmp_path):
        assert _from_jpeg_head(path, _head(path)) is not None, path.name


def test_truncated_large_jpeg_is_still_corrupt(tmp_path: Path) -> None:
    whole = make_jpeg(tmp_path / "whole.jpg", size=(900, 700), quality=95).read_bytes()
    assert len(whole) > 2 * HEAD_BYTES
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    assert _from_jpeg_head(cut, _head(cut)) is None
    with pytest.raises(LibraryError, match="end-of-image"):
        read_metadata(cut, Kind.JPEG, head=_head(cut))


def test_xmp_gps_and_orientation_are_read_like_pillow(tmp_path: Path) -> None:
    body = ('<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
            'exif:GPSLatitude="48,51.5N" exif:GPSLongitude="2,21.0E" tiff:Orientation="8"/>')
    path = tmp_path / "xmp.jpg"
    path.write_bytes(with_segments(jpeg_bytes(), xmp_app1(body)))
    ours = _from_jpeg_head(path, _head(path))
    assert ours is not None and ours == _pillow(path)
    assert ours.gps_source == "xmp" and ours.gps is not None and round(ours.gps.lat, 4) == 48.8583
    assert ours.orientation == 8


def test_odd_segments_go_to_pillow(tmp_path: Path) -> None:
    short_dqt = with_segments(jpeg_bytes(), segment(0xDB, b"\x00" + bytes(10)))
    frame = bytes([8]) + struct.pack(">HH", 10, 10) + b"\x01\x01\x11\x00"
    two_frames = with_segments(jpeg_bytes(), segment(0xC0, frame))
    for name, data in (("dqt.jpg", short_dqt), ("sof.jpg", two_frames)):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(jpeg_metadata.Decline):
            jpeg_metadata.read_head(data)
        assert _from_jpeg_head(path, data) is None
    with pytest.raises(LibraryError, match="cannot identify"):  # Pillow's verdict, as before
        read_metadata(tmp_path / "dqt.jpg", Kind.JPEG, head=short_dqt)


def test_sidecar_gps_is_read_unless_the_caller_knows_there_is_none(tmp_path: Path) -> None:
    photo = make_jpeg(tmp_path / "a.jpg", size=(64, 48))
    (tmp_path / "a.xmp").write_text('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
                                    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
                                    'xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="10,30.0N" '
                                    'exif:GPSLongitude="20,15.0W"/></rdf:RDF></x:xmpmeta>')
    with_sidecar = read_metadata(photo, Kind.JPEG, head=_head(photo))
    assert with_sidecar.gps_source == "xmp" and with_sidecar.gps is not None and with_sidecar.gps.lon == -20.25
    assert dataclasses.replace(with_sidecar, gps=None, gps_source=None) == read_metadata(photo, Kind.JPEG,
                                                                                         sidecars=False)
