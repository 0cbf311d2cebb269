"""Place photos on a track by time: great-circle interpolation between the bracketing points, vectorised.

Rule, for a photo at UTC instant t (all times POSIX seconds):
- Let A, B be the last track point at or before t and the first after it (within one segment when segments overlap
  in time: that segment's own points around t, the shortest such gap). When both exist, lie in the same segment
  (or `bridge_segments` is set) and B - A <= max_gap_s (default 30 min; exiftool's GeoMaxIntSecs), the photo is
  placed at fraction f = (t - tA) / (tB - tA) of the
  great-circle arc from A to B (constant speed along the arc: exact on the sphere, no flat-earth shortcut, so the
  same formula serves 5 m and 500 km segments). A photo exactly at a track point's time gets that point (f = 0).
- Otherwise (a gap longer than max_gap_s, a segment break, before the first or after the last point) it is placed
  on the nearest point in time if that point is at most max_snap_s away (default 60 s; exiftool's GeoMaxExtSecs,
  whose default is 1800 s, see EXIFTOOL_MAX_INT_S / EXIFTOOL_MAX_EXT_S), else it is not matched.
- Altitude (optional) is interpolated linearly in time with the same f; None when either point lacks one.

Confidence radius (km), where "accuracy" is the point's stated accuracy (Takeout's `accuracy`, interpolated with
the same f) or GPS_POINT_ACCURACY_KM when the file states none (or less):
- interpolated: accuracy + the great-circle distance from the placed point to the nearer of A and B
  (= min(f, 1 - f) * |AB|). The farther the photo is from a real fix, the less is known about the path between.
- snapped: accuracy + ASSUMED_SPEED_KMH * |t - t_point| / 3600 (walking speed: a vehicle can be
  farther, which is why max_snap_s is short).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from geotagger.geocore.geo.distance import EARTH_RADIUS_KM
from geotagger.geocore.timesync.limits import DEFAULT_MAX_GAP_S as DEFAULT_MAX_GAP_S
from geotagger.geocore.timesync.limits import DEFAULT_MAX_SNAP_S as DEFAULT_MAX_SNAP_S
from geotagger.geocore.timesync.limits import EXIFTOOL_MAX_EXT_S as EXIFTOOL_MAX_EXT_S
from geotagger.geocore.timesync.limits import EXIFTOOL_MAX_INT_S as EXIFTOOL_MAX_INT_S
from geotagger.geocore.timesync.sphere import central_angle_rad, from_unit_vectors, slerp, to_unit_vectors
from geotagger.geocore.timesync.track import Track

GPS_POINT_ACCURACY_KM = 0.010  # typical consumer GPS fix, 10 m
ASSUMED_SPEED_KMH = 5.0  # walking

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class TrackMatch:
    """Per-photo result arrays (NaN where not matched).

    Attributes:
        matched: whether the photo got a position.
        interpolated: placed between two points (False for snapped or unmatched).
        lat, lon, altitude_m, radius_km: the position, altitude (NaN if unknown) and confidence radius.
        nearest_point_s: time from the photo to the nearest track point used.
    """

    matched: BoolArray
    interpolated: BoolArray
    lat: FloatArray
    lon: FloatArray
    altitude_m: FloatArray
    radius_km: FloatArray
    nearest_point_s: FloatArray


def match_times(
    track: Track,
    times_s: npt.ArrayLike,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    max_snap_s: float = DEFAULT_MAX_SNAP_S,
    with_altitude: bool = True,
    bridge_segments: bool = False,
) -> TrackMatch:
    """Positions on `track` of photos taken at UTC `times_s`, by the rule of this module's docstring."""
    t = np.asarray(times_s, dtype=np.float64).reshape(-1)
    n = len(track)
    after = np.searchsorted(track.times_s, t, side="right")
    before = after - 1
    has_before, has_after = before >= 0, after < n
    a, b = np.clip(before, 0, n - 1), np.clip(after, 0, n - 1)
    t_a, t_b = track.times_s[a], track.times_s[b]
    exact = has_before & (t_a == t)
    same_segment = True if bridge_segments else track.segment[a] == track.segment[b]
    bracketed = has_before & has_after & same_segment & (t_b - t_a <= max_gap_s)
    if not bridge_segments:
        # Segments that overlap in time (two files of the same walk, a phone and a watch) interleave: the points
        # around t then come from different segments, while one segment still brackets t on its own.
        crossing = np.flatnonzero(has_before & has_after & ~same_segment & ~exact & np.isfinite(t))
        if len(crossing):
            found_a, found_b = _brackets_within_segments(track, t[crossing], max_gap_s)
            inside = found_a >= 0
            a[crossing[inside]], b[crossing[inside]] = found_a[inside], found_b[inside]
            bracketed[crossing[inside]] = True
            t_a, t_b = track.times_s[a], track.times_s[b]
    interpolated = (bracketed | exact) & np.isfinite(t)
    b = np.where(exact, a, b)  # an exact hit interpolates from a point to itself
    between = interpolated & ~exact
    fraction = np.where(between, (t - t_a) / np.where(between, t_b - t_a, 1.0), 0.0)
    placed = _interpolate(track, t, a, b, fraction, interpolated)
    snapped = _snap(track, t, a, b, has_before, has_after, ~interpolated, max_snap_s)
    return _combine(placed, snapped, with_altitude)


