"""GPS tracks as map lines: simplified points per segment and time ticks, for the live map and the trip export."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

MAX_POINTS_PER_LINE = 4000  # the map needs the shape, not every fix of a day-long 1 s log
TICKS_PER_TRACK = 8


def _tick_step_s(duration_s: float) -> float:
    """A round interval giving about TICKS_PER_TRACK ticks (5 min, 15 min, 1 h, ...)."""
    for step_s in (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400):
        if duration_s / step_s <= TICKS_PER_TRACK:
            return float(step_s)
    return 86400.0 * max(1, round(duration_s / 86400 / TICKS_PER_TRACK))


def track_line(track: Any, name: str) -> dict[str, Any]:
    """One Track as {name, segments: [[[lat, lon], ...]], ticks: [{lat, lon, label}], start, end}."""
    count = len(track)
    stride = max(1, count // MAX_POINTS_PER_LINE)
    segments: dict[int, list[list[float]]] = {}
    for index in range(0, count, stride):
        segments.setdefault(int(track.segment[index]), []).append(
            [round(float(track.lat[index]), 6), round(float(track.lon[index]), 6)])
    ticks = []
    if count:
        start_s, end_s = float(track.times_s[0]), float(track.times_s[-1])
        step_s = _tick_step_s(max(end_s - start_s, 1.0))
        tick_s = (start_s // step_s + 1) * step_s
        index = 0
        while tick_s < end_s:
            while index < count - 1 and float(track.times_s[index]) < tick_s:
                index += 1
            ticks.append({"lat": float(track.lat[index]), "lon": float(track.lon[index]),
                          "label": datetime.fromtimestamp(tick_s, timezone.utc).strftime("%H:%M UTC")})
            tick_s += step_s
    return {"name": name, "segments": list(segments.values()), "ticks": ticks,
            "start": _iso(track.times_s[0]) if count else "", "end": _iso(track.times_s[-1]) if count else ""}


def _iso(seconds: Any) -> str:
    return datetime.fromtimestamp(float(seconds), timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def track_lines(paths: Iterable[Path], problems: list[str] | None = None) -> list[dict[str, Any]]:
    """The readable tracks among these files and folders as map lines; each unreadable one is left out, with
    "path: reason" added to `problems` when given (a map made without a sync must still say why)."""
    from geotagger.geocore.timesync.parsers import TrackFormatError, expand_track_paths, load_track

    lines = []
    for path in expand_track_paths(paths):
        try:
            lines.append(track_line(load_track(path), Path(path).name))
        except (TrackFormatError, OSError, ValueError) as error:
            if problems is not None:
                problems.append(str(error) if str(path) in str(error) else f"{path}: {error}")
    return lines
