"""User settings, persisted as JSON in the platform's config folder (appdirs), and the app's data folders."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import appdirs

from geotagger.geocore.workflow.settings import DEFAULTS

APP_NAME = "geotagger"
MAX_RECENT_FOLDERS = 10


def config_dir() -> Path:
    """Where settings live; GEOTAGGER_CONFIG_DIR overrides it (tests, portable installs)."""
    return Path(os.environ.get("GEOTAGGER_CONFIG_DIR") or appdirs.user_config_dir(APP_NAME))


def data_dir() -> Path:
    """Where the library cache, personal models and backups live; GEOTAGGER_DATA_DIR overrides it."""
    return Path(os.environ.get("GEOTAGGER_DATA_DIR") or appdirs.user_data_dir(APP_NAME))


@dataclass
class Settings:
    """Everything the user can change; unknown keys in the file are ignored, missing ones take defaults."""

    provider: str = "cpu"  # "cpu" or "gpu"
    crops: int = 0  # 0 = as the model card says; 1 centre, 3 along the long side, 5 corners + centre
    write_mode: str = "exif"  # "exif" (into the file) or "sidecar" (XMP next to it)
    sidecar_naming: str = "photo.jpg.xmp"  # or "photo.xmp"
    keep_timestamps: bool = DEFAULTS.keep_mtime
    backups: bool = DEFAULTS.backups  # write defaults are the CLI's too: geocore.workflow.settings says why
    online_tiles: bool = False
    tile_provider: str = "OpenStreetMap"
    tile_archive: str = ""  # a PMTiles or MBTiles raster archive drawn over the offline basemap ("" = none)
    compact_rows: bool = False
    window_geometry: str = ""  # Qt's saved geometry, splitter and column layout (base64)
    splitter_state: str = ""
    header_state: str = ""
    place_names: bool = DEFAULTS.place_names  # also write city/state/country into the files' XMP
    show_place_names: bool = True  # name every photo with a position in the list (offline GeoNames; writes nothing)
    active_model: str = ""  # "" = the shipped base bundle
    recent_folders: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, folder: Path | None = None) -> Settings:
        """Read the settings file; a missing or damaged file gives the defaults (and is not overwritten until save)."""
        path = (folder or config_dir()) / "settings.json"
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: v for k, v in raw.items() if k in known} if isinstance(raw, dict) else {}
        settings = cls()
        for key, value in values.items():
            if isinstance(value, type(getattr(settings, key))):
                setattr(settings, key, value)
        return settings

    def save(self, folder: Path | None = None) -> None:
        """Write atomically so a crash never leaves a half-written settings file."""
        folder = folder or config_dir()
        folder.mkdir(parents=True, exist_ok=True)
        temp = folder / "settings.json.tmp"
        temp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        os.replace(temp, folder / "settings.json")

    def remember_folder(self, folder: Path) -> None:
        """Put a folder first in the recent list (no duplicates, bounded length)."""
        text = str(folder)
        self.recent_folders = [text] + [f for f in self.recent_folders if f != text]
        del self.recent_folders[MAX_RECENT_FOLDERS:]
