"""Scanning and the cache: what is found, what is read, what a rescan touches, typed errors, migrations."""

from __future__ import annotations

import os
import threading
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from geotagger.geocore.library import db as schema
from geotagger.geocore.library import scanner
from geotagger.geocore.library.api import Library
from geotagger.geocore.library.formats import Kind, sniff
from tests.photo_factory import make_heic, make_jpeg, make_png, make_raw_like, make_tiff


def _library(tmp_path: Path) -> Library:
    return Library(tmp_path / "cache" / "lib.sqlite3")


def test_walk_finds_photos_case_insensitively_and_skips_hidden(tmp_path) -> None:
    root = tmp_path / "photos"
    make_jpeg(root / "a.JPG")
    make_jpeg(root / "deep" / "er" / "b.jpeg")
    make_raw_like(root / "c.Nef")
    make_png(root / ".hidden.png")
    make_jpeg(root / ".cache" / "d.jpg")
    (root / "notes.txt").write_text("not a photo")
    library = _library(tmp_path)
    report = library.scan([root])
    names = sorted(Path(p.path).name for p in library.photos())
    assert names == ["a.JPG", "b.jpeg", "c.Nef"] and report.new == 3
    assert library.photo_by_path(root / "c.Nef").kind == "raw"
    library.scan([root], include_hidden=True)
    assert len(library.photos()) == 5


def test_symlink_loop_and_unreadable_folder_are_reported_not_fatal(tmp_path) -> None:
    root = tmp_path / "photos"
    make_jpeg(root / "sub" / "a.jpg")
    os.symlink(root, root / "sub" / "loop")
    issues: list[scanner.ScanIssue] = []
    found = list(scanner.walk_photos([root, tmp_path / "does-not-exist"], issues))
    assert [Path(f.path).name for f in found] == ["a.jpg"]
    kinds = {issue.kind for issue in issues}
    assert "symlink_loop" in kinds and "not_found" in kinds


def test_metadata_is_read(tmp_path) -> None:
    path = make_jpeg(tmp_path / "p" / "a.jpg", size=(320, 200), gps=(-12.5, 130.25, 40.0), orientation=8,
                     datetime_original=datetime(2019, 12, 31, 23, 59, 58), offset="-05:00", make="NIKON",
                     model="Z 6")
    tiff = make_tiff(tmp_path / "p" / "b.tiff", datetime_original=datetime(2020, 1, 2, 3, 4, 5), offset=None)
    heic = make_heic(tmp_path / "p" / "c.heic", gps=(1.5, 2.5))
    library = _library(tmp_path)
    library.scan([tmp_path / "p"])
    photo = library.photo_by_path(path)
    assert (photo.width, photo.height, photo.orientation, photo.make, photo.model) == (320, 200, 8, "NIKON", "Z 6")
    assert photo.capture_datetime == datetime(2019, 12, 31, 23, 59, 58) and photo.capture_offset == "-05:00"
    assert photo.gps_lat == pytest.approx(-12.5) and photo.gps_lon == pytest.approx(130.25)
    assert photo.gps_alt_m == pytest.approx(40.0) and photo.gps_source == "exif"
    assert photo.head_hash and photo.size == path.stat().st_size
    assert library.photo_by_path(tiff).capture_time == "2020-01-02T03:04:05"
    assert library.photo_by_path(tiff).capture_offset is None
    assert library.photo_by_path(heic).gps_lat == pytest.approx(1.5)
    assert [p.path for p in library.photos("has_gps")] == [str(path), str(heic)]


def test_sniffing_goes_by_content(tmp_path) -> None:
    jpeg_named_png = make_jpeg(tmp_path / "p" / "really_a_jpeg.png")
    library = _library(tmp_path)
    library.scan([tmp_path / "p"])
    assert library.photo_by_path(jpeg_named_png).kind == "jpeg"
    assert sniff(b"II*\x00" + bytes(28), ".dng") is Kind.RAW
    assert sniff(b"II*\x00" + bytes(28), ".TIF") is Kind.TIFF
    assert sniff(b"\x00\x00\x00\x18ftypcrx " + bytes(20), ".cr3") is Kind.RAW


