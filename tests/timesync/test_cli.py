"""`geotag sync-track` and `geotag sync-neighbours` on generated JPEGs with real EXIF, then `geotag write`."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import piexif
import pytest

from geotagger.geocore.cli.main import main
from geotagger.geocore.library.api import Library
from tests.photo_factory import make_jpeg
from tests.timesync.track_files import write_gpx, write_kml_gx_track

START = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
STEP = timedelta(seconds=30)


def track_points(count=121, lat0=45.0, lon=7.0):
    """A point every 30 s heading north 0.001 degree per point: linear in latitude, exactly, on a meridian."""
    return [(START + i * STEP, lat0 + i * 0.001, lon, 500.0 + i) for i in range(count)]


def lat_at(moment: datetime, lat0=45.0) -> float:
    return lat0 + (moment - START).total_seconds() / 30 * 0.001


def exif_position(path):
    gps = piexif.load(str(path))["GPS"]

    def degrees(values, ref):
        value = sum(n / d / 60**i for i, (n, d) in enumerate(values))
        return -value if ref in (b"S", b"W") else value

    return (degrees(gps[piexif.GPSIFD.GPSLatitude], gps[piexif.GPSIFD.GPSLatitudeRef]),
            degrees(gps[piexif.GPSIFD.GPSLongitude], gps[piexif.GPSIFD.GPSLongitudeRef]))


@pytest.fixture
def trip(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    # 10:15:15 +02:00 = 08:15:15Z (between two points); Sony: no offset tag, camera zone needed, clock 2 min fast
    make_jpeg(photos / "a.jpg", datetime_original=datetime(2024, 5, 1, 10, 15, 15), offset="+02:00")
    make_jpeg(photos / "b.jpg", datetime_original=datetime(2024, 5, 1, 10, 32, 0), offset=None, make="SONY",
              model="ILCE-7M3")
    make_jpeg(photos / "late.jpg", datetime_original=datetime(2024, 5, 1, 13, 0), offset="+02:00")
    make_jpeg(photos / "gps.jpg", datetime_original=datetime(2024, 5, 1, 10, 5), gps=(1.0, 2.0, 3.0))
    track = write_gpx(tmp_path / "walk.gpx", [track_points()])
    return tmp_path, photos, track


def run(*args):
    return main([str(a) for a in args])


def _decisions_by_name(db: Path) -> dict:
    """The cache's decisions by photo file name (one per photo in these tests)."""
    with Library(db) as library:
        return {library.photo(d.photo_id).file_path.name: d for d in library.decisions()}


def test_sync_track_proposes_then_write_writes(trip, capsys):
    tmp_path, photos, track = trip
    db = tmp_path / "cache.sqlite3"
    status = run("sync-track", track, photos, "--db", db, "--camera-tz", "Europe/Rome",
                 "--clock-offset", "SONY ILCE-7M3=-0:02:00")
    out = capsys.readouterr().out
    assert status == 0, out
    assert "3 photos without GPS, 2 located (0 to review), 1 unlocated" in out
    assert "cameras (names for --clock-offset, --camera-tz-for): 'Canon EOS' 2, 'SONY ILCE-7M3' 1" in out
    by_name = _decisions_by_name(db)
    assert set(by_name) == {"a.jpg", "b.jpg"}
    a, b = by_name["a.jpg"], by_name["b.jpg"]
    assert a.source == "gps_track" and a.state == "proposed" and not a.review
    assert a.lat == pytest.approx(lat_at(START + timedelta(minutes=15, seconds=15)), abs=1e-9)
    assert a.altitude_m == pytest.approx(500 + 30.5)
    assert a.radius_km == pytest.approx(0.010 + 0.0005 * 6371 * 3.141592653589793 / 180, rel=1e-6)
    # Sony: 10:32 in Rome (CEST) = 08:32Z, clock 2 min fast -> 08:30Z
    assert b.lat == pytest.approx(lat_at(START + timedelta(minutes=30)), abs=1e-9)
    assert "late.jpg: no track point within the limits (gap 30 min, snap 60 s): 2024-05-01 11:00:00 UTC is 2.0 h " \
           "after the track" in out

    assert run("write", "--all-proposed", "--db", db) == 0
    lat, lon = exif_position(photos / "a.jpg")
    assert lat == pytest.approx(a.lat, abs=1e-6) and lon == pytest.approx(7.0, abs=1e-6)
    assert exif_position(photos / "b.jpg")[0] == pytest.approx(b.lat, abs=1e-6)
    assert "GPS" not in piexif.load(str(photos / "late.jpg")) or not piexif.load(str(photos / "late.jpg"))["GPS"]


