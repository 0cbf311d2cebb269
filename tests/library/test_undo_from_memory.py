"""An undo reads the restored photos' cache rows from the bytes it has just read back and renamed (no second read of
each file), and those rows are exactly what reading the files from disk gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from geotagger.geocore.library import scanner
from geotagger.geocore.library.api import Library
from geotagger.geocore.library.scanner import FoundFile, inspect_file
from tests.photo_factory import make_jpeg

COMPARED = ("size", "mtime_ns", "head_hash", "kind", "error_kind", "error", "capture_time", "make", "model",
            "orientation", "width", "height", "gps_lat", "gps_lon", "gps_alt_m", "gps_source")


def test_undo_rows_come_from_memory_and_equal_a_fresh_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "photos"
    photos = [make_jpeg(folder / f"IMG_{index}.JPG", size=(64, 48), color_seed=index,
                        **({"gps": (12.5, -3.25)} if index == 1 else {}))
              for index in range(4)]
    originals = [p.read_bytes() for p in photos]
    library = Library(tmp_path / "cache.sqlite3")
    try:
        library.scan([folder])
        for path in photos:
            library.propose(library.photo_by_path(path).id, 45.5, 7.25, 0.1, "manual", state="accepted")
        written = library.write_batch()
        assert len(written.written) == 4
        reads: list[str] = []
        real = scanner._consistent_head_hash
        monkeypatch.setattr(scanner, "_consistent_head_hash", lambda path, row: reads.append(path) or real(path, row))
        undone = library.undo(batch_id=written.batch_id)
        assert len(undone.written) == 4 and not undone.failed
        assert reads == []  # every restored photo was read back from memory, none from the disk again
        monkeypatch.undo()
        assert [p.read_bytes() for p in photos] == originals
        for path in photos:
            record = library.photo_by_path(path)
            info = path.stat()
            fresh = inspect_file(FoundFile(str(path), info.st_size, info.st_mtime_ns, None))
            assert {name: getattr(record, name) for name in COMPARED} == {name: fresh[name] for name in COMPARED}
        assert library.photo_by_path(photos[1]).gps_lat == pytest.approx(12.5)
        rescan = library.scan([folder])
        assert rescan.unchanged == 4 and rescan.changed == 0, rescan
    finally:
        library.close()
