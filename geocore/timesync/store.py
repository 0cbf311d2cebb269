"""Time sync and the library cache: how cached records look to time sync, and which photos are our estimates.

The core (tracks, clocks, neighbours) stays free of the cache; storing proposals is the workflow session's
(geocore.workflow.syncing), so that the app and the CLI store them one way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from geotagger.geocore.timesync.clock import CaptureTime, camera_key
from geotagger.geocore.timesync.sync import TimedPhoto
from geotagger.geocore.vocabulary import Source

if TYPE_CHECKING:
    from geotagger.geocore.library.api import Library
    from geotagger.geocore.library.records import PhotoRecord


def timed_photo(record: PhotoRecord) -> TimedPhoto:
    """The cache's view of a photo as time sync needs it (an unreadable capture time counts as none)."""
    try:
        local = record.capture_datetime
    except ValueError:
        local = None
    capture = CaptureTime(local, record.capture_offset, camera_key(record.make, record.model)) if local else None
    return TimedPhoto(str(record.id), capture, record.gps_lat, record.gps_lon, record.gps_alt_m)


ESTIMATED_SOURCES = tuple(source.value for source in Source if source.is_estimate)


def estimated_by_us(library: Library) -> set[str]:
    """Photos whose GPS we wrote from an estimate: never neighbours of others, or errors would chain."""
    return {str(d.photo_id) for d in library.decisions(state="written") if d.source in ESTIMATED_SOURCES}

