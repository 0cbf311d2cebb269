"""Place photos without GPS between geotagged photos taken near in time (a phone beside the camera).

Rule, for a photo at true UTC instant t and the geotagged photos ("neighbours", any camera, times corrected by
their own camera's clock offset) sorted by time:
- P = the last neighbour at or before t, N = the first after t; each is usable when at most max_gap_s
  (default 30 min) away from t.
- Both usable: the photo is placed at fraction f = (t - tP) / (tN - tP) of the great-circle arc from P to N
  (constant speed, as for tracks).
- One usable: the photo is placed on it. None usable: the photo is not located by neighbours.

Confidence radius (km), growing with the time gap and the distance between the neighbours:
    radius_km = NEIGHBOUR_BASE_KM + ASSUMED_SPEED_KMH * dt_h + min(f, 1 - f) * |PN|
where dt_h is the time in hours to the nearer usable neighbour (how far one can walk meanwhile, even back and
forth between two shots at the same spot), |PN| the great-circle distance between the neighbours (0 with one
neighbour), and NEIGHBOUR_BASE_KM covers the phone's own GPS error and the two photographers' few steps apart.

Altitude: interpolated linearly in time between the two neighbours when both are usable and both have one;
otherwise none (one neighbour says nothing about a climb between shots).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from geotagger.geocore.geo.distance import EARTH_RADIUS_KM
from geotagger.geocore.timesync.limits import DEFAULT_NEIGHBOUR_GAP_S as DEFAULT_NEIGHBOUR_GAP_S
from geotagger.geocore.timesync.match import ASSUMED_SPEED_KMH, TrackMatch
from geotagger.geocore.timesync.sphere import central_angle_rad, from_unit_vectors, slerp, to_unit_vectors
from geotagger.geocore.timesync.track import Track

NEIGHBOUR_BASE_KM = 0.030


def locate_by_neighbours(
    neighbours: Track, times_s: npt.ArrayLike, max_gap_s: float = DEFAULT_NEIGHBOUR_GAP_S, with_altitude: bool = True
) -> TrackMatch:
    """Positions of photos at UTC `times_s` from geotagged neighbours (a Track of their times and positions)."""
    t = np.asarray(times_s, dtype=np.float64).reshape(-1)
    n = len(neighbours)
    after = np.searchsorted(neighbours.times_s, t, side="right")
    before = after - 1
    p, q = np.clip(before, 0, n - 1), np.clip(after, 0, n - 1)
    to_p = np.where(before >= 0, t - neighbours.times_s[p], np.inf)
    to_q = np.where(after < n, neighbours.times_s[q] - t, np.inf)
    use_p, use_q = to_p <= max_gap_s, to_q <= max_gap_s
    both = use_p & use_q
    # With one usable neighbour the photo sits on it: point both ends of the arc at that neighbour.
    p = np.where(use_p, p, q)
    q = np.where(use_q, q, p)
    fraction = np.where(both, to_p / np.where(both, to_p + to_q, 1.0), 0.0)
    vec_p = to_unit_vectors(neighbours.lat[p], neighbours.lon[p])
    vec_q = to_unit_vectors(neighbours.lat[q], neighbours.lon[q])
    lat, lon = from_unit_vectors(slerp(vec_p, vec_q, fraction))
    lat, lon = np.where(fraction == 0, neighbours.lat[p], lat), np.where(fraction == 0, neighbours.lon[p], lon)
    arc_km = EARTH_RADIUS_KM * central_angle_rad(vec_p, vec_q)
    nearest_s = np.minimum(np.where(use_p, to_p, np.inf), np.where(use_q, to_q, np.inf))
    radius_km = NEIGHBOUR_BASE_KM + ASSUMED_SPEED_KMH * nearest_s / 3600.0 + np.minimum(fraction, 1 - fraction) * arc_km
    matched = (use_p | use_q) & np.isfinite(t)
    nan = np.full(t.shape, np.nan)
    altitude = neighbours.altitude_m[p] + fraction * (neighbours.altitude_m[q] - neighbours.altitude_m[p])
    altitude = np.where(both & matched & with_altitude, altitude, nan)  # NaN where either neighbour has none
    return TrackMatch(
        matched,
        both & matched,
        np.where(matched, lat, nan),
        np.where(matched, lon, nan),
        altitude,
        np.where(matched, radius_km, nan),
        np.where(matched, nearest_s, nan),
    )
