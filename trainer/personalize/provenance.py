"""Which positions may teach a personal model: a GPS receiver's or the user's, never an estimate.

A position Geotagger wrote from an estimate (a model's proposal, a time neighbour's position) is marked in the
file: our XMP provenance namespace (geotagger:Estimated), or GPSProcessingMethod "ESTIMATED" from earlier
versions; `geocore.library.metadata.written_estimate` is the one reader of those marks. The library cache also
remembers which source each written decision came from. Either is enough to leave a photo out: learning from our
own output would only teach the model its own mistakes.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from geotagger.geocore.library.metadata import written_estimate
from geotagger.geocore.library.records import DecisionRecord
from geotagger.geocore.vocabulary import DecisionState, source_of

MARKED_REASON = "GPS marked as Geotagger's estimate in the file: not training data"
WRITTEN_REASON = "GPS written by Geotagger from an estimate ({source}): not training data"


def marked_as_estimate(path: str | Path) -> bool:
    """True when the photo's file says its GPS is one of our estimates (XMP provenance or the legacy method)."""
    return written_estimate(Path(path))


def estimate_written_by_us(decisions: Iterable[DecisionRecord]) -> dict[int, str]:
    """photo id -> estimate source, for photos whose latest written decision came from an estimate."""
    latest: dict[int, DecisionRecord] = {}
    for decision in decisions:
        newer = decision.photo_id not in latest or decision.id > latest[decision.photo_id].id
        if decision.state == DecisionState.WRITTEN.value and newer:
            latest[decision.photo_id] = decision
    found = {}
    for photo_id, decision in latest.items():
        source = source_of(decision.source)
        if source is not None and source.is_estimate:
            found[photo_id] = source.label
    return found


def estimate_reason(photo_id: int, path: str, written: dict[int, str]) -> str | None:
    """Why this photo's GPS is not training data, or None when it is a receiver's or the user's."""
    if photo_id in written:
        return WRITTEN_REASON.format(source=written[photo_id])
    if marked_as_estimate(path):
        return MARKED_REASON
    return None
