"""Where a chunk's per-file steps run: a thread pool for large files, the calling thread for small ones.

Threads pay when each step is long and releases the GIL for most of it (hashing or copying megabytes, an fsync
that waits for the disk). For small files every step is a few system calls in microseconds, each of which drops
and retakes the GIL; with four threads on two cores, undoing 1,000 45 kB photos made 222,000 futex calls and took
1.5 s of file steps where the same steps on one thread take 1.0 s (`benchmarks/write.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from typing import Any, TypeVar

T = TypeVar("T")

# A chunk whose files average less than this runs its file steps on the calling thread. 12 MP JPEGs (~5 MB) stay
# threaded: reading and hashing them releases the GIL long enough for threads to overlap.
THREADED_MEAN_FILE_BYTES = 1024 * 1024


class CallingThread:
    """The `map` of an Executor, run in order on the calling thread (the results, or the first exception raised,
    as `Executor.map` gives them)."""

    def map(self, fn: Callable[..., T], *iterables: Iterable[Any]) -> Iterator[T]:
        return iter([fn(*arguments) for arguments in zip(*iterables, strict=True)])


FileSteps = Executor | CallingThread  # what runs a chunk's file steps


def threads_pay(sizes: Iterable[int]) -> bool:
    """Whether files of these sizes are large enough for threads to pay."""
    sizes = list(sizes)
    return bool(sizes) and sum(sizes) >= THREADED_MEAN_FILE_BYTES * len(sizes)


def for_files(pool: Executor, sizes: Iterable[int]) -> FileSteps:
    """`pool` when the files of these sizes are large enough for threads to pay, else the calling thread."""
    return pool if threads_pay(sizes) else CallingThread()
