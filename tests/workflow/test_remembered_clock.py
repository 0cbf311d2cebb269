"""A sync given no options starts from the camera clocks remembered in the clock store (clock.json), so the
neighbour sync a scan runs in the app uses them before the track-sync dialog was ever opened."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from geotagger.geocore.library.api import Library
from geotagger.geocore.timesync.clock import ClockSettings
from geotagger.geocore.timesync.clock_store import save_clock
from geotagger.geocore.workflow import Session, TimeOptions
from tests.photo_factory import make_jpeg

SONY = "SONY ILCE-7M3"


@pytest.fixture
def photos(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOTAGGER_CONFIG_DIR", str(tmp_path / "config"))  # never the user's own clock.json
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):  # a phone every 10 min, walking north, with GPS and offset tags
        make_jpeg(folder / f"phone{i}.jpg", datetime_original=datetime(2024, 6, 1, 14, 10 * i), offset="+02:00",
                  gps=(47.37 + 0.01 * i, 8.54, 400.0), make="Apple", model="iPhone 13")
    # the Sony's clock is 3 min fast: 14:18 on it is really 14:15, halfway between phone1 and phone2
    make_jpeg(folder / "sony.jpg", datetime_original=datetime(2024, 6, 1, 14, 18), offset=None, make="SONY",
              model="ILCE-7M3")
    return folder


def _sony_lat(result) -> float:
    [outcome] = [o for o in result.outcomes if Path(o.path).name == "sony.jpg"]
    assert outcome.payload, outcome
    return outcome.payload["lat"]


def test_neighbours_use_the_remembered_clock_when_given_no_options(photos, tmp_path):
    save_clock(ClockSettings(clock_offsets_s={SONY: -180.0}))  # where the app's dialog and the CLI keep it
    with Session(Library(tmp_path / "cache.sqlite3")) as session:
        ids = session.scan([photos]).photo_ids
        assert session.default_time_options().clock.clock_offsets_s == {SONY: -180.0}
        assert _sony_lat(session.sync_neighbours(photo_ids=ids, dry_run=True)) == pytest.approx(47.385, abs=1e-9)
        # options given win: an empty clock puts the photo at 14:18
        plain = session.sync_neighbours(photo_ids=ids, options=TimeOptions(), dry_run=True)
        assert _sony_lat(plain) == pytest.approx(47.388, abs=1e-9)


def test_a_session_reads_the_clock_file_it_is_pointed_at(photos, tmp_path):
    save_clock(ClockSettings(clock_offsets_s={SONY: -180.0}))
    window_file = tmp_path / "window-config" / "clock.json"  # the app's window keeps its own config folder
    save_clock(ClockSettings(clock_offsets_s={SONY: -480.0}), window_file)
    with Session(Library(tmp_path / "cache.sqlite3")) as session:
        session.clock_path = window_file
        ids = session.scan([photos]).photo_ids
        # 14:18 - 8 min = 14:10: phone1's place
        assert _sony_lat(session.sync_neighbours(photo_ids=ids, dry_run=True)) == pytest.approx(47.38, abs=1e-9)
        save_clock(ClockSettings(), window_file)  # read afresh at each sync: a change counts at once
        assert _sony_lat(session.sync_neighbours(photo_ids=ids, dry_run=True)) == pytest.approx(47.388, abs=1e-9)
