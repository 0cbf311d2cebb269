"""Where the shipped data lives (`resources/`: models, scene mapping, Leaflet, world outlines, samples).

In a source checkout or editable install it is the `resources/` folder beside the packages; a wheel installs it under
`<prefix>/share/geotagger/resources`; `GEOTAGGER_RESOURCES` overrides both (packagers, tests).
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path

ENVIRONMENT_VARIABLE = "GEOTAGGER_RESOURCES"


@lru_cache(maxsize=1)
def resources_dir() -> Path:
    """The resources folder of this installation (the first candidate that exists)."""
    override = os.environ.get(ENVIRONMENT_VARIABLE)
    candidates = [Path(override)] if override else []
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
