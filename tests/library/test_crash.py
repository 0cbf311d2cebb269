"""A writer process killed with SIGKILL at random moments: every file stays original or fully written,
no temp file is left after recovery, and undo gives back the exact original bytes of every file."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from geocore.library import xmp
from geocore.library.api import Library
from geocore.library.metadata import read_exif_gps_pil
from geocore.library.writer import CHUNK_FILES
from tests.library.exiftool_helpers import sha256_of
from tests.photo_factory import make_jpeg, make_raw_like, make_tiff

ROUNDS = 5
CHILD = """
import sys
from geocore.library.api import Library
library = Library(sys.argv[1])
print("ready", flush=True)
library.write_batch(progress=lambda done, total, path: print("progress", done, total, flush=True))
print("done", flush=True)
"""


def _round(tmp_path: Path, db: Path, photos: list[Path], rng: random.Random, coordinates: set) -> bool:
    """Accept new positions for all photos, start a writer and kill it at a random moment; True if killed."""
    library = Library(db)
    library.scan([tmp_path / "photos"])
    for path in photos:
        lat, lon = round(rng.uniform(-80, 80), 6), round(rng.uniform(-179, 179), 6)
        coordinates.add((lat, lon))
        library.set_manual(library.photo_by_path(path).id, lat, lon)
    library.close()
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db)], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[2])
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    for _ in range(rng.randint(0, len(photos) // CHUNK_FILES)):  # let a random number of chunks finish...
        child.stdout.readline()
    time.sleep(rng.uniform(0.0, 0.06))  # ...then kill somewhere inside the next one (a chunk takes ~0.1 s)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    return child.returncode == -signal.SIGKILL


def _assert_intact(path: Path, original_sha: str, coordinates: set) -> None:
    if path.suffix == ".NEF":  # RAW: never rewritten; its sidecar is absent or a complete XMP with our position
        assert sha256_of(path) == original_sha
        sidecar = path.with_name(path.name + ".xmp")
        fix = xmp.read_location(sidecar.read_bytes()) if sidecar.exists() else None
        assert fix is None or any(abs(fix.lat - lat) < 1e-6 and abs(fix.lon - lon) < 1e-6 for lat, lon in coordinates)
        return
    if sha256_of(path) == original_sha:
        return
    data = path.read_bytes()
    with Image.open(path) as image:
        image.load()  # the whole compressed image decodes
    fix = read_exif_gps_pil(data)
    assert fix is not None, f"{path.name}: written but no GPS"
    assert any(abs(fix.lat - lat) < 1e-6 and abs(fix.lon - lon) < 1e-6 for lat, lon in coordinates), path.name


def test_sigkill_during_batches_never_corrupts_and_undo_restores(tmp_path) -> None:
    rng = random.Random(1234)
    photos = [make_jpeg(tmp_path / "photos" / f"p{i:02d}.jpg", size=(480, 360), color_seed=i) for i in range(40)]
    photos += [make_tiff(tmp_path / "photos" / f"t{i}.tif", size=(200, 150), color_seed=i) for i in range(4)]
    photos += [make_raw_like(tmp_path / "photos" / f"r{i}.NEF", color_seed=i) for i in range(4)]  # sidecars
    originals = {path: sha256_of(path) for path in photos}
    db = tmp_path / "lib.sqlite3"
    coordinates: set = set()
    kills = sum(_round(tmp_path, db, photos, rng, coordinates) for _ in range(ROUNDS))
    assert kills >= ROUNDS - 1  # (a very fast child may finish before the signal)
    library = Library(db)  # recovery settles rows left pending
    assert not list((tmp_path / "photos").glob(".*"))
    for path in photos:
        _assert_intact(path, originals[path], coordinates)
    written = {Path(row["path"]) for row in library.journal_rows() if row["state"] == "done"}
    assert written, "no kill landed after a write: the test would prove nothing"
    report = library.undo(paths=photos)
    assert report.failed == []
    assert {path: sha256_of(path) for path in photos} == originals
    assert not list((tmp_path / "photos").glob("*.xmp"))  # sidecars we created are gone again


def test_a_second_library_leaves_a_batch_in_flight_alone(tmp_path, monkeypatch) -> None:
    from geocore.library import writer as writer_module

    path = make_jpeg(tmp_path / "photos" / "a.jpg")
    db = tmp_path / "lib.sqlite3"
    library = Library(db)
    library.scan([tmp_path / "photos"])
    library.set_manual(library.photo_by_path(path).id, 1.0, 2.0)
    recovered_meanwhile = []
    real_write_temp = writer_module.write_temp

    def write_then_open_another(*args, **kwargs):  # e.g. the app's scan child process starting mid-batch
        temp = real_write_temp(*args, **kwargs)
        with Library(db) as other:
            recovered_meanwhile.append(other.recovered)
        return temp

    monkeypatch.setattr(writer_module, "write_temp", write_then_open_another)
    report = library.write_batch()
    assert recovered_meanwhile == [[]] and report.results[0].ok
    assert [row["state"] for row in library.journal_rows(path)] == ["done"]
