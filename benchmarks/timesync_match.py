"""Benchmark: placing photos on a big GPS track, vectorised (numpy searchsorted + slerp) vs per-photo references.

Printed side by side in one run:
- ours: `match_times` on a 1 M-point track (11.6 days at 1 Hz) for N photos, in photos per second;
- reference 1: gpxpy's own `GPX.get_location_at(time)` per photo (a linear scan that returns the next point, no
  interpolation), timed on a 20 k-point track (it is O(track) per photo) and reported as photos per second there;
- reference 2: a per-photo Python loop (bisect + scalar great-circle interpolation), the straightforward way, on the
  same 1 M-point track;
- time neighbours: `locate_by_neighbours` with N geotagged and N untagged photos, photos per second;
- parsing and indexing (into the sorted numpy Track), side by side on the same generated files, min/median/max of
  --rounds rounds that interleave ours and the references: a 1 M-point GPX through `load_track` (target <= 3 s)
  against the standard library's iterparse loop on the same file (its result also checks ours) and gpxpy.parse
  (on a 100 k-point file, its rate extrapolated to 1 M unless --full-gpxpy), and a 1 M-record Takeout
  Records.json through `load_track` (streamed, target <= 5 s) against json.load of the same file (which only
  builds the Python objects, all in memory). Which reader took each file (or that the fast one declined) is printed.
Usage: python benchmarks/timesync_match.py [--photos N] [--track-points N] [--parse-points N] [--rounds N]
       [--full-gpxpy]
"""

from __future__ import annotations

import argparse
import bisect
import gc
import json
import logging
import math
import os
import statistics
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timezone
from pathlib import Path

import gpxpy.gpx
import numpy as np

from geotagger.geocore.timesync.match import match_times
from geotagger.geocore.timesync.neighbours import locate_by_neighbours
from geotagger.geocore.timesync.parsers import load_track
from geotagger.geocore.timesync.track import Track, make_track


def random_walk(points: int, seed: int = 0) -> Track:
    rng = np.random.default_rng(seed)
    times = 1.7e9 + np.arange(points, dtype=np.float64)
    return make_track(times, 46 + np.cumsum(rng.normal(0, 2e-5, points)), 7 + np.cumsum(rng.normal(0, 2e-5, points)))


def per_photo_loop(track: Track, photos: np.ndarray, max_gap_s: float = 1800) -> list[tuple[float, float] | None]:
    times, lat, lon = track.times_s.tolist(), track.lat.tolist(), track.lon.tolist()
    out: list[tuple[float, float] | None] = []
    for t in photos.tolist():
        j = bisect.bisect_right(times, t)
        if j == 0 or j == len(times) or times[j] - times[j - 1] > max_gap_s:
            out.append(None)
            continue
        f = (t - times[j - 1]) / (times[j] - times[j - 1])
        out.append(_slerp_scalar(lat[j - 1], lon[j - 1], lat[j], lon[j], f))
    return out


def _slerp_scalar(lat1: float, lon1: float, lat2: float, lon2: float, f: float) -> tuple[float, float]:
    p1, l1, p2, l2 = map(math.radians, (lat1, lon1, lat2, lon2))
    a = (math.cos(p1) * math.cos(l1), math.cos(p1) * math.sin(l1), math.sin(p1))
    b = (math.cos(p2) * math.cos(l2), math.cos(p2) * math.sin(l2), math.sin(p2))
    haversine = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin((l2 - l1) / 2) ** 2
    d = 2 * math.asin(math.sqrt(haversine))  # not acos of the dot product: that rounds metre-scale steps to 0
    if d < 1e-12:
        return lat1, lon1
    wa, wb = math.sin((1 - f) * d) / math.sin(d), math.sin(f * d) / math.sin(d)
    x, y, z = (wa * u + wb * v for u, v in zip(a, b, strict=True))
    return math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x))


def gpxpy_reference(track: Track, photos: np.ndarray) -> float:
    gpx = gpxpy.gpx.GPX()
    segment = gpxpy.gpx.GPXTrackSegment()
    for t, la, lo in zip(track.times_s, track.lat, track.lon, strict=True):
        segment.points.append(gpxpy.gpx.GPXTrackPoint(la, lo, time=datetime.fromtimestamp(t, timezone.utc)))
    gpx_track = gpxpy.gpx.GPXTrack()
    gpx_track.segments.append(segment)
    gpx.tracks.append(gpx_track)
    stamps = [datetime.fromtimestamp(t, timezone.utc) for t in photos]
    started = time.perf_counter()
    for stamp in stamps:
        gpx.get_location_at(stamp)
    return time.perf_counter() - started


