"""Safe file replacement with a journal: the part that must never destroy a photo.

Per file: identity check against the scan, patches computed in memory and verified, the journal row with
everything undo needs committed, then a temp file in the same folder (fsync, permissions, owner, mtime and
extended attributes kept, read back and compared), the backup if asked for (written the same way), a last
comparison of the file with the exact bytes we read, `os.replace`, and the folder fsync'd. Because the journal row
comes first, every temp file a crash leaves behind is known to `recover()`. Files go in chunks bounded by bytes
so the journal costs two commits per chunk rather than per file, and memory stays bounded whatever the file
sizes. A crash at any instant leaves each file original or fully written; `recover()` settles rows left pending.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from geotagger.geocore.library import db as schema
from geotagger.geocore.library import executors, journal
from geotagger.geocore.library.errors import CorruptMetadata, ErrorKind, LibraryError, NoRoom, error_from_os
from geotagger.geocore.library.journal import Outcome, WrittenState, batch_lock, sha256
from geotagger.geocore.library.journal import is_written_version as is_written_version
from geotagger.geocore.library.journal import recover as recover
from geotagger.geocore.library.patches import (
    Patch,
    apply_patches,
    encode_patches,
    patched_pieces,
    patches_match,
    pieces_equal,
)
from geotagger.geocore.library.safe_files import TEMP_SUFFIX as TEMP_SUFFIX
from geotagger.geocore.library.safe_files import (
    backup_path_for,
    copy_xattrs,
    fsync_folder,
    read_file,
    remove_quietly,
    same_content,
    sync_files,
    temp_path_for,
    write_file,
)
from geotagger.geocore.library.scanner import HEAD_BYTES

PREPARE_THREADS = 2  # reading, hashing and patching the next chunk while the current one is written
# I/O bound (write, fsync, read back): more threads than cores still overlap the waits. Chunks of small files run
# these steps on the calling thread instead (executors.for_files): there the threads only trade the GIL.
IO_THREADS = 4
# Files held in memory between the two journal commits of a chunk, and their bytes. Two chunks are in flight (one
# prepared, one written), so the bytes bound the memory: 128 MiB let 16 phone JPEGs take ~250 MiB. Many small
# files per chunk keep the commits and syncs few (each chunk costs two journal commits, a syncfs and a folder
# fsync): chunks start at CHUNK_FILES (progress shows early) and double up to MAX_CHUNK_FILES or CHUNK_BYTES.
CHUNK_FILES = 16
MAX_CHUNK_FILES = 128
CHUNK_BYTES = 16 * 1024 * 1024
# What the format parsers raise on malformed bytes: besides their own CorruptMetadata, a truncated structure can
# surface as struct.error or IndexError; all of them must become a typed per-file error, never end the batch.
PARSER_ERRORS = (CorruptMetadata, ValueError, struct.error, IndexError)


@dataclass(frozen=True)
class Identity:
    """What the scan saw: a file is only written if it still matches."""

    size: int
    mtime_ns: int
    head_hash: str


@dataclass
class FileJob:
    """One file to change: `make_patches(original_bytes)` says how; `verify(old, new)` raises if wrong."""

    path: Path
    make_patches: Callable[[bytes], list[Patch]]
    target: str = "photo"
    verify: Callable[[bytes, bytes], None] | None = None
    identity: Identity | None = None
    photo_id: int | None = None
    decision_id: int | None = None
    may_be_missing: bool = False
    mtime_ns: int | None = None  # give the result this mtime (undo puts back the original's)
    undoes_id: int | None = None  # the journal row an undo puts back
    restores_row: str | None = None  # that row's original_row: the cache row of the bytes an undo puts back


@dataclass
class FileResult:
    """Outcome for one file: ok, or a typed error with its reason."""

    path: Path
    target: str
    ok: bool
    error_kind: ErrorKind | None = None
    reason: str = ""
    photo_id: int | None = None
    decision_id: int | None = None
    journal_id: int | None = None
    state: WrittenState | None = None


@dataclass
class BatchReport:
    """Outcome of one batch: per-file results."""

    batch_id: str
    operation: str
    results: list[FileResult] = field(default_factory=list)
    dry_run: bool = False
    cancelled: bool = False

    @property
    def failed(self) -> list[FileResult]:
        """Results that are errors (nothing-to-do is not a failure)."""
        return [r for r in self.results if not r.ok and r.error_kind is not ErrorKind.NOTHING_TO_DO]

    @property
    def written(self) -> list[FileResult]:
        """Files changed successfully."""
        return [r for r in self.results if r.ok]


@dataclass
class _Prepared:
    job: FileJob
    original_sha256: str
    existed: bool
    original: bytes
    patches: list[Patch]
    mode: int
    mtime_ns: int
    size_uid_gid: tuple[int, int, int] | None = None  # of the original, None when it did not exist
    journal_id: int | None = None
    head_hash: str | None = None  # of the written file, once read back
    read_back: bool = False  # an undone photo whose temp file read back as exactly the new bytes
    written_stat: os.stat_result | None = None  # the file's stat just after the rename
    temp: Path | None = None  # temp_path_for(job.path), worked out once (it asks the file system for NAME_MAX)
    pieces: list[bytes | memoryview] | None = None  # patched_pieces(original, patches), views worked out once
    cache_row: dict | None = None  # an undone photo read again in the I/O thread (journal.Outcome.row)
    failed: FileResult | None = None  # its temp file could not be written or made durable
    temp_device: int | None = None  # st_dev of its temp file, as written (sync_files groups by file system)


def _fsync_folder(folder: Path) -> None:
    fsync_folder(folder)


def write_temp(path: Path, data: bytes | Sequence[bytes | memoryview], mode: int,
               times_ns: tuple[int, int] | None, owner: tuple[int, int] | None = None) -> os.stat_result:
    """Write `data` (bytes or pieces) to the temp file next to `path`, give it `mode`, times and owner; returns its
    stat. Not yet durable: a chunk's temp files are made durable together (sync_files) before any of them is read
    back or renamed."""
    return write_file(temp_path_for(path), data, mode, times_ns, sync=False, owner=owner)


def _expected_size(job: FileJob) -> int:
    if job.identity is not None:
        return job.identity.size
    try:
        return os.stat(job.path).st_size
    except OSError:
        return 0


def sized_chunks(jobs: Sequence[FileJob]) -> Iterator[tuple[list[FileJob], list[int]]]:
    """Consecutive chunks of at most CHUNK_FILES files (doubling up to MAX_CHUNK_FILES) and CHUNK_BYTES bytes, at
    least one file each, with each file's expected size (a stat for jobs without a scan identity: taken once)."""
    chunk: list[FileJob] = []
    sizes: list[int] = []
    held = 0
    limit = CHUNK_FILES
    for job in jobs:
        size = _expected_size(job)
        if chunk and (len(chunk) >= limit or held + size > CHUNK_BYTES):
            yield chunk, sizes
            chunk, sizes, held, limit = [], [], 0, min(2 * limit, MAX_CHUNK_FILES)
        chunk.append(job)
        sizes.append(size)
        held += size
    if chunk:
        yield chunk, sizes


