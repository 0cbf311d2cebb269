"""Issue 11, defect 3: a file name that is not UTF-8 (POSIX names are bytes) survives the cache, writing, undo,
prediction records and JSON output, and is shown with U+FFFD."""

from __future__ import annotations

import base64
import json
import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from geotagger.geocore.inference.files import BASE_BUNDLE
from geotagger.geocore.library import db as schema
from geotagger.geocore.library.api import Library
from geotagger.geocore.library.paths import display_path, json_line, json_path_fields, json_safe, path_from_json
from tests.library.exiftool_helpers import sha256_of
from tests.photo_factory import make_jpeg

REPO = Path(__file__).resolve().parents[2]
LATIN1_NAME = b"caf\xe9.jpg"  # 'café.jpg' in Latin-1: not valid UTF-8


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder with a Latin-1 named JPEG and a plain one (skips where the file system refuses such names)."""
    if os.name != "posix":
        pytest.skip("byte file names are a POSIX matter")
    photos = tmp_path / "photos"
    photos.mkdir()
    try:
        make_jpeg(os.fsdecode(os.fsencode(photos) + b"/" + LATIN1_NAME), size=(96, 64))
    except OSError as error:  # e.g. macOS APFS: EILSEQ
        pytest.skip(f"this file system refuses non-UTF-8 names: {error}")
    make_jpeg(photos / "plain.jpg", size=(96, 64))
    return photos


def latin1_path(folder: Path) -> str:
    """The str Python uses for the Latin-1 file (with a surrogate escape)."""
    return os.fsdecode(os.fsencode(folder) + b"/" + LATIN1_NAME)


def test_display_path_replaces_undecodable_bytes() -> None:
    name = os.fsdecode(LATIN1_NAME)
    assert display_path(name) == display_path(LATIN1_NAME) == "caf\ufffd.jpg"
    assert display_path(Path("/a/b.jpg")) == "/a/b.jpg" and display_path("naïve/東京.jpg") == "naïve/東京.jpg"
    display_path(name).encode("utf-8")  # always printable


def test_json_path_fields_round_trip() -> None:
    name = "/photos/" + os.fsdecode(LATIN1_NAME)
    fields = json_path_fields(name)
    assert fields["path"] == "/photos/caf\ufffd.jpg"
    assert base64.b64decode(fields["path_bytes"]) == b"/photos/" + LATIN1_NAME
    assert path_from_json(json.loads(json.dumps(fields))) == name
    assert json_path_fields("/photos/東京.jpg") == {"path": "/photos/東京.jpg"}
    assert path_from_json({"path": "/photos/東京.jpg"}) == "/photos/東京.jpg"


def test_json_line_is_utf8_and_finite() -> None:
    record = {"path": os.fsdecode(LATIN1_NAME), "issues": [{"path": os.fsdecode(b"x\xff")}], "lat": 1.5}
    line = json_line(record)
    line.encode("utf-8")
    parsed = json.loads(line)
    assert path_from_json(parsed) == os.fsdecode(LATIN1_NAME)
    assert path_from_json(parsed["issues"][0]) == os.fsdecode(b"x\xff")
    assert json_safe(["a", os.fsdecode(b"\xff")]) == ["a", "\ufffd"]
    with pytest.raises(ValueError):
        json_line({"lat": math.nan})


def test_scan_stores_the_name_exactly(folder: Path, tmp_path: Path) -> None:
    db = tmp_path / "lib.sqlite3"
    with Library(db) as library:
        report = library.scan([folder])
        assert report.new == 2 and report.issues == []
        photo = library.photo_by_path(latin1_path(folder))
        assert photo.path == latin1_path(folder) and photo.file_path.exists() and photo.error_kind is None
        assert {p.path for p in library.photos(folder=folder)} == {latin1_path(folder), str(folder / "plain.jpg")}
        assert library.scan([folder]).unchanged == 2  # the identity found again: no re-read, nothing missing
    with sqlite3.connect(db) as connection:  # the OS bytes themselves, not an escaped or lossy text
        stored = {row[0] for row in connection.execute("SELECT path FROM photos")}
    assert os.fsencode(folder) + b"/" + LATIN1_NAME in stored


def test_set_write_and_undo_a_latin1_named_file(folder: Path, tmp_path: Path) -> None:
    path = latin1_path(folder)
    before = sha256_of(Path(path))
    with Library(tmp_path / "lib.sqlite3") as library:
        library.scan([folder])
        photo = library.photo_by_path(path)
        decision_id = library.set_manual(photo.id, 46.5, 6.6)
        report = library.write_batch([decision_id])
        assert [r.ok for r in report.results] == [True], report.results
        assert sha256_of(Path(path)) != before
        written = library.photo_by_path(path)
        assert (round(written.gps_lat or 0, 6), round(written.gps_lon or 0, 6)) == (46.5, 6.6)
        assert [row["path"] for row in library.journal_rows(path)] == [path]
        undone = library.undo(paths=[path])
        assert [r.ok for r in undone.results] == [True], undone.results
    assert sha256_of(Path(path)) == before


def test_a_cache_of_schema_2_is_migrated(folder: Path, tmp_path: Path) -> None:
    """Version 2 stored paths as UTF-8 text; version 3 keeps the OS bytes: old rows are converted in place."""
    db = tmp_path / "old.sqlite3"
    with Library(db) as library:
        library.ensure_scanned([folder / "plain.jpg"])
        photo_id = library.photo_by_path(folder / "plain.jpg").id
    with sqlite3.connect(db) as connection:  # make it look like a version-2 cache
        connection.execute("UPDATE photos SET path = CAST(path AS TEXT)")
        connection.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
        assert connection.execute("SELECT typeof(path) FROM photos").fetchone() == ("text",)
    with Library(db) as library:
        assert library.photo_by_path(folder / "plain.jpg").id == photo_id
        with library.database.engine.connect() as connection:
            assert schema.schema_version(connection) == schema.SCHEMA_VERSION >= 3
            assert connection.execute(sa.text("SELECT typeof(path) FROM photos")).scalar() == "blob"
        assert library.scan([folder]).new == 1  # only the Latin-1 file is new: plain.jpg kept its row


@pytest.mark.skipif(not BASE_BUNDLE.exists(), reason="the base bundle is not built")
def test_predict_records_and_json_lines_keep_the_name(folder: Path, tmp_path: Path) -> None:
    out, db = tmp_path / "out.jsonl", tmp_path / "lib.sqlite3"
    env = dict(os.environ, PYTHONIOENCODING="utf-8:strict", PYTHONPATH=str(REPO))  # as in a UTF-8 terminal
    result = subprocess.run([sys.executable, "-m", "geotagger.geocore.cli.main", "predict", str(folder),
                             "--provider", "cpu", "--db", str(db), "--json", str(out)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 2 and all(record.get("error") is None for record in records)
    latin1 = next(record for record in records if "path_bytes" in record)
    assert latin1["path"].endswith("caf\ufffd.jpg") and path_from_json(latin1) == latin1_path(folder)
    with Library(db) as library:
        photo = library.photo_by_path(latin1_path(folder))
        assert library.predictions(photo.id), "the prediction of the Latin-1 file is cached"


def _all_strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in _all_strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _all_strings(item)]
    return [value] if isinstance(value, str) else []


def test_scan_json_lines_are_valid_unicode_and_reversible(folder: Path, tmp_path: Path) -> None:
    broken = os.fsdecode(os.fsencode(folder) + b"/bad\xe9.jpg")
    with open(broken, "wb") as handle:
        handle.write(b"\xff\xd8\xff\xe0\x00")  # an issue of the scan, reported with its path
    env = dict(os.environ, PYTHONIOENCODING="utf-8:strict", PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-m", "geotagger.geocore.cli.main", "scan", "--json-lines", "--db",
                             str(tmp_path / "lib.sqlite3"), str(folder)], cwd=REPO, env=env, capture_output=True,
                            timeout=120)
    assert result.returncode == 1, result.stderr[-2000:]  # 1: the broken file is reported
    lines = [json.loads(line) for line in result.stdout.decode("utf-8").splitlines()]
    strings = [text for line in lines for text in _all_strings(line)]
    assert all(text.encode("utf-8") for text in strings)  # no lone surrogate anywhere: any JSON reader copes
    (issue,) = lines[-1]["report"]["issues"]
    assert issue["path"].endswith("bad\ufffd.jpg") and path_from_json(issue) == broken


def test_scan_in_subprocess_gives_back_the_exact_issue_path(folder: Path, tmp_path: Path) -> None:
    from geotagger.geocore.library.scan_process import scan_in_subprocess

    broken = os.fsdecode(os.fsencode(folder) + b"/bad\xe9.jpg")
    with open(broken, "wb") as handle:
        handle.write(b"\xff\xd8\xff\xe0\x00")
    seen: list[str] = []
    report = scan_in_subprocess(tmp_path / "lib.sqlite3", [folder], lambda done, total, path: seen.append(path))
    assert report.found == 3 and [issue.path for issue in report.issues] == [broken]
    assert seen and all(path.encode("utf-8") for path in seen)
    with Library(tmp_path / "lib.sqlite3") as library:
        assert library.photo_by_path(broken).error_kind == "corrupt_metadata"
