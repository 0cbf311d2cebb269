"""Where a chunk's file steps run: on the calling thread for small files, in the I/O threads for large ones, with
the same results and the same errors either way."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from geotagger.geocore.library import executors, writer
from geotagger.geocore.library.api import Library
from tests.photo_factory import make_jpeg


def test_small_files_run_on_the_calling_thread_and_large_ones_in_the_pool() -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert executors.for_files(pool, [executors.THREADED_MEAN_FILE_BYTES * 2, 10]) is pool  # mean over 1 MiB
        assert isinstance(executors.for_files(pool, [executors.THREADED_MEAN_FILE_BYTES - 1] * 3),
                          executors.CallingThread)
        assert isinstance(executors.for_files(pool, []), executors.CallingThread)


def test_the_calling_thread_maps_in_order_and_raises_as_a_pool_does() -> None:
    calling = executors.CallingThread()
    assert list(calling.map(lambda a, b: a * b, [1, 2, 3], [4, 5, 6])) == [4, 10, 18]

    def fails_on_two(value: int) -> int:
        if value == 2:
            raise OSError("boom")
        return value

    with ThreadPoolExecutor(max_workers=2) as pool, pytest.raises(OSError, match="boom"):
        list(pool.map(fails_on_two, [1, 2, 3]))
    with pytest.raises(OSError, match="boom"):
        list(calling.map(fails_on_two, [1, 2, 3]))


@pytest.mark.parametrize("threaded", [False, True])
def test_write_and_undo_give_the_same_bytes_on_either_path(tmp_path: Path, monkeypatch, threaded: bool) -> None:
    """Both paths write, read back and restore every file exactly; only the threads doing it differ."""
    monkeypatch.setattr(executors, "THREADED_MEAN_FILE_BYTES", 1 if threaded else 1 << 40)
    threads: set[str] = set()
    write_temp = writer.SafeWriter._write_temp_file

    def recording(self: writer.SafeWriter, item: object) -> None:
        threads.add(threading.current_thread().name)
        write_temp(self, item)  # type: ignore[arg-type]

    monkeypatch.setattr(writer.SafeWriter, "_write_temp_file", recording)
    folder = tmp_path / "photos"
    paths = [make_jpeg(folder / f"p{i}.jpg", size=(96, 64), color_seed=i) for i in range(5)]
    before = {path: path.read_bytes() for path in paths}
    library = Library(tmp_path / "lib.sqlite3")
    library.scan([folder])
    for path in paths:
        library.set_manual(library.photo_by_path(path).id, 10.0, 20.0)
    report = library.write_batch()
    assert report.failed == [] and len(report.written) == 5
    assert all(path.read_bytes() != before[path] for path in paths)
    assert library.undo(report.batch_id).failed == []
    assert all(path.read_bytes() == before[path] for path in paths)
    on_calling_thread = threads == {threading.current_thread().name}
    assert on_calling_thread is not threaded
    library.close()
