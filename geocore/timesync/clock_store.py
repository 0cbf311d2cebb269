"""Clock and zone settings per camera, remembered between runs in one small per-user file for the app and the CLI.

The file is clock.json in the per-user config folder (the app's settings folder: $GEOTAGGER_CONFIG_DIR, else
appdirs' user config dir for "geotagger"), so that a camera's zone or offset set once in either is known to both.
Only per-camera settings and the general camera zone are kept; the global offset (-geosync) is for one run.
A missing or damaged file reads as no settings, and is written atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from geotagger.geocore.timesync.clock import ClockSettings

CLOCK_FILE = "clock.json"


def clock_file() -> Path:
    """Where the remembered clock settings live."""
    import appdirs

    folder = os.environ.get("GEOTAGGER_CONFIG_DIR") or appdirs.user_config_dir("geotagger")
    return Path(folder) / CLOCK_FILE


def load_clock(path: Path | None = None) -> ClockSettings:
    """The remembered settings (none when the file is missing or unreadable)."""
    try:
        data = json.loads((path or clock_file()).read_text(encoding="utf-8"))
        return ClockSettings.from_dict(data) if isinstance(data, dict) else ClockSettings()
    except (OSError, ValueError, TypeError, AttributeError):
        return ClockSettings()


def save_clock(settings: ClockSettings, path: Path | None = None) -> Path:
    """Remember these settings (the global offset is left out); returns the file written."""
    path = path or clock_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = settings.to_dict()
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(temp, path)
    return path