def test_bad_files_get_typed_errors_and_scan_goes_on(tmp_path) -> None:
    root = tmp_path / "p"
    good = make_jpeg(root / "good.jpg")
    (root / "empty.jpg").write_bytes(b"")
    (root / "text.jpg").write_text("hello, not an image")
    (root / "truncated.jpg").write_bytes(good.read_bytes()[:300])
    library = _library(tmp_path)
    report = library.scan([root])
    kinds = {Path(issue.path).name: issue.kind for issue in report.issues}
    assert kinds == {"empty.jpg": "corrupt_metadata", "text.jpg": "unsupported", "truncated.jpg": "corrupt_metadata"}
    assert library.photo_by_path(good).error_kind is None
    assert {Path(p.path).name for p in library.photos("error")} == set(kinds)
    for name in kinds:
        library.set_manual(library.photo_by_path(root / name).id, 1.0, 2.0)
    library.set_manual(library.photo_by_path(good).id, 1.0, 2.0)
    results = {r.path.name: r for r in library.write_batch().results}
    assert results["good.jpg"].ok
    assert all(not results[name].ok and results[name].error_kind.value == kind for name, kind in kinds.items())


def test_rescan_of_unchanged_files_only_stats(tmp_path, monkeypatch) -> None:
    root = tmp_path / "p"
    paths = [make_jpeg(root / f"{i}.jpg", size=(64, 48), color_seed=i) for i in range(5)]
    library = _library(tmp_path)
    library.scan([root])
    calls: list[str] = []
    original_inspect = scanner.inspect_file
    monkeypatch.setattr(scanner, "inspect_file", lambda found: calls.append(found.path) or original_inspect(found))
    monkeypatch.setattr("builtins.open", _forbidden_open)
    report = library.scan([root])
    assert (report.unchanged, report.changed, report.new, calls) == (5, 0, 0, [])
    monkeypatch.undo()
    assert len(paths) == 5


def _forbidden_open(*args, **kwargs):
    raise AssertionError(f"a rescan of unchanged files opened {args[0]}")


def test_changed_file_is_reread_and_its_stale_predictions_dropped(tmp_path) -> None:
    root = tmp_path / "p"
    changed = make_jpeg(root / "a.jpg", color_seed=1)
    kept = make_jpeg(root / "b.jpg", color_seed=2)
    library = _library(tmp_path)
    library.scan([root])
    ids = {p: library.photo_by_path(p).id for p in (changed, kept)}
    for photo_id in ids.values():
        library.put_prediction(photo_id, "m1", "crops=5", {"top": [1, 2]}, 10.0, 20.0, 25.0)
        library.put_features(photo_id, "backbone", np.arange(4, dtype=np.float32))
        library.propose(photo_id, 10.0, 20.0, 25.0, "model")
    make_jpeg(changed, color_seed=3, gps=(5.0, 6.0))
    report = library.scan([root])
    assert (report.changed, report.unchanged) == (1, 1)
    assert library.predictions(ids[changed]) == [] and library.get_features(ids[changed], "backbone") is None
    assert library.photo_by_path(changed).gps_lat == pytest.approx(5.0)
    assert len(library.predictions(ids[kept])) == 1
    np.testing.assert_array_equal(library.get_features(ids[kept], "backbone"), np.arange(4, dtype=np.float32))
    assert len(library.decisions(photo_id=ids[changed])) == 1  # the user's decisions are not predictions
    changed.unlink()
    assert library.scan([root]).missing == 1
    assert library.photo_by_path(changed).error_kind == "not_found"


