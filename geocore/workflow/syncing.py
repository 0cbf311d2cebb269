"""The time use cases: photos placed on GPS tracks and between geotagged photos taken near in time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from geotagger.geocore.fusion import LocationProposal
from geotagger.geocore.library.decisions import Proposal
from geotagger.geocore.timesync.clock import ClockSettings, camera_key, format_duration
from geotagger.geocore.timesync.clock_store import load_clock
from geotagger.geocore.timesync.limits import (
    DEFAULT_MAX_GAP_S,
    DEFAULT_MAX_SNAP_S,
    DEFAULT_NEIGHBOUR_GAP_S,
    EXIFTOOL_MAX_EXT_S,
    EXIFTOOL_MAX_INT_S,
)
from geotagger.geocore.vocabulary import DecisionState, Source
from geotagger.geocore.workflow.evidence import assess, visual_evidence
from geotagger.geocore.workflow.results import Outcome, Reporter, Status, TrackSyncResult

if TYPE_CHECKING:  # the track code (NumPy) is imported by the methods that read or match tracks
    from geotagger.geocore.library.api import Library
    from geotagger.geocore.library.records import DecisionRecord, PhotoRecord
    from geotagger.geocore.timesync.points import TrackFormatError
    from geotagger.geocore.timesync.sync import SyncResult
    from geotagger.geocore.timesync.track import Track
    from geotagger.geocore.workflow.evidence import Assessment
    from geotagger.geocore.workflow.session import Selection

# Clock offsets a caller derives once the photos and the track are known (reference photos, pairs): the CLI's
# --reference options. Gets the photos by id (as text) and the track (None for neighbours).
ClockAdjuster = Callable[[dict[str, "PhotoRecord"], "Track | None", ClockSettings], ClockSettings]


@dataclass(frozen=True)
class Reference:
    """A reference photo: the true time it was taken (UTC seconds) or the place (the track says when)."""

    photo: str | int  # a path, or a photo id
    true_utc_s: float | None = None
    place: tuple[float, float] | None = None


@dataclass
class TimeOptions:
    """How capture times meet positions.

    Attributes:
        clock: camera zones and per-camera clock offsets.
        global_offset_s: added to every photo's time (exiftool -geosync), on top of the per-camera offsets.
        references: reference photos; each sets its camera's whole clock offset (global offset included).
        max_gap_s: longest interval between two points that is interpolated (exiftool GeoMaxIntSecs); None: the
            source's default (30 min).
        max_snap_s: farthest point in time used outside those intervals (exiftool GeoMaxExtSecs); 60 s here,
            1800 s with `exiftool()`.
        bridge_segments: interpolate across segment breaks (and between files) too.
        max_hdop, min_satellites: leave out fixes worse than this where the track states it (GeoMaxHDOP,
            GeoMinSats).
        altitude: propose altitudes (tracks, and neighbours when both have one).
        adjust_clock: a caller's hook deriving clock offsets once photos and track are known (the CLI's --pair).
    """

    clock: ClockSettings = field(default_factory=ClockSettings)
    max_gap_s: float | None = None
    max_snap_s: float = DEFAULT_MAX_SNAP_S
    altitude: bool = True
    adjust_clock: ClockAdjuster | None = None
    global_offset_s: float = 0.0
    references: tuple[Reference, ...] = ()
    bridge_segments: bool = False
    max_hdop: float | None = None
    min_satellites: int | None = None

    @classmethod
    def exiftool(cls, **changes: object) -> TimeOptions:
        """exiftool's defaults: GeoMaxIntSecs = GeoMaxExtSecs = 1800 s."""
        options = cls(max_gap_s=EXIFTOOL_MAX_INT_S, max_snap_s=EXIFTOOL_MAX_EXT_S)
        for name, value in changes.items():
            setattr(options, name, value)
        return options

    def clock_settings(self) -> ClockSettings:
        """The clock settings with the global offset in."""
        clock = self.clock
        return ClockSettings(clock.camera_zone, dict(clock.camera_zones), dict(clock.clock_offsets_s),
                             clock.default_clock_offset_s, clock.global_offset_s + self.global_offset_s)


@dataclass
class SyncPreview:
    """How many photos the current settings place (the GUI's live count), and the track's span."""

    photos: int = 0
    matched: int = 0
    interpolated: int = 0
    no_time: int = 0
    track_points: int = 0
    problems: list[str] = field(default_factory=list)
    cameras: dict[str, tuple[int, int]] = field(default_factory=dict)  # camera -> (photos without GPS, matched)
    median_error_m: float | None = None  # track against the geotagged photos (phones) at their times
    checked: int = 0  # how many geotagged photos that median is over