def byte_chunks(jobs: Sequence[FileJob]) -> Iterator[list[FileJob]]:
    """The chunks of `sized_chunks` without their sizes."""
    return (chunk for chunk, _ in sized_chunks(jobs))


def _real_path(path: Path, folders: dict[Path, str]) -> Path:
    """One key per file whatever the way to it (symlinks, `..`): two jobs on it must never share a temp name.
    `folders`: the real paths of folders already resolved (realpath asks the file system once per component of
    the path; a batch's files share a few folders)."""
    if path.name in ("", ".", "..") or os.path.islink(path):
        return Path(os.path.realpath(path))
    folder = folders.get(path.parent)
    if folder is None:
        folder = folders[path.parent] = os.path.realpath(path.parent)
    return Path(folder, path.name)


class SafeWriter:
    """Runs FileJobs with full safety and journals them in `batch_id`."""

    def __init__(self, database: schema.Database, *, keep_mtime: bool = True, backup_originals: bool = False) -> None:
        self.database = database
        self.keep_mtime = keep_mtime
        self.backup_originals = backup_originals
        # Files are independent and the work is I/O, fsync and hashing (all release the GIL), so a few threads
        # overlap them; the journal stays on the calling thread, one writer.
        self._pool = ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="geotag-write")
        self._prepare_pool = ThreadPoolExecutor(max_workers=PREPARE_THREADS, thread_name_prefix="geotag-prepare")

    def close(self) -> None:
        """Stop the I/O threads."""
        self._pool.shutdown(wait=True)
        self._prepare_pool.shutdown(wait=True)

    def new_batch(self, operation: str) -> str:
        """Create a batch row; returns its id."""
        batch_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:8]
        with self.database.write_lock, self.database.engine.begin() as connection:
            connection.execute(sa.insert(schema.batches).values(id=batch_id, operation=operation,
                                                               created_ns=time.time_ns()))
        return batch_id

    def run(self, batch_id: str, jobs: Sequence[FileJob], dry_run: bool = False,
            progress: Callable[[int, int, str], None] | None = None,
            cancel: threading.Event | None = None) -> tuple[list[FileResult], bool]:
        """Run `jobs` chunk by chunk; returns (results, cancelled). Never raises for a single file.

        A file met twice (two photos sharing one sidecar) is done again after the others, on top of the first
        change, so each journal row describes the file as it really was.
        """
        seen: set[Path] = set()
        firsts: list[FileJob] = []
        repeats: list[FileJob] = []
        folders: dict[Path, str] = {}
        for job in jobs:
            real = _real_path(job.path, folders)
            (repeats if real in seen else firsts).append(job)
            seen.add(real)
        results, cancelled = self._run_pipelined(batch_id, firsts, dry_run, progress, cancel)
        if repeats and not cancelled:
            more, cancelled = self.run(batch_id, repeats, dry_run, progress, cancel)
            results += more
        return results, cancelled

    def _run_pipelined(self, batch_id: str, jobs: Sequence[FileJob], dry_run: bool,
                       progress: Callable[[int, int, str], None] | None,
                       cancel: threading.Event | None) -> tuple[list[FileResult], bool]:
        """Chunks go through prepare (read, hash, patch) while the previous chunk is being written."""
        with batch_lock(self.database, exclusive=False):
            return self._run_chunks(batch_id, jobs, dry_run, progress, cancel)

    def _run_chunks(self, batch_id: str, jobs: Sequence[FileJob], dry_run: bool,
                    progress: Callable[[int, int, str], None] | None,
                    cancel: threading.Event | None) -> tuple[list[FileResult], bool]:
        chunks = list(sized_chunks(jobs))
        results: list[FileResult] = []
        upcoming = self._start_prepares(*chunks[0], dry_run) if chunks else list
        for index, (chunk, _) in enumerate(chunks):
            if cancel is not None and cancel.is_set():
                return results, True
            outcomes = upcoming()
            upcoming = self._start_prepares(*chunks[index + 1], dry_run) if index + 1 < len(chunks) else list
            results += self._finish_chunk(batch_id, chunk, outcomes, dry_run)
            if progress is not None:
                progress(len(results), len(jobs), str(chunk[-1].path))
        return results, False

    def _start_prepares(self, jobs: Sequence[FileJob], sizes: list[int],
                        dry_run: bool) -> Callable[[], list[_Prepared | LibraryError]]:
        """Prepare a chunk (`sizes`: its files' expected sizes): large files on the prepare threads now, while the
        chunk before is written; small ones when asked, on the calling thread (their steps are microseconds of system
        calls, and threads would only trade the GIL: see executors)."""
        if not executors.threads_pay(sizes):
            return lambda: [self._try_prepare(job, dry_run) for job in jobs]
        futures = [self._prepare_pool.submit(self._try_prepare, job, dry_run) for job in jobs]
        return lambda: [future.result() for future in futures]

    def _finish_chunk(self, batch_id: str, jobs: Sequence[FileJob], outcomes: list[_Prepared | LibraryError],
                      dry_run: bool) -> list[FileResult]:
        results: dict[int, FileResult] = {}
        prepared: list[tuple[int, _Prepared]] = []
        for index, (job, outcome) in enumerate(zip(jobs, outcomes, strict=True)):
            if isinstance(outcome, LibraryError):
                results[index] = FileResult(job.path, job.target, False, outcome.kind, outcome.reason,
                                            job.photo_id, job.decision_id)
            else:
                prepared.append((index, outcome))
        if not dry_run and prepared:
            items = [item for _, item in prepared]
            pool = executors.for_files(self._pool, (len(item.original) for item in items))
            self._journal_pending(batch_id, items)
            list(pool.map(self._write_temp_file, items))
            self._make_durable(items)
            committed = pool.map(self._commit_file, items)
            for (index, _item), result in zip(prepared, committed, strict=True):
                results[index] = result
            for folder in {item.job.path.parent for _, item in prepared}:  # make the renames durable
                _fsync_folder(folder)
            self._reread_undone(pool, [item for index, item in prepared if results[index].ok])
            self._journal_states(batch_id, [_outcome(item, results[index]) for index, item in prepared
                                            if results[index].journal_id is not None])
        for index, item in prepared:
            results.setdefault(index, FileResult(item.job.path, item.job.target, True, None, "dry run",
                                                 item.job.photo_id, item.job.decision_id))
        return [results[i] for i in range(len(jobs))]

    def _reread_undone(self, pool: executors.FileSteps, items: list[_Prepared]) -> None:
        """The cache rows of photos an undo put back, read where the chunk's file steps ran (`pool`: the I/O threads
        for large files), with one sidecar listing per folder taken after all of the chunk's renames."""
        undone = [item for item in items
                  if item.job.undoes_id is not None and item.job.target == "photo" and item.job.photo_id is not None]
        listings = {folder: journal.sidecar_listing(folder) for folder in {item.job.path.parent for item in undone}}
        rows = pool.map(lambda item: _undone_row(item, listings[item.job.path.parent]), undone)
        for item, row in zip(undone, rows, strict=True):
            item.cache_row = row

    def _try_prepare(self, job: FileJob, dry_run: bool) -> _Prepared | LibraryError:
        try:
            if job.path.is_symlink():  # replacing the link itself would leave the real photo untouched
                job = dataclasses.replace(job, path=job.path.resolve())
            return self._prepare(job, dry_run)
        except LibraryError as exc:
            return exc

    def _read_original(self, job: FileJob) -> tuple[bytes, bool, os.stat_result | None]:
        """(bytes, existed, stat); checks identity against the scan."""
        try:
            data, info = read_file(job.path)
        except FileNotFoundError:
            if job.may_be_missing:
                return b"", False, None
            raise
        if job.identity is not None:
            same = (info.st_size, info.st_mtime_ns) == (job.identity.size, job.identity.mtime_ns)
            if not same or hashlib.blake2b(data[:HEAD_BYTES], digest_size=16).hexdigest() != job.identity.head_hash:
                raise LibraryError(ErrorKind.CHANGED, job.path, "file changed since it was scanned; rescan first")
        return data, True, info

    def _prepare(self, job: FileJob, dry_run: bool = False) -> _Prepared:
        """Read, identity-check and compute the patches (a dry run also verifies in memory); no disk writes."""
        try:
            original, existed, info = self._read_original(job)
            try:
                patches = job.make_patches(original)
                if not patches_match(original, patches):
                    raise VerifyError("patches overlap or do not match the file")
                if all(p.old == p.new for p in patches):
                    raise LibraryError(ErrorKind.NOTHING_TO_DO, job.path, "nothing to change")
                if dry_run and job.verify is not None:
                    job.verify(original, apply_patches(original, patches))
            except PARSER_ERRORS as exc:
                raise LibraryError(_error_kind(exc), job.path, str(exc) or type(exc).__name__) from None
            if info is None:
                return _Prepared(job, sha256(original), existed, original, patches, 0o644, time.time_ns())
            return _Prepared(job, sha256(original), existed, original, patches, info.st_mode & 0o7777,
                             info.st_mtime_ns, (info.st_size, info.st_uid, info.st_gid))
        except OSError as exc:
            raise error_from_os(exc, job.path) from None

    def _journal_pending(self, batch_id: str, items: list[_Prepared]) -> None:
        now = time.time_ns()
        rows = [{"batch_id": batch_id, "photo_id": item.job.photo_id, "decision_id": item.job.decision_id,
                 "path": str(item.job.path), "target": item.job.target, "state": "pending",
                 "original_existed": item.existed, "original_sha256": item.original_sha256, "written_sha256": None,
                 "patches": encode_patches(item.patches), "mode": item.mode, "mtime_ns": item.mtime_ns,
                 "created_ns": now, "updated_ns": now} for item in items]
        table = schema.journal
        # One statement for the chunk; RETURNING in parameter order gives each item its own row id
        insert = sa.insert(table).returning(table.c.id, sort_by_parameter_order=True)
        with self.database.write_lock, self.database.engine.begin() as connection:
            kept = [photo_id for photo_id in (_kept_photo_id(item.job) for item in items) if photo_id is not None]
            snapshots = journal.cache_snapshots(connection, kept)
            for row, item in zip(rows, items, strict=True):
                row["original_row"] = _kept_cache_row(item.job, snapshots)
            ids = connection.execute(insert, rows).scalars().all()
        for item, journal_id in zip(items, ids, strict=True):
            item.journal_id = journal_id

    def _write_temp_file(self, item: _Prepared) -> None:
        """The new bytes in the temp file with everything the file system keeps besides them (mode, owner, mtime,
        xattrs); a failure is kept in `item.failed`."""
        if _deletes(item):
            return
        job = item.job
        times = (item.mtime_ns, item.mtime_ns) if self.keep_mtime and item.existed else None
        if job.mtime_ns is not None:
            times = (job.mtime_ns, job.mtime_ns)
        try:
            owner = item.size_uid_gid[1:] if item.size_uid_gid is not None else None
            item.temp_device = write_temp(job.path, _pieces_of(item), item.mode, times, owner).st_dev
            if item.size_uid_gid is not None:
                copy_xattrs(job.path, _temp_of(item))
        except OSError as exc:
            item.failed = self._os_failure(item, exc)

    def _make_durable(self, items: list[_Prepared]) -> None:
        """fsync the chunk's temp files together (one syncfs per file system where it reports errors)."""
        temps = {_temp_of(item): item for item in items if item.failed is None and not _deletes(item)}
        devices = {temp: item.temp_device for temp, item in temps.items() if item.temp_device is not None}
        for temp, exc in sync_files(list(temps), devices).items():
            temps[temp].failed = self._os_failure(temps[temp], exc)

    def _os_failure(self, item: _Prepared, exc: OSError) -> FileResult:
        remove_quietly(_temp_of(item))
        job, error = item.job, error_from_os(exc, item.job.path)
        return FileResult(job.path, job.target, False, error.kind, error.reason, job.photo_id, job.decision_id,
                          item.journal_id)

    def _commit_file(self, item: _Prepared) -> FileResult:
        """Durable temp file read back, optional backup, last check, atomic replace."""
        if item.failed is not None:
            return item.failed
        job = item.job
        temp = _temp_of(item)
        try:
            if not _deletes(item):
                failure = self._check_temp(item, temp)
                if failure is not None:
                    return self._fail(item, failure.kind, failure.reason)
            if self.backup_originals and item.existed:
                _keep_backup(job.path, item)
            if _changed_meanwhile(job.path, item):
                return self._fail(item, ErrorKind.CHANGED, "file changed while being written; left as it was")
            if _deletes(item):
                job.path.unlink()
            else:
                os.replace(temp, job.path)
            return FileResult(job.path, job.target, True, None, "", job.photo_id, job.decision_id, item.journal_id,
                              self._new_state(item))
        except OSError as exc:
            remove_quietly(temp)
            error = error_from_os(exc, job.path)
            return FileResult(job.path, job.target, False, error.kind, error.reason, job.photo_id, job.decision_id,
                              item.journal_id)

    def _check_temp(self, item: _Prepared, temp: Path) -> LibraryError | None:
        """The temp file read back: exactly the new bytes, and the job's own check passes on them."""
        job = item.job
        pieces = _pieces_of(item)
        written, _ = read_file(temp)
        if not pieces_equal(written, pieces):
            return LibraryError(ErrorKind.VERIFY_FAILED, job.path, "temp file read back differs")
        failure = _verify_read_back(job, item.original, written)
        if failure is None:
            item.head_hash = hashlib.blake2b(written[:HEAD_BYTES], digest_size=16).hexdigest()
            item.read_back = job.undoes_id is not None and job.target == "photo"
        return failure

    def _fail(self, item: _Prepared, kind: ErrorKind, reason: str) -> FileResult:
        remove_quietly(_temp_of(item))
        job = item.job
        return FileResult(job.path, job.target, False, kind, reason, job.photo_id, job.decision_id, item.journal_id)

    def _new_state(self, item: _Prepared) -> WrittenState | None:
        if _deletes(item) or item.head_hash is None:
            return None
        try:
            info = os.stat(item.job.path)
        except OSError:  # the file is already replaced: failing now would journal it 'abandoned' and lose its undo
            return None  # the cache then re-reads it
        item.written_stat = info
        return WrittenState(info.st_size, info.st_mtime_ns, item.head_hash)

    def _journal_states(self, batch_id: str, outcomes: list[Outcome]) -> None:
        """Rows done or abandoned, decisions and the cache following them, in one transaction."""
        if not outcomes:
            return
        with self.database.settling() as connection:
            journal.settle(connection, batch_id, outcomes)