def write_gpx_file(path: Path, points: int) -> None:
    """A GPX track of `points` 1 Hz points with elevation, as loggers write it (one point per line)."""
    track = random_walk(points, seed=1)
    stamps = np.array(track.times_s.astype(np.int64), dtype="datetime64[s]").astype(str)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write('<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="bench" '
                     'xmlns="http://www.topografix.com/GPX/1/1"><trk><name>walk</name><trkseg>\n')
        for stamp, la, lo in zip(stamps, track.lat.tolist(), track.lon.tolist(), strict=True):
            handle.write(f'<trkpt lat="{la:.7f}" lon="{lo:.7f}"><ele>500.0</ele><time>{stamp}Z</time></trkpt>\n')
        handle.write("</trkseg></trk></gpx>\n")


def write_records_file(path: Path, points: int) -> None:
    """A Takeout Records.json with `points` locations, pretty-printed, every tenth with an activity block."""
    track = random_walk(points, seed=4)
    stamps = np.array((track.times_s * 1000).astype(np.int64), dtype="datetime64[ms]").astype(str)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write('{\n  "locations": [')
        for index, (stamp, la, lo) in enumerate(zip(stamps, track.lat.tolist(), track.lon.tolist(), strict=True)):
            activity = ('"activity": [{"activity": [{"type": "STILL", "confidence": 100}], '
                        f'"timestamp": "{stamp}Z"}}],\n    ') if index % 10 == 0 else ""
            handle.write(f'{"," if index else ""}{{\n    "latitudeE7": {round(la * 1e7)},\n    "longitudeE7": '
                         f'{round(lo * 1e7)},\n    "accuracy": 12,\n    {activity}"source": "GPS",\n    '
                         f'"deviceTag": 1234567,\n    "timestamp": "{stamp}Z"\n  }}')
        handle.write("]\n}\n")


def timed(function: object) -> float:
    started = time.perf_counter()
    function()  # type: ignore[operator]
    return time.perf_counter() - started


def stats(seconds: list[float]) -> str:
    """min / median / max."""
    return f"{min(seconds):7.2f} {statistics.median(seconds):7.2f} {max(seconds):7.2f}"


GPX_NS = "{http://www.topografix.com/GPX/1/1}"


