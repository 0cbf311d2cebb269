"""The session: every use case of Geotagger over one Library and one model provider, for the app and the CLI.

    session = Session.open(db_path, settings)               # or Session(library, models, settings)
    session.scan([folder], reporter)                         # -> ScanResult
    session.sync_neighbours([folder]); session.sync_tracks([track.gpx], [folder])
    session.predict([folder], reporter)                      # stores predictions and model proposals
    session.accept(ids) / reject(ids) / place(ids, lat, lon) / apply_to(ids, from_id) / undo_decision()
    session.write(ids) / undo(batch_id=..., paths=...) / strip(paths)
    session.views(ids) -> [PhotoView]                         # what the GUI's rows and the CLI's lines show

Every use case takes the photos it applies to, reports through a `Reporter` (progress, one `Outcome` per file,
fresh `PhotoView`s) and returns a `Result`; a long one stops at the reporter's cancel event. Whenever new evidence
arrives (a prediction, a track, a neighbour, a hand placement) the fusion rule runs again for those photos
(`refuse`), so the review flags stored in the cache always follow geocore.fusion.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from geotagger.geocore.library.api import Library
from geotagger.geocore.library.errors import ErrorKind, LibraryError
from geotagger.geocore.library.records import DecisionRecord, PhotoRecord
from geotagger.geocore.library.scanner import ScanReport
from geotagger.geocore.library.writer import BatchReport
from geotagger.geocore.vocabulary import DecisionState, PhotoState, Source
from geotagger.geocore.workflow.evidence import Assessment, assess, visual_evidence
from geotagger.geocore.workflow.models import ModelProvider
from geotagger.geocore.workflow.predicting import PredictUseCases
from geotagger.geocore.workflow.results import Outcome, Reporter, Result, Status
from geotagger.geocore.workflow.settings import DEFAULTS, WorkflowSettings
from geotagger.geocore.workflow.syncing import TimeUseCases
from geotagger.geocore.workflow.view import PhotoView, photo_view

VIEWS_PER_PASS = 500

SIDECAR_SUFFIXES = frozenset({".xmp"})


@dataclass
class ScanResult(Result):
    """A finished scan: the library's counts and the photos found under what was given."""

    report: ScanReport = field(default_factory=ScanReport)
    records: list[PhotoRecord] = field(default_factory=list)


@dataclass(frozen=True)
class Selection:
    """The photos some paths name (folders recursed, sidecars skipped) and an outcome for each path that is none."""

    records: list[PhotoRecord]
    problems: list[Outcome]

    @property
    def ids(self) -> list[int]:
        return [record.id for record in self.records]


@dataclass(frozen=True)
class _DecisionChange:
    """One decision change, as the in-process undo (the app's Ctrl+Z) puts it back."""

    before: DecisionRecord | None
    changed_id: int


