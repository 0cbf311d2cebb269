"""One vocabulary for a photo's location: sources, decision states and photo states, each in one table.

The values are the strings the cache stores, so the enums are drop-in for the bare strings of older code. Every
fact about a source lives in its row of SOURCE_TABLE: the label the GUI and the CLI show, the EXIF
GPSProcessingMethod written for it, whether it is an estimate, and its rank in the fusion rule (geocore.fusion).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Source(str, Enum):
    """Where a proposed location came from."""

    MANUAL = "manual"
    GPS_TRACK = "gps_track"
    TIME_NEIGHBOUR = "time_neighbour"
    PERSONAL_MODEL = "personal_model"
    MODEL = "model"

    @property
    def info(self) -> SourceInfo:
        """This source's row of SOURCE_TABLE."""
        return SOURCE_TABLE[self]

    @property
    def label(self) -> str:
        return self.info.label

    @property
    def processing_method(self) -> str:
        return self.info.processing_method

    @property
    def priority(self) -> int:
        return self.info.priority

    @property
    def is_estimate(self) -> bool:
        return self.info.is_estimate

    @property
    def time_based(self) -> bool:
        return self.info.time_based


@dataclass(frozen=True)
class SourceInfo:
    """Label shown to the user, GPSProcessingMethod written, fusion rank (0 = most reliable), kind, and the
    GPSHPositioningError written when a decision carries no radius of its own."""

    label: str
    processing_method: str
    priority: int
    is_estimate: bool
    time_based: bool
    default_radius_km: float = 1.0


# Priority is the fusion rule's order (geocore.fusion): the user's own word, then time (a track, then a
# neighbour photo), then the user's own model, then the planet model. Estimates are never training data and
# never neighbours of other photos (errors would chain).
#
# GPSProcessingMethod keeps to the values EXIF 2.32 names and `exiftool -validate` accepts (GPS, CELLID, WLAN,
# MANUAL): a track fix was measured by a receiver (GPS); everything else was not measured by the camera's
# receiver but placed afterwards, by the user or by us, which EXIF calls MANUAL. That estimates are estimates is
# said in full in our XMP namespace (geocore.library.provenance) and by a wide GPSHPositioningError; earlier
# versions wrote ESTIMATED here, which geocore.library.metadata.written_estimate still recognises.
SOURCE_TABLE: dict[Source, SourceInfo] = {
    Source.MANUAL: SourceInfo("manual", "MANUAL", 0, is_estimate=False, time_based=False, default_radius_km=0.05),
    Source.GPS_TRACK: SourceInfo("track", "GPS", 1, is_estimate=False, time_based=True, default_radius_km=0.01),
    Source.TIME_NEIGHBOUR: SourceInfo("neighbour", "MANUAL", 2, is_estimate=True, time_based=True,
                                      default_radius_km=1.0),
    Source.PERSONAL_MODEL: SourceInfo("personal", "MANUAL", 3, is_estimate=True, time_based=False,
                                      default_radius_km=25.0),
    Source.MODEL: SourceInfo("model", "MANUAL", 4, is_estimate=True, time_based=False, default_radius_km=250.0),
}
SOURCES_BY_PRIORITY: tuple[Source, ...] = tuple(sorted(Source, key=lambda source: source.priority))


class DecisionState(str, Enum):
    """Where a decision stands: proposed by a source, then accepted or rejected by the user, then written."""

    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WRITTEN = "written"

    @property
    def label(self) -> str:
        return DECISION_LABELS[self]


DECISION_LABELS = {DecisionState.PROPOSED: "Proposed", DecisionState.ACCEPTED: "Accepted",
                   DecisionState.REJECTED: "Rejected", DecisionState.WRITTEN: "Written"}
# The decision a photo shows: an accepted one wins (the user's latest word), then a written one, then a proposal.
SHOWN_STATE_ORDER = (DecisionState.ACCEPTED, DecisionState.WRITTEN, DecisionState.PROPOSED, DecisionState.REJECTED)


class PhotoState(str, Enum):
    """What a photo shows in the list and in `geotag` reports, in the order a photo moves through them."""

    SCANNED = "scanned"  # no location at all yet
    HAS_GPS = "has_gps"  # the file (or its sidecar) already holds a position
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WRITTEN = "written"
    ERROR = "error"  # unreadable, damaged or gone

    @property
    def label(self) -> str:
        return PHOTO_LABELS[self]


PHOTO_LABELS = {PhotoState.SCANNED: "No location", PhotoState.HAS_GPS: "Has GPS", PhotoState.PROPOSED: "Proposed",
                PhotoState.ACCEPTED: "Accepted", PhotoState.REJECTED: "Rejected", PhotoState.WRITTEN: "Written",
                PhotoState.ERROR: "Error"}


def source_of(value: str) -> Source | None:
    """The Source of a stored string, None for one this version does not know (a newer cache)."""
    try:
        return Source(value)
    except ValueError:
        return None


def priority_key(source: str, radius_km: float | None) -> tuple[int, float]:
    """Sort key of the fusion rule: the more reliable source first, then the smaller radius (unknown last)."""
    known = source_of(source)
    rank = known.priority if known is not None else len(SOURCES_BY_PRIORITY)
    return rank, float("inf") if radius_km is None else radius_km