def iterparse_loop(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The straightforward streaming reading with the standard library: ElementTree.iterparse, one point at a time
    (float() of the attributes, datetime.fromisoformat of the time), each element cleared once read."""
    times, lat, lon = [], [], []
    for _, element in ElementTree.iterparse(path):
        if element.tag == GPX_NS + "trkpt":
            lat.append(float(element.get("lat", "nan")))
            lon.append(float(element.get("lon", "nan")))
            text = element.findtext(GPX_NS + "time") or ""
            times.append(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
            element.clear()
    return np.array(times), np.array(lat), np.array(lon)


class Messages(logging.Handler):
    """The readers' debug lines (which reader took a file, or that the fast one declined)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def parse_benchmark(points: int, full_gpxpy: bool, rounds: int) -> list[tuple[str, int, list[float]]]:
    """(label, points, seconds of each round) for ours and the references, on files written to a temporary
    folder; the rounds interleave ours and the references so that both see the same load."""
    times: dict[str, list[float]] = {}
    messages = Messages()
    logger = logging.getLogger("geotagger.geocore.timesync")
    logger.addHandler(messages)
    logger.setLevel(logging.DEBUG)
    with tempfile.TemporaryDirectory() as folder:
        gpx, records, small = Path(folder) / "big.gpx", Path(folder) / "Records.json", Path(folder) / "small.gpx"
        write_gpx_file(gpx, points)
        write_records_file(records, points)
        gpxpy_points = points if full_gpxpy else min(points, 100_000)
        write_gpx_file(small, gpxpy_points)
        sizes = (os.path.getsize(gpx) / 1e6, os.path.getsize(records) / 1e6)
        labels = {"ours_gpx": ("ours: load_track GPX (read, parse, index)", points),
                  "iterparse": ("ref: stdlib iterparse loop GPX", points),
                  "gpxpy": (f"ref: gpxpy.parse GPX ({gpxpy_points:,} points)", gpxpy_points),
                  "ours_records": ("ours: load_track Records.json (streamed)", points),
                  "json_load": ("ref: json.load Records.json (objects only)", points)}
        parsed: list[Track] = []
        reference: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        text = small.read_text(encoding="utf-8")
        for _ in range(rounds):
            times.setdefault("ours_gpx", []).append(timed(lambda: parsed.append(load_track(gpx))))
            times.setdefault("iterparse", []).append(timed(lambda: reference.append(iterparse_loop(gpx))))
            times.setdefault("gpxpy", []).append(timed(lambda: gpxpy.parse(text)))
            times.setdefault("ours_records", []).append(timed(lambda: parsed.append(load_track(records))))
            with open(records, encoding="utf-8") as handle:
                times.setdefault("json_load", []).append(timed(lambda: json.load(handle)))  # noqa: B023
            del parsed[2:], reference[1:]
            gc.collect()
        ours, (ref_times, ref_lat, ref_lon) = parsed[0], reference[0]
        assert len(ours) == points and len(parsed[1]) == points
        worst = max(np.abs(ours.times_s - ref_times).max(), np.abs(ours.lat - ref_lat).max(),
                    np.abs(ours.lon - ref_lon).max())
    logger.removeHandler(messages)
    print(f"files: GPX {sizes[0]:.0f} MB, Records.json {sizes[1]:.0f} MB; largest |ours - iterparse| over time, lat, "
          f"lon: {worst:.1e}")
    for line in sorted(set(messages.lines)):
        print("reader:", line.replace(folder, "<tmp>"))
    return [(*labels[key], seconds) for key, seconds in times.items()]


def print_parsing(parsing: list[tuple[str, int, list[float]]]) -> None:
    print(f"{'parse + index':44s} {'points':>9s} {'min':>7s} {'median':>7s} {'max':>7s} {'median s/1M':>11s}"
          f" {'ref/ours':>8s}")
    ours = {"GPX": 0.0, "Records.json": 0.0}
    for label, points, seconds in parsing:
        per_million = statistics.median(seconds) * 1e6 / points
        kind = "GPX" if "GPX" in label else "Records.json"
        if label.startswith("ours"):
            ours[kind] = per_million
        ratio = f"{per_million / ours[kind]:8.1f}" if not label.startswith("ours") and ours[kind] else ""
        print(f"{label:44s} {points:9,d} {stats(seconds)} {per_million:11.2f} {ratio:>8s}")
    print("targets: 1 M-point GPX <= 3 s, 1 M-point Records.json <= 5 s (gpxpy: its median per 1 M extrapolated "
          "from the smaller file unless --full-gpxpy)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--track-points", type=int, default=1_000_000)
    parser.add_argument("--parse-points", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--full-gpxpy", action="store_true", help="time gpxpy on the full file (minutes)")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    track = random_walk(args.track_points)
    rng = np.random.default_rng(2)
    photos = rng.uniform(track.start_s, track.end_s, args.photos)

    ours_s: list[float] = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        ours = match_times(track, photos)
        ours_s.append(time.perf_counter() - started)
    loop_photos = photos[: max(1, args.photos // 10)]
    started = time.perf_counter()
    loop = per_photo_loop(track, loop_photos)
    loop_s = time.perf_counter() - started
    worst_deg = max(abs(p[0] - ours.lat[i]) + abs(p[1] - ours.lon[i]) for i, p in enumerate(loop) if p)
    small = random_walk(20_000)
    gpxpy_photos = rng.uniform(small.start_s, small.end_s, 200)
    gpxpy_s = gpxpy_reference(small, gpxpy_photos)
    neighbours = random_walk(args.photos, seed=3)  # as many geotagged phone photos as camera photos, 1 s apart
    neighbours_s: list[float] = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        located = locate_by_neighbours(neighbours, rng.uniform(neighbours.start_s, neighbours.end_s, args.photos))
        neighbours_s.append(time.perf_counter() - started)
    assert located.matched.all()

    ours_rate = args.photos / statistics.median(ours_s)
    loop_rate, gpxpy_rate = len(loop_photos) / loop_s, len(gpxpy_photos) / gpxpy_s
    print(f"track {len(track):,} points, {args.photos:,} photos; match times min/median/max {stats(ours_s)} s")
    print(f"{'':38s} {'photos/s':>12s} {'ratio ours/ref':>15s}")
    print(f"{'ours: match_times (vectorised)':38s} {ours_rate:12,.0f} {'':>15s}")
    print(f"{'ref: per-photo bisect + slerp loop':38s} {loop_rate:12,.0f} {ours_rate / loop_rate:15.1f}")
    print(f"{'ref: gpxpy get_location_at (20k track)':38s} {gpxpy_rate:12,.0f} {ours_rate / gpxpy_rate:15.1f}")
    print(f"{'ours: locate_by_neighbours':38s} {args.photos / statistics.median(neighbours_s):12,.0f} {'':>15s}")
    print(f"largest |ours - loop| position difference: {worst_deg:.2e} degrees")
    print_parsing(parse_benchmark(args.parse_points, args.full_gpxpy, args.rounds))
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
