"""Walking folders for photos and bringing the cache up to date; a rescan of unchanged files only stats them."""

from __future__ import annotations

import hashlib
import multiprocessing
import multiprocessing.context
import os
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from geotagger.geocore.library import db as schema
from geotagger.geocore.library.errors import ErrorKind, LibraryError, error_from_os
from geotagger.geocore.library.formats import SNIFF_BYTES, Kind, is_photo_name, sniff
from geotagger.geocore.library.metadata import PhotoMetadata, read_metadata

HEAD_BYTES = 64 * 1024
ProgressCallback = Callable[[int, int, str], None]
STORE_ROWS = 2000  # rows per cache transaction: a commit is an fsync (synchronous=FULL)
READ_CHUNK_FILES = 200  # files per task given to a reading process
PARALLEL_MIN_FILES = 1000  # fewer files are read in this process: starting the readers would cost more
MAX_READERS = 4


@dataclass(frozen=True)
class ScanIssue:
    """A problem met while scanning: `kind` is an ErrorKind value or 'symlink_loop'."""

    path: str
    kind: str
    reason: str


@dataclass
class ScanReport:
    """Counts of one scan plus every per-file and per-folder problem."""

    found: int = 0
    new: int = 0
    changed: int = 0
    sidecar_changed: int = 0
    unchanged: int = 0
    missing: int = 0
    issues: list[ScanIssue] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0


@dataclass(frozen=True)
class FoundFile:
    """A photo file met by the walk, with its stat and the newest mtime of its sidecars."""

    path: str
    size: int
    mtime_ns: int
    sidecar_mtime_ns: int | None
    sidecars_listed: bool = False  # True: the walk listed the folder, so sidecar_mtime_ns None means "none"


def head_hash(path: Path | str) -> tuple[str, bytes]:
    """(hex digest of the first 64 KiB, those bytes): the identity check of a file."""
    with open(path, "rb") as handle:
        head = handle.read(HEAD_BYTES)
    return hashlib.blake2b(head, digest_size=16).hexdigest(), head


def listed_sidecar_mtimes(entries: list[os.DirEntry]) -> dict[str, int]:
    """Lower-cased .xmp names in one folder -> mtime_ns."""
    mtimes = {}
    for entry in entries:
        if entry.name.lower().endswith(".xmp"):
            try:
                mtimes[entry.name.lower()] = entry.stat().st_mtime_ns
            except OSError:
                continue
    return mtimes


def listed_sidecar_mtime(name: str, sidecars: dict[str, int]) -> int | None:
    """The newest mtime of the sidecars of photo `name` in a folder's listed_sidecar_mtimes (any case)."""
    lower = name.lower()
    candidates = (lower + ".xmp", lower.rsplit(".", 1)[0] + ".xmp")
    found = [sidecars[c] for c in candidates if c in sidecars]
    return max(found) if found else None


def _list_folder(folder: str, issues: list[ScanIssue]) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as iterator:
            return list(iterator)
    except OSError as exc:
        error = error_from_os(exc, folder)
        issues.append(ScanIssue(folder, error.kind.value, f"folder not readable: {error.reason}"))
        return []


