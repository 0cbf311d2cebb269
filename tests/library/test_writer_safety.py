"""The safe writer on hostile ground: long names, failed backups, edits that keep size and mtime, crashes
between the rename and the journal, extended attributes, big batches and one file reached by two paths."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from geotagger.geocore.library import db as schema
from geotagger.geocore.library import writer
from geotagger.geocore.library.api import Library
from geotagger.geocore.library.errors import ErrorKind
from geotagger.geocore.library.patches import Patch
from geotagger.geocore.library.writer import FileJob, SafeWriter
from tests.library.exiftool_helpers import sha256_of
from tests.photo_factory import make_jpeg, make_raw_like

LONG_NAMES = ["L" * 244 + ".jpg", "写" * 82 + ".jpg", "ü" * 125 + ".jpg"]  # 248, 250 and 254 bytes


def _library(tmp_path: Path, **options) -> Library:
    return Library(tmp_path / "cache" / "lib.sqlite3", **options)


def _place_all(library: Library, paths: list[Path], lat: float = 1.0, lon: float = 2.0) -> None:
    for path in paths:
        library.set_manual(library.photo_by_path(path).id, lat, lon)


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# -- defect 1: names near NAME_MAX ------------------------------------------------------------------------------

def test_names_of_244_bytes_and_more_write_and_undo(tmp_path) -> None:
    folder = tmp_path / "photos"
    paths = [make_jpeg(folder / name, size=(64, 48), color_seed=i) for i, name in enumerate(LONG_NAMES)]
    originals = {path: sha256_of(path) for path in paths}
    library = _library(tmp_path)
    library.scan([folder])
    _place_all(library, paths)
    report = library.write_batch()
    assert report.failed == [] and len(report.written) == len(paths)
    assert _hidden(folder) == []
    library.close()
    with _library(tmp_path) as again:  # the library stays usable
        assert again.recovered == []
        assert again.undo(report.batch_id).failed == []
    assert {path: sha256_of(path) for path in paths} == originals


def test_the_long_name_recipe_through_the_cli(tmp_path, capsys) -> None:
    from PIL import Image

    from geotagger.geocore.cli.main import main

    folder, db = tmp_path / "photos", str(tmp_path / "lib.sqlite3")
    folder.mkdir()
    long_names = [folder / name for name in LONG_NAMES[:2]]
    for path in long_names:
        Image.new("RGB", (64, 48)).save(path)
    other = make_jpeg(folder / "other.jpg", size=(64, 48))
    originals = {path: sha256_of(path) for path in [*long_names, other]}
    assert main(["scan", str(folder), "--db", db]) == 0
    assert main(["set", *map(str, long_names), "--lat", "1", "--lon", "2", "--db", db]) == 0
    assert main(["write", "--accepted", "--db", db]) == 0
    assert main(["undo", "--list", "--db", db]) == 0
    assert main(["set", str(other), "--lat", "3", "--lon", "4", "--db", db]) == 0  # the library still works
    assert main(["undo", *map(str, [*long_names, other]), "--db", db]) == 0
    capsys.readouterr()
    assert {path: sha256_of(path) for path in originals} == originals and _hidden(folder) == []


def test_recover_reports_and_skips_a_row_it_cannot_settle(tmp_path) -> None:
    folder = tmp_path / "photos"
    good = make_jpeg(folder / "good.jpg", size=(64, 48))
    original = sha256_of(good)
    library = _library(tmp_path)
    library.scan([folder])
    _place_all(library, [good])
    written = library.write_batch()
    stuck_batch = library.writer.new_batch("write")
    hopeless = str(folder / ("X" * 300 + ".jpg"))  # longer than any name: every file operation on it fails
    with library.database.engine.begin() as connection:
        connection.execute(sa.insert(schema.journal).values(
            batch_id=stuck_batch, path=hopeless, target="photo", state="pending", original_existed=True,
            original_sha256="0" * 64, patches=b"\0\0\0\0", mode=0o644, mtime_ns=0))
    library.close()
    with _library(tmp_path) as again:  # must not die in recover()
        assert any(hopeless in line for line in again.recovered)
        assert again.undo(written.batch_id).failed == []
    assert sha256_of(good) == original


# -- defect 6: backups written like photos -----------------------------------------------------------------------

def _fd_name(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
def test_a_backup_copy_that_fails_midway_is_not_kept(tmp_path, monkeypatch) -> None:
    import shutil

    path = make_jpeg(tmp_path / "photos" / "a.jpg")
    original = path.read_bytes()
    library = _library(tmp_path, backup_originals=True)
    library.scan([path.parent])
    _place_all(library, [path])
    real_write, real_writev, real_copy2 = os.write, os.writev, shutil.copy2

    def disk_full_write(fd, data):
        if "_original" in _fd_name(fd):
            real_write(fd, bytes(data)[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    def disk_full_writev(fd, buffers):
        return disk_full_write(fd, b"".join(buffers))

    def disk_full_copy(source, target, **_kwargs):
        Path(target).write_bytes(Path(source).read_bytes()[:1000])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer.os, "write", disk_full_write)
    monkeypatch.setattr(writer.os, "writev", disk_full_writev)
    monkeypatch.setattr(shutil, "copy2", disk_full_copy)
    (result,) = library.write_batch().results
    monkeypatch.setattr(writer.os, "write", real_write)
    monkeypatch.setattr(writer.os, "writev", real_writev)
    monkeypatch.setattr(shutil, "copy2", real_copy2)
    assert result.error_kind is ErrorKind.DISK_FULL and "backup" in result.reason
    assert path.read_bytes() == original and _hidden(path.parent) == []
    (retry,) = library.write_batch().results  # the retry writes a complete backup
    assert retry.ok
    assert (path.parent / "a.jpg_original").read_bytes() == original


def test_a_truncated_backup_left_by_an_older_version_is_replaced(tmp_path) -> None:
    path = make_jpeg(tmp_path / "photos" / "a.jpg")
    original = path.read_bytes()
    (path.parent / "a.jpg_original").write_bytes(original[:1000])
    library = _library(tmp_path, backup_originals=True)
    library.scan([path.parent])
    _place_all(library, [path])
    assert library.write_batch().failed == []
    assert (path.parent / "a.jpg_original").read_bytes() == original


def test_the_first_backup_survives_a_second_write(tmp_path) -> None:
    path = make_jpeg(tmp_path / "photos" / "a.jpg")
    original = path.read_bytes()
    library = _library(tmp_path, backup_originals=True)
    library.scan([path.parent])
    _place_all(library, [path], 1.0, 2.0)
    assert library.write_batch().failed == []
    _place_all(library, [path], 3.0, 4.0)
    assert library.write_batch().failed == []
    assert (path.parent / "a.jpg_original").read_bytes() == original


# -- defect 9: an edit that keeps size and mtime ---------------------------------------------------------------

def test_an_edit_keeping_size_and_mtime_before_the_rename_is_detected(tmp_path, monkeypatch) -> None:
    path = make_jpeg(tmp_path / "photos" / "a.jpg")
    library = _library(tmp_path)
    library.scan([path.parent])
    _place_all(library, [path])
    real_write_temp = writer.write_temp
    edited = bytearray(path.read_bytes())
    edited[-200] ^= 0xFF  # another program retouches a pixel and keeps the timestamp

    def write_temp_while_someone_edits(target, data, mode, times, owner=None):
        info = path.stat()
        path.write_bytes(bytes(edited))
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
        return real_write_temp(target, data, mode, times, owner)

    monkeypatch.setattr(writer, "write_temp", write_temp_while_someone_edits)
    (result,) = library.write_batch().results
    assert result.error_kind is ErrorKind.CHANGED
    assert path.read_bytes() == bytes(edited) and _hidden(path.parent) == []
    assert [row["state"] for row in library.journal_rows(path)] == ["abandoned"]


def test_a_sidecar_created_by_another_program_meanwhile_is_not_replaced(tmp_path, monkeypatch) -> None:
    raw = make_raw_like(tmp_path / "photos" / "a.NEF")
    sidecar = raw.with_name("a.NEF.xmp")
    library = _library(tmp_path)
    library.scan([raw.parent])
    _place_all(library, [raw])
    real_write_temp = writer.write_temp

    def write_temp_while_someone_creates(target, data, mode, times, owner=None):
        sidecar.write_bytes(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")  # a raw developer saves its own sidecar
        return real_write_temp(target, data, mode, times, owner)

    monkeypatch.setattr(writer, "write_temp", write_temp_while_someone_creates)
    (result,) = library.write_batch().results
    assert result.error_kind is ErrorKind.CHANGED
    assert sidecar.read_bytes() == b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>" and _hidden(raw.parent) == []


# -- defect 10: the run after a crash ---------------------------------------------------------------------------

class Crash(BaseException):
    """Stands for SIGKILL at one exact moment (not an Exception: nothing may catch it)."""


def _crash_at(monkeypatch, owner: object, name: str) -> None:
    def crash(*_args, **_kwargs):
        raise Crash
    monkeypatch.setattr(owner, name, crash)


def _written_setup(tmp_path: Path, count: int = 3) -> tuple[Library, list[Path], dict[Path, str]]:
    folder = tmp_path / "photos"
    paths = [make_jpeg(folder / f"p{i}.jpg", size=(96, 64), color_seed=i) for i in range(count)]
    originals = {path: sha256_of(path) for path in paths}
    library = _library(tmp_path)
    library.scan([folder])
    _place_all(library, paths)
    return library, paths, originals


def _assert_cache_follows_files(library: Library, paths: list[Path]) -> None:
    for path in paths:
        photo, info = library.photo_by_path(path), path.stat()
        assert (photo.size, photo.mtime_ns) == (info.st_size, info.st_mtime_ns), path.name


@pytest.mark.parametrize("moment", ["renamed, journal pending", "journal done, cache not updated"])
def test_the_run_after_a_crash_in_write_reports_no_false_failure(tmp_path, monkeypatch, moment) -> None:
    library, paths, originals = _written_setup(tmp_path)
    if moment.startswith("renamed"):
        _crash_at(monkeypatch, writer, "_fsync_folder")
    else:
        real_settle = SafeWriter._journal_states

        def settle_then_crash(self, *args):
            real_settle(self, *args)
            raise Crash
        monkeypatch.setattr(SafeWriter, "_journal_states", settle_then_crash)
    with pytest.raises(Crash):
        library.write_batch()
    monkeypatch.undo()
    library.close()
    written = {path: sha256_of(path) for path in paths}
    assert all(written[path] != originals[path] for path in paths)
    library = _library(tmp_path)
    assert {d.state for d in library.decisions()} == {"written"}
    _assert_cache_follows_files(library, paths)
    assert library.write_batch().results == []  # nothing left to write, nothing "changed since scan"
    library.scan([tmp_path / "photos"])
    assert library.write_batch().results == []
    assert {path: sha256_of(path) for path in paths} == written  # no second GPS IFD
    assert library.undo(paths=paths).failed == []
    assert {path: sha256_of(path) for path in paths} == originals


def test_the_run_after_a_crash_in_undo_reports_no_false_failure(tmp_path, monkeypatch) -> None:
    library, paths, originals = _written_setup(tmp_path)
    assert library.write_batch().failed == []
    _crash_at(monkeypatch, writer, "_fsync_folder")
    with pytest.raises(Crash):
        library.undo(paths=paths)
    monkeypatch.undo()
    library.close()
    assert {path: sha256_of(path) for path in paths} == originals
    library = _library(tmp_path)
    assert library.undo(paths=paths).results == []  # already undone: not "changed since written"
    assert {d.state for d in library.decisions()} == {"accepted"}
    _assert_cache_follows_files(library, paths)
    assert all(library.photo_by_path(path).gps_lat is None for path in paths)
    assert library.write_batch().failed == []


def test_the_run_after_a_crash_in_strip_reports_no_false_failure(tmp_path, monkeypatch) -> None:
    library, paths, _originals = _written_setup(tmp_path)
    assert library.write_batch().failed == []
    _crash_at(monkeypatch, writer, "_fsync_folder")
    with pytest.raises(Crash):
        library.strip(paths)
    monkeypatch.undo()
    library.close()
    library = _library(tmp_path)
    _assert_cache_follows_files(library, paths)
    assert all(library.photo_by_path(path).gps_lat is None for path in paths)
    assert library.strip(paths).failed == []


# -- defect 13: xattrs, bytes in flight, one file by two paths --------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "setxattr"), reason="no extended attributes on this platform")
def test_extended_attributes_survive_write_and_undo(tmp_path) -> None:
    path = make_jpeg(tmp_path / "photos" / "a.jpg")
    try:
        os.setxattr(path, "user.geotagger.test", b"keep me")
    except OSError as exc:
        pytest.skip(f"file system without user xattrs: {exc}")
    library = _library(tmp_path)
    library.scan([path.parent])
    _place_all(library, [path])
    report = library.write_batch()
    assert report.failed == []
    assert os.getxattr(path, "user.geotagger.test") == b"keep me"
    assert library.undo(report.batch_id).failed == []
    assert os.getxattr(path, "user.geotagger.test") == b"keep me"


def test_chunks_are_bounded_by_bytes_not_by_file_count(tmp_path, monkeypatch) -> None:
    paths = [make_jpeg(tmp_path / "photos" / f"p{i}.jpg", size=(320, 240), color_seed=i) for i in range(8)]
    size = max(path.stat().st_size for path in paths)
    monkeypatch.setattr(writer, "CHUNK_BYTES", 2 * size + 1000, raising=False)
    library = _library(tmp_path)
    library.scan([paths[0].parent])
    _place_all(library, paths)
    chunk_bytes: list[int] = []
    real_finish = SafeWriter._finish_chunk

    def spy(self, batch_id, jobs, outcomes, dry_run):
        chunk_bytes.append(sum(len(o.original) for o in outcomes if hasattr(o, "original")))
        return real_finish(self, batch_id, jobs, outcomes, dry_run)

    monkeypatch.setattr(SafeWriter, "_finish_chunk", spy)
    assert library.write_batch().failed == []
    assert len(chunk_bytes) >= 4 and max(chunk_bytes) <= 2 * size + 1000


def test_one_file_reached_by_a_symlink_and_its_real_path_is_changed_once_after_the_other(tmp_path) -> None:
    real = tmp_path / "store" / "notes.txt"
    real.parent.mkdir()
    real.write_bytes(b"start;")
    (tmp_path / "view").mkdir()
    link = tmp_path / "view" / "notes.txt"
    link.symlink_to(real)
    database = schema.Database(tmp_path / "lib.sqlite3")
    safe = SafeWriter(database)
    detour = tmp_path / "store" / ".." / "store" / "notes.txt"
    jobs = [FileJob(path, lambda old, text=text: [Patch(len(old), b"", text)], target="sidecar")
            for path, text in ((real, b"A;"), (link, b"B;"), (detour, b"C;"))]
    results, _cancelled = safe.run(safe.new_batch("write"), jobs)
    safe.close()
    assert all(r.ok for r in results)
    assert real.read_bytes() == b"start;A;B;C;" and link.is_symlink()
