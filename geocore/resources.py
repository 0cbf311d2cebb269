"""Where the shipped data lives (`resources/`: models, scene mapping, Leaflet and map data, samples, icons).

It is installed as the package `geotagger_resources` (setup.py maps resources/ to it), so importlib.resources finds
it wherever the installer put it: a venv, `pip install --user` ($PYTHONUSERBASE), pipx's own venv, an editable
install. A plain checkout without any install uses the `resources/` folder beside the packages, and older wheels
put it under `<prefix>/share/geotagger/resources`. `GEOTAGGER_RESOURCES` overrides all of them (packagers, tests).
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from importlib import resources as importlib_resources
from pathlib import Path

ENVIRONMENT_VARIABLE = "GEOTAGGER_RESOURCES"
PACKAGE = "geotagger_resources"


def _installed_package() -> Path | None:
    """The installed resources package as a folder on disk (the app hands these paths to Qt and ONNX Runtime)."""
    try:
        location = importlib_resources.files(PACKAGE)
    except (ModuleNotFoundError, TypeError):
        return None
    path = Path(str(location))
    return path if path.is_dir() else None  # a zipped install has no real folder: fall through


@lru_cache(maxsize=1)
def resources_dir() -> Path:
    """The resources folder of this installation (the first candidate that exists)."""
    override = os.environ.get(ENVIRONMENT_VARIABLE)
    candidates = [Path(override)] if override else []
    installed = _installed_package()
    candidates += [installed] if installed is not None else []
    candidates += [
        Path(__file__).resolve().parents[1] / "resources",
        Path(sys.prefix) / "share" / "geotagger" / "resources",
    ]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def resource_path(*parts: str) -> Path:
    """Path of a shipped file, e.g. resource_path("models", "base.geomodel")."""
    return resources_dir().joinpath(*parts)
