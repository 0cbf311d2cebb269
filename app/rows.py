"""A list row from the session's PhotoView: the one view geocore builds for the GUI and the CLI alike."""

from __future__ import annotations

from pathlib import Path

from geotagger.app.items import PhotoItem
from geotagger.app.predictions import PredictionView
from geotagger.geocore.library.records import PhotoRecord
from geotagger.geocore.workflow.view import PhotoView


def item_from_view(view: PhotoView, kinds: dict[str, str] | None = None) -> PhotoItem:
    """The row of one photo; `kinds` (partitioning name -> "s2" | "semantic") draws its cells on the map."""
    record = view.record
    prediction = None
    if view.prediction is not None and view.prediction.payload:
        prediction = PredictionView.from_json(view.prediction.payload, kinds)
    item = PhotoItem(Path(view.path), state=view.state.value, source=view.source_label, lat=view.lat, lon=view.lon,
                     radius_km=view.radius_km, place=view.place, error=view.error, decision_id=view.decision_id,
                     prediction=prediction, record=record, review=view.review, review_reason=view.review_reason,
                     notes=view.notes)
    if view.prediction is not None and view.prediction.confidence is not None:
        item.confidence = view.prediction.confidence
    if record is not None:
        item.taken = (record.capture_time or "").replace("T", " ")
        item.camera = " ".join(p for p in (record.make, record.model) if p)
        item.facts = facts(record)
    return item


def facts(record: PhotoRecord) -> dict[str, str]:
    """What the detail panel lists about the file itself."""
    found = {"File": record.path, "Taken": (record.capture_time or "unknown").replace("T", " ")}
    if record.capture_offset:
        found["UTC offset"] = record.capture_offset
    camera = " ".join(p for p in (record.make, record.model) if p)
    if camera:
        found["Camera"] = camera
    if record.width and record.height:
        found["Pixels"] = f"{record.width} × {record.height}"
    if record.has_gps:
        found["GPS in file"] = f"{record.gps_lat:.6f}, {record.gps_lon:.6f} ({record.gps_source or 'exif'})"
    return found