class TimeUseCases:
    """Mixed into Session."""

    library: Library
    clock_path: Path | None = None  # the remembered clock settings (clock.json); None: clock_store's own file

    def default_time_options(self) -> TimeOptions:
        """The options of a sync that is given none (the GUI before its sync dialog was opened, a scan's neighbour
        sync): the defaults with the per-camera clock offsets and zones remembered in the clock store, read
        afresh, so that a camera's clock set once (in the dialog or by the CLI) counts in every later run."""
        return TimeOptions(clock=load_clock(self.clock_path))

    if TYPE_CHECKING:
        def select(self, paths: Iterable[Path | str], *, scan_folders: bool = True,
                   include_hidden: bool = False) -> Selection: ...
        def refuse(self, photo_ids: Iterable[int]) -> dict[int, Assessment]: ...
        def records(self, photo_ids: Iterable[int]) -> list[PhotoRecord]: ...
        def _emit_views(self, reporter: Reporter, photo_ids: Iterable[int]) -> None: ...
        def _assessments(self, photo_ids: list[int]) -> dict[int, Assessment]: ...

    def sync_tracks(self, track_paths: Iterable[Path | str], photos: Iterable[Path | str] = (),
                    options: TimeOptions | None = None, reporter: Reporter | None = None, *,
                    photo_ids: Iterable[int] | None = None, accept: bool = False,
                    dry_run: bool = False) -> TrackSyncResult:
        """Place the given photos without GPS on these tracks (files or folders of them, any mix of formats) by
        capture time."""
        from geotagger.geocore.timesync.parsers import expand_track_paths
        from geotagger.geocore.timesync.store import timed_photo
        from geotagger.geocore.timesync.sync import propose_from_track, suggest_offsets

        options, reporter = options or self.default_time_options(), reporter or Reporter()
        result = TrackSyncResult("sync-track", dry_run=dry_run)
        paths = expand_track_paths(track_paths)
        reporter.progress(0, 3, f"Reading {len(paths)} track file(s)")
        track, files, errors = self.load_track_set(paths, options)
        for error in errors:
            self._outcome(result, reporter, Outcome(error.path, Status.FAILED, "unreadable track", error.reason))
        if track is None:
            return result
        result.track_files, result.track_points = files, len(track)
        result.notes.append(f"track: {len(track)} points from {files} file(s), {_utc(track.start_s)} to "
                            f"{_utc(track.end_s)} UTC")
        result.notes += list(track.notes)
        records = self._photos_to_place(photos, photo_ids, result, reporter)
        clock = self._clock_for(records, track, options, result, reporter)
        timed = [timed_photo(record) for record in records.values()]
        max_gap = options.max_gap_s if options.max_gap_s is not None else DEFAULT_MAX_GAP_S
        reporter.progress(1, 3, f"Matching {len(timed)} photos to {len(track)} track points")
        found = propose_from_track(timed, track, clock, max_gap, options.max_snap_s, options.altitude,
                                   bridge_segments=options.bridge_segments)
        for hint in suggest_offsets(timed, track, found, max_gap, options.max_snap_s, options.bridge_segments):
            extra = clock.clock_offset_s(hint.camera) - clock.global_offset_s + hint.offset_s
            result.notes.append(f"hint: {hint.matched_with_hint} of {hint.photo_count} photos of {hint.camera!r} "
                                f"would meet the track (now {hint.matched_now}) with --clock-offset "
                                f"'{hint.camera}={format_duration(extra)}'")
        if reporter.cancelled:
            result.cancelled = True
            return result
        reporter.progress(2, 3, f"Storing {len(found.proposals)} proposals")
        self._settle(found, records, result, reporter, accept, Source.GPS_TRACK)
        reporter.progress(3, 3, result.text())
        return result

    def preview_tracks(self, track_paths: Iterable[Path | str], photo_ids: Iterable[int],
                       options: TimeOptions | None = None) -> SyncPreview:
        """How many of these photos the options would place on the tracks; stores nothing (the GUI's live count).
        Tracks are read once and kept while their files do not change, so a preview per keystroke is cheap."""
        from geotagger.geocore.timesync.parsers import expand_track_paths
        from geotagger.geocore.timesync.store import estimated_by_us, timed_photo
        from geotagger.geocore.timesync.sync import check_against_geotagged, propose_from_track

        options = options or self.default_time_options()
        paths = expand_track_paths(track_paths)
        track, _, errors = self.load_track_set(paths, options) if paths else (None, 0, [])
        preview = SyncPreview(problems=[str(error) for error in errors])
        records = {str(r.id): r for r in self.records(dict.fromkeys(photo_ids)) if not r.error_kind}
        placing = {key: record for key, record in records.items() if not record.has_gps}
        timed = [timed_photo(record) for record in placing.values()]
        preview.photos = len(timed)
        preview.no_time = sum(photo.capture is None for photo in timed)
        matched: set[str] = set()
        if track is not None:
            scratch = TrackSyncResult("preview", dry_run=True)
            clock = self._clock_for(records, track, options, scratch, Reporter())
            preview.problems += [f"{o.path}: {o.reason}" for o in scratch.outcomes]
            max_gap = options.max_gap_s if options.max_gap_s is not None else DEFAULT_MAX_GAP_S
            found = propose_from_track(timed, track, clock, max_gap, options.max_snap_s, False,
                                       bridge_segments=options.bridge_segments)
            matched = set(found.proposals)
            preview.matched, preview.track_points = len(found.proposals), len(track)
            preview.interpolated = sum(p.note.startswith("track interpolated") for p in found.proposals.values())
            excluded = estimated_by_us(self.library)  # positions we wrote from estimates prove nothing
            geotagged = [timed_photo(r) for key, r in records.items() if r.has_gps and key not in excluded]
            check = check_against_geotagged(geotagged, track, clock, max_gap, options.max_snap_s,
                                            options.bridge_segments)
            if check is not None:
                preview.median_error_m, preview.checked = check.median_error_m, check.photo_count
        counts: dict[str, list[int]] = {}
        for key, record in placing.items():
            entry = counts.setdefault(camera_key(record.make, record.model), [0, 0])
            entry[0] += 1
            entry[1] += key in matched
        preview.cameras = {camera: (total, hits) for camera, (total, hits) in sorted(counts.items())}
        return preview

    def load_track_set(self, paths: list[Path], options: TimeOptions
                       ) -> tuple[Track | None, int, list[TrackFormatError]]:
        """The tracks of these files as one (quality filters applied), how many files it has, the errors."""
        from geotagger.geocore.timesync.parsers import load_track
        from geotagger.geocore.timesync.points import TrackFormatError
        from geotagger.geocore.timesync.track import filter_quality, merge_tracks

        cache: dict[Path, tuple[tuple[int, int], Track]] = self.__dict__.setdefault("_track_cache", {})
        tracks, errors = [], []
        for path in paths:
            try:
                stat = path.stat()
                key = (stat.st_mtime_ns, stat.st_size)
                cached = cache.get(path)
                if cached is None or cached[0] != key:
                    if len(cache) > 64:
                        cache.clear()
                    cache[path] = cached = (key, load_track(path))
                tracks.append(cached[1])
            except OSError as error:
                errors.append(TrackFormatError(path, f"cannot read: {error.strerror or error}"))
            except TrackFormatError as error:
                errors.append(error)
        if not tracks:
            return None, 0, errors
        merged = merge_tracks(tracks)
        filtered = filter_quality(merged, options.max_hdop, options.min_satellites)
        if filtered is None:
            errors.append(TrackFormatError(paths[0] if len(paths) == 1 else "tracks",
                                           "no point left after the HDOP/satellite filters"))
            return None, 0, errors
        return filtered, len(tracks), errors

    def _clock_for(self, records: dict[str, PhotoRecord], track: Track | None, options: TimeOptions,
                   result: TrackSyncResult, reporter: Reporter) -> ClockSettings:
        """The clock settings for this run: the options' (global offset in), reference photos, the caller's hook."""
        from geotagger.geocore.timesync.store import timed_photo
        from geotagger.geocore.timesync.sync import (
            TimedPhoto,
            offset_from_reference_place,
            offset_from_reference_time,
            with_clock_offsets,
        )

        clock = options.clock_settings()
        offsets: dict[str, float] = {}
        for reference in options.references:
            record = _find(records, reference.photo)
            name = str(reference.photo)
            try:
                if record is None:
                    raise ValueError("not among the photos being placed")
                photo = timed_photo(record)
                photo = TimedPhoto(record.path, photo.capture, photo.lat, photo.lon)
                camera = photo.capture.camera if photo.capture else ""
                if reference.true_utc_s is not None:
                    offsets[camera] = offset_from_reference_time(photo, reference.true_utc_s, clock)
                elif reference.place is not None and track is not None:
                    offsets[camera] = offset_from_reference_place(photo, *reference.place, track, clock)
                else:
                    raise ValueError("a reference needs a time, or a place and a track")
                result.notes.append(f"clock offset of {camera!r} from {Path(record.path).name}: "
                                    f"{format_duration(offsets[camera])}")
            except ValueError as error:
                self._outcome(result, reporter, Outcome(name, Status.FAILED, "reference", str(error)))
        clock = with_clock_offsets(clock, offsets) if offsets else clock
        return options.adjust_clock(records, track, clock) if options.adjust_clock else clock

    def sync_neighbours(self, photos: Iterable[Path | str] = (), options: TimeOptions | None = None,
                        reporter: Reporter | None = None, *, photo_ids: Iterable[int] | None = None,
                        accept: bool = False, dry_run: bool = False) -> TrackSyncResult:
        """Place the given photos without GPS between the given photos with GPS taken near in time (never leaning
        on a position we wrote from an estimate)."""
        from geotagger.geocore.timesync.store import estimated_by_us, timed_photo
        from geotagger.geocore.timesync.sync import propose_from_neighbours

        options, reporter = options or self.default_time_options(), reporter or Reporter()
        result = TrackSyncResult("sync-neighbours", dry_run=dry_run)
        records = self._photos_to_place(photos, photo_ids, result, reporter)
        clock = self._clock_for(records, None, options, result, reporter)
        excluded = estimated_by_us(self.library)
        usable = [timed_photo(record) for key, record in records.items() if key not in excluded]
        max_gap = options.max_gap_s if options.max_gap_s is not None else DEFAULT_NEIGHBOUR_GAP_S
        found = propose_from_neighbours(usable, clock, max_gap, with_altitude=options.altitude)
        self._settle(found, records, result, reporter, accept, Source.TIME_NEIGHBOUR)
        return result

    def _photos_to_place(self, photos: Iterable[Path | str], photo_ids: Iterable[int] | None,
                         result: TrackSyncResult, reporter: Reporter) -> dict[str, PhotoRecord]:
        """The readable photos named (by path or id), keyed by id as text (timesync's key)."""
        if photo_ids is not None:
            records = self.library.photos_in_order(photo_ids)  # one query per 500, not per photo
        else:
            selection = self.select(photos)
            records = selection.records
            for problem in selection.problems:
                self._outcome(result, reporter, problem)
        return {str(record.id): record for record in records if not record.error_kind}

    @staticmethod
    def _outcome(result: TrackSyncResult, reporter: Reporter, outcome: Outcome) -> None:
        result.outcomes.append(outcome)
        reporter.outcome(outcome)

    def _settle(self, found: SyncResult, records: dict[str, PhotoRecord], result: TrackSyncResult,
                reporter: Reporter, accept: bool, source: Source) -> None:
        """Store the placements (unless a dry run), run the fusion rule, report every photo."""
        proposals = {int(key): proposal for key, proposal in found.proposals.items()}
        # A track position is the fix at the photo's instant: written as GPSDateStamp/GPSTimeStamp (UTC)
        fix_times = {int(key): found.times[key].utc_s for key in found.proposals
                     if source is Source.GPS_TRACK and key in found.times}
        ids = list(proposals)
        stored: dict[int, int] = {}
        if result.dry_run:
            assessments = self._assessments(ids)
        else:  # storing runs the fusion rule over the stored decisions: its word is the one reported
            stored, assessments = self.store_proposals(source, proposals, accept, fix_times)
        for photo_id, proposal in sorted(proposals.items(), key=lambda item: records[str(item[0])].path):
            decision_id = stored.get(photo_id)
            review, reason = assessments[photo_id].flag(decision_id) if decision_id else (False, "")
            result.placed += 1
            result.to_review += review
            note = "; ".join(part for part in (proposal.note, reason) if part)
            self._outcome(result, reporter, Outcome(
                records[str(photo_id)].path, Status.OK, "review" if review else "located", note, photo_id,
                {"lat": proposal.lat, "lon": proposal.lon, "radius_km": proposal.radius_km,
                 "altitude_m": proposal.altitude_m, "review": review, "decision_id": decision_id}))
        for key, reason in sorted(found.unlocated.items(), key=lambda item: records[item[0]].path):
            self._outcome(result, reporter, Outcome(records[key].path, Status.SKIPPED, "unlocated", reason,
                                                    int(key)))
        result.cameras = Counter(camera_key(records[key].make, records[key].model)
                                 for key in [*found.proposals, *found.unlocated])
        result.photo_ids = ids
        self._emit_views(reporter, ids)

    def store_proposals(self, source: Source, proposals: dict[int, LocationProposal], accept: bool = False,
                        fix_times: dict[int, float] | None = None) -> tuple[dict[int, int], dict[int, Assessment]]:
        """Store one source's placements; returns photo id -> the decision now holding it, and the fusion rule's
        word on each photo with everything now stored.

        A placement the photo already has from this source (in any state: a rejected one stays rejected, the user
        said no to exactly this) is not stored again; a new position replaces this source's proposals (and, with
        `accept`, its accepted one). The fusion rule decides each placement's flag before it is stored; with
        `accept` an unflagged placement it chooses goes in accepted, so that `write` writes it. A few queries
        per batch of photos, not per photo: thousands arrive after a first scan. `fix_times` (photo id -> UTC
        seconds) are the instants of track fixes, kept with their decisions for the GPS time stamps.
        """
        ids = list(proposals)
        existing: dict[int, list[DecisionRecord]] = {photo_id: [] for photo_id in ids}
        for decision in self.library.decisions_of_photos(ids):
            existing[decision.photo_id].append(decision)
        latest = self.library.latest_predictions(ids)
        replaceable = (DecisionState.PROPOSED, DecisionState.ACCEPTED) if accept else (DecisionState.PROPOSED,)
        kept: dict[int, int] = {}
        superseded: list[int] = []
        to_accept: list[int] = []
        new: list[tuple[int, Proposal]] = []
        for photo_id, proposal in proposals.items():
            same_source = [d for d in existing[photo_id] if d.source == source.value]
            same = next((d for d in same_source if _same_place(d, proposal)), None)
            replaced = [d for d in same_source if d is not same and d.state in replaceable]
            superseded += [d.id for d in replaced]
            candidate = same or _unsaved(photo_id, source, proposal)
            others = [d for d in existing[photo_id] if d not in replaced and d is not same]
            prediction = latest.get(photo_id)
            assessment = assess([*others, candidate], visual_evidence(prediction.payload_json if prediction else None))
            review, _ = assessment.flag(candidate.id)
            chosen = accept and assessment.chosen_id == candidate.id and not review
            if same is not None:
                kept[photo_id] = same.id
                if chosen and same.state == DecisionState.PROPOSED:
                    to_accept.append(same.id)
            else:
                state = DecisionState.ACCEPTED if chosen else DecisionState.PROPOSED
                new.append((photo_id, Proposal(photo_id, proposal.lat, proposal.lon, proposal.radius_km,
                                               source.value, proposal.altitude_m, review, proposal.note,
                                               state.value, (fix_times or {}).get(photo_id))))
        self.library.reject_many(superseded)
        new_ids = self.library.propose_many([item for _, item in new])
        kept.update({photo_id: decision_id for (photo_id, _), decision_id in zip(new, new_ids, strict=True)})
        for decision_id in to_accept:
            self.library.accept(decision_id)
        # The photos' other decisions may change flag too (a track beside a neighbour).
        return kept, self.refuse(ids)


