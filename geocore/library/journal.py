"""The write journal after the fact: settling rows, what a settled row means for decisions and the photo cache,
and recovery of rows a crash left pending.

A row becomes 'done' in the same transaction that marks its decision written (or, for an undo, the undone row
'undone' and its decision accepted again) and brings the photo's cached identity up to date. So whatever instant
a process dies at, the next run sees its own writes as its own: no "changed since scan", no second write.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

try:
    import fcntl
except ImportError:  # no advisory locks (Windows): recovery then trusts that no other process is writing
    fcntl = None  # type: ignore[assignment]

from geotagger.geocore.library import db as schema
from geotagger.geocore.library import xmp
from geotagger.geocore.library.patches import apply_patches, decode_patches, invert_patches, patches_match
from geotagger.geocore.library.safe_files import backup_path_for, remove_quietly, temp_path_for
from geotagger.geocore.library.scanner import FoundFile, inspect_file, listed_sidecar_mtime, listed_sidecar_mtimes

# What reading back a journal row can raise besides OSError: a blob that does not decode.
UNSETTLED_ERRORS = (OSError, ValueError, struct.error, IndexError)


@dataclass(frozen=True)
class WrittenState:
    """What a written file looks like now: lets the cache follow our own writes without re-reading them."""

    size: int
    mtime_ns: int
    head_hash: str


@dataclass(frozen=True)
class Outcome:
    """How one journal row ends: done or abandoned, with what the cache needs to follow it."""

    journal_id: int
    done: bool
    photo_id: int | None = None
    decision_id: int | None = None
    target: str = "photo"
    undoes_id: int | None = None  # the row an undo put back
    state: WrittenState | None = None  # None: the cache re-reads the file
    row: dict | None = None  # the photo's cache row read after an undo (reread_row), None: read when settled


def sha256(data: bytes) -> str:
    """Hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def is_written_version(current: bytes, patches: list, original_sha256: str) -> bool:
    """True when `current` is exactly the original with `patches` applied (checked against the original's hash).

    The patched regions must hold the new bytes, and undoing them must give the original's SHA-256: together this
    proves every byte, so no hash of the written file is needed at write time.
    """
    inverse = invert_patches(patches)
    if not patches_match(current, inverse):
        return False
    return sha256(apply_patches(current, inverse)) == original_sha256


def _journal_lock_path(database: schema.Database) -> Path:
    return database.path.with_name(database.path.name + ".writing")


@contextlib.contextmanager
def batch_lock(database: schema.Database, exclusive: bool) -> Iterator[bool]:
    """Writers share this lock while their journal rows are pending; `recover()` needs it alone (never waits).

    Another process (the app's scan child, personalize) opening the library mid-batch would otherwise settle the
    in-flight rows as abandoned and delete the temp file being written. Yields False when the lock is taken.
    """
    if fcntl is None:
        yield True
        return
    fd = os.open(_journal_lock_path(database), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB if exclusive else fcntl.LOCK_SH)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


# -- settling ---------------------------------------------------------------------------------------------------

def settle(connection: sa.Connection, batch_id: str, outcomes: Sequence[Outcome]) -> None:
    """Mark rows done or abandoned and bring decisions and the photo cache in line, in the caller's transaction."""
    now = time.time_ns()
    table = schema.journal
    _update_many(connection, table, [{"b_id": o.journal_id, "state": "done" if o.done else "abandoned",
                                      "updated_ns": now} for o in outcomes])
    done = [outcome for outcome in outcomes if outcome.done]
    if not done:
        return
    operation = connection.execute(sa.select(schema.batches.c.operation)
                                   .where(schema.batches.c.id == batch_id)).scalar()
    if operation == "write":
        _follow_writes(connection, batch_id, done, now)
        return
    if operation == "undo":
        _follow_undo(connection, done, now)
    # A row read after the file went back stands, unless a sidecar of the same photo changed too (its mtime)
    with_sidecar = {o.photo_id for o in done if o.target == "sidecar"}
    rows = {o.photo_id: o.row for o in done
            if o.photo_id is not None and o.row is not None and o.photo_id not in with_sidecar}
    refresh_photos(connection, (o.photo_id for o in done if o.photo_id is not None), rows)