def test_a_file_back_as_it_was_keeps_its_predictions(tmp_path) -> None:
    root = tmp_path / "p"
    path = make_jpeg(root / "a.jpg")
    library = _library(tmp_path)
    library.scan([root])
    photo_id = library.photo_by_path(path).id
    library.put_prediction(photo_id, "m1", "crops=5", {"top": [1, 2]}, 10.0, 20.0, 25.0)
    library.put_features(photo_id, "backbone", np.arange(4, dtype=np.float32))
    away = tmp_path / "away.jpg"
    os.replace(path, away)  # the drive is unplugged...
    assert library.scan([root]).missing == 1
    os.replace(away, path)  # ...and plugged in again: same bytes, same mtime
    report = library.scan([root])
    assert (report.changed, report.sidecar_changed, report.unchanged) == (1, 0, 0)
    assert library.photo_by_path(path).error_kind is None
    assert len(library.predictions(photo_id)) == 1 and library.get_features(photo_id, "backbone") is not None
    assert library.scan([root]).unchanged == 1


def test_image_over_the_bomb_guard_is_refused_for_thumbnails_only(tmp_path, monkeypatch) -> None:
    from PIL import Image

    from geotagger.geocore.library.errors import LibraryError

    root = tmp_path / "p"
    make_jpeg(root / "huge.jpg")
    library = _library(tmp_path)
    library.scan([root])
    photo_id = library.photos()[0].id
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow raises DecompressionBombError above twice this
    with pytest.raises(LibraryError, match="too large"):
        library.thumbnail(photo_id)
    library.set_manual(photo_id, 1.0, 2.0)
    result = library.write_batch().results[0]  # metadata edits never decode pixels: the guard does not apply
    assert result.ok, result
    assert not list(root.glob(".*geotag-tmp"))
    report = Library(tmp_path / "other.sqlite3").scan([root])
    assert report.issues == []


def test_scan_progress_and_cancel(tmp_path) -> None:
    root = tmp_path / "p"
    for i in range(6):
        make_jpeg(root / f"{i}.jpg", size=(32, 32), color_seed=i)
    library = _library(tmp_path)
    cancel = threading.Event()
    seen: list[int] = []

    def progress(done: int, total: int, _path: str) -> None:
        seen.append(done)
        if done == 2:
            cancel.set()

    report = library.scan([root], progress=progress, cancel=cancel)
    assert report.cancelled and seen == [1, 2] and len(library.photos()) == 2
    assert library.scan([root]).new == 4


def test_scan_cancelled_during_the_walk_marks_nothing_missing(tmp_path) -> None:
    root = tmp_path / "p"
    make_jpeg(root / "a.jpg")
    make_jpeg(root / "b.jpg", color_seed=1)
    library = _library(tmp_path)
    library.scan([root])
    cancel = threading.Event()
    cancel.set()  # before the walk has listed anything
    report = library.scan([root], cancel=cancel)
    assert report.cancelled and report.missing == 0
    assert [p.error_kind for p in library.photos()] == [None, None]


def test_photos_of_a_folder_match_its_name_exactly(tmp_path) -> None:
    make_jpeg(tmp_path / "p" / "a_b" / "1.jpg")
    make_jpeg(tmp_path / "p" / "axb" / "2.jpg", color_seed=1)
    make_jpeg(tmp_path / "p" / "100%" / "3.jpg", color_seed=2)
    make_jpeg(tmp_path / "p" / "1000" / "4.jpg", color_seed=3)
    make_jpeg(tmp_path / "p" / "A_B" / "5.jpg", color_seed=4)  # another folder on a case-sensitive file system
    library = _library(tmp_path)
    library.scan([tmp_path / "p"])
    assert [Path(p.path).name for p in library.photos(folder=tmp_path / "p" / "a_b")] == ["1.jpg"]
    assert [Path(p.path).name for p in library.photos(folder=tmp_path / "p" / "100%")] == ["3.jpg"]


def test_features_and_predictions_roundtrip(tmp_path) -> None:
    path = make_jpeg(tmp_path / "p" / "a.jpg")
    library = _library(tmp_path)
    library.scan([tmp_path / "p"])
    photo_id = library.photo_by_path(path).id
    vector = np.random.default_rng(0).normal(size=1280).astype(np.float32)
    library.put_features(photo_id, "effnet-lite0", vector)
    np.testing.assert_array_equal(library.get_features(photo_id, "effnet-lite0"), vector)
    assert library.get_features(photo_id, "other") is None
    library.put_prediction(photo_id, "m", "k", {"cells": [3]}, 1.0, 2.0, 50.0)
    library.put_prediction(photo_id, "m", "k", {"cells": [4]}, 1.5, 2.5, 40.0)  # replaces
    (prediction,) = library.predictions(photo_id)
    assert prediction.lat == 1.5 and '"cells": [4]' in (prediction.payload_json or "")


