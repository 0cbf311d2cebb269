"""Sub-commands `geotag sync-track` and `geotag sync-neighbours`: locations from time, stored as proposals.

Both scan the folders into the library cache, place the photos without GPS (geocore.timesync), and store one
proposal per located photo (source gps_track or time_neighbour, with its radius and a note saying how it was
found). The fusion rule (geocore.fusion) against the photo's other decisions sets the review flag; with
`--accept` an unflagged proposal that the rule chooses is accepted, so that `geotag write` writes it (otherwise
`geotag write --all-proposed`). Re-running replaces this source's earlier proposals (they become rejected);
accepted ones only when `--accept` is given again.

Matching follows exiftool's options: `--offset` is -geosync (added to every photo's time, "+1:00:00" or
"IMAGE_TIME@GPS_TIME"), `--exiftool-limits` sets GeoMaxIntSecs / GeoMaxExtSecs to exiftool's 1800 s,
`--max-hdop` / `--min-sats` are GeoMaxHDOP / GeoMinSats. Per-camera zones and clock offsets (given, or measured
from --reference photos) are remembered in the per-user clock.json (geocore.timesync.clock_store) and used by
later runs and by the app; `--no-remember` leaves that file alone.
Exit status: 0 done, 1 when a track file could not be read, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from geotagger.geocore.cli.library_commands import add_db_option, open_session
from geotagger.geocore.cli.output import MODE, print_json, result_document
from geotagger.geocore.timesync.clock import ClockSettings, parse_duration_s, parse_geosync_s, zone
from geotagger.geocore.timesync.clock_store import load_clock, save_clock
from geotagger.geocore.timesync.match import EXIFTOOL_MAX_EXT_S, EXIFTOOL_MAX_INT_S
from geotagger.geocore.timesync.parsers import TRACK_SUFFIXES
from geotagger.geocore.timesync.store import timed_photo
from geotagger.geocore.timesync.sync import (
    TimedPhoto,
    estimate_offsets_from_pairs,
    offset_from_reference_place,
    offset_from_reference_time,
    with_clock_offsets,
)
from geotagger.geocore.timesync.track import Track
from geotagger.geocore.workflow.syncing import TimeOptions

if TYPE_CHECKING:
    from geotagger.geocore.library.records import PhotoRecord
    from geotagger.geocore.workflow.results import TrackSyncResult


class UsageError(ValueError):
    """A bad command line: printed, exit status 2."""


def _pairs(values: Iterable[str], option: str) -> list[tuple[str, str]]:
    """'KEY=VALUE' strings split at the last '=' (camera names and paths may hold '=' less often than values)."""
    out = []
    for value in values:
        key, separator, rest = value.rpartition("=")
        if not separator or not key.strip() or not rest.strip():
            raise UsageError(f"{option} wants KEY=VALUE, got {value!r}")
        out.append((key.strip(), rest.strip()))
    return out


def settings_from_args(args: argparse.Namespace) -> ClockSettings:
    """Camera zones and clock offsets from the command line; UsageError when one is unreadable."""
    try:
        if args.camera_tz:
            zone(args.camera_tz)
        zones = dict(_pairs(args.camera_tz_for, "--camera-tz-for"))
        for name in zones.values():
            zone(name)
    except ValueError as error:
        raise UsageError(str(error)) from error
    try:
        offsets = {camera: parse_duration_s(text) for camera, text in _pairs(args.clock_offset, "--clock-offset")}
    except ValueError as error:
        raise UsageError(f"--clock-offset: {error}") from error
    return ClockSettings(camera_zone=args.camera_tz, camera_zones=zones, clock_offsets_s=offsets)


def split_inputs(paths: Sequence[str], tracks_given: Sequence[str] = ()) -> tuple[list[Path], list[Path]]:
    """Track files (by suffix, plus the --tracks files and folders) and photos (files or folders); UsageError
    for a path that is neither or when no photo is named."""
    tracks, photos = [Path(raw) for raw in tracks_given], []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            photos.append(path)
        elif path.suffix.lower() in TRACK_SUFFIXES:
            tracks.append(path)  # a missing track file is reported by the parser, the batch goes on
        elif path.is_file():
            photos.append(path)  # a photo the scanner cannot read says so in its own line
        else:
            raise UsageError(f"{raw}: no such photo, folder or track file ({', '.join(sorted(TRACK_SUFFIXES))})")
    if not photos:
        raise UsageError("give at least one photo or folder of photos")
    return tracks, photos


def _photo_for(photos: dict[str, PhotoRecord], raw: str, option: str) -> TimedPhoto:
    wanted = str(Path(raw).absolute())
    for record in photos.values():
        if record.path == wanted:
            photo = timed_photo(record)
            return TimedPhoto(record.path, photo.capture, photo.lat, photo.lon)  # messages name the file
    raise UsageError(f"{option}: {raw} is not a readable photo under the folders given")


def _reference_time_s(text: str) -> float:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise UsageError(f"--reference time {text!r} needs a UTC offset, e.g. 2024-05-01T10:15:30+02:00")
    return moment.timestamp()


def apply_references(args: argparse.Namespace, photos: dict[str, PhotoRecord], settings: ClockSettings,
                     track: Track | None) -> ClockSettings:
    """Clock offsets from reference photos (--reference PHOTO=TIME, --reference-place PHOTO=LAT,LON, --pair)."""
    offsets: dict[str, float] = {}
    try:
        for raw, text in _pairs(args.reference, "--reference"):
            photo = _photo_for(photos, raw, "--reference")
            offsets[photo.capture.camera if photo.capture else ""] = offset_from_reference_time(
                photo, _reference_time_s(text), settings)
        for raw, text in _pairs(getattr(args, "reference_place", []), "--reference-place"):
            photo = _photo_for(photos, raw, "--reference-place")
            lat, lon = (float(part) for part in text.split(","))
            assert track is not None  # --reference-place exists only for sync-track
            offsets[photo.capture.camera if photo.capture else ""] = offset_from_reference_place(
                photo, lat, lon, track, settings)
        pairs = [(_photo_for(photos, a, "--pair"), _photo_for(photos, b, "--pair"))
                 for a, b in _pairs(getattr(args, "pair", []), "--pair")]
        estimates = estimate_offsets_from_pairs(pairs, settings)
    except ValueError as error:
        raise UsageError(str(error)) from error
    for camera, offset_s in offsets.items():
        say(f"clock offset of {camera!r}: {offset_s:+.0f} s")
    for camera, estimate in estimates.items():
        offsets[camera] = estimate.offset_s
        say(f"clock offset of {camera!r} from {estimate.pair_count} pairs: {estimate.offset_s:+.0f} s "
            f"(spread {estimate.spread_s:.0f} s)")
    return with_clock_offsets(settings, offsets)


def say(*text: object) -> None:
    """A line for the user: on stdout, or on stderr when stdout carries the --json document."""
    print(*text, file=sys.stderr if MODE.json else sys.stdout)


def print_sync(result: TrackSyncResult) -> None:
    """One line per photo (located, REVIEW, unlocated, FAILED), the cameras seen, hints and the summary; with
    --json the same as one JSON document."""
    if MODE.json:
        print_json(result_document(result, placed=result.placed, to_review=result.to_review,
                                   unlocated=len(result.unlocated), track_files=result.track_files,
                                   track_points=result.track_points, cameras=dict(result.cameras)))
        return
    for outcome in result.outcomes:
        if outcome.failed:
            print(f"{'FAILED':12} {outcome.path}: {outcome.reason}")
        elif outcome.kind == "unlocated":
            print(f"{'unlocated':12} {outcome.path}: {outcome.reason}")
        elif outcome.payload is not None:
            placed = outcome.payload
            label = "REVIEW" if placed["review"] else "located"
            altitude = f", altitude {placed['altitude_m']:.0f} m" if placed["altitude_m"] is not None else ""
            print(f"{label:12} {outcome.path}: {placed['lat']:.6f}, {placed['lon']:.6f}{altitude} "
                  f"±{placed['radius_km'] * 1000:.0f} m ({outcome.reason})")
    if result.cameras:
        print("cameras (names for --clock-offset, --camera-tz-for): "
              + ", ".join(f"{name!r} {count}" for name, count in sorted(result.cameras.items())))
    for note in result.notes:
        print(note)
    located = result.placed + len(result.unlocated)
    print(f"{result.operation}: {located} photos without GPS, {result.placed} located ({result.to_review} to review), "
          f"{len(result.unlocated)} unlocated" + (" (dry run, nothing stored)" if result.dry_run else ""))


def warn_unknown_cameras(given: ClockSettings, cameras: dict[str, int]) -> None:
    """A warning for each camera named on the command line that no photo of this run came from (a typo, or the
    wrong case: names match exactly), with the name it most likely meant."""
    if not cameras:
        return
    for option, names in (("--clock-offset", given.clock_offsets_s), ("--camera-tz-for", given.camera_zones)):
        for name in names:
            if name in cameras:
                continue
            meant = [seen for seen in cameras if seen.casefold() == name.casefold()]
            hint = f"; did you mean {meant[0]!r}?" if meant else f" (cameras here: {', '.join(map(repr, cameras))})"
            print(f"warning: {option} {name!r}: no photo of this run is from that camera{hint}", file=sys.stderr)


def _options(args: argparse.Namespace, settings: ClockSettings, used: list[ClockSettings]) -> TimeOptions:
    """The TimeOptions of the command line; `used` receives the clock settings the run ends up with."""
    def adjust(records: dict[str, PhotoRecord], track: Track | None, clock: ClockSettings) -> ClockSettings:
        adjusted = apply_references(args, records, clock, track)
        used.append(adjusted)
        return adjusted

    try:
        global_offset_s = parse_geosync_s(args.offset) if args.offset else 0.0
    except ValueError as error:
        raise UsageError(f"--offset: {error}") from error
    exiftool = getattr(args, "exiftool_limits", False)
    max_gap_s = args.max_gap_min * 60.0 if args.max_gap_min is not None else (
        EXIFTOOL_MAX_INT_S if exiftool else None)
    max_snap_s = getattr(args, "max_snap_s", None)
    max_snap_s = max_snap_s if max_snap_s is not None else (EXIFTOOL_MAX_EXT_S if exiftool else 60.0)
    return TimeOptions(settings, max_gap_s, max_snap_s, not getattr(args, "no_altitude", False), adjust,
                       global_offset_s=global_offset_s, bridge_segments=getattr(args, "bridge_segments", False),
                       max_hdop=getattr(args, "max_hdop", None), min_satellites=getattr(args, "min_sats", None))


def _remember(args: argparse.Namespace, given: ClockSettings, used: list[ClockSettings]) -> None:
    """Keep the per-camera settings this run was given or measured, for later runs and the app."""
    if args.no_remember or args.dry_run:
        return
    measured = used[-1] if used else given
    changed = ClockSettings(given.camera_zone, dict(given.camera_zones),
                            {**given.clock_offsets_s, **measured.clock_offsets_s})
    if not (changed.camera_zone or changed.camera_zones or changed.clock_offsets_s):
        return
    path = save_clock(changed.remembered(load_clock()))
    say(f"remembered the camera clock settings in {path}")


def _usage_errors(command: str, work: Callable[[], int]) -> int:
    """Run a command's `work`; a UsageError is printed under the command's name and gives exit status 2."""
    try:
        return work()
    except UsageError as error:
        print(f"{command}: {error}", file=sys.stderr)
        return 2


def _sync_track(args: argparse.Namespace) -> int:
    return _usage_errors("sync-track", lambda: _place_on_track(args))


def _place_on_track(args: argparse.Namespace) -> int:
    given = settings_from_args(args)
    track_paths, folders = split_inputs(args.paths, args.tracks)
    if not track_paths:
        raise UsageError("give at least one track file (or --tracks FOLDER)")
    used: list[ClockSettings] = []
    with open_session(args) as session:
        result = session.sync_tracks(track_paths, folders, _options(args, given.remembered(load_clock()), used),
                                     accept=args.accept, dry_run=args.dry_run)
    if not result.track_files:
        for outcome in result.failed:
            say(f"{'FAILED':12} {outcome.path}: {outcome.reason}")
        print("sync-track: no usable track", file=sys.stderr)
        return 1
    print_sync(result)
    warn_unknown_cameras(given, result.cameras)
    _remember(args, given, used)
    return 1 if any(o.kind == "unreadable track" for o in result.failed) else 0


def _sync_neighbours(args: argparse.Namespace) -> int:
    return _usage_errors("sync-neighbours", lambda: _place_by_neighbours(args))


def _place_by_neighbours(args: argparse.Namespace) -> int:
    given = settings_from_args(args)
    _, folders = split_inputs(args.folders)
    used: list[ClockSettings] = []
    with open_session(args) as session:
        result = session.sync_neighbours(folders, _options(args, given.remembered(load_clock()), used),
                                         accept=args.accept, dry_run=args.dry_run)
    print_sync(result)
    warn_unknown_cameras(given, result.cameras)
    _remember(args, given, used)
    return 0


def non_negative_float(text: str) -> float:
    """An argparse type: a finite number >= 0 (a negative or NaN limit would silently match nothing)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, not {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {text!r}")
    return value


def _time_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-gap-min", type=non_negative_float, default=None,
                        help="longest time between two points (or from a neighbour) that is bridged (default 30; "
                             "exiftool's GeoMaxIntSecs)")
    parser.add_argument("--offset", "--geosync", default=None, metavar="OFFSET",
                        help="add OFFSET to every photo's time, exiftool -geosync syntax: [+-][[[DD ]HH:]MM:]SS[.ss] "
                             "or IMAGE_TIME@GPS_TIME (on top of --clock-offset)")
    parser.add_argument("--no-remember", action="store_true",
                        help="do not remember the camera zones and clock offsets of this run (clock.json)")
    parser.add_argument("--camera-tz", default=None, metavar="ZONE",
                        help="IANA zone of the camera clock for photos without OffsetTimeOriginal (Europe/Berlin)")
    parser.add_argument("--camera-tz-for", action="append", default=[], metavar="CAMERA=ZONE",
                        help="zone of one camera ('Make Model' as printed); repeatable")
    parser.add_argument("--clock-offset", action="append", default=[], metavar="CAMERA=OFFSET",
                        help="add OFFSET (seconds or [+-]H:MM:SS) to this camera's clock; repeatable")
    parser.add_argument("--reference", action="append", default=[], metavar="PHOTO=TIME",
                        help="this photo was taken at TIME (ISO 8601 with offset): sets its camera's clock offset")
    parser.add_argument("--accept", action="store_true",
                        help="accept proposals the fusion rule chooses and does not flag (then `geotag write`)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be proposed, store nothing")
    add_db_option(parser)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands."""
    track = subparsers.add_parser("sync-track", help="place photos on GPS tracks and location histories by time")
    track.add_argument("paths", nargs="+", metavar="TRACK_OR_PHOTO",
                       help="track files (GPX, KML, KMZ, GeoJSON, Takeout JSON, TCX, NMEA, IGC, FIT, CSV), photos "
                            "and photo folders")
    track.add_argument("--tracks", action="append", default=[], metavar="PATH",
                       help="a track file or a folder of track files (any depth, any mix of formats); repeatable")
    track.add_argument("--max-snap-s", "--max-ext-s", type=non_negative_float, default=None,
                       help="outside the bridged gaps, use a track point at most this many seconds away (default 60; "
                            "exiftool's GeoMaxExtSecs)")
    track.add_argument("--exiftool-limits", action="store_true",
                       help="exiftool's defaults GeoMaxIntSecs = GeoMaxExtSecs = 1800 s (unless given)")
    track.add_argument("--bridge-segments", action="store_true",
                       help="interpolate across track segment breaks and between files too")
    track.add_argument("--max-hdop", type=non_negative_float, default=None,
                       help="leave out fixes with a larger HDOP (GeoMaxHDOP)")
    track.add_argument("--min-sats", type=non_negative_int, default=None,
                       help="leave out fixes with fewer satellites (GeoMinSats)")
    track.add_argument("--no-altitude", action="store_true", help="do not propose altitudes from the track")
    track.add_argument("--reference-place", action="append", default=[], metavar="PHOTO=LAT,LON",
                       help="this photo was taken here: the track says when, which sets its camera's clock offset")
    _time_options(track)
    track.set_defaults(handler=_sync_track)

    neighbours = subparsers.add_parser("sync-neighbours",
                                       help="place photos without GPS between geotagged photos taken near in time")
    neighbours.add_argument("folders", nargs="+", metavar="PHOTO_OR_FOLDER")
    neighbours.add_argument("--pair", action="append", default=[], metavar="CAMERA_PHOTO=REFERENCE_PHOTO",
                            help="the same scene shot by a camera and a geotagged phone: estimates the camera's "
                                 "clock offset (median over pairs); repeatable")
    _time_options(neighbours)
    neighbours.set_defaults(handler=_sync_neighbours)
