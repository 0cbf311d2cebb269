"""The fusion rule applied to what the cache knows of one photo: its stored decisions and its latest prediction.

`assess` is the one place where a photo's review flag and its reason are decided. The session calls it whenever
new evidence arrives (a prediction, a track, a neighbour, a hand placement) and stores the flags; the view calls
it again to show the reason, so what the GUI and the CLI say can never be staler than the flag.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from geotagger.geocore.fusion import FusedDecision, LocationProposal, VisualEvidence, fuse
from geotagger.geocore.library.records import DecisionRecord
from geotagger.geocore.vocabulary import DecisionState, source_of


@dataclass(frozen=True)
class Assessment:
    """The fusion rule's word on one photo: which decision it chooses, and each decision's flag and reason."""

    chosen_id: int | None
    visual_probability: float | None
    flags: dict[int, tuple[bool, str]]  # decision id -> (review, why)

    def flag(self, decision_id: int | None) -> tuple[bool, str]:
        """(review, reason) of one decision; (False, '') for one the rule had no word on."""
        return self.flags.get(decision_id, (False, "")) if decision_id is not None else (False, "")


def visual_evidence(payload_json: str | None) -> VisualEvidence | None:
    """The visual check from a cached prediction payload (`PhotoPrediction.to_json()`); None when there is no
    prediction, no S2 cell in it, or the model said the photo looks like no place it knows (its cells are then no
    evidence either way).

    Only S2 cells take part: a prediction gives an S2 cell its token as its label, a semantic area a name.
    """
    if not payload_json:
        return None
    try:
        payload = json.loads(payload_json)
        if payload.get("unknown_place") is not None:
            return None
        cells = [(str(c["key"]), float(c["probability"])) for c in payload.get("hierarchy_top") or []
                 if c.get("label") == c.get("key")]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None  # an unreadable cache entry only costs the visual check
    return VisualEvidence.from_top_cells(cells)


def _proposal(decision: DecisionRecord) -> LocationProposal:
    # The stored note is the source's own ("how it was found"); the rule's reasons are added by fuse.
    return LocationProposal(decision.source, decision.lat, decision.lon, decision.radius_km or 0.0,
                            decision.altitude_m)


def assess(decisions: Sequence[DecisionRecord], visual: VisualEvidence | None) -> Assessment:
    """Run the fusion rule over a photo's live decisions (proposed, accepted, written; known sources only)."""
    live = [d for d in decisions if d.state != DecisionState.REJECTED.value and source_of(d.source) is not None]
    fused: FusedDecision | None = fuse([_proposal(d) for d in live], visual)
    if fused is None:
        return Assessment(None, None, {})
    chosen = fused.chosen
    # fuse orders stably, so the chosen proposal is the first live decision with its source and point.
    chosen_id = next(d.id for d in sorted(live, key=lambda d: d.id)
                     if (d.source, d.lat, d.lon, d.radius_km or 0.0) == (chosen.source, chosen.lat, chosen.lon,
                                                                         chosen.radius_km))
    flags: dict[int, tuple[bool, str]] = {chosen_id: (chosen.flagged, chosen.note)}
    chosen_source = source_of(chosen.source)
    label = chosen_source.label if chosen_source is not None else chosen.source
    for decision in live:
        if decision.id != chosen_id and decision.state == DecisionState.PROPOSED.value:
            flags[decision.id] = (False, f"not chosen: {label} ranks higher")
    return Assessment(chosen_id, chosen.visual_probability, flags)