def test_decisions_flow(tmp_path) -> None:
    first = make_jpeg(tmp_path / "p" / "a.jpg", color_seed=1)
    second = make_jpeg(tmp_path / "p" / "b.jpg", color_seed=2)
    library = _library(tmp_path)
    library.scan([tmp_path / "p"])
    a, b = library.photo_by_path(first).id, library.photo_by_path(second).id
    wide = library.propose(a, 1.0, 1.0, 500.0, "model")
    tight = library.propose(a, 2.0, 2.0, 5.0, "gps_track")
    other = library.propose(b, 3.0, 3.0, 50.0, "time_neighbour", review=True, notes="check")
    library.propose(b, 4.0, 4.0, 1.0, "personal_model")  # tighter, but the fusion rule ranks its source lower
    assert library.decisions_to_write(None, all_proposed=False) == []
    assert [d.id for d in library.decisions_to_write(None, all_proposed=True)] == [tight, other]
    library.accept(wide)
    library.accept(tight)  # only one accepted per photo
    assert [d.id for d in library.decisions(state="accepted")] == [tight]
    library.reject(other)
    assert library.decision(other).state == "rejected" and library.decision(other).review
    with pytest.raises(ValueError):
        library.propose(a, 95.0, 0.0, 1.0, "model")
    with pytest.raises(ValueError):
        library.propose(a, 0.0, 0.0, 1.0, "guess")


def test_schema_migration_from_version_1(tmp_path) -> None:
    path = tmp_path / "old.sqlite3"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        for table in schema.metadata.sorted_tables:
            if table.name != "features":
                table.create(connection)
        connection.execute(sa.insert(schema.meta_table).values(key="schema_version", value="1"))
    engine.dispose()
    library = Library(path)
    with library.database.engine.connect() as connection:
        assert schema.schema_version(connection) == schema.SCHEMA_VERSION
        assert sa.inspect(connection).has_table("features")
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_thumbnail_is_cached_and_oriented(tmp_path) -> None:
    path = make_jpeg(tmp_path / "p" / "a.jpg", size=(640, 480), orientation=6)
    library = _library(tmp_path)
    library.scan([tmp_path / "p"])
    photo_id = library.photo_by_path(path).id
    thumb = library.thumbnail(photo_id)
    from PIL import Image

    with Image.open(thumb) as image:
        assert image.size == (192, 256)  # rotated to portrait by the EXIF orientation
    mtime = thumb.stat().st_mtime_ns
    assert library.thumbnail(photo_id) == thumb and thumb.stat().st_mtime_ns == mtime
    assert library.photo(photo_id).thumbnail_path == str(thumb)


def test_failed_thumbnail_save_leaves_no_partial_file(tmp_path, monkeypatch) -> None:
    import errno

    from PIL import Image

    from geotagger.geocore.library.errors import LibraryError

    make_jpeg(tmp_path / "p" / "a.jpg")
    library = _library(tmp_path)
    library.scan([tmp_path / "p"])

    def disk_full(_image, target, *_args, **_kwargs):  # the disk fills up half-way through the file
        Path(target).write_bytes(b"\xff\xd8 half a JPEG")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)
    with pytest.raises(LibraryError):
        library.thumbnail(library.photos()[0].id)
    assert [p.name for p in library.thumbnail_dir.rglob("*") if p.is_file()] == []


def test_concurrent_readers_while_writing(tmp_path) -> None:
    root = tmp_path / "p"
    for i in range(20):
        make_jpeg(root / f"{i}.jpg", size=(32, 32), color_seed=i)
    library = _library(tmp_path)
    errors: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        try:
            while not done.is_set():
                library.photos()
        except BaseException as exc:  # noqa: BLE001 - any failure of a reader thread fails the test
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    library.scan([root])
    done.set()
    for thread in threads:
        thread.join()
    assert errors == [] and len(library.photos()) == 20