def _temp_of(item: _Prepared) -> Path:
    if item.temp is None:
        item.temp = temp_path_for(item.job.path)
    return item.temp


def _pieces_of(item: _Prepared) -> list[bytes | memoryview]:
    """The new file as pieces (views into the original), checked against the patches once per file."""
    if item.pieces is None:
        item.pieces = patched_pieces(item.original, item.patches)
    return item.pieces


def _read_back_state(item: _Prepared) -> tuple[os.stat_result, str] | None:
    """(stat after the rename, head hash) of an undone photo whose renamed temp file was read back and checked: the
    same trust the write path gives its new identity (WrittenState). None: read the file again."""
    if not item.read_back or item.head_hash is None or item.written_stat is None:
        return None
    return item.written_stat, item.head_hash


def _known_head(item: _Prepared) -> tuple[os.stat_result, str, bytes] | None:
    """_read_back_state with the head bytes themselves, for parsing them again without reading the file."""
    state = _read_back_state(item)
    if state is None:
        return None
    head = bytearray()
    for piece in _pieces_of(item):  # the bytes read back, without keeping a copy
        head += piece[: HEAD_BYTES - len(head)]
        if len(head) >= HEAD_BYTES:
            break
    return *state, bytes(head)


def _kept_photo_id(job: FileJob) -> int | None:
    """The photo whose cache row from before the job's journal row keeps (for its undo to put back): a photo
    changed in place after its scan identity was checked, not by an undo. None: the row keeps none."""
    return job.photo_id if job.target == "photo" and job.identity is not None and job.undoes_id is None else None


