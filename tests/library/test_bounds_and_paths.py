"""Issue 11, defect 2: positions are bounded where they enter the library and EXIF rationals never loop.

The old `to_rational` looped forever for values of 2**32 or more; every test that could meet that loop runs in a
subprocess with a timeout, so a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import logging
import math
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from geotagger.geocore.library.api import Library
from geotagger.geocore.library.gps import (
    MAX_RADIUS_KM,
    UINT32_MAX,
    GpsFix,
    PositionError,
    to_rational,
    validate_position,
)
from geotagger.geocore.timesync.parsers import parse_gpx
from tests.library.exiftool_helpers import sha256_of
from tests.photo_factory import make_jpeg
from tests.timesync.track_files import write_gpx

REPO = Path(__file__).resolve().parents[2]
GUARD_S = 60


def run_guarded(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter; a hang (the old rational loop) fails the test after GUARD_S seconds."""
    try:
        return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=REPO, capture_output=True,
                              text=True, timeout=GUARD_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"did not finish within {GUARD_S} s (endless loop?)")


def test_to_rational_terminates_for_every_float() -> None:
    result = run_guarded("""
        from geotagger.geocore.library.gps import to_rational
        for value in (5e9, 2.0**32, 4294967295.6, 1e300, float("inf"), float("-inf"), float("nan")):
            try:
                print(value, to_rational(value))
            except ValueError:
                print(value, "refused")
    """)
    assert result.returncode == 0, result.stderr
    assert all(line.endswith("refused") for line in result.stdout.splitlines()), result.stdout


@pytest.mark.parametrize("value", [0.0, 1e-300, 0.5, 1234.567, 8848.86, 2.0**31 + 0.5, float(UINT32_MAX), -42.25])
def test_to_rational_stays_within_uint32_and_close(value: float) -> None:
    numerator, denominator = to_rational(value)
    assert 0 <= numerator <= UINT32_MAX and 1 <= denominator <= UINT32_MAX
    assert numerator / denominator == pytest.approx(abs(value), rel=1e-6, abs=1e-3)


@pytest.mark.parametrize(("args", "field"), [
    ((91.0, 0.0), "latitude"), ((0.0, -180.5), "longitude"), ((math.nan, 0.0), "latitude"),
    ((1.0, 2.0, 5e9), "altitude"), ((1.0, 2.0, math.inf), "altitude"), ((1.0, 2.0, -20_000.0), "altitude"),
    ((1.0, 2.0, None, 5e6), "radius"), ((1.0, 2.0, None, -1.0), "radius"), ((1.0, 2.0, None, math.nan), "radius"),
])
def test_validate_position_names_the_field_in_one_line(args: tuple, field: str) -> None:
    with pytest.raises(PositionError) as caught:
        validate_position(*args)
    assert caught.value.field == field and field in str(caught.value) and "\n" not in str(caught.value)


def test_validate_position_accepts_the_physical_range() -> None:
    validate_position(-90.0, 180.0, -10_900.0, 0.0)
    validate_position(27.98, 86.92, 8_848.86, MAX_RADIUS_KM)
    validate_position(0.0, 0.0)


def test_gps_fix_refuses_what_exif_cannot_hold() -> None:
    with pytest.raises(PositionError):
        GpsFix(1.0, 2.0, 5e9)
    with pytest.raises(PositionError):
        GpsFix(1.0, 2.0, None, None, 5e6)
    assert GpsFix(1.0, 2.0, 50_000_000.0).alt_m == 50_000_000.0  # read from a file as it is: bounded at input only


def test_library_refuses_out_of_range_proposals(tmp_path: Path) -> None:
    photo = make_jpeg(tmp_path / "p" / "a.jpg")
    with Library(tmp_path / "lib.sqlite3") as library:
        library.scan([tmp_path / "p"])
        photo_id = library.photo_by_path(photo).id
        for altitude_m, radius_km in ((5e9, None), (2e6, None), (None, 5e6), (math.nan, None)):
            with pytest.raises(PositionError):
                library.set_manual(photo_id, 1.0, 2.0, altitude_m=altitude_m, radius_km=radius_km)
        assert library.decisions() == []


