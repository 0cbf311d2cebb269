"""Scanning in a child process: same cache contents, progress and report reach the caller, cancel stops it."""

from __future__ import annotations

import threading
from pathlib import Path

from geotagger.geocore.library.api import Library
from geotagger.geocore.library.scan_process import scan_in_subprocess
from tests.photo_factory import make_jpeg


def test_child_scan_fills_the_cache_and_reports(tmp_path: Path) -> None:
    for index in range(12):
        make_jpeg(tmp_path / "photos" / f"IMG_{index:02d}.JPG", size=(64, 48), color_seed=index,
                  gps=(48.85, 2.35) if index == 0 else None)
    (tmp_path / "photos" / "broken.jpg").write_bytes(b"\xff\xd8not a jpeg")
    calls: list[tuple[int, int]] = []
    report = scan_in_subprocess(tmp_path / "cache.sqlite", [tmp_path / "photos"],
                                lambda done, total, _path: calls.append((done, total)))
    assert (report.found, report.new) == (13, 13)
    assert [issue.path for issue in report.issues] == [str(tmp_path / "photos" / "broken.jpg")]
    assert calls and calls[-1] == (13, 13)
    library = Library(tmp_path / "cache.sqlite")
    try:
        photos = library.photos()
        assert len(photos) == 13 and sum(p.gps_lat is not None for p in photos) == 1
    finally:
        library.close()
    again = scan_in_subprocess(tmp_path / "cache.sqlite", [tmp_path / "photos"])
    assert (again.found, again.new, again.unchanged) == (13, 0, 13)


def test_cancel_stops_the_child_and_nothing_to_scan_starts_none(tmp_path: Path) -> None:
    for index in range(30):
        make_jpeg(tmp_path / "photos" / f"{index}.jpg", size=(32, 32), color_seed=index)
    cancel = threading.Event()
    cancel.set()
    report = scan_in_subprocess(tmp_path / "cache.sqlite", [tmp_path / "photos"], cancel=cancel)
    assert report.cancelled
    assert scan_in_subprocess(tmp_path / "cache.sqlite", []).found == 0
