"""Time sync and the library cache: photo records in, proposals (with the fusion rule's review flag) stored.

Used by `geotag sync-track` / `sync-neighbours` and by the GUI's jobs; the core (tracks, clocks, neighbours)
stays free of the cache. Works on any object with the Library's methods (`decisions`, `decisions_of_photos`,
`latest_predictions`, `propose_many`, `reject`) and records with PhotoRecord's fields.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
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


@dataclass(frozen=True)
class _Plan:
    """What storing one proposal does: the proposal as stored, its state, and the decisions it replaces."""

    stored: LocationProposal
    state: str
    superseded: list[DecisionRecord]


def _plan(proposal: LocationProposal, decisions: list[DecisionRecord], visual: VisualEvidence | None,
          accept: bool) -> _Plan:
    existing = [d for d in decisions if d.state != "rejected"]
    replaceable = ("proposed", "accepted") if accept else ("proposed",)  # never undo a user's acceptance silently
    superseded = [d for d in existing if d.source == proposal.source and d.state in replaceable]
    others = [_as_proposal(d) for d in existing if d not in superseded]
    decision = fuse([proposal, *others], visual)
    assert decision is not None  # our proposal is among the candidates
    ours_chosen = decision.chosen.source == proposal.source and (decision.chosen.lat, decision.chosen.lon) == (
        proposal.lat, proposal.lon)
    stored = decision.chosen if ours_chosen else proposal
    if stored.visual_probability is not None:  # the cache has no column for it (yet): keep it in the notes
        stored = replace(stored, note=f"{stored.note}; visual probability {stored.visual_probability:.2g}")
    if not ours_chosen:
        stored = replace(proposal, note=f"{proposal.note}; not chosen: {decision.chosen.source} ranks higher")
    state = "accepted" if accept and ours_chosen and not stored.flagged else "proposed"
    return _Plan(stored, state, superseded)


def store_result(library: Library, result: SyncResult, accept: bool = False) -> dict[str, LocationProposal]:
    """Store every proposal of a sync result with its review flag from the fusion rule (the photo's other
    proposals and its latest cached prediction take part); returns them as stored (flag and note set), by photo id."""
    stored = _store_many(library, {int(photo_id): proposal for photo_id, proposal in result.proposals.items()},
                         accept)
    return {str(photo_id): proposal for photo_id, proposal in stored.items()}


def _store_many(library: Library, proposals: dict[int, LocationProposal], accept: bool
                ) -> dict[int, LocationProposal]:
    """Read what the photos already have in two queries, fuse in memory, write in short transactions.

    Thousands of photos after a first scan: per-photo queries would hold the GIL the GUI thread needs for seconds.
    """
    from geocore.library.decisions import Proposal

    ids = list(proposals)
    decisions: dict[int, list[DecisionRecord]] = defaultdict(list)
    for decision in library.decisions_of_photos(ids):
        decisions[decision.photo_id].append(decision)
    latest = library.latest_predictions(ids)
    plans = {photo_id: _plan(proposal, decisions[photo_id],
                             visual_from_payload(latest[photo_id].payload_json) if photo_id in latest else None, accept)
             for photo_id, proposal in proposals.items()}
    library.propose_many([Proposal(photo_id, plan.stored.lat, plan.stored.lon, plan.stored.radius_km,
                                   plan.stored.source, plan.stored.altitude_m, plan.stored.flagged,
                                   plan.stored.note, plan.state) for photo_id, plan in plans.items()])
    for plan in plans.values():
        for old in plan.superseded:
            library.reject(old.id)
    return {photo_id: plan.stored for photo_id, plan in plans.items()}