def _unsaved(photo_id: int, source: Source, proposal: LocationProposal) -> DecisionRecord:
    """A placement as the decision it would become, for the fusion rule to judge before it is stored."""
    from geotagger.geocore.library.records import DecisionRecord

    return DecisionRecord(-1, photo_id, DecisionState.PROPOSED.value, source.value, proposal.lat, proposal.lon,
                          proposal.radius_km, proposal.altitude_m, None, None, None, None, False, proposal.note,
                          None, None, None)


def _find(records: dict[str, PhotoRecord], photo: str | int) -> PhotoRecord | None:
    """A photo by id, or by path (as given or absolute)."""
    if isinstance(photo, int):
        return records.get(str(photo))
    wanted = {str(photo), str(Path(photo).absolute())}
    return next((record for record in records.values() if record.path in wanted), None)


def _utc(utc_s: float) -> str:
    return datetime.fromtimestamp(utc_s, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _same_place(decision: DecisionRecord, proposal: LocationProposal) -> bool:
    """The same placement again (a rescan, a re-run with the same settings): position and altitude."""
    def key(lat: float, lon: float, altitude_m: float | None) -> tuple:
        return round(lat, 7), round(lon, 7), None if altitude_m is None else round(altitude_m, 2)

    return key(decision.lat, decision.lon, decision.altitude_m) == key(proposal.lat, proposal.lon, proposal.altitude_m)
