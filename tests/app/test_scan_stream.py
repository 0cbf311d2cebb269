"""A large scan keeps the window responsive: rows stream from the cache as it grows (each photo once, only the new
rows read), the scan's end sends only rows that changed, the status-bar tally is kept without walking the rows,
and background work runs at a lower priority than the GUI thread."""

from __future__ import annotations

import os
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from geotagger.app.backend import Backend
from geotagger.app.items import PhotoItem, PhotoTableModel
from geotagger.app.priorities import lower_thread_priority
from geotagger.app.scan_stream import ScanStreamer
from geotagger.app.settings import Settings
from tests.photo_factory import make_jpeg

PARIS = (48.8584, 2.2945)
TAKEN = datetime(2023, 5, 1, 12, 0, 0)


class _Ctx:
    def __init__(self) -> None:
        self.emitted: list[PhotoItem] = []
        self.progressed: list[int] = []

    def progress(self, done: int, total: int, message: str = "") -> None:
        self.progressed.append(done)

    def emit(self, item: PhotoItem) -> None:
        self.emitted.append(item)


def _names(items: list[PhotoItem]) -> list[str]:
    return [item.name for item in items]


def test_rows_stream_once_each_and_the_end_sends_only_what_changed(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    make_jpeg(root / "a" / "one.jpg", (64, 48), gps=PARIS, datetime_original=TAKEN, color_seed=1)
    make_jpeg(root / "a" / "two.jpg", (64, 48), datetime_original=TAKEN + timedelta(minutes=5), color_seed=2)
    make_jpeg(root / "b" / "three.jpg", (64, 48), color_seed=3)
    backend = Backend(tmp_path / "data", Settings())
    try:
        ctx, now = _Ctx(), [0.0]
        streamer = ScanStreamer(backend, [root], ctx, clock=lambda: now[0])
        backend.library.scan([root / "a"])  # the child has stored the first folder's rows
        streamer.progress(1, 3)
        assert ctx.emitted == []  # too soon for a look
        now[0] = 5.0
        streamer.progress(2, 3)
        assert _names(ctx.emitted) == ["one.jpg", "two.jpg"]
        backend.library.scan([root / "b"])
        now[0] = 10.0
        streamer.progress(3, 3)
        assert _names(ctx.emitted) == ["one.jpg", "two.jpg", "three.jpg"]  # the new row only, none twice
        assert ctx.progressed == [1, 2, 3]
        ids = [item.record.id for item in ctx.emitted]

        assert streamer.finish(ids, set()) == 0  # listed and unchanged: nothing is sent again
        placed = backend.session.sync_neighbours(photo_ids=ids).photo_ids
        assert streamer.finish(ids, set(placed)) == 1  # the time neighbour got a proposal
        assert ctx.emitted[-1].name == "two.jpg" and ctx.emitted[-1].state == "proposed"

        late = ScanStreamer(backend, [root], _Ctx())  # rows never streamed (a scan faster than one look)
        assert late.finish(ids, set()) == 3
    finally:
        backend.close()


def test_the_tally_follows_rows_as_they_come_and_change(qapp) -> None:
    model = PhotoTableModel()
    model.add_items([PhotoItem(Path("/p/a.jpg")), PhotoItem(Path("/p/b.jpg")),
                     PhotoItem(Path("/p/c.jpg"), state="has_gps", lat=1.0, lon=2.0)])
    assert +model.state_counts == {"scanned": 2, "has_gps": 1}
    model.set_item(0, PhotoItem(Path("/p/a.jpg"), state="proposed", lat=1.0, lon=2.0))
    model.add_items([PhotoItem(Path("/p/b.jpg"), state="error", error="broken")])  # a re-scan of a listed photo
    assert +model.state_counts == {"proposed": 1, "error": 1, "has_gps": 1}
    assert sum(model.state_counts.values()) == len(model.items) == model.rowCount() == 3
    model.clear_photos()
    assert +model.state_counts == {}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_background_threads_yield_to_the_gui_thread() -> None:
    seen: list[int] = []

    def work() -> None:
        lower_thread_priority(5)
        lower_thread_priority(5)  # once per thread: asking again changes nothing
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == [max(5, before)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before  # the calling thread is untouched


def test_full_collections_wait_while_jobs_run_and_resume_after() -> None:
    import gc

    from geotagger.app.window import FULL_COLLECTION_THRESHOLD, hold_full_collections

    before = gc.get_threshold()
    try:
        hold_full_collections(True)
        young, middle, full = gc.get_threshold()
        assert (young, middle) == before[:2] and full > 1000 * FULL_COLLECTION_THRESHOLD
        hold_full_collections(False)
        assert gc.get_threshold() == (*before[:2], FULL_COLLECTION_THRESHOLD)
    finally:
        gc.set_threshold(*before)
