"""Track parsers on small hand-written GPX / KML / GeoJSON files, including malformed ones."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pytest

from geotagger.geocore.timesync.parsers import TrackFormatError, load_track, load_tracks, parse_time_s

T0 = datetime(2024, 6, 1, 10, 0, 0, tzinfo=timezone.utc).timestamp()

GPX = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="hand" xmlns="http://www.topografix.com/GPX/1/1">
  <trk><name>walk</name>
    <trkseg>
      <trkpt lat="46.0" lon="7.0"><ele>1500.5</ele><time>2024-06-01T10:00:00Z</time></trkpt>
      <trkpt lat="46.001" lon="7.002"><ele>1510</ele><time>2024-06-01T10:00:10Z</time></trkpt>
      <trkpt lat="46.002" lon="7.004"></trkpt>
    </trkseg>
    <trkseg>
      <trkpt lat="46.1" lon="7.1"><time>2024-06-01T12:00:00+02:00</time></trkpt>
    </trkseg>
  </trk>
</gpx>
"""

KML_GX = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2" xmlns:gx="http://www.google.com/kml/ext/2.2">
<Document><Placemark><gx:Track>
  <when>2024-06-01T10:00:00Z</when><when>2024-06-01T10:00:10.5Z</when>
  <gx:coord>7.0 46.0 1500</gx:coord><gx:coord>7.002 46.001 1510</gx:coord>
</gx:Track></Placemark></Document></kml>
"""

KML_PLACEMARKS = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document>
  <Placemark><TimeStamp><when>2024-06-01T10:00:20Z</when></TimeStamp><Point><coordinates>7.0,46.0,5</coordinates></Point></Placemark>
  <Placemark><TimeStamp><when>2024-06-01T10:00:00Z</when></TimeStamp><Point><coordinates>7.1,46.1</coordinates></Point></Placemark>
  <Placemark><name>no time</name><Point><coordinates>7.2,46.2</coordinates></Point></Placemark>
  <Placemark><TimeSpan><begin>2024-06-01T11:00:00Z</begin><end>2024-06-01T11:00:30Z</end></TimeSpan>
    <LineString><coordinates>0,0 1,0 3,0</coordinates></LineString></Placemark>
</Document></kml>
"""


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_gpx_segments_times_altitude_and_untimed_points(tmp_path):
    track = load_track(_write(tmp_path, "walk.GPX", GPX))
    assert len(track) == 3
    # sorted by time: 12:00+02:00 in the second segment is 10:00Z, the same instant as the first point
    np.testing.assert_allclose(track.times_s, [T0, T0, T0 + 10], rtol=0, atol=1e-6)
    assert list(track.segment) == [0, 1, 0]
    np.testing.assert_allclose(track.lat, [46.0, 46.1, 46.001])
    assert track.altitude_m[0] == 1500.5 and np.isnan(track.altitude_m[1])
    assert track.sources == (str(tmp_path / "walk.GPX"),)


def test_kml_gx_track(tmp_path):
    track = load_track(_write(tmp_path, "a.kml", KML_GX))
    np.testing.assert_allclose(track.times_s, [T0, T0 + 10.5], rtol=0, atol=1e-6)
    np.testing.assert_allclose(track.lat, [46.0, 46.001])
    np.testing.assert_allclose(track.lon, [7.0, 7.002])
    np.testing.assert_allclose(track.altitude_m, [1500, 1510])


def test_kml_timestamp_placemarks_and_timespan_linestring(tmp_path):
    track = load_track(_write(tmp_path, "b.kml", KML_PLACEMARKS))
    # two timed points (sorted), the untimed one skipped, the line's three vertices at constant speed
    assert len(track) == 5
    points = track.times_s < T0 + 3600
    np.testing.assert_allclose(track.lat[points], [46.1, 46.0])
    np.testing.assert_allclose(track.altitude_m[points][1], 5.0)
    line = ~points
    np.testing.assert_allclose(track.lon[line], [0, 1, 3])
    np.testing.assert_allclose(track.times_s[line] - (T0 + 3600), [0, 10, 30], atol=1e-9)
    assert len(set(track.segment[line])) == 1 and set(track.segment[line]).isdisjoint(track.segment[points])


def test_geojson_linestring_multilinestring_and_points(tmp_path):
    features = [
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[7, 46, 100], [7.001, 46.001]]},
         "properties": {"coordTimes": ["2024-06-01T10:00:00Z", "2024-06-01T10:00:05Z"]}},
        {"type": "Feature", "geometry": {"type": "MultiLineString", "coordinates": [[[8, 47]], [[9, 48]]]},
         "properties": {"times": [[T0 + 100], [(T0 + 200) * 1000]]}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [10, 49]}, "properties": {"time": T0 + 300}},
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[12, 51]]},
         "properties": {"coordinateProperties": {"times": ["2024-06-01T10:06:40Z"]}}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [11, 50]}, "properties": {"name": "x"}},
    ]
    path = _write(tmp_path, "c.geojson", json.dumps({"type": "FeatureCollection", "features": features}))
    track = load_track(path)
    np.testing.assert_allclose(track.times_s, [T0, T0 + 5, T0 + 100, T0 + 200, T0 + 300, T0 + 400], rtol=0, atol=1e-6)
    np.testing.assert_allclose(track.lon, [7, 7.001, 8, 9, 10, 12])
    assert len(set(track.segment)) == 5  # line, two lines of the multi-line, the points together, togeojson line
    assert track.altitude_m[0] == 100 and np.isnan(track.altitude_m[1])


