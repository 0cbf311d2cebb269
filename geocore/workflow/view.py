"""What a photo looks like to the user, built by one function for the GUI's rows and the CLI's lines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from geotagger.geocore.library.records import DecisionRecord, PhotoRecord, PredictionRecord
from geotagger.geocore.vocabulary import SHOWN_STATE_ORDER, DecisionState, PhotoState, Source, source_of
from geotagger.geocore.workflow.evidence import Assessment, assess, visual_evidence


@dataclass(frozen=True)
class PredictionSummary:
    """The visual prediction as a row shows it: model, best point, confidence and scene type."""

    model_id: str
    lat: float | None
    lon: float | None
    radius_km: float | None
    confidence: float | None  # probability of the best hierarchical cell
    scene: str | None  # the most probable scene label
    payload: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # PhotoPrediction JSON
    unknown_place: str = ""  # why the model made no proposal ("looks like no place in your library"), or ""
    scene_network: str = ""  # ISN bundles: which scene's network located the photo ("urban"), or ""

    @classmethod
    def from_record(cls, record: PredictionRecord) -> PredictionSummary | None:
        """From the cache's prediction row; None when its payload is unreadable."""
        try:
            payload = json.loads(record.payload_json or "{}")
            top = payload.get("hierarchy_top") or []
            scene = payload.get("scene") or {}
            confidence = float(top[0]["probability"]) if top else None
            best_scene = max(scene, key=lambda label: float(scene[label])) if scene else None
            unknown = str(payload.get("unknown_place") or "")
            network = str(payload.get("scene_network") or "")
        except (ValueError, TypeError, KeyError, AttributeError):
            return None
        return cls(record.model_id, record.lat, record.lon, record.radius_km, confidence, best_scene, payload,
                   unknown, network)


@dataclass(frozen=True)
class PhotoView:
    """One photo as shown: state, source, position, radius, review flag and why, notes, prediction summary."""

    photo_id: int
    path: str
    state: PhotoState
    source: Source | None = None  # None: no decision (has_gps shows the file's own position)
    source_label: str = ""  # the source's label, "exif"/"xmp" for a position the file already had
    lat: float | None = None
    lon: float | None = None
    radius_km: float | None = None
    altitude_m: float | None = None
    decision_id: int | None = None
    review: bool = False
    review_reason: str = ""
    notes: str = ""
    place: str = ""
    visual_probability: float | None = None
    error: str = ""
    prediction: PredictionSummary | None = None
    record: PhotoRecord | None = field(default=None, compare=False, repr=False)

    @property
    def has_location(self) -> bool:
        return self.lat is not None and self.lon is not None


YIELDS_TO_FILE_GPS = frozenset({DecisionState.REJECTED.value, DecisionState.PROPOSED.value})


def shown_decision(decisions: Sequence[DecisionRecord], assessment: Assessment | None = None
                   ) -> DecisionRecord | None:
    """The decision a photo shows: by state (accepted > written > proposed > rejected); among proposals the one
    the fusion rule chooses; otherwise the newest."""
    for state in SHOWN_STATE_ORDER:
        candidates = [d for d in decisions if d.state == state.value]
        if not candidates:
            continue
        if assessment is not None and assessment.chosen_id in {d.id for d in candidates}:
            return next(d for d in candidates if d.id == assessment.chosen_id)
        return max(candidates, key=lambda d: d.id)
    return None


def photo_view(record: PhotoRecord, decisions: Sequence[DecisionRecord],
               prediction: PredictionRecord | None = None) -> PhotoView:
    """The one way to turn the cache's rows for a photo into what the user sees."""
    summary = PredictionSummary.from_record(prediction) if prediction is not None else None
    if record.error_kind:
        return PhotoView(record.id, record.path, PhotoState.ERROR, error=f"{record.error_kind}: {record.error or ''}"
                         .strip().rstrip(":"), prediction=summary, record=record)
    assessment = assess(decisions, visual_evidence(prediction.payload_json if prediction else None))
    decision = shown_decision(decisions, assessment)
    # The file's own GPS outranks a rejected proposal, and a proposal it outdates: proposals are only made for
    # photos without GPS, so one beside GPS was made before the GPS came (another tool, a later write).
    if decision is not None and not (record.has_gps and decision.state in YIELDS_TO_FILE_GPS):
        source = source_of(decision.source)
        review, reason = assessment.flag(decision.id)
        rejected = decision.state == DecisionState.REJECTED.value
        place = ", ".join(p for p in (decision.place_city, decision.place_country) if p)
        visual = assessment.visual_probability if decision.id == assessment.chosen_id else None
        return PhotoView(record.id, record.path, PhotoState(decision.state), source,
                         source.label if source else decision.source,
                         None if rejected else decision.lat, None if rejected else decision.lon,
                         decision.radius_km, decision.altitude_m, decision.id, review and not rejected, reason,
                         decision.notes or "", place, visual, prediction=summary, record=record)
    if record.has_gps:
        return PhotoView(record.id, record.path, PhotoState.HAS_GPS, None, record.gps_source or "exif",
                         record.gps_lat, record.gps_lon, altitude_m=record.gps_alt_m, prediction=summary,
                         record=record)
    return PhotoView(record.id, record.path, PhotoState.SCANNED, prediction=summary, record=record)


def describe(view: PhotoView) -> str:
    """One line for the CLI: state, source, position and radius, flag and reason."""
    parts = [view.state.label]
    if view.source_label:
        parts.append(f"({view.source_label})")
    if view.has_location:
        radius = f" ±{view.radius_km:.3g} km" if view.radius_km else ""
        parts.append(f"{view.lat:.6f}, {view.lon:.6f}{radius}")
    if view.review:
        parts.append(f"REVIEW: {view.review_reason}")
    if view.error:
        parts.append(view.error)
    if view.prediction is not None and view.prediction.unknown_place and not view.has_location:
        parts.append(f"no proposal: {view.prediction.unknown_place}")
    return " ".join(parts)
