"""Location text for the clipboard: what Ctrl+C writes and what Ctrl+V understands."""

from __future__ import annotations

import re

_NUMBER = r"([-+]?\d+(?:\.\d+)?)"
_PAIR = re.compile(rf"^\s*(?:geo:)?\s*{_NUMBER}\s*[,;\s]\s*{_NUMBER}\s*(?:[,;].*)?$", re.IGNORECASE)


def format_location(lat: float, lon: float) -> str:
    """'lat, lon' with six decimals (about 10 cm), the form map sites accept too."""
    return f"{lat:.6f}, {lon:.6f}"


def parse_location(text: str) -> tuple[float, float] | None:
    """Read 'lat, lon', 'lat lon' or a geo: URI; None when the text is not a valid position."""
    match = _PAIR.match(text.strip().splitlines()[0] if text.strip() else "")
    if not match:
        return None
    lat, lon = float(match.group(1)), float(match.group(2))
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return None
    return lat, lon
