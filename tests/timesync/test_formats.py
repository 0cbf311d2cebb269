"""Parsers of the formats beyond GPX/KML/GeoJSON: each on a file written here, and bad input named by line/record."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from geotagger.geocore.timesync.parsers import TrackFormatError, expand_track_paths, load_track, load_tracks
from geotagger.geocore.timesync.points import iso_times_s, parse_time_s
from tests.timesync import track_files as tf

T0 = datetime(2024, 6, 1, 23, 58, 0, tzinfo=timezone.utc)
POINTS = [(T0 + timedelta(minutes=i), 45.0 + 0.001 * i, -7.0 - 0.001 * i, 100.0 + i) for i in range(5)]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_iso_times_vectorised_equal_the_scalar_reading():
    texts = ["2024-06-01T10:00:00Z", "2024-06-01T10:00:00.25Z", "1999-12-31T23:59:59.999999Z", "2024-02-29T01:02:03Z",
             "2024-06-01T12:00:00+02:00", "garbage", "2024-13-01T00:00:00Z", "2023-02-29T00:00:00Z",
             "2024-06-01T24:00:00Z", "1969-07-20T20:17:40Z"]
    expected = [parse_time_s(text) for text in texts]
    got = iso_times_s(texts)
    for value, want in zip(got, expected, strict=True):
        assert (np.isnan(value) and want is None) or value == pytest.approx(want, abs=1e-6)


def test_nmea_rmc_and_gga_merge_across_midnight(tmp_path):
    track = load_track(tf.write_nmea(tmp_path / "log.nmea", POINTS))
    assert len(track) == 5
    np.testing.assert_allclose(track.times_s - T0.timestamp(), [0, 60, 120, 180, 240])  # the date rolled over
    np.testing.assert_allclose(track.lat, [p[1] for p in POINTS], atol=1e-8)
    np.testing.assert_allclose(track.lon, [p[2] for p in POINTS], atol=1e-8)  # west is negative
    assert track.quality("satellites")[0] == 8 and track.quality("hdop")[0] == 0.9
    assert track.altitude_m[4] == pytest.approx(104.0)


def test_nmea_gga_only_after_midnight_takes_the_next_day(tmp_path):
    rmc_first = tf.write_nmea(tmp_path / "a.nmea", POINTS[:1])  # one RMC at 23:58 dates the day
    gga_lines = tf.write_nmea(tmp_path / "b.nmea", POINTS[1:]).read_text().splitlines()[0::2]  # GGA only
    log = write(tmp_path / "c.log", rmc_first.read_text() + "\n".join(gga_lines) + "\n")
    track = load_track(log)
    np.testing.assert_allclose(track.times_s - T0.timestamp(), [0, 60, 120, 180, 240])


def test_nmea_bad_checksum_skipped_and_noted(tmp_path):
    lines = tf.write_nmea(tmp_path / "x.nmea", POINTS, with_gga=False).read_text().splitlines()
    lines[2] = lines[2][:-2] + ("00" if not lines[2].endswith("00") else "11")
    track = load_track(write(tmp_path / "bad.nmea", "\n".join(lines + ["garbage line"]) + "\n"))
    assert len(track) == 4 and any("line 3" in note for note in track.notes)


def test_nmea_without_fix_is_an_error(tmp_path):
    with pytest.raises(TrackFormatError, match="no RMC or GGA"):
        load_track(write(tmp_path / "empty.nmea", "$GPGSV,1,1,00*79\n"))


def test_igc_b_records_and_error_line(tmp_path):
    track = load_track(tf.write_igc(tmp_path / "f.igc", POINTS))
    assert len(track) == 5 and track.lon[0] == pytest.approx(-7.0, abs=1e-4)
    lines = (tmp_path / "f.igc").read_text().splitlines()
    lines[3] = "B2359xx4500000N00700000WA0010000100"
    with pytest.raises(TrackFormatError, match=r"bad\.igc: line 4: unreadable B record"):
        load_track(write(tmp_path / "bad.igc", "\n".join(lines)))


def test_csv_header_aliases_delimiters_and_bad_row(tmp_path):
    track = load_track(tf.write_csv(tmp_path / "a.csv", POINTS, delimiter=";"))
    assert len(track) == 5 and track.quality("hdop")[0] == 1.2
    split = write(tmp_path / "b.csv",
                  "date,time,lat,lng,ele\n2024-06-01,10:00:00,45,7,5\n2024-06-01,10:01:00,45.1,7,6\n")
    assert len(load_track(split)) == 2
    epoch = write(tmp_path / "c.csv", "timestamp,latitude,longitude\n1717236000000,45.0,7.0\n1717236060,45N,7W\n")
    track = load_track(epoch)
    assert list(track.times_s) == [1717236000.0, 1717236060.0] and track.lon[1] == -7.0
    with pytest.raises(TrackFormatError, match=r"d\.csv: line 3: unreadable position"):
        load_track(write(tmp_path / "d.csv", "time,lat,lon\n2024-06-01T10:00:00Z,45,7\n2024-06-01T10:01:00Z,x,7\n"))
    with pytest.raises(TrackFormatError, match="line 1: CSV header names no time"):
        load_track(write(tmp_path / "e.csv", "a,b,c\n1,2,3\n"))


def test_tcx_tracks_are_segments_and_points_without_position_skipped(tmp_path):
    path = tf.write_tcx(tmp_path / "a.tcx", POINTS)
    text = path.read_text().replace("</Track></Lap>", "<Trackpoint><Time>2024-06-02T01:00:00Z</Time>"
                                    "<HeartRateBpm><Value>80</Value></HeartRateBpm></Trackpoint></Track>"
                                    "<Track>" + path.read_text().split("<Track>")[1].split("</Track>")[0]
                                    .replace("2024-06-0", "2024-07-0") + "</Track></Lap>")
    track = load_track(write(tmp_path / "b.tcx", text))
    assert len(track) == 10 and set(track.segment) == {0, 1}
    with pytest.raises(TrackFormatError, match=r"c\.tcx: line 1: not valid XML"):
        load_track(write(tmp_path / "c.tcx", "<TrainingCenterDatabase><Trackpoint>"))


def test_fit_records_and_a_corrupt_file(tmp_path):
    path = tf.write_fit(tmp_path / "a.fit", POINTS)
    track = load_track(path)
    assert len(track) == 5 and track.altitude_m[0] == pytest.approx(100.0)
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF  # the file CRC no longer matches
    bad = tmp_path / "bad.fit"
    bad.write_bytes(bytes(data))
    with pytest.raises(TrackFormatError, match=r"bad\.fit: record \d+: not a readable FIT file"):
        load_track(bad)


def test_kmz_reads_doc_kml_and_refuses_an_empty_zip(tmp_path):
    assert len(load_track(tf.write_kmz(tmp_path / "a.kmz", POINTS))) == 5
    with pytest.raises(TrackFormatError, match="not a readable KMZ"):
        load_track(write(tmp_path / "b.kmz", "not a zip"))


def test_gpx_waypoints_routes_hdop_and_both_readers_agree(tmp_path):
    gpx = tf.write_gpx(tmp_path / "t.gpx", [POINTS[:3], POINTS[3:]]).read_text()
    gpx = gpx.replace("<time>", "<time>").replace("</time></trkpt>", "</time><sat>7</sat><hdop>2.5</hdop></trkpt>")
    fast = load_track(write(tmp_path / "fast.gpx", gpx))
    slow = load_track(write(tmp_path / "slow.gpx", gpx.replace("<trk>", "<!-- a comment --><trk>")))  # streaming
    for name in ("times_s", "lat", "lon", "altitude_m", "segment"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name))
    np.testing.assert_array_equal(fast.quality("hdop"), slow.quality("hdop"))
    assert list(fast.quality("satellites")) == [7.0] * 5 and list(fast.segment) == [0, 0, 0, 1, 1]
    mixed = write(tmp_path / "m.gpx", tf.write_gpx_waypoints(tmp_path / "w.gpx", POINTS[:2]).read_text().replace(
        "</gpx>", tf.write_gpx_waypoints(tmp_path / "r.gpx", POINTS[2:], route=True).read_text().split(
            'topografix.com/GPX/1/1">')[1]))
    track = load_track(mixed)
    assert len(track) == 5 and len(set(track.segment)) == 2  # the waypoints, the route


def test_takeout_records_e7_overflow_ms_and_bad_records(tmp_path):
    path = tf.write_records_json(tmp_path / "Records.json", POINTS, milliseconds=True)
    document = json.loads(path.read_text())
    document["locations"][1]["latitudeE7"] += 2**32  # the known Takeout overflow
    document["locations"].insert(2, {"timestampMs": "1717236000000"})  # no position
    document["locations"].append({"latitudeE7": 1_000_000_000, "longitudeE7": 0, "timestamp": "2024-06-02T10:00:00Z"})
    path.write_text(json.dumps(document, indent=2))
    track = load_track(path)
    assert len(track) == 5 and track.lat[1] == pytest.approx(45.001)
    assert list(track.quality("accuracy_m")) == [25.0] * 5
    assert any("record 3" in note for note in track.notes) and any("out of range" in note for note in track.notes)
    broken = write(tmp_path / "broken.json", path.read_text().replace('"accuracy": 25', '"accuracy": 25,,', 2))
    with pytest.raises(TrackFormatError, match=r"broken\.json: line \d+: not valid JSON"):
        load_track(broken)


def test_timeline_paths_visits_raw_signals_and_ios_form(tmp_path):
    visit = (T0 + timedelta(hours=1), T0 + timedelta(hours=3), 46.5, 6.6)
    path = tf.write_timeline_json(tmp_path / "Timeline.json", POINTS, visit)
    document = json.loads(path.read_text())
    document["rawSignals"].append({"position": {"LatLng": "45.5°, -7.5°", "accuracyMeters": 8, "altitudeMeters": 3.5,
                                                "source": "GPS", "timestamp": "2024-06-02T00:30:00.000Z"}})
    path.write_text(json.dumps(document, ensure_ascii=False))
    track = load_track(path)
    at_visit = (track.times_s >= visit[0].timestamp()) & (track.times_s <= visit[1].timestamp())
    assert at_visit.sum() == 13 and np.all(track.lat[at_visit] == 46.5)  # every 10 min of the visit
    assert np.diff(track.times_s[at_visit]).max() <= 600
    raw = track.times_s == datetime(2024, 6, 2, 0, 30, tzinfo=timezone.utc).timestamp()
    assert track.quality("accuracy_m")[raw] == 8 and track.altitude_m[raw] == 3.5
    ios = [{"startTime": "2024-06-01T10:00:00.000+02:00", "endTime": "2024-06-01T11:00:00.000+02:00",
            "timelinePath": [{"point": "geo:45.1,7.1", "durationMinutesOffsetFromStartTime": "0"},
                             {"point": "geo:45.2,7.2", "durationMinutesOffsetFromStartTime": "30"}]}]
    track = load_track(write(tmp_path / "location-history.json", json.dumps(ios)))
    assert list(track.times_s - track.times_s[0]) == [0, 1800] and track.lat[1] == 45.2


def test_semantic_location_history_place_visits(tmp_path):
    month = {"timelineObjects": [{"placeVisit": {"location": {"latitudeE7": 451000000, "longitudeE7": 71000000},
                                                 "duration": {"startTimestamp": "2024-06-01T10:00:00Z",
                                                              "endTimestamp": "2024-06-01T10:30:00Z"}}}]}
    track = load_track(write(tmp_path / "2024_JUNE.json", json.dumps(month)))
    assert len(track) == 4 and track.lat[0] == 45.1


def test_folders_of_mixed_formats_and_a_bad_file_in_the_batch(tmp_path):
    folder = tmp_path / "logs"
    (folder / "sub").mkdir(parents=True)
    (folder / ".hidden").mkdir()
    tf.write_nmea(folder / "A.NMEA", POINTS)
    tf.write_fit(folder / "sub" / "b.fit", POINTS)
    write(folder / ".hidden" / "c.gpx", "<gpx/>")
    write(folder / "notes.txt", "not a track")
    write(folder / "settings.json", '{"theme": "dark"}')  # other files with track suffixes, in a folder
    write(folder / "IMG_1.jpg.json", '{"title": "IMG_1.jpg", "geoData": {"latitude": 1}}')  # Google Photos sidecar
    write(folder / "prices.csv", "item,price\nbread,2\n")
    write(folder / "system.log", "boot ok\n")
    write(folder / "d.gpx", "<gpx><trk><trkseg><trkpt lat='1' lon='2'><time>x")
    assert [p.name for p in expand_track_paths([folder])] == ["A.NMEA", "d.gpx", "b.fit"]
    tracks, errors = load_tracks([folder, tmp_path / "missing.gpx"])
    assert len(tracks) == 2 and len(errors) == 2
    assert "d.gpx: line 1: not valid GPX" in str(errors[0]) and "missing.gpx: cannot read" in str(errors[1])


def test_a_cut_off_gpx_keeps_the_points_before_the_break(tmp_path):
    text = tf.write_gpx(tmp_path / "t.gpx", [POINTS]).read_text()
    cut = write(tmp_path / "cut.gpx", text[: text.index("</trkpt>", text.index("</trkpt>") + 1) + 30])
    track = load_track(cut)
    assert len(track) == 2 and any("not valid GPX" in note and "2 points before it" in note for note in track.notes)


def test_gpx_elevation_after_time_is_read_too(tmp_path):
    text = tf.write_gpx(tmp_path / "t.gpx", [POINTS]).read_text()
    swapped = re.sub(r"(<ele>[^<]*</ele>)(<time>[^<]*</time>)", r"\2\1", text)
    assert swapped != text
    track = load_track(write(tmp_path / "swapped.gpx", swapped))
    np.testing.assert_allclose(track.altitude_m, [p[3] for p in POINTS])
