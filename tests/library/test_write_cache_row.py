"""After a write the cache holds what a scan of the files would read, whether it followed the decision or read the
file again: altitude kept from before, embedded GPS winning over a sidecar, formats written in place or not."""

from __future__ import annotations

from pathlib import Path

import pytest

from geotagger.geocore.library import journal
from geotagger.geocore.library.api import Library
from tests.library.test_undo_cache_row import SIDECAR, _cache_rows, _fresh_rows, _record_rereads
from tests.photo_factory import make_jpeg, make_png, make_raw_like, make_tiff


def _photos(folder: Path) -> list[Path]:
    return [
        make_jpeg(folder / "plain.jpg", size=(64, 48)),
        make_jpeg(folder / "located.jpg", size=(48, 64), gps=(-33.5, 151.25, 12.0)),
        make_tiff(folder / "scan.tif", size=(40, 30), gps=(10.5, 20.25, 5.0)),
        make_png(folder / "screen.png", size=(30, 20)),
        make_raw_like(folder / "raw.nef", gps=(1.0, 2.0, 3.0)),
        make_raw_like(folder / "bare.nef"),
        make_jpeg(folder / "IMG_7.JPG", size=(32, 24)),  # its sidecar in another case, as the scan matches it
    ]


@pytest.mark.parametrize("altitude", [None, 250.0], ids=["no-altitude", "altitude"])
@pytest.mark.parametrize("sidecar_only", [False, True], ids=["in-place", "sidecar-only"])
def test_the_cache_after_a_write_is_what_a_scan_reads(tmp_path: Path, altitude: float | None,
                                                      sidecar_only: bool) -> None:
    folder = tmp_path / "photos"
    paths = _photos(folder)
    (folder / "img_7.xmp").write_text(SIDECAR)
    library = Library(tmp_path / "cache.sqlite3")
    try:
        library.scan([folder])
        for path in paths:
            library.propose(library.photo_by_path(path).id, 45.5, 7.25, 0.1, "manual", altitude_m=altitude,
                            state="accepted")
        written = library.write_batch(sidecar_only=sidecar_only)
        assert not written.failed, written.failed
        assert _cache_rows(library, paths) == _fresh_rows(paths)
        rescan = library.scan([folder])
        assert rescan.changed == rescan.sidecar_changed == 0, rescan
    finally:
        library.close()


def test_a_write_with_a_full_position_follows_the_decision_without_reading_files(tmp_path: Path,
                                                                                   monkeypatch) -> None:
    folder = tmp_path / "photos"
    paths = [make_jpeg(folder / f"p{index}.jpg", size=(32, 24), color_seed=index) for index in range(4)]
    library = Library(tmp_path / "cache.sqlite3")
    try:
        library.scan([folder])
        for path in paths:
            library.propose(library.photo_by_path(path).id, 45.5, 7.25, 0.1, "manual", altitude_m=100.0,
                            state="accepted")
        read_again = _record_rereads(monkeypatch)
        assert len(library.write_batch().written) == len(paths)
        assert read_again == []
        row = _cache_rows(library, paths)["p0.jpg"]
        assert (row["gps_lat"], row["gps_alt_m"], row["gps_source"]) == (pytest.approx(45.5), 100.0, "exif")
        assert _cache_rows(library, paths) == _fresh_rows(paths)
    finally:
        library.close()


def test_without_altitude_the_old_one_the_file_keeps_is_in_the_cache(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    path = make_jpeg(folder / "a.jpg", size=(32, 24), gps=(-33.5, 151.25, 12.0))
    library = Library(tmp_path / "cache.sqlite3")
    try:
        library.scan([folder])
        library.propose(library.photo_by_path(path).id, 45.5, 7.25, 0.1, "manual", state="accepted")
        assert len(library.write_batch().written) == 1
        photo = library.photo_by_path(path)
        assert (photo.gps_lat, photo.gps_alt_m) == (pytest.approx(45.5), pytest.approx(12.0))
        assert journal.CACHED_FIELDS  # the fields compared above and in the undo's tests
    finally:
        library.close()
