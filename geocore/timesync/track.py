"""A GPS track as sorted numpy arrays: UTC time, position, altitude, segment (GPS gaps never interpolated) and the
fix quality where the file gives it (HDOP, satellites, a stated accuracy)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Track:
    """Track points sorted by time.

    Attributes:
        times_s: UTC instants as POSIX seconds (float64, microsecond resolution for present-day dates).
        lat, lon: degrees.
        altitude_m: metres, NaN where the file gives none.
        segment: int64 segment number; interpolation happens only between two points of the same segment,
            so a GPS switched off between two segments (or two files) is never bridged by a straight line.
        sources: the files the points came from (for messages).
        hdop, satellites: fix quality per point, NaN where the file gives none (GPX <hdop>/<sat>, NMEA GGA).
        accuracy_m: the stated horizontal accuracy per point (Google Takeout `accuracy`), NaN where unknown.
        notes: what the parsers skipped or corrected, one line each, for the sync's notes.
    """

    times_s: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    altitude_m: npt.NDArray[np.float64]
    segment: npt.NDArray[np.int64]
    sources: tuple[str, ...] = field(default=())
    hdop: npt.NDArray[np.float64] | None = None
    satellites: npt.NDArray[np.float64] | None = None
    accuracy_m: npt.NDArray[np.float64] | None = None
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        nan = np.full(self.times_s.shape, np.nan)
        for name in ("hdop", "satellites", "accuracy_m"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, nan)

    def quality(self, name: str) -> npt.NDArray[np.float64]:
        """One of the per-point quality arrays ("hdop", "satellites", "accuracy_m"), never None."""
        values = getattr(self, name)
        assert values is not None  # filled in __post_init__
        return values

    def __len__(self) -> int:
        return int(self.times_s.shape[0])

    @property
    def start_s(self) -> float:
        """First instant of the track (POSIX seconds)."""
        return float(self.times_s[0])

    @property
    def end_s(self) -> float:
        """Last instant of the track (POSIX seconds)."""
        return float(self.times_s[-1])


def make_track(
    times_s: npt.ArrayLike,
    lat: npt.ArrayLike,
    lon: npt.ArrayLike,
    altitude_m: npt.ArrayLike | None = None,
    segment: npt.ArrayLike | None = None,
    sources: Sequence[str] = (),
    hdop: npt.ArrayLike | None = None,
    satellites: npt.ArrayLike | None = None,
    accuracy_m: npt.ArrayLike | None = None,
    notes: Sequence[str] = (),
) -> Track:
    """Build a Track from unsorted arrays: sorted by time (stable), duplicates in time kept once per segment."""
    times = np.asarray(times_s, dtype=np.float64)
    n = times.shape[0]
    lat_a = np.asarray(lat, dtype=np.float64)
    lon_a = np.asarray(lon, dtype=np.float64)
    alt = np.full(n, np.nan) if altitude_m is None else np.asarray(altitude_m, dtype=np.float64)
    seg = np.zeros(n, dtype=np.int64) if segment is None else np.asarray(segment, dtype=np.int64)
    quality = [np.full(n, np.nan) if values is None else np.asarray(values, dtype=np.float64)
               for values in (hdop, satellites, accuracy_m)]
    if not all(a.shape == (n,) for a in (lat_a, lon_a, alt, seg, *quality)):
        raise ValueError("track arrays must all have the same length")
    if n == 0:
        raise ValueError("a track needs at least one point")
    if n > 1 and bool(np.all(times[1:] >= times[:-1])) and bool(np.all(np.diff(seg) >= 0)):
        order = None  # already in order (nearly every file): skip the sort, the slowest step of a 1 M-point load
    else:
        order = np.lexsort((seg, times))
    columns: list[npt.NDArray[np.float64]] = [times, lat_a, lon_a, alt, *quality]
    if order is not None:
        columns, seg = [column[order] for column in columns], seg[order]
    # A logger writing the same second twice would give a zero-length interval; keep the first reading.
    keep = np.ones(n, dtype=bool)
    keep[1:] = (np.diff(columns[0]) > 0) | (np.diff(seg) != 0)
    if not keep.all():
        columns, seg = [column[keep] for column in columns], seg[keep]
    times, lat_a, lon_a, alt, hdop_a, satellites_a, accuracy_a = columns
    return Track(times, lat_a, lon_a, alt, seg, tuple(sources), hdop_a, satellites_a, accuracy_a, tuple(notes))


def merge_tracks(tracks: Sequence[Track]) -> Track:
    """One track from several (files, segments); each keeps its own segment numbers so none is bridged."""
    if not tracks:
        raise ValueError("no track to merge")
    offset = 0
    segments = []
    for track in tracks:
        segments.append(track.segment - track.segment.min() + offset)
        offset = int(segments[-1].max()) + 1
    sources = tuple(source for track in tracks for source in track.sources)
    return make_track(
        np.concatenate([t.times_s for t in tracks]),
        np.concatenate([t.lat for t in tracks]),
        np.concatenate([t.lon for t in tracks]),
        np.concatenate([t.altitude_m for t in tracks]),
        np.concatenate(segments),
        sources,
        np.concatenate([t.quality("hdop") for t in tracks]),
        np.concatenate([t.quality("satellites") for t in tracks]),
        np.concatenate([t.quality("accuracy_m") for t in tracks]),
        notes=[note for track in tracks for note in track.notes],
    )


def select_points(track: Track, keep: npt.NDArray[np.bool_]) -> Track | None:
    """The track with only the points where `keep` is true (None when none is left)."""
    if not keep.any():
        return None
    return Track(track.times_s[keep], track.lat[keep], track.lon[keep], track.altitude_m[keep], track.segment[keep],
                 track.sources, track.quality("hdop")[keep], track.quality("satellites")[keep],
                 track.quality("accuracy_m")[keep], track.notes)


def filter_quality(track: Track, max_hdop: float | None = None, min_satellites: int | None = None) -> Track | None:
    """The points good enough to use (exiftool's GeoMaxHDOP / GeoMinSats): a point that does not state its HDOP or
    satellite count is kept, since most formats never state them. None when no point is left."""
    keep = np.ones(len(track), dtype=bool)
    if max_hdop is not None:
        hdop = track.quality("hdop")
        keep &= ~(hdop > max_hdop)
    if min_satellites is not None:
        keep &= ~(track.quality("satellites") < min_satellites)
    return track if keep.all() else select_points(track, keep)
