"""The use cases of Geotagger, shared by the app and the CLI: `Session` over a Library and a model provider.

Vocabulary (sources, states) lives in geocore.vocabulary; what a photo looks like to the user in `view`;
settings both doors read in `settings`; per-file outcomes and results in `results`.

The names below are imported on first use: importing one submodule (the CLI's output needs only `results`) must
not bring in the library, SQLAlchemy, NumPy and time sync (~0.5 s of a command's start-up).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_HOMES = {
    "geotagger.geocore.timesync.clock": ("ClockSettings", "format_duration", "parse_duration_s", "parse_geosync_s"),
    "geotagger.geocore.timesync.clock_store": ("CLOCK_FILE", "load_clock", "save_clock"),
    "geotagger.geocore.timesync.parsers": ("TRACK_SUFFIXES",),
    "geotagger.geocore.workflow.models": ("ModelProvider",),
    "geotagger.geocore.workflow.results": ("Outcome", "Reporter", "Result", "Status", "TrackSyncResult"),
    "geotagger.geocore.workflow.session": ("ScanResult", "Selection", "Session"),
    "geotagger.geocore.workflow.settings": ("DEFAULTS", "WorkflowSettings"),
    "geotagger.geocore.workflow.syncing": ("Reference", "SyncPreview", "TimeOptions"),
    "geotagger.geocore.workflow.view": ("PhotoView", "PredictionSummary", "describe", "photo_view"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = ["CLOCK_FILE", "DEFAULTS", "TRACK_SUFFIXES", "ClockSettings", "ModelProvider", "Outcome", "PhotoView",
           "PredictionSummary", "Reference", "Reporter", "Result", "ScanResult", "Selection", "Session", "Status",
           "SyncPreview", "TimeOptions", "TrackSyncResult", "WorkflowSettings", "describe", "format_duration",
           "load_clock", "parse_duration_s", "parse_geosync_s", "photo_view", "save_clock"]

if TYPE_CHECKING:
    from geotagger.geocore.timesync.clock import ClockSettings, format_duration, parse_duration_s, parse_geosync_s
    from geotagger.geocore.timesync.clock_store import CLOCK_FILE, load_clock, save_clock
    from geotagger.geocore.timesync.parsers import TRACK_SUFFIXES
    from geotagger.geocore.workflow.models import ModelProvider
    from geotagger.geocore.workflow.results import Outcome, Reporter, Result, Status, TrackSyncResult
    from geotagger.geocore.workflow.session import ScanResult, Selection, Session
    from geotagger.geocore.workflow.settings import DEFAULTS, WorkflowSettings
    from geotagger.geocore.workflow.syncing import Reference, SyncPreview, TimeOptions
    from geotagger.geocore.workflow.view import PhotoView, PredictionSummary, describe, photo_view


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