def walk_photos(folders: Iterable[Path | str], issues: list[ScanIssue], include_hidden: bool = False,
                cancel: threading.Event | None = None) -> Iterator[FoundFile]:
    """Photos under `folders` (recursively, following symlinks once); loops and unreadable folders become issues."""
    visited: set[tuple[int, int]] = set()
    stack = [os.path.abspath(folder) for folder in reversed(list(folders))]
    while stack and not (cancel is not None and cancel.is_set()):
        folder = stack.pop()
        try:
            info = os.stat(folder)
        except OSError as exc:
            issues.append(ScanIssue(folder, error_from_os(exc, folder).kind.value, "folder not found or not readable"))
            continue
        if (info.st_dev, info.st_ino) in visited:
            issues.append(ScanIssue(folder, "symlink_loop", "folder already visited (symlink loop or duplicate)"))
            continue
        visited.add((info.st_dev, info.st_ino))
        entries = _list_folder(folder, issues)
        sidecars = listed_sidecar_mtimes(entries)
        subfolders = []
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith(".") and not include_hidden:
                continue
            try:
                if entry.is_dir():
                    subfolders.append(entry.path)
                elif is_photo_name(entry.name):
                    st = entry.stat()
                    if stat.S_ISREG(st.st_mode):
                        sidecar_mtime_ns = listed_sidecar_mtime(entry.name, sidecars)
                        yield FoundFile(entry.path, st.st_size, st.st_mtime_ns, sidecar_mtime_ns, sidecars_listed=True)
            except OSError as exc:
                issues.append(ScanIssue(entry.path, error_from_os(exc, entry.path).kind.value, str(exc)))
        stack.extend(reversed(subfolders))


def inspect_file(found: FoundFile, known_head: tuple[str, bytes] | None = None) -> dict:
    """The cache row of one photo: identity, kind and metadata, or the typed error that prevented reading it.
    `known_head`: (hash, bytes) of the head of the file whose stat `found` holds, when the caller has just read
    them back itself (an undo); else the head is read here, consistent with a fresh stat."""
    row: dict = {"path": found.path, "size": found.size, "mtime_ns": found.mtime_ns,
                 "sidecar_mtime_ns": found.sidecar_mtime_ns, "scanned_ns": time.time_ns(),
                 "error_kind": None, "error": None, "kind": None, "head_hash": None}
    meta = PhotoMetadata()
    try:
        row["head_hash"], head = known_head if known_head is not None else _consistent_head_hash(found.path, row)
        kind = sniff(head[:SNIFF_BYTES], Path(found.path).suffix)
        row["kind"] = kind.value
        if row["size"] == 0:
            raise LibraryError(ErrorKind.CORRUPT, found.path, "empty file")
        if kind is Kind.UNKNOWN:
            raise LibraryError(ErrorKind.UNSUPPORTED, found.path, "not a recognised image format")
        meta = read_metadata(Path(found.path), kind, head=head,
                             sidecars=found.sidecar_mtime_ns is not None or not found.sidecars_listed)
        if meta.warnings:  # readable, so no error kind: the note goes with the photo (per-file report)
            row["error"] = "; ".join(meta.warnings)
    except LibraryError as exc:
        row["error_kind"], row["error"] = exc.kind.value, exc.reason
    except OSError as exc:
        error = error_from_os(exc, found.path)
        row["error_kind"], row["error"] = error.kind.value, error.reason
    except (ArithmeticError, LookupError, TypeError, AttributeError, RecursionError, MemoryError,
            EOFError) as exc:
        # What third-party parsers (Pillow, pillow-heif) raise on hostile bytes beyond their documented errors:
        # it costs this file, named with the reason, never the scan of the rest.
        meta = PhotoMetadata()
        row["error_kind"], row["error"] = ErrorKind.CORRUPT.value, f"unreadable metadata ({type(exc).__name__}: {exc})"
    row.update(capture_time=meta.capture_time, capture_offset=meta.capture_offset, make=meta.make,
               model=meta.model, orientation=meta.orientation, width=meta.width, height=meta.height,
               gps_lat=meta.gps.lat if meta.gps else None, gps_lon=meta.gps.lon if meta.gps else None,
               gps_alt_m=meta.gps.alt_m if meta.gps else None, gps_source=meta.gps_source)
    return row


def _consistent_head_hash(path: str, row: dict) -> tuple[str, bytes]:
    """Head hash with the size and mtime of the very bytes it hashed (stored in `row`).

    The walk's stat can be minutes old when the file is read (a write may have replaced it meanwhile): an identity
    mixing the two would make the next write refuse the file as changed. A replace during the read is retried once.
    """
    for _attempt in range(2):
        before = os.stat(path)
        digest, head = head_hash(path)
        after = os.stat(path)
        if (before.st_size, before.st_mtime_ns, before.st_ino) == (after.st_size, after.st_mtime_ns, after.st_ino):
            break
    row["size"], row["mtime_ns"] = after.st_size, after.st_mtime_ns
    return digest, head