def test_gps_from_embedded_xmp_when_exif_has_none(tmp_path) -> None:
    import subprocess

    from tests.library.exiftool_helpers import EXIFTOOL

    if EXIFTOOL is None:
        pytest.skip("exiftool not installed")
    path = make_jpeg(tmp_path / "p" / "x.jpg")
    subprocess.run([EXIFTOOL, "-q", "-overwrite_original", "-XMP-exif:GPSLatitude=10.5",
                    "-XMP-exif:GPSLongitude=-20.25", "-XMP-exif:GPSLongitudeRef=W", str(path)], check=True)
    library = _library(tmp_path)
    library.scan([tmp_path / "p"])
    photo = library.photo_by_path(path)
    assert (photo.gps_lat, photo.gps_lon, photo.gps_source) == (pytest.approx(10.5), pytest.approx(-20.25), "xmp")


def test_photo_queries_by_decision_state(tmp_path) -> None:
    paths = [make_jpeg(tmp_path / "p" / f"{i}.jpg", size=(32, 32), color_seed=i) for i in range(4)]
    library = _library(tmp_path)
    library.scan([tmp_path / "p"])
    ids = [library.photo_by_path(p).id for p in paths]
    library.propose(ids[0], 1.0, 1.0, 10.0, "model")
    library.accept(library.propose(ids[1], 1.0, 1.0, 10.0, "model"))
    library.reject(library.propose(ids[2], 1.0, 1.0, 10.0, "model", review=True))
    assert [p.id for p in library.photos("proposed")] == [ids[0]]
    assert [p.id for p in library.photos("accepted")] == [ids[1]]
    assert [p.id for p in library.photos("rejected")] == [ids[2]] == [p.id for p in library.photos("review")]
    assert len(library.photos("no_gps")) == 4 and library.photos("written") == []
    with pytest.raises(ValueError):
        library.photos("sideways")


def test_bulk_proposals_and_features(tmp_path) -> None:
    from geotagger.geocore.library.decisions import Proposal

    paths = [make_jpeg(tmp_path / "p" / f"{i}.jpg", size=(32, 32), color_seed=i) for i in range(3)]
    library = _library(tmp_path)
    library.scan([tmp_path / "p"])
    ids = [library.photo_by_path(p).id for p in paths]
    decision_ids = library.propose_many([Proposal(i, 45.0 + n, 7.0, 0.05, "gps_track") for n, i in enumerate(ids)])
    assert [library.decision(d).lat for d in decision_ids] == [45.0, 46.0, 47.0]
    with pytest.raises(ValueError):
        library.propose_many([Proposal(ids[0], 1.0, 1.0, 1.0, "gps_track"), Proposal(ids[1], 1.0, 500.0, 1.0, "model")])
    assert len(library.decisions()) == 3  # nothing of a bad batch is stored
    vectors = {i: np.full(8, float(i), dtype=np.float32) for i in ids}
    library.put_features_many("m", vectors)
    got = library.get_features_many(ids, "m")
    assert sorted(got) == sorted(ids) and all(np.array_equal(got[i], vectors[i]) for i in ids)


def test_sidecar_change_rereads_gps_but_keeps_predictions(tmp_path) -> None:
    from geotagger.geocore.library import xmp
    from geotagger.geocore.library.gps import GpsFix

    raw = make_raw_like(tmp_path / "p" / "a.ORF")
    library = _library(tmp_path)
    library.scan([tmp_path / "p"])
    photo_id = library.photo_by_path(raw).id
    library.put_prediction(photo_id, "m", "k", {}, 1.0, 2.0, 3.0)
    (tmp_path / "p" / "a.ORF.xmp").write_bytes(xmp.merge_location(None, GpsFix(12.0, 34.0)))
    report = library.scan([tmp_path / "p"])
    assert (report.sidecar_changed, report.changed) == (1, 0)
    photo = library.photo(photo_id)
    assert (photo.gps_lat, photo.gps_lon, photo.gps_source) == (12.0, 34.0, "xmp")
    assert len(library.predictions(photo_id)) == 1