def _update_many(connection: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """UPDATE table SET <keys> WHERE id = :b_id for each row, as executemany over runs of rows with the same keys
    (in order, so that a later row for the same id still wins)."""
    start = 0
    while start < len(rows):
        end = start + 1
        while end < len(rows) and rows[end].keys() == rows[start].keys():
            end += 1
        connection.execute(sa.update(table).where(table.c.id == sa.bindparam("b_id")), list(rows[start:end]))
        start = end


def _follow_writes(connection: sa.Connection, batch_id: str, done: Sequence[Outcome], now: int) -> None:
    """Decisions written; the cache takes the written identity and GPS without re-reading the files, where the
    decision says all a scan would read (_written_gps); the other photos are read again."""
    decisions, photos = schema.decisions, schema.photos
    ids = [o.decision_id for o in done if o.decision_id is not None]
    positions = {}
    if ids:
        connection.execute(sa.update(decisions).where(decisions.c.id.in_(ids))
                           .values(state="written", batch_id=batch_id, updated_ns=now))
        positions = {row.id: row for row in connection.execute(
            sa.select(decisions.c.id, decisions.c.lat, decisions.c.lon, decisions.c.altitude_m)
            .where(decisions.c.id.in_(ids)))}
    followed = [o for o in done if o.photo_id is not None and o.decision_id is not None]
    embedded: set[int | None] = {o.photo_id for o in followed if o.target == "photo"}
    sidecar_only = sorted({o.photo_id for o in followed if o.target == "sidecar" and o.photo_id is not None}
                          - embedded)
    if sidecar_only:  # of these, the photos that already had embedded GPS keep it
        embedded |= set(connection.execute(sa.select(photos.c.id).where(
            photos.c.id.in_(sidecar_only) & (photos.c.gps_source == "exif"))).scalars())
    reread, photo_rows, feature_rows = set(), [], []
    for outcome in followed:
        assert outcome.photo_id is not None and outcome.decision_id is not None
        if outcome.state is None:
            reread.add(outcome.photo_id)
            continue
        gps = _written_gps(outcome, positions[outcome.decision_id], outcome.photo_id in embedded)
        if gps is None:
            reread.add(outcome.photo_id)
            continue
        values: dict[str, Any] = {"b_id": outcome.photo_id, **gps}
        if outcome.target == "photo":
            values.update(size=outcome.state.size, mtime_ns=outcome.state.mtime_ns, head_hash=outcome.state.head_hash)
            feature_rows.append({"b_photo_id": outcome.photo_id, "head_hash": outcome.state.head_hash})
        else:
            values.update(sidecar_mtime_ns=outcome.state.mtime_ns)
        photo_rows.append(values)
    photo_rows = [row for row in photo_rows if row["b_id"] not in reread]
    _update_features(connection, feature_rows)
    _update_many(connection, photos, photo_rows)
    refresh_photos(connection, reread)


def _written_gps(outcome: Outcome, position: Any, embedded: bool) -> dict[str, Any] | None:
    """The GPS columns a scan reads after this write, from the decision; {} when the write leaves them as they were;
    None when only reading the file can tell. `embedded`: the photo holds GPS of its own (written in this batch, or
    had before).

    A scan takes the embedded GPS over any sidecar's, so a sidecar written beside embedded GPS changes nothing a
    scan reads; otherwise which of a photo's sidecars it reads first depends on which of them were written, so the
    photo is read again. A write without altitude keeps any altitude the file had (like exiftool), even one the
    cache never saw (a GPS block with an altitude and no position), so such a file is read again too."""
    if outcome.target == "sidecar":
        return {} if embedded else None
    if position.altitude_m is None:
        return None
    return {"gps_lat": position.lat, "gps_lon": position.lon, "gps_alt_m": position.altitude_m, "gps_source": "exif"}


def _update_features(connection: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """The features of each photo follow its new head hash."""
    if rows:
        features = schema.features
        connection.execute(sa.update(features).where(features.c.photo_id == sa.bindparam("b_photo_id")), rows)


def _follow_undo(connection: sa.Connection, done: Sequence[Outcome], now: int) -> None:
    """The rows put back are 'undone'; a decision whose write was undone is accepted again."""
    table, decisions = schema.journal, schema.decisions
    undone = [o.undoes_id for o in done if o.undoes_id is not None]
    if not undone:
        return
    _update_many(connection, table, [{"b_id": row_id, "state": "undone", "updated_ns": now} for row_id in undone])
    decision_ids = connection.execute(sa.select(table.c.decision_id).where(table.c.id.in_(undone)
                                                                           & table.c.decision_id.is_not(None)))
    wanted = sorted({row[0] for row in decision_ids})
    if wanted:
        connection.execute(sa.update(decisions).where(decisions.c.id.in_(wanted) & (decisions.c.state == "written"))
                           .values(state="accepted", batch_id=None, updated_ns=now))


def _sidecar_mtime(photo: Path) -> int | None:
    mtimes = []
    for candidate in xmp.sidecar_candidates(photo):
        with contextlib.suppress(OSError):
            mtimes.append(candidate.stat().st_mtime_ns)
    return max(mtimes) if mtimes else None


def sidecar_listing(folder: Path) -> dict[str, int] | None:
    """Lower-cased .xmp names in `folder` -> mtime_ns, listed as the scan's walk lists them; None when unreadable.

    One listing serves every photo of a folder re-read after an undo: looking the sidecars up per photo listed the
    folder once per file (the folder changes with every rename), quadratic in the folder's size."""
    try:
        with os.scandir(folder) as entries:
            return listed_sidecar_mtimes(list(entries))
    except OSError:
        return None


def reread_row(path: str, sidecars: dict[str, int] | None = None,
               known: tuple[os.stat_result, str, bytes] | None = None) -> dict | None:
    """The cache row of the photo at `path` as it is now (without its path), None when it cannot be reached.
    `sidecars`: its folder's sidecar_listing, taken after the changes. `known`: (stat, head hash, head) of bytes
    the writer has just read back and renamed into place (the file is then not read again)."""
    if known is not None:
        info = known[0]
    else:
        try:
            info = os.stat(path)
        except OSError:
            return None  # gone or unreachable: the next scan says so
    if sidecars is None:
        found = FoundFile(path, info.st_size, info.st_mtime_ns, _sidecar_mtime(Path(path)))
    else:
        found = FoundFile(path, info.st_size, info.st_mtime_ns, listed_sidecar_mtime(os.path.basename(path), sidecars),
                          sidecars_listed=True)
    row = inspect_file(found, known[1:] if known is not None else None)
    row.pop("path")
    return row


# What a photo's cache row says of its bytes (all but its id, paths and when it was read): kept with a journal row
# as the row before the change, and put back by an undo that restores those very bytes.
CACHED_FIELDS = ("size", "mtime_ns", "head_hash", "kind", "capture_time", "capture_offset", "make", "model",
                 "orientation", "width", "height", "gps_lat", "gps_lon", "gps_alt_m", "gps_source",
                 "sidecar_mtime_ns", "error_kind", "error")


def cache_snapshots(connection: sa.Connection, photo_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """photo id -> its cache row now (CACHED_FIELDS), for a journal row to keep as JSON (`original_row`)."""
    wanted = sorted(set(photo_ids))
    if not wanted:
        return {}
    photos = schema.photos
    query = sa.select(photos.c.id, *(photos.c[name] for name in CACHED_FIELDS)).where(photos.c.id.in_(wanted))
    return {row[0]: dict(zip(CACHED_FIELDS, row[1:], strict=True)) for row in connection.execute(query)}


def restored_row(snapshot: str | None, path: str, sidecars: dict[str, int] | None,
                 known: tuple[os.stat_result, str] | None) -> dict | None:
    """The cache row of a photo an undo has just put back, from the row its journal row kept of those bytes
    (`snapshot`), without parsing them again; None when that row cannot vouch for the file now: no snapshot, no
    read-back, another head or size, or a sidecar that changed meanwhile. The cache
    trusts a row for as long as size, mtime and head hash match (a rescan reads nothing else), and the bytes put
    back are the very ones that row was read from. `known`: (stat, head hash) of the bytes read back."""
    if snapshot is None or known is None or sidecars is None:
        return None
    info, head_hash = known
    try:
        row = json.loads(snapshot)
    except ValueError:  # a damaged cache: the file itself is the truth
        return None
    if not isinstance(row, dict):
        return None
    sidecar_mtime_ns = listed_sidecar_mtime(os.path.basename(path), sidecars)
    if (row.get("head_hash"), row.get("size"), row.get("sidecar_mtime_ns")) != (head_hash, info.st_size,
                                                                                 sidecar_mtime_ns):
        return None
    if set(row) != set(CACHED_FIELDS) or row.get("kind") is None:
        return None  # a row from an older layout, or one of a file the scan could not type: read it again
    row.update(mtime_ns=info.st_mtime_ns, scanned_ns=time.time_ns())
    return row


def refresh_photos(connection: sa.Connection, photo_ids: Iterable[int], rows: dict[int, dict] | None = None) -> None:
    """Re-read photos after our own changes: identity and GPS follow, predictions and features stay. `rows`:
    photo id -> its row already read after the change (by the thread that made it)."""
    photos = schema.photos
    wanted = sorted(set(photo_ids))
    known = rows or {}
    paths: dict[int, str] = {}
    unread = [photo_id for photo_id in wanted if photo_id not in known]
    if unread:
        query = sa.select(photos.c.id, photos.c.path).where(photos.c.id.in_(unread))
        paths = {row.id: row.path for row in connection.execute(query)}
    # One listing per folder, taken now: sidecars matched in any case, as the scan's walk matches them
    listings = {folder: sidecar_listing(folder) for folder in {Path(path).parent for path in paths.values()}}
    updates = []
    for photo_id in wanted:
        row = known.get(photo_id)
        if row is None and photo_id in paths:
            row = reread_row(paths[photo_id], listings[Path(paths[photo_id]).parent])
        if row is not None:
            updates.append({**row, "b_id": photo_id})
    _update_many(connection, photos, updates)
    _update_features(connection, [{"b_photo_id": row["b_id"], "head_hash": row["head_hash"]} for row in updates])


# -- recovery ---------------------------------------------------------------------------------------------------

def recover(database: schema.Database) -> list[str]:
    """Settle rows left 'pending' by a crash; one line per row. A row that cannot be settled now (its file
    unreachable, its blob unreadable) is reported and left pending: it never stops the library from opening."""
    with batch_lock(database, exclusive=True) as alone:
        return _settle_pending(database) if alone else []  # a batch in flight settles its own rows


def _pending_rows(database: schema.Database) -> list[Any]:
    table, batches = schema.journal, schema.batches
    query = (sa.select(table.c.id, table.c.batch_id, table.c.path, table.c.target, table.c.patches,
                       table.c.original_sha256, table.c.photo_id, table.c.decision_id, batches.c.operation)
             .join(batches, batches.c.id == table.c.batch_id, isouter=True)
             .where(table.c.state == "pending").order_by(table.c.id))
    with database.engine.connect() as connection:
        return list(connection.execute(query).all())


def _settle_pending(database: schema.Database) -> list[str]:
    report: list[str] = []
    by_batch: dict[str, list[Outcome]] = {}
    for row in _pending_rows(database):
        try:
            outcome = _outcome_of(database, row)
        except UNSETTLED_ERRORS as exc:
            report.append(f"{row.path}: not settled, left pending ({exc})")
            continue
        by_batch.setdefault(row.batch_id, []).append(outcome)
        report.append(f"{row.path}: {'done' if outcome.done else 'abandoned'}")
    for batch_id, outcomes in by_batch.items():
        try:
            with database.write_lock, database.engine.begin() as connection:
                settle(connection, batch_id, outcomes)
        except (sa.exc.SQLAlchemyError, *UNSETTLED_ERRORS) as exc:  # e.g. a database locked for too long
            report.append(f"batch {batch_id}: {len(outcomes)} rows not settled, left pending ({exc})")
    return report


def _current_bytes(path: Path, target: str) -> bytes | None:
    """The file as it is now; None when it is gone. A sidecar that is gone reads as empty (an undo deletes the
    sidecar it created). A folder that is gone too raises: an unplugged drive is settled when it comes back."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise
        return b"" if target == "sidecar" else None


def _outcome_of(database: schema.Database, row: Any) -> Outcome:
    """Decide one pending row from the file itself, and remove the temp files it may have left."""
    path = Path(row.path)
    current = _current_bytes(path, row.target)
    done = current is not None and is_written_version(current, decode_patches(row.patches), row.original_sha256)
    for leftover in (temp_path_for(path), temp_path_for(backup_path_for(path))):
        error = remove_quietly(leftover)
        if error is not None:
            raise error
    undoes_id = _row_undone_by(database, row, current) if done and row.operation == "undo" else None
    return Outcome(row.id, done, row.photo_id, row.decision_id, row.target, undoes_id)


def _row_undone_by(database: schema.Database, row: Any, current: bytes | None) -> int | None:
    """The row an undo put back: this path's newest row still 'done', if the file is now its original."""
    table, batches = schema.journal, schema.batches
    query = (sa.select(table.c.id, table.c.original_sha256).join(batches, batches.c.id == table.c.batch_id)
             .where((table.c.path == row.path) & (table.c.id < row.id) & (table.c.state == "done")
                    & (batches.c.operation != "undo"))
             .order_by(table.c.id.desc()).limit(1))
    with database.engine.connect() as connection:
        found = connection.execute(query).first()
    if found is None or current is None or found.original_sha256 != sha256(current):
        return None
    return int(found.id)