def _known_rows(connection: sa.Connection) -> dict[str, tuple[int, int, int, int | None, str | None, str | None]]:
    table = schema.photos
    query = sa.select(table.c.path, table.c.id, table.c.size, table.c.mtime_ns, table.c.sidecar_mtime_ns,
                      table.c.error_kind, table.c.error)
    return {row[0]: tuple(row[1:]) for row in connection.execute(query)}


def _change_of(previous: tuple | None, found: FoundFile, came_back: bool) -> str:
    """'new'; 'photo' (stale predictions and features go); 'reread' (a missing file back as it was, e.g. a drive
    plugged in again: re-read, predictions kept); or 'sidecar' (only a sidecar changed)."""
    if previous is None:
        return "new"
    if previous[1:3] != (found.size, found.mtime_ns):
        return "photo"
    return "reread" if came_back else "sidecar"


def inspect_many(found: list[FoundFile]) -> list[dict]:
    """inspect_file for each file (the task a reading process runs)."""
    return [inspect_file(one) for one in found]


def _readers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return min(cores, MAX_READERS)


def _pool_context() -> multiprocessing.context.BaseContext:
    """fork where it is safe (Linux, no other thread that could hold a lock at the fork), else spawn."""
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


Todo = list[tuple[FoundFile, int | None, str]]


def _inspected_chunks(todo: Todo, cancel: threading.Event | None) -> Iterator[tuple[Todo, list[dict]]]:
    """(chunk of `todo`, its cache rows) in order. Metadata reading is pure Python (GIL-bound), so a large scan
    is read by one process per core; a small one, or one whose readers cannot start or die, in this process."""
    chunks = [todo[start:start + READ_CHUNK_FILES] for start in range(0, len(todo), READ_CHUNK_FILES)]
    readers = _readers()
    if len(todo) < PARALLEL_MIN_FILES or readers < 2:
        yield from _inspected_here(chunks, cancel)
        return
    try:
        pool = ProcessPoolExecutor(max_workers=readers, mp_context=_pool_context())
        futures = [pool.submit(inspect_many, [found for found, _, _ in chunk]) for chunk in chunks]
    except OSError:
        yield from _inspected_here(chunks, cancel)
        return
    try:
        for index, (chunk, future) in enumerate(zip(chunks, futures, strict=True)):
            if cancel is not None and cancel.is_set():
                return
            try:
                rows = future.result()
            except (BrokenProcessPool, OSError):  # a reader killed (out of memory...): the rest is read here
                yield from _inspected_here(chunks[index:], cancel)
                return
            yield chunk, rows
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _inspected_here(chunks: list[Todo], cancel: threading.Event | None) -> Iterator[tuple[Todo, list[dict]]]:
    """One file at a time, so that a cancel (from the progress callback too) stops before the next file."""
    for chunk in chunks:
        for item in chunk:
            if cancel is not None and cancel.is_set():
                return
            yield [item], [inspect_file(item[0])]