def test_accept_then_plain_write_and_rerun_supersedes(trip, capsys):
    tmp_path, photos, track = trip
    db = tmp_path / "cache.sqlite3"
    # b.jpg has no offset tag and no zone is given: the zone is inferred from the track (Italy)
    assert run("sync-track", track, photos, "--db", db, "--accept", "--no-altitude") == 0
    # a proposal without --accept never replaces an accepted one
    assert run("sync-track", track, photos, "--db", db, "--clock-offset", "Canon EOS=30") == 0
    # re-run with --accept and a clock offset for the Canon: the earlier ones are replaced
    assert run("sync-track", track, photos, "--db", db, "--accept", "--clock-offset", "Canon EOS=60") == 0
    with Library(db) as library:
        decisions = library.decisions()
        names = {d.id: library.photo(d.photo_id).file_path.name for d in decisions}
    a_states = [d.state for d in decisions if names[d.id] == "a.jpg"]
    assert a_states == ["rejected", "rejected", "accepted"]
    # b.jpg's clock needs no offset: run 3 places it exactly where run 2 did, so that placement is not stored a
    # second time; it is accepted and the first one (no altitude) is replaced.
    assert [d.state for d in decisions if names[d.id] == "b.jpg"] == ["rejected", "accepted"]
    newest = decisions[[names[d.id] for d in decisions].index("a.jpg", 4)]
    assert newest.state == "accepted"
    assert newest.lat == pytest.approx(lat_at(START + timedelta(minutes=16, seconds=15)), abs=1e-9)
    assert newest.altitude_m == pytest.approx(500 + 32.5)
    capsys.readouterr()
    assert run("write", "--db", db) == 0  # accepted only
    assert "2 ok" in capsys.readouterr().out
    assert exif_position(photos / "a.jpg")[0] == pytest.approx(newest.lat, abs=1e-6)


def test_bad_track_is_reported_and_the_batch_goes_on(trip, capsys):
    tmp_path, photos, track = trip
    bad = tmp_path / "broken.kml"
    bad.write_text("<kml><Document>", encoding="utf-8")
    kml = write_kml_gx_track(tmp_path / "walk.kml", [track_points(lat0=45.0)])
    db = tmp_path / "cache.sqlite3"
    status = run("sync-track", bad, kml, photos, "--db", db, "--dry-run")
    captured = capsys.readouterr()
    assert status == 1
    assert f"{bad}: not valid XML" in captured.out
    assert "2 located" in captured.out and "dry run, nothing stored" in captured.out
    with Library(db) as library:
        assert library.decisions() == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--camera-tz", "Mars/Base"], "unknown time zone 'Mars/Base'"),
     (["--clock-offset", "Canon EOS=soon"], "unreadable duration"),
     (["--clock-offset", "nonsense"], "--clock-offset wants KEY=VALUE")],
)
def test_usage_errors(trip, capsys, extra, message):
    tmp_path, photos, track = trip
    assert run("sync-track", track, photos, "--db", tmp_path / "c.sqlite3", *extra) == 2
    assert message in capsys.readouterr().err


def test_inputs_are_tracks_and_photos_or_folders(trip, capsys):
    tmp_path, photos, track = trip
    assert run("sync-track", photos / "a.jpg", photos, "--db", tmp_path / "c.sqlite3") == 2
    assert "at least one track file" in capsys.readouterr().err
    assert run("sync-track", track, "--db", tmp_path / "c.sqlite3") == 2
    assert "at least one photo" in capsys.readouterr().err
    assert run("sync-track", track, tmp_path / "missing.jpg", "--db", tmp_path / "c.sqlite3") == 2
    assert "no such photo" in capsys.readouterr().err
    # a single photo is fine, and so is a folder of tracks
    assert run("sync-track", "--tracks", track.parent, photos / "a.jpg", "--db", tmp_path / "c.sqlite3",
               "--dry-run") == 0
    out = capsys.readouterr().out
    assert "a.jpg" in out and "b.jpg" not in out