def _kept_cache_row(job: FileJob, snapshots: dict[int, dict]) -> str | None:
    """The photo's cache row as its journal row keeps it: only a row of the very bytes the job read and checked
    (its identity), so that an undo putting those bytes back may put the row back too."""
    photo_id, identity = _kept_photo_id(job), job.identity
    if photo_id is None or identity is None or photo_id not in snapshots:
        return None
    row = snapshots[photo_id]
    if (row["size"], row["mtime_ns"], row["head_hash"]) != (identity.size, identity.mtime_ns, identity.head_hash):
        return None  # the cache moved on meanwhile (another process rescanned): the undo reads the file instead
    return json.dumps(row)


def _undone_row(item: _Prepared, sidecars: dict[str, int] | None) -> dict | None:
    """The cache row of a photo an undo put back: the one kept from before the change when it still vouches for
    the file, else the file's bytes parsed again."""
    path = str(item.job.path)
    restored = journal.restored_row(item.job.restores_row, path, sidecars, _read_back_state(item))
    return restored if restored is not None else journal.reread_row(path, sidecars, _known_head(item))


def _outcome(item: _Prepared, result: FileResult) -> Outcome:
    assert result.journal_id is not None
    job = item.job
    return Outcome(result.journal_id, result.ok, job.photo_id, job.decision_id, job.target, job.undoes_id,
                   result.state, item.cache_row if result.ok else None)


