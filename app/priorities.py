"""Process and thread priorities of the window's helpers (Linux nice values; elsewhere nothing happens).

Qt-free, so that the helper processes (the place-name lookups) import it without bringing Qt in: one place says
how far each kind of helper yields the CPU to the GUI thread.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

# Scanning, predicting, thumbnails and the like run at this nice level (Linux: per thread, inherited by the scan's
# child and onnxruntime's threads): on a busy machine the GUI thread then gets a core first and the window keeps
# pace. Modest on purpose: a worker holding the GIL must still be scheduled soon when the GUI thread waits for it.
BACKGROUND_NICE = 5

# The scan's child process (and its decode workers) and the place-name helper process run at this nice level: they
# share no GIL with the window, so they can yield the CPU further without the GUI thread ever waiting on them.
SCAN_CHILD_NICE = 10
HELPER_NICE = SCAN_CHILD_NICE

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


def lower_process_priority(nice: int) -> None:
    """Raise this whole process's nice value to `nice` (a helper process's initializer, where it was not born
    lowered)."""
    with contextlib.suppress(OSError, AttributeError):
        os.nice(max(0, nice - os.nice(0)))
