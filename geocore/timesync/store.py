"""Time sync and the library cache: how cached records and predictions look to time sync and the fusion rule.

The core (tracks, clocks, neighbours) stays free of the cache; storing proposals is the workflow session's
(geocore.workflow.syncing), so that the app and the CLI store them one way.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from geocore.fusion import VisualEvidence
from geocore.timesync.clock import CaptureTime, camera_key
from geocore.timesync.sync import TimedPhoto
from geocore.vocabulary import Source

if TYPE_CHECKING:
    from geocore.library.api import Library
    from geocore.library.records import PhotoRecord


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


def visual_from_payload(payload_json: str | None) -> VisualEvidence | None:
    """The visual check from a cached prediction payload (`geotag predict`'s record), or None.

    Only S2 cells take part: `geotag predict` gives an S2 cell the token as its label, a semantic area a name.
    """
    if not payload_json:
        return None
    try:
        payload = json.loads(payload_json)
        cells = [(str(c["key"]), float(c["probability"])) for c in payload.get("hierarchy_top") or []
                 if c.get("label") == c.get("key")]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None  # an unreadable cache entry only costs the visual check
    return VisualEvidence.from_top_cells(cells)
