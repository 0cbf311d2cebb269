"""Time sync and the library cache: photo records in, proposals (with the fusion rule's review flag) stored.

Used by `geotag sync-track` / `sync-neighbours` and by the GUI's jobs; the core (tracks, clocks, neighbours)
stays free of the cache. Works on any object with the Library's methods (`decisions`, `predictions`, `propose`,
`reject`) and records with PhotoRecord's fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from geocore.fusion import LocationProposal, VisualEvidence, fuse
from geocore.timesync.clock import CaptureTime, ClockSettings, camera_key
from geocore.timesync.sync import DEFAULT_NEIGHBOUR_GAP_S, SyncResult, TimedPhoto, propose_from_neighbours

if TYPE_CHECKING:
    from geocore.library.api import Library
    from geocore.library.records import DecisionRecord, PhotoRecord


def timed_photo(record: PhotoRecord) -> TimedPhoto:
    """The cache's view of a photo as time sync needs it (an unreadable capture time counts as none)."""
    try:
        local = record.capture_datetime
    except ValueError:
        local = None
    capture = CaptureTime(local, record.capture_offset, camera_key(record.make, record.model)) if local else None
    return TimedPhoto(str(record.id), capture, record.gps_lat, record.gps_lon)


ESTIMATED_SOURCES = ("model", "personal_model", "time_neighbour")


def estimated_by_us(library: Library) -> set[str]:
    """Photos whose GPS we wrote from an estimate: never neighbours of others, or errors would chain."""
    return {str(d.photo_id) for d in library.decisions(state="written") if d.source in ESTIMATED_SOURCES}


def neighbour_proposals(
    library: Library,
    records: Iterable[PhotoRecord],
    settings: ClockSettings | None = None,
    max_gap_s: float = DEFAULT_NEIGHBOUR_GAP_S,
) -> SyncResult:
    """Time-neighbour placements for cached photos, never leaning on positions we wrote from estimates."""
    excluded = estimated_by_us(library)
    usable = [timed_photo(record) for record in records if str(record.id) not in excluded]
    return propose_from_neighbours(usable, settings, max_gap_s)


def _as_proposal(decision: DecisionRecord) -> LocationProposal:
    return LocationProposal(decision.source, decision.lat, decision.lon, decision.radius_km or 0.0,
                            decision.altitude_m, note=decision.notes or "")


def visual_from_cache(library: Library, photo_id: int) -> VisualEvidence | None:
    """The visual check from the photo's latest cached prediction (its ranked finest S2 cells), if any.

    Only S2 cells take part: `geotag predict` gives an S2 cell the token as its label, a semantic area a name.
    """
    predictions = library.predictions(photo_id)
    if not predictions:
        return None
    try:
        payload = json.loads(predictions[-1].payload_json or "{}")
        cells = [(str(c["key"]), float(c["probability"])) for c in payload.get("hierarchy_top") or []
                 if c.get("label") == c.get("key")]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None  # an unreadable cache entry only costs the visual check
    return VisualEvidence.from_top_cells(cells)


def store_proposal(library: Library, photo_id: int, proposal: LocationProposal, accept: bool) -> LocationProposal:
    """Store one proposal with its review flag from the fusion rule; returns it as stored (flag and note set)."""
    existing = [d for d in library.decisions(photo_id=photo_id) if d.state != "rejected"]
    replaceable = ("proposed", "accepted") if accept else ("proposed",)  # never undo a user's acceptance silently
    superseded = [d for d in existing if d.source == proposal.source and d.state in replaceable]
    others = [_as_proposal(d) for d in existing if d not in superseded]
    decision = fuse([proposal, *others], visual_from_cache(library, photo_id))
    assert decision is not None  # our proposal is among the candidates
    ours_chosen = decision.chosen.source == proposal.source and (decision.chosen.lat, decision.chosen.lon) == (
        proposal.lat, proposal.lon)
    stored = decision.chosen if ours_chosen else proposal
    if stored.visual_probability is not None:  # the cache has no column for it (yet): keep it in the notes
        stored = replace(stored, note=f"{stored.note}; visual probability {stored.visual_probability:.2g}")
    if not ours_chosen:
        stored = replace(proposal, note=f"{proposal.note}; not chosen: {decision.chosen.source} ranks higher")
    state = "accepted" if accept and ours_chosen and not stored.flagged else "proposed"
    library.propose(photo_id, stored.lat, stored.lon, stored.radius_km, stored.source, altitude_m=stored.altitude_m,
                    review=stored.flagged, notes=stored.note, state=state)
    for old in superseded:
        library.reject(old.id)
    return stored


def store_result(library: Library, result: SyncResult, accept: bool = False) -> dict[str, LocationProposal]:
    """Store every proposal of a sync result (see `store_proposal`); returns them as stored, by photo id."""
    return {photo_id: store_proposal(library, int(photo_id), proposal, accept)
            for photo_id, proposal in result.proposals.items()}
