"""Photos (plain data) + generated tracks or geotagged neighbours -> proposals: zones, DST, gaps, clock offsets."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from geotagger.geocore.timesync.clock import CaptureTime, ClockSettings
from geotagger.geocore.timesync.match import GPS_POINT_ACCURACY_KM
from geotagger.geocore.timesync.sync import (
    TimedPhoto,
    estimate_offsets_from_pairs,
    offset_from_reference_place,
    offset_from_reference_time,
    propose_from_neighbours,
    propose_from_track,
    with_clock_offsets,
)
from geotagger.geocore.timesync.track import Track, make_track, merge_tracks

STEP_S = 30.0
LAT_STEP = 0.001  # northwards along a meridian: great-circle position is linear in latitude, exactly


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def meridian_track(start_utc_s: float, minutes: float, lat0: float, lon: float) -> Track:
    """A point every 30 s, heading north at 0.001 degree per point (about 13 km/h)."""
    count = int(minutes * 60 / STEP_S) + 1
    k = np.arange(count)
    return make_track(start_utc_s + k * STEP_S, lat0 + k * LAT_STEP, np.full(count, lon), 100.0 + k)


def lat_at(start_utc_s: float, lat0: float, utc_s: float) -> float:
    return lat0 + (utc_s - start_utc_s) / STEP_S * LAT_STEP


def photo(photo_id, local, offset=None, camera="Cam", lat=None, lon=None):
    return TimedPhoto(photo_id, CaptureTime(local, offset, camera), lat, lon)


def test_camera_zone_across_the_spring_dst_change():
    start = utc(2024, 3, 31, 0, 0)
    track = meridian_track(start, 180, 52.0, 13.4)  # Berlin area, 00:00Z-03:00Z
    photos = [
        photo("before", datetime(2024, 3, 31, 1, 45, 15)),  # CET: 00:45:15Z
        photo("skipped", datetime(2024, 3, 31, 2, 30, 0)),  # does not exist: read as CET, 01:30Z
        photo("after", datetime(2024, 3, 31, 3, 30, 0)),  # CEST: 01:30Z as well
    ]
    result = propose_from_track(photos, track, ClockSettings(camera_zone="Europe/Berlin"))
    assert result.unlocated == {}
    expected = {"before": utc(2024, 3, 31, 0, 45, 15), "skipped": utc(2024, 3, 31, 1, 30),
                "after": utc(2024, 3, 31, 1, 30)}
    for photo_id, utc_s in expected.items():
        assert result.times[photo_id].utc_s == utc_s
        proposal = result.proposals[photo_id]
        assert proposal.source == "gps_track"
        assert proposal.lat == pytest.approx(lat_at(start, 52.0, utc_s), abs=1e-9)
        assert proposal.lon == pytest.approx(13.4, abs=1e-9)
    # 00:45:15Z is 15 s after a point: halfway, altitude halfway, radius 10 m + half a step
    before = result.proposals["before"]
    assert before.altitude_m == pytest.approx(100 + 90.5)
    assert before.radius_km == pytest.approx(GPS_POINT_ACCURACY_KM + 0.5 * 0.001 * 6371 * np.pi / 180, rel=1e-9)


def test_autumn_dst_repeated_hour_is_deterministic():
    start = utc(2024, 10, 27, 0, 0)
    track = meridian_track(start, 120, 48.0, 11.5)
    result = propose_from_track([photo("twice", datetime(2024, 10, 27, 2, 30))], track,
                                ClockSettings(camera_zone="Europe/Berlin"))
    assert result.times["twice"].utc_s == utc(2024, 10, 27, 0, 30)  # first occurrence (CEST)
    assert result.proposals["twice"].lat == pytest.approx(lat_at(start, 48.0, utc(2024, 10, 27, 0, 30)))


def test_offset_tags_across_time_zones_on_one_trip():
    new_york = meridian_track(utc(2024, 7, 1, 14, 0), 60, 40.70, -74.0)
    tokyo = meridian_track(utc(2024, 7, 3, 3, 0), 60, 35.60, 139.7)
    track = merge_tracks([new_york, tokyo])
    photos = [
        photo("ny", datetime(2024, 7, 1, 10, 20), "-04:00"),  # 14:20Z
        photo("tokyo", datetime(2024, 7, 3, 12, 40), "+09:00"),  # 03:40Z
    ]
    result = propose_from_track(photos, track, ClockSettings(camera_zone="Europe/Berlin"))  # the tag wins
    assert result.times["ny"].how == "offset_tag"
    assert result.proposals["ny"].lat == pytest.approx(lat_at(utc(2024, 7, 1, 14, 0), 40.70, utc(2024, 7, 1, 14, 20)))
    assert result.proposals["tokyo"].lon == pytest.approx(139.7)
    assert result.proposals["tokyo"].lat == pytest.approx(35.60 + 80 * LAT_STEP)


def test_zone_inferred_from_the_track_when_nothing_else_is_known():
    start = utc(2024, 7, 1, 14, 0)
    track = meridian_track(start, 60, 40.70, -74.0)
    result = propose_from_track([photo("p", datetime(2024, 7, 1, 10, 10))], track)
    assert result.times["p"].how == "place_zone:America/New_York"
    assert result.proposals["p"].lat == pytest.approx(lat_at(start, 40.70, utc(2024, 7, 1, 14, 10)))


def test_clock_offset_per_camera_model():
    start = utc(2024, 5, 1, 8, 0)
    track = meridian_track(start, 60, 45.0, 7.0)
    # the Canon runs 5 min 30 s slow: it reads 10:10:00 (+02:00) when it is really 08:15:30Z
    photos = [photo("canon", datetime(2024, 5, 1, 10, 10), "+02:00", "Canon"),
              photo("phone", datetime(2024, 5, 1, 10, 10), "+02:00", "Phone")]
    result = propose_from_track(photos, track, ClockSettings(clock_offsets_s={"Canon": 330.0}))
    assert result.times["canon"].utc_s == utc(2024, 5, 1, 8, 15, 30)
    assert result.proposals["canon"].lat == pytest.approx(lat_at(start, 45.0, utc(2024, 5, 1, 8, 15, 30)))
    assert result.proposals["phone"].lat == pytest.approx(lat_at(start, 45.0, utc(2024, 5, 1, 8, 10)))


def test_clock_offset_from_one_reference_photo_time_or_place():
    start = utc(2024, 5, 1, 8, 0)
    track = meridian_track(start, 60, 45.0, 7.0)
    settings = ClockSettings(camera_zone="Europe/Rome")
    reference = photo("ref", datetime(2024, 5, 1, 10, 10), camera="Canon")  # reads 08:10Z in Rome's CEST
    # "this photo was taken at 10:15:30 local" -> +330 s
    assert offset_from_reference_time(reference, utc(2024, 5, 1, 8, 15, 30), settings) == 330.0
    # "this photo was taken here": the track was there at 08:15:30Z
    here = lat_at(start, 45.0, utc(2024, 5, 1, 8, 15, 30))
    offset_s = offset_from_reference_place(reference, here, 7.0, track, settings)
    assert offset_s == 330.0
    corrected = with_clock_offsets(settings, {"Canon": offset_s})
    other = photo("other", datetime(2024, 5, 1, 10, 30), camera="Canon")
    result = propose_from_track([other], track, corrected)
    assert result.proposals["other"].lat == pytest.approx(lat_at(start, 45.0, utc(2024, 5, 1, 8, 35, 30)))
    with pytest.raises(ValueError, match="no capture time"):
        offset_from_reference_time(TimedPhoto("x", None), 0.0, settings)


def test_gaps_and_photos_outside_the_track_stay_unlocated():
    first = meridian_track(utc(2024, 5, 1, 8, 0), 30, 45.0, 7.0)  # 08:00-08:30Z
    second = meridian_track(utc(2024, 5, 1, 9, 15), 30, 45.5, 7.0)  # 09:15-09:45Z: a 45 min gap
    track = make_track(np.concatenate([first.times_s, second.times_s]), np.concatenate([first.lat, second.lat]),
                       np.concatenate([first.lon, second.lon]))  # one segment: only the gap length decides
    photos = [
        photo("in_gap", datetime(2024, 5, 1, 8, 50), "+00:00"),
        photo("near_gap_edge", datetime(2024, 5, 1, 8, 30, 40), "+00:00"),
        photo("long_before", datetime(2024, 5, 1, 6, 0), "+00:00"),
        photo("has_gps", datetime(2024, 5, 1, 8, 10), "+00:00", lat=1.0, lon=2.0),
        TimedPhoto("no_capture", None),
    ]
    result = propose_from_track(photos, track)
    assert set(result.proposals) == {"near_gap_edge"}
    assert result.proposals["near_gap_edge"].lat == first.lat[-1]
    assert result.unlocated["in_gap"] == ("no track point within the limits (gap 30 min, snap 60 s): "
                                          "2024-05-01 08:50:00 UTC falls in a 45 min gap of the track")
    assert result.unlocated["long_before"].endswith("2024-05-01 06:00:00 UTC is 2.0 h before the track")
    assert "no capture time" in result.unlocated["no_capture"]
    assert "has_gps" not in result.unlocated  # photos with GPS are not touched
    wider = propose_from_track(photos, track, max_gap_s=50 * 60)
    assert "in_gap" in wider.proposals


def test_unknown_zone_is_reported_not_guessed():
    track = meridian_track(utc(2024, 5, 1, 8, 0), 10, 45.0, 7.0)
    result = propose_from_track([photo("p", datetime(2024, 5, 1, 10, 0))], track, zone_at=lambda lat, lon: None)
    assert result.proposals == {} and "time zone unknown" in result.unlocated["p"]


def test_neighbours_locate_camera_photos_with_zone_from_the_phone_positions():
    # phone (tagged +02:00, GPS) every 10 min walking north in Zurich; camera photos without zone or GPS
    start_local = datetime(2024, 6, 1, 14, 0)
    phone = [photo(f"phone{i}", start_local + timedelta(minutes=10 * i), "+02:00", "Phone", 47.37 + 0.01 * i, 8.54)
             for i in range(4)]
    camera = [photo("cam_between", datetime(2024, 6, 1, 14, 12, 30), camera="Sony"),
              photo("cam_late", datetime(2024, 6, 1, 14, 50), camera="Sony"),
              photo("cam_far", datetime(2024, 6, 1, 18, 0), camera="Sony")]
    result = propose_from_neighbours(phone + camera)
    assert result.times["cam_between"].how == "place_zone:Europe/Zurich"
    between = result.proposals["cam_between"]
    assert between.source == "time_neighbour"
    assert between.lat == pytest.approx(47.38 + 0.25 * 0.01, abs=1e-9) and between.lon == pytest.approx(8.54)
    late = result.proposals["cam_late"]  # 20 min after the last phone photo: on it, radius from the walk
    assert (late.lat, late.lon) == (47.40, 8.54)
    assert late.radius_km == pytest.approx(0.030 + 5.0 * 20 / 60)
    assert "no geotagged photo within 30 min" in result.unlocated["cam_far"]
    assert not any(p.startswith("phone") for p in [*result.proposals, *result.unlocated])


def test_neighbours_with_camera_clock_offset_estimated_from_pairs():
    # the Sony is 2 min fast; the user marked three pairs (same scene, phone and Sony), one of them sloppy
    phone = [photo(f"phone{i}", datetime(2024, 6, 1, 14, 0) + timedelta(minutes=10 * i), "+02:00", "Phone",
                   47.37 + 0.01 * i, 8.54) for i in range(4)]
    sony = [photo(f"sony{i}", datetime(2024, 6, 1, 14, 2) + timedelta(minutes=10 * i, seconds=s), "+02:00", "Sony")
            for i, s in enumerate([0, 4, 100])]
    estimates = estimate_offsets_from_pairs(list(zip(sony, phone[:3])))
    assert estimates["Sony"].offset_s == -124.0 and estimates["Sony"].pair_count == 3
    settings = ClockSettings(clock_offsets_s={"Sony": -120.0})
    # the current offset is taken out: the estimate stays the whole offset
    assert estimate_offsets_from_pairs(list(zip(sony, phone[:3])), settings)["Sony"].offset_s == -124.0
    target = photo("sony_mid", datetime(2024, 6, 1, 14, 7), "+02:00", "Sony")  # really 14:05 -> halfway
    result = propose_from_neighbours([*phone, target], settings)
    assert result.proposals["sony_mid"].lat == pytest.approx(47.375, abs=1e-9)


def test_neighbours_without_any_geotagged_photo():
    result = propose_from_neighbours([photo("a", datetime(2024, 6, 1, 14, 0), "+02:00")])
    assert result.proposals == {} and "no geotagged photo" in result.unlocated["a"]


def test_pairs_read_an_unzoned_camera_in_the_zone_of_the_reference_place():
    phone = photo("phone", datetime(2024, 6, 1, 14, 10), "+02:00", "Phone", 47.38, 8.54)
    sony = photo("sony", datetime(2024, 6, 1, 14, 13), None, "Sony")
    assert estimate_offsets_from_pairs([(sony, phone)])["Sony"].offset_s == -180.0
    with pytest.raises(ValueError, match="nothing: no capture time"):
        estimate_offsets_from_pairs([(TimedPhoto("nothing", None), phone)])


def test_offset_hint_finds_a_camera_left_on_the_wrong_zone():
    from geotagger.geocore.timesync.sync import suggest_offsets

    start = utc(2024, 5, 1, 8, 0)
    track = meridian_track(start, 60, 45.0, 7.0)  # 08:00-09:00Z
    # the Canon shows Italian time but tags it "+01:00" (Italy is on +02:00 in May): every photo is read 1 h late
    wrong = [photo(f"c{i}", datetime(2024, 5, 1, 10, 5 + 10 * i), "+01:00", "Canon") for i in range(5)]
    right = [photo(f"p{i}", datetime(2024, 5, 1, 10, 5 + 10 * i), "+02:00", "Phone") for i in range(5)]
    result = propose_from_track(wrong + right, track)
    assert len(result.proposals) == 5
    (hint,) = suggest_offsets(wrong + right, track, result)
    assert (hint.camera, hint.offset_s, hint.matched_with_hint, hint.matched_now) == ("Canon", -3600.0, 5, 0)
    fixed = propose_from_track(wrong, track, ClockSettings(clock_offsets_s={"Canon": hint.offset_s}))
    assert fixed.proposals["c0"].lat == pytest.approx(lat_at(start, 45.0, utc(2024, 5, 1, 8, 5)))
