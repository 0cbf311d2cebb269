"""From photos (plain data) and tracks or geotagged neighbours to location proposals; no cache, no files.

The CLI (geocore/cli/time_commands.py) fills TimedPhoto from the library cache and stores the proposals back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from geotagger.geocore.fusion import SOURCE_GPS_TRACK, SOURCE_TIME_NEIGHBOUR, LocationProposal
from geotagger.geocore.timesync.clock import (
    CaptureTime,
    ClockSettings,
    OffsetEstimate,
    ResolvedTime,
    ZoneAt,
    estimate_clock_offset_s,
    infer_zone_from_positions,
    resolve_known_zone,
    zone_at_place,
)
from geotagger.geocore.timesync.match import (
    DEFAULT_MAX_GAP_S,
    DEFAULT_MAX_SNAP_S,
    TrackMatch,
    clock_offset_from_place_s,
    match_times,
    nearest_position_at,
)
from geotagger.geocore.timesync.neighbours import DEFAULT_NEIGHBOUR_GAP_S, locate_by_neighbours
from geotagger.geocore.timesync.track import Track, make_track


@dataclass(frozen=True)
class TimedPhoto:
    """A photo as time sync sees it: an id (the caller's key), its capture time and any GPS it already has."""

    photo_id: str
    capture: CaptureTime | None
    lat: float | None = None
    lon: float | None = None
    altitude_m: float | None = None

    @property
    def has_gps(self) -> bool:
        """Whether the photo already carries a position."""
        return self.lat is not None and self.lon is not None


@dataclass
class SyncResult:
    """Proposals by photo id, the reason for every photo left unlocated, and how each time was read."""

    proposals: dict[str, LocationProposal] = field(default_factory=dict)
    unlocated: dict[str, str] = field(default_factory=dict)
    times: dict[str, ResolvedTime] = field(default_factory=dict)


def resolve_time(
    photo: TimedPhoto, settings: ClockSettings, positions: Track | None, zone_at: ZoneAt = zone_at_place
) -> ResolvedTime | str:
    """True UTC instant of a photo, or the reason it cannot be known (see clock.py for the rule)."""
    if photo.capture is None:
        return "no capture time (DateTimeOriginal) in the photo"
    known = resolve_known_zone(photo.capture, settings)
    if known is not None:
        return known
    if photo.has_gps:
        position = (float(photo.lat), float(photo.lon))  # type: ignore[arg-type]
        found = infer_zone_from_positions(photo.capture, settings, lambda _t: position, zone_at)
    elif positions is not None:
        found = infer_zone_from_positions(
            photo.capture, settings, lambda t: nearest_position_at(positions, t), zone_at
        )
    else:
        found = None
    return found if found is not None else "time zone unknown: no OffsetTimeOriginal, no camera zone set, no place"


def _proposals_from_match(
    result: SyncResult, ids: Sequence[str], match: TrackMatch, source: str,
    unmatched_reason: Callable[[int], str], describe: Callable[[int], str],
) -> None:
    for index, photo_id in enumerate(ids):
        if not match.matched[index]:
            result.unlocated[photo_id] = unmatched_reason(index)
            continue
        altitude = float(match.altitude_m[index])
        result.proposals[photo_id] = LocationProposal(
            source=source,
            lat=float(match.lat[index]),
            lon=float(match.lon[index]),
            radius_km=float(match.radius_km[index]),
            altitude_m=altitude if np.isfinite(altitude) else None,
            note=describe(index),
        )


def _resolve_all(
    photos: Iterable[TimedPhoto], settings: ClockSettings, positions: Track | None, result: SyncResult,
    zone_at: ZoneAt,
) -> tuple[list[str], list[float]]:
    ids, times = [], []
    for photo in photos:
        resolved = resolve_time(photo, settings, positions, zone_at)
        if isinstance(resolved, str):
            result.unlocated[photo.photo_id] = resolved
            continue
        result.times[photo.photo_id] = resolved
        ids.append(photo.photo_id)
        times.append(resolved.utc_s)
    return ids, times


def propose_from_track(
    photos: Iterable[TimedPhoto],
    track: Track,
    settings: ClockSettings | None = None,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    max_snap_s: float = DEFAULT_MAX_SNAP_S,
    with_altitude: bool = True,
    zone_at: ZoneAt = zone_at_place,
    bridge_segments: bool = False,
) -> SyncResult:
    """Source "gps_track" proposals for the photos without GPS (photos with GPS are left alone)."""
    settings = settings or ClockSettings()
    result = SyncResult()
    targets = [photo for photo in photos if not photo.has_gps]
    ids, times = _resolve_all(targets, settings, track, result, zone_at)
    match = match_times(track, times, max_gap_s, max_snap_s, with_altitude, bridge_segments)

    def describe(index: int) -> str:
        how = "interpolated" if match.interpolated[index] else "nearest point"
        return (f"track {how}, {match.nearest_point_s[index]:.0f} s from a track point; "
                f"time {_utc_text(times[index])} ({result.times[ids[index]].how})")

    def reason(index: int) -> str:
        return _outside_track(track, times[index], max_gap_s, max_snap_s)

    _proposals_from_match(result, ids, match, SOURCE_GPS_TRACK, reason, describe)
    return result


def _outside_track(track: Track, utc_s: float, max_gap_s: float, max_snap_s: float) -> str:
    """Why a photo found no track point: before, after, or in a gap (a wrong clock or zone shows up here)."""
    limits = f"(gap {max_gap_s / 60:.0f} min, snap {max_snap_s:.0f} s)"
    when = _utc_text(utc_s)
    if utc_s < track.start_s:
        return f"no track point within the limits {limits}: {when} is {_span(track.start_s - utc_s)} before the track"
    if utc_s > track.end_s:
        return f"no track point within the limits {limits}: {when} is {_span(utc_s - track.end_s)} after the track"
    after = int(np.searchsorted(track.times_s, utc_s, side="right"))
    gap_s = track.times_s[min(after, len(track) - 1)] - track.times_s[max(after - 1, 0)]
    return f"no track point within the limits {limits}: {when} falls in a {_span(gap_s)} gap of the track"


def _span(seconds: float) -> str:
    minutes = seconds / 60.0
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def neighbour_track(
    photos: Iterable[TimedPhoto], settings: ClockSettings, zone_at: ZoneAt = zone_at_place
) -> Track | None:
    """The geotagged photos with a known time as a one-segment track (None when there are none)."""
    result = SyncResult()
    references = [photo for photo in photos if photo.has_gps]
    ids, times = _resolve_all(references, settings, None, result, zone_at)
    if not ids:
        return None
    by_id = {photo.photo_id: photo for photo in references}
    lats = [float(by_id[i].lat or 0.0) for i in ids]  # has_gps guarantees both are set
    lons = [float(by_id[i].lon or 0.0) for i in ids]
    altitudes = [float("nan") if by_id[i].altitude_m is None else float(by_id[i].altitude_m or 0.0) for i in ids]
    return make_track(times, lats, lons, altitudes, sources=tuple(ids))


def propose_from_neighbours(
    photos: Iterable[TimedPhoto],
    settings: ClockSettings | None = None,
    max_gap_s: float = DEFAULT_NEIGHBOUR_GAP_S,
    zone_at: ZoneAt = zone_at_place,
    with_altitude: bool = True,
) -> SyncResult:
    """Source "time_neighbour" proposals for the photos without GPS from the photos with GPS (with an altitude
    where both neighbours have one)."""
    settings = settings or ClockSettings()
    photos = list(photos)
    result = SyncResult()
    neighbours = neighbour_track(photos, settings, zone_at)
    targets = [photo for photo in photos if not photo.has_gps]
    if neighbours is None:
        for photo in targets:
            result.unlocated[photo.photo_id] = "no geotagged photo with a capture time to learn from"
        return result
    ids, times = _resolve_all(targets, settings, neighbours, result, zone_at)
    match = locate_by_neighbours(neighbours, times, max_gap_s, with_altitude)

    def describe(index: int) -> str:
        how = "between two geotagged photos" if match.interpolated[index] else "at one geotagged photo"
        return f"{how}, nearest {match.nearest_point_s[index]:.0f} s away; time {_utc_text(times[index])}"

    def reason(index: int) -> str:
        return f"no geotagged photo within {max_gap_s / 60:.0f} min of {_utc_text(times[index])}"

    _proposals_from_match(result, ids, match, SOURCE_TIME_NEIGHBOUR, reason, describe)
    return result


def estimate_offsets_from_pairs(
    pairs: Iterable[tuple[TimedPhoto, TimedPhoto]], settings: ClockSettings | None = None,
    zone_at: ZoneAt = zone_at_place,
) -> dict[str, OffsetEstimate]:
    """Clock offset per camera of the first photo of each (camera photo, reference photo) pair of the same scene.

    Both instants are read with the current settings; a camera photo without a known zone is read in the zone of
    the reference photo's place (same scene). The camera's current offset is taken out first, so the estimate is
    the camera's whole offset, not a correction of it. ValueError, naming the photo, when a time cannot be read.
    """
    settings = settings or ClockSettings()
    by_camera: dict[str, list[tuple[float, float]]] = {}
    for camera_photo, reference_photo in pairs:
        placed = TimedPhoto(camera_photo.photo_id, camera_photo.capture, reference_photo.lat, reference_photo.lon)
        camera_time = resolve_time(placed, settings, None, zone_at)
        reference_time = resolve_time(reference_photo, settings, None, zone_at)
        for photo, resolved in ((camera_photo, camera_time), (reference_photo, reference_time)):
            if isinstance(resolved, str):
                raise ValueError(f"{photo.photo_id}: {resolved}")
        assert isinstance(camera_time, ResolvedTime) and isinstance(reference_time, ResolvedTime)
        assert camera_photo.capture is not None  # a resolved time implies a capture time
        camera = camera_photo.capture.camera
        raw_camera_s = camera_time.utc_s - settings.clock_offset_s(camera)
        by_camera.setdefault(camera, []).append((raw_camera_s, reference_time.utc_s))
    return {camera: estimate_clock_offset_s(camera_pairs) for camera, camera_pairs in by_camera.items()}


def offset_from_reference_time(photo: TimedPhoto, true_utc_s: float, settings: ClockSettings) -> float:
    """Clock offset of the photo's camera given the true time the photo was taken ("taken at 14:02 local")."""
    resolved = resolve_time(photo, settings, None)
    if isinstance(resolved, str) or photo.capture is None:
        raise ValueError(f"{photo.photo_id}: {resolved if isinstance(resolved, str) else 'no capture time'}")
    return true_utc_s - (resolved.utc_s - settings.clock_offset_s(photo.capture.camera))


def offset_from_reference_place(
    photo: TimedPhoto, lat: float, lon: float, track: Track, settings: ClockSettings, zone_at: ZoneAt = zone_at_place
) -> float:
    """Clock offset of the photo's camera given where it was taken: the track says when it was there."""
    placed = TimedPhoto(photo.photo_id, photo.capture, lat, lon)  # the place also gives the zone if none is known
    resolved = resolve_time(placed, settings, track, zone_at)
    if isinstance(resolved, str) or photo.capture is None:
        raise ValueError(f"{photo.photo_id}: {resolved if isinstance(resolved, str) else 'no capture time'}")
    raw_camera_s = resolved.utc_s - settings.clock_offset_s(photo.capture.camera)
    return clock_offset_from_place_s(track, lat, lon, raw_camera_s)


def with_clock_offsets(settings: ClockSettings, offsets_s: Mapping[str, float]) -> ClockSettings:
    """A copy of the settings with these per-camera clock offsets set (whole offsets: the global one is taken out,
    since `clock_offset_s` adds it back)."""
    own = {camera: offset - settings.global_offset_s for camera, offset in offsets_s.items()}
    return ClockSettings(settings.camera_zone, dict(settings.camera_zones), {**settings.clock_offsets_s, **own},
                         settings.default_clock_offset_s, settings.global_offset_s)


def _utc_text(utc_s: float) -> str:
    return datetime.fromtimestamp(utc_s, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


HINT_OFFSET_STEP_S = 15 * 60.0  # zones are whole quarter hours; clocks set to the wrong zone are off by these
HINT_OFFSET_RANGE_S = 14 * 3600.0


@dataclass(frozen=True)
class OffsetHint:
    """A clock offset that would place more of one camera's photos on the track than the current settings."""

    camera: str
    offset_s: float
    matched_with_hint: int
    matched_now: int
    photo_count: int


def suggest_offsets(
    photos: Iterable[TimedPhoto], track: Track, result: SyncResult, max_gap_s: float = DEFAULT_MAX_GAP_S,
    max_snap_s: float = DEFAULT_MAX_SNAP_S, bridge_segments: bool = False,
) -> list[OffsetHint]:
    """Per camera, the extra whole-quarter-hour offset (within ±14 h) that matches the most photos, when it helps.

    A camera set to the wrong zone or left on winter time leaves its photos beside the track; trying every
    quarter-hour shift on the times already resolved finds that. Only a shift that places at least one more photo
    and at least 10 % more of that camera's photos is suggested; ties go to whole hours, then half hours, then
    quarter hours, smallest first (when photos sit well inside a long track every shift places them all: the
    hint can only see photos beside the track, a reference photo sees everything).
    """
    times_by_camera: dict[str, list[float]] = {}
    for photo in photos:
        resolved = result.times.get(photo.photo_id)
        if resolved is not None and photo.capture is not None:
            times_by_camera.setdefault(photo.capture.camera, []).append(resolved.utc_s)
    steps = np.arange(-HINT_OFFSET_RANGE_S, HINT_OFFSET_RANGE_S + 1, HINT_OFFSET_STEP_S)
    # ties go to whole hours (a wrong zone or DST), then half hours, then quarter hours, smallest shift first
    steps = np.array(sorted(steps, key=lambda step: (step % 3600 != 0, step % 1800 != 0, abs(step), step)))
    hints = []
    for camera, camera_times in sorted(times_by_camera.items()):
        times = np.asarray(camera_times)
        shifted = (times[None, :] + steps[:, None]).reshape(-1)
        matched = match_times(track, shifted, max_gap_s, max_snap_s, False, bridge_segments).matched
        counts = matched.reshape(len(steps), -1).sum(1)
        now, best = int(counts[steps == 0][0]), int(np.argmax(counts))
        if counts[best] > now and counts[best] - now >= 0.1 * len(times):
            hints.append(OffsetHint(camera, float(steps[best]), int(counts[best]), now, len(times)))
    return hints


@dataclass(frozen=True)
class TrackCheck:
    """How far the track puts the photos that carry their own GPS from where they say they were (metres)."""

    median_error_m: float
    photo_count: int


def check_against_geotagged(
    photos: Iterable[TimedPhoto], track: Track, settings: ClockSettings, max_gap_s: float = DEFAULT_MAX_GAP_S,
    max_snap_s: float = DEFAULT_MAX_SNAP_S, bridge_segments: bool = False, zone_at: ZoneAt = zone_at_place,
) -> TrackCheck | None:
    """The median distance between geotagged photos (a phone's) and the track at their times with these clock
    settings: small when the clocks and zones are right, large when a setting is off. None without such photos."""
    result = SyncResult()
    references = [photo for photo in photos if photo.has_gps]
    ids, times = _resolve_all(references, settings, None, result, zone_at)
    if not ids:
        return None
    match = match_times(track, times, max_gap_s, max_snap_s, False, bridge_segments)
    if not match.matched.any():
        return None
    by_id = {photo.photo_id: photo for photo in references}
    placed = [i for i, matched in enumerate(match.matched) if matched]
    lats = np.array([float(by_id[ids[i]].lat or 0.0) for i in placed])
    lons = np.array([float(by_id[ids[i]].lon or 0.0) for i in placed])
    from geotagger.geocore.geo.distance import haversine_km

    errors_km = haversine_km(lats, lons, match.lat[placed], match.lon[placed])
    return TrackCheck(float(np.median(errors_km)) * 1000.0, len(placed))