class Session(PredictUseCases, TimeUseCases):
    """Use cases over one Library and one ModelProvider; see the module docstring."""

    def __init__(self, library: Library, models: ModelProvider | None = None,
                 settings: WorkflowSettings = DEFAULTS) -> None:
        self.library = library
        self.models = models or ModelProvider()
        self.settings = settings
        self.apply(settings)
        # In-process history for undo_last: ("decisions", [changes]) or ("batch", (batch id, photo ids)).
        self.history: list[tuple[str, object]] = []

    @classmethod
    def open(cls, db_path: Path | str | None = None, settings: WorkflowSettings = DEFAULTS,
             thumbnail_dir: Path | str | None = None, **model_options: object) -> Session:
        """A session on the cache at `db_path` (None: $GEOTAGGER_DB or the per-user data folder)."""
        library = Library(db_path, thumbnail_dir=thumbnail_dir)
        bundle = Path(settings.model) if settings.model else None
        options = {"provider": settings.provider, "crops": settings.crops or None, **model_options}
        return cls(library, ModelProvider(bundle, **options), settings)

    @property
    def recovery_warnings(self) -> list[str]:
        """What opening the library could not settle of an earlier crash (rows left pending, files unreachable):
        both doors show these, so that a user knows an unplugged drive still holds unsettled changes."""
        return [line for line in self.library.recovered if "not settled" in line]

    def apply(self, settings: WorkflowSettings) -> None:
        """Use new settings from now on (the library's write options; the model is reloaded when it changed)."""
        old, self.settings = self.settings, settings
        self.library.sidecar_style = settings.sidecar_style
        self.library.place_names = settings.place_names
        self.library.writer.keep_mtime = settings.keep_mtime
        self.library.writer.backup_originals = settings.backups
        if (old.model, old.provider, old.crops) != (settings.model, settings.provider, settings.crops):
            options = {**self.models.options, "provider": settings.provider, "crops": settings.crops or None}
            self.models.configure(Path(settings.model) if settings.model else None, **options)

    def close(self) -> None:
        self.library.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- which photos ---------------------------------------------------------------------------------------------

    def select(self, paths: Iterable[Path | str], *, scan_folders: bool = True,
               include_hidden: bool = False) -> Selection:
        """The photos `paths` name: files as given, folders recursed as scan does (scanned first unless told
        not to); sidecars are skipped; a path that is no photo gets a failed outcome naming it."""
        records: list[PhotoRecord] = []
        problems: list[Outcome] = []
        files: list[Path] = []
        for raw in paths:
            path = Path(raw)
            if path.is_dir():
                if scan_folders:
                    self.library.scan([path], include_hidden=include_hidden)
                records += self.library.photos(folder=path)
            elif path.suffix.lower() in SIDECAR_SUFFIXES:
                continue  # `set photos/*` picks up the sidecars beside the photos: they are not photos
            else:
                files.append(path)
        for path, found in zip(files, self.library.ensure_scanned(files), strict=True):
            if isinstance(found, LibraryError):
                problems.append(Outcome(str(path), Status.FAILED, found.kind.value, found.reason))
            else:
                records.append(found)
        unique = {record.id: record for record in records}
        return Selection(list(unique.values()), problems)

    def records(self, photo_ids: Iterable[int]) -> list[PhotoRecord]:
        return [self.library.photo(photo_id) for photo_id in dict.fromkeys(photo_ids)]

    def ids_of(self, paths: Iterable[Path | str]) -> list[int]:
        """Photo ids of cached paths (unknown paths are left out)."""
        return [record.id for record in self.library.photos_by_paths(paths).values()]

    # -- scanning -------------------------------------------------------------------------------------------------

    def scan(self, paths: Iterable[Path | str], reporter: Reporter | None = None, *, include_hidden: bool = False,
             in_child: bool = False, records: bool = True) -> ScanResult:
        """Scan folders (recursively) and files into the cache; one outcome per file that could not be read.

        `in_child`: folders are scanned by a child process (`geotag scan --json-lines`), so that a GUI's
        interpreter never waits for the scan's GIL; the child's protocol is typed, versioned JSON.
        `records=False`: the caller needs only the report and outcomes (`geotag scan`): the photos found in the
        folders are not read back (for 50,000 unchanged files that was half of a rescan).
        """
        reporter = reporter or Reporter()
        given = [Path(p) for p in paths]
        folders = [p for p in given if p.is_dir()]
        files = [p for p in given if not p.is_dir() and p.suffix.lower() not in SIDECAR_SUFFIXES]
        progress = lambda done, total, path: reporter.progress(done, total, f"Scanning {path}")  # noqa: E731
        if in_child:
            from geotagger.geocore.library.scan_process import scan_in_subprocess

            report = scan_in_subprocess(self.library.database.path, folders, progress, reporter.cancel,
                                        include_hidden)
        else:
            report = self.library.scan(folders, progress, reporter.cancel, include_hidden)
        result = ScanResult("scan", report=report, cancelled=report.cancelled)
        for issue in report.issues:
            outcome = Outcome(issue.path, Status.FAILED, issue.kind, issue.reason)
            result.outcomes.append(outcome)
            reporter.outcome(outcome)
        if records:
            result.records = [record for folder in folders for record in self.library.photos(folder=folder)]
        for path, found in zip(files, self.library.ensure_scanned(files), strict=True):
            if isinstance(found, LibraryError):
                outcome = Outcome(str(path), Status.FAILED, found.kind.value, found.reason)
                result.outcomes.append(outcome)
                reporter.outcome(outcome)
            else:
                result.records.append(found)
        result.photo_ids = list(dict.fromkeys(record.id for record in result.records))
        return result

    # -- what the user sees ---------------------------------------------------------------------------------------

    def views(self, photo_ids: Iterable[int]) -> list[PhotoView]:
        """The views of these photos, in a few queries whatever their number."""
        return self._views_and_decisions(list(dict.fromkeys(photo_ids)))[0]

    def _views_and_decisions(self, ids: list[int]) -> tuple[list[PhotoView], dict[int, list[DecisionRecord]]]:
        """The views of these photos and the decisions they were built from (for a change made from a view)."""
        if not ids:
            return [], {}
        records = self.library.photos_by_ids(ids)
        decisions = self._decisions_by_photo(ids)
        latest = self.library.latest_predictions(ids)
        return [photo_view(records[i], decisions[i], latest.get(i)) for i in ids if i in records], decisions

    def view(self, photo_id: int) -> PhotoView:
        return self.views([photo_id])[0]

    def _decisions_by_photo(self, ids: Sequence[int]) -> dict[int, list[DecisionRecord]]:
        grouped: dict[int, list[DecisionRecord]] = defaultdict(list)
        for decision in self.library.decisions_of_photos(ids):
            grouped[decision.photo_id].append(decision)
        return grouped

    def _emit_views(self, reporter: Reporter, photo_ids: Iterable[int]) -> None:
        if reporter.wants_views:
            ids = list(dict.fromkeys(photo_ids))
            # A few hundred views at a time: 20,000 built at once make the cyclic collector's full passes (which
            # hold the GIL, 100 ms and more) long enough to stall a GUI that listens in another thread.
            for start in range(0, len(ids), VIEWS_PER_PASS):
                for view in self.views(ids[start:start + VIEWS_PER_PASS]):
                    reporter.view(view)

    # -- the fusion rule, again for new evidence ------------------------------------------------------------------

    def refuse(self, photo_ids: Iterable[int]) -> dict[int, Assessment]:
        """Run the fusion rule for these photos with everything the cache knows; store the review flags and
        return the rule's word on each photo."""
        ids = list(dict.fromkeys(photo_ids))
        if not ids:
            return {}
        decisions = self._decisions_by_photo(ids)
        assessments = self._assessments(ids, decisions)
        changes: list[tuple[int, bool]] = []
        for photo_id in ids:
            for decision in decisions[photo_id]:
                review, _reason = assessments[photo_id].flag(decision.id)
                if bool(decision.review) != review:
                    changes.append((decision.id, review))
        self.library.set_reviews(changes)
        return assessments

    def _assessments(self, photo_ids: list[int], decisions: dict[int, list[DecisionRecord]] | None = None
                     ) -> dict[int, Assessment]:
        """The fusion rule's word on each photo, from its decisions and its latest prediction."""
        decisions = decisions if decisions is not None else self._decisions_by_photo(photo_ids)
        latest = self.library.latest_predictions(photo_ids)
        return {photo_id: assess(decisions[photo_id], visual_evidence(
            latest[photo_id].payload_json if photo_id in latest else None)) for photo_id in photo_ids}

    # -- decisions ------------------------------------------------------------------------------------------------

    def accept(self, photo_ids: Iterable[int]) -> Result:
        """Accept the proposal each photo shows (a rejected one too: the user changed their mind)."""
        return self._decide(photo_ids, "accept")

    def reject(self, photo_ids: Iterable[int]) -> Result:
        """Reject the decision each photo shows (a proposal or an accepted one; written ones need undo)."""
        return self._decide(photo_ids, "reject")

    def _decide(self, photo_ids: Iterable[int], verb: str) -> Result:
        result = Result(verb)
        changes: list[_DecisionChange] = []
        proposed, accepted, rejected = DecisionState.PROPOSED, DecisionState.ACCEPTED, DecisionState.REJECTED
        wanted = (proposed, rejected) if verb == "accept" else (proposed, accepted)
        ids = list(dict.fromkeys(photo_ids))
        views, decisions = self._views_and_decisions(ids)
        for view in views:
            decision = _shown(decisions, view)
            if decision is None or decision.state not in wanted:
                result.outcomes.append(Outcome(view.path, Status.SKIPPED, ErrorKind.NOTHING_TO_DO.value,
                                               f"nothing to {verb} ({view.state.label.lower()})", view.photo_id))
                continue
            (self.library.accept if verb == "accept" else self.library.reject)(decision.id)
            changes.append(_DecisionChange(decision, decision.id))
            result.outcomes.append(Outcome(view.path, Status.OK, verb, "", view.photo_id))
        return self._finish_decisions(result, changes, ids)

    def place(self, photo_ids: Iterable[int], lat: float, lon: float, *, altitude_m: float | None = None,
              radius_km: float | None = None, notes: str | None = None, tentative: bool = False) -> Result:
        """Place photos by hand: an accepted manual decision each (`tentative`: only proposed, for dry runs)."""
        from geotagger.geocore.library.gps import validate_position

        validate_position(lat, lon, altitude_m, radius_km)  # PositionError (a ValueError) names the bad field
        result = Result("place")
        changes: list[_DecisionChange] = []
        ids = list(dict.fromkeys(photo_ids))
        views, decisions = self._views_and_decisions(ids)
        for view in views:
            if view.state is PhotoState.ERROR:
                result.outcomes.append(Outcome(view.path, Status.FAILED, "unreadable", view.error, view.photo_id))
                continue
            before = _shown(decisions, view)
            if tentative:
                new_id = self.library.propose(view.photo_id, lat, lon, radius_km, Source.MANUAL.value,
                                              altitude_m=altitude_m, notes=notes)
            else:
                new_id = self.library.set_manual(view.photo_id, lat, lon, radius_km=radius_km,
                                                 altitude_m=altitude_m, notes=notes)
            changes.append(_DecisionChange(before, new_id))
            result.outcomes.append(Outcome(view.path, Status.OK, "placed", "", view.photo_id,
                                           {"decision_id": new_id}))
        return self._finish_decisions(result, [] if tentative else changes, ids)

    def apply_to(self, photo_ids: Iterable[int], from_photo_id: int) -> Result:
        """Give these photos the location another photo shows (its decision or its own GPS), as manual ones."""
        source = self.view(from_photo_id)
        if not source.has_location or source.lat is None or source.lon is None:
            result = Result("apply")
            result.outcomes.append(Outcome(source.path, Status.FAILED, "no_location", "this photo has no location"))
            return result
        return self.place([i for i in photo_ids if i != from_photo_id], source.lat, source.lon,
                          altitude_m=source.altitude_m, radius_km=source.radius_km,
                          notes=f"copied from {Path(source.path).name}")

    def _finish_decisions(self, result: Result, changes: list[_DecisionChange], ids: list[int]) -> Result:
        if changes:
            self.history.append(("decisions", changes))
        self.refuse(ids)
        result.photo_ids = ids
        return result

    def undo_decision(self, changes: list[_DecisionChange]) -> list[int]:
        """Put decisions back as they were; returns the photos touched."""
        touched = []
        for change in reversed(changes):
            changed = self.library.decision(change.changed_id)
            touched.append(changed.photo_id)
            before = change.before
            if before is None or before.id != change.changed_id:  # a placement: forget it, restore the old one
                self.library.discard(change.changed_id)
                if before is not None and before.state == DecisionState.ACCEPTED.value:
                    self.library.accept(before.id)
            else:
                self.library.restore_state(before.id, before.state)
        self.refuse(touched)
        return list(dict.fromkeys(touched))

    def undo_last(self, reporter: Reporter | None = None) -> Result:
        """Undo the newest change of this session: a batch (files get their bytes back) or decisions."""
        reporter = reporter or Reporter()
        if not self.history:
            return Result("undo", notes=["nothing to undo"])
        kind, payload = self.history.pop()
        if kind == "decisions":
            assert isinstance(payload, list)
            result = Result("undo")
            result.photo_ids = self.undo_decision(payload)
            self._emit_views(reporter, result.photo_ids)
            return result
        assert isinstance(payload, tuple)
        batch_id, photo_ids = payload
        result = self.undo(batch_id=batch_id, reporter=reporter, remember=False)
        result.photo_ids = list(photo_ids)
        return result

    # -- files ----------------------------------------------------------------------------------------------------

    def write(self, photo_ids: Iterable[int] | None = None, *, all_proposed: bool = False,
              decision_ids: Sequence[int] | None = None, dry_run: bool = False,
              reporter: Reporter | None = None) -> Result:
        """Write locations into the files: the accepted location of these photos (None: every accepted one;
        `all_proposed`: also the fusion rule's choice for undecided photos), or exactly `decision_ids`."""
        reporter = reporter or Reporter()
        if decision_ids is None and photo_ids is not None:
            ids = list(dict.fromkeys(photo_ids))
            decision_ids = [view.decision_id for view in self.views(ids)
                            if view.decision_id is not None and (view.state is PhotoState.ACCEPTED or (
                                all_proposed and view.state is PhotoState.PROPOSED))]
        elif decision_ids is None and all_proposed:
            decision_ids = self._fusion_choices()
        report = self.library.write_batch(decision_ids, sidecar_only=self.settings.sidecar_only,
                                          dry_run=dry_run, progress=self._file_progress(reporter, "Writing"),
                                          cancel=reporter.cancel)
        return self._batch_result(report, reporter, details=self._tags_to_write if dry_run else None)

    def _tags_to_write(self, decision_id: int) -> tuple[str, dict[str, object]]:
        """What a write of this decision puts into the file: a line and the tags with their values."""
        from geotagger.geocore.library.gps import PROCESSING_METHODS

        decision = self.library.decision(decision_id)
        tags: dict[str, object] = {"GPSLatitude": round(decision.lat, 7), "GPSLongitude": round(decision.lon, 7)}
        if decision.altitude_m is not None:
            tags["GPSAltitude"] = round(decision.altitude_m, 2)
        tags["GPSProcessingMethod"] = PROCESSING_METHODS.get(decision.source, "")
        if decision.radius_km is not None:
            tags["GPSHPositioningError"] = round(decision.radius_km * 1000.0, 1)
        if self.library.place_names:
            tags["place names"] = "city, state, country (offline GeoNames)"
        return ", ".join(f"{name}={value}" for name, value in tags.items()), tags

    def _fusion_choices(self) -> list[int]:
        """Accepted decisions, and for every photo whose view shows a proposal the one it shows (the fusion
        rule's choice): never a photo already written, rejected or with GPS of its own, as the GUI's list says."""
        chosen: list[int] = [d.id for d in self.library.decisions(state=DecisionState.ACCEPTED.value)]
        accepted_photos = {self.library.decision(i).photo_id for i in chosen}
        proposed_photos = {d.photo_id for d in self.library.decisions(state=DecisionState.PROPOSED.value)}
        undecided = sorted(proposed_photos - accepted_photos)
        for start in range(0, len(undecided), VIEWS_PER_PASS):
            chosen += [view.decision_id for view in self.views(undecided[start:start + VIEWS_PER_PASS])
                       if view.state is PhotoState.PROPOSED and view.decision_id is not None]
        return sorted(chosen)

    def undo(self, batch_id: str | None = None, paths: Sequence[Path | str] | None = None,
             reporter: Reporter | None = None, remember: bool = True, dry_run: bool = False) -> Result:
        """Restore the exact original bytes of a batch's files, or of given files (all our changes to them)."""
        reporter = reporter or Reporter()
        report = self.library.undo(batch_id=batch_id, paths=paths, progress=self._file_progress(reporter, "Restoring"),
                                   cancel=reporter.cancel, dry_run=dry_run)
        return self._batch_result(report, reporter, remember=False)

    def strip(self, paths: Iterable[Path | str], reporter: Reporter | None = None, dry_run: bool = False) -> Result:
        """Remove every location from these photos (folders recursed) and their sidecars; undoable."""
        reporter = reporter or Reporter()
        selection = self.select(paths)
        readable = [record for record in selection.records if not record.error_kind]
        problems = selection.problems + [
            Outcome(record.path, Status.FAILED, record.error_kind or "", record.error or "unreadable", record.id)
            for record in selection.records if record.error_kind]  # never a silent skip: say which and why
        report = self.library.strip([record.path for record in readable],
                                    progress=self._file_progress(reporter, "Stripping"), cancel=reporter.cancel,
                                    dry_run=dry_run)
        result = self._batch_result(report, reporter)
        result.outcomes[:0] = problems
        for problem in problems:
            reporter.outcome(problem)
        return result

    @staticmethod
    def _file_progress(reporter: Reporter, verb: str) -> Callable[[int, int, str], None]:
        return lambda done, total, path: reporter.progress(done, total, f"{verb} {os.path.basename(path)}")

    def _batch_result(self, report: BatchReport, reporter: Reporter, remember: bool = True,
                      details: Callable[[int], tuple[str, dict[str, object]]] | None = None) -> Result:
        result = Result(report.operation, batch_id="" if report.dry_run else report.batch_id,
                        cancelled=report.cancelled, dry_run=report.dry_run)
        for file_result in report.results:
            if file_result.ok:
                line, tags = "", None
                if details is not None and file_result.decision_id is not None:
                    line, tags = details(file_result.decision_id)
                    line = f"{line} ({'sidecar' if file_result.target == 'sidecar' else 'in the file'})"
                outcome = Outcome(str(file_result.path), Status.OK, "dry_run" if report.dry_run else file_result.target,
                                  line, file_result.photo_id,
                                  {"target": file_result.target, "tags": tags} if tags is not None else None)
            else:
                kind = file_result.error_kind.value if file_result.error_kind else "error"
                status = Status.SKIPPED if file_result.error_kind is ErrorKind.NOTHING_TO_DO else Status.FAILED
                outcome = Outcome(str(file_result.path), status, kind, file_result.reason, file_result.photo_id)
            result.outcomes.append(outcome)
            reporter.outcome(outcome)
        result.photo_ids = list(dict.fromkeys(r.photo_id for r in report.results if r.photo_id is not None))
        if remember and report.written and not report.dry_run and report.batch_id:
            self.history.append(("batch", (report.batch_id, tuple(result.photo_ids))))
        self.refuse(result.photo_ids)
        self._emit_views(reporter, result.photo_ids)
        return result


def _shown(decisions: dict[int, list[DecisionRecord]], view: PhotoView) -> DecisionRecord | None:
    """The decision a view shows, from the decisions it was built from."""
    return next((d for d in decisions[view.photo_id] if d.id == view.decision_id), None)