def test_identity_is_that_of_the_bytes_read_not_of_a_stale_walk(tmp_path) -> None:
    from geotagger.geocore.library.scanner import FoundFile, inspect_file

    path = make_jpeg(tmp_path / "a.jpg", color_seed=3)
    stale = FoundFile(str(path), 1, 1, None)  # what a walk saw before the file was rewritten
    row = inspect_file(stale)
    current = path.stat()
    assert (row["size"], row["mtime_ns"]) == (current.st_size, current.st_mtime_ns)
    assert row["error_kind"] is None


def test_batch_lookups_match_the_per_photo_ones_across_chunks(tmp_path, monkeypatch) -> None:
    import geotagger.geocore.library.decisions as decisions_module

    monkeypatch.setattr(decisions_module, "SQL_IN_CHUNK", 2)  # five photos span three IN (...) chunks
    paths = [make_jpeg(tmp_path / "p" / f"{name}.jpg", color_seed=index) for index, name in enumerate("abcde")]
    library = _library(tmp_path)
    library.scan([tmp_path / "p"])
    by_path = library.photos_by_paths([*paths, tmp_path / "p" / "never_scanned.jpg"])
    assert sorted(by_path) == sorted(str(path.absolute()) for path in paths)
    assert all(by_path[str(path.absolute())] == library.photo_by_path(path) for path in paths)
    ids = [by_path[str(path.absolute())].id for path in paths]
    for index, photo_id in enumerate(ids[:4]):
        library.put_prediction(photo_id, "m", "crops=1", {"n": index}, 1.0, 2.0, 30.0)
        library.put_prediction(photo_id, "other", "crops=1", {"n": -1}, 3.0, 4.0, 30.0)  # newer, another model
    library.put_prediction(ids[0], "m", "crops=3", {"n": 99}, 1.0, 2.0, 30.0)
    latest = library.latest_predictions(ids, "m", "crops=1")
    assert sorted(latest) == sorted(ids[:4]) and latest[ids[2]].payload_json == '{"n": 2}'
    assert library.latest_predictions(ids)[ids[0]].payload_json == '{"n": 99}'  # newest of any model
    assert library.latest_predictions(ids)[ids[1]].model_id == "other"
    for photo_id in ids:
        library.propose(photo_id, 10.0, 20.0, 5.0, "model")
    library.propose(ids[3], 11.0, 21.0, 5.0, "time_neighbour")
    batch = library.decisions_of_photos(ids[1:4])
    assert batch == [d for d in library.decisions() if d.photo_id in ids[1:4]]
    assert [d.photo_id for d in batch].count(ids[3]) == 2


def test_propose_many_in_short_transactions_keeps_order_and_ids(tmp_path, monkeypatch) -> None:
    import geotagger.geocore.library.decisions as decisions_module
    from geotagger.geocore.library.decisions import Proposal

    monkeypatch.setattr(decisions_module, "PROPOSALS_PER_TRANSACTION", 2)
    paths = [make_jpeg(tmp_path / "p" / f"{name}.jpg", color_seed=index) for index, name in enumerate("abc")]
    library = _library(tmp_path)
    library.scan([tmp_path / "p"])
    ids = [library.photo_by_path(path).id for path in paths]
    proposals = [Proposal(ids[index % 3], 10.0 + index, 20.0, 5.0, "time_neighbour", notes=f"n{index}")
                 for index in range(5)]
    proposals.append(Proposal(ids[0], 1.0, 2.0, None, "manual", state="accepted"))
    proposals.append(Proposal(ids[0], 3.0, 4.0, None, "manual", state="accepted"))  # demotes the one before
    decision_ids = library.propose_many(proposals)
    stored = {decision.id: decision for decision in library.decisions()}
    assert [(stored[i].photo_id, stored[i].lat, stored[i].notes) for i in decision_ids[:5]] == [
        (p.photo_id, p.lat, p.notes) for p in proposals[:5]]
    assert [stored[i].state for i in decision_ids[5:]] == ["proposed", "accepted"]
