"""Every track format end to end: photos placed on the track, accepted, written, and read back by exiftool at
exactly the position an independent interpolation (scalar great-circle formula, written here) gives."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from geotagger.geocore.library.api import Library
from geotagger.geocore.workflow import Session, TimeOptions
from tests.photo_factory import make_jpeg
from tests.timesync import track_files as tf

T0 = datetime(2024, 6, 1, 10, 0, 0, tzinfo=timezone.utc)
POINTS = [(T0 + timedelta(minutes=10 * i), 45.0 + 0.013 * i + 0.002 * i * i, 7.0 + 0.021 * i, 400.0 + 7 * i)
          for i in range(4)]
PHOTO_OFFSETS_S = [150.0, 1000.0, 1790.0]  # seconds after T0: in three different intervals

FORMATS = {
    "gpx track": ("t.gpx", lambda p: tf.write_gpx(p, [POINTS]), POINTS),
    "gpx waypoints": ("w.gpx", lambda p: tf.write_gpx_waypoints(p, POINTS), POINTS),
    "gpx route": ("r.gpx", lambda p: tf.write_gpx_waypoints(p, POINTS, route=True), POINTS),
    "kml": ("t.kml", lambda p: tf.write_kml_gx_track(p, [POINTS]), POINTS),
    "kmz": ("t.kmz", lambda p: tf.write_kmz(p, POINTS), POINTS),
    "geojson": ("t.geojson", lambda p: tf.write_geojson_line(p, [POINTS]), POINTS),
    "nmea": ("t.nmea", lambda p: tf.write_nmea(p, POINTS), POINTS),
    "tcx": ("t.tcx", lambda p: tf.write_tcx(p, POINTS), POINTS),
    "igc": ("t.igc", lambda p: tf.write_igc(p, POINTS), tf.igc_rounded(POINTS)),
    "fit": ("t.fit", lambda p: tf.write_fit(p, POINTS), tf.fit_rounded(POINTS)),
    "csv": ("t.csv", lambda p: tf.write_csv(p, POINTS), POINTS),
    "takeout records": ("Records.json", lambda p: tf.write_records_json(p, POINTS), POINTS),
    "takeout timeline": ("Timeline.json", lambda p: tf.write_timeline_json(p, POINTS), POINTS),
}


def independent_position(points, seconds_after_t0: float) -> tuple[float, float]:
    """Great-circle interpolation between the two bracketing points, scalar, from first principles."""
    t = T0.timestamp() + seconds_after_t0
    times = [m.timestamp() for m, _, _, _ in points]
    j = next(i for i, moment in enumerate(times) if moment > t)
    f = (t - times[j - 1]) / (times[j] - times[j - 1])
    (_, lat1, lon1, _), (_, lat2, lon2, _) = points[j - 1], points[j]

    def vector(lat, lon):
        la, lo = math.radians(lat), math.radians(lon)
        return (math.cos(la) * math.cos(lo), math.cos(la) * math.sin(lo), math.sin(la))

    a, b = vector(lat1, lon1), vector(lat2, lon2)
    angle = 2 * math.asin(math.dist(a, b) / 2)
    wa, wb = math.sin((1 - f) * angle) / math.sin(angle), math.sin(f * angle) / math.sin(angle)
    x, y, z = (wa * u + wb * v for u, v in zip(a, b, strict=True))
    return math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x))


def exiftool_positions(paths: list[Path]) -> dict[str, tuple[float, float]]:
    output = subprocess.run(["exiftool", "-j", "-n", "-GPSLatitude", "-GPSLongitude", *map(str, paths)],
                            capture_output=True, text=True, check=True).stdout
    return {Path(row["SourceFile"]).name: (row["GPSLatitude"], row["GPSLongitude"]) for row in json.loads(output)}


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_photos_land_where_an_independent_interpolation_says(tmp_path: Path, fmt: str) -> None:
    name, write, stored_points = FORMATS[fmt]
    tracks = tmp_path / "tracks"
    tracks.mkdir()
    write(tracks / name)
    photos = tmp_path / "photos"
    for index, seconds in enumerate(PHOTO_OFFSETS_S):  # camera clock in +02:00 with OffsetTimeOriginal
        taken = (T0 + timedelta(seconds=seconds)).replace(tzinfo=None) + timedelta(hours=2)
        make_jpeg(photos / f"p{index}.jpg", (64, 48), datetime_original=taken, color_seed=index, thumbnail=False)
    with Session(Library(tmp_path / "cache.sqlite3")) as session:
        session.scan([photos])
        synced = session.sync_tracks([tracks], [photos], TimeOptions(), accept=True)  # a folder of tracks
        assert synced.placed == 3 and not synced.failed, synced.text()
        written = session.write(synced.photo_ids)
        assert len(written.ok) == 3
    found = exiftool_positions(sorted(photos.glob("*.jpg")))
    for index, seconds in enumerate(PHOTO_OFFSETS_S):
        lat, lon = independent_position(stored_points, seconds)
        assert found[f"p{index}.jpg"] == pytest.approx((lat, lon), abs=2e-7), fmt
