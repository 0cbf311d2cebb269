"""Background jobs: workers in a QThreadPool never touch widgets; results come back through queued signals.

Writes go through a pool of exactly one thread so two writes never race on the same file.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

# Streaming results are sent in batches at most this often, so 10,000 files do not mean 10,000 GUI updates,
# and at most this big, so one batch never keeps the GUI thread busy for long.
BATCH_INTERVAL_S = 0.05
BATCH_MAX_ITEMS = 25
# At most this many batches wait in the GUI thread's queue: a worker faster than the GUI would otherwise pile up
# batches that the event loop then handles back to back, one long stall.
MAX_QUEUED_BATCHES = 1
# Scanning, predicting, thumbnails and the like run at this nice level (Linux: per thread, inherited by the scan's
# child and onnxruntime's threads): on a busy machine the GUI thread then gets a core first and the window keeps
# pace. Modest on purpose: a worker holding the GIL must still be scheduled soon when the GUI thread waits for it.
BACKGROUND_NICE = 5

# The scan's child process (and its decode workers) run at this nice level: it shares no GIL with the window, so
# it can yield the CPU further without the GUI thread ever waiting on it.
SCAN_CHILD_NICE = 10

# QtWebEngine's helper processes (the map's renderer and its software GPU process) run at this nice level: they
# are the window's own children, at its priority, and while a large scan redraws thousands of markers they took the
# cores the GUI thread needed (worst stall at 20,000 photos 64-110 ms, 33-49 ms with them lowered; ui_stall.py).
WEB_ENGINE_NICE = 5
WEB_ENGINE_COMM = "QtWebEngineProc"  # /proc/PID/comm holds the first 15 bytes of "QtWebEngineProcess"

_thread_state = threading.local()


def lower_children_priority(nice: int) -> int:
    """Raise to `nice` the nice value of every thread of every process the calling thread started, and of their
    descendants (Linux /proc; elsewhere nothing). Threads they start later inherit it. Returns how many threads
    were lowered."""
    if not sys.platform.startswith("linux"):
        return 0
    # a kernel without the children file lists none: the child keeps our priority
    started = _children(f"/proc/self/task/{threading.get_native_id()}/children")
    return sum(_raise_nice(tasks, nice) for _, tasks in _process_tree(started))


def lower_web_engine_priority(nice: int = WEB_ENGINE_NICE) -> int:
    """Raise to `nice` every thread of this process's QtWebEngine helper processes (the zygote forks renderers
    later: they inherit it). Linux /proc; elsewhere nothing. Returns how many threads."""
    if not sys.platform.startswith("linux"):
        return 0
    started = [pid for task in _listdir("/proc/self/task") for pid in _children(f"/proc/self/task/{task}/children")]
    return sum(_raise_nice(tasks, nice) for pid, tasks in _process_tree(started) if _comm(pid) == WEB_ENGINE_COMM)


def _process_tree(pids: list[int]) -> Iterator[tuple[int, list[str]]]:
    """(pid, its thread ids) of these processes and of all their descendants; processes that have ended are left
    out."""
    pending, seen = list(pids), set()
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        tasks = _listdir(f"/proc/{pid}/task")
        for task in tasks:
            pending += _children(f"/proc/{pid}/task/{task}/children")
        if tasks:
            yield pid, tasks


def _raise_nice(tasks: list[str], nice: int) -> int:
    """Raise these threads to `nice` where they are below it; how many were raised."""
    lowered = 0
    for task in tasks:
        try:
            if os.getpriority(os.PRIO_PROCESS, int(task)) < nice:
                os.setpriority(os.PRIO_PROCESS, int(task), nice)
                lowered += 1
        except (OSError, ValueError):  # ended meanwhile, or a sandbox that forbids it
            continue
    return lowered


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as handle:
            return handle.read().strip()
    except OSError:  # it has ended
        return ""


def _listdir(folder: str) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _children(children_file: str) -> list[int]:
    try:
        with open(children_file) as handle:
            return [int(pid) for pid in handle.read().split()]
    except (OSError, ValueError):
        return []


def lower_thread_priority(nice: int) -> None:
    """Raise the calling thread's nice value to `nice` (once per thread; Linux only, elsewhere nothing)."""
    if getattr(_thread_state, "nice", 0) >= nice or not sys.platform.startswith("linux"):
        return
    _thread_state.nice = nice
    try:
        thread_id = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread_id, max(nice, os.getpriority(os.PRIO_PROCESS, thread_id)))
    except OSError:  # a sandbox that forbids it: the job simply runs at normal priority
        pass


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