def test_reference_time_and_place_set_the_clock_offset(trip, capsys):
    tmp_path, photos, track = trip
    db = tmp_path / "cache.sqlite3"
    # a.jpg reads 08:15:15Z but was really taken at 08:17:15Z: the Canon is 2 min slow
    status = run("sync-track", track, photos, "--db", db, "--dry-run",
                 "--reference", f"{photos / 'a.jpg'}=2024-05-01T10:17:15+02:00")
    out = capsys.readouterr().out
    assert status == 0 and "clock offset of 'Canon EOS': +120 s" in out
    here = lat_at(START + timedelta(minutes=20))
    status = run("sync-track", track, photos, "--db", db, "--dry-run",
                 "--reference-place", f"{photos / 'a.jpg'}={here},7.0")
    out = capsys.readouterr().out
    assert status == 0 and "clock offset of 'Canon EOS': +285 s" in out
    assert run("sync-track", track, photos, "--db", db, "--reference", f"{photos / 'zz.jpg'}=2024-05-01T10:00Z") == 2
    assert "zz.jpg is not a readable photo" in capsys.readouterr().err


def test_sync_neighbours_with_pairs_then_write(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):  # a phone every 10 min, walking north in Zurich, with GPS and offset tags
        make_jpeg(photos / f"phone{i}.jpg", datetime_original=datetime(2024, 6, 1, 14, 10 * i), offset="+02:00",
                  gps=(47.37 + 0.01 * i, 8.54, 400.0), make="Apple", model="iPhone 13")
    # the Sony (no offset tag, clock 3 min fast): one shot of the same scene as phone1, one between phone1 and 2
    make_jpeg(photos / "sony_pair.jpg", datetime_original=datetime(2024, 6, 1, 14, 13), offset=None,
              make="SONY", model="ILCE-7M3")
    make_jpeg(photos / "sony_mid.jpg", datetime_original=datetime(2024, 6, 1, 14, 18), offset=None,
              make="SONY", model="ILCE-7M3")
    make_jpeg(photos / "sony_after.jpg", datetime_original=datetime(2024, 6, 1, 14, 43), offset=None,
              make="SONY", model="ILCE-7M3")  # really 14:40, 20 min after the last phone photo
    db = tmp_path / "cache.sqlite3"
    status = run("sync-neighbours", photos, "--db", db, "--accept",
                 "--pair", f"{photos / 'sony_pair.jpg'}={photos / 'phone1.jpg'}")
    out = capsys.readouterr().out
    assert status == 0, out
    assert "clock offset of 'SONY ILCE-7M3' from 1 pairs: -180 s" in out
    by_name = _decisions_by_name(db)
    mid = by_name["sony_mid.jpg"]  # really 14:15 (zone from the phones' place): halfway between phone1 and 2
    assert mid.source == "time_neighbour" and mid.state == "accepted"
    assert mid.lat == pytest.approx(47.385, abs=1e-9) and mid.lon == pytest.approx(8.54, abs=1e-9)
    assert by_name["sony_pair.jpg"].lat == pytest.approx(47.38, abs=1e-9)
    assert run("write", "--db", db) == 0
    assert exif_position(photos / "sony_mid.jpg")[0] == pytest.approx(47.385, abs=1e-6)
    # a later photo, 35 min after the last phone photo but 15 min after sony_after, whose GPS we estimated:
    # estimated positions never serve as neighbours, so it stays unlocated
    make_jpeg(photos / "sony_new.jpg", datetime_original=datetime(2024, 6, 1, 14, 58), offset=None,
              make="SONY", model="ILCE-7M3")
    capsys.readouterr()
    assert run("sync-neighbours", photos, "--db", db, "--clock-offset", "SONY ILCE-7M3=-180") == 0
    out = capsys.readouterr().out
    assert "sony_new.jpg: no geotagged photo within 30 min" in out and "1 photos without GPS" in out