class Scanner:
    """Brings the `photos` table in line with the folders; stale predictions and features of changed files go."""

    def __init__(self, database: schema.Database) -> None:
        self.database = database

    def scan(self, folders: Iterable[Path | str], progress: ProgressCallback | None = None,
             cancel: threading.Event | None = None, include_hidden: bool = False) -> ScanReport:
        """Scan `folders` recursively; returns counts and issues (never raises for a bad file or folder)."""
        started = time.perf_counter()
        report = ScanReport()
        roots = [os.path.abspath(f) for f in folders]
        files = list(walk_photos(roots, report.issues, include_hidden, cancel))
        # A walk cut short saw only some files: the rest must not be marked missing (that drops their predictions)
        report.cancelled = cancel is not None and cancel.is_set()
        report.found = len(files)
        with self.database.engine.connect() as connection:
            known = _known_rows(connection)
        todo = []
        for found in files:
            previous = known.get(found.path)
            came_back = previous is not None and previous[4] == ErrorKind.NOT_FOUND.value
            if previous is not None and not came_back and previous[1:4] == (
                    found.size, found.mtime_ns, found.sidecar_mtime_ns):
                report.unchanged += 1
                if previous[4]:
                    # The reason found when it was read, not a vaguer one: the file has not changed since.
                    report.issues.append(ScanIssue(found.path, previous[4], previous[5] or "unreadable"))
            else:
                todo.append((found, previous[0] if previous else None, _change_of(previous, found, came_back)))
        self._read_and_store(todo, report, progress, cancel)
        self._mark_missing(roots, {f.path for f in files}, known, report)
        report.seconds = time.perf_counter() - started
        return report

    def _read_and_store(self, todo: list[tuple[FoundFile, int | None, str]], report: ScanReport,
                        progress: ProgressCallback | None, cancel: threading.Event | None) -> None:
        pending: list[tuple[dict, int | None, str]] = []
        done = 0
        for chunk, rows in _inspected_chunks(todo, cancel):
            if cancel is not None and cancel.is_set():
                break
            for (found, photo_id, change), row in zip(chunk, rows, strict=True):
                if cancel is not None and cancel.is_set():
                    break
                if row["error_kind"]:
                    report.issues.append(ScanIssue(found.path, row["error_kind"], row["error"]))
                pending.append((row, photo_id, change))
                done += 1
                if progress is not None:
                    progress(done, len(todo), found.path)
            if len(pending) >= STORE_ROWS:
                self._store(pending, report)
                pending = []
        report.cancelled = report.cancelled or done < len(todo)
        self._store(pending, report)

    def _store(self, pending: list[tuple[dict, int | None, str]], report: ScanReport) -> None:
        """One transaction, one executemany per kind of change (a row at a time costs ~25x more)."""
        if not pending:
            return
        table = schema.photos
        new = [row for row, photo_id, _change in pending if photo_id is None]
        same_pixels = [{**row, "b_id": photo_id} for row, photo_id, change in pending
                       if photo_id is not None and change != "photo"]  # predictions and features still hold
        changed = [{**row, "thumbnail_path": None, "b_id": photo_id} for row, photo_id, change in pending
                   if photo_id is not None and change == "photo"]
        update = sa.update(table).where(table.c.id == sa.bindparam("b_id"))
        with self.database.write_lock, self.database.engine.begin() as connection:
            if new:
                connection.execute(sa.insert(table), new)
            for rows in (same_pixels, changed):
                if rows:
                    connection.execute(update, rows)
            stale_ids = [row["b_id"] for row in changed]
            for start in range(0, len(stale_ids), STORE_ROWS):
                some = stale_ids[start:start + STORE_ROWS]
                for stale in (schema.predictions, schema.features):
                    connection.execute(sa.delete(stale).where(stale.c.photo_id.in_(some)))
        sidecar_only = sum(1 for _row, photo_id, change in pending if photo_id is not None and change == "sidecar")
        report.new += len(new)
        report.sidecar_changed += sidecar_only
        report.changed += len(same_pixels) - sidecar_only + len(changed)

    def _mark_missing(self, folders: list[str], seen: set[str], known: dict, report: ScanReport) -> None:
        prefixes = tuple(folder.rstrip(os.sep) + os.sep for folder in folders)
        gone = [path for path in known if path.startswith(prefixes) and path not in seen]
        if report.cancelled or not gone:
            return
        report.missing = len(gone)
        table = schema.photos
        with self.database.write_lock, self.database.engine.begin() as connection:
            connection.execute(sa.update(table).where(table.c.path.in_(gone)).values(
                error_kind=ErrorKind.NOT_FOUND.value, error="file no longer found"))  # identity kept: see _change_of
