"""Background jobs: workers in a QThreadPool never touch widgets; results come back through queued signals.

Writes go through a pool of exactly one thread so two writes never race on the same file.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from geotagger.app.priorities import lower_thread_priority

# Streaming results are sent in batches at most this often, so 10,000 files do not mean 10,000 GUI updates,
# and at most this big, so one batch never keeps the GUI thread busy for long.
BATCH_INTERVAL_S = 0.05
BATCH_MAX_ITEMS = 25
# At most this many batches wait in the GUI thread's queue: a worker faster than the GUI would otherwise pile up
# batches that the event loop then handles back to back, one long stall.
MAX_QUEUED_BATCHES = 1
class JobSignals(QObject):
    """Signals of one job; lives in the GUI thread so every slot runs there."""

    progress = Signal(int, int, str)  # done, total, message
    batch = Signal(list)  # partial results
    done = Signal(object)  # final result
    failed = Signal(str)  # a bug, not a per-file error (those are results)
    finished = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.free_slots = threading.Semaphore(MAX_QUEUED_BATCHES)

    @Slot(list)
    def batch_taken(self, _batch: list) -> None:
        """The GUI has handled a batch (connected after the consumer's slot)."""
        self.free_slots.release()


class JobContext:
    """Handed to the job's function: report progress, stream results, check for cancel."""

    def __init__(self, signals: JobSignals, cancel: threading.Event) -> None:
        self.signals = signals
        self.cancel_event = cancel
        self._pending: list[Any] = []
        self._last_flush = 0.0
        self._last_progress = 0.0

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Report progress, throttled so the GUI thread is not flooded."""
        now = time.monotonic()
        if done >= total or now - self._last_progress >= BATCH_INTERVAL_S:
            self._last_progress = now
            self.signals.progress.emit(done, total, message)

    def emit(self, result: Any) -> None:
        """Queue one partial result; they reach the GUI in batches."""
        self._pending.append(result)
        if len(self._pending) >= BATCH_MAX_ITEMS or time.monotonic() - self._last_flush >= BATCH_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        """Send queued partial results now."""
        if self._pending:
            while not self.signals.free_slots.acquire(timeout=0.1):
                if self.cancelled:  # the GUI may be gone or busy: do not hang a cancelled job
                    return
            batch, self._pending = self._pending, []
            self.signals.batch.emit(batch)
        self._last_flush = time.monotonic()


class Job(QRunnable):
    """Runs `function(context)` off the GUI thread; its return value arrives through `signals.done`."""

    def __init__(self, function: Callable[[JobContext], Any], name: str = "") -> None:
        super().__init__()
        self.setAutoDelete(False)  # the window keeps a reference for Cancel
        self.function = function
        self.name = name
        self.cancel_event = threading.Event()
        self.signals = JobSignals()
        self.context = JobContext(self.signals, self.cancel_event)
        self.running = True
        self.final_message = ""  # the status bar's last word on this job, set from its done slot
        self.nice = 0  # BACKGROUND_NICE for work the user does not wait on (set by whoever starts the job)

    def cancel(self) -> None:
        """Ask the job to stop at its next check."""
        self.cancel_event.set()

    def run(self) -> None:
        if self.nice:
            lower_thread_priority(self.nice)
        try:
            result = self.function(self.context)
            self.context.flush()
            self.signals.done.emit(result)
        except Exception:  # a bug in a job must reach the user, not kill the thread silently
            self.context.flush()
            self.signals.failed.emit(traceback.format_exc(limit=6))
        finally:
            self.running = False
            self.signals.finished.emit()


class Pools:
    """The app's thread pools: general work (scan, predict, thumbnails) and a single writer."""

    def __init__(self, workers: int | None = None) -> None:
        self.work = QThreadPool()
        if workers:
            self.work.setMaxThreadCount(workers)
        self.writer = QThreadPool()
        self.writer.setMaxThreadCount(1)
        self.thumbnails = QThreadPool()
        self.thumbnails.setMaxThreadCount(1)

    def wait(self, timeout_ms: int = 30_000) -> None:
        """Block until every pool is idle (used at shutdown)."""
        for pool in (self.work, self.writer, self.thumbnails):
            pool.waitForDone(timeout_ms)
