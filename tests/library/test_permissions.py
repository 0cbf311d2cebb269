"""No permission: reading or writing a file we may not touch is a typed error, and the batch goes on.

Root ignores file modes, so under root the test runs its library calls with the effective uid of `nobody`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from geotagger.geocore.library.api import Library
from geotagger.geocore.library.errors import ErrorKind
from tests.photo_factory import make_jpeg

NOBODY = 65534


@contextlib.contextmanager
def unprivileged() -> Iterator[None]:
    """Run the block without root's power over file modes (no-op when not root)."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def _warm_up(tmp_path: Path) -> None:
    """Import everything lazily imported by a scan and a write while we may still read the interpreter's files."""
    library = Library(tmp_path / "warm.sqlite3")
    path = make_jpeg(tmp_path / "warm" / "w.jpg", size=(32, 32))
    library.scan([path.parent])
    library.set_manual(library.photo_by_path(path).id, 1.0, 2.0)
    library.write_batch()
    library.strip([path])
    library.close()


def test_no_access_is_typed_and_batch_goes_on(tmp_path) -> None:
    _warm_up(tmp_path)
    base = Path(tempfile.mkdtemp(prefix="geotag-perm-"))
    os.chmod(base, 0o755)
    try:
        for folder, mode in (("open", 0o777), ("locked", 0o755), ("db", 0o777)):
            (base / folder).mkdir()
            os.chmod(base / folder, mode)
        secret = make_jpeg(base / "open" / "secret.jpg", color_seed=1)
        fine = make_jpeg(base / "open" / "fine.jpg", color_seed=2)
        read_only_folder = make_jpeg(base / "locked" / "ro.jpg", color_seed=3)
        os.chmod(secret, 0o000)
        os.chmod(fine, 0o666)
        with unprivileged():
            library = Library(base / "db" / "lib.sqlite3")
            report = library.scan([base / "open", base / "locked"])
            issues = {Path(i.path).name: i.kind for i in report.issues}
            for path in (fine, read_only_folder, secret):
                library.set_manual(library.photo_by_path(path).id, 10.0, 20.0)
            results = {r.path.name: r for r in library.write_batch().results}
            library.close()
        assert issues == {"secret.jpg": ErrorKind.NO_ACCESS.value}
        assert results["fine.jpg"].ok
        assert results["ro.jpg"].error_kind is ErrorKind.NO_ACCESS
        assert results["secret.jpg"].error_kind is ErrorKind.NO_ACCESS
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_owner_and_group_are_kept_when_root_writes(tmp_path) -> None:
    if os.geteuid() != 0:
        import pytest

        pytest.skip("only root can write a file owned by someone else")
    path = make_jpeg(tmp_path / "photos" / "theirs.jpg")
    os.chown(path, NOBODY, NOBODY)
    library = Library(tmp_path / "lib.sqlite3")
    library.scan([path.parent])
    library.set_manual(library.photo_by_path(path).id, 1.0, 2.0)
    assert library.write_batch().failed == []
    assert (path.stat().st_uid, path.stat().st_gid) == (NOBODY, NOBODY)


def test_file_changed_while_batch_runs_is_left_alone(tmp_path, monkeypatch) -> None:
    from geotagger.geocore.library import writer
    from geotagger.geocore.library.errors import ErrorKind

    path = make_jpeg(tmp_path / "photos" / "a.jpg")
    library = Library(tmp_path / "lib.sqlite3")
    library.scan([path.parent])
    library.set_manual(library.photo_by_path(path).id, 1.0, 2.0)
    real_write_temp = writer.write_temp

    def write_temp_while_someone_edits(target, data, mode, times, owner=None):
        with open(path, "ab") as handle:  # another program saves the photo at this very moment
            handle.write(b"more")
        return real_write_temp(target, data, mode, times, owner)

    monkeypatch.setattr(writer, "write_temp", write_temp_while_someone_edits)
    (result,) = library.write_batch().results
    assert result.error_kind is ErrorKind.CHANGED
    assert path.read_bytes().endswith(b"more") and not list(path.parent.glob(".*"))
