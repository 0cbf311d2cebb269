"""Where a written position came from, in an XMP namespace of our own: estimated or measured, source, model, radius,
when it was written, and the time of the fix.

EXIF keeps to what its standard names (GPSProcessingMethod GPS, CELLID, WLAN or MANUAL; see geocore.vocabulary),
so the full story lives here, embedded in the file's XMP and in sidecars. `geocore.library.metadata.written_estimate`
is the one reader that tells our estimates from measured positions, in files of this and of earlier versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

NAMESPACE = "https://geotagger.github.io/ns/provenance/1.0/"
PREFIX = "geotagger"
# Properties in NAMESPACE (all simple text values).
ESTIMATED, SOURCE, MODEL, RADIUS_M, WRITTEN, FIX_TIME = (
    "Estimated", "Source", "Model", "HPositioningErrorM", "WrittenAt", "FixTime")
# GPSProcessingMethod earlier versions wrote for estimates (exiftool -validate rejects it; still recognised).
LEGACY_ESTIMATE_METHOD = "ESTIMATED"


def utc_text(moment: datetime) -> str:
    """An aware datetime as XMP date text in UTC, 'YYYY-MM-DDTHH:MM:SSZ' (naive ones are taken as UTC)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
    return aware.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Provenance:
    """How a written position was found: `source` is a geocore.vocabulary.Source value."""

    source: str
    estimated: bool
    model_id: str | None = None
    radius_km: float | None = None
    written_at: datetime | None = None
    fix_time: datetime | None = None

    def properties(self) -> list[tuple[str, str]]:
        """(local name, text) of the properties to write, in a stable order; absent values are left out."""
        props = [(ESTIMATED, "True" if self.estimated else "False"), (SOURCE, self.source)]
        if self.model_id:
            props.append((MODEL, self.model_id))
        if self.radius_km is not None:
            props.append((RADIUS_M, f"{self.radius_km * 1000.0:.1f}"))
        if self.written_at is not None:
            props.append((WRITTEN, utc_text(self.written_at)))
        if self.fix_time is not None:
            props.append((FIX_TIME, utc_text(self.fix_time)))
        return props
