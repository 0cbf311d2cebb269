"""An undo puts back the photo's cache row from before the change (kept with the journal row), without parsing
the restored bytes again, and only where that row still vouches for the file."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from geotagger.geocore.library import db as schema
from geotagger.geocore.library import journal
from geotagger.geocore.library.api import Library
from geotagger.geocore.library.scanner import FoundFile, inspect_file, listed_sidecar_mtime
from tests.photo_factory import make_jpeg, make_png, make_tiff

SIDECAR = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="10,30.0N" '
           'exif:GPSLongitude="20,15.0W"/></rdf:RDF></x:xmpmeta>')


def _photos(folder: Path) -> list[Path]:
    """Photos the cache reads differently: GPS or none, capture times, orientations, three formats."""
    return [
        make_jpeg(folder / "plain.jpg", size=(64, 48)),
        make_jpeg(folder / "located.jpg", size=(48, 64), gps=(-33.5, 151.25, 12.0), orientation=6,
                  datetime_original=datetime(2024, 5, 1, 9, 30), make="Apple", model="iPhone 15"),
        make_tiff(folder / "scan.tif", size=(40, 30), gps=(10.5, 20.25, 5.0), datetime_original=datetime(2020, 1, 2)),
        make_png(folder / "screen.png", size=(30, 20), offset=None),
    ]


def _cache_rows(library: Library, paths: list[Path]) -> dict[str, dict]:
    fields = ("path", *journal.CACHED_FIELDS)
    with sqlite3.connect(library.database.path) as connection:
        rows = connection.execute(f"SELECT {', '.join(fields)} FROM photos").fetchall()
    by_path = {Path(row[0].decode()).name: dict(zip(fields[1:], row[1:], strict=True)) for row in rows}
    return {path.name: by_path[path.name] for path in paths}


def _fresh_rows(paths: list[Path]) -> dict[str, dict]:
    """What reading each file now gives, as the scan reads it."""
    rows = {}
    for path in paths:
        info = path.stat()
        sidecars = journal.sidecar_listing(path.parent)
        assert sidecars is not None
        found = FoundFile(str(path), info.st_size, info.st_mtime_ns, listed_sidecar_mtime(path.name, sidecars),
                          sidecars_listed=True)
        row = inspect_file(found)
        rows[path.name] = {name: row[name] for name in journal.CACHED_FIELDS}
    return rows


def _record_rereads(monkeypatch) -> list[str]:
    """The paths journal.reread_row parses from now on (the undo's fallback)."""
    calls: list[str] = []
    real_reread = journal.reread_row
    monkeypatch.setattr(journal, "reread_row", lambda path, *a, **k: calls.append(path) or real_reread(path, *a, **k))
    return calls


def _write_and_undo(tmp_path: Path, before_undo=None, rereads: list[str] | None = None
                    ) -> tuple[Library, list[Path], list[bytes]]:
    folder = tmp_path / "photos"
    paths = _photos(folder)
    originals = [p.read_bytes() for p in paths]
    library = Library(tmp_path / "cache.sqlite3")
    library.scan([folder])
    for path in paths:
        library.propose(library.photo_by_path(path).id, 45.5, 7.25, 0.1, "manual", state="accepted")
    written = library.write_batch()
    assert len(written.written) == len(paths), written.failed
    assert _cache_rows(library, paths) == _fresh_rows(paths)  # the write's cache follows the files too
    if before_undo is not None:
        before_undo(library, folder)
    if rereads is not None:
        rereads.clear()  # only the undo's count
    undone = library.undo(batch_id=written.batch_id)
    assert len(undone.written) == len(paths) and not undone.failed
    assert [p.read_bytes() for p in paths] == originals
    return library, paths, originals


def test_undo_restores_the_cache_row_of_the_original_without_parsing_it(tmp_path: Path, monkeypatch) -> None:
    read_again = _record_rereads(monkeypatch)
    library, paths, _ = _write_and_undo(tmp_path, rereads=read_again)
    try:
        assert read_again == []  # every row came from the journal
        assert _cache_rows(library, paths) == _fresh_rows(paths)
        assert _cache_rows(library, paths)["located.jpg"]["gps_lat"] == pytest.approx(-33.5)
        assert _cache_rows(library, paths)["plain.jpg"]["gps_lat"] is None
        rescan = library.scan([paths[0].parent])
        assert rescan.unchanged == len(paths) and rescan.changed == 0, rescan
    finally:
        library.close()


def test_a_sidecar_added_after_the_write_makes_the_undo_read_the_photo_again(tmp_path: Path, monkeypatch) -> None:
    read_again = _record_rereads(monkeypatch)

    def add_sidecar(_library: Library, folder: Path) -> None:
        (folder / "plain.xmp").write_text(SIDECAR)

    library, paths, _ = _write_and_undo(tmp_path, add_sidecar, read_again)
    try:
        assert [Path(p).name for p in read_again] == ["plain.jpg"]
        row = _cache_rows(library, paths)["plain.jpg"]
        assert (row["gps_source"], row["gps_lon"]) == ("xmp", pytest.approx(-20.25))
        assert row["sidecar_mtime_ns"] == (paths[0].parent / "plain.xmp").stat().st_mtime_ns
    finally:
        library.close()


def test_journal_rows_without_a_kept_row_are_read_again(tmp_path: Path) -> None:
    def forget_rows(library: Library, _folder: Path) -> None:  # as rows journaled before schema version 5
        with sqlite3.connect(library.database.path) as connection:
            connection.execute("UPDATE journal SET original_row = NULL")

    library, paths, _ = _write_and_undo(tmp_path, forget_rows)
    try:
        assert _cache_rows(library, paths) == _fresh_rows(paths)
    finally:
        library.close()


def test_a_kept_row_of_other_bytes_is_not_trusted(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "a.jpg", size=(32, 24))
    info = path.stat()
    row = inspect_file(FoundFile(str(path), info.st_size, info.st_mtime_ns, None))
    snapshot = journal.json.dumps({name: row[name] for name in journal.CACHED_FIELDS})
    assert journal.restored_row(snapshot, str(path), {}, (info, row["head_hash"])) is not None
    assert journal.restored_row(snapshot, str(path), {}, (info, "0" * 32)) is None  # another head
    assert journal.restored_row(snapshot, str(path), {"a.xmp": 1}, (info, row["head_hash"])) is None
    assert journal.restored_row(snapshot, str(path), None, (info, row["head_hash"])) is None  # unlisted
    assert journal.restored_row(snapshot, str(path), {}, None) is None  # not read back
    assert journal.restored_row(None, str(path), {}, (info, row["head_hash"])) is None
    for damaged in ("{", "[1, 2]", "null", journal.json.dumps({"size": info.st_size})):  # a damaged cache
        assert journal.restored_row(damaged, str(path), {}, (info, row["head_hash"])) is None


def test_a_version_4_cache_gains_the_kept_rows_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    Library(path).close()
    with sqlite3.connect(path) as connection:
        connection.execute("ALTER TABLE journal DROP COLUMN original_row")
        connection.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    library = Library(path)
    try:
        with sqlite3.connect(path) as connection:
            columns = {row[1] for row in connection.execute("PRAGMA table_info(journal)")}
            version = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        assert "original_row" in columns and int(version) == schema.SCHEMA_VERSION
    finally:
        library.close()


def test_stacked_changes_undone_one_by_one_leave_the_cache_as_each_file_was(tmp_path: Path, monkeypatch) -> None:
    read_again = _record_rereads(monkeypatch)
    folder = tmp_path / "photos"
    paths = _photos(folder)
    originals = [p.read_bytes() for p in paths]
    library = Library(tmp_path / "cache.sqlite3")
    try:
        library.scan([folder])
        batches = []
        for lat in (45.5, -12.25):  # a location, then a correction over it
            for path in paths:
                library.propose(library.photo_by_path(path).id, lat, 7.25, 0.1, "manual", state="accepted")
            written = library.write_batch()
            assert len(written.written) == len(paths), written.failed
            batches.append((written.batch_id, [p.read_bytes() for p in paths], _fresh_rows(paths)))
            assert _cache_rows(library, paths) == batches[-1][2]
        stripped = library.strip(paths)  # and every location removed again
        assert len(stripped.written) == len(paths), stripped.failed
        assert _cache_rows(library, paths) == _fresh_rows(paths)
        read_again.clear()
        library.undo(batch_id=stripped.batch_id)
        assert [p.read_bytes() for p in paths] == batches[1][1]
        assert _cache_rows(library, paths) == batches[1][2]
        assert _cache_rows(library, paths)["located.jpg"]["gps_lat"] == pytest.approx(-12.25)
        library.undo(batch_id=batches[1][0])
        assert [p.read_bytes() for p in paths] == batches[0][1]
        assert _cache_rows(library, paths) == batches[0][2]
        library.undo(batch_id=batches[0][0])
        assert [p.read_bytes() for p in paths] == originals
        assert _cache_rows(library, paths) == _fresh_rows(paths)
        assert read_again == []
    finally:
        library.close()


def test_the_journal_keeps_only_a_cache_row_of_the_bytes_the_write_checked() -> None:
    from geotagger.geocore.library.writer import FileJob, Identity, _kept_cache_row

    row = {name: None for name in journal.CACHED_FIELDS} | {"size": 10, "mtime_ns": 5, "head_hash": "ab"}
    job = FileJob(Path("/p/a.jpg"), lambda data: [], identity=Identity(10, 5, "ab"), photo_id=7)
    assert journal.json.loads(_kept_cache_row(job, {7: row}) or "null") == row
    moved_on = FileJob(Path("/p/a.jpg"), lambda data: [], identity=Identity(10, 6, "ab"), photo_id=7)
    assert _kept_cache_row(moved_on, {7: row}) is None  # another process rescanned meanwhile
    assert _kept_cache_row(FileJob(Path("/p/a.jpg"), lambda data: [], photo_id=7), {7: row}) is None  # no identity
    sidecar = FileJob(Path("/p/a.xmp"), lambda data: [], target="sidecar", identity=Identity(10, 5, "ab"), photo_id=7)
    assert _kept_cache_row(sidecar, {7: row}) is None
    undo = FileJob(Path("/p/a.jpg"), lambda data: [], identity=Identity(10, 5, "ab"), photo_id=7, undoes_id=3)
    assert _kept_cache_row(undo, {7: row}) is None
