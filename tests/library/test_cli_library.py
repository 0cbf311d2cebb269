"""`geotag scan/set/write/undo/strip` end to end through the real entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from geotagger.geocore.cli.main import main
from geotagger.geocore.library.api import Library
from tests.library.exiftool_helpers import sha256_of
from tests.photo_factory import make_jpeg, make_png


def test_cli_scan_set_undo_strip(tmp_path, capsys, monkeypatch) -> None:
    db = tmp_path / "lib.sqlite3"
    root = tmp_path / "photos"
    jpeg = make_jpeg(root / "a.jpg")
    png = make_png(root / "b.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00")
    sha = sha256_of(jpeg)
    assert main(["scan", str(root), "--db", str(db)]) == 1  # the broken file is reported
    out = capsys.readouterr().out
    assert "found 3: 3 new" in out and "broken.jpg: corrupt_metadata" in out

    assert main(["set", str(jpeg), str(png), "--lat", "46.5", "--lon", "6.6", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "ok           " + str(jpeg) in out and "ok           " + str(png) in out  # PNG in place (eXIf)
    photo = Library(db).photo_by_path(jpeg)
    assert (round(photo.gps_lat or 0, 6), round(photo.gps_lon or 0, 6)) == (46.5, 6.6)

    assert main(["undo", str(jpeg), "--db", str(db)]) == 0
    assert sha256_of(jpeg) == sha
    monkeypatch.setenv("GEOTAGGER_DB", str(db))
    assert main(["strip", str(png)]) == 0
    from geotagger.geocore.library.metadata import read_exif_gps_pil

    assert read_exif_gps_pil(png.read_bytes()) is None and not (root / "b.png.xmp").exists()
    assert main(["set", str(root / "broken.jpg"), "--lat", "1", "--lon", "2"]) == 1
    assert "FAILED" in capsys.readouterr().out
    assert main(["set", str(jpeg), "--lat", "91", "--lon", "2"]) == 2


def test_cli_write_accepted_dry_run_and_batch_undo(tmp_path, capsys) -> None:
    db = tmp_path / "lib.sqlite3"
    jpeg = make_jpeg(tmp_path / "p" / "a.jpg")
    sha = sha256_of(jpeg)
    library = Library(db)
    library.scan([tmp_path / "p"])
    library.propose(library.photo_by_path(jpeg).id, 10.0, 20.0, 30.0, "model")
    library.close()
    assert main(["write", "--db", str(db)]) == 0
    assert "0 ok" in capsys.readouterr().out  # nothing accepted yet
    assert main(["write", "--all-proposed", "--dry-run", "--db", str(db)]) == 0
    assert "would write" in capsys.readouterr().out and sha256_of(jpeg) == sha
    assert main(["write", "--all-proposed", "--db", str(db)]) == 0
    batch = capsys.readouterr().out.strip().splitlines()[-1].split()[2].rstrip(":")
    assert sha256_of(jpeg) != sha
    assert main(["undo", "--batch", batch, "--db", str(db)]) == 0
    assert sha256_of(jpeg) == sha
    assert main(["undo", "--db", str(db)]) == 2


def test_console_help_lists_library_commands() -> None:
    result = subprocess.run([sys.executable, "-m", "geotagger.geocore.cli.main", "--help"], capture_output=True,
                            text=True, cwd=Path(__file__).resolve().parents[2], timeout=120)
    for command in ("scan", "write", "undo", "strip", "set"):
        assert command in result.stdout


def test_cli_undo_list(tmp_path, capsys) -> None:
    db = tmp_path / "lib.sqlite3"
    jpeg = make_jpeg(tmp_path / "p" / "a.jpg")
    assert main(["set", str(jpeg), "--lat", "1", "--lon", "2", "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["undo", "--list", "--db", str(db)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert "write" in line and "1 done" in line


def test_cli_set_dry_run_leaves_nothing_to_write(tmp_path, capsys) -> None:
    db = tmp_path / "lib.sqlite3"
    jpeg = make_jpeg(tmp_path / "p" / "a.jpg")
    sha = sha256_of(jpeg)
    assert main(["set", str(jpeg), "--lat", "1", "--lon", "2", "--dry-run", "--db", str(db)]) == 0
    assert "would write" in capsys.readouterr().out
    assert main(["write", "--db", str(db)]) == 0
    assert "0 ok" in capsys.readouterr().out and sha256_of(jpeg) == sha
    with Library(db) as library:
        assert [d.state for d in library.decisions()] == ["rejected"]
