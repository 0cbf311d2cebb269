"""The list fills while a large scan runs: the scanning child stores rows in transactions of a few thousand, and
this poller, called from the scan's progress in the worker, sends the rows stored since its last look."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

POLL_EVERY_S = 3.0  # each look reads the folder's rows: rarely enough to stay cheap


class ScanStreamer:
    """Wraps a job's progress: every POLL_EVERY_S it emits rows of photos the cache has gained under `folders`."""

    def __init__(self, backend: Any, paths: list[Path], ctx: Any,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.backend = backend
        self.folders = [p for p in paths if p.is_dir()]
        self.ctx = ctx
        self.clock = clock
        self.sent: set[int] = set()
        self.last = clock()

    def progress(self, done: int, total: int, message: str = "") -> None:
        """The job's own progress, plus a look for new rows when it is time."""
        self.ctx.progress(done, total, message)
        if self.folders and self.clock() - self.last >= POLL_EVERY_S:
            self.poll()

    def poll(self) -> int:
        """Emit rows not sent yet; returns how many."""
        self.last = self.clock()
        library = self.backend.library
        fresh = [r.id for folder in self.folders for r in library.photos(folder=folder) if r.id not in self.sent]
        if not fresh:
            return 0
        self.sent.update(fresh)
        for item in self.backend.items(fresh):
            self.ctx.emit(item)
        self.last = self.clock()
        return len(fresh)
