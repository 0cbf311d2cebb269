"""Plain records returned by the Library API (rows of the cache, detached from the database)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from geotagger.geocore.vocabulary import DecisionState, Source

DECISION_STATES = tuple(state.value for state in DecisionState)
DECISION_SOURCES = tuple(source.value for source in Source)


@dataclass(frozen=True)
class PhotoRecord:
    """One photo as cached by the last scan (or refreshed after a write)."""

    id: int
    path: str
    size: int | None
    mtime_ns: int | None
    head_hash: str | None
    kind: str | None
    capture_time: str | None
    capture_offset: str | None
    make: str | None
    model: str | None
    orientation: int | None
    width: int | None
    height: int | None
    gps_lat: float | None
    gps_lon: float | None
    gps_alt_m: float | None
    gps_source: str | None
    sidecar_mtime_ns: int | None
    thumbnail_path: str | None
    error_kind: str | None
    error: str | None
    scanned_ns: int | None

    @property
    def capture_datetime(self) -> datetime | None:
        """DateTimeOriginal as a naive datetime (camera clock), None when absent."""
        return datetime.fromisoformat(self.capture_time) if self.capture_time else None

    @property
    def has_gps(self) -> bool:
        """True when the file (or its sidecar) already holds a position."""
        return self.gps_lat is not None and self.gps_lon is not None

    @property
    def file_path(self) -> Path:
        """`path` as a Path."""
        return Path(self.path)

    @property
    def display_path(self) -> str:
        """`path` for labels and messages: bytes that are not UTF-8 shown as U+FFFD (see geocore.library.paths)."""
        from geotagger.geocore.library.paths import display_path

        return display_path(self.path)


@dataclass(frozen=True)
class DecisionRecord:
    """A proposed, accepted, rejected or written location for a photo."""

    id: int
    photo_id: int
    state: str
    source: str
    lat: float
    lon: float
    radius_km: float | None
    altitude_m: float | None
    place_city: str | None
    place_state: str | None
    place_country: str | None
    place_country_code: str | None
    review: bool | None
    notes: str | None
    batch_id: str | None
    created_ns: int | None
    updated_ns: int | None


@dataclass(frozen=True)
class PredictionRecord:
    """A cached model prediction for a photo under one model and settings key."""

    id: int
    photo_id: int
    model_id: str
    settings_key: str
    payload_json: str | None
    lat: float | None
    lon: float | None
    radius_km: float | None
    created_ns: int | None


def from_row(cls: Any, row: Any) -> Any:
    """Build a record of type `cls` from a SQLAlchemy row with matching column names."""
    mapping = row._mapping
    return cls(**{name: mapping[name] for name in _field_names(cls)})


@functools.cache
def _field_names(cls: Any) -> tuple[str, ...]:
    """The record's field names, looked up once per class (dataclasses.fields per row was a third of the cost of
    reading 50,000 records)."""
    return tuple(f.name for f in fields(cls))