def _brackets_within_segments(track: Track, t: FloatArray, max_gap_s: float
                              ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """For each instant, the two points around it of one segment (the one with the shortest gap when several
    bracket it, the denser record), within max_gap_s; -1 where no segment brackets it."""
    by_segment = np.argsort(track.segment, kind="stable")  # each segment's points, still in time order
    segments, starts = np.unique(track.segment[by_segment], return_index=True)
    ends = np.append(starts[1:], len(by_segment))
    first_s, last_s = track.times_s[by_segment[starts]], track.times_s[by_segment[ends - 1]]
    best_a = np.full(len(t), -1, dtype=np.intp)
    best_b = np.full(len(t), -1, dtype=np.intp)
    best_gap = np.full(len(t), np.inf)
    # Only segments that hold one of these instants strictly inside (found for all at once on the sorted times):
    # a location history of 100,000 segments end to end holds none, and costs no loop.
    ordered = np.sort(t)
    holding = np.searchsorted(ordered, last_s, side="left") > np.searchsorted(ordered, first_s, side="right")
    for index in np.flatnonzero(holding):
        within = np.flatnonzero((t > first_s[index]) & (t < last_s[index]))
        points = by_segment[starts[index] : ends[index]]
        after = np.searchsorted(track.times_s[points], t[within], side="right")
        point_a, point_b = points[after - 1], points[after]
        gap = track.times_s[point_b] - track.times_s[point_a]
        better = (gap <= max_gap_s) & (gap < best_gap[within])
        chosen = within[better]
        best_a[chosen], best_b[chosen], best_gap[chosen] = point_a[better], point_b[better], gap[better]
    return best_a, best_b


def point_accuracy_km(track: Track, points: npt.NDArray[np.intp]) -> FloatArray:
    """These points' accuracy in km: the stated one, never below GPS_POINT_ACCURACY_KM (or that when unstated).
    Only the points asked for are looked at: a million-point track is matched without a pass over all of it."""
    stated_km = track.quality("accuracy_m")[points] / 1000.0
    return np.where(np.isfinite(stated_km), np.maximum(stated_km, GPS_POINT_ACCURACY_KM), GPS_POINT_ACCURACY_KM)


def _interpolate(
    track: Track, t: FloatArray, a: npt.NDArray[np.intp], b: npt.NDArray[np.intp], fraction: FloatArray,
    interpolated: BoolArray,
) -> TrackMatch:
    """Great-circle placement at `fraction` from point a to point b, with its radius and altitude."""
    vec_a = to_unit_vectors(track.lat[a], track.lon[a])
    vec_b = to_unit_vectors(track.lat[b], track.lon[b])
    lat, lon = from_unit_vectors(slerp(vec_a, vec_b, fraction))
    # on a point itself, give back its exact coordinates rather than a round trip through unit vectors
    lat, lon = np.where(fraction == 0, track.lat[a], lat), np.where(fraction == 0, track.lon[a], lon)
    arc_km = EARTH_RADIUS_KM * central_angle_rad(vec_a, vec_b)
    accuracy_a, accuracy_b = point_accuracy_km(track, a), point_accuracy_km(track, b)
    stated = accuracy_a + fraction * (accuracy_b - accuracy_a)
    radius_km = stated + np.minimum(fraction, 1.0 - fraction) * arc_km
    altitude = track.altitude_m[a] + fraction * (track.altitude_m[b] - track.altitude_m[a])
    nearest_s = np.where(fraction <= 0.5, t - track.times_s[a], track.times_s[b] - t)
    return TrackMatch(interpolated, interpolated, lat, lon, altitude, radius_km, nearest_s)


def _combine(placed: TrackMatch, snapped: TrackMatch, with_altitude: bool) -> TrackMatch:
    """Interpolated where possible, else snapped; NaN where neither."""
    use = placed.matched
    matched = use | snapped.matched
    nan = np.full(use.shape, np.nan)

    def pick(interpolated_values: FloatArray, snapped_values: FloatArray) -> FloatArray:
        return np.where(matched, np.where(use, interpolated_values, snapped_values), nan)

    altitude = pick(placed.altitude_m, snapped.altitude_m) if with_altitude else nan.copy()
    return TrackMatch(
        matched, use.copy(), pick(placed.lat, snapped.lat), pick(placed.lon, snapped.lon), altitude,
        pick(placed.radius_km, snapped.radius_km), pick(placed.nearest_point_s, snapped.nearest_point_s),
    )


def _snap(
    track: Track,
    t: FloatArray,
    a: npt.NDArray[np.intp],
    b: npt.NDArray[np.intp],
    has_before: BoolArray,
    has_after: BoolArray,
    candidates: BoolArray,
    max_snap_s: float,
) -> TrackMatch:
    """Nearest-point-in-time placement for photos that cannot be interpolated."""
    to_before = np.where(has_before, t - track.times_s[a], np.inf)
    to_after = np.where(has_after, track.times_s[b] - t, np.inf)
    use_before = to_before <= to_after
    point = np.where(use_before, a, b)
    distance_s = np.minimum(to_before, to_after)
    matched = candidates & (distance_s <= max_snap_s)
    radius_km = point_accuracy_km(track, point) + ASSUMED_SPEED_KMH * distance_s / 3600.0
    return TrackMatch(
        matched, np.zeros_like(matched), track.lat[point], track.lon[point], track.altitude_m[point], radius_km,
        distance_s,
    )


def nearest_position_at(track: Track, time_s: float) -> tuple[float, float]:
    """Position of the track point nearest in time, gaps ignored (good enough to look up a time zone)."""
    after = int(np.searchsorted(track.times_s, time_s))
    candidates = [i for i in (after - 1, after) if 0 <= i < len(track)]
    index = min(candidates, key=lambda i: abs(track.times_s[i] - time_s))
    return float(track.lat[index]), float(track.lon[index])


def clock_offset_from_place_s(
    track: Track, lat: float, lon: float, camera_utc_s: float, tolerance_km: float = 0.05
) -> float:
    """Clock offset of a camera from a photo known to be taken at (lat, lon): the track says when it was there.

    The track point nearest to the place is found; when the track passes there several times (every point within
    tolerance_km of the nearest distance), the pass closest in time to the camera's reading is taken.
    Returns true UTC minus camera UTC (seconds).
    """
    vec_place = to_unit_vectors(lat, lon)
    distance_km = EARTH_RADIUS_KM * central_angle_rad(to_unit_vectors(track.lat, track.lon), vec_place[None, :])
    candidates = np.flatnonzero(distance_km <= distance_km.min() + tolerance_km)
    best = candidates[np.argmin(np.abs(track.times_s[candidates] - camera_utc_s))]
    return float(track.times_s[best] - camera_utc_s)
