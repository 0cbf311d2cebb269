"""Time neighbours: interpolation between geotagged photos, radius formula, limits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geotagger.geocore.geo.distance import EARTH_RADIUS_KM
from geotagger.geocore.timesync.match import ASSUMED_SPEED_KMH
from geotagger.geocore.timesync.neighbours import NEIGHBOUR_BASE_KM, locate_by_neighbours
from geotagger.geocore.timesync.track import make_track

KM_PER_DEGREE = EARTH_RADIUS_KM * math.pi / 180.0


def test_between_two_neighbours_exact_point_and_radius():
    # phone photos at 0 s on (0, 0) and 600 s on (0, 0.01); the camera photo at 150 s
    neighbours = make_track([0, 600], [0, 0], [0, 0.01])
    match = locate_by_neighbours(neighbours, [150])
    assert match.matched[0] and match.interpolated[0]
    assert match.lat[0] == pytest.approx(0.0, abs=1e-12) and match.lon[0] == pytest.approx(0.0025, abs=1e-12)
    expected = NEIGHBOUR_BASE_KM + ASSUMED_SPEED_KMH * 150 / 3600 + 0.25 * 0.01 * KM_PER_DEGREE
    assert match.radius_km[0] == pytest.approx(expected, rel=1e-12)
    assert np.isnan(match.altitude_m[0])


def test_radius_grows_with_time_gap_and_with_distance_between_neighbours():
    near = make_track([0, 600], [0, 0], [0, 0.001])
    far = make_track([0, 600], [0, 0], [0, 0.1])
    at = [300.0]
    assert locate_by_neighbours(far, at).radius_km[0] > locate_by_neighbours(near, at).radius_km[0]
    spread = make_track([0, 1200], [0, 0], [0, 0.001])
    assert locate_by_neighbours(spread, [600]).radius_km[0] > locate_by_neighbours(near, at).radius_km[0]


def test_one_usable_neighbour_and_none():
    neighbours = make_track([0, 10_000], [1, 2], [1, 2])
    match = locate_by_neighbours(neighbours, [60, 9_000, 5_000, -1_000, 11_000], max_gap_s=1800)
    assert list(match.matched) == [True, True, False, True, True]
    assert not match.interpolated.any()
    assert (match.lat[0], match.lon[0]) == (1.0, 1.0)
    assert (match.lat[1], match.lon[1]) == (2.0, 2.0)
    assert match.radius_km[0] == pytest.approx(NEIGHBOUR_BASE_KM + ASSUMED_SPEED_KMH * 60 / 3600)
    assert np.isnan(match.lat[2])


def test_same_instant_as_a_neighbour_sits_on_it():
    neighbours = make_track([0, 100, 200], [0, 5, 0], [0, 5, 10])
    match = locate_by_neighbours(neighbours, [100])
    assert match.lat[0] == pytest.approx(5.0) and match.lon[0] == pytest.approx(5.0)
    assert match.radius_km[0] == pytest.approx(NEIGHBOUR_BASE_KM)
