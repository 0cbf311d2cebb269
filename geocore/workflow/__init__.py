"""The use cases of Geotagger, shared by the app and the CLI: `Session` over a Library and a model provider.

Vocabulary (sources, states) lives in geocore.vocabulary; what a photo looks like to the user in `view`;
settings both doors read in `settings`; per-file outcomes and results in `results`.
"""

from geocore.timesync.clock import ClockSettings, format_duration, parse_duration_s, parse_geosync_s
from geocore.timesync.clock_store import CLOCK_FILE, load_clock, save_clock
from geocore.timesync.parsers import TRACK_SUFFIXES
from geocore.workflow.models import ModelProvider
from geocore.workflow.results import Outcome, Reporter, Result, Status, TrackSyncResult
from geocore.workflow.session import ScanResult, Selection, Session
from geocore.workflow.settings import DEFAULTS, WorkflowSettings
from geocore.workflow.syncing import Reference, SyncPreview, TimeOptions
from geocore.workflow.view import PhotoView, PredictionSummary, describe, photo_view

__all__ = ["CLOCK_FILE", "DEFAULTS", "TRACK_SUFFIXES", "ClockSettings", "ModelProvider", "Outcome", "PhotoView",
           "PredictionSummary", "Reference", "Reporter", "Result", "ScanResult", "Selection", "Session", "Status",
           "SyncPreview", "TimeOptions", "TrackSyncResult", "WorkflowSettings", "describe", "format_duration",
           "load_clock", "parse_duration_s", "parse_geosync_s", "photo_view", "save_clock"]
