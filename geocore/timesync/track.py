"""A GPS track as sorted numpy arrays: UTC time, position, altitude and segment (GPS gaps never interpolated)."""

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
    """

    times_s: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    altitude_m: npt.NDArray[np.float64]
    segment: npt.NDArray[np.int64]
    sources: tuple[str, ...] = field(default=())

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
) -> Track:
    """Build a Track from unsorted arrays: sorted by time (stable), duplicates in time kept once per segment."""
    times = np.asarray(times_s, dtype=np.float64)
    n = times.shape[0]
    lat_a = np.asarray(lat, dtype=np.float64)
    lon_a = np.asarray(lon, dtype=np.float64)
    alt = np.full(n, np.nan) if altitude_m is None else np.asarray(altitude_m, dtype=np.float64)
    seg = np.zeros(n, dtype=np.int64) if segment is None else np.asarray(segment, dtype=np.int64)
    if not (lat_a.shape == lon_a.shape == alt.shape == seg.shape == (n,)):
        raise ValueError("track arrays must all have the same length")
    if n == 0:
        raise ValueError("a track needs at least one point")
    order = np.lexsort((seg, times))
    times, lat_a, lon_a, alt, seg = times[order], lat_a[order], lon_a[order], alt[order], seg[order]
    # A logger writing the same second twice would give a zero-length interval; keep the first reading.
    keep = np.ones(n, dtype=bool)
    keep[1:] = (np.diff(times) > 0) | (np.diff(seg) != 0)
    return Track(times[keep], lat_a[keep], lon_a[keep], alt[keep], seg[keep], tuple(sources))


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
    )
