"""`geotag` over the session: exit statuses, one line per named file, no empty batches, folders, broken pipes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from geotagger.geocore.cli.main import main
from geotagger.geocore.library.api import Library
from tests.photo_factory import make_jpeg


def lines_for(out: str, path: Path) -> list[str]:
    return [line for line in out.splitlines() if str(path) in line]


def test_set_counts_every_failed_file_and_names_each_once(tmp_path, capsys) -> None:
    db = str(tmp_path / "c.sqlite")
    missing = tmp_path / "nosuch.jpg"
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0\x00")
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    assert main(["set", str(missing), str(broken), str(notes), "--lat", "1", "--lon", "2", "--db", db]) == 1
    out = capsys.readouterr().out
    for path in (missing, broken, notes):
        line, = lines_for(out, path)
        assert line.startswith("FAILED") and line.count(str(path)) == 1, line
    assert out.strip().splitlines()[-1].endswith("0 ok, 3 failed (nothing to do)") or "0 ok, 3 failed" in out


def test_set_accepts_folders_and_skips_the_sidecars_a_glob_picked_up(tmp_path, capsys) -> None:
    db = str(tmp_path / "c.sqlite")
    folder = tmp_path / "manual"
    a = make_jpeg(folder / "a.jpg")
    b = make_jpeg(folder / "deeper" / "b.jpg")
    (folder / "c.CR2.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    assert main(["set", str(folder), "--lat", "10", "--lon", "20", "--db", db]) == 0
    globbed = sorted(str(path) for path in folder.iterdir() if path.is_file())  # what `set manual/*.*` passes
    assert main(["set", *globbed, "--lat", "11", "--lon", "21", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "Is a directory" not in out and "c.CR2.xmp" not in out
    with Library(db) as library:
        assert round(library.photo_by_path(a).gps_lat or 0, 6) == 11.0  # the second set, through the glob
        assert round(library.photo_by_path(b).gps_lat or 0, 6) == 10.0  # the first, found in the subfolder


def test_nothing_to_do_records_no_batch(tmp_path, capsys) -> None:
    db = str(tmp_path / "c.sqlite")
    photo = make_jpeg(tmp_path / "p" / "a.jpg")
    assert main(["scan", str(tmp_path / "p"), "--db", db]) == 0
    assert main(["write", "--db", db]) == 0  # nothing accepted
    assert main(["undo", "--batch", "nosuch", "--db", db]) == 1
    assert "no batch 'nosuch'" in capsys.readouterr().err
    assert main(["set", str(photo), "--lat", "1", "--lon", "2", "--db", db]) == 0
    batch = capsys.readouterr().out.strip().splitlines()[-1].split()[2].rstrip(":")
    assert main(["undo", "--batch", batch, "--db", db]) == 0
    assert main(["undo", "--batch", batch, "--db", db]) == 0  # already undone
    assert "already undone" in capsys.readouterr().out
    with Library(db) as library:
        assert [b["operation"] for b in library.batches()] == ["undo", "write"]  # no empty ones


def test_strip_names_a_file_that_is_no_photo(tmp_path, capsys) -> None:
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    assert main(["strip", str(notes), "--db", str(tmp_path / "c.sqlite")]) == 1
    line, = lines_for(capsys.readouterr().out, notes)
    assert line.startswith("FAILED")


def test_a_rescan_keeps_the_reason_a_file_is_unreadable(tmp_path, capsys) -> None:
    db = str(tmp_path / "c.sqlite")
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00")
    assert main(["scan", str(tmp_path / "p"), "--db", db]) == 1
    first, = lines_for(capsys.readouterr().out, tmp_path / "p" / "broken.jpg")
    assert main(["scan", str(tmp_path / "p"), "--db", db]) == 1
    second, = lines_for(capsys.readouterr().out, tmp_path / "p" / "broken.jpg")
    assert second == first and "unchanged since last scan" not in second


def test_a_closed_pipe_ends_the_command_quietly(tmp_path) -> None:
    for index in range(30):
        make_jpeg(tmp_path / "p" / f"{index:02d}.jpg", (32, 24))
    command = f"{sys.executable} -m geocore.cli.main scan --json-lines --db {tmp_path / 'c.sqlite'} {tmp_path / 'p'}"
    done = subprocess.run(f"{command} | head -c 10", shell=True, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr


def test_version_argfiles_stdin_quiet_and_json(tmp_path, capsys, monkeypatch) -> None:
    import io
    import json

    import pytest

    from geotagger.geocore import __version__
    from geotagger.geocore.cli.main import expand_argfiles

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and __version__ in capsys.readouterr().out

    db = str(tmp_path / "c.sqlite")
    a, b = make_jpeg(tmp_path / "p" / "a b.jpg"), make_jpeg(tmp_path / "p" / "b.jpg")
    listing = tmp_path / "list.txt"
    listing.write_text(f"# photos to place\n{a}\n\n{b}\n", encoding="utf-8")
    assert expand_argfiles(["set", "-@", str(listing), "--lat", "1"]) == ["set", str(a), str(b), "--lat", "1"]
    assert main(["set", "-@", str(listing), "--lat", "1", "--lon", "2", "--db", db, "-q"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [out[-1]] and "2 ok, 0 failed" in out[-1]  # -q: the summary only
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{a}\n"))
    assert main(["strip", "-@", "-", "--db", db, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["operation"] == "strip" and document["counts"] == {"ok": 1} and document["exit_status"] == 0
    assert main(["set", "-@", str(tmp_path / "absent.txt"), "--lat", "1", "--lon", "2"]) == 2
    assert "absent.txt" in capsys.readouterr().err


def test_every_command_speaks_json_and_documents_its_exit_codes(tmp_path, capsys) -> None:
    import json

    from geotagger.geocore.cli.main import COMMAND_MODULES, build_command_parser

    parser = build_command_parser("geotag", "", COMMAND_MODULES)
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, command in commands.items():
        options = {option for action in command._actions for option in action.option_strings}
        assert {"-q", "-v", "--json"} <= options, name
        assert "exit status: 0 all good, 1 some files failed, 2 usage error" in command.format_help(), name
    db = str(tmp_path / "c.sqlite")
    make_jpeg(tmp_path / "p" / "a.jpg")
    assert main(["scan", str(tmp_path / "p"), "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["report"]["found"] == 1
    assert main(["undo", "--list", "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_dry_runs_of_write_strip_and_undo_change_nothing_and_say_what(tmp_path, capsys) -> None:
    from tests.library.exiftool_helpers import sha256_of

    db = str(tmp_path / "c.sqlite")
    photo = make_jpeg(tmp_path / "p" / "a.jpg")
    before = sha256_of(photo)
    assert main(["set", str(photo), "--lat", "35.0116", "--lon", "135.7681", "--alt", "30", "--radius-km", "0.02",
                 "--dry-run", "--db", db]) == 0
    line, = lines_for(capsys.readouterr().out, photo)
    assert line.startswith("would write") and "GPSLatitude=35.0116" in line and "GPSAltitude=30.0" in line
    assert "GPSProcessingMethod=MANUAL" in line and "GPSHPositioningError=20.0" in line
    assert sha256_of(photo) == before
    assert main(["set", str(photo), "--lat", "35.0116", "--lon", "135.7681", "--db", db]) == 0
    written = sha256_of(photo)
    assert main(["strip", str(photo), "--dry-run", "--db", db]) == 0
    assert main(["undo", str(photo), "--dry-run", "--db", db]) == 0
    assert "would write" in capsys.readouterr().out and sha256_of(photo) == written
    with Library(db) as library:
        assert [b["operation"] for b in library.batches()] == ["write"]  # dry runs record no batch


def test_changes_a_crash_left_unsettled_are_reported_when_the_library_opens(tmp_path, capsys, monkeypatch) -> None:
    from geotagger.geocore.library import journal

    db = str(tmp_path / "c.sqlite")
    make_jpeg(tmp_path / "p" / "a.jpg")
    assert main(["scan", str(tmp_path / "p"), "--db", db]) == 0
    capsys.readouterr()
    monkeypatch.setattr(journal, "recover", lambda database: ["/gone/a.jpg: not settled, left pending (drive)"])
    monkeypatch.setattr("geotagger.geocore.library.api.recover", journal.recover)
    assert main(["undo", "--list", "--db", db]) == 0
    assert "warning: /gone/a.jpg: not settled, left pending (drive)" in capsys.readouterr().err


def test_a_position_no_photo_can_have_is_a_usage_error_not_a_traceback(tmp_path, capsys) -> None:
    photo = make_jpeg(tmp_path / "a.jpg")
    assert main(["set", str(photo), "--lat", "1", "--lon", "2", "--alt", "200000", "--db", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bad position:") and "altitude" in err and "Traceback" not in err
