"""The matching options exiftool users expect (-geosync, GeoMaxIntSecs/GeoMaxExtSecs, segment bridging,
GeoMaxHDOP/GeoMinSats), accuracy-based radius, neighbour altitudes, SubSecTimeOriginal, reference photos, the live
preview and the remembered clock settings, through the session and the CLI."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import piexif
import pytest

from geotagger.geocore.library.api import Library
from geotagger.geocore.timesync.clock import ClockSettings, parse_geosync_s
from geotagger.geocore.timesync.clock_store import clock_file, load_clock, save_clock
from geotagger.geocore.timesync.match import GPS_POINT_ACCURACY_KM, match_times
from geotagger.geocore.timesync.neighbours import locate_by_neighbours
from geotagger.geocore.timesync.track import filter_quality, make_track
from geotagger.geocore.workflow import Reference, Session, TimeOptions
from tests.photo_factory import make_jpeg
from tests.timesync.test_cli import START, lat_at, run, track_points
from tests.timesync.track_files import write_gpx, write_records_json


@pytest.mark.parametrize("text, seconds", [
    ("+1:00:00", 3600), ("-30", -30), ("1:30", 90), ("-0:05:30.5", -330.5), ("2 03:00:00", 2 * 86400 + 3 * 3600),
    ("2024:06:01 10:00:00@2024:06:01 10:01:30", 90), ("2024:06:01 12:00:00+02:00@2024-06-01T10:00:05Z", 5),
])
def test_geosync_syntax(text, seconds):
    assert parse_geosync_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1:2:3:4:5", "+1h", "2024:06:01@x"])
def test_geosync_refuses_garbage(text):
    with pytest.raises(ValueError):
        parse_geosync_s(text)


def test_segment_breaks_are_bridged_only_when_asked():
    track = make_track([0, 100, 300, 400], [0, 0.001, 0.002, 0.003], [0, 0, 0, 0], segment=[0, 0, 1, 1])
    assert not match_times(track, [200]).matched[0]
    bridged = match_times(track, [200], bridge_segments=True)
    assert bridged.interpolated[0] and bridged.lat[0] == pytest.approx(0.0015)


def test_exiftool_limits_extend_to_1800_s():
    track = make_track([0, 100], [0, 0.001], [0, 0])
    assert not match_times(track, [100 + 1000]).matched[0]
    options = TimeOptions.exiftool()
    assert (options.max_gap_s, options.max_snap_s) == (1800, 1800)
    far = match_times(track, [1100, 1901, 50 + 3000], options.max_gap_s, options.max_snap_s)
    assert list(far.matched) == [True, False, False]


def test_hdop_and_satellite_filters_keep_points_that_state_nothing():
    track = make_track([0, 10, 20, 30], [0, 1, 2, 3], [0, 0, 0, 0], hdop=[1.0, 9.0, np.nan, 1.0],
                       satellites=[8, 8, 8, 3])
    filtered = filter_quality(track, max_hdop=5, min_satellites=4)
    assert filtered is not None and list(filtered.times_s) == [0, 20]
    assert filter_quality(track) is track
    assert filter_quality(track, max_hdop=0.5, min_satellites=9) is None


def test_radius_grows_with_the_stated_accuracy():
    plain = make_track([0, 10], [0, 0], [0, 0])
    stated = make_track([0, 10], [0, 0], [0, 0], accuracy_m=[200, 40])
    assert match_times(plain, [0]).radius_km[0] == pytest.approx(GPS_POINT_ACCURACY_KM)
    assert match_times(stated, [5]).radius_km[0] == pytest.approx(0.120)
    assert match_times(stated, [10 + 30]).radius_km[0] == pytest.approx(0.040 + 5 * 30 / 3600)
    tiny = make_track([0, 10], [0, 0], [0, 0], accuracy_m=[1, 1])
    assert match_times(tiny, [5]).radius_km[0] == pytest.approx(GPS_POINT_ACCURACY_KM)


def test_neighbour_altitude_only_when_both_have_one():
    both = make_track([0, 600], [0, 0], [0, 0.01], [100, 200])
    one = make_track([0, 600], [0, 0], [0, 0.01], [100, np.nan])
    assert locate_by_neighbours(both, [150]).altitude_m[0] == pytest.approx(125)
    assert np.isnan(locate_by_neighbours(one, [150]).altitude_m[0])
    assert np.isnan(locate_by_neighbours(both, [150], with_altitude=False).altitude_m[0])
    alone = make_track([0], [0], [0], [100])
    assert np.isnan(locate_by_neighbours(alone, [60]).altitude_m[0])


@pytest.fixture
def walk(tmp_path):
    """A track heading north on a meridian and Canon photos whose clock is exactly one hour behind."""
    photos = tmp_path / "photos"
    for index, minutes in enumerate((10, 20, 40)):
        true = START + timedelta(minutes=minutes, seconds=15)
        make_jpeg(photos / f"p{index}.jpg", (32, 24), datetime_original=true.replace(tzinfo=None)
                  + timedelta(hours=2) - timedelta(hours=1), offset="+02:00", color_seed=index, thumbnail=False)
    track = write_gpx(tmp_path / "walk.gpx", [track_points()])
    return tmp_path, photos, track


def _lats(session, result):
    return sorted(round(o.payload["lat"], 9) for o in result.outcomes if o.payload)


def test_global_offset_and_reference_in_the_session(walk):
    tmp_path, photos, track = walk
    expected = sorted(round(lat_at(START + timedelta(minutes=m, seconds=15)), 9) for m in (10, 20, 40))
    with Session(Library(tmp_path / "c.sqlite3")) as session:
        session.scan([photos])
        plain = session.sync_tracks([track], [photos], TimeOptions(), dry_run=True)
        assert plain.placed == 0  # the clock puts every photo an hour before the track
        shifted = session.sync_tracks([track], [photos], TimeOptions(global_offset_s=parse_geosync_s("+1:00:00")),
                                      dry_run=True)
        assert shifted.placed == 3 and _lats(session, shifted) == pytest.approx(expected, abs=1e-9)
        true = (START + timedelta(minutes=10, seconds=15)).timestamp()
        referenced = session.sync_tracks([track], [photos], TimeOptions(references=(Reference(
            str(photos / "p0.jpg"), true_utc_s=true),)), dry_run=True)
        assert referenced.placed == 3 and _lats(session, referenced) == pytest.approx(expected, abs=1e-9)
        assert any("clock offset of 'Canon EOS' from p0.jpg: +1:00:00" in note for note in referenced.notes)
        # a reference on top of a global offset still gives the camera its whole offset
        both = session.sync_tracks([track], [photos], TimeOptions(global_offset_s=600, references=(Reference(
            str(photos / "p0.jpg"), true_utc_s=true),)), dry_run=True)
        assert _lats(session, both) == pytest.approx(expected, abs=1e-9)
        place = (lat_at(START + timedelta(minutes=20, seconds=15)), 7.0)
        by_place = session.sync_tracks([track], [photos], TimeOptions(references=(Reference(
            str(photos / "p1.jpg"), place=place),)), dry_run=True)
        assert by_place.placed == 3
        missing = session.sync_tracks([track], [photos], TimeOptions(references=(Reference(
            str(tmp_path / "nope.jpg"), true_utc_s=true),)), dry_run=True)
        assert any(o.kind == "reference" and "not among" in o.reason for o in missing.failed)


def test_live_preview_counts_and_caches_the_track(walk, monkeypatch):
    tmp_path, photos, track = walk
    with Session(Library(tmp_path / "c.sqlite3")) as session:
        ids = session.scan([photos]).photo_ids
        assert session.preview_tracks([track], ids).matched == 0
        import geotagger.geocore.timesync.parsers as parsers

        monkeypatch.setattr(parsers, "load_track", lambda path: pytest.fail("the track was read again"))
        preview = session.preview_tracks([track], ids, TimeOptions(global_offset_s=3600))
        assert (preview.photos, preview.matched, preview.interpolated) == (3, 3, 3)
        assert not session.library.decisions()  # a preview stores nothing


def test_cli_offset_and_remembered_clock(walk, capsys, private_config_dir):
    tmp_path, photos, track = walk
    db = tmp_path / "c.sqlite3"
    assert run("sync-track", track, photos, "--db", db, "--dry-run", "--offset", "+1:00:00") == 0
    assert "3 located" in capsys.readouterr().out
    assert run("sync-track", track, photos, "--db", db, "--dry-run", "--geosync", "bad") == 2
    assert "--offset: unreadable time offset" in capsys.readouterr().err
    assert run("sync-track", track, photos, "--db", db, "--clock-offset", "Canon EOS=+1:00:00") == 0
    out = capsys.readouterr().out
    assert "3 located" in out and f"remembered the camera clock settings in {clock_file()}" in out
    assert load_clock().clock_offsets_s == {"Canon EOS": 3600.0}
    assert clock_file().parent == private_config_dir
    assert run("sync-track", track, photos, "--db", db, "--dry-run") == 0  # nothing given: remembered
    assert "3 located" in capsys.readouterr().out
    assert run("sync-track", track, photos, "--db", db, "--dry-run", "--clock-offset", "Canon EOS=0") == 0
    assert "0 located" in capsys.readouterr().out  # given wins over remembered
    assert load_clock().clock_offsets_s == {"Canon EOS": 3600.0}  # a dry run remembers nothing


def test_clock_file_round_trip_and_damage(private_config_dir):
    settings = ClockSettings("Europe/Rome", {"SONY ILCE-7M3": "Asia/Tokyo"}, {"Canon EOS": -120.0},
                             global_offset_s=99)
    save_clock(settings)
    loaded = load_clock()
    assert loaded.camera_zones == {"SONY ILCE-7M3": "Asia/Tokyo"} and loaded.clock_offset_s("Canon EOS") == -120
    assert loaded.global_offset_s == 0  # a run's global offset is not remembered
    clock_file().write_text("{not json")
    assert load_clock() == ClockSettings()


def test_subsec_time_original_places_burst_shots_apart(tmp_path):
    photos = tmp_path / "photos"
    taken = (START + timedelta(minutes=5)).replace(tzinfo=None) + timedelta(hours=2)
    for name, subsec in (("a.jpg", b"00"), ("b.jpg", b"50")):
        path = make_jpeg(photos / name, (32, 24), datetime_original=taken, offset="+02:00", thumbnail=False)
        exif = piexif.load(str(path))
        exif["Exif"][piexif.ExifIFD.SubSecTimeOriginal] = subsec
        piexif.insert(piexif.dump(exif), str(path))
    track = write_gpx(tmp_path / "walk.gpx", [track_points()])
    with Session(Library(tmp_path / "c.sqlite3")) as session:
        session.scan([photos])
        result = session.sync_tracks([track], [photos], dry_run=True)
    lats = {o.path.rsplit("/", 1)[-1]: o.payload["lat"] for o in result.outcomes if o.payload}
    assert lats["b.jpg"] - lats["a.jpg"] == pytest.approx(0.5 / 30 * 0.001, abs=1e-12)


def test_takeout_accuracy_becomes_the_radius_end_to_end(tmp_path):
    points = [(START + timedelta(minutes=i), 45 + 0.001 * i, 7.0, None) for i in range(5)]
    records = write_records_json(tmp_path / "Records.json", points)
    photos = tmp_path / "photos"
    make_jpeg(photos / "a.jpg", (32, 24), datetime_original=(START + timedelta(minutes=2)).replace(tzinfo=None),
              offset="+00:00", thumbnail=False)
    with Session(Library(tmp_path / "c.sqlite3")) as session:
        session.scan([photos])
        result = session.sync_tracks([records], [photos], dry_run=True)
    (placed,) = [o.payload for o in result.outcomes if o.payload]
    assert placed["radius_km"] == pytest.approx(0.025)
    assert json.loads(records.read_text())["locations"][0]["accuracy"] == 25


def test_preview_checks_the_clock_against_phone_photos(walk):
    tmp_path, photos, track = walk
    true = START + timedelta(minutes=30)  # a phone photo with GPS exactly on the track, taken at 08:30Z
    make_jpeg(photos / "phone.jpg", (32, 24), gps=(lat_at(true), 7.0), datetime_original=true.replace(tzinfo=None),
              offset="+00:00", make="Apple", model="iPhone 15", thumbnail=False)
    with Session(Library(tmp_path / "c.sqlite3")) as session:
        ids = session.scan([photos]).photo_ids
        right = session.preview_tracks([track], ids)
        assert right.checked == 1 and right.median_error_m == pytest.approx(0, abs=0.05)
        wrong = session.preview_tracks([track], ids, TimeOptions(global_offset_s=-600))  # 10 min = 20 points off
        assert wrong.median_error_m == pytest.approx(20 * 0.001 * 111_195, rel=1e-3)
