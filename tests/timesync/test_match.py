"""Track matching: exact interpolation values, gaps, segments, snapping, altitude, radius formula."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geotagger.geocore.geo.distance import EARTH_RADIUS_KM, haversine_km
from geotagger.geocore.timesync.match import (
    ASSUMED_SPEED_KMH,
    GPS_POINT_ACCURACY_KM,
    clock_offset_from_place_s,
    match_times,
    nearest_position_at,
)
from geotagger.geocore.timesync.sphere import slerp, to_unit_vectors
from geotagger.geocore.timesync.track import make_track, merge_tracks

KM_PER_DEGREE = EARTH_RADIUS_KM * math.pi / 180.0


def _intermediate_point(lat1, lon1, lat2, lon2, fraction):
    """Independent textbook formula (aviation formulary) for a point along a great circle."""
    p1, l1, p2, l2 = map(math.radians, (lat1, lon1, lat2, lon2))
    haversine = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin((l2 - l1) / 2) ** 2
    d = 2 * math.asin(math.sqrt(haversine))
    a = math.sin((1 - fraction) * d) / math.sin(d)
    b = math.sin(fraction * d) / math.sin(d)
    x = a * math.cos(p1) * math.cos(l1) + b * math.cos(p2) * math.cos(l2)
    y = a * math.cos(p1) * math.sin(l1) + b * math.cos(p2) * math.sin(l2)
    z = a * math.sin(p1) + b * math.sin(p2)
    return math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x))


def test_interpolation_along_equator_and_meridian_is_exact():
    track = make_track([0, 100, 200], [0, 0, 10], [0, 1, 1], [100, 200, 400])
    match = match_times(track, [25, 100, 170])
    assert match.matched.all() and match.interpolated.all()
    np.testing.assert_allclose(match.lat, [0.0, 0.0, 7.0], atol=1e-12)
    np.testing.assert_allclose(match.lon, [0.25, 1.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(match.altitude_m, [125.0, 200.0, 340.0])
    # radius = 10 m + distance to the nearer track point
    expected_radius = [GPS_POINT_ACCURACY_KM + 0.25 * KM_PER_DEGREE, GPS_POINT_ACCURACY_KM,
                       GPS_POINT_ACCURACY_KM + 0.3 * 10 * KM_PER_DEGREE]
    np.testing.assert_allclose(match.radius_km, expected_radius, rtol=1e-12)
    np.testing.assert_allclose(match.nearest_point_s, [25, 0, 30])


def test_interpolation_on_long_oblique_segment_matches_textbook_formula():
    track = make_track([0, 3600], [48.8566, 40.7128], [2.3522, -74.0060])  # Paris -> New York
    fraction = 0.37
    match = match_times(track, [fraction * 3600], max_gap_s=3600)
    lat, lon = _intermediate_point(48.8566, 2.3522, 40.7128, -74.0060, fraction)
    assert match.lat[0] == pytest.approx(lat, abs=1e-9)
    assert match.lon[0] == pytest.approx(lon, abs=1e-9)
    # great-circle, not linear in lat/lon: the path bows north of both ends
    assert match.lat[0] > 48.8566
    total_km = float(haversine_km(48.8566, 2.3522, 40.7128, -74.0060))
    assert float(haversine_km(48.8566, 2.3522, lat, lon)) == pytest.approx(fraction * total_km, rel=1e-9)


def test_interpolation_across_antimeridian_takes_the_short_way():
    track = make_track([0, 10], [0, 0], [179.5, -179.5])
    match = match_times(track, [5])
    assert abs(abs(match.lon[0]) - 180.0) < 1e-9
    assert match.radius_km[0] == pytest.approx(GPS_POINT_ACCURACY_KM + 0.5 * KM_PER_DEGREE, rel=1e-9)


def test_gap_longer_than_maximum_is_not_bridged_but_nearby_points_snap():
    # points at 0 and 3600 s: a 60 min gap, above the default 30 min
    track = make_track([0, 3600], [0, 0], [0, 1])
    match = match_times(track, [1800, 30, 3550, 61])
    assert list(match.matched) == [False, True, True, False]
    assert not match.interpolated.any()
    assert match.lon[1] == 0.0 and match.lon[2] == 1.0
    assert match.radius_km[1] == pytest.approx(GPS_POINT_ACCURACY_KM + ASSUMED_SPEED_KMH * 30 / 3600)
    # the same gap is bridged when the user allows it
    wide = match_times(track, [1800], max_gap_s=3600)
    assert wide.interpolated[0] and wide.lon[0] == pytest.approx(0.5, abs=1e-12)


def test_before_and_after_the_track_only_within_snap_limit():
    track = make_track([1000, 1010], [1, 1], [2, 2.001])
    match = match_times(track, [940, 939, 1070, 1071], max_snap_s=60)
    assert list(match.matched) == [True, False, True, False]
    assert np.isnan(match.lat[1]) and np.isnan(match.radius_km[3])
    nothing = match_times(track, [999], max_snap_s=0)
    assert not nothing.matched[0]


def test_segments_are_never_interpolated_across():
    first = make_track([0, 10], [0, 0], [0, 0.001])
    second = make_track([20, 30], [5, 5], [5, 5.001])
    merged = merge_tracks([first, second])
    assert list(merged.segment) == [0, 0, 1, 1]
    match = match_times(merged, [15], max_snap_s=0)
    assert not match.matched[0]
    inside = match_times(merged, [25])
    assert inside.interpolated[0] and inside.lat[0] == pytest.approx(5.0)


def test_without_altitude_and_missing_altitude_give_nan():
    track = make_track([0, 10], [0, 0], [0, 1], [np.nan, 5.0])
    assert np.isnan(match_times(track, [5]).altitude_m[0])
    track = make_track([0, 10], [0, 0], [0, 1], [1.0, 5.0])
    assert np.isnan(match_times(track, [5], with_altitude=False).altitude_m[0])


def test_unsorted_input_and_duplicate_times():
    track = make_track([10, 0, 10, 5], [1, 0, 9, 0.5], [0, 0, 0, 0])
    assert list(track.times_s) == [0, 5, 10]
    assert list(track.lat) == [0, 0.5, 1]  # the first reading of a repeated second is kept


def test_slerp_endpoints_and_tiny_arcs():
    a = to_unit_vectors(10.0, 20.0)
    b = to_unit_vectors(10.0, 20.0 + 1e-14)
    np.testing.assert_allclose(slerp(a, b, 0.5), a, atol=1e-15)
    c = to_unit_vectors(-30.0, 100.0)
    np.testing.assert_allclose(slerp(a, c, 0.0), a, atol=1e-15)
    np.testing.assert_allclose(slerp(a, c, 1.0), c, atol=1e-15)


def test_nearest_position_and_offset_from_place():
    # the track passes the same place twice, at 0 s and at 7200 s
    track = make_track([0, 3600, 7200], [0, 1, 0], [0, 1, 0])
    assert nearest_position_at(track, 3000) == (1.0, 1.0)
    # a camera 100 s slow whose photo at the place reads 7100 s: the later pass is meant
    assert clock_offset_from_place_s(track, 0.0, 0.0, camera_utc_s=7100) == pytest.approx(100)
    assert clock_offset_from_place_s(track, 0.0, 0.0, camera_utc_s=50) == pytest.approx(-50)


def test_many_photos_vectorised_agree_with_scalar_calls():
    rng = np.random.default_rng(3)
    times = np.cumsum(rng.uniform(1, 30, 2000))
    track = make_track(times, 45 + np.cumsum(rng.normal(0, 1e-4, 2000)), 7 + np.cumsum(rng.normal(0, 1e-4, 2000)))
    photos = rng.uniform(times[0] - 100, times[-1] + 100, 300)
    batch = match_times(track, photos)
    for index in range(0, 300, 37):
        single = match_times(track, [photos[index]])
        assert single.matched[0] == batch.matched[index]
        if single.matched[0]:
            assert single.lat[0] == batch.lat[index] and single.radius_km[0] == batch.radius_km[index]


def test_single_point_track_and_no_photos():
    track = make_track([100], [1], [2])
    assert match_times(track, []).matched.shape == (0,)
    match = match_times(track, [100, 130, 200])
    assert list(match.matched) == [True, True, False]
    assert (match.lat[0], match.lon[0], match.radius_km[0]) == (1.0, 2.0, GPS_POINT_ACCURACY_KM)


@pytest.mark.parametrize("second_first", [False, True])
def test_tracks_overlapping_in_time_each_place_the_photos_they_bracket(second_first):
    """Two files of one walk (a phone and a watch, 10:20-10:40 and 10:25-10:45) interleave when merged: a photo
    between their points is placed within one of them, never left unmatched as a 'segment break'."""
    phone = make_track([0, 1200], [38.70, 38.80], [-9.14, -9.14])
    watch = make_track([300, 1400], [38.72, 38.82], [-9.20, -9.20])
    track = merge_tracks([watch, phone] if second_first else [phone, watch])
    times = [600, 150, 1350, 1700]  # in both; in the phone's alone; in the watch's alone; after both
    result = match_times(track, times, max_gap_s=1800, max_snap_s=60)
    assert list(result.matched) == [True, True, True, False]
    assert result.interpolated[:3].all()
    # 600 s: both bracket it; the watch's points are closer together (1100 s against 1200 s), so it places it
    expected = [(38.72 + 0.10 * 300 / 1100, -9.20), (38.7125, -9.14), (38.72 + 0.10 * 1050 / 1100, -9.20)]
    for index, (lat, lon) in enumerate(expected):
        assert (result.lat[index], result.lon[index]) == (pytest.approx(lat, abs=1e-6), pytest.approx(lon, abs=1e-6))
    narrow = match_times(track, times, max_gap_s=600, max_snap_s=60)  # no segment brackets within 10 min
    assert not narrow.interpolated[:3].any() and list(narrow.matched[:3]) == [False, False, True]  # 1350: 50 s snap
