"""Garmin FIT activity files through fitdecode: `record` messages with position, time and altitude.

Positions are semicircles (2**31 per 180 degrees); `enhanced_altitude` is preferred to `altitude`. A timer
stop ends a segment (the device was paused: what happened meanwhile is not on the track). A file fitdecode
cannot read (bad header, CRC) is an error naming the record where it stopped.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from geotagger.geocore.timesync.points import Points, TrackFormatError, datetime_to_s
from geotagger.geocore.timesync.track import Track

SEMICIRCLE_DEG = 180.0 / 2**31


def _field(message: Any, *names: str) -> Any:
    for name in names:
        if message.has_field(name):
            value = message.get_value(name)
            if value is not None:
                return value
    return None


def parse_fit(path: Path) -> Track:
    """Track from a FIT file's record messages."""
    import fitdecode  # imported when a FIT file is read: most syncs never need it

    points = Points()
    segment = points.new_segment()
    records = 0
    try:
        with fitdecode.FitReader(str(path), check_crc=fitdecode.CrcCheck.RAISE,
                                 error_handling=fitdecode.ErrorHandling.RAISE) as reader:
            for frame in reader:
                if not isinstance(frame, fitdecode.FitDataMessage):
                    continue
                if frame.name == "event" and _field(frame, "event") == "timer" and \
                        _field(frame, "event_type") in ("stop", "stop_all"):
                    segment = points.new_segment()
                if frame.name != "record":
                    continue
                records += 1
                _add_record(frame, points, segment)
    except fitdecode.FitError as error:
        raise TrackFormatError(path, f"not a readable FIT file: {error}", record=records + 1) from None
    except OSError as error:
        raise TrackFormatError(path, f"cannot read: {error}") from error
    return points.finish(path)


def _add_record(frame: Any, points: Points, segment: int) -> None:
    lat, lon = _field(frame, "position_lat"), _field(frame, "position_long")
    if not isinstance(lat, int) or not isinstance(lon, int):
        return  # an indoor record (heart rate only)
    stamp = _field(frame, "timestamp")
    time_s = datetime_to_s(stamp) if isinstance(stamp, datetime) else None
    altitude = _field(frame, "enhanced_altitude", "altitude")
    points.add(time_s, lat * SEMICIRCLE_DEG, lon * SEMICIRCLE_DEG,
               float(altitude) if isinstance(altitude, (int, float)) else None, segment)
