"""The list fills while a large scan runs: the scanning child stores rows in transactions of a few thousand, and
this poller, called from the scan's progress in the worker, sends the rows stored since its last look."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from geotagger.app.items import PhotoItem
from geotagger.app.priorities import SCAN_CHILD_NICE, lower_children_priority

POLL_EVERY_S = 1.0  # each look reads only the rows added since the last one (ids grow as the child inserts)
# Rows are built this many at a time and sent before the next are built: thousands of rows built at once give the
# cyclic collector full passes of 100 ms (holding the GIL, so stalling the GUI thread); the window freezes what
# it has listed after each batch, so a pass only ever walks the few hundred rows in flight.
ROWS_PER_PASS = 250


class ScanStreamer:
    """Wraps a job's progress: every POLL_EVERY_S it emits rows of photos the cache has gained under `folders`,
    and remembers what it sent so that the scan's end sends only rows that are new or changed."""

    def __init__(self, backend: Any, paths: list[Path], ctx: Any,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.backend = backend
        self.folders = [p for p in paths if p.is_dir()]
        self.ctx = ctx
        self.clock = clock
        self.sent: dict[int, PhotoItem] = {}  # photo id -> the row as sent
        self.last_id = 0  # the highest photo id seen: the next look reads only rows after it
        self.last = clock()
        self.children_niced = 0

    def progress(self, done: int, total: int, message: str = "") -> None:
        """The job's own progress, plus a look for new rows when it is time (and the scan child's priority)."""
        self.ctx.progress(done, total, message)
        if self.children_niced < 2:  # its first report, and a second look for the decode workers it starts later
            self.children_niced += 1
            lower_children_priority(SCAN_CHILD_NICE)
        if self.folders and self.clock() - self.last >= POLL_EVERY_S:
            self.poll()
            lower_children_priority(SCAN_CHILD_NICE)

    def poll(self) -> int:
        """Emit rows not sent yet; returns how many."""
        self.last = self.clock()
        library = self.backend.library
        found = [r.id for folder in self.folders for r in library.photos(folder=folder, after_id=self.last_id)]
        fresh = [photo_id for photo_id in dict.fromkeys(found) if photo_id not in self.sent]
        if not fresh:
            return 0
        self.last_id = max(self.last_id, *fresh)
        self.send_ids(fresh)
        self.last = self.clock()
        return len(fresh)

    def send_ids(self, photo_ids: list[int], changed_only: bool = False) -> int:
        """Build and emit the rows of these photos, a few hundred at a time, remembering them by photo id;
        `changed_only`: skip rows that are the same as sent. Returns how many were sent."""
        count = 0
        for start in range(0, len(photo_ids), ROWS_PER_PASS):
            for item in self.backend.items(photo_ids[start:start + ROWS_PER_PASS]):
                if changed_only and item.record is not None and self.sent.get(item.record.id) == item:
                    continue
                if item.record is not None:
                    self.sent[item.record.id] = item
                self.ctx.emit(item)
                count += 1
        return count

    def finish(self, photo_ids: list[int], changed: set[int]) -> int:
        """The scan's end: send the rows never sent and those `changed` since (neighbour proposals), skipping
        any whose row is the same as sent; returns how many were sent."""
        wanted = [photo_id for photo_id in photo_ids if photo_id not in self.sent or photo_id in changed]
        return self.send_ids(wanted, changed_only=True)
