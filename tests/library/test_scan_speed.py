"""The fast paths of scanning and writing give the same results as the plain ones: parallel metadata reading,
batched cache rows, chunks that grow, one sync for many temp files, undone photos re-read in the I/O threads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from geotagger.geocore.library import safe_files, scanner, writer
from geotagger.geocore.library.api import Library
from tests.photo_factory import make_jpeg


def _folder(root: Path) -> Path:
    photos = root / "photos"
    for index in range(7):
        make_jpeg(photos / f"sub{index % 2}" / f"IMG_{index}.JPG", size=(32, 24), color_seed=index,
                  gps=(45.0 + index, 7.0) if index % 3 == 0 else None)
    (photos / "sub0" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (photos / "sub1" / "empty.jpg").write_bytes(b"")
    odd = os.fsdecode(b"caf\xe9.jpg")  # not UTF-8: stored as the OS bytes
    make_jpeg(photos / "sub1" / odd, size=(32, 24), color_seed=99)
    (photos / "sub1" / "IMG_1.JPG.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    return photos


def _rows(library: Library) -> list[tuple]:
    return [(p.path, p.size, p.mtime_ns, p.head_hash, p.kind, p.width, p.height, p.gps_lat, p.sidecar_mtime_ns,
             p.error_kind, p.error) for p in library.photos()]


def test_parallel_reading_stores_exactly_what_reading_here_stores(tmp_path, monkeypatch) -> None:
    photos = _folder(tmp_path)
    with Library(tmp_path / "here.sqlite3") as library:
        here = library.scan([photos])
        rows_here = _rows(library)
    monkeypatch.setattr(scanner, "PARALLEL_MIN_FILES", 1)
    monkeypatch.setattr(scanner, "READ_CHUNK_FILES", 2)
    monkeypatch.setattr(scanner, "_readers", lambda: 2)
    monkeypatch.setattr(scanner, "STORE_ROWS", 3)  # several transactions
    seen: list[int] = []
    with Library(tmp_path / "parallel.sqlite3") as library:
        parallel = library.scan([photos], progress=lambda done, _total, _path: seen.append(done))
        rows_parallel = _rows(library)
    assert rows_parallel == rows_here and len(rows_here) == 10
    assert (parallel.new, parallel.issues) == (here.new, here.issues) and here.new == 10
    assert seen == list(range(1, 11))
    assert len(here.issues) == 2  # the broken and the empty file, with their reasons


def test_parallel_scan_cancelled_from_progress_stops_there(tmp_path, monkeypatch) -> None:
    import threading

    photos = _folder(tmp_path)
    monkeypatch.setattr(scanner, "PARALLEL_MIN_FILES", 1)
    monkeypatch.setattr(scanner, "READ_CHUNK_FILES", 4)
    monkeypatch.setattr(scanner, "_readers", lambda: 2)
    cancel = threading.Event()
    with Library(tmp_path / "lib.sqlite3") as library:
        report = library.scan([photos], progress=lambda done, _t, _p: done == 3 and cancel.set(), cancel=cancel)
        assert report.cancelled and report.new == 3 and len(library.photos()) == 3


def test_batched_rescan_counts_changes_sidecars_and_files_back(tmp_path) -> None:
    photos = _folder(tmp_path)
    with Library(tmp_path / "lib.sqlite3") as library:
        library.scan([photos])
        first = library.photo_by_path(photos / "sub0" / "IMG_0.JPG")
        library.put_prediction(first.id, "m", "k", {}, 1.0, 2.0, 3.0)
        make_jpeg(photos / "sub0" / "IMG_0.JPG", size=(40, 30), color_seed=50)  # new pixels: predictions go
        sidecar = photos / "sub1" / "IMG_1.JPG.xmp"
        os.utime(sidecar, ns=(sidecar.stat().st_mtime_ns + 10**9,) * 2)
        moved = photos / "sub0" / "IMG_2.JPG"
        moved.rename(tmp_path / "away.jpg")
        gone = library.scan([photos])
        (tmp_path / "away.jpg").rename(moved)
        back = library.scan([photos])
        assert (gone.changed, gone.sidecar_changed, gone.missing) == (1, 1, 1)
        assert (back.changed, back.unchanged) == (1, 9)
        assert library.predictions(first.id) == []


def test_chunks_grow_and_stay_within_their_bytes(tmp_path, monkeypatch) -> None:
    jobs = [writer.FileJob(tmp_path / f"{i}.jpg", lambda data: [],
                           identity=writer.Identity(1000, 0, "")) for i in range(400)]
    assert [len(c) for c in writer.byte_chunks(jobs)] == [16, 32, 64, 128, 128, 32]
    monkeypatch.setattr(writer, "CHUNK_BYTES", 10_000)
    assert {len(c) for c in writer.byte_chunks(jobs)} == {10}
    big = [writer.FileJob(tmp_path / "big.jpg", lambda data: [], identity=writer.Identity(10**9, 0, ""))] * 2
    assert [len(c) for c in writer.byte_chunks(big)] == [1, 1]


@pytest.mark.parametrize("syncfs_works", [True, False])
def test_sync_files_reports_each_file_it_could_not_make_durable(tmp_path, monkeypatch, syncfs_works) -> None:
    files = [tmp_path / f"{i}.bin" for i in range(3)]
    for path in files:
        path.write_bytes(b"x")
    calls: list[Path] = []
    monkeypatch.setattr(safe_files, "_syncfs", lambda path: calls.append(path) or syncfs_works)
    failures = safe_files.sync_files([*files, tmp_path / "gone.bin"])
    assert list(failures) == [tmp_path / "gone.bin"] and len(calls) == 1


def test_undo_leaves_the_cache_as_a_fresh_scan_would(tmp_path) -> None:
    photos = _folder(tmp_path)
    with Library(tmp_path / "lib.sqlite3") as library:
        library.scan([photos])
        targets = [p for p in library.photos() if p.error_kind is None]
        for photo in targets:
            library.propose(photo.id, 10.0, 20.0, 1.0, "manual", state="accepted")
        written = library.write_batch()
        assert not written.failed and len(written.written) == len(targets)
        undone = library.undo(written.batch_id)
        assert not undone.failed
        cached = _rows(library)
    with Library(tmp_path / "fresh.sqlite3") as fresh:
        fresh.scan([photos])
        assert _rows(fresh) == cached
