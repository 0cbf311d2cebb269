"""What a use case reports: one per-file outcome type, and one result per run of a use case."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from geotagger.geocore.workflow.view import PhotoView


class Status(str, Enum):
    """How one file came out: done, nothing to do (not a failure), or failed with a reason."""

    OK = "ok"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    """One file of a run: its status, a kind (an ErrorKind value, 'unlocated', 'dry_run', ...) and why.

    `payload` carries what the use case produced for the file when there is something to print (a prediction's
    JSON record for `geotag predict`, a placement for a sync).
    """

    path: str
    status: Status
    kind: str = ""
    reason: str = ""
    photo_id: int | None = None
    payload: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILED


@dataclass
class Result:
    """One run of a use case: per-file outcomes, the batch it wrote (if any), extra lines (hints, totals)."""

    operation: str
    outcomes: list[Outcome] = field(default_factory=list)
    batch_id: str = ""
    cancelled: bool = False
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)
    photo_ids: list[int] = field(default_factory=list)  # the photos this run changed or looked at

    @property
    def ok(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.ok]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.failed]

    @property
    def skipped(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status is Status.SKIPPED]

    def counts(self) -> Counter[str]:
        return Counter(o.status.value for o in self.outcomes)

    @property
    def exit_status(self) -> int:
        """0 when nothing failed, else 1 (the CLI's convention)."""
        return 1 if self.failed else 0


@dataclass
class TrackSyncResult(Result):
    """A finished sync (track or neighbours): placed, to review, unlocated by reason kind, track files used."""

    placed: int = 0
    to_review: int = 0
    track_files: int = 0
    track_points: int = 0
    cameras: Counter[str] = field(default_factory=Counter)

    @property
    def unlocated(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind == "unlocated"]

    def reason_counts(self) -> Counter[str]:
        """Unlocated photos by kind of reason: the reasons read 'kind: detail' (the detail names times)."""
        return Counter(o.reason.split(": ", 1)[0] for o in self.unlocated)

    def text(self) -> str:
        """One line for the status bar, the summary box and the CLI's last line."""
        placed = f"{self.placed} photos placed" + (f" ({self.to_review} to review)" if self.to_review else "")
        reasons = ", ".join(f"{count} {kind}" for kind, count in self.reason_counts().most_common())
        unlocated = f"{len(self.unlocated)} left unlocated" + (f" ({reasons})" if reasons else "")
        bad_tracks = [o for o in self.failed if o.kind == "unreadable track"]
        failed = f"{len(bad_tracks)} track file{'' if len(bad_tracks) == 1 else 's'} failed"
        label = "Track sync" if self.operation == "sync-track" else "Neighbour sync"
        if self.operation == "sync-track" and not self.track_files:
            return f"{label}: no usable track, {failed}."
        tail = (" (cancelled)" if self.cancelled else "") + (" (dry run, nothing stored)" if self.dry_run else "")
        middle = f", {failed}" if self.operation == "sync-track" else ""
        return f"{label}: {placed}, {unlocated}{middle}{tail}."


    def details(self) -> str:
        """Every failed file and unlocated photo with its reason, the track used, and clock-offset hints."""
        lines = [f"{o.path}: {o.reason}" for o in self.failed]
        lines += [note for note in self.notes if not note.startswith("hint:")]
        lines += [f"unlocated {o.path.rsplit('/', 1)[-1]}: {o.reason}" for o in self.unlocated]
        return "\n".join(lines + [note for note in self.notes if note.startswith("hint:")])


class Reporter:
    """How a use case talks to its caller while it runs: progress, each file's outcome, fresh photo views.

    The GUI adapts its job context to this (signals to the GUI thread), the CLI prints, tests record. Setting
    `cancel` stops a run at its next check; what was done stays done and is reported.
    """

    def __init__(self, progress: Callable[[int, int, str], None] | None = None,
                 outcome: Callable[[Outcome], None] | None = None,
                 view: Callable[[PhotoView], None] | None = None,
                 cancel: threading.Event | None = None) -> None:
        self._progress = progress
        self._outcome = outcome
        self._view = view
        self.cancel = cancel or threading.Event()

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def progress(self, done: int, total: int, message: str = "") -> None:
        if self._progress is not None:
            self._progress(done, total, message)

    def outcome(self, outcome: Outcome) -> None:
        if self._outcome is not None:
            self._outcome(outcome)

    def view(self, view: PhotoView) -> None:
        if self._view is not None:
            self._view(view)

    @property
    def wants_views(self) -> bool:
        """Building views costs queries: only when someone listens."""
        return self._view is not None
