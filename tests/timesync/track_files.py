"""Write small GPX / KML / GeoJSON track files from (utc datetime, lat, lon, altitude) points, for the tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

Point = tuple[datetime, float, float, float | None]


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, as track loggers write it."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_gpx(path: Path, segments: Sequence[Sequence[Point]]) -> Path:
    """A GPX 1.1 file with one track and one <trkseg> per segment."""
    body = []
    for segment in segments:
        body.append("<trkseg>")
        for moment, lat, lon, altitude in segment:
            ele = f"<ele>{altitude}</ele>" if altitude is not None else ""
            body.append(f'<trkpt lat="{lat}" lon="{lon}">{ele}<time>{iso(moment)}</time></trkpt>')
        body.append("</trkseg>")
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1"><trk><name>t</name>'
        + "".join(body) + "</trk></gpx>\n",
        encoding="utf-8",
    )
    return path


def write_kml_gx_track(path: Path, segments: Sequence[Sequence[Point]]) -> Path:
    """A KML 2.2 file with one gx:Track per segment inside a gx:MultiTrack."""
    tracks = []
    for segment in segments:
        whens = "".join(f"<when>{iso(m)}</when>" for m, _, _, _ in segment)
        coords = "".join(f"<gx:coord>{lon} {lat} {alt if alt is not None else 0}</gx:coord>"
                         for _, lat, lon, alt in segment)
        tracks.append(f"<gx:Track>{whens}{coords}</gx:Track>")
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2" '
        'xmlns:gx="http://www.google.com/kml/ext/2.2"><Document><Placemark><gx:MultiTrack>'
        + "".join(tracks) + "</gx:MultiTrack></Placemark></Document></kml>\n",
        encoding="utf-8",
    )
    return path


def write_geojson_line(path: Path, segments: Sequence[Sequence[Point]]) -> Path:
    """A GeoJSON MultiLineString feature with coordTimes (one list per line)."""
    feature = {
        "type": "Feature",
        "geometry": {
            "type": "MultiLineString",
            "coordinates": [[[lon, lat] + ([alt] if alt is not None else []) for _, lat, lon, alt in s]
                            for s in segments],
        },
        "properties": {"coordTimes": [[iso(m) for m, _, _, _ in s] for s in segments]},
    }
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8")
    return path