def _backup_is_sound(backup: Path, original: bytes) -> bool:
    """An existing backup is kept unless it is a copy cut short (a strict prefix of the original: disk full or a
    crash during an older version's plain copy). A different one is an older original: the first one is kept."""
    try:
        size = os.stat(backup).st_size
    except FileNotFoundError:
        return False
    if size >= len(original):
        return True
    return not original.startswith(backup.read_bytes())


def _keep_backup(path: Path, item: _Prepared) -> None:
    """`NAME_original`, written like a photo: temp, fsync, compared with the bytes we read, then renamed."""
    backup = backup_path_for(path)
    if _backup_is_sound(backup, item.original):
        return
    temp = temp_path_for(backup)
    try:
        write_file(temp, item.original, item.mode, (item.mtime_ns, item.mtime_ns))
        if not same_content(temp, item.original):
            raise OSError(errno.EIO, "backup read back differs from the original")
        os.replace(temp, backup)
    except OSError as exc:
        remove_quietly(temp)
        raise OSError(exc.errno, f"backup {backup.name} not written: {exc.strerror or exc}") from exc


def _changed_meanwhile(path: Path, item: _Prepared) -> bool:
    """Last check just before the rename: the file is no longer exactly the bytes we read (another program
    saved it, even keeping its size and mtime), or a file we were to create now exists."""
    if not item.existed:
        return os.path.lexists(path)
    info = os.stat(path)
    if item.size_uid_gid is None or (info.st_size, info.st_mtime_ns) != (item.size_uid_gid[0], item.mtime_ns):
        return True
    return not same_content(path, item.original)


def _deletes(item: _Prepared) -> bool:
    """A sidecar whose new content is empty is removed (undo of a sidecar we created)."""
    return item.job.target == "sidecar" and sum(len(p.new) - len(p.old) for p in item.patches) == -len(item.original)


def _error_kind(exc: Exception) -> ErrorKind:
    if isinstance(exc, VerifyError):
        return ErrorKind.VERIFY_FAILED
    return ErrorKind.UNSUPPORTED if isinstance(exc, NoRoom) else ErrorKind.CORRUPT


def _verify_read_back(job: FileJob, original: bytes, written: bytes) -> LibraryError | None:
    """Run the job's check (GPS readable, image data unchanged) on the bytes read back from the temp file."""
    if job.verify is None:
        return None
    try:
        job.verify(original, written)
    except PARSER_ERRORS as exc:
        return LibraryError(_error_kind(exc), job.path, f"read-back check failed: {exc}")
    return None


class VerifyError(ValueError):
    """Read-back verification found the written bytes wrong."""
