"""The time limits of matching photos to tracks and to each other, apart from the NumPy code that applies them:
option defaults need them where NumPy is not wanted (`geotag undo` and `set` import the workflow)."""

from __future__ import annotations

DEFAULT_MAX_GAP_S = 30 * 60.0
DEFAULT_MAX_SNAP_S = 60.0
EXIFTOOL_MAX_INT_S = 1800.0  # exiftool's GeoMaxIntSecs and GeoMaxExtSecs defaults
EXIFTOOL_MAX_EXT_S = 1800.0
DEFAULT_NEIGHBOUR_GAP_S = 30 * 60.0