def test_sync_neighbours_without_geotagged_photos(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    make_jpeg(photos / "a.jpg", datetime_original=datetime(2024, 6, 1, 14, 0))
    make_jpeg(photos / "no_time.jpg", datetime_original=None)
    assert run("sync-neighbours", photos, "--db", tmp_path / "c.sqlite3") == 0
    out = capsys.readouterr().out
    assert "a.jpg: no geotagged photo with a capture time" in out and "0 located" in out


def test_cached_visual_prediction_that_disagrees_flags_for_review(trip, capsys):
    from geotagger.geocore.geo import s2cells

    tmp_path, photos, track = trip
    db = tmp_path / "cache.sqlite3"
    assert run("scan", photos, "--db", db) == 0
    tokyo = s2cells.cell_ids_to_tokens(s2cells.parent_ids(s2cells.latlon_to_cell_ids([35.68], [139.7]), 10))[0]
    italy = s2cells.cell_ids_to_tokens(s2cells.parent_ids(s2cells.latlon_to_cell_ids([45.2], [7.0]), 6))[0]
    with Library(db) as library:
        a = library.photo_by_path(photos / "a.jpg")
        b = library.photo_by_path(photos / "b.jpg")
        sure_tokyo = {"hierarchy_top": [{"key": tokyo, "label": tokyo, "probability": 0.997},
                                        {"key": "JP:Tokyo", "label": "Tokyo, Japan", "probability": 0.002}]}
        italy_ok = {"hierarchy_top": [{"key": italy, "label": italy, "probability": 0.6}]}
        library.put_prediction(a.id, "m", "k", sure_tokyo, 35.68, 139.7, 20.0)
        library.put_prediction(b.id, "m", "k", italy_ok, 45.2, 7.0, 200.0)
    capsys.readouterr()
    assert run("sync-track", track, photos, "--db", db, "--accept", "--camera-tz", "Europe/Rome") == 0
    out = capsys.readouterr().out
    assert "1 located (1 to review)" not in out and "2 located (1 to review)" in out
    assert f"REVIEW       {photos / 'a.jpg'}" in out and "the image disagrees" in out
    with Library(db) as library:
        a_decision, = library.decisions(photo_id=a.id)
        b_decision, = library.decisions(photo_id=b.id)
    assert a_decision.review and a_decision.state == "proposed"  # flagged: not accepted
    assert not b_decision.review and b_decision.state == "accepted"
    # The visual probability is part of the photo's view (the fusion rule runs again whenever it is built).
    from geotagger.geocore.workflow import Session

    with Session.open(db) as session:
        a_view, b_view = session.views([a.id, b.id])
    assert a_view.review and "visual probability 0.003" in a_view.review_reason  # at most 1 - 0.997 (leftover)
    assert a_view.visual_probability == pytest.approx(0.003)
    assert not b_view.review and b_view.visual_probability == pytest.approx(0.6)


def test_hint_for_a_camera_on_the_wrong_zone(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(4):  # Italian time tagged +01:00: read one hour late, after the track's end
        make_jpeg(photos / f"c{i}.jpg", datetime_original=datetime(2024, 5, 1, 10, 10 + 10 * i), offset="+01:00")
    track = write_gpx(tmp_path / "walk.gpx", [track_points()])
    assert run("sync-track", track, photos, "--db", tmp_path / "c.sqlite3", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "0 located" in out
    assert "hint: 4 of 4 photos of 'Canon EOS' would meet the track (now 0) with --clock-offset " \
           "'Canon EOS=-1:00:00'" in out
    assert run("sync-track", track, photos, "--db", tmp_path / "c.sqlite3", "--dry-run",
               "--clock-offset", "Canon EOS=-1:00:00") == 0
    out = capsys.readouterr().out
    assert "4 located" in out and "hint:" not in out


def test_zone_per_camera_overrides_the_inferred_one(trip, capsys):
    tmp_path, photos, track = trip
    db = tmp_path / "c.sqlite3"
    # the Sony set to Tokyo time: 10:32 there is 01:32Z, hours before the track
    assert run("sync-track", track, photos, "--db", db, "--dry-run", "--camera-tz-for", "SONY ILCE-7M3=Asia/Tokyo") == 0
    out = capsys.readouterr().out
    assert "b.jpg: no track point within the limits (gap 30 min, snap 60 s): 2024-05-01 01:32:00 UTC" in out
    assert run("sync-track", track, photos, "--db", db, "--dry-run") == 0  # no zone given: Rome, from the track
    out = capsys.readouterr().out
    assert "b.jpg: 45.064000" in out and "place_zone:Europe/Rome" in out


def test_pair_without_capture_time_is_a_usage_error(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    make_jpeg(photos / "phone.jpg", datetime_original=datetime(2024, 6, 1, 14, 0), gps=(47.0, 8.0, 0.0))
    make_jpeg(photos / "cam.jpg", datetime_original=None)
    status = run("sync-neighbours", photos, "--db", tmp_path / "c.sqlite3",
                 "--pair", f"{photos / 'cam.jpg'}={photos / 'phone.jpg'}")
    assert status == 2
    assert f"{photos / 'cam.jpg'}: no capture time" in capsys.readouterr().err


def test_exiftool_style_matching_flags(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    # a: 08:35Z, 20 min after the track ends at 08:15Z; b: 08:08:45Z, in the break, 75 s from either side
    make_jpeg(photos / "a.jpg", datetime_original=datetime(2024, 5, 1, 10, 35, 0), offset="+02:00")
    make_jpeg(photos / "b.jpg", datetime_original=datetime(2024, 5, 1, 10, 8, 45), offset="+02:00")
    first, second = track_points(31)[:16], track_points(31)[20:]  # a 2-min break between 08:07:30 and 08:10
    track = write_gpx(tmp_path / "walk.gpx", [first, second])
    db = tmp_path / "c.sqlite3"
    assert run("sync-track", track, photos, "--db", db, "--dry-run") == 0
    assert "2 photos without GPS, 0 located" in capsys.readouterr().out  # outside the track, in a segment break
    assert run("sync-track", track, photos, "--db", db, "--dry-run", "--exiftool-limits", "--bridge-segments") == 0
    out = capsys.readouterr().out
    assert "2 located" in out and "track interpolated" in out and "nearest point" in out
    assert run("sync-track", track, photos, "--db", db, "--dry-run", "--max-ext-s", "400", "--min-sats", "4",
               "--max-hdop", "2") == 0  # GPX without <sat>/<hdop>: every point kept
    assert "1 located" in capsys.readouterr().out


@pytest.mark.parametrize("option", [
    ["--max-gap-min", "-5"], ["--max-gap-min", "nan"], ["--max-snap-s", "-100"], ["--max-hdop", "nan"],
    ["--min-sats", "-3"], ["--offset", "99999999999:00:00"], ["--offset", "inf"],
    ["--clock-offset", "Canon EOS=1e300"],
])
def test_impossible_limits_and_offsets_are_usage_errors(tmp_path, capsys, option) -> None:
    track = tmp_path / "t.gpx"
    track.write_text('<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
                     '<trkpt lat="1" lon="2"><time>2024-05-01T10:00:00Z</time></trkpt></trkseg></trk></gpx>')
    try:
        code = main(["sync-track", str(track), str(tmp_path), "--dry-run", "--no-remember",
                     "--db", str(tmp_path / "l.db"), *option])
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and option[0] in err and "Traceback" not in err


def test_a_camera_name_no_photo_has_is_warned_about(tmp_path, capsys) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    make_jpeg(photos / "c.jpg", datetime_original=datetime(2024, 5, 1, 10, 10), offset="+02:00")
    track = write_gpx(tmp_path / "walk.gpx", [track_points()])
    assert run("sync-track", track, photos, "--db", tmp_path / "c.sqlite3", "--dry-run", "--no-remember",
               "--clock-offset", "canon eos=+0:01:00", "--camera-tz-for", "Nikon Z6=Europe/Rome") == 0
    err = capsys.readouterr().err
    assert "--clock-offset 'canon eos': no photo of this run is from that camera; did you mean 'Canon EOS'?" in err
    assert "--camera-tz-for 'Nikon Z6': no photo of this run is from that camera (cameras here: 'Canon EOS')" in err


def test_sync_json_is_one_document_on_stdout(tmp_path, capsys) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    make_jpeg(photos / "c.jpg", datetime_original=datetime(2024, 5, 1, 10, 10), offset="+02:00")
    track = write_gpx(tmp_path / "walk.gpx", [track_points()])
    assert run("sync-track", track, photos, "--db", tmp_path / "c.sqlite3", "--json",
               "--clock-offset", "Canon EOS=+0:00:30") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["operation"] == "sync-track" and document["placed"] == 1 and document["unlocated"] == 0
    assert document["cameras"] == {"Canon EOS": 1} and document["track_files"] == 1
    assert [o["status"] for o in document["outcomes"]] == ["ok"]
