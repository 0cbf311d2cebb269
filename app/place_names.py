"""Offline place names for the window, looked up in a helper process.

Naming a photo is Python work (about 0.1 ms each, 20,000 of them after a large scan) and loading GeoNames takes a
second or two; in a thread of the window's own process both hold the GIL that the GUI thread needs, and the window
froze for 100-600 ms at a time while a large folder was scanned (benchmarks/ui_stall.py). In a child process they
share nothing with the window but a pipe. Where no child can be started, the names are looked up here instead.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from geotagger.app.priorities import HELPER_NICE, lower_process_priority, lower_thread_priority


def place_texts(points: list[tuple[float, float]], short: bool = False) -> list[str]:
    """'City, State, Country' for each (lat, lon) ('' at sea or far from any place; a state named as its city is
    said once); `short`: 'City, CC'."""
    from geotagger.geocore.library.places import place_names

    texts = []
    for place in place_names(points):
        parts = (place.city or place.country, place.country_code if place.city else "") if short else (
            place.city, place.state, place.country)
        shown: list[str] = []
        for part in parts:
            if part and (not shown or part != shown[-1]):  # "Lisbon, Portugal", not "Lisbon, Lisbon, Portugal"
                shown.append(part)
        texts.append(", ".join(shown))
    return texts


class PlaceNamer:
    """Looks place names up in one helper process, started on first use and kept for the session; thread-safe
    (callers are worker threads, each waiting on its own answer without holding the GIL)."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._in_process = False  # the child could not be started or died: look names up here from now on

    def texts(self, points: list[tuple[float, float]], short: bool = False) -> list[str]:
        """As `place_texts`, computed in the helper process."""
        if not points:
            return []
        with self._lock:
            if not self._in_process and self._pool is None:
                try:
                    self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                                     initializer=lower_process_priority, initargs=(HELPER_NICE,))
                except (OSError, ValueError):
                    self._in_process = True
            pool = self._pool
        if pool is not None:
            try:
                return pool.submit(place_texts, points, short).result()
            except (BrokenProcessPool, OSError, RuntimeError):  # killed, out of memory, or shut down meanwhile
                with self._lock:
                    self._in_process, self._pool = True, None
        return place_texts(points, short)

    def warm_up(self) -> None:
        """Start the helper and load GeoNames there now, from a thread: starting a process from this large one
        holds the GIL for tens of milliseconds, better spent while the window opens than during a scan."""
        threading.Thread(target=self._warm_up, name="place-names-warm-up", daemon=True).start()

    def _warm_up(self) -> None:
        # A child inherits the nice value of the thread that starts it (Linux): lowered from its first instruction,
        # its imports and the GeoNames load never compete with the window at the window's priority.
        lower_thread_priority(HELPER_NICE)
        self.texts([(0.0, 0.0)])

    def close(self) -> None:
        """Stop the helper process (a lookup in flight is dropped)."""
        with self._lock:
            pool, self._pool = self._pool, None
            self._in_process = True  # a job still running after the window closed gets its answer here
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
