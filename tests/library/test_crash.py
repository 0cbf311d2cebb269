"""Processes killed with SIGKILL at random moments while they write, undo or strip: every file stays as it was or
becomes exactly what the journal says was written, no temp file is left after recovery, the run after the crash
reports no false failure, and undo gives back the exact original bytes of every file.

`run_trial` is shared with `benchmarks/crash.py`, which runs many more trials. The killed process is a fork of
the test process: the same code, without an interpreter start-up per trial.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from geotagger.geocore.library import xmp
from geotagger.geocore.library.api import Library
from geotagger.geocore.library.decisions import Proposal
from geotagger.geocore.library.patches import decode_patches
from geotagger.geocore.library.writer import CHUNK_FILES, is_written_version
from tests.library.exiftool_helpers import sha256_of
from tests.photo_factory import make_jpeg, make_raw_like, make_tiff

OPERATIONS = ("write", "undo", "strip")
ROUNDS = 3
@dataclass
class TrialResult:
    """What one killed run and the run after it showed (all counts should be 0 but `killed` and `written`)."""

    operation: str
    killed: bool
    written: int  # files the killed batch had finished: a trial with none proves little
    corrupt: int
    false_failures: int
    undo_mismatches: int


def make_pristine(folder: Path, jpegs: int = 40, tiffs: int = 4, raws: int = 4) -> list[Path]:
    """JPEGs and TIFFs written in place, RAW-like files that get sidecars."""
    photos = [make_jpeg(folder / f"p{i:02d}.jpg", size=(480, 360), color_seed=i) for i in range(jpegs)]
    photos += [make_tiff(folder / f"t{i}.tif", size=(200, 150), color_seed=i) for i in range(tiffs)]
    photos += [make_raw_like(folder / f"r{i}.NEF", color_seed=i) for i in range(raws)]
    return photos


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def _files(folder: Path) -> dict[str, str | None]:
    return {p.name: _digest(p) for p in folder.iterdir()}


def _place_all(library: Library, photos: list[Path], rng: random.Random) -> None:
    """A new accepted position for every photo, in one transaction."""
    records = library.photos_by_paths(photos)
    library.propose_many([Proposal(records[str(path)].id, round(rng.uniform(-80, 80), 6),
                                   round(rng.uniform(-179, 179), 6), None, "manual", state="accepted")
                          for path in photos])


def _child(db: Path, operation: str, photos: list[Path], pipe: int) -> None:
    """The killed process: opens the library and runs `operation`, telling the parent of each finished chunk."""
    library = Library(db)
    os.write(pipe, b"ready\n")

    def progress(_done: int, _total: int, _path: str) -> None:
        os.write(pipe, b"progress\n")

    if operation == "write":
        library.write_batch(progress=progress)
    elif operation == "undo":
        library.undo(paths=photos, progress=progress)
    else:
        library.strip(photos, progress=progress)
    os.write(pipe, b"done\n")


def _run_and_kill(db: Path, operation: str, photos: list[Path], rng: random.Random) -> bool:
    """Run `operation` in a forked child (no interpreter start-up to wait for) and SIGKILL it at a random moment;
    True if the signal landed before the child finished."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child never returns into the test runner
        os.close(read_end)
        try:
            _child(db, operation, photos, write_end)
        except BaseException:  # noqa: BLE001 - shown, then the child ends like any crashed process
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as lines:
        assert lines.readline().strip() == b"ready"
        chunks = -(-len(photos) // CHUNK_FILES)
        for _ in range(rng.randint(0, chunks - 1)):  # let a random number of chunks finish...
            lines.readline()
        time.sleep(rng.uniform(0.0, 0.04))  # ...then kill somewhere inside the next one (a chunk takes ~0.05 s)
        os.kill(pid, signal.SIGKILL)
    _pid, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def _decodes(path: Path) -> bool:
    """True when the file reads back whole (the image decodes, the XMP parses); raises otherwise."""
    if path.suffix.lower() == ".xmp":
        xmp.read_location(path.read_bytes())
        return True
    with Image.open(path) as image:
        image.load()
    return True


def _count_corrupt(library: Library, folder: Path, before: dict[str, str | None], batch_id: str | None) -> int:
    """Files that are neither what they were before the killed batch nor exactly what its journal says it wrote."""
    rows = library.journal_rows(batch_id=batch_id) if batch_id else []
    done = {Path(row["path"]).name: row for row in rows if row["state"] == "done"}
    corrupt = sum(1 for p in folder.iterdir() if p.name.startswith("."))  # a temp file left behind
    for name in sorted(set(before) | {p.name for p in folder.iterdir() if not p.name.startswith(".")}):
        path = folder / name
        current = path.read_bytes() if path.exists() else b""
        row = done.get(name)
        if row is None:
            intact = _digest(path) == before.get(name)
        else:
            intact = (row["original_sha256"] == (before.get(name) or hashlib.sha256(b"").hexdigest())
                      and is_written_version(current, decode_patches(row["patches"]), row["original_sha256"]))
        if intact and path.exists():
            try:
                intact = _decodes(path)
            except Exception:  # noqa: BLE001 - any failure to read it back is corruption here
                intact = False
        corrupt += not intact
    return corrupt


def _cache_mismatches(library: Library) -> int:
    """Cached identities that no longer match their files: the next write would call them changed."""
    stale = 0
    for photo in library.photos():
        info = photo.file_path.stat()
        stale += (photo.size, photo.mtime_ns) != (info.st_size, info.st_mtime_ns)
    return stale


def _rerun(library: Library, operation: str, photos: list[Path], already: set[str]) -> int:
    """The same command again after the crash; every failure, and every rewrite of a file already done, is false."""
    if operation == "write":
        report = library.write_batch()
        return len(report.failed) + sum(1 for r in report.results if r.path.name in already)
    report = library.undo(paths=photos) if operation == "undo" else library.strip(photos)
    return len(report.failed)


def run_trial(pristine: Path, work: Path, operation: str, rng: random.Random) -> TrialResult:
    """Copy `pristine`, bring it to the state `operation` needs, kill a child doing it, then check the next run."""
    folder = work / "photos"
    shutil.copytree(pristine, folder)
    originals = _files(folder)
    photos = sorted(folder / name for name in originals)
    db = work / "lib.sqlite3"
    with Library(db) as library:
        library.scan([folder])
        _place_all(library, photos, rng)
        if operation != "write":
            assert library.write_batch().failed == []  # something to undo or strip
    before = _files(folder)
    killed = _run_and_kill(db, operation, photos, rng)
    with Library(db) as library:  # recovery settles what the kill left pending
        newest = library.batches()[:1]  # none when the kill came before the batch was created
        batch_id = newest[0]["id"] if newest and newest[0]["operation"] == operation else None
        corrupt = _count_corrupt(library, folder, before, batch_id)
        unsettled = sum(1 for row in library.journal_rows() if row["state"] == "pending")
        already = {Path(r["path"]).name for r in library.journal_rows(batch_id=batch_id)
                   if r["state"] == "done"} if batch_id else set()
        false_failures = unsettled + _cache_mismatches(library) + _rerun(library, operation, photos, already)
        false_failures += _cache_mismatches(library)
        final = library.undo(paths=photos)
        mismatches = len(final.failed) + sum(1 for name, sha in _files(folder).items() if originals.get(name) != sha)
        mismatches += sum(1 for name in originals if not (folder / name).exists())
    return TrialResult(operation, killed, len(already), corrupt, false_failures, mismatches)


def test_sigkill_in_write_undo_and_strip_then_the_next_run(tmp_path) -> None:
    rng = random.Random(1234)
    pristine = tmp_path / "pristine"
    make_pristine(pristine, jpegs=24)
    results = [run_trial(pristine, tmp_path / f"trial{i}", operation, rng)
               for i, operation in enumerate(OPERATIONS * 3)]
    assert [(r.corrupt, r.false_failures, r.undo_mismatches) for r in results] == [(0, 0, 0)] * len(results)
    assert sum(r.killed for r in results) >= len(results) // 2  # (a fast child may finish before the signal)
    assert any(r.killed and r.written > 0 for r in results), "no kill landed in the middle of a batch"


def test_stacked_killed_writes_never_corrupt_and_undo_restores(tmp_path) -> None:
    rng = random.Random(99)
    folder = tmp_path / "photos"
    photos = make_pristine(folder, jpegs=24)
    originals = {path: sha256_of(path) for path in photos}
    db = tmp_path / "lib.sqlite3"
    kills = 0
    for _ in range(ROUNDS):  # each round accepts new positions on top of what the killed rounds left
        with Library(db) as library:
            library.scan([folder])
            _place_all(library, photos, rng)
        kills += _run_and_kill(db, "write", photos, rng)
    assert kills >= ROUNDS - 1
    library = Library(db)
    assert not list(folder.glob(".*"))
    assert any(row["state"] == "done" for row in library.journal_rows()), "no kill landed after a write"
    report = library.undo(paths=photos)
    assert report.failed == []
    assert {path: sha256_of(path) for path in photos} == originals
    assert not list(folder.glob("*.xmp"))  # sidecars we created are gone again


def test_a_second_library_leaves_a_batch_in_flight_alone(tmp_path, monkeypatch) -> None:
    from geotagger.geocore.library import writer as writer_module

    path = make_jpeg(tmp_path / "photos" / "a.jpg")
    db = tmp_path / "lib.sqlite3"
    library = Library(db)
    library.scan([tmp_path / "photos"])
    library.set_manual(library.photo_by_path(path).id, 1.0, 2.0)
    recovered_meanwhile = []
    real_write_temp = writer_module.write_temp

    def write_then_open_another(*args, **kwargs):  # e.g. the app's scan child process starting mid-batch
        written = real_write_temp(*args, **kwargs)
        with Library(db) as other:
            recovered_meanwhile.append(other.recovered)
        return written

    monkeypatch.setattr(writer_module, "write_temp", write_then_open_another)
    report = library.write_batch()
    assert recovered_meanwhile == [[]] and report.results[0].ok
    assert [row["state"] for row in library.journal_rows(path)] == ["done"]