@pytest.mark.parametrize("option", [["--alt", "5e9"], ["--radius-km", "5e6"]])
def test_cli_set_with_absurd_values_fails_fast_and_leaves_the_file(tmp_path: Path, option: list[str]) -> None:
    photo = make_jpeg(tmp_path / "p" / "a.jpg")
    before = sha256_of(photo)
    result = run_guarded("""
        import sys
        from geotagger.geocore.cli.main import main
        sys.exit(main(sys.argv[1:]))
    """, "set", str(photo), "--lat", "1", "--lon", "2", *option, "--db", str(tmp_path / "lib.sqlite3"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "bad position" in result.stderr and "Traceback" not in result.stderr
    assert sha256_of(photo) == before


def test_stored_absurd_decision_is_refused_per_file_at_write(tmp_path: Path) -> None:
    """A decision stored before positions were bounded (raw row) gives a per-file failure, not a hang."""
    photo = make_jpeg(tmp_path / "p" / "a.jpg")
    before = sha256_of(photo)
    result = run_guarded("""
        import sys, time
        import sqlalchemy as sa
        from geotagger.geocore.library import db as schema
        from geotagger.geocore.library.api import Library
        with Library(sys.argv[1]) as library:
            library.scan([sys.argv[2]])
            photo_id = library.photos()[0].id
            with library.database.engine.begin() as connection:
                connection.execute(sa.insert(schema.decisions).values(
                    photo_id=photo_id, state="accepted", source="gps_track", lat=1.0, lon=2.0, altitude_m=9e9,
                    radius_km=0.01, created_ns=time.time_ns(), updated_ns=time.time_ns()))
            report = library.write_batch()
            print([(r.ok, r.error_kind.value if r.error_kind else None, r.reason) for r in report.results])
    """, str(tmp_path / "lib.sqlite3"), str(tmp_path / "p"))
    assert result.returncode == 0, result.stderr
    assert "(False, 'unsupported'" in result.stdout and "altitude" in result.stdout
    assert sha256_of(photo) == before


START = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)


def _gpx_with_absurd_elevation(path: Path) -> Path:
    points = [(START + timedelta(minutes=minute), 45.0 + minute * 1e-4, 7.0, 9_000_000_000.0) for minute in range(5)]
    return write_gpx(path, [points])


def test_gpx_absurd_elevations_are_dropped_with_a_reason(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _gpx_with_absurd_elevation(tmp_path / "t.gpx")
    with caplog.at_level(logging.WARNING, logger="geotagger.geocore.timesync.parsers"):
        track = parse_gpx(path.read_text(), path)
    assert len(track) == 5 and all(math.isnan(value) for value in track.altitude_m)
    assert "5 elevation(s) outside" in caplog.text and "t.gpx" in caplog.text


def test_sync_track_then_write_all_proposed_with_absurd_elevation_finishes(tmp_path: Path) -> None:
    photos = tmp_path / "p"
    photo = make_jpeg(photos / "a.jpg", datetime_original=datetime(2024, 5, 1, 12, 2, 0), offset="+02:00")
    track = _gpx_with_absurd_elevation(tmp_path / "t.gpx")
    db = str(tmp_path / "lib.sqlite3")
    result = run_guarded("""
        import sys
        from geotagger.geocore.cli.main import main
        db, track, photos = sys.argv[1:4]
        assert main(["sync-track", track, photos, "--db", db]) == 0
        assert main(["write", "--all-proposed", "--db", db]) == 0
    """, db, str(track), str(photos))
    assert result.returncode == 0, result.stdout + result.stderr
    with Library(db) as library:
        (decision,) = library.decisions()
        assert decision.state == "written" and decision.altitude_m is None
        assert library.photo_by_path(photo).gps_alt_m is None