def test_bare_geometry_geojson(tmp_path):
    # a bare LineString has no properties, hence no times: a clear error, not a crash
    path = _write(tmp_path, "bare.json", json.dumps({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}))
    with pytest.raises(TrackFormatError, match="bare.json: no track point with a time .2 points"):
        load_track(path)


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("broken.gpx", "<gpx><trk><trkseg><trkpt lat='1' lon='2'>", "not valid GPX"),
        ("empty.gpx", '<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"></gpx>', "no track point"),
        ("bad.kml", "<kml><Document>", "not valid XML"),
        ("notkml.kml", "<html/>", "root element is <html>"),
        ("uneven.kml", KML_GX.replace("<when>2024-06-01T10:00:00Z</when>", ""), "1 <when> but 2"),
        ("coord.kml", KML_GX.replace("7.0 46.0 1500", "seven 46"), "bad coordinate"),
        ("range.kml", KML_GX.replace("7.0 46.0 1500", "7.0 96.0"), "coordinate out of range"),
        ("bad.geojson", "{not json", "not valid JSON"),
        ("list.geojson", "[1, 2]", "not a GeoJSON object"),
        ("mismatch.geojson", json.dumps({"type": "Feature", "geometry": {"type": "LineString",
         "coordinates": [[0, 0], [1, 1]]}, "properties": {"coordTimes": ["2024-06-01T10:00:00Z"]}}),
         "do not match the coordinates"),
        ("pos.geojson", json.dumps({"type": "Feature", "geometry": {"type": "Point", "coordinates": ["a"]},
                                    "properties": {"time": 5}}), "bad position"),
        ("track.txt", "whatever", "unknown track format"),
    ],
)
def test_malformed_files_raise_an_error_naming_the_file(tmp_path, name, text, reason):
    path = _write(tmp_path, name, text)
    with pytest.raises(TrackFormatError) as caught:
        load_track(path)
    assert str(path) in str(caught.value) and reason in str(caught.value)
    assert caught.value.path == str(path)


def test_batch_goes_on_after_a_bad_file(tmp_path):
    good = _write(tmp_path, "good.kml", KML_GX)
    bad = _write(tmp_path, "bad.gpx", "nope")
    missing = tmp_path / "missing.gpx"
    tracks, errors = load_tracks([bad, good, missing])
    assert len(tracks) == 1 and len(tracks[0]) == 2
    assert [error.path for error in errors] == [str(bad), str(missing)]
    assert "cannot read" in errors[1].reason


def test_parse_time_values():
    assert parse_time_s("2024-06-01T10:00:00Z") == T0
    assert parse_time_s("2024-06-01T12:00:00+02:00") == T0
    assert parse_time_s("2024-06-01T10:00:00") == T0  # naive = UTC
    assert parse_time_s("2024-06-01") is None  # date only: too coarse
    assert parse_time_s("yesterday") is None
    assert parse_time_s(T0 * 1000) == T0
    assert parse_time_s(True) is None
    assert parse_time_s(float("nan")) is None and parse_time_s(float("inf")) is None
    assert parse_time_s(1e20) is None  # beyond year 9999 even read as milliseconds


def test_entity_expansion_bomb_is_refused_quickly(tmp_path):
    entities = "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
    for name, root in (("bomb.kml", "kml"), ("bomb.gpx", "gpx")):
        body = f'<?xml version="1.0"?><!DOCTYPE {root} [<!ENTITY a "{"a" * 50}">{entities}]>'
        path = _write(tmp_path, name, f"{body}<{root}><name>&i;</name></{root}>")
        with pytest.raises(TrackFormatError, match="amplification"):
            load_track(path)


@pytest.mark.parametrize("name, text", [
    ("deep.geojson", '{"type":"FeatureCollection","features":' + "[" * 60000 + "]" * 60000 + "}"),
    ("Records.json", '{"locations":[{"latitudeE7":1,"longitudeE7":1,"timestamp":"2024-05-01T10:00:00Z","x":'
                     + "[" * 60000 + "]" * 60000 + "}]}"),
])
def test_json_nested_too_deep_is_one_bad_file(tmp_path, name, text) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(TrackFormatError) as caught:
        load_track(path)
    assert str(path) in str(caught.value) and "nested too deeply" in str(caught.value)
